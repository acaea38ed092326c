/**
 * `minerwatch consume`: a member of a Kafka consumer group reading flow messages (GoFlow2 protobuf
 * or JSON, or raw NetFlow/IPFIX datagrams) into its own shard report, exactly once per segment
 * (src/consume.ts). Offsets are committed only after the report transaction that completes the
 * segment holding them. Flagged flows (and, at the end, subscriber rows) can also go to an output
 * topic as JSON rows.
 */
import { loadRunContext } from '../aggregate/load.js';
import { SubscriberMap } from '../aggregate/subscriber.js';
import { DEFAULT_COLLECT_LIMITS } from '../collect.js';
import { KafkaShard, parseSegmentPath, segmentFormat, segmentPath, type ConsumeFormat, type SegmentSummary } from '../consume.js';
import { ReportError, UsageError } from '../errors.js';
import { ensureTopic, GroupConsumer, KafkaProducer, parseBrokers, type KafkaMessage, type PartitionRef } from '../io/kafka.js';
import { PartitionEnds } from '../io/kafka-ends.js';
import { rebuildWaiting, WaitingSubscribers } from '../report/live-rollup.js';
import { policyRedecide } from '../report/policy-redecide.js';
import { describeDeadRun, reapDeadRuns } from '../report/runs.js';
import { redecideReport } from '../report/redecide.js';
import { completeKafkaInputs, subscriberRows } from '../report/queries.js';
import type Database from 'better-sqlite3';
import { openReport, ReportWriter } from '../report/writer.js';
import { loadResolverLogs } from '../scan.js';
import type { FlowRecord, Verdict } from '../types.js';
import { stopOnSignals, type Io } from './main.js';
import { toolVersion } from './paths.js';
import { loadRulesForScan } from './rules.js';
import { keepFlow, stderrNote } from './scan.js';

export interface ConsumeOptions {
  brokers: string;
  topic: string;
  group: string;
  format: ConsumeFormat;
  db: string;
  segmentMessages: number;
  /** Seconds a segment may stay open before it is cut at its last message (once its partition is read to the end). */
  segmentSeconds: number;
  outputTopic?: string;
  clientId?: string;
  subscriberNet: string[];
  subscribers?: string;
  natLog?: string[];
  natDeterministic?: string[];
  natIpfix?: string[];
  rules: string;
  lenientRules?: boolean;
  joinGap: number;
  maxFlows?: number;
  dnsLog?: string[];
  intel?: string[];
  keepFlows: 'auto' | 'all' | 'flagged';
  statsInterval: number;
  quiet?: boolean;
  /** Seconds without a heartbeat after which the group gives this member's partitions to others. */
  sessionTimeout?: number;
  /** Stop once this many messages were read (tests, bounded loads); 0: run until a signal. */
  maxMessages?: number;
}

/** Bytes of output rows per send, well under a broker's default message.max.bytes (1 MiB). */
const OUTPUT_SEND_BYTES = 256 * 1024;

/** One row of the output topic: a flagged flow, or (at the end) a subscriber. Column list: README, "Kafka". */
export function verdictRow(f: FlowRecord, v: Verdict, subscriber: string | null, segment: string): Record<string, unknown> {
  return {
    kind: 'flow',
    segment,
    subscriber,
    client: f.client,
    client_port: f.clientPort,
    server: f.server,
    server_port: f.serverPort,
    transport: f.transport,
    first_seen: new Date(f.firstSeen).toISOString(),
    last_seen: new Date(f.lastSeen).toISOString(),
    packets_c2s: f.packetsC2S,
    packets_s2c: f.packetsS2C,
    bytes_c2s: f.bytesC2S,
    bytes_s2c: f.bytesS2C,
    label: v.label,
    confidence: v.confidence,
    pool: v.attributes.pool,
    coin: v.attributes.coin,
    rules: [...new Set(v.evidence.map((e) => e.ruleId))].join(','),
    reason: v.reason,
  };
}

/** The report's last complete segment per partition of `topic`: messages up to it are in already. */
export function segmentsDone(db: Database.Database, topic: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const p of completeKafkaInputs(db)) {
    const s = parseSegmentPath(p);
    if (!s || s.topic !== topic) continue;
    const had = out.get(s.partition);
    if (had === undefined || s.last > had) out.set(s.partition, s.last);
  }
  return out;
}

export async function runConsume(o: ConsumeOptions, io: Io): Promise<number> {
  const brokers = parseBrokers(o.brokers);
  const loaded = loadRulesForScan(o.rules, o.lenientRules ?? false, io);
  const { ruleSet, nets, directory, nat, radius } = await loadRunContext(loaded.ruleSet, o, stderrNote(io));
  const db = openReport(o.db);
  // What a member killed mid-segment left in this report goes before it reads again: the flows of the
  // segments it was still reading (their messages are read again from Kafka); its complete segments stay.
  for (const d of reapDeadRuns(db)) io.err(`minerwatch: ${describeDeadRun(o.db, d)}\n`);
  const subs = new SubscriberMap(nets, directory, nat, radius);
  const maxFlows = o.maxFlows ?? DEFAULT_COLLECT_LIMITS.maxFlows;
  const writer = new ReportWriter(db, {
    toolVersion: toolVersion(),
    rulesetDigest: ruleSet.digest,
    rules: ruleSet.payload.map((r) => `${r.id}@${r.rev}`).join(','),
    algorithms: ruleSet.algorithms,
    command: 'consume',
    options: { brokers, topic: o.topic, group: o.group, format: o.format, segmentMessages: o.segmentMessages, segmentSeconds: o.segmentSeconds, subscriberNets: o.subscriberNet, joinGap: o.joinGap, maxFlows, dnsLogs: o.dnsLog ?? [], intel: o.intel ?? [] },
  });
  if (directory && o.subscribers) writer.writeDirectory(directory.entries, o.subscribers);
  // Output rows wait with their segment: they go out once it is complete in the report.
  const pendingRows = new Map<number, Array<Record<string, unknown>>>();
  const outRows: Array<{ key: string | null; value: string }> = [];
  let anomalies = 0;
  // Subscribers with flagged flows in each open segment: their rows are rebuilt when it is complete,
  // so `watchlist` follows the committed segments while the member runs, and again when it is
  // dropped, so no row counts its flows. Rows only: peer and added-up evidence wait for the close,
  // since a settle now would read the flows of segments still open, which a rebalance can drop, and
  // keep what they proved.
  const segmentSubscribers = new Map<number, WaitingSubscribers>();
  const rollUp = (id: number): void => {
    const waiting = segmentSubscribers.get(id);
    if (waiting === undefined) return;
    db.transaction(() => rebuildWaiting(db, waiting)).immediate();
    segmentSubscribers.delete(id);
  };
  const shard = new KafkaShard(ruleSet, { format: o.format, segmentMessages: o.segmentMessages, segmentMs: o.segmentSeconds * 1000, maxFlows, joinGapMs: o.joinGap * 1000 }, {
    open: (topic, partition, first) => writer.addInput(`kafka://${topic}/${partition}/${first}-`),
    flow: (f, v, id) => {
      if (!keepFlow(o.keepFlows, f.source, v.label)) return;
      const who = subs.resolve(f);
      writer.addFlow(f, v, id, who.subscriber, who.nat);
      // A flow labelled none is in no subscriber row.
      if (who.subscriber !== null && v.label !== 'none') {
        let waiting = segmentSubscribers.get(id);
        if (waiting === undefined) segmentSubscribers.set(id, (waiting = new WaitingSubscribers()));
        waiting.add(who.subscriber);
      }
      if (o.outputTopic && v.label !== 'none') {
        let rows = pendingRows.get(id);
        if (!rows) pendingRows.set(id, (rows = []));
        rows.push(verdictRow(f, v, who.subscriber, ''));
      }
    },
    close: (id, s: SegmentSummary) => {
      const path = segmentPath(s.topic, s.partition, s.first, s.last);
      writer.writeAnomalies(id, s.anomalies);
      anomalies += s.anomalies.total;
      writer.completeInput(id, { path, format: segmentFormat(o.format), size: s.bytes, sha256: s.sha256, records: s.records, packets: s.messages });
      rollUp(id);
      // The segment's path is known now: its rows carry it.
      for (const r of pendingRows.get(id) ?? []) {
        r.segment = path;
        outRows.push({ key: r.subscriber as string | null, value: JSON.stringify(r) });
      }
      pendingRows.delete(id);
    },
    discard: (id) => {
      writer.dropInput(id);
      rollUp(id);
      pendingRows.delete(id);
    },
  });
  for (const l of await loadResolverLogs(shard.classifier, o.dnsLog ?? []))
    io.err(l.error ? `minerwatch: --dns-log ${l.error}\n` : `minerwatch: ${l.path}: ${l.format} resolver log, ${l.lookups} answered lookup(s)\n`);

  if (o.outputTopic) await ensureTopic(brokers, o.outputTopic, 1);
  const producer = o.outputTopic ? new KafkaProducer({ brokers, clientId: `${o.clientId ?? 'minerwatch'}-out` }) : null;
  const consumer = new GroupConsumer({ brokers, group: o.group, topic: o.topic, clientId: o.clientId ?? 'minerwatch', sessionTimeoutMs: o.sessionTimeout ? o.sessionTimeout * 1000 : undefined });
  const ends = new PartitionEnds(brokers, o.topic, `${o.clientId ?? 'minerwatch'}-ends`);
  // Report first, output rows next, offsets last: a crash anywhere replays, never loses. One settle
  // at a time (batches, rebalances and the segment timer all settle), so commits go out in the
  // order their segments closed and a partition's commit never goes back.
  let settling: Promise<void> = Promise.resolve();
  const settle = (): Promise<void> => {
    const next = settling.then(async () => {
      const commits = shard.takeCommits();
      try {
        // In sends of at most OUTPUT_SEND_BYTES: a broker refuses a request larger than its
        // message.max.bytes (1 MiB by default), and a segment can flag thousands of flows.
        while (producer && outRows.length) {
          let n = 0;
          for (let bytes = 0; n < outRows.length && (n === 0 || bytes + outRows[n]!.value.length <= OUTPUT_SEND_BYTES); n++) bytes += outRows[n]!.value.length + 64;
          await producer.send(o.outputTopic!, outRows.slice(0, n));
          outRows.splice(0, n);
        }
        if (commits.length) await consumer.commit(commits);
      } catch (e) {
        // Rows not sent stay for the next settle, commits are put back (the timer's failures are not fatal).
        shard.restoreCommits(commits);
        throw e;
      }
    });
    settling = next.catch(() => undefined);
    return next;
  };
  let failure: Error | null = null;
  const stop = stopOnSignals({ first: (sig) => io.err(`minerwatch: ${sig}: stopping: finishing open segments read to their partition's end, committing\n`) });
  const line = (): string =>
    `messages ${shard.messages} (replayed, skipped ${shard.replayed}; in segments left to other members ${shard.dropped}), flows ${shard.flows} (mining ${shard.miningFlows}), open segments ${shard.open}`;
  const statsTimer = o.quiet ? null : setInterval(() => io.err(`minerwatch: ${line()}\n`), o.statsInterval * 1000);
  io.err(
    `minerwatch: consuming ${o.topic} (${o.format}) as group ${o.group} from ${brokers.join(',')} into ${o.db} (segments of ${o.segmentMessages} offsets or ${o.segmentSeconds} s; Ctrl-C to stop)\n`,
  );
  // A quiet partition's open segment is cut by time, checked whether or not messages come. The cut
  // is made only where the partition is read to its end (src/consume.ts says why that is exact):
  // a partition with messages still to read reaches its end or a multiple of --segment-messages.
  // A refused commit is not fatal here (a rebalance under way): it is put back and goes with the
  // next settle, or, the partition gone, its next owner reads the segment again whole and longer.
  let cutting: Promise<void> | null = null;
  let lastCutError = '';
  const cutAged = async (): Promise<void> => {
    const aged = shard.aged();
    if (aged.length === 0 || stopping()) return;
    try {
      const end = await ends.ends([...new Set(aged.map((a) => a.partition))]);
      let cut = 0;
      for (const a of aged) {
        const e = end.get(a.partition);
        if (e !== undefined && shard.cutAt(a.topic, a.partition, a.first, e)) cut++;
      }
      if (cut) await settle();
      lastCutError = '';
    } catch (e) {
      // Said once while it lasts (the check runs every second).
      const msg = (e as Error).message;
      if (msg !== lastCutError) io.err(`minerwatch: cutting segments open ${o.segmentSeconds} s: ${msg}; trying again\n`);
      lastCutError = msg;
    }
  };
  const segmentTimer = setInterval(
    () => {
      if (cutting === null) cutting = cutAged().finally(() => (cutting = null));
    },
    Math.min(1000, o.segmentSeconds * 500),
  );
  let stopNow: () => void = () => undefined;
  const stopping = (): boolean => stop.signal.aborted || failure !== null || (o.maxMessages !== undefined && o.maxMessages > 0 && shard.messages + shard.replayed >= o.maxMessages);
  const running = consumer.run({
    assigned: (parts: PartitionRef[]) => {
      io.err(`minerwatch: assigned ${parts.length ? parts.map((p) => `${p.topic}/${p.partition}`).join(' ') : 'no partitions'}\n`);
      const done = segmentsDone(db, o.topic);
      for (const p of parts) {
        const last = done.get(p.partition);
        if (last !== undefined) shard.resumeAfter(p.topic, p.partition, last);
      }
    },
    revoked: async (parts: PartitionRef[]) => {
      // Open segments are left whole for the partitions' next owners; closed ones are settled.
      for (const p of parts) shard.discardPartition(p.topic, p.partition);
      await settle();
    },
    batch: async (msgs: KafkaMessage[]) => {
      if (stopping()) return;
      try {
        for (const m of msgs) shard.message(m);
        await settle();
      } catch (e) {
        failure = e as Error;
      }
      if (stopping()) stopNow();
    },
  });
  await Promise.race([
    new Promise<void>((resolve) => {
      stopNow = resolve;
      stop.signal.addEventListener('abort', () => resolve(), { once: true });
    }),
    running.then(
      () => undefined,
      (e: unknown) => {
        failure = e as Error;
      },
    ),
  ]);
  await stop.release();
  if (statsTimer) clearInterval(statsTimer);
  clearInterval(segmentTimer);
  await cutting;
  try {
    if (!failure) {
      // An open segment is completed only where its partition is read to the end, as a time cut
      // (exact for the same reason); elsewhere it is dropped, and the next owner reads it whole.
      const open = shard.openSegments();
      let end = new Map<number, bigint>();
      if (open.length) {
        try {
          end = await ends.ends([...new Set(open.map((x) => x.partition))]);
        } catch (e) {
          io.err(`minerwatch: ${(e as Error).message}: open segments are left to the partitions' next owners\n`);
        }
      }
      for (const x of open) {
        const e = end.get(x.partition);
        if (e === undefined || !shard.cutAt(x.topic, x.partition, x.first, e)) shard.discardPartition(x.topic, x.partition);
      }
      await settle();
    }
  } catch (e) {
    failure = e as Error;
  }
  await ends.close();
  await consumer.close().catch(() => undefined);
  if (failure) {
    await producer?.close().catch(() => undefined);
    writer.abandon();
    db.close();
    const msg = (failure as Error).message;
    if (failure instanceof ReportError || failure instanceof UsageError) throw failure;
    throw new ReportError(`consuming ${o.topic} into ${o.db} stopped: ${msg}; complete segments are kept and their offsets committed, the rest is read again on restart`);
  }
  writer.finish({ packets: shard.messages, anomalies, interrupted: false }, policyRedecide(ruleSet.policy), (d) => {
    redecideReport(d, shard.classifier, { recompute: false });
  });
  if (producer) {
    const rows = subscriberRows(db);
    await producer.send(o.outputTopic!, rows.map((r) => ({ key: String(r.subscriber), value: JSON.stringify({ kind: 'subscriber', ...r }) })));
    await producer.close();
  }
  db.close();
  io.err(`minerwatch: ${line()}\n`);
  return 0;
}
