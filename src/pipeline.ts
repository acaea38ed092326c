/**
 * The one pipeline: sources → flows → classify → sinks. Every source (capture and flow-export
 * files read by src/io, NetFlow/IPFIX datagrams arriving over UDP) delivers packets or export
 * records through one {@link PacketIngest} into one {@link FlowTable}; each finished flow is
 * classified once and handed to every registered {@link FlowSink} (the SQLite report writer, a
 * JSON-lines writer, a test collecting flows). Resolver logs are loaded into the classifier before
 * any source runs. `scanInputs` (files) and the live {@link Collector} (src/collect.ts) are the two
 * users.
 */
import { Anomalies } from './anomalies.js';
import { Classifier } from './classify/classify.js';
import { InputError, InputInterrupted } from './errors.js';
import { PacketIngest, type PacketCounts } from './flow/ingest.js';
import { ExportDatagrams } from './flow/exportsource.js';
import type { Shard } from './flow/shard.js';
import { DEFAULT_EXPORT_OPTIONS, DEFAULT_FLOW_OPTIONS, FlowTable, type ExportJoinOptions, type FlowTableOptions } from './flow/table.js';
import { readCapture, type InputInfo } from './io/input.js';
import { prefaultWorkBuffers } from './flow/touched.js';
import { readDnsLog } from './io/dnslog.js';
import { ResolverBindings } from './classify/resolverlog.js';
import type { RuleSet } from './rules/schema.js';
import type { FlowRecord, Verdict } from './types.js';

/** Consumer of classified flows (the report writer, or a test collecting them). */
export type FlowConsumer = (flow: FlowRecord, verdict: Verdict, inputIndex: number) => void;

/**
 * Where classified flows go. Registered with {@link Pipeline.addSink}; every sink sees every flow,
 * in the order flows finish, during the call that finished it (read what you need then: the record
 * is yours to keep, the pipeline does not touch it again, except its payload arrays when the flow
 * options ask for `payloadViews`: those are valid during the call only).
 */
export interface FlowSink {
  flow(flow: FlowRecord, verdict: Verdict, inputIndex: number): void;
}

/** A sink that writes one JSON object per flow (addresses, ports, counters, label, confidence, reason) through `write`. */
export function jsonLinesSink(write: (line: string) => void): FlowSink {
  return {
    flow(f, v) {
      write(
        `${JSON.stringify({
          client: f.client,
          clientPort: f.clientPort,
          server: f.server,
          serverPort: f.serverPort,
          transport: f.transport,
          ipVersion: f.ipVersion,
          source: f.source,
          firstSeen: new Date(f.firstSeen).toISOString(),
          lastSeen: new Date(f.lastSeen).toISOString(),
          packetsC2S: f.packetsC2S,
          packetsS2C: f.packetsS2C,
          bytesC2S: f.bytesC2S,
          bytesS2C: f.bytesS2C,
          records: f.records,
          sampling: f.sampling,
          endReason: f.endReason,
          label: v.label,
          confidence: v.confidence,
          reason: v.reason,
          rules: [...new Set(v.evidence.map((e) => e.ruleId))],
        })}\n`,
      );
    },
  };
}

/** How the pipeline's flow table holds flows. */
export interface PipelineOptions {
  /** Packet flows (timeouts, payload prefix, bound); `maxFlows: 0` for a pipeline that takes no packets. */
  flow?: Partial<FlowTableOptions>;
  /** Export flows (join gap, bound). */
  exports?: Partial<ExportJoinOptions>;
  /** Told about DNS and TLS payloads that did not decode, with the flow they came in. */
  onDecodeError?: ConstructorParameters<typeof Classifier>[1];
  /** A classifier to share (several pipelines over one rule set and one set of resolver logs); one is made from the rules otherwise. */
  classifier?: Classifier;
}

/** The classifier, the one flow table and the sinks, wired: a finished flow is classified once and handed to every sink. */
export class Pipeline {
  readonly classifier: Classifier;
  readonly table: FlowTable;
  private readonly sinks: FlowSink[] = [];
  /** Seen before classification (the file source keeps its per-input bookkeeping here). */
  private observe: ((f: FlowRecord) => void) | null = null;
  /** Flows classified and handed on, and those labelled mining. */
  flows = 0;
  miningFlows = 0;

  constructor(rules: RuleSet, opts: PipelineOptions = {}) {
    this.classifier = opts.classifier ?? new Classifier(rules, opts.onDecodeError ?? null);
    const servicePorts = this.classifier.servicePorts;
    this.table = new FlowTable(
      { ...DEFAULT_FLOW_OPTIONS, ...opts.flow, servicePorts, exports: { ...DEFAULT_EXPORT_OPTIONS, ...opts.exports } },
      (f) => this.finished(f),
    );
  }

  /** Register a consumer of classified flows. */
  addSink(sink: FlowSink | FlowConsumer): this {
    this.sinks.push(typeof sink === 'function' ? { flow: sink } : sink);
    return this;
  }

  /** Watch every finished flow before it is classified (one watcher). */
  observeFlows(fn: ((f: FlowRecord) => void) | null): void {
    this.observe = fn;
  }

  /** The record intake for one source: packets and export records into the table. */
  intake(anomalies: Anomalies, opts: { onDnsResponse?: ConstructorParameters<typeof PacketIngest>[2]; datagrams?: ExportDatagrams | null; collectorPorts?: readonly number[] } = {}): PacketIngest {
    return new PacketIngest(this.table, anomalies, opts.onDnsResponse ?? null, opts.datagrams ?? null, new Set(opts.collectorPorts ?? []));
  }

  /** Read resolver logs into the classifier (see {@link loadResolverLogs}); before any source runs. */
  loadResolverLogs(paths: readonly string[], signal?: AbortSignal): Promise<DnsLogSummary[]> {
    return loadResolverLogs(this.classifier, paths, signal);
  }

  /** Finish every flow still open (end of input, shutdown). */
  flush(): void {
    this.table.flush();
  }

  private finished(f: FlowRecord): void {
    if (this.observe !== null) this.observe(f);
    const v = this.classifier.classify(f);
    this.flows++;
    if (v.label === 'mining') this.miningFlows++;
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.flow(f, v, f.inputIndex);
  }
}

/** What one resolver log yielded. */
export interface DnsLogSummary {
  path: string;
  format: string | null;
  sha256: string | null;
  lookups: number;
  anomalies: Record<string, number>;
  /** The first occurrences of each code: where (a line number for Zeek's lines, else a byte offset) and what was expected. */
  samples: Array<{ code: string; offset: number; message: string }>;
  error: string | null;
}

/**
 * Read resolver logs into the classifier's bindings (created on first use). Only lookups of listed
 * names are kept (src/classify/resolverlog.ts). A log that cannot be read is reported, not thrown.
 */
export async function loadResolverLogs(classifier: Classifier, paths: readonly string[], signal?: AbortSignal): Promise<DnsLogSummary[]> {
  const out: DnsLogSummary[] = [];
  if (!paths.length) return out;
  const bindings = (classifier.resolver ??= new ResolverBindings(classifier.index));
  for (const path of paths) {
    const anomalies = new Anomalies();
    const log = bindings.beginLog(path);
    try {
      const info = await readDnsLog(path, (l) => bindings.add(l, log), anomalies, { signal });
      out.push({ path, format: info.format, sha256: info.sha256, lookups: info.lookups, anomalies: anomalies.toObject(), samples: samplesOf(anomalies), error: null });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      out.push({ path, format: null, sha256: null, lookups: 0, anomalies: anomalies.toObject(), samples: samplesOf(anomalies), error: e.message });
    }
  }
  return out;
}

function samplesOf(a: Anomalies): DnsLogSummary['samples'] {
  return a.samples.map((x) => ({ code: x.code, offset: x.offset, message: x.message }));
}

export interface ScanOptions {
  flow?: Partial<FlowTableOptions>;
  exports?: Partial<ExportJoinOptions>;
  /** Decode NetFlow/IPFIX datagrams found in captures (default true). */
  readExports?: boolean;
  /** UDP ports whose payloads are always export datagrams. */
  collectorPorts?: readonly number[];
  /**
   * Do not build or classify IPv4 export flows that no evidence could apply to (they would be
   * `none`): only counted. For reports that keep flagged export flows only.
   */
  skipQuietExports?: boolean;
  /**
   * Take the payload prefixes' working memory from slabs a helper thread touched first, so the
   * reading thread does not take their page faults (src/flow/touched.ts). On from the scan that
   * asks for it for the rest of the thread's life; a command scanning real traffic turns it on.
   */
  prefaultWorkBuffers?: boolean;
  /** Stop reading (keeping and classifying everything read so far), e.g. on SIGINT. */
  signal?: AbortSignal;
  /**
   * Called before each chunk of an input is read: null to read on, or a promise to wait for first
   * (the report's writer having room: the wait lets a signal through, where a batch posted to a
   * full writer would block the thread until the writer has room).
   */
  pace?: () => Promise<void> | null;
  /** Resolver logs (`--dns-log`) read before the inputs: their lookups of listed names become evidence. */
  dnsLogs?: readonly string[];
  /** Standard input: byte lengths whose prefix sha256 to report (earlier interrupted reads of it). */
  stdinPrefixes?: readonly number[];
  /**
   * Keep only this shard's flows (src/flow/shard.ts; `scan --workers`). Every shard reads every
   * record and counts it, and sees every DNS answer; shard 0 alone hashes the inputs and counts the
   * anomalies of DNS answers, which every shard would count alike.
   */
  shard?: Shard;
  /**
   * Counters for a progress display, at the slots of {@link SCAN_PROGRESS} (over a SharedArrayBuffer
   * when the scan runs in a worker). Written from counters the scan keeps anyway, at each input's
   * start and end and every {@link SCAN_PROGRESS_MS} ms between: never per packet.
   */
  progress?: Float64Array;
}

/** Where {@link ScanOptions.progress} holds each counter; `slots` is the array's length. */
export const SCAN_PROGRESS = {
  /** Bytes of the inputs read, as stored (compressed for gzip). */
  bytes: 0,
  /** Packets and flow-export records read. */
  records: 1,
  /** Flows finished (as the summary's `flows`). */
  flows: 2,
  miningFlows: 3,
  /** Inputs read to their end (or failed). */
  inputsDone: 4,
  slots: 5,
} as const;

/** How often a scan writes its progress counters. */
export const SCAN_PROGRESS_MS = 250;

/** What one input yielded. */
export interface InputSummary {
  path: string;
  format: string | null;
  size: number | null;
  sha256: string | null;
  packets: number;
  bytes: number;
  transportPackets: number;
  /** Flow-export records read (nfdump CSV, NetFlow/IPFIX). */
  records: number;
  /** Captured UDP packets that carried NetFlow/IPFIX datagrams. */
  exportPackets: number;
  flows: number;
  anomalies: Record<string, number>;
  error: string | null;
}

export interface ScanSummary {
  inputs: InputSummary[];
  flows: number;
  miningFlows: number;
  evictedFlows: number;
  packets: number;
  /** True when the scan was stopped early through `signal`. */
  interrupted: boolean;
  /**
   * Inputs whose flows are not the whole of them: the one being read when the scan was stopped,
   * inputs that failed after some records were read, and every input that shares a flow with one of
   * these (read again, it would give other flows). Indexes into `inputs`, with why.
   */
  incomplete: Array<{ index: number; note: string }>;
  /** Groups of inputs (indexes) that flows tie together: read again, they must be read together. */
  ties: number[][];
  /** Addresses bound to pool names by DNS answers seen in the inputs. */
  dnsBindings: number;
  /** The classifier used (its policy decides peer evidence after the scan). */
  classifier: Classifier;
  /** Export decoder counters (datagrams, records, templates, template misses …), when exports were read. */
  exportStats: Record<string, number> | null;
  /** Resolver logs read, and what their bindings hold. */
  dnsLogs: DnsLogSummary[];
  resolverStats: ResolverBindings['stats'] | null;
  /** Per input, the furthest input a flow that began in it reached (-1: none), for joining shards' results. */
  spanTo: number[];
}

/** Per-input callbacks of a file scan. */
export interface ScanHooks {
  beginInput?: (index: number, path: string) => void;
  endInput?: (index: number, info: InputInfo | null, counts: PacketCounts, anomalies: Anomalies, error: string | null) => void;
  /**
   * Once per input with decode errors, after every flow is finished: the DNS and TLS payloads that
   * did not decode (`dns.bad_message`, `tls.bad_client_hello`). Their codes never appear in the
   * anomalies given to `endInput`; a flow is classified when it finishes, often after its input ended.
   */
  decodeAnomalies?: (index: number, anomalies: Anomalies) => void;
}

/**
 * Scan `paths` in order: the file source. An input that cannot be read is recorded with its error
 * and the scan goes on with the next; malformed records are counted per input. Inputs are read one
 * after another into one flow table, so a conversation split across rotated files stays one flow.
 */
export async function scanInputs(paths: readonly string[], rules: RuleSet, consume: FlowConsumer | FlowSink, opts: ScanOptions = {}, hooks: ScanHooks = {}): Promise<ScanSummary> {
  if (opts.prefaultWorkBuffers) prefaultWorkBuffers(true);
  // Per input; the offset is -1 (not known): the message names the flow or the answer's time.
  const decodeErrors = paths.map(() => new Anomalies());
  const shard = opts.shard && opts.shard.count > 1 ? opts.shard : null;
  const counting = shard === null || shard.index === 0;
  const pipeline = new Pipeline(rules, {
    flow: { ...opts.flow, shard },
    exports: opts.exports,
    onDecodeError: (code, f, message) => decodeErrors[f.inputIndex]?.add(code, paths[f.inputIndex] ?? '', -1, message),
  });
  pipeline.addSink(consume);
  const { classifier, table } = pipeline;
  const dnsLogs = await pipeline.loadResolverLogs(opts.dnsLogs ?? [], opts.signal);
  const pdns = classifier.pdns;
  let current = 0;
  const onDns = (buf: Uint8Array, off: number, len: number, ts: number): void => {
    const e = pdns.observe(buf, off, len, ts);
    // A first fragment, or a snap length, cuts a good answer short: that is not a bad message.
    // The UDP header sits just before the payload; its length field says what was sent.
    if (e && e.code === 'dns.truncated' && off >= 8 && ((buf[off - 4]! << 8) | buf[off - 3]!) - 8 > len) return;
    if (e && counting)
      decodeErrors[current]!.add('dns.bad_message', paths[current]!, -1, `DNS response from port 53 (${len} bytes) at ${new Date(ts).toISOString()}: ${e.code} at byte ${e.offset - off} of the message: ${e.message}`);
  };
  const flowsPerInput = new Array<number>(paths.length).fill(0);
  // Flows that run on across inputs tie those inputs together: spanTo[i] is the furthest input a
  // flow that began in input i reached. After an interruption every flow still open is taken to
  // reach the input that was cut (read on, it might have gone on there).
  const spanTo = new Int32Array(paths.length).fill(-1);
  let cutAt = -1;
  const span = (first: number, last: number | undefined): void => {
    const to = cutAt >= 0 ? cutAt : (last ?? first);
    if (to > first && to > spanTo[first]!) spanTo[first] = to;
  };
  pipeline.observeFlows((f) => {
    span(f.inputIndex, f.lastInputIndex);
    flowsPerInput[f.inputIndex]!++;
  });
  if (opts.skipQuietExports) {
    table.prefilter = (v) => {
      if (!classifier.exportFlowIsQuiet(v)) return false;
      span(v.inputIndex, v.lastInputIndex);
      flowsPerInput[v.inputIndex]!++;
      return true;
    };
  }
  const datagrams = opts.readExports === false ? null : new ExportDatagrams();
  const summaries: InputSummary[] = [];
  const perInput: Anomalies[] = [];
  let packets = 0;
  const progress = opts.progress ?? null;
  const reading = { bytes: 0 };
  let bytesBefore = 0;
  let recordsBefore = 0;
  let reader: PacketIngest | null = null;
  const publish = (): void => {
    if (progress === null) return;
    const c = reader?.counts();
    progress[SCAN_PROGRESS.bytes] = bytesBefore + reading.bytes;
    progress[SCAN_PROGRESS.records] = recordsBefore + (c ? c.packets + c.records : 0);
    progress[SCAN_PROGRESS.flows] = table.emitted;
    progress[SCAN_PROGRESS.miningFlows] = pipeline.miningFlows;
    progress[SCAN_PROGRESS.inputsDone] = summaries.length;
  };
  const ticker = progress === null ? null : setInterval(publish, SCAN_PROGRESS_MS).unref();
  try {
    for (let i = 0; i < paths.length; i++) {
      if (opts.signal?.aborted) break;
      const path = paths[i]!;
      current = i;
      const anomalies = new Anomalies();
      perInput.push(anomalies);
      const ingest = pipeline.intake(anomalies, { onDnsResponse: classifier.index.size > 0 ? onDns : null, datagrams, collectorPorts: opts.collectorPorts });
      ingest.begin(path, i);
      reader = ingest;
      reading.bytes = 0;
      publish();
      hooks.beginInput?.(i, path);
      let info: InputInfo | null = null;
      let error: string | null = null;
      const evicted0 = table.evicted;
      try {
        info = await readCapture(path, ingest, anomalies, opts.signal, path === '-' ? { prefixes: opts.stdinPrefixes ?? [], progress: reading, pace: opts.pace } : { hash: counting, progress: reading, pace: opts.pace });
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        // Stopped before its format was known: the input is cut (marked interrupted below), not bad.
        if (!(e instanceof InputInterrupted)) error = e.message;
      }
      anomalies.addCount('flow.evicted', table.evicted - evicted0);
      const counts = ingest.counts();
      packets += counts.packets;
      summaries.push({
        path,
        format: info?.format ?? null,
        size: info?.size ?? null,
        sha256: info?.sha256 ?? null,
        packets: counts.packets,
        bytes: counts.wireBytes,
        transportPackets: counts.transportPackets,
        records: counts.records,
        exportPackets: counts.exportPackets,
        flows: 0,
        anomalies: {},
        error,
      });
      reader = null;
      bytesBefore += info?.size ?? reading.bytes;
      reading.bytes = 0;
      recordsBefore += counts.packets + counts.records;
      publish();
      hooks.endInput?.(i, info, counts, anomalies, error);
    }
  } finally {
    if (ticker !== null) clearInterval(ticker);
  }
  const interrupted = (opts.signal?.aborted ?? false) && summaries.length > 0;
  if (interrupted) cutAt = summaries.length - 1;
  pipeline.flush();
  publish();
  for (let i = 0; i < summaries.length; i++) {
    const a = perInput[i]!;
    const d = decodeErrors[i]!;
    summaries[i]!.flows = flowsPerInput[i]!;
    if (d.total > 0) hooks.decodeAnomalies?.(i, d);
    summaries[i]!.anomalies = Object.fromEntries(Object.entries({ ...a.toObject(), ...d.toObject() }).sort(([x], [y]) => x.localeCompare(y)));
  }
  const { incomplete, ties } = cutAndTiedInputs(summaries, spanTo, interrupted ? [summaries.length - 1] : []);
  return {
    incomplete,
    ties,
    dnsLogs,
    resolverStats: classifier.resolver ? { ...classifier.resolver.stats } : null,
    exportStats: datagrams ? { ...datagrams.decoder.stats } : null,
    dnsBindings: pdns.size,
    classifier,
    inputs: summaries,
    flows: table.emitted,
    miningFlows: pipeline.miningFlows,
    evictedFlows: table.evicted,
    packets,
    interrupted: opts.signal?.aborted ?? false,
    spanTo: Array.from(spanTo),
  };
}

/**
 * The inputs to mark incomplete: the cut or failed ones, widened over every boundary some flow
 * crossed (spanTo), since the inputs a flow joins can only be read again together.
 */
export function cutAndTiedInputs(inputs: readonly InputSummary[], spanTo: ArrayLike<number>, cut: readonly number[]): { incomplete: Array<{ index: number; note: string }>; ties: number[][] } {
  const n = inputs.length;
  // crosses[i]: some flow has records in input i and in input i + 1 (or beyond).
  const crosses = new Uint8Array(n);
  let reach = -1;
  for (let i = 0; i < n; i++) {
    if (spanTo[i]! > reach) reach = spanTo[i]!;
    if (reach > i) crosses[i] = 1;
  }
  // An input that failed part-way may have cut flows of the one before that would have gone on in
  // its unread rest (as an interruption would): tie them.
  for (let i = 1; i < n; i++) if (inputs[i]!.error && inputs[i]!.packets + inputs[i]!.records > 0) crosses[i - 1] = 1;
  const out = new Map<number, string>();
  const cause = (i: number, why: string): void => {
    let lo = i;
    let hi = i;
    while (lo > 0 && crosses[lo - 1]) lo--;
    while (hi < n - 1 && crosses[hi]) hi++;
    for (let j = lo; j <= hi; j++) if (!out.has(j)) out.set(j, j === i ? why : `shares a flow with ${inputs[i]!.path}, which ${why === 'cut' ? 'was cut' : 'failed'}`);
  };
  for (let i = 0; i < n; i++) if (inputs[i]!.error && inputs[i]!.packets + inputs[i]!.records > 0) cause(i, 'failed');
  for (const i of cut) cause(i, 'cut');
  const ties: number[][] = [];
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n - 1 && crosses[j]) j++;
    if (j > i) ties.push(Array.from({ length: j - i + 1 }, (_, k) => i + k));
    i = j + 1;
  }
  const incomplete = [...out].sort(([a], [b]) => a - b).map(([index, note]) => ({ index, note: note === 'cut' ? 'the scan was stopped while reading it' : note === 'failed' ? 'reading failed part-way' : note }));
  return { incomplete, ties };
}

/**
 * The UDP datagram source: NetFlow v5/v9 and IPFIX datagrams as they arrive, decoded by one
 * stateful decoder into the pipeline's table, with the arrival clock set for each. Templates and
 * data sets waiting for them are bounded (src/decode/templates.ts).
 */
export class DatagramSource {
  readonly datagrams: ExportDatagrams;
  private readonly ingest: PacketIngest;
  /** Datagrams received, and those that were not flow exports. */
  received = 0;
  notExport = 0;

  constructor(
    private readonly pipeline: Pipeline,
    anomalies: Anomalies,
    limits: { maxTemplates: number; maxPendingPerTemplate: number },
    source = 'udp',
  ) {
    this.datagrams = new ExportDatagrams(limits);
    this.ingest = pipeline.intake(anomalies, { datagrams: this.datagrams });
    this.ingest.begin(source, 0);
  }

  /** One received datagram from `exporter` at `nowMs` (the collector's clock). */
  datagram(buf: Uint8Array, exporter: string, nowMs: number): void {
    this.received++;
    this.pipeline.table.arrival = nowMs;
    const before = this.datagrams.decoder.stats.datagrams;
    this.ingest.exportMessage(buf, 0, buf.length, exporter, 0);
    if (this.datagrams.decoder.stats.datagrams === before) this.notExport++;
  }

  /** Finish idle flows: by the exporters' clocks, and by ours (`nowMs`) so a quiet exporter cannot hold flows. */
  tick(nowMs: number): void {
    const t = this.pipeline.table;
    t.expireExports();
    t.expireArrivedBefore(nowMs - t.opts.exports!.joinGapMs);
  }
}
