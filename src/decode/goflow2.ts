/**
 * GoFlow2 flow messages as its Kafka transport carries them: `flowpb.FlowMessage` protobuf
 * (`-format=bin`, each message prefixed by its varint length as Go's protodelim writes it) or one
 * JSON object per message (`-format=json`, the proto's snake_case names).
 *
 * The binary path reads only the fields a flow record needs with protobufjs' Reader and skips the
 * rest (unknown fields too), so nothing is allocated per field but the 64-bit counters. Every
 * declared length is checked against {@link GOFLOW_MAX_MESSAGE} and the bytes left before it is
 * used. Decoding never throws: a malformed message is reported with its byte offset and what was
 * expected there.
 *
 * @see https://github.com/netsampler/goflow2 (pb/flow.proto, v2.x; docs/protobuf.md)
 */
import protobuf from 'protobufjs/light.js';
import type { ExportFlowInput } from '../flow/records.js';
import { TEXT_LINE_MAX_BYTES } from '../io/csv.js';
import { ADDRESSES_EXPECTED, readJsonFlowObject } from '../io/jsonflows.js';
import { formatIpv4, formatIpv6, ipv4ToInt, parseIpv6Text } from '../ip.js';

/** The largest message (or JSON line) accepted: GoFlow2's are a few hundred bytes. */
export const GOFLOW_MAX_MESSAGE = 64 * 1024;

/** `flowpb.FlowMessage.FlowType`. */
export const GOFLOW_FLOW_TYPE = { FLOWUNKNOWN: 0, SFLOW_5: 1, NETFLOW_V5: 2, NETFLOW_V9: 3, IPFIX: 4 } as const;

/**
 * `flowpb.FlowMessage` (proto3) as a protobufjs JSON descriptor, written from the field numbers and
 * types of GoFlow2 v2's pb/flow.proto. `layer_stack` is a repeated enum there; it is declared as
 * repeated int32 here, which is the same on the wire.
 */
export const GOFLOW_SCHEMA = {
  nested: {
    flowpb: {
      nested: {
        FlowMessage: {
          fields: {
            type: { type: 'FlowType', id: 1 },
            samplingRate: { type: 'uint64', id: 3 },
            sequenceNum: { type: 'uint32', id: 4 },
            srcAddr: { type: 'bytes', id: 6 },
            dstAddr: { type: 'bytes', id: 7 },
            bytes: { type: 'uint64', id: 9 },
            packets: { type: 'uint64', id: 10 },
            samplerAddress: { type: 'bytes', id: 11 },
            nextHop: { type: 'bytes', id: 12 },
            nextHopAs: { type: 'uint32', id: 13 },
            srcAs: { type: 'uint32', id: 14 },
            dstAs: { type: 'uint32', id: 15 },
            srcNet: { type: 'uint32', id: 16 },
            dstNet: { type: 'uint32', id: 17 },
            inIf: { type: 'uint32', id: 18 },
            outIf: { type: 'uint32', id: 19 },
            proto: { type: 'uint32', id: 20 },
            srcPort: { type: 'uint32', id: 21 },
            dstPort: { type: 'uint32', id: 22 },
            ipTos: { type: 'uint32', id: 23 },
            forwardingStatus: { type: 'uint32', id: 24 },
            ipTtl: { type: 'uint32', id: 25 },
            tcpFlags: { type: 'uint32', id: 26 },
            srcMac: { type: 'uint64', id: 27 },
            dstMac: { type: 'uint64', id: 28 },
            vlanId: { type: 'uint32', id: 29 },
            etype: { type: 'uint32', id: 30 },
            icmpType: { type: 'uint32', id: 31 },
            icmpCode: { type: 'uint32', id: 32 },
            srcVlan: { type: 'uint32', id: 33 },
            dstVlan: { type: 'uint32', id: 34 },
            fragmentId: { type: 'uint32', id: 35 },
            fragmentOffset: { type: 'uint32', id: 36 },
            ipv6FlowLabel: { type: 'uint32', id: 37 },
            ipFlags: { type: 'uint32', id: 38 },
            observationDomainId: { type: 'uint32', id: 70 },
            observationPointId: { type: 'uint32', id: 71 },
            mplsTtl: { rule: 'repeated', type: 'uint32', id: 80 },
            mplsLabel: { rule: 'repeated', type: 'uint32', id: 81 },
            mplsIp: { rule: 'repeated', type: 'bytes', id: 82 },
            bgpNextHop: { type: 'bytes', id: 100 },
            bgpCommunities: { rule: 'repeated', type: 'uint32', id: 101 },
            asPath: { rule: 'repeated', type: 'uint32', id: 102 },
            layerStack: { rule: 'repeated', type: 'int32', id: 103 },
            layerSize: { rule: 'repeated', type: 'uint32', id: 104 },
            ipv6RoutingHeaderAddresses: { rule: 'repeated', type: 'bytes', id: 105 },
            ipv6RoutingHeaderSegLeft: { type: 'uint32', id: 106 },
            timeReceivedNs: { type: 'uint64', id: 110 },
            timeFlowStartNs: { type: 'uint64', id: 111 },
            timeFlowEndNs: { type: 'uint64', id: 112 },
          },
          nested: { FlowType: { values: GOFLOW_FLOW_TYPE } },
        },
      },
    },
  },
};

/** The `flowpb.FlowMessage` type (for tools and tests; the decoder below reads fields itself). */
export const FlowMessageType = protobuf.Root.fromJSON(GOFLOW_SCHEMA).lookupType('flowpb.FlowMessage');

/** Where a Kafka record value's message boundaries are. */
export type GoflowFraming = 'delimited' | 'single';

/** One flow as {@link encodeGoflowMessage} and {@link encodeGoflowJson} write it. */
export interface GoflowFields {
  type?: 'FLOWUNKNOWN' | 'SFLOW_5' | 'NETFLOW_V5' | 'NETFLOW_V9' | 'IPFIX';
  /** When the collector received the flow, ns since the Unix epoch. */
  timeReceivedNs: bigint;
  /** The exporter's sampling interval (absent or 0: unsampled). */
  samplingRate?: number;
  /** The exporter's address as text (absent or null: none). */
  samplerAddress?: string | null;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  /** The IP protocol number. */
  proto: number;
  bytes: number;
  packets: number;
  tcpFlags: number;
  /** Flow start and end, ns since the Unix epoch (0: none, as sFlow). */
  timeFlowStartNs: bigint;
  timeFlowEndNs: bigint;
}

const F_TYPE = 1;
const F_SAMPLING_RATE = 3;
const F_SRC_ADDR = 6;
const F_DST_ADDR = 7;
const F_BYTES = 9;
const F_PACKETS = 10;
const F_SAMPLER_ADDRESS = 11;
const F_PROTO = 20;
const F_SRC_PORT = 21;
const F_DST_PORT = 22;
const F_TCP_FLAGS = 26;
const F_ETYPE = 30;
const F_TIME_RECEIVED_NS = 110;
const F_TIME_FLOW_START_NS = 111;
const F_TIME_FLOW_END_NS = 112;

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

const ETYPE_IPV4 = 0x800;
const ETYPE_IPV6 = 0x86dd;

/** A uint64 as protobufjs hands it over: a number, or a Long when long.js is installed. */
type U64 = number | { low: number; high: number };

function u64(v: U64): number {
  return typeof v === 'number' ? v : (v.high >>> 0) * 4294967296 + (v.low >>> 0);
}

/** The fields of the message being read (one, reused: the decoder is not re-entrant per value). */
class FlowScratch {
  srcOff = 0;
  srcLen = 0;
  srcAt = 0;
  dstOff = 0;
  dstLen = 0;
  dstAt = 0;
  samplingRate = 0;
  bytes = 0;
  packets = 0;
  proto = 0;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  timeReceivedNs = 0;
  timeFlowStartNs = 0;
  timeFlowEndNs = 0;
  /** Offset of the field a failure is about. */
  failAt = 0;

  reset(at: number): void {
    this.srcOff = this.srcLen = this.dstOff = this.dstLen = 0;
    this.srcAt = this.dstAt = this.failAt = at;
    this.samplingRate = this.bytes = this.packets = this.proto = this.srcPort = this.dstPort = this.tcpFlags = 0;
    this.timeReceivedNs = this.timeFlowStartNs = this.timeFlowEndNs = 0;
  }
}

const scratch = new FlowScratch();

function wireName(wt: number): string {
  return wt === WIRE_VARINT ? 'varint' : wt === WIRE_LEN ? 'length-delimited' : `wire type ${wt}`;
}

/**
 * Read the fields of the FlowMessage at `[start, end)` of the reader's buffer into `s`. Returns
 * null, or what was expected where it failed (`s.failAt`). The reader throws on a varint or length
 * that runs past `end`; the caller catches that.
 */
function readFlowFields(reader: protobuf.Reader, start: number, end: number, s: FlowScratch): string | null {
  reader.pos = start;
  reader.len = end;
  while (reader.pos < end) {
    const at = reader.pos;
    s.failAt = at;
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) return 'a field tag (field number 0 is not one)';
    switch (field) {
      case F_SRC_ADDR:
      case F_DST_ADDR: {
        if (wt !== WIRE_LEN) return `field ${field} (${field === F_SRC_ADDR ? 'src_addr' : 'dst_addr'}) as length-delimited bytes, got ${wireName(wt)}`;
        const len = reader.uint32();
        if (len > end - reader.pos) return `field ${field}: ${len} bytes of address, only ${end - reader.pos} left in the message`;
        if (field === F_SRC_ADDR) {
          s.srcOff = reader.pos;
          s.srcLen = len;
          s.srcAt = at;
        } else {
          s.dstOff = reader.pos;
          s.dstLen = len;
          s.dstAt = at;
        }
        reader.pos += len;
        break;
      }
      case F_SAMPLING_RATE:
      case F_BYTES:
      case F_PACKETS:
      case F_TIME_RECEIVED_NS:
      case F_TIME_FLOW_START_NS:
      case F_TIME_FLOW_END_NS: {
        if (wt !== WIRE_VARINT) return `field ${field} as a varint, got ${wireName(wt)}`;
        const v = u64(reader.uint64() as U64);
        if (field === F_SAMPLING_RATE) s.samplingRate = v;
        else if (field === F_BYTES) s.bytes = v;
        else if (field === F_PACKETS) s.packets = v;
        else if (field === F_TIME_RECEIVED_NS) s.timeReceivedNs = v;
        else if (field === F_TIME_FLOW_START_NS) s.timeFlowStartNs = v;
        else s.timeFlowEndNs = v;
        break;
      }
      case F_PROTO:
      case F_SRC_PORT:
      case F_DST_PORT:
      case F_TCP_FLAGS: {
        if (wt !== WIRE_VARINT) return `field ${field} as a varint, got ${wireName(wt)}`;
        const v = reader.uint32();
        if (field === F_PROTO) {
          if (v > 255) return `proto (field 20) as a protocol number 0-255, got ${v}`;
          s.proto = v;
        } else if (field === F_TCP_FLAGS) {
          if (v > 0xffff) return `tcp_flags (field 26) as flags 0-65535, got ${v}`;
          s.tcpFlags = v & 0xff;
        } else {
          if (v > 65535) return `${field === F_SRC_PORT ? 'src_port' : 'dst_port'} (field ${field}) as a port 0-65535, got ${v}`;
          if (field === F_SRC_PORT) s.srcPort = v;
          else s.dstPort = v;
        }
        break;
      }
      default:
        reader.skipType(wt, 0, field);
    }
  }
  if (reader.pos !== end) {
    s.failAt = end;
    return 'fields that end where the message ends';
  }
  s.failAt = start;
  if (s.samplingRate > 4294967295) return `sampling_rate (field 3) as 0-4294967295, got ${s.samplingRate}`;
  return null;
}

/** Text of the address at `[off, off + len)`, or null when it is not 4 or 16 bytes. Sets {@link addrIsV4}. */
let addrIsV4 = false;
function addressText(b: Uint8Array, off: number, len: number): string | null {
  if (len === 4) {
    addrIsV4 = true;
    return formatIpv4(((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0);
  }
  if (len !== 16) return null;
  let mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[off + i] !== 0) mapped = false;
  addrIsV4 = mapped;
  return formatIpv6(b, off);
}

/**
 * Epoch ns (a number, so within 256 ns of the wire value) as ms to the microsecond, as the JSON
 * path reads them: whole milliseconds stay whole.
 */
function nsToMs(ns: number): number {
  return Math.round(ns / 1e3) / 1e3;
}

function flowRecord(b: Uint8Array, s: FlowScratch): ExportFlowInput | string {
  const src = addressText(b, s.srcOff, s.srcLen);
  if (src === null) {
    s.failAt = s.srcAt;
    return `src_addr (field 6) of 4 or 16 bytes, got ${s.srcLen}`;
  }
  const srcV4 = addrIsV4;
  const dst = addressText(b, s.dstOff, s.dstLen);
  if (dst === null) {
    s.failAt = s.dstAt;
    return `dst_addr (field 7) of 4 or 16 bytes, got ${s.dstLen}`;
  }
  if (srcV4 !== addrIsV4) {
    s.failAt = s.dstAt;
    return `src_addr and dst_addr of one address family, got ${src} and ${dst}`;
  }
  const recvMs = nsToMs(s.timeReceivedNs);
  const firstMs = s.timeFlowStartNs === 0 ? recvMs : nsToMs(s.timeFlowStartNs);
  const lastMs = s.timeFlowEndNs === 0 ? recvMs : nsToMs(s.timeFlowEndNs);
  return {
    ipVersion: srcV4 ? 4 : 6,
    srcAddr: src,
    dstAddr: dst,
    srcPort: s.srcPort,
    dstPort: s.dstPort,
    protocol: s.proto,
    tcpFlags: s.tcpFlags,
    packets: s.packets,
    bytes: s.bytes,
    reversePackets: 0,
    reverseBytes: 0,
    firstMs,
    lastMs,
    // GoFlow2 leaves counters unscaled and reports the rate.
    sampling: s.samplingRate > 1 ? s.samplingRate : 1,
  };
}

/**
 * Decode the FlowMessage at `[start, end)` and deliver it; false when it was malformed (reported).
 * The callback runs outside the try, so an exception of the caller's is not mistaken for bad input.
 */
function decodeOne(reader: protobuf.Reader, value: Uint8Array, start: number, end: number, onRecord: (r: ExportFlowInput) => void, onBad: (offset: number, expected: string) => void): boolean {
  const s = scratch;
  s.reset(start);
  let why: string | null;
  try {
    why = readFlowFields(reader, start, end, s);
  } catch (e) {
    why = `a FlowMessage field that fits in the message (${e instanceof Error ? e.message : String(e)})`;
  }
  const r = why === null ? flowRecord(value, s) : why;
  if (typeof r === 'string') {
    onBad(s.failAt, r);
    return false;
  }
  onRecord(r);
  return true;
}

/**
 * Decode the FlowMessage(s) in one Kafka record value. 'delimited': one or more
 * varint-length-prefixed messages (GoFlow2 -format=bin); 'single': one message, no prefix. Calls
 * `onRecord` per flow message that is TCP/UDP/other with valid addresses (the flow table counts
 * non-TCP/UDP itself), `onBad(offset, expected)` for a malformed one (bad varint, length past the
 * end, message that does not decode, address of a wrong length) and stops at the first malformed
 * framing. Returns the number of records delivered. Never throws on any input bytes. Bounded:
 * refuses a declared message length above {@link GOFLOW_MAX_MESSAGE} (64 KiB).
 */
export function decodeGoflowMessages(value: Uint8Array, framing: GoflowFraming, onRecord: (r: ExportFlowInput) => void, onBad: (offset: number, expected: string) => void): number {
  const total = value.length;
  const reader = protobuf.Reader.create(value);
  if (framing === 'single') {
    if (total > GOFLOW_MAX_MESSAGE) {
      onBad(0, `a FlowMessage of at most ${GOFLOW_MAX_MESSAGE} bytes, got ${total}`);
      return 0;
    }
    return decodeOne(reader, value, 0, total, onRecord, onBad) ? 1 : 0;
  }
  let delivered = 0;
  let pos = 0;
  while (pos < total) {
    let len: number;
    reader.pos = pos;
    reader.len = total;
    try {
      len = reader.uint32();
    } catch {
      onBad(pos, 'a varint message length (it runs past the end of the record)');
      return delivered;
    }
    // Three varint bytes hold up to 2^21 - 1; a longer prefix declares more than any message allowed.
    if (reader.pos - pos > 3 || len > GOFLOW_MAX_MESSAGE) {
      onBad(pos, `a varint message length up to ${GOFLOW_MAX_MESSAGE} bytes`);
      return delivered;
    }
    const start = reader.pos;
    if (len > total - start) {
      onBad(pos, `a ${len}-byte FlowMessage, only ${total - start} bytes left in the record`);
      return delivered;
    }
    if (decodeOne(reader, value, start, start + len, onRecord, onBad)) delivered++;
    pos = start + len;
  }
  return delivered;
}

const utf8 = new TextDecoder('utf-8');

/**
 * Decode GoFlow2 JSON messages in one Kafka record value (one JSON object, or several
 * newline-separated), with the same contract as {@link decodeGoflowMessages}: `onRecord` per good
 * flow, `onBad(offset of the line, expected)` per bad one; lines over 64 KiB are refused unread.
 * A flow `onRecord` refuses (returns false: its address text is no address the flow table reads)
 * is a bad one too.
 */
export function decodeGoflowJson(value: Uint8Array, onRecord: (r: ExportFlowInput) => boolean | void, onBad: (offset: number, expected: string) => void): number {
  const max = Math.min(GOFLOW_MAX_MESSAGE, TEXT_LINE_MAX_BYTES);
  let delivered = 0;
  let pos = 0;
  while (pos < value.length) {
    let nl = value.indexOf(0x0a, pos);
    if (nl < 0) nl = value.length;
    const start = pos;
    pos = nl + 1;
    if (nl - start > max) {
      onBad(start, `a JSON flow message of at most ${max} bytes, got ${nl - start}`);
      continue;
    }
    const text = utf8.decode(value.subarray(start, nl)).trim();
    if (text === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      onBad(start, `a JSON object, got ${JSON.stringify(text.slice(0, 40))}`);
      continue;
    }
    const got = readJsonFlowObject(o);
    if (!got.ok) {
      onBad(start, `a flow object (${got.why})`);
      continue;
    }
    if (onRecord(got.value) === false) {
      onBad(start, `a flow object (${ADDRESSES_EXPECTED})`);
      continue;
    }
    delivered++;
  }
  return delivered;
}

/** An address as wire bytes: 4 for IPv4, 16 for IPv6. @throws RangeError when it is not an address. */
function addressBytes(text: string, what: string): Uint8Array {
  const v4 = ipv4ToInt(text);
  if (v4 >= 0) return new Uint8Array([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]);
  const out = new Uint8Array(16);
  if (text.includes(':') && parseIpv6Text(text, out)) return out;
  throw new RangeError(`${what}: expected an IPv4 or IPv6 address like 198.51.100.7 or 2001:db8::1, got ${JSON.stringify(text.slice(0, 60))}`);
}

function canonicalText(b: Uint8Array): string {
  return b.length === 4 ? formatIpv4(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) : formatIpv6(b);
}

function bigintU64(v: bigint, what: string): { low: number; high: number } {
  if (v < 0n || v >= 1n << 64n) throw new RangeError(`${what}: expected 0 to 2^64-1, got ${v}`);
  return { low: Number(v & 0xffffffffn), high: Number(v >> 32n) };
}

function checkUnsigned(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what}: expected a whole number 0-${max}, got ${v}`);
  return v;
}

/**
 * Encode one (unidirectional) flow as a FlowMessage, varint-length-delimited as GoFlow2
 * -format=bin writes it (etype set from the address family: 0x800 / 0x86dd). Fields are written in
 * field-number order and zero values are left out, as Go's proto3 marshalling does.
 * @throws RangeError when an address is not one, or a number is out of its field's range.
 */
export function encodeGoflowMessage(f: GoflowFields): Uint8Array {
  const src = addressBytes(f.srcAddr, 'srcAddr');
  const dst = addressBytes(f.dstAddr, 'dstAddr');
  if (src.length !== dst.length) throw new RangeError(`srcAddr and dstAddr: expected one address family, got ${f.srcAddr} and ${f.dstAddr}`);
  const sampler = f.samplerAddress ? addressBytes(f.samplerAddress, 'samplerAddress') : null;
  const type = GOFLOW_FLOW_TYPE[f.type ?? 'FLOWUNKNOWN'];
  const sampling = checkUnsigned(f.samplingRate ?? 0, 4294967295, 'samplingRate');
  const proto = checkUnsigned(f.proto, 255, 'proto');
  const srcPort = checkUnsigned(f.srcPort, 65535, 'srcPort');
  const dstPort = checkUnsigned(f.dstPort, 65535, 'dstPort');
  const tcpFlags = checkUnsigned(f.tcpFlags, 0xffff, 'tcpFlags');
  const bytes = checkUnsigned(f.bytes, Number.MAX_SAFE_INTEGER, 'bytes');
  const packets = checkUnsigned(f.packets, Number.MAX_SAFE_INTEGER, 'packets');
  const received = bigintU64(f.timeReceivedNs, 'timeReceivedNs');
  const start = bigintU64(f.timeFlowStartNs, 'timeFlowStartNs');
  const end = bigintU64(f.timeFlowEndNs, 'timeFlowEndNs');
  const w = protobuf.Writer.create();
  w.fork();
  if (type !== 0) w.uint32((F_TYPE << 3) | WIRE_VARINT).uint32(type);
  if (sampling !== 0) w.uint32((F_SAMPLING_RATE << 3) | WIRE_VARINT).uint64(sampling);
  w.uint32((F_SRC_ADDR << 3) | WIRE_LEN).bytes(src);
  w.uint32((F_DST_ADDR << 3) | WIRE_LEN).bytes(dst);
  if (bytes !== 0) w.uint32((F_BYTES << 3) | WIRE_VARINT).uint64(bytes);
  if (packets !== 0) w.uint32((F_PACKETS << 3) | WIRE_VARINT).uint64(packets);
  if (sampler) w.uint32((F_SAMPLER_ADDRESS << 3) | WIRE_LEN).bytes(sampler);
  if (proto !== 0) w.uint32((F_PROTO << 3) | WIRE_VARINT).uint32(proto);
  if (srcPort !== 0) w.uint32((F_SRC_PORT << 3) | WIRE_VARINT).uint32(srcPort);
  if (dstPort !== 0) w.uint32((F_DST_PORT << 3) | WIRE_VARINT).uint32(dstPort);
  if (tcpFlags !== 0) w.uint32((F_TCP_FLAGS << 3) | WIRE_VARINT).uint32(tcpFlags);
  w.uint32((F_ETYPE << 3) | WIRE_VARINT).uint32(src.length === 4 ? ETYPE_IPV4 : ETYPE_IPV6);
  // protobufjs takes a { low, high } pair for a uint64 beyond 2^53.
  if (f.timeReceivedNs !== 0n) w.uint32((F_TIME_RECEIVED_NS << 3) | WIRE_VARINT).uint64(received as unknown as number);
  if (f.timeFlowStartNs !== 0n) w.uint32((F_TIME_FLOW_START_NS << 3) | WIRE_VARINT).uint64(start as unknown as number);
  if (f.timeFlowEndNs !== 0n) w.uint32((F_TIME_FLOW_END_NS << 3) | WIRE_VARINT).uint64(end as unknown as number);
  w.ldelim();
  return w.finish();
}

/**
 * The same flow as GoFlow2 -format=json renders it: one JSON object, snake_case keys, addresses
 * as text, `proto` and `etype` as numbers, times as integer ns.
 * @throws RangeError as {@link encodeGoflowMessage}.
 */
export function encodeGoflowJson(f: GoflowFields): string {
  const src = addressBytes(f.srcAddr, 'srcAddr');
  const dst = addressBytes(f.dstAddr, 'dstAddr');
  if (src.length !== dst.length) throw new RangeError(`srcAddr and dstAddr: expected one address family, got ${f.srcAddr} and ${f.dstAddr}`);
  // Addresses in the decoder's canonical text, as GoFlow2 prints them from the bytes.
  const srcText = canonicalText(src);
  const dstText = canonicalText(dst);
  const samplerText = f.samplerAddress ? canonicalText(addressBytes(f.samplerAddress, 'samplerAddress')) : '';
  bigintU64(f.timeReceivedNs, 'timeReceivedNs');
  bigintU64(f.timeFlowStartNs, 'timeFlowStartNs');
  bigintU64(f.timeFlowEndNs, 'timeFlowEndNs');
  // Built by hand: the ns times are 64-bit integers JSON.stringify cannot write exactly.
  return (
    `{"type":${JSON.stringify(f.type ?? 'FLOWUNKNOWN')},"time_received_ns":${f.timeReceivedNs}` +
    `,"sampling_rate":${checkUnsigned(f.samplingRate ?? 0, 4294967295, 'samplingRate')},"sampler_address":${JSON.stringify(samplerText)}` +
    `,"time_flow_start_ns":${f.timeFlowStartNs},"time_flow_end_ns":${f.timeFlowEndNs}` +
    `,"bytes":${checkUnsigned(f.bytes, Number.MAX_SAFE_INTEGER, 'bytes')},"packets":${checkUnsigned(f.packets, Number.MAX_SAFE_INTEGER, 'packets')}` +
    `,"src_addr":${JSON.stringify(srcText)},"dst_addr":${JSON.stringify(dstText)},"etype":${src.length === 4 ? ETYPE_IPV4 : ETYPE_IPV6}` +
    `,"proto":${checkUnsigned(f.proto, 255, 'proto')},"src_port":${checkUnsigned(f.srcPort, 65535, 'srcPort')},"dst_port":${checkUnsigned(f.dstPort, 65535, 'dstPort')}` +
    `,"tcp_flags":${checkUnsigned(f.tcpFlags, 0xffff, 'tcpFlags')}}`
  );
}
