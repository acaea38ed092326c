/**
 * `scan --workers N`: N worker threads (src/cli/scan-worker.ts) each read every input and keep one
 * shard of the flows; this thread is the one writer of the report. Their per-input results are
 * joined here into what one scan over every flow reports:
 * - every worker reads every record, so counts of what was read (packets, records, decoding
 *   anomalies, export templates, DNS answers) are taken from worker 0, which alone hashes the inputs;
 * - what depends on the flows kept (flows, mining flows, flows finished early, payloads that did not
 *   decode) is added up over the workers;
 * - an input is ended once every worker has ended it;
 * - after an interruption, every input some worker had not finished is cut.
 *
 * This thread never waits for the report's writer while workers read: their messages are queued and
 * handled in order, a batch once the writer has room for it (the sink's `room`); an input's end and
 * anomalies go to the writer thread after its batches, without waiting. So SIGINT is heard at once
 * even when the report is the slow part, and its stop reaches workers that wait for room (a shared
 * flag beside their acknowledgements). The row `hooks` write on this thread at an input's start
 * still waits for another connection's lock on the report.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Anomalies } from '../anomalies.js';
import { knownDigests } from '../io/hash.js';
import { cutAndTiedInputs, SCAN_PROGRESS, type InputSummary, type ScanHooks, type ScanSummary } from '../pipeline.js';
import type { PackedFlows } from '../report/writer-batch.js';
import type { ScanCliOptions } from './scan.js';
import type { ShardCommand, ShardJob, ShardMessage } from './scan-worker.js';

/** Inputs that together are at least this big are worth more than one worker when `--workers` is not given. */
export const AUTO_WORKERS_MIN_BYTES = 64 << 20;

/** Most workers a scan starts. */
export const MAX_WORKERS = 64;

/** The workers' compiled script, beside this module. */
const SCRIPT = new URL('./scan-worker.js', import.meta.url);

/** Whether workers can start: not when running from the TypeScript sources (no compiled script beside this module). */
export function workersAvailable(): boolean {
  return SCRIPT.protocol === 'file:' && existsSync(fileURLToPath(SCRIPT));
}

/**
 * Cores a scan keeps for its other threads when it chooses how many workers to start: the report's
 * writer thread and the input's sha256 thread. One worker already keeps about one and a half cores
 * busy with them (`npm run bench`, the flows case: 7.4 CPU s in 5.0 s), and on 2 cores a second
 * worker made the scan slower (5.2 s), since every worker also reads and decodes every record.
 */
export const CORES_FOR_OTHER_THREADS = 2;

/**
 * How many workers a scan uses: `asked` when given (1 when an input is standard input, which only
 * one reader can read); otherwise, when the inputs are files that add up to
 * {@link AUTO_WORKERS_MIN_BYTES} or more, the machine's cores less {@link CORES_FOR_OTHER_THREADS}
 * (at least 1), and 1 for less (starting workers costs more than it saves). Always 1 when workers
 * cannot start (`available`).
 */
export function scanWorkers(asked: number | undefined, inputs: ReadonlyArray<{ path: string; size: number | null }>, available = workersAvailable()): number {
  if (!available || inputs.some((x) => x.path === '-')) return 1;
  if (asked !== undefined) return Math.min(Math.max(1, asked), MAX_WORKERS);
  const bytes = inputs.reduce((n, x) => n + (x.size ?? 0), 0);
  return bytes >= AUTO_WORKERS_MIN_BYTES ? Math.min(Math.max(1, availableParallelism() - CORES_FOR_OTHER_THREADS), MAX_WORKERS) : 1;
}

type End = Extract<ShardMessage, { t: 'end' }>;

/**
 * Scan `paths` with `workers` shards. `batch` gets each packed batch of flows with input indexes
 * (not ids) in its input column; `hooks` are called as by {@link scanInputs}, on this thread.
 * Rejects with the first failure of a worker or of a callback, after stopping every worker.
 * `progress`, over a SharedArrayBuffer, holds {@link SCAN_PROGRESS}'s slots for each worker in turn,
 * written by the workers as they read.
 */
export function scanInWorkers(job: {
  paths: string[];
  o: ScanCliOptions;
  workers: number;
  signal: AbortSignal;
  hooks: ScanHooks;
  batch: (b: PackedFlows) => void;
  /** Null when the writer is few enough batches behind to take another; otherwise a promise of when it is. */
  room?: () => Promise<void> | null;
  progress?: Float64Array;
}): Promise<Omit<ScanSummary, 'classifier'>> {
  const { paths, o, workers: n, signal, hooks } = job;
  const threads: Worker[] = [];
  const acks: Int32Array[] = [];
  const done: Array<Omit<ScanSummary, 'classifier'> | undefined> = [];
  const ends = new Map<number, Array<End | undefined>>();
  const ended = new Map<number, Anomalies>();
  const decoded = new Map<number, Anomalies>();
  const begun = new Set<number>();
  return new Promise((resolve, reject) => {
    let failure: unknown = null;
    const fail = (e: unknown): void => {
      if (failure !== null) return;
      failure = e;
      for (const w of threads) void w.terminate();
      reject(e);
    };
    const endInput = (i: number): void => {
      const per = ends.get(i)!;
      const first = per[0]!;
      const a = new Anomalies();
      a.addAll(first.anomalies);
      // Flows finished early are each worker's own; everything else every worker counted alike.
      for (let k = 1; k < n; k++) a.addCount('flow.evicted', per[k]?.anomalies.counts.get('flow.evicted') ?? 0);
      ended.set(i, a);
      hooks.endInput?.(i, first.info, first.counts, a, first.error);
    };
    const finish = (): void => {
      // Inputs worker 0 ended but another did not (an interruption): ended with what there is.
      for (const [i, per] of ends) if (!ended.has(i) && per[0]) endInput(i);
      for (const [i, d] of [...decoded].sort(([x], [y]) => x - y)) if (d.total > 0) hooks.decodeAnomalies?.(i, d);
      resolve(joinSummaries(done as Array<Omit<ScanSummary, 'classifier'>>, ended, decoded));
    };
    const handle = (k: number, m: ShardMessage): void => {
      switch (m.t) {
        case 'begin':
          if (!begun.has(m.i)) {
            begun.add(m.i);
            hooks.beginInput?.(m.i, m.path);
          }
          return;
        case 'batch':
          job.batch(m.b);
          Atomics.add(acks[k]!, 0, 1);
          Atomics.notify(acks[k]!, 0);
          return;
        case 'end': {
          let per = ends.get(m.i);
          if (!per) ends.set(m.i, (per = new Array<End | undefined>(n)));
          per[k] = m;
          // (every() would skip the holes of workers yet to end it)
          if (per.filter((x) => x !== undefined).length === n) endInput(m.i);
          return;
        }
        case 'decode': {
          let d = decoded.get(m.i);
          if (!d) decoded.set(m.i, (d = new Anomalies()));
          d.addAll(m.anomalies);
          return;
        }
        case 'done':
          done[k] = m.summary;
          // Its last message: the thread has nothing more to say (it still listens for a stop).
          void threads[k]!.terminate();
          if (done.filter((x) => x !== undefined).length === n) finish();
          return;
        case 'failed':
          fail(Object.assign(new Error(`scan worker ${k + 1} of ${n}: ${m.message}`), { stack: m.stack }));
          return;
      }
    };
    // Messages in the order they came, handled one at a time; waits for the report come between them.
    const queue: Array<{ k: number; m: ShardMessage }> = [];
    let pumping = false;
    const pump = async (): Promise<void> => {
      if (pumping) return;
      pumping = true;
      try {
        while (queue.length > 0 && failure === null) {
          const { k, m } = queue[0]!;
          const wait = m.t === 'batch' ? job.room?.() : null;
          if (wait) {
            await wait;
            continue;
          }
          queue.shift();
          handle(k, m);
        }
      } catch (e) {
        fail(e);
      } finally {
        pumping = false;
      }
    };
    for (let k = 0; k < n; k++) {
      // [0]: batches this thread has handed on; [1]: 1 once the scan is to stop.
      const acked = new SharedArrayBuffer(8);
      acks.push(new Int32Array(acked));
      const counters = job.progress && new Float64Array(job.progress.buffer, job.progress.byteOffset + k * SCAN_PROGRESS.slots * Float64Array.BYTES_PER_ELEMENT, SCAN_PROGRESS.slots);
      const data: ShardJob = { paths, o: { ...o, progress: counters }, shard: { index: k, count: n }, acked, digests: k === 0 ? knownDigests() : [] };
      const w = new Worker(SCRIPT, { workerData: data });
      threads.push(w);
      w.on('message', (m: ShardMessage) => {
        if (failure !== null) return;
        queue.push({ k, m });
        void pump();
      });
      w.on('error', (e) => fail(Object.assign(new Error(`scan worker ${k + 1} of ${n} failed: ${e.message}`), { stack: e.stack })));
      w.on('exit', (code) => {
        if (done[k] === undefined) fail(new Error(`scan worker ${k + 1} of ${n} ended (exit code ${code}) before it finished`));
      });
    }
    const stop = (): void => {
      for (const a of acks) {
        Atomics.store(a, 1, 1);
        Atomics.notify(a, 0);
      }
      for (const w of threads) w.postMessage({ t: 'stop' } satisfies ShardCommand);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
}

/** One scan's summary from its workers' (see the module's comment for what is taken from where). */
function joinSummaries(parts: ReadonlyArray<Omit<ScanSummary, 'classifier'>>, ended: ReadonlyMap<number, Anomalies>, decoded: ReadonlyMap<number, Anomalies>): Omit<ScanSummary, 'classifier'> {
  const first = parts[0]!;
  const count = Math.max(...parts.map((p) => p.inputs.length));
  const inputs: InputSummary[] = [];
  for (let i = 0; i < count; i++) {
    const from = parts.find((p) => p.inputs[i] !== undefined)!;
    const x = { ...from.inputs[i]! };
    if (from !== first) x.sha256 = null;
    x.flows = parts.reduce((s, p) => s + (p.inputs[i]?.flows ?? 0), 0);
    const a = ended.get(i);
    if (a) {
      const all = { ...a.toObject(), ...(decoded.get(i)?.toObject() ?? {}) };
      x.anomalies = Object.fromEntries(Object.entries(all).sort(([p], [q]) => p.localeCompare(q)));
    }
    inputs.push(x);
  }
  const spanTo = first.spanTo.map((_, i) => Math.max(...parts.map((p) => p.spanTo[i] ?? -1)));
  // A worker stopped part-way cut the input it was reading and did not read those after it.
  const cut = new Set<number>();
  for (const p of parts) if (p.interrupted) for (let i = Math.max(0, p.inputs.length - 1); i < count; i++) cut.add(i);
  const { incomplete, ties } = cutAndTiedInputs(inputs, spanTo, [...cut].sort((a, b) => a - b));
  const sum = (f: (p: Omit<ScanSummary, 'classifier'>) => number): number => parts.reduce((s, p) => s + f(p), 0);
  return {
    inputs,
    flows: sum((p) => p.flows),
    miningFlows: sum((p) => p.miningFlows),
    evictedFlows: sum((p) => p.evictedFlows),
    packets: inputs.reduce((s, x) => s + x.packets, 0),
    interrupted: parts.some((p) => p.interrupted),
    incomplete,
    ties,
    dnsBindings: first.dnsBindings,
    exportStats: first.exportStats,
    dnsLogs: first.dnsLogs,
    resolverStats: first.resolverStats,
    spanTo,
  };
}
