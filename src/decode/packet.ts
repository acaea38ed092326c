/**
 * Link, IP and transport decoding into one reusable {@link PacketView}. Pure and allocation-free:
 * the caller owns the view and passes the captured bytes; nothing read from the wire is used
 * before it is checked against the bytes actually captured.
 *
 * @see IEEE 802.1Q (VLAN, QinQ), RFC 3032 (MPLS label stack), RFC 2516 (PPPoE),
 *      RFC 791 (IPv4), RFC 8200 (IPv6 and extension headers), RFC 9293 (TCP), RFC 768 (UDP).
 */

/** Link-layer header types (tcpdump.org LINKTYPE_ values) this decoder understands. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Outcome of {@link decodePacket}. Values index the per-input status counters. */
export enum PacketStatus {
  /** IPv4/IPv6 carrying TCP or UDP: the view is filled. */
  Transport = 0,
  /** Not IP (ARP, LLDP, STP …): not an anomaly. */
  NonIp = 1,
  /** IP but neither TCP nor UDP (ICMP, GRE, ESP …): counted. */
  IpOther = 2,
  /** IPv4/IPv6 fragment other than the first: counted, not reassembled. */
  Fragment = 3,
  LinkUnsupported = 4,
  LinkTruncated = 5,
  MplsUnknown = 6,
  Ipv4Bad = 7,
  Ipv4Truncated = 8,
  Ipv6Bad = 9,
  Ipv6Truncated = 10,
  TcpBad = 11,
  TcpTruncated = 12,
  UdpTruncated = 13,
  UdpBadLength = 14,
}

/** Number of {@link PacketStatus} values (size of a counter array). */
export const PACKET_STATUS_COUNT = 15;

/** Anomaly code of each status that is an anomaly (index = status), or '' when it is not. */
export const PACKET_STATUS_ANOMALY: readonly ('' | import('../anomalies.js').AnomalyCode)[] = [
  '',
  '',
  '',
  '',
  'link.unsupported',
  'link.truncated',
  'link.mpls_unknown_payload',
  'ipv4.bad_header',
  'ipv4.truncated',
  'ipv6.bad_header',
  'ipv6.truncated',
  'tcp.bad_header',
  'tcp.truncated',
  'udp.truncated',
  'udp.bad_length',
] as const;

/** Reusable decoded view of one packet. Fields are valid only when the status is Transport. */
export class PacketView {
  ipVersion: 4 | 6 = 4;
  /** 6 (TCP) or 17 (UDP). */
  proto = 0;
  /** Offset of the IP header in the buffer. */
  ipOffset = 0;
  /** IP datagram length from the header (bytes on the wire, even when the capture was snapped). */
  ipLength = 0;
  /** IPv4 addresses as signed 32-bit numbers (bit patterns; `>>> 0` for the unsigned value). IPv6: see src6/dst6. */
  src4 = 0;
  dst4 = 0;
  /** Offsets of the 16-byte IPv6 addresses in the buffer. */
  src6 = 0;
  dst6 = 0;
  srcPort = 0;
  dstPort = 0;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10). */
  tcpFlags = 0;
  tcpSeq = 0;
  /** Offset and length of the transport payload that was captured. */
  payloadOffset = 0;
  payloadLength = 0;
  /** Offset where decoding stopped on an anomaly (for the report). */
  errorOffset = 0;
  /**
   * A problem that did not stop decoding (status Transport with a header length beyond the
   * captured frame, decoded as far as the bytes go, as Wireshark does); 0 when none.
   */
  warning: PacketStatus = 0;
  /**
   * The packet's time (ms since 1970, fractions kept), for the flow table ({@link FlowTable.add}):
   * not decoded but set by whoever hands the packet on. A number, not a small integer: kept as a
   * field, which is written in place, rather than passed as an argument, which boxes it.
   */
  time = NaN;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_MPLS_UC = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_PPPOE_SESSION = 0x8864;
/** Bound on stacked tags (VLAN + MPLS) so a crafted frame cannot loop long. */
const MAX_TAGS = 16;
/** Bound on IPv6 extension headers walked. */
const MAX_EXT_HEADERS = 10;

/**
 * Decode one captured packet. `off`/`caplen` delimit the captured bytes in `buf`; `origLen` is the
 * length on the wire (a snapped capture has caplen < origLen, which is not an error).
 */
export function decodePacket(
  linktype: number,
  buf: Uint8Array,
  off: number,
  caplen: number,
  origLen: number,
  v: PacketView,
): PacketStatus {
  const end = off + caplen;
  const snapped = caplen < origLen;
  v.warning = 0;
  switch (linktype) {
    case LINKTYPE.ETHERNET: {
      if (caplen < 14) return fail(v, off, PacketStatus.LinkTruncated);
      return decodeEthertype(buf, off + 12, end, snapped, v);
    }
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
    case 12:
    case 14: {
      if (caplen < 1) return fail(v, off, PacketStatus.LinkTruncated);
      const ver = buf[off]! >> 4;
      if (ver === 4) return decodeIpv4(buf, off, end, snapped, v);
      if (ver === 6) return decodeIpv6(buf, off, end, snapped, v);
      return fail(v, off, PacketStatus.Ipv4Bad);
    }
    case LINKTYPE.LINUX_SLL: {
      if (caplen < 16) return fail(v, off, PacketStatus.LinkTruncated);
      return decodeEthertype(buf, off + 14, end, snapped, v);
    }
    case LINKTYPE.LINUX_SLL2: {
      if (caplen < 20) return fail(v, off, PacketStatus.LinkTruncated);
      const proto = (buf[off]! << 8) | buf[off + 1]!;
      return dispatchEthertype(proto, buf, off + 20, end, snapped, v, 0);
    }
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      if (caplen < 4) return fail(v, off, PacketStatus.LinkTruncated);
      // NULL stores the AF value in the capturing host's byte order; LOOP always big-endian.
      const le = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24);
      const be = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
      const af = linktype === LINKTYPE.LOOP || (le & 0xffff) === 0 ? be : le;
      if (af === 2) return decodeIpv4(buf, off + 4, end, snapped, v);
      if (af === 24 || af === 28 || af === 30) return decodeIpv6(buf, off + 4, end, snapped, v);
      return PacketStatus.NonIp;
    }
    default:
      return fail(v, off, PacketStatus.LinkUnsupported);
  }
}

function fail(v: PacketView, at: number, s: PacketStatus): PacketStatus {
  v.errorOffset = at;
  return s;
}

/** `at` points at an EtherType field (Ethernet/SLL); walk VLAN tags from there. */
function decodeEthertype(buf: Uint8Array, at: number, end: number, snapped: boolean, v: PacketView): PacketStatus {
  const type = (buf[at]! << 8) | buf[at + 1]!;
  return dispatchEthertype(type, buf, at + 2, end, snapped, v, 0);
}

function dispatchEthertype(
  type: number,
  buf: Uint8Array,
  p: number,
  end: number,
  snapped: boolean,
  v: PacketView,
  depth: number,
): PacketStatus {
  for (;;) {
    if (depth++ > MAX_TAGS) return fail(v, p, PacketStatus.LinkTruncated);
    switch (type) {
      case ETH_IPV4:
        return decodeIpv4(buf, p, end, snapped, v);
      case ETH_IPV6:
        return decodeIpv6(buf, p, end, snapped, v);
      case ETH_VLAN:
      case ETH_QINQ:
      case ETH_QINQ_OLD:
        if (p + 4 > end) return fail(v, p, PacketStatus.LinkTruncated);
        type = (buf[p + 2]! << 8) | buf[p + 3]!;
        p += 4;
        continue;
      case ETH_MPLS_UC:
      case ETH_MPLS_MC: {
        for (;;) {
          if (p + 4 > end) return fail(v, p, PacketStatus.LinkTruncated);
          const bottom = buf[p + 2]! & 1;
          p += 4;
          if (bottom) break;
          if (depth++ > MAX_TAGS) return fail(v, p, PacketStatus.LinkTruncated);
        }
        if (p >= end) return fail(v, p, PacketStatus.LinkTruncated);
        const nib = buf[p]! >> 4;
        if (nib === 4) return decodeIpv4(buf, p, end, snapped, v);
        if (nib === 6) return decodeIpv6(buf, p, end, snapped, v);
        return fail(v, p, PacketStatus.MplsUnknown);
      }
      case ETH_PPPOE_SESSION: {
        if (p + 8 > end) return fail(v, p, PacketStatus.LinkTruncated);
        const ppp = (buf[p + 6]! << 8) | buf[p + 7]!;
        if (ppp === 0x0021) return decodeIpv4(buf, p + 8, end, snapped, v);
        if (ppp === 0x0057) return decodeIpv6(buf, p + 8, end, snapped, v);
        return PacketStatus.NonIp;
      }
      default:
        return PacketStatus.NonIp;
    }
  }
}

function decodeIpv4(buf: Uint8Array, p: number, end: number, snapped: boolean, v: PacketView): PacketStatus {
  if (p + 20 > end) return fail(v, p, snapped ? PacketStatus.Ipv4Truncated : PacketStatus.Ipv4Bad);
  const vihl = buf[p]!;
  const ihl = (vihl & 0x0f) << 2;
  if (vihl >> 4 !== 4 || ihl < 20) return fail(v, p, PacketStatus.Ipv4Bad);
  let total = (buf[p + 2]! << 8) | buf[p + 3]!;
  // Total length 0 is what TCP segmentation offload leaves in captures taken on the sender.
  if (total === 0) total = end - p;
  if (total < ihl) return fail(v, p, PacketStatus.Ipv4Bad);
  let l3end = p + total;
  if (l3end > end) {
    // A snapped capture legitimately holds less than the datagram; a whole frame should not,
    // but its headers are still real: decode what is there and count the anomaly.
    if (!snapped) {
      v.warning = PacketStatus.Ipv4Truncated;
      v.errorOffset = p;
    }
    l3end = end;
  }
  if (p + ihl > l3end) return fail(v, p, PacketStatus.Ipv4Truncated);
  const frag = ((buf[p + 6]! & 0x1f) << 8) | buf[p + 7]!;
  const proto = buf[p + 9]!;
  v.ipVersion = 4;
  v.ipOffset = p;
  v.ipLength = total;
  v.src4 = (buf[p + 12]! << 24) | (buf[p + 13]! << 16) | (buf[p + 14]! << 8) | buf[p + 15]!;
  v.dst4 = (buf[p + 16]! << 24) | (buf[p + 17]! << 16) | (buf[p + 18]! << 8) | buf[p + 19]!;
  if (frag !== 0) return PacketStatus.Fragment;
  return decodeTransport(proto, buf, p + ihl, l3end, v);
}

function decodeIpv6(buf: Uint8Array, p: number, end: number, snapped: boolean, v: PacketView): PacketStatus {
  if (p + 40 > end) return fail(v, p, snapped ? PacketStatus.Ipv6Truncated : PacketStatus.Ipv6Bad);
  if (buf[p]! >> 4 !== 6) return fail(v, p, PacketStatus.Ipv6Bad);
  const plen = (buf[p + 4]! << 8) | buf[p + 5]!;
  let l3end = p + 40 + plen;
  if (l3end > end) {
    if (!snapped) {
      v.warning = PacketStatus.Ipv6Truncated;
      v.errorOffset = p;
    }
    l3end = end;
  }
  v.ipVersion = 6;
  v.ipOffset = p;
  v.ipLength = 40 + plen;
  v.src6 = p + 8;
  v.dst6 = p + 24;
  let next = buf[p + 6]!;
  let q = p + 40;
  for (let i = 0; ; i++) {
    if (next === 6 || next === 17) return decodeTransport(next, buf, q, l3end, v);
    if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
      if (i >= MAX_EXT_HEADERS || q + 8 > l3end) return fail(v, q, PacketStatus.Ipv6Bad);
      const len = (buf[q + 1]! + 1) << 3;
      next = buf[q]!;
      q += len;
      continue;
    }
    if (next === 51) {
      if (i >= MAX_EXT_HEADERS || q + 8 > l3end) return fail(v, q, PacketStatus.Ipv6Bad);
      const len = (buf[q + 1]! + 2) << 2;
      next = buf[q]!;
      q += len;
      continue;
    }
    if (next === 44) {
      if (i >= MAX_EXT_HEADERS || q + 8 > l3end) return fail(v, q, PacketStatus.Ipv6Bad);
      const fragOff = ((buf[q + 2]! << 8) | buf[q + 3]!) & 0xfff8;
      if (fragOff !== 0) return PacketStatus.Fragment;
      next = buf[q]!;
      q += 8;
      continue;
    }
    return PacketStatus.IpOther;
  }
}

function decodeTransport(proto: number, buf: Uint8Array, p: number, l3end: number, v: PacketView): PacketStatus {
  if (proto === 6) {
    if (p + 20 > l3end) return fail(v, p, PacketStatus.TcpTruncated);
    const doff = (buf[p + 12]! >> 4) << 2;
    if (doff < 20) return fail(v, p, PacketStatus.TcpBad);
    if (p + doff > l3end) return fail(v, p, PacketStatus.TcpTruncated);
    v.proto = 6;
    v.srcPort = (buf[p]! << 8) | buf[p + 1]!;
    v.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!;
    v.tcpSeq = (buf[p + 4]! << 24) | (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!;
    v.tcpFlags = buf[p + 13]!;
    v.payloadOffset = p + doff;
    v.payloadLength = l3end - p - doff;
    return PacketStatus.Transport;
  }
  if (proto === 17) {
    if (p + 8 > l3end) return fail(v, p, PacketStatus.UdpTruncated);
    const ulen = (buf[p + 4]! << 8) | buf[p + 5]!;
    v.proto = 17;
    v.srcPort = (buf[p]! << 8) | buf[p + 1]!;
    v.dstPort = (buf[p + 2]! << 8) | buf[p + 3]!;
    v.tcpFlags = 0;
    v.tcpSeq = 0;
    v.payloadOffset = p + 8;
    // ulen 0 is legal for IPv6 jumbograms; otherwise it bounds the payload.
    let plen = l3end - p - 8;
    if (ulen !== 0) {
      if (ulen < 8) return fail(v, p, PacketStatus.UdpBadLength);
      if (ulen - 8 < plen) plen = ulen - 8;
    }
    v.payloadLength = plen;
    return PacketStatus.Transport;
  }
  return PacketStatus.IpOther;
}
