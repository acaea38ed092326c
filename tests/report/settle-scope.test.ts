/**
 * A scan's close settles only its own subscribers when the report is known settled otherwise
 * (src/report/settle.ts). Real captures and softflowd exports of them are scanned one run each into
 * one report, and again into a second report whose settled marker is removed before every scan, so
 * that every close there settles the whole report as before: the two reports must hold the same
 * verdicts, evidence rows (row ids included) and subscriber rows, while the first scans settled
 * fewer subscribers.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOwner } from '../../src/report/runs.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, runMain } from '../helpers.js';
import { decidedRows, forgetSettled } from '../support/report-snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-settle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * One input per run, in this order. Exports of a capture come before the capture itself for some
 * (the capture's payload then proves pairs whose exported flows are already in the report: peer
 * evidence for an earlier run's flows) and after it for others; benign traffic in between brings
 * subscribers that share nothing with the miners.
 */
const SEQUENCE = [
  'pcap/mining/nesfit__cgminer.s2.pcapng',
  'netflow/generated/v9/ndpi__mining.export.pcap',
  'pcap/benign/ndpi__jabber.pcap',
  'pcap/mining/ndpi__mining.pcapng',
  'pcap/mining/zeekcm__coinhive-stratum.pcap',
  'netflow/generated/v9/zeekcm__coinhive-stratum.export.pcap',
  'netflow/generated/v9/nesfit__zec-eu1.nanopool.org.export.pcap',
  'pcap/crypto-nonmining/ndpi__bitcoin.pcap',
  'netflow/generated/v9/takeshi__miner_9816a3d.export.pcap',
  'pcap/mining/takeshi__miner_9816a3d.pcap',
];

interface ScanOut {
  settledSubscribers: number | null;
  removedRuns: unknown[];
  addedUp: { flows: number };
}

async function scan(db: string, input: string, extra: string[] = []): Promise<ScanOut> {
  const r = await runMain(['scan', input, '--db', db, '--json', '--quiet', ...extra]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as ScanOut;
}

function settledMarker(db: string): string | undefined {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare("SELECT value FROM meta WHERE key = 'settled'").pluck().get() as string | undefined;
  } finally {
    d.close();
  }
}

describe.skipIf(!HAVE_CORPUS)('a scan settles its own subscribers when the report is settled otherwise', () => {
  const scoped = join(dir, 'scoped.sqlite');
  const whole = join(dir, 'whole.sqlite');
  const scopedRuns: ScanOut[] = [];
  const wholeRuns: ScanOut[] = [];

  beforeAll(async () => {
    for (const f of SEQUENCE) {
      scopedRuns.push(await scan(scoped, join(CORPUS, f)));
      if (existsSync(whole)) forgetSettled(whole);
      wholeRuns.push(await scan(whole, join(CORPUS, f)));
    }
  }, 300_000);

  it('gives the report that settling the whole report at every close gives', () => {
    const a = decidedRows(scoped);
    const b = decidedRows(whole);
    // Not a report of nothing: evidence of several kinds was added up and lifted.
    expect(a.flows.length).toBeGreaterThan(200);
    const kinds = new Set((a.evidence as Array<{ kind: string }>).map((e) => e.kind));
    for (const k of ['payload', 'session', 'peer']) expect(kinds, `evidence kinds ${[...kinds].join(', ')}`).toContain(k);
    expect(a.subscribers.length).toBeGreaterThan(3);
    expect(a).toEqual(b);
  });

  it('settled only the run\u2019s subscribers once the report was known settled', () => {
    // The first close settles the whole report (there was no marker); the whole-report side never scopes.
    expect(scopedRuns[0]!.settledSubscribers).toBeNull();
    expect(wholeRuns.every((r) => r.settledSubscribers === null)).toBe(true);
    const later = scopedRuns.slice(1);
    expect(later.filter((r) => r.settledSubscribers !== null).length).toBeGreaterThanOrEqual(SEQUENCE.length - 2);
    // Fewer flows looked at than the whole pass read, run for run.
    let fewer = 0;
    for (let i = 1; i < SEQUENCE.length; i++) if (scopedRuns[i]!.addedUp.flows < wholeRuns[i]!.addedUp.flows) fewer++;
    expect(fewer).toBeGreaterThanOrEqual(SEQUENCE.length - 2);
  });

  it('settles the whole report again after rescore, with other intelligence, and after a run it does not know', async () => {
    const extra = join(CORPUS, 'netflow/generated/v9/nesfit__eth-eu1.nanopool.org.export.pcap');
    expect(settledMarker(scoped)).toBeDefined();
    // A scan with intelligence the report was not settled with (one listed endpoint, in an intel folder).
    const intel = join(dir, 'intel');
    mkdirSync(intel);
    writeFileSync(join(intel, 'pools.yaml'), 'source: "test"\nadded: 2020-01-01\nkind: pool\nentries:\n  - { ip: "192.0.2.10", port: 3333, pool: "test pool" }\n');
    const other = await scan(scoped, extra, ['--intel', intel]);
    expect(other.settledSubscribers).toBeNull();
    // rescore forgets the marker: the next scan settles everything.
    expect((await runMain(['rescore', '--db', scoped])).code).toBe(0);
    expect(settledMarker(scoped)).toBeUndefined();
    const afterRescore = await scan(scoped, join(CORPUS, 'pcap/benign/ndpi__irc.pcap'));
    expect(afterRescore.settledSubscribers).toBeNull();
    // Settled again: the next scan scopes...
    const next = await scan(scoped, join(CORPUS, 'pcap/benign/ndpi__telnet.pcap'));
    expect(next.settledSubscribers).not.toBeNull();
    // ...but not while another run is running (here one owned by this live process, so not taken for dead).
    const owner = currentOwner();
    let d = new Database(scoped);
    const running = d
      .prepare("INSERT INTO runs(started, status, tool_version, ruleset_digest, rules, options, command, pid, host, proc_start, boot_id, pid_ns, heartbeat) VALUES (?, 'running', 'test', '', '', '{}', 'scan', ?, ?, ?, ?, ?, ?)")
      .run(Date.now(), owner.pid, owner.host, owner.procStart, owner.bootId, owner.pidNs, Date.now()).lastInsertRowid;
    d.close();
    const during = await scan(scoped, join(CORPUS, 'pcap/benign/ndpi__quic.pcap'));
    expect(during.removedRuns).toEqual([]);
    expect(during.settledSubscribers).toBeNull();
    d = new Database(scoped);
    d.prepare("DELETE FROM runs WHERE id = ?").run(running);
    d.close();
    expect((await scan(scoped, join(CORPUS, 'pcap/benign/ndpi__steam.pcapng'))).settledSubscribers).not.toBeNull();
    // ...unless a run ended since the marker was written that did not write it (a tool that keeps none).
    d = new Database(scoped);
    d.prepare("INSERT INTO runs(started, finished, status, tool_version, ruleset_digest, rules, options, command) VALUES (?, ?, 'complete', 'older', '', '', '{}', 'scan')").run(Date.now(), Date.now() + 1);
    d.close();
    const unknown = await scan(scoped, join(CORPUS, 'pcap/benign/ndpi__ssh.pcap'));
    expect(unknown.settledSubscribers).toBeNull();
  }, 120_000);
});

if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
