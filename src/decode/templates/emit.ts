/**
 * Record emission: a decoded record's scratch slots become what the caller receives — a reused
 * {@link NumericRecord} for IPv4 flows when the caller takes numbers, otherwise an
 * {@link ExportRecord} — with its sampling interval and absolute times resolved from the record,
 * its sampler and its domain's options data. Options data records update the domain state here.
 *
 * @see RFC 5477 §8.2 (sampling elements), RFC 7011 §6.1.7-§6.1.10 (time types)
 * @see RFC 3954 §5.1 (sysUptime-relative times), RFC 8158 (NAT logging)
 */
import type { ExportRecord } from '../flowexport.js';
import { formatIpv6 } from '../dns.js';
import {
  S_DELTA_BYTES,
  S_DELTA_PACKETS,
  S_DIRECTION,
  S_DST4,
  S_DST6_AT,
  S_DST_PORT,
  S_END_DELTA_US,
  S_END_MS,
  S_END_UP,
  S_INIT_BYTES,
  S_INIT_PACKETS,
  S_IP_VERSION,
  S_NAT_EVENT,
  S_OBS_MS,
  S_PACKET_INTERVAL,
  S_PACKET_SPACE,
  S_POST_DST_AT,
  S_POST_DST_LEN,
  S_POST_DST_PORT,
  S_POST_SRC_AT,
  S_POST_SRC_LEN,
  S_POST_SRC_PORT,
  S_PROTOCOL,
  S_RANGE_END,
  S_RANGE_START,
  S_RESP_BYTES,
  S_RESP_PACKETS,
  S_REV_DELTA_BYTES,
  S_REV_DELTA_PACKETS,
  S_REV_TOTAL_BYTES,
  S_REV_TOTAL_PACKETS,
  S_SAMPLER_ID,
  S_SAMPLE_POPULATION,
  S_SAMPLE_SIZE,
  S_SAMPLING,
  S_SRC4,
  S_SRC6_AT,
  S_SRC_PORT,
  S_START_DELTA_US,
  S_START_MS,
  S_START_UP,
  S_SYS_INIT_MS,
  S_TCP_FLAGS,
  S_TOTAL_BYTES,
  S_TOTAL_PACKETS,
  S_V4_ZERO,
  S_V6_ZERO,
  type EmitPlan,
} from './compile.js';
import { MAX_SAMPLERS, type DomainState, type MessageHeader, type Template } from './store.js';
import type { RecordContext } from './walk.js';
import { uptimeAgeMs } from '../uptime.js';

function formatIpv4N(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function formatIpv4At(buf: Uint8Array, p: number): string {
  return `${buf[p]!}.${buf[p + 1]!}.${buf[p + 2]!}.${buf[p + 3]!}`;
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

/** Options data: remember sampling intervals and the system init time for the domain. */
export function applyOptions(dom: DomainState, v: Float64Array): void {
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
    // 3954 §5.1); {@link uptimeAgeMs} reads the 32-bit difference across a wrap. IPFIX: the
    // system init time from the record or from options data; without it, the export time. Written
    // out here rather than called: a double returned by a call that is not inlined is boxed.
    const sysUp = hdr.sysUptime;
    if (first !== first && startUp === startUp) first = sysUp !== null ? hdr.exportMs - uptimeAgeMs(sysUp, startUp) : upBase !== null ? upBase + startUp : hdr.exportMs;
    if (last !== last && endUp === endUp) last = sysUp !== null ? hdr.exportMs - uptimeAgeMs(sysUp, endUp) : upBase !== null ? upBase + endUp : hdr.exportMs;
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
export function emitNumeric(ctx: RecordContext, hdr: MessageHeader, dom: DomainState, v: Float64Array, plan: EmitPlan, onNumeric: (r: NumericRecord) => void): void {
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

export function emitRecord(ctx: RecordContext, hdr: MessageHeader, t: Template, dom: DomainState, v: Float64Array, buf: Uint8Array): void {
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
