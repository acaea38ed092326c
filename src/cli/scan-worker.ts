/**
 * One worker of `scan --workers N`: reads every input, keeps the flows of its shard
 * (src/flow/shard.ts), classifies them, maps them to subscribers and packs them into report
 * batches, which it posts to the scan's thread (the one writer of the report). It loads the rules,
 * directory, NAT and intel itself, from the same options, so it decides as the scan's thread would.
 * The scan's thread acknowledges each batch once it has queued it for writing; a worker more than
 * {@link MAX_UNACKED} batches ahead waits, so memory stays bounded when the report is the slow part.
 * A stop (SIGINT) ends that wait at once, through a flag beside the acknowledgements: the worker then
 * stops reading where it stands.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadRunContext } from '../aggregate/load.js';
import { SubscriberMap } from '../aggregate/subscriber.js';
import type { Anomalies } from '../anomalies.js';
import type { PacketCounts } from '../flow/ingest.js';
import type { Shard } from '../flow/shard.js';
import type { InputInfo } from '../io/input.js';
import { knownDigests, rememberDigests } from '../io/hash.js';
import { scanInputs, type ScanSummary } from '../pipeline.js';
import { FlowBatch, type PackedFlows } from '../report/writer-batch.js';
import { loadRulesForScan } from './rules.js';
import { keepFlow, scanOptionsOf, type ScanCliOptions } from './scan.js';

/** Batches a worker may have posted that the scan's thread has not yet queued. */
export const MAX_UNACKED = 4;

/** What a worker is started with. */
export interface ShardJob {
  paths: string[];
  o: ScanCliOptions;
  shard: Shard;
  /** Int32Array over a SharedArrayBuffer: [0] = batches the scan's thread has queued, [1] = 1 once the scan is to stop. */
  acked: SharedArrayBuffer;
  /** Digests the scan's thread took before the scan ({@link knownDigests}): files not hashed again. */
  digests: ReturnType<typeof knownDigests>;
}

/** Anomalies as they cross threads. */
export interface PlainAnomalies {
  counts: Map<string, number>;
  samples: Anomalies['samples'];
}

/** A worker's messages, in the order it sends them. */
export type ShardMessage =
  | { t: 'begin'; i: number; path: string }
  | { t: 'batch'; b: PackedFlows }
  | { t: 'end'; i: number; info: InputInfo | null; counts: PacketCounts; anomalies: PlainAnomalies; error: string | null }
  | { t: 'decode'; i: number; anomalies: PlainAnomalies }
  | { t: 'done'; summary: Omit<ScanSummary, 'classifier'> }
  | { t: 'failed'; name: string; message: string; stack: string };

/** Messages to a worker. */
export type ShardCommand = { t: 'stop' };

const plain = (a: Anomalies): PlainAnomalies => ({ counts: a.counts, samples: a.samples });

async function run(): Promise<void> {
  const port = parentPort!;
  const job = workerData as ShardJob;
  const { o, paths, shard } = job;
  rememberDigests(job.digests);
  const acked = new Int32Array(job.acked);
  const stop = new AbortController();
  port.on('message', (m: ShardCommand) => {
    if (m.t === 'stop') stop.abort();
  });
  const send = (m: ShardMessage): void => port.postMessage(m);
  try {
    const quiet = { out: () => undefined, err: () => undefined };
    const loaded = loadRulesForScan(o.rules, o.lenientRules ?? false, quiet);
    const ctx = await loadRunContext(loaded.ruleSet, o, () => undefined);
    const subs = new SubscriberMap(ctx.nets, ctx.directory, ctx.nat, ctx.radius);
    const batch = new FlowBatch(ctx.ruleSet.algorithms ?? null);
    let posted = 0;
    const post = (): void => {
      const b = batch.take();
      // By copy: a transfer would detach the buffers (see PackedFlows).
      send({ t: 'batch', b });
      posted++;
      for (let seen = Atomics.load(acked, 0); posted - seen > MAX_UNACKED && Atomics.load(acked, 1) === 0; seen = Atomics.load(acked, 0)) Atomics.wait(acked, 0, seen, 1000);
      // Stopped while it waited: the flows of the chunk being parsed go on coming, and it reads no further.
      if (Atomics.load(acked, 1) !== 0) stop.abort();
    };
    const summary = await scanInputs(
      paths,
      ctx.ruleSet,
      (f, v, idx) => {
        if (!keepFlow(o.keepFlows, f.source, v.label)) return;
        const who = subs.resolve(f);
        batch.add(f, v, idx, who.subscriber, who.nat);
        if (batch.full) post();
      },
      { ...scanOptionsOf(o, stop.signal), shard },
      {
        beginInput: (i, path) => send({ t: 'begin', i, path }),
        endInput: (i, info, counts, anomalies, error) => {
          // Flows finished by then travel before the input's end.
          if (batch.count) post();
          send({ t: 'end', i, info, counts, anomalies: plain(anomalies), error });
        },
        decodeAnomalies: (i, anomalies) => send({ t: 'decode', i, anomalies: plain(anomalies) }),
      },
    );
    if (batch.count) post();
    const { classifier: _unused, ...rest } = summary;
    send({ t: 'done', summary: rest });
  } catch (e) {
    const err = e as Error;
    send({ t: 'failed', name: String(err?.name ?? 'Error'), message: String(err?.message ?? e), stack: String(err?.stack ?? '') });
  }
}

void run();
