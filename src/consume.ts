/**
 * Flow messages from Kafka partitions into the report, exactly once: the core of `minerwatch
 * consume`, apart from the Kafka client (src/io/kafka.ts) so it runs on any ordered stream of
 * (topic, partition, offset, key, value) messages.
 *
 * Each partition is cut into **segments** of offsets: segment k holds the messages with offsets in
 * [k·N, (k+1)·N) (N = `segmentMessages`). A segment is one input of the report: its flows are
 * finished (cut, as an exporter's active timeout cuts them) when the segment closes, and the input
 * is marked complete in the report before its offsets are committed to Kafka. The input's path is
 * `kafka://TOPIC/PARTITION/FIRST-LAST` and its sha256 is taken over the segment's messages
 * (topic, partition, offset, key, value), so the segment is its own idempotent key:
 * - a consumer killed after the report commit and before the Kafka commit replays the segment; in
 *   the same report it is skipped (the report's last complete segment of the partition is where it
 *   resumes), in another consumer's shard report `merge` keeps one copy (same sha256);
 * - a consumer killed mid-segment leaves an incomplete input, which the report machinery removes
 *   (src/report/runs.ts), and the segment is read again from its first offset by whoever owns the
 *   partition next.
 * Segment boundaries at multiples of N depend on offsets only, so whichever consumer reads a segment
 * reads the same messages. A partition taken away in a rebalance drops its open segment (the next
 * owner reads it whole).
 *
 * Two other cuts bound what is held back: a segment open `segmentMs` (by the consumer's clock) is
 * closed at its last message ({@link KafkaShard.aged}, {@link KafkaShard.cutAt}), so a quiet
 * partition's verdicts are committed within about that long; and at shutdown an open segment is
 * closed at its last message. Such a cut depends on timing, not on offsets, so it is made only
 * where the consumer has read its partition to the end (its last offset + 1 is the partition's end
 * offset, asked of the broker just before; the caller checks, {@link KafkaShard.cutAt} refuses
 * otherwise). That makes it exact too: should the member die before its commit, the partition's
 * next owner reads from the last commit, i.e. from the same first offset, and cannot cut before
 * the old last offset, since it cuts only at a multiple of N (and the old segment ended before the
 * next one) or where it too has read to the end, which is now at least one past the old last
 * offset (the broker had that message). So its segment has the same start and is at least as long,
 * and `merge` keeps the longer of two segments of one partition that start at one offset
 * (src/report/merge.ts): each message once. The next segment after a time cut starts at the next
 * offset and ends at the next multiple of N (or earlier by time again).
 *
 * Every partition has its own flow table (records of one subscriber land in one partition when
 * producers key by subscriber), sharing one classifier.
 */
import { createHash, type Hash } from 'node:crypto';
import { Anomalies } from './anomalies.js';
import { Classifier } from './classify/classify.js';
import { decodeGoflowJson, decodeGoflowMessages } from './decode/goflow2.js';
import { ExportDatagrams } from './flow/exportsource.js';
import type { PacketCounts } from './flow/ingest.js';
import type { PacketIngest } from './flow/ingest.js';
import type { ExportFlowInput } from './flow/table.js';
import { Pipeline } from './pipeline.js';
import type { RuleSet } from './rules/schema.js';
import type { FlowRecord, Verdict } from './types.js';

export { parseSegmentPath, segmentPath } from './report/segments.js';

/** What a Kafka record value holds. */
export type ConsumeFormat = 'goflow2-pb' | 'goflow2-json' | 'netflow-datagrams';

/** One Kafka record. */
export interface StreamMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: Uint8Array | null;
  value: Uint8Array;
}

/** A closed segment, for the report. */
export interface SegmentSummary {
  topic: string;
  partition: number;
  first: bigint;
  last: bigint;
  messages: number;
  bytes: number;
  records: number;
  sha256: string;
  anomalies: Anomalies;
  /** The next offset to read in the partition (what to commit). */
  next: bigint;
}

/** Where a shard's segments and flows go (the report writer in the CLI; anything in tests). */
export interface SegmentSink {
  /** A segment opens: returns the id its flows carry (the report input). */
  open(topic: string, partition: number, first: bigint): number;
  flow(f: FlowRecord, v: Verdict, segment: number): void;
  /** The segment's flows were all handed over: make it whole and durable before its offsets are committed. */
  close(segment: number, s: SegmentSummary): void;
  /** The segment will not be completed here (its partition went to another member): take out what it wrote. */
  discard(segment: number): void;
}

export interface ShardOptions {
  format: ConsumeFormat;
  /** Offsets per segment (the cut points are multiples of it). */
  segmentMessages: number;
  /** Export flows held per partition, and the join gap (as `collect`). */
  maxFlows: number;
  joinGapMs: number;
  /** Templates held per partition (netflow-datagrams). */
  maxTemplates?: number;
  /** Milliseconds after which an open segment may be cut at its last message ({@link KafkaShard.aged}); 0 or absent: never. */
  segmentMs?: number;
  /** The consumer's clock in milliseconds (tests give their own); default `Date.now`. */
  clock?: () => number;
}

/** Where a partition's open segment stands: its first and last offset read. */
export interface OpenSegmentRef {
  topic: string;
  partition: number;
  first: bigint;
  last: bigint;
}

interface OpenSegment {
  id: number;
  first: bigint;
  last: bigint;
  index: bigint;
  messages: number;
  bytes: number;
  /** When it opened, by the shard's clock (ms). */
  openedAt: number;
  hash: Hash;
  anomalies: Anomalies;
  ingest: PacketIngest;
}

class PartitionState {
  segment: OpenSegment | null = null;
  /** The last offset read or already in the report: anything at or before it is a replay, skipped. */
  lastOffset = -1n;
  /** Flows the partition's table had finished early when its last segment closed. */
  evictedSeen = 0;
  readonly datagrams: ExportDatagrams | null;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly pipeline: Pipeline,
    format: ConsumeFormat,
    maxTemplates: number,
  ) {
    this.datagrams = format === 'netflow-datagrams' ? new ExportDatagrams({ maxTemplates }) : null;
  }
}

const HEADER = Buffer.alloc(8);

/** One consumer's share of the topic: a flow table per partition, segments into a {@link SegmentSink}. */
export class KafkaShard {
  readonly classifier: Classifier;
  private readonly parts = new Map<string, PartitionState>();
  private readonly commits = new Map<string, { topic: string; partition: number; offset: bigint }>();
  private readonly clock: () => number;
  /** Messages read, messages skipped as replays of offsets already read, and flows handed on. */
  messages = 0;
  replayed = 0;
  /** Messages of segments dropped for other members (read again by them). */
  dropped = 0;
  flows = 0;
  miningFlows = 0;

  constructor(
    private readonly rules: RuleSet,
    private readonly opts: ShardOptions,
    private readonly sink: SegmentSink,
    classifier?: Classifier,
  ) {
    if (!(opts.segmentMessages >= 1)) throw new RangeError('segmentMessages must be at least 1');
    this.clock = opts.clock ?? Date.now;
    this.classifier = classifier ?? new Classifier(rules, null);
  }

  /** Partitions with an open segment. */
  get open(): number {
    let n = 0;
    for (const p of this.parts.values()) if (p.segment) n++;
    return n;
  }

  /** One message, in offset order within its partition. */
  message(m: StreamMessage): void {
    const st = this.state(m.topic, m.partition);
    if (m.offset <= st.lastOffset) {
      // Redelivered (a rebalance, a restart before the commit): its place is taken already.
      this.replayed++;
      return;
    }
    st.lastOffset = m.offset;
    const n = BigInt(this.opts.segmentMessages);
    const index = m.offset / n;
    let seg = st.segment;
    if (seg !== null && index !== seg.index) {
      // A later segment's first message closes this one.
      this.closeSegment(st, m.offset);
      seg = null;
    }
    if (seg === null) seg = this.openSegment(st, m.offset, index);
    this.messages++;
    seg.messages++;
    seg.bytes += m.value.length;
    seg.last = m.offset;
    // The segment's identity: every message's place and bytes.
    HEADER.writeBigInt64BE(m.offset, 0);
    seg.hash.update(HEADER);
    HEADER.writeUInt32BE(m.key ? m.key.length : 0xffffffff, 0);
    HEADER.writeUInt32BE(m.value.length, 4);
    seg.hash.update(HEADER);
    if (m.key) seg.hash.update(m.key);
    seg.hash.update(m.value);
    this.decode(seg, m);
  }

  /**
   * The partition went to another member: its open segment is dropped, not completed (the next
   * owner reads it whole from the last committed offset, so no two reports hold parts of one
   * segment), and the partition's state goes.
   */
  discardPartition(topic: string, partition: number): void {
    const k = `${topic}\0${partition}`;
    const st = this.parts.get(k);
    if (!st) return;
    if (st.segment) {
      const id = st.segment.id;
      this.dropped += st.segment.messages;
      // Its flows are finished into the sink first (they carry the segment's id), then taken out with it.
      st.pipeline.flush();
      st.segment = null;
      this.sink.discard(id);
    }
    this.parts.delete(k);
    this.commits.delete(k);
  }

  /**
   * The open segments, or (with `now`) those open at least `segmentMs` by then: the segments to cut
   * at their last message once their partitions are known to be read to the end.
   */
  openSegments(now?: number): OpenSegmentRef[] {
    const out: OpenSegmentRef[] = [];
    const ms = this.opts.segmentMs ?? 0;
    if (now !== undefined && !(ms > 0)) return out;
    for (const st of this.parts.values()) {
      const seg = st.segment;
      if (seg && (now === undefined || now - seg.openedAt >= ms)) out.push({ topic: st.topic, partition: st.partition, first: seg.first, last: seg.last });
    }
    return out;
  }

  /** The segments open `segmentMs` or longer by the shard's clock. */
  aged(): OpenSegmentRef[] {
    return this.openSegments(this.clock());
  }

  /**
   * Cut the partition's open segment at its last message, as if that were a cut point: its flows
   * finished, the segment closed into the sink, its commit queued. Only when it is still the segment
   * that starts at `first` (a batch or a rebalance may have closed or dropped it since it was
   * named) and the partition's end offset `end`, asked of the broker after that segment was named,
   * is not past its last offset + 1 (the module comment says why that makes the cut exact). Returns
   * the closed segment, or null when nothing was cut.
   */
  cutAt(topic: string, partition: number, first: bigint, end: bigint): SegmentSummary | null {
    const st = this.parts.get(`${topic}\0${partition}`);
    const seg = st?.segment;
    if (!st || !seg || seg.first !== first || seg.last + 1n < end) return null;
    return this.closeSegment(st, seg.last + 1n);
  }

  /** Close every open segment (tests; `consume` cuts only partitions read to their end, {@link cutAt}). */
  closeAll(): SegmentSummary[] {
    const out: SegmentSummary[] = [];
    for (const st of this.parts.values()) if (st.segment) out.push(this.closeSegment(st, st.segment.last + 1n));
    return out;
  }

  /** Messages of the partition at or before `offset` are already in the report: skip them when they come. */
  resumeAfter(topic: string, partition: number, offset: bigint): void {
    const st = this.state(topic, partition);
    if (offset > st.lastOffset) st.lastOffset = offset;
  }

  /**
   * Put back commits taken by {@link takeCommits} that the broker refused, for partitions still
   * held whose commit was not overtaken by a later segment's (they go with the next call then).
   */
  restoreCommits(commits: Array<{ topic: string; partition: number; offset: bigint }>): void {
    for (const c of commits) {
      const k = `${c.topic}\0${c.partition}`;
      if (this.parts.has(k) && !this.commits.has(k)) this.commits.set(k, c);
    }
  }

  /** Offsets to commit for the segments closed since the last call (the next offset to read per partition). */
  takeCommits(): Array<{ topic: string; partition: number; offset: bigint }> {
    const out = [...this.commits.values()];
    this.commits.clear();
    return out;
  }

  private state(topic: string, partition: number): PartitionState {
    const k = `${topic}\0${partition}`;
    let st = this.parts.get(k);
    if (!st) {
      const pipeline = new Pipeline(this.rules, { flow: { maxFlows: 0 }, exports: { joinGapMs: this.opts.joinGapMs, maxFlows: this.opts.maxFlows }, classifier: this.classifier });
      st = new PartitionState(topic, partition, pipeline, this.opts.format, this.opts.maxTemplates ?? 1024);
      const state = st;
      pipeline.addSink((f, v) => {
        this.flows++;
        if (v.label === 'mining') this.miningFlows++;
        this.sink.flow(f, v, state.segment!.id);
      });
      this.parts.set(k, st);
    }
    return st;
  }

  private openSegment(st: PartitionState, first: bigint, index: bigint): OpenSegment {
    const id = this.sink.open(st.topic, st.partition, first);
    const anomalies = new Anomalies();
    const ingest = st.pipeline.intake(anomalies, { datagrams: st.datagrams });
    ingest.begin(`kafka://${st.topic}/${st.partition}/${first}-`, id);
    const hash = createHash('sha256');
    hash.update(`${st.topic}\0${st.partition}\0`);
    st.segment = { id, first, last: first - 1n, index, messages: 0, bytes: 0, openedAt: this.clock(), hash, anomalies, ingest };
    return st.segment;
  }

  private closeSegment(st: PartitionState, next: bigint): SegmentSummary {
    const seg = st.segment!;
    // Every flow of the segment ends here, so none holds records of two segments.
    st.pipeline.flush();
    const evicted = st.pipeline.table.evicted;
    seg.anomalies.addCount('flow.evicted', evicted - st.evictedSeen);
    st.evictedSeen = evicted;
    const counts: PacketCounts = seg.ingest.counts();
    const s: SegmentSummary = {
      topic: st.topic,
      partition: st.partition,
      first: seg.first,
      last: seg.last,
      messages: seg.messages,
      bytes: seg.bytes,
      records: counts.records,
      sha256: seg.hash.digest('hex'),
      anomalies: seg.anomalies,
      next,
    };
    st.segment = null;
    this.sink.close(seg.id, s);
    this.commits.set(`${st.topic}\0${st.partition}`, { topic: st.topic, partition: st.partition, offset: next });
    return s;
  }

  /** The segment and message being decoded, for the two callbacks below (made once, not per message). */
  private seg: OpenSegment | null = null;
  private msg: StreamMessage | null = null;
  private readonly onRecord = (r: ExportFlowInput): boolean => this.seg!.ingest.record(r);
  private readonly onBad = (at: number, expected: string): void => {
    const seg = this.seg!;
    const m = this.msg!;
    seg.anomalies.add('kafka.bad_message', `kafka://${m.topic}/${m.partition}`, Number(m.offset), `offset ${m.offset}, byte ${at} of the value: expected ${expected}`);
  };

  private decode(seg: OpenSegment, m: StreamMessage): void {
    this.seg = seg;
    this.msg = m;
    switch (this.opts.format) {
      case 'goflow2-pb':
        decodeGoflowMessages(m.value, 'delimited', this.onRecord, this.onBad);
        break;
      case 'goflow2-json':
        decodeGoflowJson(m.value, this.onRecord, this.onBad);
        break;
      case 'netflow-datagrams': {
        // Keyed by exporter, as collectors publish them: templates are per exporter.
        const exporter = m.key && m.key.length ? Buffer.from(m.key.buffer, m.key.byteOffset, m.key.length).toString('utf8') : 'unknown';
        seg.ingest.exportMessage(m.value, 0, m.value.length, exporter, Number(m.offset));
        break;
      }
    }
    this.seg = null;
    this.msg = null;
  }
}

/** The report input format name of a segment of `format`. */
export function segmentFormat(format: ConsumeFormat): string {
  return `kafka ${format}`;
}
