/**
 * sha256 of a file on the second core: a worker thread reads the file itself (from the page cache,
 * as the parser reads it too) so hashing does not slow the packet path. Measured with
 * `npm run bench`: hashing inline cost ~17% of scan time.
 *
 * One worker serves every file of the process, one file after another in the order asked: starting
 * a thread costs tens of milliseconds, more than parsing a small file takes, and a folder of
 * rotated nfcapd files is hundreds of small files. The worker keeps the process alive only while a
 * file is being hashed; one that fails is replaced at the next request. It runs at a lower CPU
 * priority than the thread that reads the file (src/priority.ts).
 */
import { statSync, type BigIntStats, type Stats } from 'node:fs';
import { InputError } from '../errors.js';
import { Worker } from 'node:worker_threads';
import { helperNice, LOWER_PRIORITY_SOURCE } from '../priority.js';

// The thread lowers its own priority first (src/priority.ts).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
${LOWER_PRIORITY_SOURCE}
const buf = Buffer.allocUnsafe(1 << 22);
parentPort.on('message', ({ id, path }) => {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const h = createHash('sha256');
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    parentPort.postMessage({ id, sha256: h.digest('hex'), size: pos });
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e) });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
});
`;

interface Pending {
  resolve: (r: { sha256: string; size: number }) => void;
  reject: (e: Error) => void;
}

class HashWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  /** The thread failed or exited: every waiting request was rejected, and no more are taken. */
  dead = false;

  constructor() {
    // No execArgv: the source is CommonJS, whatever --input-type the process was started with.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { nice: helperNice() } });
    this.worker.unref();
    // An unref before the thread is online does not hold once it is: again then, unless a request waits.
    this.worker.once('online', () => {
      if (this.pending.size === 0) this.worker.unref();
    });
    this.worker.on('message', (m: { id: number; sha256?: string; size?: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve({ sha256: m.sha256!, size: m.size! });
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`the hashing thread exited (code ${code})`)));
  }

  hash(path: string): Promise<{ sha256: string; size: number }> {
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while a result is owed.
      this.worker.ref();
      this.worker.postMessage({ id, path });
    });
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    void this.worker.terminate();
  }
}

let shared: HashWorker | null = null;
let started = 0;
let requests = 0;

/** Hashing threads this process has started (one, unless one failed). */
export function hashThreadsStarted(): number {
  return started;
}

/**
 * Refuse a path that names no regular file or folder (a pipe, socket or device: `mkfifo`, `<(…)`),
 * before it is opened or with its `st`: an input is read twice, once by the hashing thread, and
 * these can be read once; and opening a pipe no process writes to would wait for one forever.
 * `instead` says what to do.
 */
export function refuseStreams(path: string, instead: string, st?: Stats | BigIntStats): void {
  if (st === undefined) {
    try {
      st = statSync(path);
    } catch {
      return; // opening it says why
    }
  }
  if (!st.isFile() && !st.isDirectory())
    throw new InputError(path, 0, `not a regular file (a pipe, socket or device, as <(…) gives): it can be read only once, and an input is read twice (once to hash it); ${instead}`);
}

/** Files this process has asked its hashing thread to hash. */
export function hashRequests(): number {
  return requests;
}

/**
 * Digests this process took, by the file's identity (device, inode, size, modification and change
 * times, in ns): a file hashed before a scan (src/cli/scan.ts) is not read a second time to hash it
 * as it is scanned. A write to the file changes its times, so a changed file is hashed again. A file
 * whose times were within {@link RACY_NS} of the clock when it was looked at is not remembered
 * (git's "racily clean" rule): file times move in clock ticks, up to seconds on some filesystems, so
 * a write in the same tick could leave them as they were. Bounded: past {@link MAX_KNOWN} entries
 * the oldest go.
 */
const known = new Map<string, { sha256: string; size: number }>();
const MAX_KNOWN = 4096;
const RACY_NS = 2_000_000_000n;

/** The digests this process took (a thread's own): to hand to another thread that reads the same files ({@link rememberDigests}). */
export function knownDigests(): Array<[string, { sha256: string; size: number }]> {
  return [...known];
}

/** Take digests another thread of the process took ({@link knownDigests}); each still holds only while its file's identity is unchanged. */
export function rememberDigests(d: ReadonlyArray<readonly [string, { sha256: string; size: number }]>): void {
  for (const [k, v] of d) if (known.size < MAX_KNOWN) known.set(k, { sha256: v.sha256, size: v.size });
}

/**
 * The file's identity as {@link known} keys it, its size, and whether its times lie far enough in
 * the past to remember a digest by them; null when it is not a regular file (a FIFO, a device) or
 * cannot be read. `st`: the file as already opened (its identity, not the path's now).
 */
function identity(path: string, st?: BigIntStats): { key: string; size: number; settled: boolean } | null {
  const now = BigInt(Date.now()) * 1_000_000n;
  try {
    st ??= statSync(path, { bigint: true });
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  return { key: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, size: Number(st.size), settled: now - st.mtimeNs >= RACY_NS && now - st.ctimeNs >= RACY_NS };
}

/**
 * Start the process's hashing thread now if it is not running, so that its start (tens of
 * milliseconds: a new isolate) overlaps the caller's own setup instead of delaying the first
 * file's digest, which for a small file is what the scan waits for last. A thread that cannot be
 * started is left to the first request, which then says why.
 */
export function startHashThread(): void {
  try {
    hashThread();
  } catch {
    // hashFileInWorker tries again and fails that request with the reason.
  }
}

/** The running hashing thread, started if there is none (or the last one failed); throws when it cannot be. */
function hashThread(): HashWorker {
  if (shared === null || shared.dead) {
    shared = new HashWorker();
    started++;
  }
  return shared;
}

/**
 * Hash `path` in the process's hashing thread; resolves to hex sha256 and the byte count hashed. A
 * file this process hashed already, unchanged since, is not hashed again. `opened`: the file as the
 * caller opened it (`fstat` of its descriptor): a remembered digest is used only for that file, even
 * if the path names another one since.
 */
export function hashFileInWorker(path: string, opened?: BigIntStats): Promise<{ sha256: string; size: number }> {
  const id = identity(path, opened);
  const had = id === null ? undefined : known.get(id.key);
  if (had !== undefined) return Promise.resolve({ ...had });
  requests++;
  let thread: HashWorker;
  try {
    thread = hashThread();
  } catch (e) {
    // A thread that cannot be started (a process or thread limit) fails this request, as a read would.
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  const p = thread.hash(path);
  if (id !== null)
    p.then(
      (r) => {
        // Kept only when the file is as it was before the hash began, and whole: what was hashed is
        // what it holds; and only when its times were settled then (a write could not hide in their tick).
        if (!id.settled || r.size !== id.size || identity(path)?.key !== id.key) return;
        if (known.size >= MAX_KNOWN) known.delete(known.keys().next().value!);
        known.set(id.key, { sha256: r.sha256, size: r.size });
      },
      () => undefined,
    );
  return p;
}
