/**
 * `minerwatch produce`: read any input `scan` reads through the flow table and publish every
 * finished flow to Kafka as GoFlow2 messages, one per direction, keyed by the subscriber (the
 * flow's client address) so a subscriber's flows all land in one partition. For feeding
 * `minerwatch consume` workers and for load tests with real captures.
 */
import { encodeGoflowJson, encodeGoflowMessage, type GoflowFields } from '../decode/goflow2.js';
import { InputError, InputInterrupted, UsageError } from '../errors.js';
import { ensureTopic, KafkaProducer, parseBrokers } from '../io/kafka.js';
import { scanInputs } from '../scan.js';
import type { FlowRecord } from '../types.js';
import { stopOnSignals, type Io } from './main.js';
import { DEFAULT_RULES_DIR } from './paths.js';
import { loadRulesForScan } from './rules.js';
import { expandInputs } from './scan.js';

export interface ProduceOptions {
  /** Captures or flow exports (files or folders), as for scan; `-` for standard input. */
  inputs: string[];
  brokers: string;
  topic: string;
  format?: 'goflow2-pb' | 'goflow2-json';
  /** Create the topic with this many partitions when it does not exist. */
  partitions?: number;
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4';
  /** Messages per send (default 1000). */
  batch?: number;
  /** Flow table as for scan (seconds, flows). */
  idleTimeout?: number;
  activeTimeout?: number;
  maxFlows?: number;
  joinGap?: number;
}

const PROTO = { tcp: 6, udp: 17 } as const;

/** Milliseconds (fractional) to integer nanoseconds. */
function ns(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n;
}

/**
 * The two unidirectional GoFlow2 records of a bidirectional flow (client → server, server →
 * client), leaving out a direction without packets. Counters are the flow's, already scaled by
 * its sampling, so the records say unsampled (a reader scaling by sampling_rate would count twice).
 */
export function flowDirections(f: FlowRecord): GoflowFields[] {
  const common = {
    timeReceivedNs: ns(f.lastSeen),
    proto: PROTO[f.transport],
    timeFlowStartNs: ns(f.firstSeen),
    timeFlowEndNs: ns(f.lastSeen),
  };
  const out: GoflowFields[] = [];
  if (f.packetsC2S > 0)
    out.push({ ...common, srcAddr: f.client, dstAddr: f.server, srcPort: f.clientPort, dstPort: f.serverPort, bytes: f.bytesC2S, packets: f.packetsC2S, tcpFlags: f.tcpFlagsC2S });
  if (f.packetsS2C > 0)
    out.push({ ...common, srcAddr: f.server, dstAddr: f.client, srcPort: f.serverPort, dstPort: f.clientPort, bytes: f.bytesS2C, packets: f.packetsS2C, tcpFlags: f.tcpFlagsS2C });
  return out;
}

/** Publish the flows of `o.inputs`; exit status through thrown errors (KafkaError, InputError: 1; UsageError: 2). */
export async function runProduce(o: ProduceOptions, io: Io): Promise<number> {
  const brokers = parseBrokers(o.brokers);
  if (!o.topic) throw new UsageError('--topic is required');
  const batchSize = o.batch ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new UsageError(`--batch expects 1 to 100000 messages, got ${o.batch}`);
  if (o.partitions !== undefined && (!Number.isInteger(o.partitions) || o.partitions < 1 || o.partitions > 10_000))
    throw new UsageError(`--partitions expects 1 to 10000, got ${o.partitions}`);
  const paths = expandInputs(o.inputs);
  const encode = (o.format ?? 'goflow2-pb') === 'goflow2-json' ? encodeGoflowJson : encodeGoflowMessage;
  const { ruleSet } = loadRulesForScan(DEFAULT_RULES_DIR, false, io);

  if (o.partitions !== undefined) await ensureTopic(brokers, o.topic, o.partitions);
  const producer = new KafkaProducer({ brokers, compression: o.compression ?? 'none' });
  const stop = stopOnSignals({ first: (sig) => io.err(`minerwatch: ${sig}: stopping, sending what is queued\n`) });
  const failed = new AbortController();
  const signal = AbortSignal.any([stop.signal, failed.signal]);

  let queue: Array<{ key: string; value: Uint8Array | string }> = [];
  let queuedBatches = 0;
  let sent = 0;
  let flows = 0;
  let sendError: Error | null = null;
  let sending: Promise<void> = Promise.resolve();
  // One send at a time, in order: a subscriber's messages stay in the order their flows finished.
  const cut = (): void => {
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    queuedBatches++;
    sending = sending.then(async () => {
      queuedBatches--;
      if (sendError) return;
      try {
        await producer.send(o.topic, batch);
        sent += batch.length;
      } catch (e) {
        sendError = e as Error;
        failed.abort();
      }
    });
  };
  const t0 = performance.now();
  let summary;
  try {
    summary = await scanInputs(
      paths,
      ruleSet,
      (f) => {
        if (sendError) return;
        flows++;
        for (const d of flowDirections(f)) queue.push({ key: f.client, value: encode(d) });
        if (queue.length >= batchSize) cut();
      },
      {
        flow: { idleTimeoutMs: (o.idleTimeout ?? 300) * 1000, activeTimeoutMs: (o.activeTimeout ?? 1800) * 1000, maxFlows: o.maxFlows ?? 1 << 19 },
        exports: { joinGapMs: (o.joinGap ?? 300) * 1000, maxFlows: (o.maxFlows ?? 1 << 19) * 2 },
        skipQuietExports: false,
        signal,
      },
    );
    cut();
    if (queuedBatches > 1) io.err(`minerwatch: input read; ${queuedBatches} batch(es) of up to ${batchSize} messages still to send to ${o.topic}\n`);
    await sending;
  } finally {
    await stop.release();
    await producer.close();
  }
  const secs = (performance.now() - t0) / 1000;
  if (sendError) throw sendError;
  io.err(`minerwatch: produced ${sent} messages (${flows} flows) to ${o.topic} in ${secs.toFixed(2)} s, ${Math.round(sent / Math.max(secs, 1e-3))} messages/s\n`);
  for (const i of summary.inputs) {
    const anomalies = Object.entries(i.anomalies);
    if (anomalies.length) io.err(`minerwatch: ${i.path}: anomalies ${anomalies.map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
  }
  const bad = summary.inputs.filter((i) => i.error !== null);
  if (summary.interrupted) {
    const last = summary.inputs.at(-1);
    throw new InputInterrupted(last?.path ?? paths[0] ?? '-', 0, `interrupted: the flows read up to here were produced (${sent} messages); inputs after it were not read`);
  }
  for (const i of bad) io.err(`minerwatch: ${i.error}\n`);
  if (bad.length) throw new InputError(bad[0]!.path, 0, `${bad.length} input(s) could not be read (above); the flows of the others were produced`);
  return 0;
}
