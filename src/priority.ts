/**
 * The CPU priority of helper threads. A file scan's reading thread is its critical path; the
 * report writer, the files' hashing thread and the thread that touches payload slabs
 * (src/flow/touched.ts) work beside it on work that can wait (the writer is held a few batches
 * behind at most, a file's hash is needed when the file ends, a slab not ready is made by the
 * reader). On Linux a thread has its own nice value, so each helper raises its own by
 * {@link helperNice} when it starts: where the cores are short (two here, with V8's compiler and
 * collector threads also running), the reading thread is then run first instead of waiting its turn
 * behind them. The hashing and touching threads do so in every command that starts them (the hashing
 * thread hashes files read before anything else runs: a collector's resolver logs too); the writer
 * thread only for a scan.
 *
 * The nice value only orders threads that compete within one scheduling group (with the kernel's
 * autogroups, a session; under systemd, a service's cgroup): another CPU-bound job in the same
 * session also runs before the helpers. `MINERWATCH_HELPER_NICE=0` leaves them at the process's own.
 */
import { getPriority, setPriority } from 'node:os';

/** How much a helper thread raises its nice value by default. */
export const DEFAULT_HELPER_NICE = 10;
/** The largest nice value there is. */
const LOWEST_PRIORITY = 19;

/**
 * How much helper threads raise their nice value: `MINERWATCH_HELPER_NICE` (0–19) when it is set to
 * one of those, else {@link DEFAULT_HELPER_NICE}; 0 where a nice value is the whole process's (every
 * system but Linux), since raising it there would slow the reading thread too.
 */
export function helperNice(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): number {
  if (platform !== 'linux') return 0;
  const v = env.MINERWATCH_HELPER_NICE;
  if (v !== undefined && /^\s*\d+\s*$/.test(v)) return Math.min(LOWEST_PRIORITY, Number(v));
  return DEFAULT_HELPER_NICE;
}

/**
 * {@link lowerThreadPriority} as source text, for helper threads whose code is evaluated as CommonJS
 * and cannot import this module (src/io/hash.ts, src/flow/touched.ts): it raises the thread's nice
 * value by `workerData.nice`, up to 19, and ignores a refusal. Needs `workerData` in scope.
 */
export const LOWER_PRIORITY_SOURCE = `
if (workerData.nice > 0) {
  try {
    const os = require('node:os');
    os.setPriority(Math.min(${LOWEST_PRIORITY}, os.getPriority() + workerData.nice));
  } catch {}
}
`;

/**
 * Raise the calling thread's nice value by `by` (from the one it inherited), up to 19. Call it on
 * the helper thread itself; nothing happens for 0. A refusal (a sandbox without the system call) is
 * ignored: the thread keeps its priority.
 */
export function lowerThreadPriority(by: number): void {
  if (!(by > 0)) return;
  try {
    setPriority(Math.min(LOWEST_PRIORITY, getPriority() + by));
  } catch {
    // Kept at its priority: only the order in which threads run changes.
  }
}
