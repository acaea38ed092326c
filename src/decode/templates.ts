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
  /** Decoding program, compiled from `fields` on first use. */
  compiled?: CompiledTemplate;
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

  /**
   * The last template found (data sets of one exporter mostly use one or two templates): its
   * lookup skips building the key. Cleared whenever a template is stored, withdrawn or evicted.
   */
  private hit: Template | undefined = undefined;
  private hitExporter = '';
  private hitDomain = -1;
  private hitVersion = 0;
  private hitId = -1;

  get(version: 9 | 10, exporter: string, domain: number, id: number): Template | undefined {
    const h = this.hit;
    if (h !== undefined && id === this.hitId && domain === this.hitDomain && version === this.hitVersion && exporter === this.hitExporter) return h;
    const t = this.templates.get(key(version, exporter, domain, id));
    if (t !== undefined) {
      this.hit = t;
      this.hitExporter = exporter;
      this.hitDomain = domain;
      this.hitVersion = version;
      this.hitId = id;
    }
    return t;
  }

  /** Store (or refresh) a template and return the data sets that were waiting for it. */
  set(exporter: string, domain: number, t: Template): PendingSet[] {
    const k = key(t.version, exporter, domain, t.id);
    this.hit = undefined;
    // Exporters re-send their templates every few seconds: an unchanged one keeps its compiled form.
    const old = this.templates.get(k);
    if (old !== undefined && old.compiled !== undefined && t.compiled === undefined && sameFields(old, t)) t.compiled = old.compiled;
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
    this.hit = undefined;
    this.templates.delete(key(version, exporter, domain, id));
  }

  /** Forget every data (or every options) template of one exporter and domain. */
  withdrawAll(version: 9 | 10, exporter: string, domain: number, options: boolean): void {
    this.hit = undefined;
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
    const last = this.lastDomain;
    if (last !== undefined && domain === this.lastDomainId && version === this.lastDomainVersion && exporter === this.lastDomainExporter) return last;
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
    // Domains are only evicted above, when another one is made: the remembered one is then `d`.
    this.lastDomain = d;
    this.lastDomainExporter = exporter;
    this.lastDomainId = domain;
    this.lastDomainVersion = version;
    return d;
  }

  private lastDomain: DomainState | undefined = undefined;
  private lastDomainExporter = '';
  private lastDomainId = -1;
  private lastDomainVersion = 0;
}

/** Big-endian unsigned integer of 1..8 bytes (reduced-size encoding, RFC 7011 §6.2). */
export function readUnsigned(buf: Uint8Array, p: number, len: number): number {
  let v = 0;
  const n = len > 8 ? 8 : len;
  for (let i = 0; i < n; i++) v = v * 256 + buf[p + i]!;
  return v;
}

/**
 * Big-endian view of the bytes being decoded: DataView reads of 2, 4 and 8 bytes are about twice
 * as fast as assembling them byte by byte. One view is kept for the last buffer seen (a reader's
 * window, or a held data set), so a new one is made only when the buffer changes.
 */
let viewBuf: Uint8Array | null = null;
let viewLength = 0;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewBuf || buf.byteLength !== viewLength) {
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewBuf = buf;
    viewLength = buf.byteLength;
  }
  return view;
}

/**
 * {@link readUnsigned} with the common widths read at once, into `v[slot]`; the same value bit for
 * bit (an 8-byte value of 2^53 or more takes the byte loop, which rounds the way it always did).
 * `dv` views `b`. It stores rather than returns: a double returned by a call that is not inlined is
 * boxed, one allocation per field.
 */
function storeUint(v: Float64Array, slot: number, dv: DataView, b: Uint8Array, p: number, len: number): void {
  switch (len) {
    case 1:
      v[slot] = b[p]!;
      return;
    case 2:
      v[slot] = dv.getUint16(p);
      return;
    case 4:
      v[slot] = dv.getUint32(p);
      return;
    case 8: {
      const hi = dv.getUint32(p);
      v[slot] = hi >= 0x200000 ? readUnsigned(b, p, 8) : hi * 4294967296 + dv.getUint32(p + 4);
      return;
    }
    default:
      v[slot] = readUnsigned(b, p, len);
  }
}

function formatIpv4N(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function formatIpv4At(buf: Uint8Array, p: number): string {
  return `${buf[p]!}.${buf[p + 1]!}.${buf[p + 2]!}.${buf[p + 3]!}`;
}

/** Seconds between 1900-01-01 (NTP era 0) and 1970-01-01. */
const NTP_UNIX_OFFSET = 2208988800;

/** dateTimeMicroseconds / dateTimeNanoseconds: NTP 64-bit timestamp → Unix ms, into `v[slot]`. @see RFC 7011 §6.1.9 */
function storeNtp(v: Float64Array, slot: number, dv: DataView, p: number): void {
  const sec = dv.getUint32(p);
  const frac = dv.getUint32(p + 4);
  v[slot] = (sec - NTP_UNIX_OFFSET) * 1000 + Math.floor((frac * 1000) / 4294967296);
}

/*
 * Per-record scratch: one Float64Array slot per value a record can carry, NaN while absent (so no
 * `number | null` fields, which would box every value that is not a small integer). IPv6 and NAT
 * addresses are kept as positions in the record's buffer and made into text only when an
 * {@link ExportRecord} object is built.
 */
// Slots below N_STORE take the field's unsigned value as it is (an op "store into slot k").
const S_DELTA_BYTES = 0;
const S_DELTA_PACKETS = 1;
const S_TOTAL_BYTES = 2;
const S_TOTAL_PACKETS = 3;
const S_INIT_BYTES = 4;
const S_INIT_PACKETS = 5;
const S_RESP_BYTES = 6;
const S_RESP_PACKETS = 7;
const S_REV_DELTA_BYTES = 8;
const S_REV_DELTA_PACKETS = 9;
const S_REV_TOTAL_BYTES = 10;
const S_REV_TOTAL_PACKETS = 11;
const S_PROTOCOL = 12;
const S_TCP_FLAGS = 13;
const S_SRC_PORT = 14;
const S_DST_PORT = 15;
const S_IP_VERSION = 16;
const S_DIRECTION = 17;
const S_SAMPLING = 18;
const S_PACKET_INTERVAL = 19;
const S_PACKET_SPACE = 20;
const S_SAMPLE_SIZE = 21;
const S_SAMPLE_POPULATION = 22;
const S_SAMPLER_ID = 23;
const S_START_UP = 24;
const S_END_UP = 25;
const S_START_MS = 26;
const S_END_MS = 27;
const S_START_DELTA_US = 28;
const S_END_DELTA_US = 29;
const S_SYS_INIT_MS = 30;
const S_NAT_EVENT = 31;
const S_POST_SRC_PORT = 32;
const S_POST_DST_PORT = 33;
const S_RANGE_START = 34;
const S_RANGE_END = 35;
/** observationTimeMilliseconds: when an event (a NAT event) happened. */
const S_OBS_MS = 36;
const N_STORE = 37;
// Slots set by the special ops.
/** IPv4 addresses as unsigned numbers. */
const S_SRC4 = 37;
const S_DST4 = 38;
/** 1 while every IPv4 (IPv6) address of the record is all zeros, else 0. */
const S_V4_ZERO = 39;
const S_V6_ZERO = 40;
/** Buffer positions of the 16 address bytes. */
const S_SRC6_AT = 41;
const S_DST6_AT = 42;
/** Buffer position of a post-NAT address and its length (4 or 16). */
const S_POST_SRC_AT = 43;
const S_POST_SRC_LEN = 44;
const S_POST_DST_AT = 45;
const S_POST_DST_LEN = 46;
/** Always 0: where a compiled template points a counter it does not carry. */
const S_ZERO = 47;
const N_SLOTS = 48;

// Special ops (a field that is not simply stored), numbered from N_SLOTS up.
const K_SRC4 = 64;
const K_DST4 = 65;
const K_SRC6 = 66;
const K_DST6 = 67;
const K_POST_SRC4 = 68;
const K_POST_DST4 = 69;
const K_POST_SRC6 = 70;
const K_POST_DST6 = 71;
const K_START_SECONDS = 72;
const K_END_SECONDS = 73;
const K_START_NTP = 74;
const K_END_NTP = 75;
/** A field the decoder does not read (skipped by its length). */
const K_NONE = 127;

/** The state of a new record. */
const RESET = new Float64Array(N_SLOTS).fill(NaN);
RESET[S_SRC_PORT] = 0;
RESET[S_DST_PORT] = 0;
RESET[S_PROTOCOL] = 0;
RESET[S_TCP_FLAGS] = 0;
RESET[S_V4_ZERO] = 1;
RESET[S_V6_ZERO] = 1;
RESET[S_ZERO] = 0;

/** Reused per-record state (no allocation per record). */
export class Scratch {
  readonly v = new Float64Array(N_SLOTS);

  constructor() {
    this.reset();
  }

  /** Back to the state of a new record. */
  reset(): void {
    this.v.set(RESET);
  }
}

/** What the decoder does with field `f`, from its element id alone (lengths are checked per op). */
function fieldOp(f: FieldSpec): number {
  if (f.enterprise === PEN.reverse) {
    switch (f.id) {
      case IE.octetDeltaCount:
        return S_REV_DELTA_BYTES;
      case IE.packetDeltaCount:
        return S_REV_DELTA_PACKETS;
      case IE.octetTotalCount:
        return S_REV_TOTAL_BYTES;
      case IE.packetTotalCount:
        return S_REV_TOTAL_PACKETS;
      default:
        return K_NONE;
    }
  }
  if (f.enterprise !== 0) return K_NONE;
  switch (f.id) {
    case IE.sourceIPv4Address:
      return K_SRC4;
    case IE.destinationIPv4Address:
      return K_DST4;
    case IE.sourceIPv6Address:
      return K_SRC6;
    case IE.destinationIPv6Address:
      return K_DST6;
    case IE.postNATSourceIPv4Address:
      return K_POST_SRC4;
    case IE.postNATDestinationIPv4Address:
      return K_POST_DST4;
    case IE.postNATSourceIPv6Address:
      return K_POST_SRC6;
    case IE.postNATDestinationIPv6Address:
      return K_POST_DST6;
    case IE.octetDeltaCount:
      return S_DELTA_BYTES;
    case IE.packetDeltaCount:
      return S_DELTA_PACKETS;
    case IE.octetTotalCount:
      return S_TOTAL_BYTES;
    case IE.packetTotalCount:
      return S_TOTAL_PACKETS;
    case IE.initiatorOctets:
      return S_INIT_BYTES;
    case IE.responderOctets:
      return S_RESP_BYTES;
    case IE.initiatorPackets:
      return S_INIT_PACKETS;
    case IE.responderPackets:
      return S_RESP_PACKETS;
    case IE.protocolIdentifier:
      return S_PROTOCOL;
    case IE.tcpControlBits:
      return S_TCP_FLAGS;
    case IE.sourceTransportPort:
      return S_SRC_PORT;
    case IE.destinationTransportPort:
      return S_DST_PORT;
    case IE.ipVersion:
      return S_IP_VERSION;
    case IE.flowDirection:
      return S_DIRECTION;
    case IE.samplingInterval:
    case IE.samplerRandomInterval:
      return S_SAMPLING;
    case IE.samplingPacketInterval:
      return S_PACKET_INTERVAL;
    case IE.samplingPacketSpace:
      return S_PACKET_SPACE;
    case IE.samplingSize:
      return S_SAMPLE_SIZE;
    case IE.samplingPopulation:
      return S_SAMPLE_POPULATION;
    case IE.samplerId:
    case IE.selectorId:
      return S_SAMPLER_ID;
    case IE.flowStartSysUpTime:
      return S_START_UP;
    case IE.flowEndSysUpTime:
      return S_END_UP;
    case IE.flowStartSeconds:
      return K_START_SECONDS;
    case IE.flowEndSeconds:
      return K_END_SECONDS;
    case IE.flowStartMilliseconds:
      return S_START_MS;
    case IE.flowEndMilliseconds:
      return S_END_MS;
    case IE.flowStartMicroseconds:
    case IE.flowStartNanoseconds:
      return K_START_NTP;
    case IE.flowEndMicroseconds:
    case IE.flowEndNanoseconds:
      return K_END_NTP;
    case IE.flowStartDeltaMicroseconds:
      return S_START_DELTA_US;
    case IE.flowEndDeltaMicroseconds:
      return S_END_DELTA_US;
    case IE.systemInitTimeMilliseconds:
      return S_SYS_INIT_MS;
    case IE.natEvent:
      return S_NAT_EVENT;
    case IE.postNAPTSourceTransportPort:
      return S_POST_SRC_PORT;
    case IE.postNAPTDestinationTransportPort:
      return S_POST_DST_PORT;
    case IE.portRangeStart:
      return S_RANGE_START;
    case IE.portRangeEnd:
      return S_RANGE_END;
    case IE.observationTimeMilliseconds:
      return S_OBS_MS;
    default:
      return K_NONE;
  }
}

/** Whether op `k` reads a field of `len` bytes (otherwise the field is skipped, as it always was). */
function opTakes(k: number, len: number): boolean {
  if (len === 0 || k === K_NONE) return false;
  if (k < N_STORE) return len <= 8;
  switch (k) {
    case K_SRC4:
    case K_DST4:
    case K_POST_SRC4:
    case K_POST_DST4:
      return len === 4;
    case K_SRC6:
    case K_DST6:
    case K_POST_SRC6:
    case K_POST_DST6:
      return len === 16;
    case K_START_SECONDS:
    case K_END_SECONDS:
      return len <= 8;
    case K_START_NTP:
    case K_END_NTP:
      return len === 8;
    default:
      return false;
  }
}

/**
 * A template compiled once for decoding: what to do with each field, and where.
 *
 * Fixed-length templates (all of NetFlow v9, most of IPFIX) become a list of (op, offset in the
 * record, length) triples holding only the fields the decoder reads, each one known to fit.
 * Templates with variable-length fields keep one (op, declared length) pair per field, walked in
 * order with every length checked against the set.
 */
export interface CompiledTemplate {
  /** Fixed: [op, offset, length]×n for the fields read. Varlen: [op, declared length] per field. */
  ops: Int32Array;
  /** Fixed templates: ops whose result depends on an earlier field of the record need these slots reset per record. */
  resetStart: boolean;
  resetEnd: boolean;
  /**
   * Fixed data templates with both IPv4 addresses and not both IPv6 ones: every record is IPv4, and
   * what each record carries is known here (a slot an op writes is set in every record). Null for
   * other templates, which take the general path.
   */
  plan: EmitPlan | null;
}

/** Where a fixed IPv4 template's counters are: the first slot it writes of each list, else {@link S_ZERO}. */
interface EmitPlan {
  packets: number;
  bytes: number;
  reversePackets: number;
  reverseBytes: number;
  /** No sampling element (nor sampler id): the interval comes from the domain's options data. */
  domainSampling: boolean;
}

/** Slot written by op `k` (special ops write these; store ops their own slot). */
function slotOf(k: number): number {
  if (k < N_STORE) return k;
  switch (k) {
    case K_SRC4:
      return S_SRC4;
    case K_DST4:
      return S_DST4;
    case K_SRC6:
      return S_SRC6_AT;
    case K_DST6:
      return S_DST6_AT;
    case K_START_SECONDS:
    case K_START_NTP:
      return S_START_MS;
    case K_END_SECONDS:
    case K_END_NTP:
      return S_END_MS;
    default:
      return -1;
  }
}

export function compileTemplate(t: Template): CompiledTemplate {
  const ops: number[] = [];
  let resetStart = false;
  let resetEnd = false;
  let off = 0;
  const written = new Set<number>();
  for (let i = 0; i < t.fields.length; i++) {
    const f = t.fields[i]!;
    // v9 options scope fields are scope types (system, interface …), not elements.
    const k = t.version === 9 && i < t.scopeCount ? K_NONE : fieldOp(f);
    if (t.varlen) {
      ops.push(k, f.length);
      continue;
    }
    if (opTakes(k, f.length)) {
      ops.push(k, off, f.length);
      written.add(slotOf(k));
      if (k === K_START_SECONDS) resetStart = true;
      if (k === K_END_SECONDS) resetEnd = true;
    }
    off += f.length;
  }
  let plan: EmitPlan | null = null;
  if (!t.varlen && !t.options && written.has(S_SRC4) && written.has(S_DST4) && !(written.has(S_SRC6_AT) && written.has(S_DST6_AT))) {
    const first = (slots: number[]): number => slots.find((s) => written.has(s)) ?? S_ZERO;
    plan = {
      packets: first([S_DELTA_PACKETS, S_TOTAL_PACKETS, S_INIT_PACKETS]),
      bytes: first([S_DELTA_BYTES, S_TOTAL_BYTES, S_INIT_BYTES]),
      reversePackets: first([S_REV_DELTA_PACKETS, S_REV_TOTAL_PACKETS, S_RESP_PACKETS]),
      reverseBytes: first([S_REV_DELTA_BYTES, S_REV_TOTAL_BYTES, S_RESP_BYTES]),
      domainSampling: ![S_SAMPLING, S_SAMPLE_SIZE, S_SAMPLE_POPULATION, S_PACKET_INTERVAL, S_SAMPLER_ID].some((s) => written.has(s)),
    };
  }
  return { ops: Int32Array.from(ops), resetStart, resetEnd, plan };
}

/** Whether two templates have the same fields (a refresh of the same template): then they compile alike. */
export function sameFields(a: Template, b: Template): boolean {
  if (a.version !== b.version || a.options !== b.options || a.scopeCount !== b.scopeCount || a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!;
    const y = b.fields[i]!;
    if (x.id !== y.id || x.enterprise !== y.enterprise || x.length !== y.length) return false;
  }
  return true;
}

/** Apply special op `k` (≥ N_SLOTS) to the `len` bytes at `buf[p]`; the length is one {@link opTakes} accepts. */
function applySpecial(v: Float64Array, k: number, dv: DataView, buf: Uint8Array, p: number, len: number): void {
  switch (k) {
    case K_SRC4: {
      const a = dv.getUint32(p);
      v[S_SRC4] = a;
      if (a !== 0) v[S_V4_ZERO] = 0;
      return;
    }
    case K_DST4: {
      const a = dv.getUint32(p);
      v[S_DST4] = a;
      if (a !== 0) v[S_V4_ZERO] = 0;
      return;
    }
    case K_SRC6:
      v[S_SRC6_AT] = p;
      if (!zero16(buf, p)) v[S_V6_ZERO] = 0;
      return;
    case K_DST6:
      v[S_DST6_AT] = p;
      if (!zero16(buf, p)) v[S_V6_ZERO] = 0;
      return;
    case K_POST_SRC4:
    case K_POST_SRC6:
      v[S_POST_SRC_AT] = p;
      v[S_POST_SRC_LEN] = len;
      return;
    case K_POST_DST4:
    case K_POST_DST6:
      v[S_POST_DST_AT] = p;
      v[S_POST_DST_LEN] = len;
      return;
    case K_START_SECONDS:
      if (v[S_START_MS] !== v[S_START_MS]) {
        storeUint(v, S_START_MS, dv, buf, p, len);
        v[S_START_MS] = v[S_START_MS]! * 1000;
      }
      return;
    case K_END_SECONDS:
      if (v[S_END_MS] !== v[S_END_MS]) {
        storeUint(v, S_END_MS, dv, buf, p, len);
        v[S_END_MS] = v[S_END_MS]! * 1000;
      }
      return;
    case K_START_NTP:
      storeNtp(v, S_START_MS, dv, p);
      return;
    case K_END_NTP:
      storeNtp(v, S_END_MS, dv, p);
      return;
    default:
      return;
  }
}

function zero16(b: Uint8Array, p: number): boolean {
  for (let i = 0; i < 16; i++) if (b[p + i] !== 0) return false;
  return true;
}

/** Sampling interval carried by a record (1-in-N), or NaN. */
function recordSampling(v: Float64Array): number {
  const sampling = v[S_SAMPLING]!;
  if (sampling > 0) return sampling;
  // RFC 5477 §8.2.4/§8.2.5: random n-out-of-N (Cisco samplers send this with samplingPacketInterval 1).
  const size = v[S_SAMPLE_SIZE]!;
  const population = v[S_SAMPLE_POPULATION]!;
  if (size > 0 && population > 0) return Math.max(1, Math.round(population / size));
  const interval = v[S_PACKET_INTERVAL]!;
  if (interval > 0) {
    // RFC 5477 §8.2.2/§8.2.3: select `interval` packets, then skip `space`: 1 in (i+s)/i.
    const space = v[S_PACKET_SPACE]!;
    if (space === space) return Math.max(1, Math.round((interval + space) / interval));
    return interval;
  }
  return NaN;
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
  const c = t.compiled ?? (t.compiled = compileTemplate(t));
  const dom = ctx.cache.domain(hdr.version, hdr.exporter, hdr.domain);
  const s = ctx.scratch ?? (ctx.scratch = new Scratch());
  const v = s.v;
  const dv = viewOf(buf);
  const ops = c.ops;
  const min = t.minLength;
  let p = start;
  if (!t.varlen) {
    // Every record is exactly minLength (> 0) bytes and every op lies inside it. A slot that no op
    // of this template writes keeps its reset value for the whole set; the ops write theirs in
    // every record, except the all-zero flags and the seconds fallbacks, reset per record.
    s.reset();
    const n = ops.length;
    const plan = c.plan;
    const onNumeric = ctx.onNumeric;
    while (end - p >= min) {
      v[S_V4_ZERO] = 1;
      v[S_V6_ZERO] = 1;
      if (c.resetStart) v[S_START_MS] = NaN;
      if (c.resetEnd) v[S_END_MS] = NaN;
      for (let i = 0; i < n; i += 3) {
        const k = ops[i]!;
        if (k < N_STORE) storeUint(v, k, dv, buf, p + ops[i + 1]!, ops[i + 2]!);
        else applySpecial(v, k, dv, buf, p + ops[i + 1]!, ops[i + 2]!);
      }
      if (t.options) {
        ctx.stats.optionsRecords++;
        applyOptions(dom, v);
      } else if (plan !== null && onNumeric !== undefined) {
        emitNumeric(ctx, hdr, dom, v, plan, onNumeric);
      } else {
        emitRecord(ctx, hdr, t, dom, v, buf);
      }
      p += min;
    }
  } else {
    // Each record consumes at least minLength (> 0) bytes, so the loop runs at most (end-start) times.
    while (end - p >= min) {
      s.reset();
      let q = p;
      let ok = true;
      for (let i = 0; i < ops.length; i += 2) {
        const k = ops[i]!;
        let len = ops[i + 1]!;
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
        if (opTakes(k, len)) {
          if (k < N_STORE) storeUint(v, k, dv, buf, q, len);
          else applySpecial(v, k, dv, buf, q, len);
        }
        q += len;
      }
      if (!ok) {
        // A fixed-length template cannot get here (end - p >= minLength); only varlen records.
        ctx.onAnomaly({ code: hdr.version === 9 ? 'v9.bad_set_length' : 'ipfix.bad_set_length', offset: base + p, message: `record of template ${t.id} runs past the end of its set` });
        return;
      }
      if (q === p) return; // cannot happen (minLength > 0); keeps the loop provably finite
      if (t.options) {
        ctx.stats.optionsRecords++;
        applyOptions(dom, v);
      } else {
        emitRecord(ctx, hdr, t, dom, v, buf);
      }
      p = q;
    }
  }
  if (p === start && end - start >= 4) {
    ctx.onAnomaly({
      code: hdr.version === 9 ? 'v9.bad_set_length' : 'ipfix.bad_set_length',
      offset: base + start,
      message: `set of ${end - start} bytes holds no whole record of template ${t.id} (${t.minLength} bytes at least)`,
    });
  }
}

/** Options data: remember sampling intervals and the system init time for the domain. */
function applyOptions(dom: DomainState, v: Float64Array): void {
  const interval = recordSampling(v);
  if (interval === interval) {
    dom.sampling = interval;
    const id = v[S_SAMPLER_ID]!;
    if (id === id && (dom.samplers.has(id) || dom.samplers.size < MAX_SAMPLERS)) dom.samplers.set(id, interval);
  }
  const init = v[S_SYS_INIT_MS]!;
  if (init === init) dom.sysInitMs = init;
}

/** The first of a, b, c that is present (not NaN), else 0. */
function firstOf(a: number, b: number, c: number): number {
  return a === a ? a : b === b ? b : c === c ? c : 0;
}

function orNull(x: number): number | null {
  return x === x ? x : null;
}

/** Sampling interval of a record: its own, its sampler's, the domain's, else 1. */
function sampling(dom: DomainState, v: Float64Array): number {
  let interval = recordSampling(v);
  if (interval !== interval) {
    const id = v[S_SAMPLER_ID]!;
    if (id === id) interval = dom.samplers.get(id) ?? NaN;
  }
  if (interval !== interval) interval = dom.sampling ?? NaN;
  return interval >= 1 ? interval : 1;
}

/** Record times into {@link times}: absolute elements first, then sysUpTime-relative, then export-relative deltas. */
function recordTimes(hdr: MessageHeader, dom: DomainState, v: Float64Array): void {
  let first = v[S_START_MS]!;
  let last = v[S_END_MS]!;
  if (first !== first || last !== last) {
    const init = v[S_SYS_INIT_MS]!;
    const upBase = hdr.sysUptime !== null ? null : init === init ? init : dom.sysInitMs;
    const startUp = v[S_START_UP]!;
    const endUp = v[S_END_UP]!;
    // sysUpTime-relative → Unix ms. v9: the header gives unix_secs and sysUptime at export (RFC
    // 3954 §5.1); the signed 32-bit difference survives the uptime counter wrapping. IPFIX: the
    // system init time from the record or from options data; without it, the export time. Written
    // out here rather than called: a double returned by a call that is not inlined is boxed.
    const sysUp = hdr.sysUptime;
    if (first !== first && startUp === startUp) first = sysUp !== null ? hdr.exportMs - ((sysUp - startUp) | 0) : upBase !== null ? upBase + startUp : hdr.exportMs;
    if (last !== last && endUp === endUp) last = sysUp !== null ? hdr.exportMs - ((sysUp - endUp) | 0) : upBase !== null ? upBase + endUp : hdr.exportMs;
    const startDelta = v[S_START_DELTA_US]!;
    const endDelta = v[S_END_DELTA_US]!;
    if (first !== first && startDelta === startDelta) first = hdr.exportMs - Math.floor(startDelta / 1000);
    if (last !== last && endDelta === endDelta) last = hdr.exportMs - Math.floor(endDelta / 1000);
    // An event record (NAT events) has its observation time rather than flow times.
    const obs = v[S_OBS_MS]!;
    if (first !== first && last !== last && obs === obs) first = last = obs;
    if (first !== first && last !== last) {
      first = hdr.exportMs;
      last = hdr.exportMs;
    }
    if (first !== first) first = last;
    if (last !== last) last = first;
  }
  times[0] = first;
  times[1] = last;
}

/** First and last time of the record being emitted. */
const times = new Float64Array(2);

/** An IPv4 record of a fixed template with a plan, to the numeric sink ({@link emitRecord} does the rest). */
function emitNumeric(ctx: RecordContext, hdr: MessageHeader, dom: DomainState, v: Float64Array, plan: EmitPlan, onNumeric: (r: NumericRecord) => void): void {
  let interval: number;
  if (plan.domainSampling) {
    const d = dom.sampling;
    interval = d !== null && d >= 1 ? d : 1;
  } else interval = sampling(dom, v);
  recordTimes(hdr, dom, v);
  ctx.stats.records++;
  const n = ctx.numeric ?? (ctx.numeric = newNumericRecord());
  n.exporter = hdr.exporter;
  n.src4 = v[S_SRC4]!;
  n.dst4 = v[S_DST4]!;
  n.srcPort = v[S_SRC_PORT]!;
  n.dstPort = v[S_DST_PORT]!;
  n.protocol = v[S_PROTOCOL]!;
  n.tcpFlags = v[S_TCP_FLAGS]!;
  n.packets = v[plan.packets]!;
  n.bytes = v[plan.bytes]!;
  n.reversePackets = v[plan.reversePackets]!;
  n.reverseBytes = v[plan.reverseBytes]!;
  n.firstMs = times[0]!;
  n.lastMs = times[1]!;
  n.sampling = interval;
  onNumeric(n);
}

function emitRecord(ctx: RecordContext, hdr: MessageHeader, t: Template, dom: DomainState, v: Float64Array, buf: Uint8Array): void {
  let ipVersion: 4 | 6;
  const src4 = v[S_SRC4]!;
  const dst4 = v[S_DST4]!;
  const has4 = src4 === src4 && dst4 === dst4;
  const has6 = v[S_SRC6_AT] === v[S_SRC6_AT] && v[S_DST6_AT] === v[S_DST6_AT];
  const ipv = v[S_IP_VERSION]!;
  if (ipv === 6 && has6) ipVersion = 6;
  else if (ipv === 4 && has4) ipVersion = 4;
  else if (has4 && (!has6 || v[S_V4_ZERO] === 0 || v[S_V6_ZERO] === 1)) ipVersion = 4;
  else if (has6) ipVersion = 6;
  else if (natOnly(v)) {
    // A NAT event without a destination (port-block allocation, address binding): delivered for the
    // CGNAT mapping with an empty dstAddr; it is not a flow, and the flow stages skip it.
    emitNatEvent(ctx, hdr, t, dom, v, buf);
    return;
  } else return; // not a flow record (no addresses): nothing for the scanner

  const interval = sampling(dom, v);
  recordTimes(hdr, dom, v);
  const first = times[0]!;
  const last = times[1]!;

  ctx.stats.records++;
  const packets = firstOf(v[S_DELTA_PACKETS]!, v[S_TOTAL_PACKETS]!, v[S_INIT_PACKETS]!);
  const bytes = firstOf(v[S_DELTA_BYTES]!, v[S_TOTAL_BYTES]!, v[S_INIT_BYTES]!);
  const reversePackets = firstOf(v[S_REV_DELTA_PACKETS]!, v[S_REV_TOTAL_PACKETS]!, v[S_RESP_PACKETS]!);
  const reverseBytes = firstOf(v[S_REV_DELTA_BYTES]!, v[S_REV_TOTAL_BYTES]!, v[S_RESP_BYTES]!);
  if (ipVersion === 4 && ctx.onNumeric) {
    const n = ctx.numeric ?? (ctx.numeric = newNumericRecord());
    n.exporter = hdr.exporter;
    n.src4 = src4;
    n.dst4 = dst4;
    n.srcPort = v[S_SRC_PORT]!;
    n.dstPort = v[S_DST_PORT]!;
    n.protocol = v[S_PROTOCOL]!;
    n.tcpFlags = v[S_TCP_FLAGS]!;
    n.packets = packets;
    n.bytes = bytes;
    n.reversePackets = reversePackets;
    n.reverseBytes = reverseBytes;
    n.firstMs = first;
    n.lastMs = last;
    n.sampling = interval;
    ctx.onNumeric(n);
    return;
  }
  const srcAddr = ipVersion === 4 ? formatIpv4N(src4) : formatIpv6(buf, v[S_SRC6_AT]!);
  const dstAddr = ipVersion === 4 ? formatIpv4N(dst4) : formatIpv6(buf, v[S_DST6_AT]!);
  ctx.onRecord({
    version: hdr.version,
    exporter: hdr.exporter,
    domain: hdr.domain,
    templateId: t.id,
    ipVersion,
    srcAddr,
    dstAddr,
    srcPort: v[S_SRC_PORT]!,
    dstPort: v[S_DST_PORT]!,
    protocol: v[S_PROTOCOL]!,
    tcpFlags: v[S_TCP_FLAGS]!,
    packets,
    bytes,
    reversePackets,
    reverseBytes,
    samplingInterval: interval,
    firstMs: first,
    lastMs: last,
    direction: orNull(v[S_DIRECTION]!),
    nat: natOf(v, buf),
  });
}

/** A source address and NAT elements, but no destination. */
function natOnly(v: Float64Array): boolean {
  const hasSrc = v[S_SRC4] === v[S_SRC4] || v[S_SRC6_AT] === v[S_SRC6_AT];
  return hasSrc && (v[S_NAT_EVENT] === v[S_NAT_EVENT] || v[S_POST_SRC_AT] === v[S_POST_SRC_AT]);
}

function emitNatEvent(ctx: RecordContext, hdr: MessageHeader, t: Template, dom: DomainState, v: Float64Array, buf: Uint8Array): void {
  recordTimes(hdr, dom, v);
  ctx.stats.records++;
  const v4 = v[S_SRC4] === v[S_SRC4];
  ctx.onRecord({
    version: hdr.version,
    exporter: hdr.exporter,
    domain: hdr.domain,
    templateId: t.id,
    ipVersion: v4 ? 4 : 6,
    srcAddr: v4 ? formatIpv4N(v[S_SRC4]!) : formatIpv6(buf, v[S_SRC6_AT]!),
    dstAddr: '',
    srcPort: v[S_SRC_PORT]!,
    dstPort: v[S_DST_PORT]!,
    protocol: v[S_PROTOCOL]!,
    tcpFlags: 0,
    packets: 0,
    bytes: 0,
    reversePackets: 0,
    reverseBytes: 0,
    samplingInterval: 1,
    firstMs: times[0]!,
    lastMs: times[1]!,
    direction: orNull(v[S_DIRECTION]!),
    nat: natOf(v, buf),
  });
}

function natOf(v: Float64Array, buf: Uint8Array): ExportRecord['nat'] {
  const natEvent = v[S_NAT_EVENT]!;
  const postSrcAt = v[S_POST_SRC_AT]!;
  const postDstAt = v[S_POST_DST_AT]!;
  const postSrcPort = v[S_POST_SRC_PORT]!;
  const postDstPort = v[S_POST_DST_PORT]!;
  const rangeStart = v[S_RANGE_START]!;
  const rangeEnd = v[S_RANGE_END]!;
  const nat =
    natEvent === natEvent || postSrcAt === postSrcAt || postDstAt === postDstAt || postSrcPort === postSrcPort || postDstPort === postDstPort || rangeStart === rangeStart || rangeEnd === rangeEnd;
  if (!nat) return null;
  return {
    event: orNull(natEvent),
    postSrcAddr: postSrcAt === postSrcAt ? addressAt(buf, postSrcAt, v[S_POST_SRC_LEN]!) : null,
    postDstAddr: postDstAt === postDstAt ? addressAt(buf, postDstAt, v[S_POST_DST_LEN]!) : null,
    postSrcPort: orNull(postSrcPort),
    postDstPort: orNull(postDstPort),
    portRangeStart: orNull(rangeStart),
    portRangeEnd: orNull(rangeEnd),
  };
}

function addressAt(buf: Uint8Array, p: number, len: number): string {
  return len === 4 ? formatIpv4At(buf, p) : formatIpv6(buf, p);
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

/**
 * Most fields one template may hold. Exporters send tens (nfdump's largest, all of Cisco's and
 * Juniper's well under 100; IPFIX with enterprise fields a little more); a datagram could declare
 * 16,000. The cap keeps the template cache's memory (`maxTemplates` templates) bounded by the
 * option, not by what a sender claims.
 */
export const MAX_TEMPLATE_FIELDS = 512;

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
