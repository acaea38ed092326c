/**
 * Fault test: a scan killed at any moment (SIGKILL at seeded times, one SIGINT, two SIGINTs, a kill
 * during the rerun itself) leaves a report that rerunning the same command turns into exactly the
 * report of one clean run: the same flows, evidence, subscribers, hashrate rows, input counts and
 * anomalies. Real CLI in child processes, on a generated capture cut into three rotated files (so
 * conversations run on from one file into the next) and large enough to be mid-write when killed.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { mulberry32 } from '../support/random.js';
import { reportSnapshot as snapshot, splitPcap as split } from '../support/report-snapshot.js';
import { cpuTicks, ROOT, spawnCli, waitFor, whenReport, withWriteLock, type CliRun } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
if (!BUILT) console.warn('skipping the kill-and-rerun fault test: dist/ is not built (npm run build)');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-kill-'));
const files = [0, 1, 2].map((i) => join(tmp, `rot-${i}.pcap`));
// Short timeouts: flows finish (and are written, in batches) while the files are read, as on a long capture.
const OPTS = ['--idle-timeout', '2', '--active-timeout', '60'];

const cli = spawnCli;
type Result = CliRun;

const scan = (db: string, act?: (child: ReturnType<typeof spawn>) => void): Promise<Result> => cli(['scan', ...files, '--db', db, ...OPTS], act);

/** Resolves once process `pid` has used no CPU time for `ms` (Linux: /proc/PID/stat), within 30 s. */
async function cpuQuiet(pid: number, ms: number): Promise<void> {
  let last = cpuTicks(pid);
  let since = Date.now();
  await waitFor(
    () => {
      const now = cpuTicks(pid);
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      return Date.now() - since >= ms;
    },
    { what: `process ${pid} to use no CPU for ${ms} ms`, timeoutMs: 30_000 },
  );
}

/** Move every record of a classic pcap `seconds` later. */
function shiftTime(path: string, seconds: number): void {
  const b = readFileSync(path);
  for (let p = 24; p + 16 <= b.length; p += 16 + b.readUInt32LE(p + 8)) b.writeUInt32LE(b.readUInt32LE(p) + seconds, p);
  const fd = openSync(path, 'w');
  writeSync(fd, b);
  closeSync(fd);
}

describe.skipIf(!BUILT)('killed, interrupted and rerun scans end as one clean run', () => {
  let clean: Record<string, unknown>;
  let cleanMs = 0;

  beforeAll(async () => {
    const whole = join(tmp, 'whole.pcap');
    // About 48,000 flows (with the short timeouts), 54 of them mining, over ten report batches.
    generateBenchCapture(whole, 200e6);
    split(whole, files);
    rmSync(whole);
    const r = await scan(join(tmp, 'clean.sqlite'));
    expect(r.code, r.err).toBe(0);
    cleanMs = r.ms;
    clean = snapshot(join(tmp, 'clean.sqlite'));
    // The comparison means something only if the report has all of these.
    expect((clean.flows as unknown[]).length).toBeGreaterThan(20_000);
    expect((clean.evidence as unknown[]).length).toBeGreaterThan(0);
    expect((clean.subscribers as unknown[]).length).toBeGreaterThan(0);
    expect((clean.inputs as Array<{ status: string }>).map((i) => i.status)).toEqual(['complete', 'complete', 'complete']);
  }, 180_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  // Seeded kill moments across the whole run: setup, reading, batch commits, the closing transaction.
  // The timed kills below are the behaviour under test (a kill at any moment), not waits for a state.
  const rnd = mulberry32(0x6b11);
  const points = Array.from({ length: 6 }, (_, i) => (i + rnd()) / 6);

  it.each(points.map((f, i) => ({ i, f })))('SIGKILL at $f of a clean run, then the same command again', async ({ i, f }) => {
    const db = join(tmp, `kill-${i}.sqlite`);
    const killed = await scan(db, (c) => setTimeout(() => c.kill('SIGKILL'), Math.max(30, Math.round(f * cleanMs))));
    let state = 'no report yet';
    if (killed.signal === 'SIGKILL' && existsSync(db)) {
      const d = new Database(db, { readonly: true });
      const hasRuns = d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'runs'").get();
      const run = hasRuns ? (d.prepare('SELECT status FROM runs ORDER BY id DESC LIMIT 1').pluck().get() as string | undefined) : undefined;
      const complete = hasRuns ? d.prepare("SELECT count(*) FROM inputs WHERE status = 'complete'").pluck().get() : 0;
      d.close();
      state = run ?? 'no run yet';
      // Killed before its close committed, a run never counts as done, nor does any input of it.
      if (run === 'running') expect(complete).toBe(0);
    }
    const again = await scan(db);
    expect(again.code, again.err).toBe(0);
    if (state === 'running') expect(again.err).toMatch(/did not finish \(its process \d+ is gone/);
    expect(snapshot(db)).toEqual(clean);
  }, 120_000);

  it('a rerun that is itself killed, then run again, still ends as one clean run', async () => {
    const db = join(tmp, 'kill-twice.sqlite');
    await scan(db, (c) => setTimeout(() => c.kill('SIGKILL'), Math.round(cleanMs * 0.5)));
    await scan(db, (c) => setTimeout(() => c.kill('SIGKILL'), Math.round(cleanMs * 0.3)));
    const again = await scan(db);
    expect(again.code, again.err).toBe(0);
    expect(snapshot(db)).toEqual(clean);
  }, 120_000);

  it('SIGINT: what was read is written and marked; the rerun replaces the cut inputs and ends as one clean run', async () => {
    const db = join(tmp, 'sigint.sqlite');
    // Signalled while it reads: its first batch of flows is in the report.
    const first = await scan(db, (c) => void whenReport(db, 'SELECT count(*) FROM flows', (n) => n > 0).then(() => c.kill('SIGINT'), () => undefined));
    expect(first.err).toMatch(/SIGINT: finishing the flows read so far/);
    expect(first.code).toBe(1);
    const d = new Database(db, { readonly: true });
    const states = d.prepare('SELECT status FROM inputs ORDER BY id').pluck().all() as string[];
    const run = d.prepare('SELECT status FROM runs').pluck().get();
    d.close();
    expect(run).toBe('interrupted');
    // The cut input (and any tied to it by a flow) is not complete; it is never "already in".
    expect(states).toContain('interrupted');
    const summary = await cli(['summary', '--db', db]);
    expect(summary.out).toMatch(/incomplete input/);
    const again = await scan(db);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/holds it only in part; scanning it again/);
    expect(snapshot(db)).toEqual(clean);
  }, 120_000);

  /**
   * Two SIGINTs: the first once the last file is being read; the second when `second` says (after
   * the scan said it is finishing what it read). Meanwhile another connection holds the report's
   * write lock (as a concurrent scan closing its run would), so the run cannot close before the
   * second signal comes, however slowly this process answers: the signal must end the run, not come
   * after it. The run is abandoned, and the rerun ends as one clean run.
   */
  const twoSigints = async (db: string, second: (c: ReturnType<typeof spawn>) => Promise<void>): Promise<void> => {
    let problem: unknown = null;
    const first = await scan(db, (c) => {
      let said = '';
      c.stderr!.on('data', (d: Buffer) => (said += d.toString()));
      void (async () => {
        await whenReport(db, "SELECT count(*) FROM inputs WHERE path LIKE '%rot-2.pcap'", (n) => n === 1);
        await withWriteLock(db, async () => {
          c.kill('SIGINT');
          await waitFor(() => /SIGINT: finishing the flows read so far/.test(said), { what: 'the scan to say it heard the first SIGINT', timeoutMs: 30_000 });
          await second(c);
          c.kill('SIGINT');
          await new Promise((r) => setTimeout(r, 300));
        }, c);
      })().catch((e: unknown) => {
        problem = e;
      });
    });
    expect(problem).toBeNull();
    expect(first.code).toBe(130);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT status FROM runs').pluck().get()).toBe('abandoned');
    d.close();
    const again = await scan(db);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/did not finish \(stopped by a second signal\)/);
    expect(snapshot(db)).toEqual(clean);
  };

  it('two SIGINTs: the second quits at once (130), the run is abandoned, and the rerun ends as one clean run', async () => {
    await twoSigints(join(tmp, 'sigint2.sqlite'), async () => undefined);
  }, 120_000);

  it('two SIGINTs, the second while the scan waits for its last batches to be committed: the same', async () => {
    // The second once the scan has gone quiet (its CPU time still for half a second): it has read
    // and classified what it will, and waits for the writer thread, which waits for the lock.
    await twoSigints(join(tmp, 'sigint2-drain.sqlite'), (c) => cpuQuiet(c.pid!, 500));
  }, 120_000);

  it('SIGINT while the third of three unrelated captures is read: the two read before stay complete, only the cut one is read again', async () => {
    // Three captures of different traffic an hour apart (as rotated hourly files of different
    // links would be): no conversation runs from one into another.
    const own = [1, 2, 3].map((i) => join(tmp, `own-${i}.pcap`));
    own.forEach((f, i) => {
      generateBenchCapture(f, 70e6, 7100 + i);
      shiftTime(f, i * 3600);
    });
    const args = (db: string): string[] => ['scan', ...own, '--db', db, ...OPTS, '--json'];
    const cleanDb = join(tmp, 'own-clean.sqlite');
    expect((await cli(args(cleanDb))).code).toBe(0);
    const db = join(tmp, 'own-int.sqlite');
    const first = await cli(args(db), (c) => {
      // Signal once the first two are read to their end, by the report's own record of it.
      void whenReport(db, "SELECT count(*) FROM inputs WHERE status = 'read'", (n) => n >= 2).then(
        () => c.kill('SIGINT'),
        () => undefined,
      );
    });
    expect(first.code).toBe(1);
    const d = new Database(db, { readonly: true });
    const states = d.prepare('SELECT status FROM inputs ORDER BY id').pluck().all();
    d.close();
    expect(states).toEqual(['complete', 'complete', 'interrupted']);
    const j1 = JSON.parse(first.out) as { interrupted: boolean; incompleteInputs: Array<{ path: string; status: string }> };
    expect(j1.interrupted).toBe(true);
    expect(j1.incompleteInputs.map((i) => [i.path, i.status])).toEqual([[own[2], 'interrupted']]);
    const again = await cli(args(db));
    expect(again.code, again.err).toBe(0);
    const j2 = JSON.parse(again.out) as { replacedInputs: number; incompleteInputs: unknown[]; alreadyInReport: number };
    expect(j2).toMatchObject({ replacedInputs: 1, incompleteInputs: [], alreadyInReport: 2 });
    expect(again.err).toMatch(/own-1\.pcap: already in/);
    expect(again.err).toMatch(/own-2\.pcap: already in/);
    expect(again.err).toMatch(/own-3\.pcap: .* holds it only in part; scanning it again/);
    expect(snapshot(db)).toEqual(snapshot(cleanDb));
  }, 180_000);

  it('standard input cut by SIGINT, then the whole capture piped again: the new read replaces the cut one', async () => {
    const bytes = readFileSync(files[0]!);
    /** `scan -` with `data` on standard input; `keepOpen` leaves the pipe open (a live capture) until `act` is done. */
    const piped = (db: string, data: Buffer, act?: (c: ReturnType<typeof spawn>) => Promise<void>): Promise<Result> => {
      const t0 = Date.now();
      const c = spawn(process.execPath, [BIN, 'scan', '-', '--db', db, ...OPTS], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.stdin!.on('error', () => undefined);
      const done = new Promise<Result>((resolve) => c.on('exit', (code, signal) => resolve({ code, signal, out, err, ms: Date.now() - t0 })));
      if (act) {
        c.stdin!.write(data);
        void act(c);
      } else c.stdin!.end(data);
      return done;
    };
    const cleanDb = join(tmp, 'stdin-clean.sqlite');
    expect((await piped(cleanDb, bytes)).code).toBe(0);
    const db = join(tmp, 'stdin-cut.sqlite');
    const first = await piped(db, bytes.subarray(0, Math.floor(bytes.length / 2)), async (c) => {
      // Once the report holds some flows of it, stop it while the pipe is still open.
      await whenReport(db, 'SELECT count(*) FROM flows', (n) => n > 0);
      c.kill('SIGINT');
    });
    expect(first.code, first.err).toBe(1);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT path, status FROM inputs').all()).toEqual([{ path: '-', status: 'interrupted' }]);
    d.close();
    const again = await piped(db, bytes);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/standard input: begins with the 1 interrupted read\(s\) of standard input .* holds; their rows are replaced/);
    expect(snapshot(db)).toEqual(snapshot(cleanDb));
  }, 120_000);
});
