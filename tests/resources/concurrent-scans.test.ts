/**
 * Two scans into one report at the same time (WAL, one writer at a time, the other waits) give the
 * report that scanning the same inputs one after the other gives. Real CLI, two child processes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { FIXTURES, holdWriteLock, ROOT } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
if (!BUILT) console.warn('skipping the concurrent-scans test: dist/ is not built (npm run build)');
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-concurrent-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function scan(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, 'scan', ...args, '--idle-timeout', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) => resolve({ code, err }));
  });
}

function content(db: string): Record<string, unknown> {
  const d = new Database(db, { readonly: true });
  const flows = d.prepare('SELECT client, client_port, server, server_port, transport, first_seen, last_seen, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, label, confidence, rules FROM flows').all().map((r) => JSON.stringify(r)).sort();
  const subscribers = d.prepare('SELECT subscriber, first_seen, last_seen, mining_flows, confidence, servers, coins, workers FROM subscribers ORDER BY subscriber').all();
  const inputs = d.prepare('SELECT sha256, status, packets FROM inputs ORDER BY sha256').all();
  const runs = d.prepare('SELECT status FROM runs').pluck().all();
  d.close();
  return { flows, subscribers, inputs, runs };
}

describe.skipIf(!BUILT)('two scans into one report at once', () => {
  it('both finish, nothing is lost or doubled: the report equals the two scans one after the other', async () => {
    const a = join(tmp, 'a.pcap');
    const b = join(tmp, 'b.pcap');
    generateBenchCapture(a, 40e6, 11);
    generateBenchCapture(b, 40e6, 12);
    const miners = join(FIXTURES, 'demo/home-miners.pcapng');
    const seq = join(tmp, 'seq.sqlite');
    expect((await scan([a, miners, '--db', seq])).code).toBe(0);
    expect((await scan([b, '--db', seq])).code).toBe(0);
    const both = join(tmp, 'both.sqlite');
    const [x, y] = await Promise.all([scan([a, miners, '--db', both]), scan([b, '--db', both])]);
    expect(x.code, x.err).toBe(0);
    expect(y.code, y.err).toBe(0);
    expect(x.err + y.err).not.toMatch(/SQLITE_|locked|busy|internal error/);
    const want = content(seq);
    expect((want.flows as unknown[]).length).toBeGreaterThan(5000);
    expect((want.subscribers as unknown[]).length).toBeGreaterThan(0);
    expect(content(both)).toEqual(want);
  }, 120_000);

  it('a scan that opens a new report while another process is part-way through a write waits, and makes it WAL', async () => {
    // A new report is a rollback-mode SQLite file until its first opener switches it to WAL. With
    // another connection holding the write lock, SQLite answers the switch "database is locked" at
    // once (a deadlock its busy handler will not wait out), as when two scans make one report at once.
    const path = join(tmp, 'fresh.sqlite');
    const { exited } = await holdWriteLock(path, 1500, 'COMMIT');
    const { openReport } = (await import(join(ROOT, 'dist', 'src', 'report', 'writer.js'))) as typeof import('../../src/report/writer.js');
    const started = Date.now();
    const db = openReport(path);
    // It waited for the other's commit (1.5 s), then switched.
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    await exited;
  }, 60_000);
});
