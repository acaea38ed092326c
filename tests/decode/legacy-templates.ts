/**
 * The record decoding of src/decode/templates.ts as it was before templates were compiled (a switch
 * per field per record over a scratch of `number | null` fields), kept unchanged as the oracle for
 * the compiled decoder in compiled-templates.test.ts. Not used by the program.
 */
import { formatIpv6 } from '../../src/decode/dns.js';
import { IE, PEN } from '../../src/decode/ie.js';
import { VARLEN, newNumericRecord, type DomainState, type FieldSpec, type MessageHeader, type RecordContext, type Template } from '../../src/decode/templates.js';

const MAX_SAMPLERS = 256;

/** Big-endian unsigned integer of 1..8 bytes (reduced-size encoding, RFC 7011 §6.2). */
function readUnsigned(buf: Uint8Array, p: number, len: number): number {
  let v = 0;
  const n = len > 8 ? 8 : len;
  for (let i = 0; i < n; i++) v = v * 256 + buf[p + i]!;
  return v;
}

function formatIpv4N(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function formatIpv4At(buf: Uint8Array, p: number): string {
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

class Scratch {
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
  const s = scratch;
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
    const n = numeric;
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
  if (hdr.sysUptime !== null) {
    // Written out here, not taken from src/decode/uptime.ts: the signed 32-bit difference, unless
    // that lies more than an hour after the export (then the unsigned one).
    const age = (hdr.sysUptime - up) | 0;
    return hdr.exportMs - (age < -3_600_000 ? age + 2 ** 32 : age);
  }
  if (initMs !== null) return initMs + up;
  return hdr.exportMs;
}


const scratch = new Scratch();
const numeric = newNumericRecord();
