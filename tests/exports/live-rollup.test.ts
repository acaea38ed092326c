/**
 * The rollup a running collector makes at each commit (src/report/live-rollup.ts) settles and
 * rebuilds only the subscribers it is given: on a report the real scan wrote from the corpus's mining
 * captures, rebuilding subscriber by subscriber gives exactly the rows of a whole-report rebuild,
 * other subscribers' rows are left alone, and settling subscriber by subscriber (peer evidence and
 * evidence added up, scoped) gives exactly the flows, evidence and rows of the whole-report settle.
 * The rows compared are the report's own, from the two paths, not values worked out here.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { Classifier } from '../../src/classify/classify.js';
import { classesOf, decide } from '../../src/classify/policy.js';
import { LiveRollup } from '../../src/report/live-rollup.js';
import { applyPeerEvidence } from '../../src/report/peers.js';
import { policyRedecide } from '../../src/report/policy-redecide.js';
import { redecideReport } from '../../src/report/redecide.js';
import { rebuildSubscribers } from '../../src/report/subscribers.js';
import type { Evidence } from '../../src/types.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, projectRules } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-live-rollup-'));

/** The rollup tables, in a fixed order. */
function rollup(db: Database.Database): { subscribers: unknown[]; hashrate: unknown[] } {
  return {
    subscribers: db.prepare('SELECT * FROM subscribers ORDER BY subscriber').all(),
    hashrate: db.prepare('SELECT * FROM subscriber_hashrate ORDER BY subscriber, coin, algorithm').all(),
  };
}

/** The flows' verdicts and their evidence, in a fixed order. */
function flowRows(db: Database.Database): { flows: unknown[]; evidence: unknown[] } {
  return {
    flows: db.prepare('SELECT id, subscriber, label, confidence, outcome, reason, rules, pool, server_name FROM flows ORDER BY id').all(),
    evidence: db.prepare('SELECT flow_id, rule_id, rev, kind, side, family, matched, time FROM evidence ORDER BY flow_id, rowid').all(),
  };
}

/** Peer and report-wide evidence kinds, and the kinds that prove a pair (src/report/peers.ts). */
const SETTLED_KINDS = ['peer', 'session', 'pool-endpoints'];
const PROOF_KINDS = ['payload', 'http', 'sni', 'host', 'dns', 'dns-log'];

/**
 * The report as it stands before a settle, with pairs to prove: the evidence a settle adds is
 * dropped, and of each (subscriber, server) pair with several proven flows only the first keeps its
 * proof (as if the others' payload had not been captured); every flow is then decided by the policy
 * from what it keeps.
 */
function unsettle(db: Database.Database): void {
  const policy = projectRules().policy;
  const inList = (kinds: string[]): string => `(${kinds.map((k) => `'${k}'`).join(', ')})`;
  db.transaction(() => {
    db.exec(`DELETE FROM evidence WHERE kind IN ${inList(SETTLED_KINDS)}`);
    db.exec(`DELETE FROM evidence WHERE kind IN ${inList(PROOF_KINDS)} AND flow_id IN (
      SELECT f.id FROM flows f WHERE f.subscriber IS NOT NULL AND EXISTS (
        SELECT 1 FROM flows g JOIN evidence e ON e.flow_id = g.id
        WHERE g.subscriber = f.subscriber AND g.server = f.server AND g.id < f.id AND e.kind IN ${inList(PROOF_KINDS)}))`);
    const evidenceOf = db.prepare('SELECT rule_id AS ruleId, kind, side FROM evidence WHERE flow_id = ? ORDER BY rowid');
    const update = db.prepare('UPDATE flows SET label = ?, confidence = ?, outcome = ?, rules = ? WHERE id = ?');
    for (const id of db.prepare('SELECT id FROM flows').pluck().all() as number[]) {
      const ev = evidenceOf.all(id) as Array<Pick<Evidence, 'ruleId' | 'kind' | 'side'>>;
      const d = decide(policy, classesOf(ev));
      update.run(d.label, d.confidence, d.outcome?.name ?? null, [...new Set(ev.map((e) => e.ruleId))].join(','), id);
    }
  })();
}

async function scannedReport(name: string): Promise<Database.Database> {
  const path = join(tmp, `${name}.sqlite`);
  const code = await main(['scan', join(CORPUS, 'pcap', 'mining'), '--db', path, '--quiet'], { out: () => undefined, err: () => undefined });
  expect(code).toBe(0);
  return new Database(path);
}

describe.skipIf(!HAVE_CORPUS)('the live subscriber rollup', () => {
  it('rebuilding the subscribers one at a time gives the rows of a whole rebuild; a subscriber left with no mining flow loses its row, the others keep theirs', async () => {
    const db = await scannedReport('one-at-a-time');
    try {
      const whole = rollup(db);
      const subs = (whole.subscribers as Array<{ subscriber: string }>).map((s) => s.subscriber);
      expect(subs.length).toBeGreaterThan(1);
      expect(whole.hashrate.length).toBeGreaterThan(0);

      db.exec('DELETE FROM subscribers; DELETE FROM subscriber_hashrate;');
      for (const s of [...subs].reverse()) rebuildSubscribers(db, [s]);
      expect(rollup(db)).toEqual(whole);
      rebuildSubscribers(db, []);
      expect(rollup(db)).toEqual(whole);

      // As a settle that lowered every flow of one subscriber would leave it.
      const gone = subs[0]!;
      db.prepare("UPDATE flows SET label = 'none' WHERE subscriber = ?").run(gone);
      rebuildSubscribers(db, [gone]);
      const after = rollup(db);
      expect((after.subscribers as Array<{ subscriber: string }>).map((s) => s.subscriber)).toEqual(subs.slice(1));
      expect(after.subscribers).toEqual((whole.subscribers as Array<{ subscriber: string }>).filter((s) => s.subscriber !== gone));
      expect(after.hashrate).toEqual((whole.hashrate as Array<{ subscriber: string }>).filter((s) => s.subscriber !== gone));
      rebuildSubscribers(db);
      expect(rollup(db)).toEqual(after);
    } finally {
      db.close();
    }
  }, 120_000);

  it('settling subscriber by subscriber (scoped peer evidence and added-up evidence) gives the flows, evidence and rows of the whole-report settle', async () => {
    const scanned = await scannedReport('scoped-settle');
    const rules = projectRules();
    const classifier = new Classifier(rules);
    try {
      unsettle(scanned);
      const unsettled = flowRows(scanned);
      // Two identical copies of the unsettled report.
      const copies = ['whole', 'scoped'].map((n) => join(tmp, `scoped-settle-${n}.sqlite`));
      for (const c of copies) scanned.prepare('VACUUM INTO ?').run(c);
      const whole = new Database(copies[0]!);
      const scoped = new Database(copies[1]!);
      try {
        applyPeerEvidence(whole, policyRedecide(rules.policy));
        redecideReport(whole, classifier, { recompute: false });
        rebuildSubscribers(whole);
        const settled = flowRows(whole);
        // Not vacuous: the settle raised flows by peer evidence and by evidence added up.
        expect(settled.flows).not.toEqual(unsettled.flows);
        const kinds = new Set((settled.evidence as Array<{ kind: string }>).map((e) => e.kind));
        expect(kinds).toContain('peer');
        expect(kinds).toContain('pool-endpoints');

        const subs = scoped.prepare('SELECT DISTINCT subscriber FROM flows WHERE subscriber IS NOT NULL ORDER BY subscriber DESC').pluck().all() as string[];
        expect(subs.length).toBeGreaterThan(1);
        const asked: string[][] = [];
        const live = new LiveRollup(scoped, {
          redecide: policyRedecide(rules.policy),
          decideAgain: (d, only) => {
            asked.push(only ? [...only] : ['(whole report)']);
            redecideReport(d, classifier, { recompute: false, subscribers: only });
          },
        });
        expect(live.commit()).toEqual({ subscribers: 0, settled: false, ms: 0 });
        for (const s of subs) {
          live.saw(null);
          live.saw(s);
          live.saw(s);
          const r = live.commit();
          expect(r.subscribers).toBe(1);
          expect(r.settled).toBe(true);
        }
        // Each commit settled exactly its own subscriber.
        expect(asked).toEqual(subs.map((s) => [s]));
        expect(flowRows(scoped)).toEqual(settled);
        expect(rollup(scoped)).toEqual(rollup(whole));
        // Nothing seen since: nothing to do.
        expect(live.commit()).toEqual({ subscribers: 0, settled: false, ms: 0 });
      } finally {
        whole.close();
        scoped.close();
      }
    } finally {
      scanned.close();
    }
  }, 120_000);
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
