/**
 * Run owners across namespaces: a scan in another PID namespace (a container beside a host process)
 * or under another host name cannot check a running scan's pid, so it neither removes that run nor
 * reads the same file beside it. Real CLI under `unshare` (needs root; skipped otherwise).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { FIXTURES, ROOT, whenReport } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
const canUnshare = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', '--uts', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!BUILT || !canUnshare) console.warn('skipping the run-owner namespace tests: they need dist/ built and root for unshare(1)');
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-owners-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(argv: string[], opts: { prefix?: string[] } = {}): { child: ReturnType<typeof spawn>; done: Promise<{ code: number | null; err: string }> } {
  const cmd = [...(opts.prefix ?? []), process.execPath, BIN, ...argv];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, done: new Promise((r) => child.on('exit', (code) => r({ code, err }))) };
}

/** Resolve once the report holds a flow (the scan is mid-write). */
const writing = (db: string): Promise<void> => whenReport(db, 'SELECT count(*) FROM flows', (n) => n > 0);

const count = (db: string): number => {
  const d = new Database(db, { readonly: true });
  const n = d.prepare('SELECT count(*) FROM flows').pluck().get() as number;
  d.close();
  return n;
};

describe.skipIf(!BUILT || !canUnshare)('scans whose owner cannot be checked', () => {
  const big = join(tmp, 'big.pcap');
  const args = (db: string, file: string): string[] => ['scan', file, '--db', db, '--idle-timeout', '2'];

  it('a scan in another PID namespace leaves a running scan alone; both end complete and nothing is lost', async () => {
    generateBenchCapture(big, 120e6, 31);
    const clean = join(tmp, 'clean.sqlite');
    expect((await run(args(clean, big)).done).code).toBe(0);
    const db = join(tmp, 'ns.sqlite');
    const a = run(args(db, big));
    await writing(db);
    const b = await run(args(db, join(FIXTURES, 'demo/office.pcap')), { prefix: ['unshare', '--pid', '--fork', '--mount-proc'] }).done;
    expect(b.code, b.err).toBe(0);
    expect(b.err).not.toMatch(/did not finish/);
    const ra = await a.done;
    expect(ra.code, ra.err).toBe(0);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT status FROM inputs ORDER BY id').pluck().all()).toEqual(['complete', 'complete']);
    d.close();
    const office = join(tmp, 'office.sqlite');
    expect((await run(args(office, join(FIXTURES, 'demo/office.pcap'))).done).code).toBe(0);
    expect(count(db)).toBe(count(clean) + count(office));
  }, 180_000);

  it('killed under one host name, rerun under another: the rerun does not read the file beside a run it cannot check', async () => {
    const db = join(tmp, 'host.sqlite');
    const a = run(args(db, big), { prefix: ['unshare', '--uts', 'sh', '-c', 'hostname scanbox-1 && exec "$0" "$@"'] });
    await writing(db);
    a.child.kill('SIGKILL');
    await a.done;
    const held = count(db);
    const again = await run(args(db, big), { prefix: ['unshare', '--uts', 'sh', '-c', 'hostname scanbox-2 && exec "$0" "$@"'] }).done;
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/big\.pcap: run 1 \(process \d+ on scanbox-1\) is reading it into .*; not scanned beside it/);
    expect(count(db)).toBe(held);
  }, 180_000);
});
