/**
 * Template cache and template-driven record decoding shared by NetFlow v9 and IPFIX.
 *
 * Templates are kept per (protocol version, exporter, observation domain / source id, template
 * id); a template that arrives again replaces the old one (RFC 7011 §8.1 "template refresh" over
 * UDP, RFC 3954 §5.2). The cache is bounded: beyond `maxTemplates` the least recently defined
 * template is forgotten.
 *
 * Data sets whose template has not been seen are buffered, bounded, and decoded when the template
 * arrives. Exporters over UDP send templates only periodically (every few minutes, or every N
 * packets), so a collector started mid-stream, or one that lost the datagram carrying the
 * template, would otherwise throw away every record until the next refresh — for a busy exporter
 * that is minutes of flows, exactly the minutes a short mining session may sit in. The buffer is
 * bounded three ways (sets per template key, number of keys, total bytes) because an exporter that
 * never sends the template, or a flood of forged datagrams, must not grow memory without limit;
 * what falls beyond the bound is counted as `pendingDropped`.
 *
 * @see RFC 3954 §5.2, §5.3 (v9 template and options template FlowSets), §9 (collector side)
 * @see RFC 7011 §3.4 (template records), §8 (template management), §7 (varlen encoding)
 */
import type { ExportAnomaly, ExportRecord, ExportStats } from './flowexport.js';
import { formatIpv6 } from './dns.js';
import { IE, PEN } from './ie.js';

/** Length value that marks an IPFIX variable-length field in a template. @see RFC 7011 §7 */
export const VARLEN = 65535;

/** One field specifier of a template. */
export interface FieldSpec {
  id: number;
  /** Private Enterprise Number, 0 for IANA elements (and always 0 in NetFlow v9). */
  enterprise: number;
  /** Length in bytes; {@link VARLEN} for an IPFIX variable-length field. */
  length: number;
}

/** A (data or options) template as received. */
export interface Template {
  version: 9 | 10;
  id: number;
  options: boolean;
  /** Number of leading scope fields (0 for data templates). In v9 these are scope types, not IEs. */
  scopeCount: number;
  fields: FieldSpec[];
  /** Smallest record length (a variable-length field counts 1 byte). Always > 0. */
  minLength: number;
  /** True when any field is variable-length. */
  varlen: boolean;
}

/** What the data records of one message need from its header. */
export interface MessageHeader {
  version: 9 | 10;
  exporter: string;
  domain: number;
  /** Export time, Unix ms (v9 unix_secs, IPFIX export time). */
  exportMs: number;
  /** v9 header sysUptime in ms; null for IPFIX. */
  sysUptime: number | null;
}

/** A data set held until its template arrives: a copy of the set body and its header context. */
export interface PendingSet {
  header: MessageHeader;
  templateId: number;
  body: Uint8Array;
  /** Offset of the set body within its datagram (for anomalies). */
  offset: number;
}

/** Sampling and clock state learnt from options data, per (version, exporter, domain). */
export interface DomainState {
  /** Sampling interval from options data without a sampler id, or the last one seen. */
  sampling: number | null;
  /** Sampling interval per sampler / selector id. */
  samplers: Map<number, number>;
  /** systemInitTimeMilliseconds from options data (IPFIX sysUpTime-relative times). */
  sysInitMs: number | null;
}

/** Bytes of buffered data sets held at once, over all templates. */
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Sampler ids remembered per domain. */
const MAX_SAMPLERS = 256;

function key(version: number, exporter: string, domain: number, id: number): string {
  return `${version}|${domain}|${id}|${exporter}`;
}

function domainKey(version: number, exporter: string, domain: number): string {
  return `${version}|${domain}|${exporter}`;
}

/** Bounded cache of templates, buffered data sets and per-domain sampling state. */
export class TemplateCache {
  private readonly templates = new Map<string, Template>();
  private readonly pending = new Map<string, PendingSet[]>();
  private readonly domains = new Map<string, DomainState>();
  private pendingBytes = 0;

  constructor(
    readonly maxTemplates: number,
    readonly maxPendingPerTemplate: number,
    private readonly stats: ExportStats,
  ) {}

  get size(): number {
    return this.templates.size;
  }

  get(version: 9 | 10, exporter: string, domain: number, id: number): Template | undefined {
    return this.templates.get(key(version, exporter, domain, id));
  }

  /** Store (or refresh) a template and return the data sets that were waiting for it. */
  set(exporter: string, domain: number, t: Template): PendingSet[] {
    const k = key(t.version, exporter, domain, t.id);
    this.templates.delete(k);
    this.templates.set(k, t);
    this.stats.templates++;
    while (this.templates.size > this.maxTemplates) {
      const oldest = this.templates.keys().next().value;
      if (oldest === undefined) break;
      this.templates.delete(oldest);
    }
    const waiting = this.pending.get(k);
    if (!waiting) return [];
    this.pending.delete(k);
    for (const s of waiting) this.pendingBytes -= s.body.length;
    return waiting;
  }

  /** Forget one template. */
  withdraw(version: 9 | 10, exporter: string, domain: number, id: number): void {
    this.templates.delete(key(version, exporter, domain, id));
  }

  /** Forget every data (or every options) template of one exporter and domain. */
  withdrawAll(version: 9 | 10, exporter: string, domain: number, options: boolean): void {
    const prefix = `${version}|${domain}|`;
    for (const [k, t] of this.templates) {
      if (k.startsWith(prefix) && k.endsWith(`|${exporter}`) && k === key(version, exporter, domain, t.id) && t.options === options) {
        this.templates.delete(k);
      }
    }
  }

  /** Buffer a data set whose template is unknown; false (and counted) when a bound is reached. */
  hold(exporter: string, domain: number, set: PendingSet): boolean {
    const k = key(set.header.version, exporter, domain, set.templateId);
    let list = this.pending.get(k);
    if (
      (list && list.length >= this.maxPendingPerTemplate) ||
      this.pendingBytes + set.body.length > MAX_PENDING_BYTES ||
      this.maxPendingPerTemplate <= 0
    ) {
      this.stats.pendingDropped++;
      return false;
    }
    if (!list) {
      if (this.pending.size >= this.maxTemplates) {
        const oldest = this.pending.keys().next();
        if (!oldest.done) {
          const dropped = this.pending.get(oldest.value) ?? [];
          for (const s of dropped) this.pendingBytes -= s.body.length;
          this.stats.pendingDropped += dropped.length;
          this.pending.delete(oldest.value);
        }
      }
      list = [];
      this.pending.set(k, list);
    }
    list.push(set);
    this.pendingBytes += set.body.length;
    return true;
  }

  /** Sampling/clock state of one domain (created on first use, bounded like the templates). */
  domain(version: 9 | 10, exporter: string, domain: number): DomainState {
    const k = domainKey(version, exporter, domain);
    let d = this.domains.get(k);
    if (!d) {
      if (this.domains.size >= this.maxTemplates) {
        const oldest = this.domains.keys().next();
        if (!oldest.done) this.domains.delete(oldest.value);
      }
      d = { sampling: null, samplers: new Map(), sysInitMs: null };
      this.domains.set(k, d);
    }
    return d;
  }
}

/** Big-endian unsigned integer of 1..8 bytes (reduced-size encoding, RFC 7011 §6.2). */
export function readUnsigned(buf: Uint8Array, p: number, len: number): number {
  let v = 0;
  const n = len > 8 ? 8 : len;
  for (let i = 0; i < n; i++) v = v * 256 + buf[p + i]!;
  return v;
}

function formatIpv4N(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function formatIpv4At(buf: Uint8Array, p: number): string {
  return `${buf[p]!}.${buf[p + 1]!}.${buf[p + 2]!}.${buf[p + 3]!}`;
}

/** Seconds between 1900-01-01 (NTP era 0) and 1970-01-01. */
const NTP_UNIX_OFFSET = 2208988800;

/** dateTimeMicroseconds / dateTimeNanoseconds: NTP 64-bit timestamp → Unix ms. @see RFC 7011 §6.1.9 */
function ntpToMs(buf: Uint8Array, p: number): number {
  const sec = readUnsigned(buf, p, 4);
  const frac = readUnsigned(buf, p + 4, 4);
  return (sec - NTP_UNIX_OFFSET) * 1000 + Math.floor((frac * 1000) / 4294967296);
}

/** Per-record scratch filled field by field. */
/** Marks an IPv4 address seen; its text is made only when an ExportRecord is built. */
const V4 = '';

export class Scratch {
  src4: string | null = null;
  dst4: string | null = null;
  src4n = 0;
  dst4n = 0;
  src6: string | null = null;
  dst6: string | null = null;
  v4Zero = true;
  v6Zero = true;
  ipVersion: number | null = null;
  srcPort = 0;
  dstPort = 0;
  protocol = 0;
  tcpFlags = 0;
  deltaBytes: number | null = null;
  deltaPackets: number | null = null;
  totalBytes: number | null = null;
  totalPackets: number | null = null;
  initBytes: number | null = null;
  initPackets: number | null = null;
  respBytes: number | null = null;
  respPackets: number | null = null;
  revDeltaBytes: number | null = null;
  revDeltaPackets: number | null = null;
  revTotalBytes: number | null = null;
  revTotalPackets: number | null = null;
  sampling: number | null = null;
  packetInterval: number | null = null;
  packetSpace: number | null = null;
  sampleSize: number | null = null;
  samplePopulation: number | null = null;
  samplerId: number | null = null;
  startMs: number | null = null;
  endMs: number | null = null;
  startUp: number | null = null;
  endUp: number | null = null;
  startDeltaUs: number | null = null;
  endDeltaUs: number | null = null;
  sysInitMs: number | null = null;
  direction: number | null = null;
  natEvent: number | null = null;
  postSrc: string | null = null;
  postDst: string | null = null;
  postSrcPort: number | null = null;
  postDstPort: number | null = null;
  rangeStart: number | null = null;
  rangeEnd: number | null = null;
  nat = false;

  /** Back to the state of a new record (reused: no allocation per record). */
  reset(): void {
    this.src4 = null;
    this.dst4 = null;
    this.src4n = 0;
    this.dst4n = 0;
    this.src6 = null;
    this.dst6 = null;
    this.v4Zero = true;
    this.v6Zero = true;
    this.ipVersion = null;
    this.srcPort = 0;
    this.dstPort = 0;
    this.protocol = 0;
    this.tcpFlags = 0;
    this.deltaBytes = null;
    this.deltaPackets = null;
    this.totalBytes = null;
    this.totalPackets = null;
    this.initBytes = null;
    this.initPackets = null;
    this.respBytes = null;
    this.respPackets = null;
    this.revDeltaBytes = null;
    this.revDeltaPackets = null;
    this.revTotalBytes = null;
    this.revTotalPackets = null;
    this.sampling = null;
    this.packetInterval = null;
    this.packetSpace = null;
    this.sampleSize = null;
    this.samplePopulation = null;
    this.samplerId = null;
    this.startMs = null;
    this.endMs = null;
    this.startUp = null;
    this.endUp = null;
    this.startDeltaUs = null;
    this.endDeltaUs = null;
    this.sysInitMs = null;
    this.direction = null;
    this.natEvent = null;
    this.postSrc = null;
    this.postDst = null;
    this.postSrcPort = null;
    this.postDstPort = null;
    this.rangeStart = null;
    this.rangeEnd = null;
    this.nat = false;
  }
}

/** Interpret one field. Fields of unexpected length are ignored (skipped by length). */
function applyField(s: Scratch, f: FieldSpec, buf: Uint8Array, p: number, len: number): void {
  if (len === 0) return;
  if (f.enterprise === PEN.reverse) {
    if (len > 8) return;
    const v = readUnsigned(buf, p, len);
    if (f.id === IE.octetDeltaCount) s.revDeltaBytes = v;
    else if (f.id === IE.packetDeltaCount) s.revDeltaPackets = v;
    else if (f.id === IE.octetTotalCount) s.revTotalBytes = v;
    else if (f.id === IE.packetTotalCount) s.revTotalPackets = v;
    return;
  }
  if (f.enterprise !== 0) return;
  switch (f.id) {
    case IE.sourceIPv4Address:
      if (len === 4) {
        s.src4 = V4;
        s.src4n = readUnsigned(buf, p, 4);
        if (s.src4n !== 0) s.v4Zero = false;
      }
      return;
    case IE.destinationIPv4Address:
      if (len === 4) {
        s.dst4 = V4;
        s.dst4n = readUnsigned(buf, p, 4);
        if (s.dst4n !== 0) s.v4Zero = false;
      }
      return;
    case IE.sourceIPv6Address:
    case IE.destinationIPv6Address:
      if (len === 16) {
        const text = formatIpv6(buf, p);
        if (f.id === IE.sourceIPv6Address) s.src6 = text;
        else s.dst6 = text;
        if (text !== '::') s.v6Zero = false;
      }
      return;
    case IE.postNATSourceIPv4Address:
    case IE.postNATDestinationIPv4Address:
      if (len === 4) {
        s.nat = true;
        if (f.id === IE.postNATSourceIPv4Address) s.postSrc = formatIpv4At(buf, p);
        else s.postDst = formatIpv4At(buf, p);
      }
      return;
    case IE.postNATSourceIPv6Address:
    case IE.postNATDestinationIPv6Address:
      if (len === 16) {
        s.nat = true;
        if (f.id === IE.postNATSourceIPv6Address) s.postSrc = formatIpv6(buf, p);
        else s.postDst = formatIpv6(buf, p);
      }
      return;
    default:
      break;
  }
  if (len > 8) return;
  const v = readUnsigned(buf, p, len);
  switch (f.id) {
    case IE.octetDeltaCount:
      s.deltaBytes = v;
      break;
    case IE.packetDeltaCount:
      s.deltaPackets = v;
      break;
    case IE.octetTotalCount:
      s.totalBytes = v;
      break;
    case IE.packetTotalCount:
      s.totalPackets = v;
      break;
    case IE.initiatorOctets:
      s.initBytes = v;
      break;
    case IE.responderOctets:
      s.respBytes = v;
      break;
    case IE.initiatorPackets:
      s.initPackets = v;
      break;
    case IE.responderPackets:
      s.respPackets = v;
      break;
    case IE.protocolIdentifier:
      s.protocol = v;
      break;
    case IE.tcpControlBits:
      s.tcpFlags = v;
      break;
    case IE.sourceTransportPort:
      s.srcPort = v;
      break;
    case IE.destinationTransportPort:
      s.dstPort = v;
      break;
    case IE.ipVersion:
      s.ipVersion = v;
      break;
    case IE.flowDirection:
      s.direction = v;
      break;
    case IE.samplingInterval:
    case IE.samplerRandomInterval:
      s.sampling = v;
      break;
    case IE.samplingPacketInterval:
      s.packetInterval = v;
      break;
    case IE.samplingPacketSpace:
      s.packetSpace = v;
      break;
    case IE.samplingSize:
      s.sampleSize = v;
      break;
    case IE.samplingPopulation:
      s.samplePopulation = v;
      break;
    case IE.samplerId:
    case IE.selectorId:
      s.samplerId = v;
      break;
    case IE.flowStartSysUpTime:
      s.startUp = v;
      break;
    case IE.flowEndSysUpTime:
      s.endUp = v;
      break;
    case IE.flowStartSeconds:
      if (s.startMs === null) s.startMs = v * 1000;
      break;
    case IE.flowEndSeconds:
      if (s.endMs === null) s.endMs = v * 1000;
      break;
    case IE.flowStartMilliseconds:
      s.startMs = v;
      break;
    case IE.flowEndMilliseconds:
      s.endMs = v;
      break;
    case IE.flowStartMicroseconds:
    case IE.flowStartNanoseconds:
      if (len === 8) s.startMs = ntpToMs(buf, p);
      break;
    case IE.flowEndMicroseconds:
    case IE.flowEndNanoseconds:
      if (len === 8) s.endMs = ntpToMs(buf, p);
      break;
    case IE.flowStartDeltaMicroseconds:
      s.startDeltaUs = v;
      break;
    case IE.flowEndDeltaMicroseconds:
      s.endDeltaUs = v;
      break;
    case IE.systemInitTimeMilliseconds:
      s.sysInitMs = v;
      break;
    case IE.natEvent:
      s.nat = true;
      s.natEvent = v;
      break;
    case IE.postNAPTSourceTransportPort:
      s.nat = true;
      s.postSrcPort = v;
      break;
    case IE.postNAPTDestinationTransportPort:
      s.nat = true;
      s.postDstPort = v;
      break;
    case IE.portRangeStart:
      s.nat = true;
      s.rangeStart = v;
      break;
    case IE.portRangeEnd:
      s.nat = true;
      s.rangeEnd = v;
      break;
    default:
      break;
  }
}

/** Sampling interval carried by a record (1-in-N), or null. */
function recordSampling(s: Scratch): number | null {
  if (s.sampling !== null && s.sampling > 0) return s.sampling;
  // RFC 5477 §8.2.4/§8.2.5: random n-out-of-N (Cisco samplers send this with samplingPacketInterval 1).
  if (s.sampleSize !== null && s.samplePopulation !== null && s.sampleSize > 0 && s.samplePopulation > 0) {
    return Math.max(1, Math.round(s.samplePopulation / s.sampleSize));
  }
  if (s.packetInterval !== null && s.packetInterval > 0) {
    // RFC 5477 §8.2.2/§8.2.3: select `interval` packets, then skip `space`: 1 in (i+s)/i.
    if (s.packetSpace !== null) return Math.max(1, Math.round((s.packetInterval + s.packetSpace) / s.packetInterval));
    return s.packetInterval;
  }
  return null;
}

/** Where the decoded records and anomalies go, and the counters. */
export interface RecordContext {
  cache: TemplateCache;
  stats: ExportStats;
  onRecord: (r: ExportRecord) => void;
  onAnomaly: (a: ExportAnomaly) => void;
  /**
   * When given, IPv4 records go here instead of `onRecord`, as one reused object with numeric
   * addresses: no strings and no object per record (the scanner's fast path).
   */
  onNumeric?: ((r: NumericRecord) => void) | undefined;
  /** Reused per-record state. */
  scratch?: Scratch;
  numeric?: NumericRecord;
}

/** An IPv4 record with numeric addresses; the object is reused, read it during the call. */
export interface NumericRecord {
  exporter: string;
  src4: number;
  dst4: number;
  srcPort: number;
  dstPort: number;
  protocol: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
  reversePackets: number;
  reverseBytes: number;
  firstMs: number;
  lastMs: number;
  sampling: number;
}

export function newNumericRecord(): NumericRecord {
  return { exporter: '', src4: 0, dst4: 0, srcPort: 0, dstPort: 0, protocol: 0, tcpFlags: 0, packets: 0, bytes: 0, reversePackets: 0, reverseBytes: 0, firstMs: 0, lastMs: 0, sampling: 1 };
}

/**
 * Decode the records of one data set `buf[start, end)` with template `t`. `base` is the offset of
 * `buf[0]` within the datagram (for anomaly offsets). Trailing bytes shorter than the template's
 * minimum record length are padding (RFC 3954 §5.3, RFC 7011 §3.3.1); a variable-length record
 * that runs past the set end is an anomaly and ends the set.
 */
export function decodeDataSet(
  ctx: RecordContext,
  hdr: MessageHeader,
  t: Template,
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
): void {
  const code = hdr.version === 9 ? 'v9.bad_set_length' : 'ipfix.bad_set_length';
  const dom = ctx.cache.domain(hdr.version, hdr.exporter, hdr.domain);
  let p = start;
  // Each record consumes at least minLength (> 0) bytes, so the loop runs at most (end-start) times.
  const s = ctx.scratch ?? (ctx.scratch = new Scratch());
  while (end - p >= t.minLength) {
    s.reset();
    let q = p;
    let ok = true;
    for (let i = 0; i < t.fields.length; i++) {
      const f = t.fields[i]!;
      let len = f.length;
      if (len === VARLEN) {
        if (q + 1 > end) {
          ok = false;
          break;
        }
        len = buf[q]!;
        q += 1;
        if (len === 255) {
          if (q + 2 > end) {
            ok = false;
            break;
          }
          len = (buf[q]! << 8) | buf[q + 1]!;
          q += 2;
        }
      }
      if (q + len > end) {
        ok = false;
        break;
      }
      // v9 options scope fields are scope types (system, interface …), not elements.
      if (!(t.version === 9 && i < t.scopeCount)) applyField(s, f, buf, q, len);
      q += len;
    }
    if (!ok) {
      // A fixed-length template cannot get here (end - p >= minLength); only varlen records.
      ctx.onAnomaly({ code, offset: base + p, message: `record of template ${t.id} runs past the end of its set` });
      return;
    }
    if (q === p) return; // cannot happen (minLength > 0); keeps the loop provably finite
    if (t.options) {
      ctx.stats.optionsRecords++;
      applyOptions(dom, s);
    } else {
      emitRecord(ctx, hdr, t, dom, s);
    }
    p = q;
  }
  if (p === start && end - start >= 4) {
    ctx.onAnomaly({
      code,
      offset: base + start,
      message: `set of ${end - start} bytes holds no whole record of template ${t.id} (${t.minLength} bytes at least)`,
    });
  }
}

/** Options data: remember sampling intervals and the system init time for the domain. */
function applyOptions(dom: DomainState, s: Scratch): void {
  const interval = recordSampling(s);
  if (interval !== null) {
    dom.sampling = interval;
    if (s.samplerId !== null && (dom.samplers.has(s.samplerId) || dom.samplers.size < MAX_SAMPLERS)) {
      dom.samplers.set(s.samplerId, interval);
    }
  }
  if (s.sysInitMs !== null) dom.sysInitMs = s.sysInitMs;
}

function emitRecord(ctx: RecordContext, hdr: MessageHeader, t: Template, dom: DomainState, s: Scratch): void {
  let ipVersion: 4 | 6;
  const has4 = s.src4 !== null && s.dst4 !== null;
  const has6 = s.src6 !== null && s.dst6 !== null;
  if (s.ipVersion === 6 && has6) ipVersion = 6;
  else if (s.ipVersion === 4 && has4) ipVersion = 4;
  else if (has4 && (!has6 || !s.v4Zero || s.v6Zero)) ipVersion = 4;
  else if (has6) ipVersion = 6;
  else return; // not a flow record (no addresses): nothing for the scanner

  let sampling = recordSampling(s);
  if (sampling === null && s.samplerId !== null) sampling = dom.samplers.get(s.samplerId) ?? null;
  if (sampling === null) sampling = dom.sampling;
  if (sampling === null || sampling < 1) sampling = 1;

  // Times: absolute elements first, then sysUpTime-relative, then export-relative deltas.
  let first = s.startMs;
  let last = s.endMs;
  const upBase = hdr.sysUptime !== null ? null : (s.sysInitMs ?? dom.sysInitMs);
  if (first === null && s.startUp !== null) first = upTime(hdr, upBase, s.startUp);
  if (last === null && s.endUp !== null) last = upTime(hdr, upBase, s.endUp);
  if (first === null && s.startDeltaUs !== null) first = hdr.exportMs - Math.floor(s.startDeltaUs / 1000);
  if (last === null && s.endDeltaUs !== null) last = hdr.exportMs - Math.floor(s.endDeltaUs / 1000);
  if (first === null && last === null) {
    first = hdr.exportMs;
    last = hdr.exportMs;
  }
  if (first === null) first = last!;
  if (last === null) last = first;

  ctx.stats.records++;
  const packets = s.deltaPackets ?? s.totalPackets ?? s.initPackets ?? 0;
  const bytes = s.deltaBytes ?? s.totalBytes ?? s.initBytes ?? 0;
  const reversePackets = s.revDeltaPackets ?? s.revTotalPackets ?? s.respPackets ?? 0;
  const reverseBytes = s.revDeltaBytes ?? s.revTotalBytes ?? s.respBytes ?? 0;
  if (ipVersion === 4 && ctx.onNumeric) {
    const n = ctx.numeric ?? (ctx.numeric = newNumericRecord());
    n.exporter = hdr.exporter;
    n.src4 = s.src4n;
    n.dst4 = s.dst4n;
    n.srcPort = s.srcPort;
    n.dstPort = s.dstPort;
    n.protocol = s.protocol;
    n.tcpFlags = s.tcpFlags;
    n.packets = packets;
    n.bytes = bytes;
    n.reversePackets = reversePackets;
    n.reverseBytes = reverseBytes;
    n.firstMs = first;
    n.lastMs = last;
    n.sampling = sampling;
    ctx.onNumeric(n);
    return;
  }
  const srcAddr = ipVersion === 4 ? formatIpv4N(s.src4n) : s.src6!;
  const dstAddr = ipVersion === 4 ? formatIpv4N(s.dst4n) : s.dst6!;
  ctx.onRecord({
    version: hdr.version,
    exporter: hdr.exporter,
    domain: hdr.domain,
    templateId: t.id,
    ipVersion,
    srcAddr,
    dstAddr,
    srcPort: s.srcPort,
    dstPort: s.dstPort,
    protocol: s.protocol,
    tcpFlags: s.tcpFlags,
    packets,
    bytes,
    reversePackets,
    reverseBytes,
    samplingInterval: sampling,
    firstMs: first,
    lastMs: last,
    direction: s.direction,
    nat: s.nat
      ? {
          event: s.natEvent,
          postSrcAddr: s.postSrc,
          postDstAddr: s.postDst,
          postSrcPort: s.postSrcPort,
          postDstPort: s.postDstPort,
          portRangeStart: s.rangeStart,
          portRangeEnd: s.rangeEnd,
        }
      : null,
  });
}

/**
 * sysUpTime-relative time → Unix ms. v9: the header gives unix_secs and sysUptime at export
 * (RFC 3954 §5.1); the signed 32-bit difference survives the uptime counter wrapping. IPFIX: the
 * system init time from the record or from options data; without it, the export time.
 */
function upTime(hdr: MessageHeader, initMs: number | null, up: number): number {
  if (hdr.sysUptime !== null) return hdr.exportMs - ((hdr.sysUptime - up) | 0);
  if (initMs !== null) return initMs + up;
  return hdr.exportMs;
}

/**
 * Decode a data set (id ≥ 256) at `buf[start, end)` of a datagram starting at `dgram`, or buffer
 * it when its template is unknown (counted in `templateMisses`, anomaly `missCode`).
 */
export function handleDataSet(
  ctx: RecordContext,
  hdr: MessageHeader,
  setId: number,
  buf: Uint8Array,
  start: number,
  end: number,
  dgram: number,
): void {
  const t = ctx.cache.get(hdr.version, hdr.exporter, hdr.domain, setId);
  if (t) {
    decodeDataSet(ctx, hdr, t, buf, start, end, -dgram);
    return;
  }
  ctx.stats.templateMisses++;
  const held = ctx.cache.hold(hdr.exporter, hdr.domain, {
    header: hdr,
    templateId: setId,
    body: buf.slice(start, end),
    offset: start - dgram,
  });
  ctx.onAnomaly({
    code: hdr.version === 9 ? 'v9.template_missing' : 'ipfix.template_missing',
    offset: start - 4 - dgram,
    message: `data set for template ${setId} (domain ${hdr.domain}) before its template; ${held ? 'held until the template arrives' : 'dropped: pending buffer full'}`,
  });
}

/** Store a template and decode the data sets that were waiting for it. */
export function storeTemplate(ctx: RecordContext, hdr: MessageHeader, t: Template): void {
  const waiting = ctx.cache.set(hdr.exporter, hdr.domain, t);
  for (const w of waiting) decodeDataSet(ctx, w.header, t, w.body, 0, w.body.length, w.offset);
}

/** Build a template from its field list; null when no record could ever have a byte. */
export function makeTemplate(version: 9 | 10, id: number, options: boolean, scopeCount: number, fields: FieldSpec[]): Template | null {
  let minLength = 0;
  let varlen = false;
  for (const f of fields) {
    if (f.length === VARLEN && version === 10) {
      varlen = true;
      minLength += 1;
    } else {
      minLength += f.length;
    }
  }
  if (minLength === 0) return null;
  return { version, id, options, scopeCount, fields, minLength, varlen };
}
