/** Shared test helpers: the corpus location, rule loading, a scan that collects flows in memory. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRuleFiles } from '../src/io/rulefiles.js';
import { compileRules } from '../src/rules/loader.js';
import type { RuleSet } from '../src/rules/schema.js';
import { scanInputs, type ScanOptions, type ScanSummary } from '../src/scan.js';
import type { FlowRecord, Verdict } from '../src/types.js';
import { DecodeError } from '../src/errors.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = join(ROOT, 'fixtures');
export const RULES_DIR = join(ROOT, 'rules');
/** The shared corpus sits beside the clone: ../shared/corpus. */
export const CORPUS = resolve(ROOT, '..', 'shared', 'corpus');
export const HAVE_CORPUS = existsSync(join(CORPUS, 'README.md'));
export const CORPUS_SKIP_REASON = `shared corpus not found at ${CORPUS}: corpus tests skipped (clone ../shared beside the repository to run them)`;

let cached: RuleSet | null = null;
export function projectRules(): RuleSet {
  if (!cached) {
    const rep = compileRules(readRuleFiles(RULES_DIR));
    if (rep.errors.length) throw new Error(rep.errors.map((e) => e.message).join('\n'));
    cached = rep.ruleSet;
  }
  return cached;
}

export interface Scanned {
  summary: ScanSummary;
  flows: Array<{ flow: FlowRecord; verdict: Verdict }>;
}

/** Scan files with the project's rules and keep every classified flow in memory. */
export async function scanFiles(paths: string[], opts: ScanOptions = {}, rules: RuleSet = projectRules()): Promise<Scanned> {
  const flows: Scanned['flows'] = [];
  const summary = await scanInputs(paths, rules, (flow, verdict) => flows.push({ flow, verdict }), opts);
  return { summary, flows };
}

export function packetsOf(f: FlowRecord): number {
  return f.packetsC2S + f.packetsS2C;
}

/** Run `fn` and return the DecodeError it throws; fail when it throws anything else or nothing. */
export function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw new Error(`expected a DecodeError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a DecodeError, nothing was thrown');
}

/** How long {@link waitFor} polls, how often, and what it waits for (named in the failure). */
export interface WaitForOptions {
  /** What the wait is for, as the failure message shows it: "the collector to count 12 datagrams". */
  what: string;
  /** Deadline in milliseconds; default 60 000. */
  timeoutMs?: number;
  /** Poll interval in milliseconds; default 20. */
  intervalMs?: number;
}

/**
 * Resolve once `predicate` holds, polling it every `intervalMs`; reject after `timeoutMs` with
 * "timed out after N ms waiting for WHAT". A predicate that throws counts as not holding yet (a file
 * not written yet, a database not laid out yet); the last error it threw is named in the failure.
 * For waiting on a state another process reaches, instead of sleeping a fixed time.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, { what, timeoutMs = 60_000, intervalMs = 20 }: WaitForOptions): Promise<void> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) {
      const why = lastError === undefined ? '' : ` (the last check threw: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The number a report query gives (`SELECT count(*) …`), read-only beside a writer; throws while the report is not there yet. */
export function reportCount(db: string, sql: string): number {
  const d = new Database(db, { readonly: true, timeout: 1000 });
  try {
    return d.prepare(sql).pluck().get() as number;
  } finally {
    d.close();
  }
}

/**
 * Resolve once `test` holds for the number a report query gives (`SELECT count(*) …`), polled every
 * 10 ms read-only beside the writer; reject after `ms`. For signalling a scan at a known point.
 */
export function whenReport(db: string, sql: string, test: (n: number) => boolean, ms = 60_000): Promise<void> {
  return waitFor(() => test(reportCount(db, sql)), { what: `${db}: ${sql} to reach the awaited value`, timeoutMs: ms, intervalMs: 10 });
}

/**
 * Another process takes the write lock of the SQLite file `path` (BEGIN IMMEDIATE) and holds it for
 * `ms`, then ends its transaction (`end`) and exits. Resolves once the lock is held, with a promise
 * of the process's exit: for the waits a second writer (another scan) puts a report through.
 */
export async function holdWriteLock(path: string, ms: number, end: 'COMMIT' | 'ROLLBACK'): Promise<{ exited: Promise<unknown> }> {
  const holder = spawn(process.execPath, ['-e', `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(path)}); db.exec('BEGIN IMMEDIATE'); console.log('locked'); setTimeout(() => { db.exec('${end}'); db.close(); }, ${ms});`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => holder.on('exit', r));
  let said = '';
  holder.stdout!.on('data', (d: Buffer) => (said += d.toString()));
  await waitFor(() => said.includes('locked'), { what: `another process to hold the write lock of ${path}`, timeoutMs: 30_000 });
  return { exited };
}

/**
 * Hold the write lock of the SQLite file `path` (BEGIN IMMEDIATE) on a connection of this process
 * while `during` runs, as another scan committing would hold a report; then roll back and close,
 * however `during` ended. {@link holdWriteLock} is the same from another process.
 *
 * `from`: a running scan that writes the same report. Its writer may commit batch after batch with
 * no gap between them, and a connection that waits for the lock (SQLite's busy handler retries at
 * intervals) can then lose every retry until the scan has closed its run. So each try is made while
 * the scan is stopped (SIGSTOP): a lock it does not hold then is taken at once; one it holds is let
 * go on (SIGCONT) for a few milliseconds, and tried again.
 */
export async function withWriteLock<T>(path: string, during: (hold: Database.Database) => Promise<T>, from?: ChildProcess): Promise<T> {
  const hold = new Database(path, { timeout: from ? 0 : 60_000 });
  try {
    if (from) await beginWhileStopped(hold, from, path);
    else hold.exec('BEGIN IMMEDIATE');
    return await during(hold);
  } finally {
    if (hold.inTransaction) hold.exec('ROLLBACK');
    hold.close();
  }
}

/** BEGIN IMMEDIATE on `hold` (no busy wait), tried while `child` is stopped, until it succeeds. */
async function beginWhileStopped(hold: Database.Database, child: ChildProcess, path: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    if (!child.kill('SIGSTOP')) throw new Error(`process ${child.pid} ended before the write lock of ${path} was taken`);
    stoppedWithin(child.pid!, 100);
    let held = false;
    try {
      hold.exec('BEGIN IMMEDIATE');
      held = true;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') {
        child.kill('SIGCONT');
        throw e;
      }
    }
    child.kill('SIGCONT');
    if (held) return;
    if (tries === 2000) throw new Error(`process ${child.pid} held the write lock of ${path} at each of 2000 tries`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The fields of /proc/PID/stat after the command name (the state first); undefined once the process is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Wait (up to `ms`) until process `pid` is stopped by a signal (state T), or gone. */
function stoppedWithin(pid: number, ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const state = procStat(pid)?.[0];
    if (state === undefined || state === 'T' || state === 't' || state === 'Z') return;
  }
}

/** CPU time (user + system) a process has used so far, in clock ticks, from /proc/PID/stat; undefined once it is gone. */
export function cpuTicks(pid: number): number | undefined {
  const f = procStat(pid);
  return f ? Number(f[11]) + Number(f[12]) : undefined;
}

/** Remove what report schema version 6 added (run owners, input states), to make an older report. */
export function dropVersion6(d: Database.Database): void {
  for (const c of ['command', 'pid', 'host', 'proc_start', 'boot_id', 'pid_ns', 'heartbeat']) d.exec(`ALTER TABLE runs DROP COLUMN ${c}`);
  for (const c of ['status', 'note']) d.exec(`ALTER TABLE inputs DROP COLUMN ${c}`);
}

/** Run `script` with Node to its end: exit status, stdout and stderr. `env`: variables set beside this process's. */
function runScript(script: string, args: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Run the built CLI (bin/minerwatch, the bundle in dist/cli) to its end: exit status, stdout and stderr. `env`: variables set beside this process's. */
export function runCli(args: readonly string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): { code: number; out: string; err: string } {
  return runScript(join(ROOT, 'bin', 'minerwatch'), args, timeoutMs, env);
}

/**
 * Run the program as tsc emitted it (dist/src/cli/main.js, module by module) to its end, where
 * {@link runCli} runs its bundle (dist/cli, the same code): for a profile that names each
 * function's module. `env`: variables set beside this process's.
 */
export function runModulesCli(args: readonly string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): { code: number; out: string; err: string } {
  return runScript(join(ROOT, 'tests', 'support', 'modules-cli.mjs'), args, timeoutMs, env);
}

/**
 * Run `main(args)` in this process with its output collected: exit status, stdout and stderr. The
 * CLI module is imported on first use, so test files that never run it do not load it.
 */
export async function runMain(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../src/cli/main.js');
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** What a CLI run started with {@link spawnCli} ended with, and how long it took. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  ms: number;
}

/** Run the built CLI in a child process; `act(child)` may signal it while it runs. */
export function spawnCli(args: readonly string[], act?: (child: ChildProcess) => void): Promise<CliRun> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'minerwatch'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  act?.(child);
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out, err, ms: Date.now() - t0 })));
}

/** Zones a time read "as UTC unless it carries an offset" must not depend on: UTC, east of it (China), west of it. */
export const ZONES = ['UTC', 'Asia/Shanghai', 'America/New_York'] as const;

/**
 * Run `fn` with this process's time zone (TZ, which child processes inherit) set to each of
 * {@link ZONES} in turn, then put it back as it was.
 */
export async function inEachZone(fn: (tz: string) => void | Promise<void>): Promise<void> {
  const before = process.env.TZ;
  try {
    for (const tz of ZONES) {
      process.env.TZ = tz;
      await fn(tz);
    }
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}
