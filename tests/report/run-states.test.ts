/**
 * Input states across an upgrade and a merge: a version-5 report's interrupted run is taken as
 * interrupted (and replaced by a rescan), and merging a report that holds a killed scan copies none
 * of its rows and names its input until a complete copy arrives.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { markRun } from '../../src/report/queries.js';
import { dropVersion6, FIXTURES, ROOT, runMain, whenReport } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-run-states-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const OFFICE = join(FIXTURES, 'demo/office.pcap');
const MINERS = join(FIXTURES, 'demo/home-miners.pcapng');


const q = <T>(db: string, sql: string): T[] => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all() as T[];
  } finally {
    d.close();
  }
};

describe('a version-5 report is upgraded with the state of its inputs', () => {
  it('inputs of an interrupted run become interrupted, a failed one failed; a rescan replaces the interrupted one exactly', async () => {
    const ref = join(tmp, 'ref.sqlite');
    expect((await runMain(['scan', MINERS, '--db', ref])).code).toBe(0);
    const db = join(tmp, 'v5.sqlite');
    expect((await runMain(['scan', MINERS, join(tmp, 'missing.pcap'), '--db', db])).code).toBe(1);
    // What version 5 wrote for a run stopped by SIGINT: no owner, no input states, the run interrupted.
    const d = new Database(db);
    dropVersion6(d);
    d.exec("UPDATE runs SET status = 'interrupted'");
    d.exec("UPDATE meta SET value = '5' WHERE key = 'schema_version'");
    d.close();
    const sum = await runMain(['summary', '--db', db]);
    expect(sum.code).toBe(2);
    expect(sum.err).toMatch(/schema version 5; this minerwatch reads version 6 \(any minerwatch scan or merge into it upgrades it in place\)/);
    const again = await runMain(['scan', MINERS, '--db', db, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/home-miners\.pcapng: .* holds it only in part; scanning it again/);
    const j = JSON.parse(again.out) as { replacedInputs: number; incompleteInputs: Array<{ path: string; status: string }> };
    expect(j.replacedInputs).toBe(1);
    // The missing file stays failed, and is named.
    expect(j.incompleteInputs.map((i) => [i.path, i.status])).toEqual([[join(tmp, 'missing.pcap'), 'failed']]);
    const flows = (p: string) => q<Record<string, unknown>>(p, 'SELECT client, client_port, server, server_port, first_seen, label, confidence FROM flows ORDER BY 1, 2, 3, 4, 5');
    expect(flows(db)).toEqual(flows(ref));
    expect(q(db, 'SELECT subscriber, mining_flows, confidence FROM subscribers ORDER BY 1')).toEqual(q(ref, 'SELECT subscriber, mining_flows, confidence FROM subscribers ORDER BY 1'));
  });
});

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));

describe.skipIf(!BUILT)('merging a report that holds a killed scan', () => {
  it('copies none of the killed run\'s rows, names its input as removed, and a complete copy replaces it', async () => {
    const cap = join(tmp, 'kill-me.pcap');
    generateBenchCapture(cap, 120e6, 99);
    const src = join(tmp, 'killed.sqlite');
    // Kill once the report holds some of its flows.
    const killed = spawn(process.execPath, [BIN, 'scan', cap, '--db', src, '--idle-timeout', '2'], { stdio: 'ignore' });
    const killedExit = new Promise((r) => killed.on('exit', r));
    await whenReport(src, 'SELECT count(*) FROM flows', (n) => n > 0);
    killed.kill('SIGKILL');
    await killedExit;
    const held = q<{ n: number }>(src, 'SELECT count(*) AS n FROM flows')[0]!.n;
    expect(held).toBeGreaterThan(0);
    expect(q<{ status: string }>(src, 'SELECT status FROM runs').map((r) => r.status)).toEqual(['running']);
    const target = join(tmp, 'merged.sqlite');
    expect((await runMain(['scan', OFFICE, '--db', target])).code).toBe(0);
    const before = q<{ n: number }>(target, 'SELECT count(*) AS n FROM flows')[0]!.n;
    const m = await runMain(['merge', src, '--db', target]);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toMatch(/1 run\(s\) that never finished: their scan rows were not copied/);
    expect(q<{ n: number }>(target, 'SELECT count(*) AS n FROM flows')[0]!.n).toBe(before);
    expect(q<{ path: string; status: string }>(target, "SELECT path, status FROM inputs WHERE status != 'complete'")).toEqual([{ path: cap, status: 'removed' }]);
    const sum = await runMain(['summary', '--db', target]);
    expect(sum.out).toContain(cap);
    // The same capture scanned whole elsewhere and merged in replaces the removed row.
    const whole = join(tmp, 'whole.sqlite');
    expect((await runMain(['scan', cap, '--db', whole, '--idle-timeout', '2'])).code).toBe(0);
    const m2 = await runMain(['merge', whole, '--db', target]);
    expect(m2.out).toMatch(/1 replacing rows held only in part/);
    expect(q(target, "SELECT path FROM inputs WHERE status != 'complete'")).toEqual([]);
    expect(q<{ n: number }>(target, 'SELECT count(*) AS n FROM flows')[0]!.n).toBe(before + q<{ n: number }>(whole, 'SELECT count(*) AS n FROM flows')[0]!.n);
  }, 120_000);

  it('merging a partial copy after a whole one of the same input adds nothing, in either order', async () => {
    const cap = join(tmp, 'kill-me.pcap');
    const whole = join(tmp, 'whole.sqlite');
    const part = join(tmp, 'part.sqlite');
    // Interrupted once the report holds some of its flows.
    const cut = spawn(process.execPath, [BIN, 'scan', cap, '--db', part, '--idle-timeout', '2'], { stdio: 'ignore' });
    const cutExit = new Promise((r) => cut.on('exit', r));
    await whenReport(part, 'SELECT count(*) FROM flows', (n) => n > 0);
    cut.kill('SIGINT');
    await cutExit;
    expect(q<{ status: string }>(part, 'SELECT status FROM inputs').map((r) => r.status)).toEqual(['interrupted']);
    const n = (p: string): number => q<{ n: number }>(p, 'SELECT count(*) AS n FROM flows')[0]!.n;
    for (const order of [[whole, part], [part, whole]]) {
      const m = join(tmp, `m-${order === undefined ? 0 : order[0] === whole ? 'wp' : 'pw'}.sqlite`);
      expect((await runMain(['merge', ...order, '--db', m])).code).toBe(0);
      expect(n(m)).toBe(n(whole));
      expect(q(m, "SELECT path FROM inputs WHERE status != 'complete'")).toEqual([]);
    }
  }, 120_000);
});

describe('a run is marked abandoned or failed only while it runs', () => {
  it('a closed run stays as it closed (a second signal heard after the close, a failure writing the output after it); a running one is marked', async () => {
    const db = join(tmp, 'closed.sqlite');
    expect((await runMain(['scan', MINERS, '--db', db])).code).toBe(0);
    const d = new Database(db);
    try {
      const run = d.prepare('SELECT id, status FROM runs').get() as { id: number; status: string };
      expect(run.status).toBe('complete');
      markRun(d, run.id, 'abandoned');
      markRun(d, run.id, 'failed');
      expect(d.prepare('SELECT status FROM runs WHERE id = ?').pluck().get(run.id)).toBe('complete');
      // The same row as a run still under way: the mark is what a later scan acts on.
      d.prepare("UPDATE runs SET status = 'running' WHERE id = ?").run(run.id);
      markRun(d, run.id, 'abandoned');
      expect(d.prepare('SELECT status FROM runs WHERE id = ?').pluck().get(run.id)).toBe('abandoned');
    } finally {
      d.close();
    }
  });
});
