/**
 * Deterministic builders for packets and capture files, used by the fixture generator and by
 * tests. Every function is pure: the same arguments always give the same bytes, and nothing reads
 * the clock or a random source.
 */
import { mulberry32 } from './random.js';

const textEncoder = new TextEncoder();

/** TCP header flag bits. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
} as const;

/** IANA protocol numbers used by the builders (IPv4 protocol / IPv6 next header). */
export const IpProto = {
  HOP_BY_HOP: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  NO_NEXT_HEADER: 59,
  DESTINATION_OPTIONS: 60,
} as const;

/** Link-layer header types (tcpdump.org LINKTYPE_* values) written into capture files. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Which end of a conversation sent a packet. */
export type Peer = 'client' | 'server';

/** One IP packet with its capture time (ms since the Unix epoch, fractional part allowed). */
export interface TimedPacket {
  ts: number;
  ip: Uint8Array;
  from: Peer;
}

/** IPv6 extension header types the builder can encode. */
export type Ipv6ExtHeaderType = 0 | 43 | 44 | 60;

/** One IPv6 extension header; `body` is everything after the next-header and length octets. */
export interface Ipv6ExtHeader {
  type: Ipv6ExtHeaderType;
  body?: Uint8Array;
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** UTF-8 bytes of a string; byte arrays pass through unchanged. */
export function utf8(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? textEncoder.encode(data) : data;
}

/** Parses dotted-quad IPv4 text into 4 bytes; throws on anything else. */
export function parseIpv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${text}`);
  const out = new Uint8Array(4);
  parts.forEach((part, i) => {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) throw new Error(`not an IPv4 address: ${text}`);
    out[i] = Number(part);
  });
  return out;
}

/**
 * Parses IPv6 text into 16 bytes. Handles `::` compression (including leading and trailing) and
 * a trailing embedded IPv4 address (`::ffff:192.0.2.1`); throws on anything else.
 */
export function parseIpv6(text: string): Uint8Array {
  const fail = (): never => {
    throw new Error(`not an IPv6 address: ${text}`);
  };
  const halves = text.split('::');
  if (halves.length > 2) fail();
  const parseGroups = (part: string | undefined): number[] => {
    if (part === undefined || part === '') return [];
    const groups: number[] = [];
    const fields = part.split(':');
    fields.forEach((field, i) => {
      if (i === fields.length - 1 && field.includes('.')) {
        const v4 = parseIpv4(field);
        groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        return;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(field)) fail();
      groups.push(parseInt(field, 16));
    });
    return groups;
  };
  const head = parseGroups(halves[0]);
  const tail = parseGroups(halves[1]);
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) fail();
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) fail();
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address (IPv6 when the text contains a colon). */
export function parseIp(text: string): Uint8Array {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

/** The Internet checksum (RFC 1071) over the concatenation of `parts`. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const part of parts) {
    for (const byte of part) {
      if (odd === undefined) {
        odd = byte;
      } else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Source and destination addresses for a TCP/UDP checksum pseudo header. */
export interface PseudoHeaderAddresses {
  src: string;
  dst: string;
}

function pseudoHeader(addresses: PseudoHeaderAddresses, proto: number, length: number): Uint8Array {
  const src = parseIp(addresses.src);
  const dst = parseIp(addresses.dst);
  if (src.length !== dst.length) throw new Error('pseudo header mixes IPv4 and IPv6 addresses');
  if (src.length === 4) {
    const tail = new Uint8Array([0, proto, length >> 8, length & 0xff]);
    return concatBytes(src, dst, tail);
  }
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, length);
  tail[7] = proto;
  return concatBytes(src, dst, tail);
}

/** Options for {@link ipv4}. */
export interface Ipv4BuildOptions {
  /** Identification field (default 0). */
  id?: number;
  /** Time to live (default 64). */
  ttl?: number;
  /** Type of service / DSCP+ECN byte (default 0). */
  tos?: number;
  /** Raw IP options; zero-padded (End of Option List) to a multiple of 4 bytes. */
  options?: Uint8Array;
  /** Fragment offset in 8-byte units. */
  fragOffset8?: number;
  /** Sets the More Fragments flag. */
  moreFragments?: boolean;
  /** Sets the Don't Fragment flag. */
  dontFragment?: boolean;
}

/** A complete IPv4 packet with correct total length and header checksum. */
export function ipv4(src: string, dst: string, proto: number, payload: Uint8Array, opts: Ipv4BuildOptions = {}): Uint8Array {
  const rawOptions = opts.options ?? new Uint8Array(0);
  const optionsLength = Math.ceil(rawOptions.length / 4) * 4;
  const headerLength = 20 + optionsLength;
  if (headerLength > 60) throw new Error('IPv4 options longer than 40 bytes');
  const totalLength = headerLength + payload.length;
  if (totalLength > 0xffff) throw new Error('IPv4 packet longer than 65535 bytes');
  const packet = new Uint8Array(totalLength);
  const view = new DataView(packet.buffer);
  view.setUint8(0, 0x40 | (headerLength / 4));
  view.setUint8(1, opts.tos ?? 0);
  view.setUint16(2, totalLength);
  view.setUint16(4, (opts.id ?? 0) & 0xffff);
  const fragOffset8 = opts.fragOffset8 ?? 0;
  if (fragOffset8 < 0 || fragOffset8 > 0x1fff) throw new Error('IPv4 fragment offset out of range');
  view.setUint16(6, (opts.dontFragment ? 0x4000 : 0) | (opts.moreFragments ? 0x2000 : 0) | fragOffset8);
  view.setUint8(8, opts.ttl ?? 64);
  view.setUint8(9, proto);
  packet.set(parseIpv4(src), 12);
  packet.set(parseIpv4(dst), 16);
  packet.set(rawOptions, 20);
  view.setUint16(10, internetChecksum(packet.subarray(0, headerLength)));
  packet.set(payload, headerLength);
  return packet;
}

function padOptionsTo8(content: Uint8Array): Uint8Array {
  // Hop-by-hop and destination options: fill with Pad1 / PadN so the header stays well-formed.
  const remainder = (8 - ((2 + content.length) % 8)) % 8;
  if (remainder === 0) return content;
  const padding = remainder === 1 ? new Uint8Array([0]) : new Uint8Array([1, remainder - 2, ...new Array<number>(remainder - 2).fill(0)]);
  return concatBytes(content, padding);
}

function encodeExtHeader(header: Ipv6ExtHeader, next: number, dst: Uint8Array): Uint8Array {
  if (header.type === 44) {
    const body = header.body ?? new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1]).subarray(2);
    if (body.length !== 6) throw new Error('IPv6 fragment header body must be 6 bytes');
    return concatBytes(new Uint8Array([next, 0]), body);
  }
  let body: Uint8Array;
  if (header.type === 43) {
    // Default: a segment routing header (type 4) with segments left 0 whose only segment is the destination.
    body = header.body ?? concatBytes(new Uint8Array([4, 0, 0, 0, 0, 0]), dst);
    const remainder = (8 - ((2 + body.length) % 8)) % 8;
    body = concatBytes(body, new Uint8Array(remainder));
  } else {
    // Default: a single PadN option filling the 8-octet header.
    body = padOptionsTo8(header.body ?? new Uint8Array([1, 4, 0, 0, 0, 0]));
  }
  const total = 2 + body.length;
  return concatBytes(new Uint8Array([next, total / 8 - 1]), body);
}

/** Options for {@link ipv6}. */
export interface Ipv6BuildOptions {
  /** Extension headers in wire order, between the fixed header and the upper-layer payload. */
  extHeaders?: Ipv6ExtHeader[];
  /** Hop limit (default 64). */
  hopLimit?: number;
  /** 20-bit flow label (default 0). */
  flowLabel?: number;
  /** Traffic class (default 0). */
  trafficClass?: number;
}

/**
 * A complete IPv6 packet. Extension headers are chained in the given order, each naming the next,
 * the last naming `nextHeader`; the payload length covers extension headers and payload.
 */
export function ipv6(src: string, dst: string, nextHeader: number, payload: Uint8Array, opts: Ipv6BuildOptions = {}): Uint8Array {
  const dstBytes = parseIpv6(dst);
  const extHeaders = opts.extHeaders ?? [];
  const encoded = extHeaders.map((header, i) => encodeExtHeader(header, extHeaders[i + 1]?.type ?? nextHeader, dstBytes));
  const body = concatBytes(...encoded, payload);
  if (body.length > 0xffff) throw new Error('IPv6 payload longer than 65535 bytes');
  const header = new Uint8Array(40);
  const view = new DataView(header.buffer);
  const trafficClass = opts.trafficClass ?? 0;
  view.setUint32(0, ((6 << 28) | (trafficClass << 20) | ((opts.flowLabel ?? 0) & 0xfffff)) >>> 0);
  view.setUint16(4, body.length);
  view.setUint8(6, extHeaders[0]?.type ?? nextHeader);
  view.setUint8(7, opts.hopLimit ?? 64);
  header.set(parseIpv6(src), 8);
  header.set(dstBytes, 24);
  return concatBytes(header, body);
}

/** Options for {@link tcp}. */
export interface TcpBuildOptions {
  /** Receive window (default 64240). */
  window?: number;
  /** Raw TCP options; zero-padded to a multiple of 4 bytes. */
  options?: Uint8Array;
  /** When given, the checksum is computed over this pseudo header; otherwise it is left 0. */
  pseudo?: PseudoHeaderAddresses;
}

/** A TCP segment (header + payload). Flags are {@link TcpFlag} bits ORed together. */
export function tcp(
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  flags: number,
  payload: Uint8Array,
  opts: TcpBuildOptions = {},
): Uint8Array {
  const rawOptions = opts.options ?? new Uint8Array(0);
  const optionsLength = Math.ceil(rawOptions.length / 4) * 4;
  const headerLength = 20 + optionsLength;
  if (headerLength > 60) throw new Error('TCP options longer than 40 bytes');
  const segment = new Uint8Array(headerLength + payload.length);
  const view = new DataView(segment.buffer);
  view.setUint16(0, srcPort);
  view.setUint16(2, dstPort);
  view.setUint32(4, seq >>> 0);
  view.setUint32(8, ack >>> 0);
  view.setUint8(12, (headerLength / 4) << 4);
  view.setUint8(13, flags & 0xff);
  view.setUint16(14, opts.window ?? 64240);
  segment.set(rawOptions, 20);
  segment.set(payload, headerLength);
  if (opts.pseudo) view.setUint16(16, internetChecksum(pseudoHeader(opts.pseudo, IpProto.TCP, segment.length), segment));
  return segment;
}

/** Options for {@link udp}. */
export interface UdpBuildOptions {
  /** When given, the checksum is computed over this pseudo header; otherwise it is left 0. */
  pseudo?: PseudoHeaderAddresses;
}

/** A UDP datagram (header + payload). */
export function udp(srcPort: number, dstPort: number, payload: Uint8Array, opts: UdpBuildOptions = {}): Uint8Array {
  const datagram = new Uint8Array(8 + payload.length);
  const view = new DataView(datagram.buffer);
  view.setUint16(0, srcPort);
  view.setUint16(2, dstPort);
  view.setUint16(4, datagram.length);
  datagram.set(payload, 8);
  if (opts.pseudo) {
    const sum = internetChecksum(pseudoHeader(opts.pseudo, IpProto.UDP, datagram.length), datagram);
    view.setUint16(6, sum === 0 ? 0xffff : sum);
  }
  return datagram;
}

function ipVersionOf(ip: Uint8Array): 4 | 6 {
  const version = (ip[0] ?? 0) >> 4;
  if (version !== 4 && version !== 6) throw new Error(`not an IP packet (version nibble ${version})`);
  return version;
}

function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${text}`);
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

/** Options for {@link ethernet}. */
export interface EthernetOptions {
  /** VLAN ids, outer first. With 2+ tags the outer one uses TPID 0x88a8 (QinQ), the rest 0x8100. */
  vlans?: number[];
  /** MPLS label stack, top first; the bottom-of-stack bit is set on the last entry. */
  mpls?: number[];
  /** Wrap the packet in a PPPoE session frame (ethertype 0x8864). */
  pppoe?: { session: number };
  /** Destination MAC (default 02:00:00:00:00:02). */
  dstMac?: string;
  /** Source MAC (default 02:00:00:00:00:01). */
  srcMac?: string;
  /** Zero-pad the frame to the 60-byte Ethernet minimum (as NICs do on the wire). */
  padToMinimum?: boolean;
}

/** An Ethernet II frame (no FCS) carrying an IP packet, optionally behind VLAN tags and MPLS or PPPoE. */
export function ethernet(ip: Uint8Array, opts: EthernetOptions = {}): Uint8Array {
  const version = ipVersionOf(ip);
  if (opts.mpls && opts.pppoe) throw new Error('ethernet: choose MPLS or PPPoE, not both');
  let innerType: number;
  let inner: Uint8Array;
  if (opts.mpls && opts.mpls.length > 0) {
    const stack = new Uint8Array(4 * opts.mpls.length);
    const view = new DataView(stack.buffer);
    opts.mpls.forEach((label, i) => {
      const bottom = i === opts.mpls!.length - 1 ? 1 : 0;
      view.setUint32(4 * i, (((label & 0xfffff) << 12) | (bottom << 8) | 64) >>> 0);
    });
    innerType = 0x8847;
    inner = concatBytes(stack, ip);
  } else if (opts.pppoe) {
    const header = new Uint8Array(8);
    const view = new DataView(header.buffer);
    view.setUint8(0, 0x11);
    view.setUint8(1, 0x00);
    view.setUint16(2, opts.pppoe.session);
    view.setUint16(4, ip.length + 2);
    view.setUint16(6, version === 4 ? 0x0021 : 0x0057);
    innerType = 0x8864;
    inner = concatBytes(header, ip);
  } else {
    innerType = version === 4 ? 0x0800 : 0x86dd;
    inner = ip;
  }
  const vlans = opts.vlans ?? [];
  const header = new Uint8Array(14 + 4 * vlans.length);
  const view = new DataView(header.buffer);
  header.set(parseMac(opts.dstMac ?? '02:00:00:00:00:02'), 0);
  header.set(parseMac(opts.srcMac ?? '02:00:00:00:00:01'), 6);
  vlans.forEach((vlan, i) => {
    const tpid = i === 0 && vlans.length >= 2 ? 0x88a8 : 0x8100;
    view.setUint16(12 + 4 * i, tpid);
    view.setUint16(14 + 4 * i, vlan & 0x0fff);
  });
  view.setUint16(12 + 4 * vlans.length, innerType);
  const frame = concatBytes(header, inner);
  if (opts.padToMinimum && frame.length < 60) return concatBytes(frame, new Uint8Array(60 - frame.length));
  return frame;
}

/** Options for the Linux cooked-capture builders. */
export interface CookedOptions {
  /** Packet sent by this host (packet type 4, PACKET_OUTGOING) rather than received (0, PACKET_HOST). */
  outgoing?: boolean;
  /** Link-layer address recorded in the header (default 02:00:00:00:00:01). */
  mac?: string;
  /** Interface index (SLL2 only, default 2). */
  ifindex?: number;
}

/** A Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 16-byte header) record carrying an IP packet. */
export function sll(ip: Uint8Array, opts: CookedOptions = {}): Uint8Array {
  const version = ipVersionOf(ip);
  const header = new Uint8Array(16);
  const view = new DataView(header.buffer);
  view.setUint16(0, opts.outgoing ? 4 : 0);
  view.setUint16(2, 1); // ARPHRD_ETHER
  view.setUint16(4, 6);
  header.set(parseMac(opts.mac ?? '02:00:00:00:00:01'), 6);
  view.setUint16(14, version === 4 ? 0x0800 : 0x86dd);
  return concatBytes(header, ip);
}

/** A Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 20-byte header) record carrying an IP packet. */
export function sll2(ip: Uint8Array, opts: CookedOptions = {}): Uint8Array {
  const version = ipVersionOf(ip);
  const header = new Uint8Array(20);
  const view = new DataView(header.buffer);
  view.setUint16(0, version === 4 ? 0x0800 : 0x86dd);
  view.setUint16(2, 0);
  view.setUint32(4, opts.ifindex ?? 2);
  view.setUint16(8, 1); // ARPHRD_ETHER
  view.setUint8(10, opts.outgoing ? 4 : 0);
  view.setUint8(11, 6);
  header.set(parseMac(opts.mac ?? '02:00:00:00:00:01'), 12);
  return concatBytes(header, ip);
}

/**
 * A BSD loopback (LINKTYPE_NULL) record: a 4-byte address family in the writer's byte order
 * (2 = AF_INET; 30 = AF_INET6 as on macOS) followed by the IP packet.
 */
export function nullLoopback(ip: Uint8Array, littleEndian = true): Uint8Array {
  const family = ipVersionOf(ip) === 4 ? 2 : 30;
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, family, littleEndian);
  return concatBytes(header, ip);
}

class ByteSink {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(private readonly littleEndian: boolean) {}

  get length(): number {
    return this.size;
  }

  bytes(data: Uint8Array): this {
    this.chunks.push(data);
    this.size += data.length;
    return this;
  }

  u8(value: number): this {
    return this.bytes(new Uint8Array([value & 0xff]));
  }

  u16(value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value & 0xffff, this.littleEndian);
    return this.bytes(b);
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, this.littleEndian);
    return this.bytes(b);
  }

  i32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, this.littleEndian);
    return this.bytes(b);
  }

  u64(value: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), this.littleEndian);
    return this.bytes(b);
  }

  pad4(): this {
    const remainder = (4 - (this.size % 4)) % 4;
    return this.bytes(new Uint8Array(remainder));
  }

  finish(): Uint8Array {
    return concatBytes(...this.chunks);
  }
}

/**
 * Nanoseconds since the epoch for a millisecond timestamp, rounded to the nearest nanosecond.
 * A double near 1.7e12 ms resolves only ~0.24 µs, so sub-microsecond digits are approximate
 * (use binary fractions such as 0.25 ms when an exact nanosecond value matters).
 */
export function msToEpochNanos(ts: number): bigint {
  if (!Number.isFinite(ts) || ts < 0) throw new Error(`bad timestamp ${ts}`);
  let ms = Math.floor(ts);
  let fractionNs = Math.round((ts - ms) * 1e6);
  if (fractionNs >= 1e6) {
    ms += 1;
    fractionNs -= 1e6;
  }
  return BigInt(ms) * 1_000_000n + BigInt(fractionNs);
}

/** One record for {@link pcapFile}. */
export interface PcapRecord {
  /** Capture time, ms since the Unix epoch (fractional part allowed). */
  ts: number;
  /** The link-layer frame. */
  data: Uint8Array;
  /** Original length on the wire (default `data.length`). */
  origLen?: number;
}

/** Options for {@link pcapFile}. */
export interface PcapFileOptions {
  /** Nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds (0xa1b2c3d4). */
  nanos?: boolean;
  /** Write every field big-endian (default little-endian). */
  bigEndian?: boolean;
  /** Snapshot length in the global header (default 262144); records are cut to it. */
  snaplen?: number;
}

/** A classic libpcap 2.4 file. Each record's captured length is min(frame length, snaplen). */
export function pcapFile(linktype: number, packets: PcapRecord[], opts: PcapFileOptions = {}): Uint8Array {
  const snaplen = opts.snaplen ?? 262144;
  const sink = new ByteSink(!opts.bigEndian);
  sink.u32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).i32(0).u32(0).u32(snaplen).u32(linktype);
  for (const packet of packets) {
    const nanos = msToEpochNanos(packet.ts);
    const seconds = nanos / 1_000_000_000n;
    const fractionNs = nanos % 1_000_000_000n;
    let sub = opts.nanos ? Number(fractionNs) : Math.round(Number(fractionNs) / 1000);
    let secs = Number(seconds);
    if (!opts.nanos && sub >= 1_000_000) {
      secs += 1;
      sub -= 1_000_000;
    }
    const caplen = Math.min(packet.data.length, snaplen);
    sink.u32(secs).u32(sub).u32(caplen).u32(packet.origLen ?? packet.data.length);
    sink.bytes(packet.data.subarray(0, caplen));
  }
  return sink.finish();
}

/** One interface description for a pcapng section. */
export interface PcapngInterface {
  linktype: number;
  /** Value of the if_tsresol option (decimal exponent: 6 = µs, 9 = ns). Omitted → no option, µs. */
  tsresol?: number;
  /** Snapshot length (default 0 = unlimited); packets are cut to it. */
  snaplen?: number;
}

/** One packet for a pcapng section. */
export interface PcapngPacket {
  /** Interface index within the section. */
  iface: number;
  /** Capture time, ms since the Unix epoch (ignored for simple packet blocks, which carry none). */
  ts: number;
  data: Uint8Array;
  /** Write a Simple Packet Block instead of an Enhanced Packet Block (interface 0 only). */
  simple?: boolean;
  /** Original length on the wire (EPB only; default `data.length`). */
  origLen?: number;
  /** Attach an opt_comment option (EPB only). */
  comment?: string;
}

/** One section (SHB and everything up to the next SHB) for {@link pcapngFile}. */
export interface PcapngSection {
  bigEndian?: boolean;
  interfaces: PcapngInterface[];
  packets: PcapngPacket[];
  /** Insert a custom block (type 0x00000BAD, 8-byte body) after the section's first packet. */
  unknownBlocks?: boolean;
}

/** Private Enterprise Number reserved for documentation (RFC 5612), used in custom blocks. */
const DOCUMENTATION_PEN = 32473;

function pcapngBlock(littleEndian: boolean, type: number, body: (sink: ByteSink) => void): Uint8Array {
  const inner = new ByteSink(littleEndian);
  body(inner);
  inner.pad4();
  const content = inner.finish();
  const total = content.length + 12;
  return new ByteSink(littleEndian).u32(type).u32(total).bytes(content).u32(total).finish();
}

function writeOption(sink: ByteSink, code: number, value: Uint8Array): void {
  sink.u16(code).u16(value.length).bytes(value).pad4();
}

function pcapngTicks(ts: number, tsresol: number): bigint {
  if (tsresol & 0x80) throw new Error('binary if_tsresol values are not supported by the builder');
  const nanos = msToEpochNanos(ts);
  const unitsPerSecond = 10n ** BigInt(tsresol);
  return (nanos * unitsPerSecond + 500_000_000n) / 1_000_000_000n;
}

/**
 * A pcapng file: per section an SHB (section length -1), one IDB per interface, then EPBs/SPBs in
 * the given order. Every block carries its total length at both ends and is padded to 32 bits.
 */
export function pcapngFile(sections: PcapngSection[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const section of sections) {
    const le = !section.bigEndian;
    blocks.push(
      pcapngBlock(le, 0x0a0d0d0a, (sink) => {
        sink.u32(0x1a2b3c4d).u16(1).u16(0).u64(-1n);
        writeOption(sink, 4, utf8('minerwatch test builders')); // shb_userappl
        sink.u16(0).u16(0);
      }),
    );
    for (const iface of section.interfaces) {
      blocks.push(
        pcapngBlock(le, 0x00000001, (sink) => {
          sink.u16(iface.linktype).u16(0).u32(iface.snaplen ?? 0);
          if (iface.tsresol !== undefined) writeOption(sink, 9, new Uint8Array([iface.tsresol]));
          sink.u16(0).u16(0);
        }),
      );
    }
    section.packets.forEach((packet, index) => {
      const iface = section.interfaces[packet.iface];
      if (!iface) throw new Error(`pcapng packet refers to missing interface ${packet.iface}`);
      const snaplen = iface.snaplen ?? 0;
      const caplen = snaplen > 0 ? Math.min(snaplen, packet.data.length) : packet.data.length;
      if (packet.simple) {
        if (packet.iface !== 0) throw new Error('simple packet blocks can only belong to interface 0');
        blocks.push(
          pcapngBlock(le, 0x00000003, (sink) => {
            sink.u32(packet.origLen ?? packet.data.length).bytes(packet.data.subarray(0, caplen));
          }),
        );
      } else {
        const ticks = pcapngTicks(packet.ts, iface.tsresol ?? 6);
        blocks.push(
          pcapngBlock(le, 0x00000006, (sink) => {
            sink.u32(packet.iface).u32(Number(ticks >> 32n)).u32(Number(ticks & 0xffffffffn));
            sink.u32(caplen).u32(packet.origLen ?? packet.data.length);
            sink.bytes(packet.data.subarray(0, caplen)).pad4();
            if (packet.comment !== undefined) {
              writeOption(sink, 1, utf8(packet.comment));
              sink.u16(0).u16(0);
            }
          }),
        );
      }
      if (section.unknownBlocks && index === 0) {
        blocks.push(
          pcapngBlock(le, 0x00000bad, (sink) => {
            sink.u32(DOCUMENTATION_PEN).bytes(new Uint8Array([0x6d, 0x77, 0x00, 0x01]));
          }),
        );
      }
    });
  }
  return concatBytes(...blocks);
}

/** One application message in a {@link tcpSession} or {@link udpExchange}. */
export interface SessionMessage {
  from: Peer;
  data: Uint8Array | string;
  /** Time since the previous packet, ms (TCP default 10; UDP default 0 for the first, 15 after). */
  gapMs?: number;
  /** Split the message into this many TCP segments (default 1; TCP only). */
  segments?: number;
}

/** Per-packet IP header customisation shared by the session helpers. */
export interface SessionIpOptions {
  /** IPv4 options put on every IPv4 packet of the session. */
  ipv4Options?: Uint8Array;
  /** IPv6 extension headers put on every IPv6 packet of the session. */
  ipv6ExtHeaders?: Ipv6ExtHeader[];
}

/** Description of a TCP conversation for {@link tcpSession}. */
export interface TcpSessionSpec extends SessionIpOptions {
  client: [string, number];
  server: [string, number];
  /** Time of the first packet, ms since the epoch. */
  start: number;
  /** Emit SYN, SYN/ACK, ACK first (default true). Without it the capture starts mid-session. */
  handshake?: boolean;
  /** Emit FIN/ACK, FIN/ACK, ACK at the end, initiated by the client (default true). */
  close?: boolean;
  /** Initial sequence numbers (client, server); defaults derive from the ports. */
  isn?: { c: number; s: number };
  messages: SessionMessage[];
  /** Swap the first two segments of the first message split into 2+ segments. */
  outOfOrder?: boolean;
  /** Round-trip time used to place answers and ACKs, ms (default 1). */
  rttMs?: number;
}

function sessionIp(
  spec: SessionIpOptions,
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  id: number,
  ttl: number,
  dontFragment: boolean,
): Uint8Array {
  if (src.includes(':')) return ipv6(src, dst, proto, payload, { extHeaders: spec.ipv6ExtHeaders ?? [], hopLimit: ttl });
  const opts: Ipv4BuildOptions = { id, ttl, dontFragment };
  if (spec.ipv4Options) opts.options = spec.ipv4Options;
  return ipv4(src, dst, proto, payload, opts);
}

function splitBytes(data: Uint8Array, parts: number): Uint8Array[] {
  if (!Number.isInteger(parts) || parts < 1 || parts > data.length) throw new Error(`cannot split ${data.length} bytes into ${parts} segments`);
  const size = Math.ceil(data.length / parts);
  const out: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += size) out.push(data.subarray(offset, offset + size));
  return out;
}

/** Tracks what one receiver has seen, to produce correct cumulative acknowledgements. */
class ReceiveWindow {
  private readonly pending: Array<[number, number]> = [];

  constructor(public next: number) {}

  /** Records a segment [start, start+len) (sequence space, relative to nothing: absolute uint32 math). */
  receive(start: number, length: number): void {
    this.pending.push([start, length]);
    let advanced = true;
    while (advanced) {
      advanced = false;
      for (let i = 0; i < this.pending.length; i++) {
        const [s, len] = this.pending[i]!;
        if (s === this.next) {
          this.next = (this.next + len) >>> 0;
          this.pending.splice(i, 1);
          advanced = true;
          break;
        }
      }
    }
  }
}

function defaultIsn(port: number, salt: number): number {
  return (Math.imul(port + salt, 2654435761) ^ 0x5bd1e995) >>> 0;
}

/**
 * IP packets of a TCP conversation: optional three-way handshake, each message as PSH/ACK data
 * segments from its sender each followed by an ACK from the other side, and an optional FIN
 * exchange. Sequence and acknowledgement numbers are exact; checksums are computed.
 */
export function tcpSession(spec: TcpSessionSpec): TimedPacket[] {
  const [clientIp, clientPort] = spec.client;
  const [serverIp, serverPort] = spec.server;
  if (clientIp.includes(':') !== serverIp.includes(':')) throw new Error('tcpSession mixes IPv4 and IPv6');
  const rtt = spec.rttMs ?? 1;
  const isn = spec.isn ?? { c: defaultIsn(clientPort, 1), s: defaultIsn(serverPort, 2) };
  const handshake = spec.handshake ?? true;
  const close = spec.close ?? true;
  const ipv6Session = clientIp.includes(':');
  const out: TimedPacket[] = [];
  const state = {
    client: { seq: isn.c >>> 0, ipId: (clientPort * 97) & 0xffff, ttl: 64, ip: clientIp, port: clientPort },
    server: { seq: isn.s >>> 0, ipId: (serverPort * 131 + 7) & 0xffff, ttl: 54, ip: serverIp, port: serverPort },
  };
  // What each side has received from the other (i.e. what it acknowledges).
  const received = {
    client: new ReceiveWindow(isn.s >>> 0),
    server: new ReceiveWindow(isn.c >>> 0),
  };
  let now = spec.start;
  const emit = (from: Peer, seq: number, flags: number, payload: Uint8Array, options?: Uint8Array): void => {
    const me = state[from];
    const peer = state[from === 'client' ? 'server' : 'client'];
    const ack = flags & TcpFlag.ACK ? received[from].next : 0;
    const tcpOpts: TcpBuildOptions = { pseudo: { src: me.ip, dst: peer.ip } };
    if (options) tcpOpts.options = options;
    const segment = tcp(me.port, peer.port, seq, ack, flags, payload, tcpOpts);
    out.push({ ts: now, ip: sessionIp(spec, me.ip, peer.ip, IpProto.TCP, segment, me.ipId, me.ttl, true), from });
    me.ipId = (me.ipId + 1) & 0xffff;
  };
  const other = (side: Peer): Peer => (side === 'client' ? 'server' : 'client');

  if (handshake) {
    const mss = ipv6Session ? 1440 : 1460;
    const mssOption = new Uint8Array([2, 4, mss >> 8, mss & 0xff]);
    emit('client', state.client.seq, TcpFlag.SYN, new Uint8Array(0), mssOption);
    received.server.receive(state.client.seq, 1);
    state.client.seq = (state.client.seq + 1) >>> 0;
    now += rtt / 2;
    emit('server', state.server.seq, TcpFlag.SYN | TcpFlag.ACK, new Uint8Array(0), mssOption);
    received.client.receive(state.server.seq, 1);
    state.server.seq = (state.server.seq + 1) >>> 0;
    now += rtt / 2;
    emit('client', state.client.seq, TcpFlag.ACK, new Uint8Array(0));
  }

  let swapPending = spec.outOfOrder ?? false;
  spec.messages.forEach((message, index) => {
    now += message.gapMs ?? (index === 0 && !handshake ? 0 : 10);
    const sender = message.from;
    const receiver = other(sender);
    const data = utf8(message.data);
    const pieces = splitBytes(data, message.segments ?? 1).map((piece, i, all) => {
      let offset = 0;
      for (let j = 0; j < i; j++) offset += all[j]!.length;
      return { piece, seq: (state[sender].seq + offset) >>> 0 };
    });
    if (swapPending && pieces.length >= 2) {
      const first = pieces[0]!;
      pieces[0] = pieces[1]!;
      pieces[1] = first;
      swapPending = false;
    }
    pieces.forEach(({ piece, seq }, i) => {
      if (i > 0) now += 0.05;
      emit(sender, seq, TcpFlag.PSH | TcpFlag.ACK, piece);
      received[receiver].receive(seq, piece.length);
      now += rtt / 2;
      emit(receiver, state[receiver].seq, TcpFlag.ACK, new Uint8Array(0));
    });
    state[sender].seq = (state[sender].seq + data.length) >>> 0;
  });

  if (close) {
    now += 10;
    emit('client', state.client.seq, TcpFlag.FIN | TcpFlag.ACK, new Uint8Array(0));
    received.server.receive(state.client.seq, 1);
    state.client.seq = (state.client.seq + 1) >>> 0;
    now += rtt / 2;
    emit('server', state.server.seq, TcpFlag.FIN | TcpFlag.ACK, new Uint8Array(0));
    received.client.receive(state.server.seq, 1);
    state.server.seq = (state.server.seq + 1) >>> 0;
    now += rtt / 2;
    emit('client', state.client.seq, TcpFlag.ACK, new Uint8Array(0));
  }
  return out;
}

/** Description of a UDP conversation for {@link udpExchange}. */
export interface UdpExchangeSpec extends SessionIpOptions {
  client: [string, number];
  server: [string, number];
  /** Time of the first datagram (plus the first message's gap), ms since the epoch. */
  start: number;
  messages: SessionMessage[];
}

/** IP packets of a UDP conversation: one datagram per message, with computed checksums. */
export function udpExchange(spec: UdpExchangeSpec): TimedPacket[] {
  const [clientIp, clientPort] = spec.client;
  const [serverIp, serverPort] = spec.server;
  if (clientIp.includes(':') !== serverIp.includes(':')) throw new Error('udpExchange mixes IPv4 and IPv6');
  const ids = { client: (clientPort * 97) & 0xffff, server: (serverPort * 131 + 7) & 0xffff };
  let now = spec.start;
  return spec.messages.map((message, index) => {
    now += message.gapMs ?? (index === 0 ? 0 : 15);
    const fromClient = message.from === 'client';
    const [src, sport, dst, dport] = fromClient ? [clientIp, clientPort, serverIp, serverPort] : [serverIp, serverPort, clientIp, clientPort];
    const datagram = udp(sport, dport, utf8(message.data), { pseudo: { src, dst } });
    const id = ids[message.from];
    ids[message.from] = (id + 1) & 0xffff;
    return { ts: now, ip: sessionIp(spec, src, dst, IpProto.UDP, datagram, id, fromClient ? 64 : 54, false), from: message.from };
  });
}

function encodeDnsName(name: string): Uint8Array {
  const labels = name.split('.').filter((label) => label.length > 0);
  return concatBytes(...labels.map((label) => concatBytes(new Uint8Array([label.length]), utf8(label))), new Uint8Array([0]));
}

/** A DNS query message (RD set) for one name and type (default 1 = A). */
export function dnsQuery(id: number, name: string, qtype = 1): Uint8Array {
  const header = new Uint8Array([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return concatBytes(header, encodeDnsName(name), new Uint8Array([qtype >> 8, qtype & 0xff, 0, 1]));
}

/** A DNS response answering an A query for `name` with the given IPv4 addresses (TTL 300). */
export function dnsAResponse(id: number, name: string, addresses: string[]): Uint8Array {
  const count = addresses.length;
  const header = new Uint8Array([id >> 8, id & 0xff, 0x81, 0x80, 0, 1, count >> 8, count & 0xff, 0, 0, 0, 0]);
  const question = concatBytes(encodeDnsName(name), new Uint8Array([0, 1, 0, 1]));
  const answers = addresses.map((address) =>
    concatBytes(new Uint8Array([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4]), parseIpv4(address)),
  );
  return concatBytes(header, question, ...answers);
}

// ---------------------------------------------------------------------------------------------
// Seeded bytes and TLS records

/** `length` bytes from a mulberry32 stream started at `seed` (same seed, same bytes). */
export function seededBytes(seed: number, length: number): Uint8Array {
  const rnd = mulberry32(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}

function be16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function be24(n: number): number[] {
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** A u16-length-prefixed vector. */
function vec16(...parts: Uint8Array[]): Uint8Array {
  const body = concatBytes(...parts);
  return concatBytes(new Uint8Array(be16(body.length)), body);
}

/** One TLS extension: type, u16 length, data. */
function tlsExtension(type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concatBytes(new Uint8Array([...be16(type), ...be16(data.length)]), data);
}

/** TLS content types. @see RFC 8446 §5.1 */
export const TlsContentType = { CHANGE_CIPHER_SPEC: 20, ALERT: 21, HANDSHAKE: 22, APPLICATION_DATA: 23 } as const;

/**
 * One TLS record: content type, legacy record version (default 0x0303), u16 length, fragment.
 * @see RFC 8446 §5.1
 */
export function tlsRecord(contentType: number, fragment: Uint8Array, version = 0x0303): Uint8Array {
  if (fragment.length > 16384 + 256) throw new Error(`TLS record fragment of ${fragment.length} bytes is too long`);
  return concatBytes(new Uint8Array([contentType, ...be16(version), ...be16(fragment.length)]), fragment);
}

/**
 * A ClientHello in one handshake record (record version 0x0301), as a current TLS 1.3 client that
 * also offers TLS 1.2 sends it: legacy_version 0x0303, 32 random bytes, a 32-byte legacy session
 * id, 17 cipher suites (3 TLS 1.3 suites, ECDHE suites, the renegotiation SCSV), null compression,
 * and the extensions server_name (only when `sni` is given), ec_point_formats, supported_groups,
 * session_ticket, encrypt_then_mac, extended_master_secret, signature_algorithms,
 * supported_versions (1.3, 1.2), psk_key_exchange_modes and an x25519 key_share. No ALPN.
 * Random, session id and key share come from `seed`.
 * @see RFC 8446 §4.1.2, RFC 6066 §3
 */
export function tlsClientHello(sni: string | null, seed: number): Uint8Array {
  const random = seededBytes(seed, 96);
  const extensions: Uint8Array[] = [];
  if (sni !== null) {
    const name = utf8(sni);
    extensions.push(tlsExtension(0x0000, vec16(new Uint8Array([0, ...be16(name.length)]), name)));
  }
  extensions.push(
    tlsExtension(0x000b, new Uint8Array([3, 0, 1, 2])),
    tlsExtension(0x000a, vec16(new Uint8Array([...be16(0x001d), ...be16(0x0017), ...be16(0x001e), ...be16(0x0018)]))),
    tlsExtension(0x0023),
    tlsExtension(0x0016),
    tlsExtension(0x0017),
    tlsExtension(
      0x000d,
      vec16(new Uint8Array([0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601].flatMap(be16))),
    ),
    tlsExtension(0x002b, new Uint8Array([4, ...be16(0x0304), ...be16(0x0303)])),
    tlsExtension(0x002d, new Uint8Array([1, 1])),
    tlsExtension(0x0033, vec16(new Uint8Array([...be16(0x001d), ...be16(32)]), random.subarray(64, 96))),
  );
  const suites = [0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f, 0x009e, 0xc024, 0xc028, 0xc023, 0xc027, 0x00ff];
  const body = concatBytes(
    new Uint8Array(be16(0x0303)),
    random.subarray(0, 32),
    new Uint8Array([32]),
    random.subarray(32, 64),
    vec16(new Uint8Array(suites.flatMap(be16))),
    new Uint8Array([1, 0]),
    vec16(...extensions),
  );
  return tlsRecord(TlsContentType.HANDSHAKE, concatBytes(new Uint8Array([1, ...be24(body.length)]), body), 0x0301);
}

/**
 * The server's first flight of a TLS 1.3 handshake: a ServerHello record (TLS_AES_128_GCM_SHA256,
 * supported_versions 1.3, x25519 key_share, the client's `sessionId` echoed), a ChangeCipherSpec
 * record, then `encrypted` application-data records of seeded random bytes standing for the
 * encrypted EncryptedExtensions/Certificate/CertificateVerify/Finished messages.
 * @see RFC 8446 §4.1.3, §5.2
 */
export function tlsServerHello(seed: number, sessionId: Uint8Array, encrypted: number[] = [2400, 300, 74]): Uint8Array {
  const random = seededBytes(seed, 64);
  const extensions = concatBytes(
    tlsExtension(0x002b, new Uint8Array(be16(0x0304))),
    tlsExtension(0x0033, concatBytes(new Uint8Array([...be16(0x001d), ...be16(32)]), random.subarray(32, 64))),
  );
  const body = concatBytes(
    new Uint8Array(be16(0x0303)),
    random.subarray(0, 32),
    new Uint8Array([sessionId.length]),
    sessionId,
    new Uint8Array([...be16(0x1301), 0]),
    vec16(extensions),
  );
  return concatBytes(
    tlsRecord(TlsContentType.HANDSHAKE, concatBytes(new Uint8Array([2, ...be24(body.length)]), body)),
    tlsRecord(TlsContentType.CHANGE_CIPHER_SPEC, new Uint8Array([1])),
    ...encrypted.map((length, i) => tlsApplicationData(seed + 1 + i, length)),
  );
}

/** One application-data record of `length` seeded random bytes (ciphertext and tag, as on the wire). */
export function tlsApplicationData(seed: number, length: number): Uint8Array {
  return tlsRecord(TlsContentType.APPLICATION_DATA, seededBytes(seed, length));
}

/** The legacy session id of a ClientHello built by {@link tlsClientHello} (bytes 44..76 of the record). */
export function tlsClientHelloSessionId(hello: Uint8Array): Uint8Array {
  return hello.slice(44, 44 + hello[43]!);
}
