/**
 * Re-deciding a report reads it in pages of flows in subscriber order: a subscriber's flows are added
 * up together wherever the page boundaries fall, also for one subscriber with more flows than a page.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/classify.js';
import { main } from '../../src/cli/main.js';
import { redecideReport } from '../../src/report/redecide.js';
import { openReport } from '../../src/report/writer.js';
import { FIXTURES, projectRules } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-redecide-'));
/** Each copy lasts ten minutes, the next starting a second after: chained, steady, on a pool port. */
const SPAN = 600_000;
/** Copies per subscriber: small ones that straddle page boundaries, and one larger than several pages. */
const COPIES = new Map<string, number>([...Array.from({ length: 240 }, (_, k): [string, number] => [`p-${String(k).padStart(4, '0')}`, (k % 9) + 1]), ['p-big', 1_700]]);

/** Copies of one scanned mining flow (and its own evidence, none of it report-wide), back to back per subscriber. */
function grow(d: Database.Database): void {
  const cols = (d.prepare('PRAGMA table_info(flows)').all() as Array<{ name: string }>).map((c) => c.name).filter((c) => c !== 'id');
  const src = (d.prepare("SELECT id FROM flows WHERE label = 'mining' ORDER BY id LIMIT 1").get() as { id: number }).id;
  const copy = d.prepare(
    `INSERT INTO flows(${cols.join(', ')}) SELECT ${cols
      .map((c) => (c === 'subscriber' ? '@sub' : c === 'first_seen' ? `first_seen + @i * ${SPAN}` : c === 'last_seen' ? `first_seen + @i * ${SPAN} + ${SPAN - 1000}` : c))
      .join(', ')} FROM flows WHERE id = @src`,
  );
  const evidence = d.prepare("INSERT INTO evidence SELECT ?, rule_id, rev, kind, side, family, matched, excerpt, offset, time FROM evidence WHERE flow_id = ? AND kind NOT IN ('session', 'pool-endpoints')");
  d.transaction(() => {
    // Interleaved, so that each subscriber's flow ids are spread over the table.
    const left = new Map(COPIES);
    for (let i = 0; left.size; i++) {
      for (const [sub, n] of left) {
        const id = copy.run({ sub, i, src }).lastInsertRowid;
        evidence.run(id, src);
        if (n === 1) left.delete(sub);
        else left.set(sub, n - 1);
      }
    }
  })();
}

/** Per grown subscriber: its flows, and how many of them name a session of how many flows. */
function sessions(d: Database.Database): Map<string, { flows: number; named: number[] }> {
  const out = new Map<string, { flows: number; named: number[] }>();
  for (const sub of COPIES.keys()) {
    const flows = (d.prepare('SELECT count(*) AS n FROM flows WHERE subscriber = ?').get(sub) as { n: number }).n;
    const named = (
      d.prepare("SELECT e.matched FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE f.subscriber = ? AND e.kind = 'session'").pluck().all(sub) as string[]
    ).map((m) => Number(/: (\d+) flow\(s\)/.exec(m)?.[1]));
    out.set(sub, { flows, named });
  }
  return out;
}

function expectWholeSubscribers(d: Database.Database): void {
  const s = sessions(d);
  let given = 0;
  for (const [sub, n] of COPIES) {
    const got = s.get(sub)!;
    expect(got.flows, sub).toBe(n);
    // None of a subscriber's flows, or every one of them, naming all of its flows.
    if (got.named.length) {
      given++;
      expect(got.named, sub).toEqual(Array(n).fill(n));
    }
  }
  expect(s.get('p-big')!.named.length).toBe(1_700);
  // The subscribers with the most copies hold sessions of an hour or more: not a vacuous check.
  expect(given).toBeGreaterThan(20);
}

/** A report of the demo captures, grown by {@link grow}, at `db` (before the tests of a block). */
function scannedAndGrown(db: string): void {
  beforeAll(async () => {
    let err = '';
    expect(await main(['scan', join(FIXTURES, 'demo'), '--db', db], { out: () => {}, err: (s) => (err += s) }), err).toBe(0);
    const d = openReport(db);
    grow(d);
    d.close();
  }, 120_000);
}

describe('re-deciding a report page by page', () => {
  const db = join(tmp, 'grown.sqlite');
  scannedAndGrown(db);

  it('a session is added up over all of a subscriber’s flows wherever pages end, and a second pass changes nothing', () => {
    const d = openReport(db);
    try {
      const classifier = new Classifier(projectRules());
      const first = redecideReport(d, classifier, { recompute: false });
      expect(first.sessions).toBeGreaterThan(1_700);
      expectWholeSubscribers(d);
      const dump = (): unknown[] => [d.prepare('SELECT * FROM flows ORDER BY id').raw().all(), d.prepare('SELECT rowid, * FROM evidence ORDER BY rowid').raw().all()];
      const before = dump();
      const again = redecideReport(d, classifier, { recompute: false });
      expect(again.changed).toBe(0);
      expect(again.sessions).toBe(first.sessions);
      expect(dump()).toEqual(before);
      // Worked out again from the stored counters: the same sessions.
      redecideReport(d, classifier, { recompute: true });
      expectWholeSubscribers(d);
    } finally {
      d.close();
    }
  }, 120_000);
});

describe('what re-deciding writes', () => {
  const db = join(tmp, 'kept.sqlite');
  const REPORT_WIDE = "('session', 'pool-endpoints')";
  scannedAndGrown(db);

  it('keeps a flow’s own evidence rows where they are and appends what is added up; a later pass replaces only that', () => {
    const d = openReport(db);
    try {
      const classifier = new Classifier(projectRules());
      const own = (): unknown[] => d.prepare(`SELECT rowid, * FROM evidence WHERE kind NOT IN ${REPORT_WIDE} ORDER BY rowid`).raw().all();
      const ownBefore = own();
      expect(ownBefore.length).toBeGreaterThan(1_700);
      const first = redecideReport(d, classifier, { recompute: false });
      expect(first.sessions).toBeGreaterThan(1_700);
      // Not one of the rows a flow had of its own was written again: same row ids, same values.
      expect(own()).toEqual(ownBefore);
      // Each flow's added-up rows come after all of its own, as a rewrite of them all in order would put them.
      const misplaced = d
        .prepare(`SELECT count(*) FROM evidence r WHERE r.kind IN ${REPORT_WIDE} AND EXISTS (SELECT 1 FROM evidence o WHERE o.flow_id = r.flow_id AND o.kind NOT IN ${REPORT_WIDE} AND o.rowid > r.rowid)`)
        .pluck()
        .get();
      expect(misplaced).toBe(0);
      // One more flow for a subscriber: its session now counts one flow more, and replaces the old row on every flow.
      const sub = 'p-0008';
      const n = COPIES.get(sub)!;
      const sessionRows = (): number => d.prepare("SELECT count(*) FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE f.subscriber = ? AND e.kind = 'session'").pluck().get(sub) as number;
      expect(sessionRows()).toBe(n);
      const last = d.prepare('SELECT id FROM flows WHERE subscriber = ? ORDER BY first_seen DESC LIMIT 1').pluck().get(sub) as number;
      const cols = (d.prepare('PRAGMA table_info(flows)').all() as Array<{ name: string }>).map((c) => c.name).filter((c) => c !== 'id');
      const added = d
        .prepare(`INSERT INTO flows(${cols.join(', ')}) SELECT ${cols.map((c) => (c === 'first_seen' ? `first_seen + ${SPAN}` : c === 'last_seen' ? `last_seen + ${SPAN}` : c)).join(', ')} FROM flows WHERE id = ?`)
        .run(last).lastInsertRowid;
      d.prepare(`INSERT INTO evidence SELECT ?, rule_id, rev, kind, side, family, matched, excerpt, offset, time FROM evidence WHERE flow_id = ? AND kind NOT IN ${REPORT_WIDE}`).run(added, last);
      const ownAgain = own();
      redecideReport(d, classifier, { recompute: false });
      expect(own()).toEqual(ownAgain);
      const named = d
        .prepare("SELECT f.id, e.matched FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE f.subscriber = ? AND e.kind = 'session' ORDER BY f.id")
        .raw()
        .all(sub) as Array<[number, string]>;
      expect(named.length).toBe(n + 1);
      expect(named.map(([id]) => id)).toEqual(d.prepare('SELECT id FROM flows WHERE subscriber = ? ORDER BY id').pluck().all(sub));
      for (const [, m] of named) expect(m).toContain(`: ${n + 1} flow(s)`);
    } finally {
      d.close();
    }
  }, 120_000);
});
