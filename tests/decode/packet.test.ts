/**
 * decodePacket on bytes made by tests/support/builders.ts: every link layer, IPv4 options, IPv6
 * extension header chains and fragments, and each anomaly status.
 */
import { describe, expect, it } from 'vitest';
import { LINKTYPE, PACKET_STATUS_ANOMALY, PacketStatus, PacketView, decodePacket } from '../../src/decode/packet.js';
import {
  IpProto,
  TcpFlag,
  concatBytes,
  ethernet,
  ipv4,
  ipv6,
  nullLoopback,
  parseIpv4,
  parseIpv6,
  sll,
  sll2,
  tcp,
  udp,
  utf8,
  type Ipv6ExtHeader,
} from '../support/builders.js';

/** Bytes before and after the frame inside the buffer: offsets must be honoured. */
const LEAD = 11;
const TRAIL = 9;

interface Decoded {
  st: PacketStatus;
  v: PacketView;
  buf: Uint8Array;
  off: number;
}

function decode(linktype: number, frame: Uint8Array, caplen = frame.length, origLen = caplen): Decoded {
  const buf = new Uint8Array(LEAD + frame.length + TRAIL).fill(0xcc);
  buf.set(frame, LEAD);
  const v = new PacketView();
  // Stale values from an earlier packet must not leak into this one.
  v.warning = PacketStatus.Ipv6Truncated;
  const st = decodePacket(linktype, buf, LEAD, caplen, origLen, v);
  return { st, v, buf, off: LEAD };
}

const C4 = '192.168.1.10';
const S4 = '203.0.113.5';
const C6 = 'fd00::10';
const S6 = '2001:db8::5';
const PAYLOAD = 'hello, stratum';
const SEQ = 0x89abcdef;

const u32 = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
const payloadText = (d: Decoded): string => Buffer.from(d.buf.subarray(d.v.payloadOffset, d.v.payloadOffset + d.v.payloadLength)).toString('latin1');

function tcpSeg(payload: string | Uint8Array = PAYLOAD, flags: number = TcpFlag.PSH | TcpFlag.ACK): Uint8Array {
  return tcp(40001, 3333, SEQ, 0x01020304, flags, utf8(payload));
}
const tcp4 = (): Uint8Array => ipv4(C4, S4, IpProto.TCP, tcpSeg());
const tcp6 = (ext: Ipv6ExtHeader[] = []): Uint8Array => ipv6(C6, S6, IpProto.TCP, tcpSeg(), { extHeaders: ext });
const udp4 = (payload = 'dns?'): Uint8Array => ipv4(C4, S4, IpProto.UDP, udp(53001, 53, utf8(payload)));
const udp6 = (payload = 'dns?'): Uint8Array => ipv6(C6, S6, IpProto.UDP, udp(53001, 53, utf8(payload)));

/** The view of a TCP packet from C:40001 to S:3333 whose IP header starts `ipAt` bytes into the frame. */
function expectTcp(d: Decoded, version: 4 | 6, ipAt: number, ipHeaderLength: number, payload = PAYLOAD): void {
  expect(d.st, PacketStatus[d.st]).toBe(PacketStatus.Transport);
  const v = d.v;
  expect(v.warning).toBe(0);
  expect(v.ipVersion).toBe(version);
  expect(v.proto).toBe(6);
  expect(v.ipOffset).toBe(d.off + ipAt);
  expect(v.ipLength).toBe(ipHeaderLength + 20 + payload.length);
  if (version === 4) {
    expect(v.src4 >>> 0).toBe(u32(parseIpv4(C4)));
    expect(v.dst4 >>> 0).toBe(u32(parseIpv4(S4)));
  } else {
    expect([...d.buf.subarray(v.src6, v.src6 + 16)]).toEqual([...parseIpv6(C6)]);
    expect([...d.buf.subarray(v.dst6, v.dst6 + 16)]).toEqual([...parseIpv6(S6)]);
  }
  expect(v.srcPort).toBe(40001);
  expect(v.dstPort).toBe(3333);
  expect(v.tcpSeq >>> 0).toBe(SEQ);
  expect(v.tcpFlags).toBe(TcpFlag.PSH | TcpFlag.ACK);
  expect(v.payloadOffset).toBe(d.off + ipAt + ipHeaderLength + 20);
  expect(v.payloadLength).toBe(payload.length);
  expect(payloadText(d)).toBe(payload);
}

function expectUdp(d: Decoded, version: 4 | 6, ipAt: number, payload = 'dns?'): void {
  expect(d.st, PacketStatus[d.st]).toBe(PacketStatus.Transport);
  expect(d.v.ipVersion).toBe(version);
  expect(d.v.proto).toBe(17);
  expect(d.v.srcPort).toBe(53001);
  expect(d.v.dstPort).toBe(53);
  expect(d.v.tcpFlags).toBe(0);
  expect(d.v.payloadOffset).toBe(d.off + ipAt + (version === 4 ? 20 : 40) + 8);
  expect(payloadText(d)).toBe(payload);
}

describe('decodePacket link layers', () => {
  it('Ethernet II, IPv4 and IPv6, TCP and UDP', () => {
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp4())), 4, 14, 20);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp6())), 6, 14, 40);
    expectUdp(decode(LINKTYPE.ETHERNET, ethernet(udp4())), 4, 14);
    expectUdp(decode(LINKTYPE.ETHERNET, ethernet(udp6())), 6, 14);
  });

  it('Ethernet padding to 60 bytes is not payload (lengths come from the IP header)', () => {
    const ip = ipv4(C4, S4, IpProto.TCP, tcpSeg('', TcpFlag.ACK));
    const frame = ethernet(ip, { padToMinimum: true });
    expect(frame.length).toBe(60);
    const d = decode(LINKTYPE.ETHERNET, frame);
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.payloadLength).toBe(0);
    expect(d.v.ipLength).toBe(40);
    const u = decode(LINKTYPE.ETHERNET, ethernet(udp4('x'), { padToMinimum: true }));
    expect(u.v.payloadLength).toBe(1);
    expect(payloadText(u)).toBe('x');
  });

  it('802.1Q VLAN tag', () => {
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp4(), { vlans: [100] })), 4, 18, 20);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp6(), { vlans: [4094] })), 6, 18, 40);
  });

  it('QinQ: 802.1ad outer tag (0x88a8) over 802.1Q, and the old 0x9100 TPID', () => {
    const frame = ethernet(tcp4(), { vlans: [200, 100] });
    expect((frame[12]! << 8) | frame[13]!).toBe(0x88a8);
    expectTcp(decode(LINKTYPE.ETHERNET, frame), 4, 22, 20);
    const old = frame.slice();
    old[12] = 0x91;
    old[13] = 0x00;
    expectTcp(decode(LINKTYPE.ETHERNET, old), 4, 22, 20);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp6(), { vlans: [10, 20, 30] })), 6, 26, 40);
  });

  it('MPLS: two labels (bottom of stack on the second), IPv4 and IPv6 payloads, unicast and multicast', () => {
    const frame = ethernet(tcp4(), { mpls: [16001, 24] });
    expectTcp(decode(LINKTYPE.ETHERNET, frame), 4, 22, 20);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp6(), { mpls: [16001, 24] })), 6, 22, 40);
    const mc = frame.slice();
    mc[13] = 0x48; // 0x8848
    expectTcp(decode(LINKTYPE.ETHERNET, mc), 4, 22, 20);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp4(), { vlans: [7], mpls: [1, 2, 3] })), 4, 30, 20);
  });

  it('MPLS whose payload is neither IPv4 nor IPv6 → MplsUnknown', () => {
    const frame = ethernet(tcp4(), { mpls: [16001, 24] });
    frame[22] = 0x00; // pseudowire control word
    const d = decode(LINKTYPE.ETHERNET, frame);
    expect(d.st).toBe(PacketStatus.MplsUnknown);
    expect(d.v.errorOffset).toBe(d.off + 22);
    expect(PACKET_STATUS_ANOMALY[d.st]).toBe('link.mpls_unknown_payload');
  });

  it('PPPoE session: PPP IPv4 (0x0021) and IPv6 (0x0057); other PPP protocols are not IP', () => {
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp4(), { pppoe: { session: 0x1234 } })), 4, 22, 20);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(tcp6(), { pppoe: { session: 0x1234 } })), 6, 22, 40);
    expectUdp(decode(LINKTYPE.ETHERNET, ethernet(udp6(), { vlans: [100], pppoe: { session: 1 } })), 6, 26);
    const lcp = ethernet(tcp4(), { pppoe: { session: 0x1234 } });
    lcp[20] = 0xc0;
    lcp[21] = 0x21;
    expect(decode(LINKTYPE.ETHERNET, lcp).st).toBe(PacketStatus.NonIp);
  });

  it('Linux cooked capture v1 (SLL) and v2 (SLL2)', () => {
    expectTcp(decode(LINKTYPE.LINUX_SLL, sll(tcp4())), 4, 16, 20);
    expectTcp(decode(LINKTYPE.LINUX_SLL, sll(tcp6(), { outgoing: true })), 6, 16, 40);
    expectTcp(decode(LINKTYPE.LINUX_SLL2, sll2(tcp4())), 4, 20, 20);
    expectUdp(decode(LINKTYPE.LINUX_SLL2, sll2(udp6(), { outgoing: true, ifindex: 7 })), 6, 20);
  });

  it('BSD loopback (NULL): AF values in either byte order, including every IPv6 AF value', () => {
    expectTcp(decode(LINKTYPE.NULL, nullLoopback(tcp4(), true)), 4, 4, 20);
    expectTcp(decode(LINKTYPE.NULL, nullLoopback(tcp4(), false)), 4, 4, 20);
    expectTcp(decode(LINKTYPE.NULL, nullLoopback(tcp6(), true)), 6, 4, 40);
    expectTcp(decode(LINKTYPE.NULL, nullLoopback(tcp6(), false)), 6, 4, 40);
    for (const af of [24, 28, 30]) {
      for (const le of [true, false]) {
        const hdr = new Uint8Array(4);
        new DataView(hdr.buffer).setUint32(0, af, le);
        expectTcp(decode(LINKTYPE.NULL, concatBytes(hdr, tcp6())), 6, 4, 40);
      }
    }
    // LOOP (108) is always big-endian.
    const be = new Uint8Array([0, 0, 0, 2]);
    expectTcp(decode(LINKTYPE.LOOP, concatBytes(be, tcp4())), 4, 4, 20);
    // An address family that is not IP.
    const other = new Uint8Array([7, 0, 0, 0]);
    expect(decode(LINKTYPE.NULL, concatBytes(other, tcp4())).st).toBe(PacketStatus.NonIp);
  });

  it('raw IP: LINKTYPE_RAW 101, IPV4 228, IPV6 229 (and the DLT values 12/14)', () => {
    expectTcp(decode(LINKTYPE.RAW, tcp4()), 4, 0, 20);
    expectTcp(decode(LINKTYPE.RAW, tcp6()), 6, 0, 40);
    expectTcp(decode(LINKTYPE.IPV4, tcp4()), 4, 0, 20);
    expectTcp(decode(LINKTYPE.IPV6, tcp6()), 6, 0, 40);
    expectUdp(decode(12, udp4()), 4, 0);
    expectUdp(decode(14, udp6()), 6, 0);
    const notIp = tcp4();
    notIp[0] = 0x55;
    expect(decode(LINKTYPE.RAW, notIp).st).toBe(PacketStatus.Ipv4Bad);
  });

  it('an unknown link type → LinkUnsupported', () => {
    for (const lt of [2, 105, 127, 9999]) {
      const d = decode(lt, ethernet(tcp4()));
      expect(d.st).toBe(PacketStatus.LinkUnsupported);
      expect(d.v.errorOffset).toBe(d.off);
      expect(PACKET_STATUS_ANOMALY[d.st]).toBe('link.unsupported');
    }
  });

  it('non-IP ethertypes (ARP, LLDP, VLAN-tagged ARP) → NonIp, not an anomaly', () => {
    const arp = concatBytes(new Uint8Array([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06]), new Uint8Array(28).fill(1));
    expect(decode(LINKTYPE.ETHERNET, arp).st).toBe(PacketStatus.NonIp);
    const lldp = arp.slice();
    lldp[12] = 0x88;
    lldp[13] = 0xcc;
    expect(decode(LINKTYPE.ETHERNET, lldp).st).toBe(PacketStatus.NonIp);
    const tagged = concatBytes(arp.subarray(0, 12), new Uint8Array([0x81, 0x00, 0, 100, 0x08, 0x06]), arp.subarray(14));
    expect(decode(LINKTYPE.ETHERNET, tagged).st).toBe(PacketStatus.NonIp);
    expect(PACKET_STATUS_ANOMALY[PacketStatus.NonIp]).toBe('');
  });
});

describe('decodePacket IP layer', () => {
  it('IPv4 options move the transport header', () => {
    const opts = new Uint8Array([0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01]); // router alert + NOPs, padded to 8
    const ip = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { options: opts });
    expect(ip[0]! & 0x0f).toBe(7);
    expectTcp(decode(LINKTYPE.ETHERNET, ethernet(ip)), 4, 14, 28);
    const max = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { options: new Uint8Array(40).fill(1) });
    expectTcp(decode(LINKTYPE.RAW, max), 4, 0, 60);
  });

  it('TCP options move the payload', () => {
    const seg = tcp(40001, 3333, SEQ, 0, TcpFlag.PSH | TcpFlag.ACK, utf8(PAYLOAD), { options: new Uint8Array([2, 4, 5, 0xb4, 1, 1, 4, 2]) });
    const d = decode(LINKTYPE.RAW, ipv4(C4, S4, IpProto.TCP, seg));
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.payloadOffset).toBe(d.off + 20 + 28);
    expect(payloadText(d)).toBe(PAYLOAD);
  });

  it('IPv6 hop-by-hop + routing + destination options chain is walked to TCP', () => {
    const ext: Ipv6ExtHeader[] = [{ type: IpProto.HOP_BY_HOP }, { type: IpProto.ROUTING }, { type: IpProto.DESTINATION_OPTIONS, body: new Uint8Array(14).fill(1) }];
    const ip = tcp6(ext);
    const extLength = ip.length - 40 - 20 - PAYLOAD.length;
    expect(extLength).toBe(8 + 24 + 16);
    const d = decode(LINKTYPE.ETHERNET, ethernet(ip));
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.ipLength).toBe(ip.length);
    expect(d.v.payloadOffset).toBe(d.off + 14 + 40 + extLength + 20);
    expect(d.v.srcPort).toBe(40001);
    expect(payloadText(d)).toBe(PAYLOAD);
    // The same chain in front of UDP.
    const u = decode(LINKTYPE.RAW, ipv6(C6, S6, IpProto.UDP, udp(53001, 53, utf8('q')), { extHeaders: ext }));
    expect(u.st).toBe(PacketStatus.Transport);
    expect(u.v.proto).toBe(17);
    expect(payloadText(u)).toBe('q');
  });

  it('IPv6 fragment header: offset 0 is decoded, a later fragment is a Fragment', () => {
    const first = tcp6([{ type: IpProto.FRAGMENT, body: new Uint8Array([0, 1, 0, 0, 0, 7]) }]); // offset 0, M=1
    const d = decode(LINKTYPE.RAW, first);
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.payloadOffset).toBe(d.off + 48 + 20);
    expect(payloadText(d)).toBe(PAYLOAD);
    const later = tcp6([{ type: IpProto.FRAGMENT, body: new Uint8Array([0x05, 0xc8, 0, 0, 0, 7]) }]); // offset 1480, M=0
    expect(decode(LINKTYPE.RAW, later).st).toBe(PacketStatus.Fragment);
    const afterHbh = tcp6([{ type: IpProto.HOP_BY_HOP }, { type: IpProto.FRAGMENT, body: new Uint8Array([0, 8, 0, 0, 0, 7]) }]); // offset 8
    expect(decode(LINKTYPE.RAW, afterHbh).st).toBe(PacketStatus.Fragment);
  });

  it('IPv4: the first fragment (MF, offset 0) is decoded; a non-first fragment is a Fragment', () => {
    const first = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { moreFragments: true, id: 99 });
    expectTcp(decode(LINKTYPE.RAW, first), 4, 0, 20);
    const df = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { dontFragment: true });
    expectTcp(decode(LINKTYPE.RAW, df), 4, 0, 20);
    for (const fragOffset8 of [1, 185, 0x1fff]) {
      const later = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { fragOffset8, moreFragments: fragOffset8 === 1 });
      const d = decode(LINKTYPE.ETHERNET, ethernet(later));
      expect(d.st).toBe(PacketStatus.Fragment);
      expect(PACKET_STATUS_ANOMALY[d.st]).toBe('');
    }
  });

  it('ICMP, ICMPv6, GRE and "no next header" → IpOther', () => {
    const icmp = ipv4(C4, S4, 1, new Uint8Array([8, 0, 0, 0, 0, 1, 0, 1]));
    expect(decode(LINKTYPE.ETHERNET, ethernet(icmp)).st).toBe(PacketStatus.IpOther);
    expect(decode(LINKTYPE.RAW, ipv4(C4, S4, 47, new Uint8Array(8))).st).toBe(PacketStatus.IpOther);
    expect(decode(LINKTYPE.RAW, ipv6(C6, S6, 58, new Uint8Array([128, 0, 0, 0, 0, 1, 0, 1]))).st).toBe(PacketStatus.IpOther);
    expect(decode(LINKTYPE.RAW, ipv6(C6, S6, IpProto.NO_NEXT_HEADER, new Uint8Array(0), { extHeaders: [{ type: 60 }] })).st).toBe(PacketStatus.IpOther);
    expect(PACKET_STATUS_ANOMALY[PacketStatus.IpOther]).toBe('');
  });

  it('IPv4 total length 0 (TCP segmentation offload) → decoded with the captured length', () => {
    const ip = tcp4();
    ip[2] = 0;
    ip[3] = 0;
    const d = decode(LINKTYPE.ETHERNET, ethernet(ip));
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.warning).toBe(0);
    expect(d.v.ipLength).toBe(ip.length);
    expect(d.v.payloadLength).toBe(PAYLOAD.length);
    expect(payloadText(d)).toBe(PAYLOAD);
  });

  it('IPv4 total length shorter than the frame bounds the payload (trailer bytes ignored)', () => {
    const frame = concatBytes(ethernet(tcp4()), utf8('TRAILER'));
    expectTcp(decode(LINKTYPE.ETHERNET, frame), 4, 14, 20);
    const frame6 = concatBytes(ethernet(tcp6()), utf8('TRAILER'));
    expectTcp(decode(LINKTYPE.ETHERNET, frame6), 6, 14, 40);
  });

  it('UDP length bounds the payload; UDP length 0 (jumbogram) uses the IP payload', () => {
    const ip = udp4('abcdefgh');
    ip[20 + 4] = 0;
    ip[20 + 5] = 8 + 3;
    const d = decode(LINKTYPE.RAW, ip);
    expect(d.st).toBe(PacketStatus.Transport);
    expect(payloadText(d)).toBe('abc');
    const jumbo = udp6('abcdefgh');
    jumbo[40 + 4] = 0;
    jumbo[40 + 5] = 0;
    const j = decode(LINKTYPE.RAW, jumbo);
    expect(j.st).toBe(PacketStatus.Transport);
    expect(payloadText(j)).toBe('abcdefgh');
  });

  it('a snapped capture (caplen < origLen) decodes the headers and is not an anomaly', () => {
    const frame = ethernet(tcp4());
    const caplen = 14 + 20 + 20 + 5;
    const d = decode(LINKTYPE.ETHERNET, frame, caplen, frame.length);
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.warning).toBe(0);
    expect(d.v.ipLength).toBe(20 + 20 + PAYLOAD.length);
    expect(d.v.payloadLength).toBe(5);
    expect(payloadText(d)).toBe(PAYLOAD.slice(0, 5));
    const f6 = ethernet(tcp6());
    const d6 = decode(LINKTYPE.ETHERNET, f6, 14 + 40 + 20, f6.length);
    expect(d6.st).toBe(PacketStatus.Transport);
    expect(d6.v.warning).toBe(0);
    expect(d6.v.payloadLength).toBe(0);
    expect(d6.v.ipLength).toBe(40 + 20 + PAYLOAD.length);
    // Snapped inside the IP header: a truncation, not a bad header.
    expect(decode(LINKTYPE.ETHERNET, frame, 14 + 12, frame.length).st).toBe(PacketStatus.Ipv4Truncated);
    expect(decode(LINKTYPE.ETHERNET, f6, 14 + 30, f6.length).st).toBe(PacketStatus.Ipv6Truncated);
  });

  it('a whole frame shorter than its IP length decodes with an Ipv4Truncated / Ipv6Truncated warning', () => {
    const ip = tcp4();
    const cut = ip.subarray(0, ip.length - 4);
    const d = decode(LINKTYPE.RAW, cut);
    expect(d.st).toBe(PacketStatus.Transport);
    expect(d.v.warning).toBe(PacketStatus.Ipv4Truncated);
    expect(d.v.errorOffset).toBe(d.off);
    expect(d.v.payloadLength).toBe(PAYLOAD.length - 4);
    expect(d.v.ipLength).toBe(ip.length);
    const ip6 = tcp6();
    const d6 = decode(LINKTYPE.RAW, ip6.subarray(0, ip6.length - 4));
    expect(d6.st).toBe(PacketStatus.Transport);
    expect(d6.v.warning).toBe(PacketStatus.Ipv6Truncated);
    expect(d6.v.payloadLength).toBe(PAYLOAD.length - 4);
    // The same cut on a snapped capture: no warning.
    expect(decode(LINKTYPE.RAW, cut, cut.length, ip.length).v.warning).toBe(0);
  });
});

describe('decodePacket anomaly statuses', () => {
  it('LinkTruncated for every link header cut short', () => {
    const cases: Array<[number, Uint8Array]> = [
      [LINKTYPE.ETHERNET, ethernet(tcp4()).subarray(0, 13)],
      [LINKTYPE.ETHERNET, ethernet(tcp4(), { vlans: [100] }).subarray(0, 16)],
      [LINKTYPE.ETHERNET, ethernet(tcp4(), { mpls: [16001, 24] }).subarray(0, 20)],
      [LINKTYPE.ETHERNET, ethernet(tcp4(), { mpls: [16001, 24] }).subarray(0, 22)],
      [LINKTYPE.ETHERNET, ethernet(tcp4(), { pppoe: { session: 1 } }).subarray(0, 21)],
      [LINKTYPE.LINUX_SLL, sll(tcp4()).subarray(0, 15)],
      [LINKTYPE.LINUX_SLL2, sll2(tcp4()).subarray(0, 19)],
      [LINKTYPE.NULL, nullLoopback(tcp4()).subarray(0, 3)],
      [LINKTYPE.RAW, new Uint8Array(0)],
      [LINKTYPE.IPV4, new Uint8Array(0)],
    ];
    for (const [lt, frame] of cases) {
      const d = decode(lt, frame);
      expect(d.st, `${lt} ${frame.length}`).toBe(PacketStatus.LinkTruncated);
      expect(PACKET_STATUS_ANOMALY[d.st]).toBe('link.truncated');
    }
  });

  it('too many stacked tags → LinkTruncated rather than a long walk', () => {
    const tags = new Array<number>(40).fill(7);
    expect(decode(LINKTYPE.ETHERNET, ethernet(tcp4(), { vlans: tags })).st).toBe(PacketStatus.LinkTruncated);
    expect(decode(LINKTYPE.ETHERNET, ethernet(tcp4(), { mpls: tags })).st).toBe(PacketStatus.LinkTruncated);
  });

  it('Ipv4Bad: IHL below 5, wrong version under an IPv4 ethertype, total length below the header, short whole frame', () => {
    const ihl4 = tcp4();
    ihl4[0] = 0x44;
    const d = decode(LINKTYPE.ETHERNET, ethernet(ihl4));
    expect(d.st).toBe(PacketStatus.Ipv4Bad);
    expect(d.v.errorOffset).toBe(d.off + 14);
    expect(PACKET_STATUS_ANOMALY[d.st]).toBe('ipv4.bad_header');
    const ver = ethernet(tcp4());
    ver[14] = 0x65;
    expect(decode(LINKTYPE.ETHERNET, ver).st).toBe(PacketStatus.Ipv4Bad);
    const total = tcp4();
    total[2] = 0;
    total[3] = 19;
    expect(decode(LINKTYPE.RAW, total).st).toBe(PacketStatus.Ipv4Bad);
    const opts = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { options: new Uint8Array(8) });
    opts[2] = 0;
    opts[3] = 24; // below the 28-byte header
    expect(decode(LINKTYPE.RAW, opts).st).toBe(PacketStatus.Ipv4Bad);
    expect(decode(LINKTYPE.ETHERNET, ethernet(tcp4()).subarray(0, 14 + 19)).st).toBe(PacketStatus.Ipv4Bad);
  });

  it('Ipv4Truncated: the options run past the captured bytes', () => {
    const ip = ipv4(C4, S4, IpProto.TCP, tcpSeg(), { options: new Uint8Array(40).fill(1) });
    const d = decode(LINKTYPE.RAW, ip.subarray(0, 40), 40, ip.length);
    expect(d.st).toBe(PacketStatus.Ipv4Truncated);
    expect(PACKET_STATUS_ANOMALY[d.st]).toBe('ipv4.truncated');
  });

  it('Ipv6Bad: wrong version, header cut in a whole frame, extension chain too long or cut', () => {
    // An IPv6 ethertype whose header says version 4.
    const ver = ethernet(tcp6());
    ver[14] = 0x45;
    const d = decode(LINKTYPE.ETHERNET, ver);
    expect(d.st).toBe(PacketStatus.Ipv6Bad);
    expect(d.v.errorOffset).toBe(d.off + 14);
    expect(decode(LINKTYPE.RAW, tcp6().subarray(0, 39)).st).toBe(PacketStatus.Ipv6Bad);
    const long = tcp6(new Array<Ipv6ExtHeader>(12).fill({ type: IpProto.DESTINATION_OPTIONS }));
    const dl = decode(LINKTYPE.RAW, long);
    expect(dl.st).toBe(PacketStatus.Ipv6Bad);
    expect(PACKET_STATUS_ANOMALY[dl.st]).toBe('ipv6.bad_header');
    const cut = tcp6([{ type: IpProto.HOP_BY_HOP }]);
    cut[4] = 0;
    cut[5] = 4; // payload length ends inside the hop-by-hop header
    expect(decode(LINKTYPE.RAW, cut).st).toBe(PacketStatus.Ipv6Bad);
  });

  it('TcpTruncated: fewer than 20 bytes of TCP, or data offset beyond the segment', () => {
    const short = ipv4(C4, S4, IpProto.TCP, tcpSeg().subarray(0, 12));
    const d = decode(LINKTYPE.ETHERNET, ethernet(short));
    expect(d.st).toBe(PacketStatus.TcpTruncated);
    expect(d.v.errorOffset).toBe(d.off + 14 + 20);
    expect(PACKET_STATUS_ANOMALY[d.st]).toBe('tcp.truncated');
    const seg = tcp(40001, 3333, SEQ, 0, TcpFlag.ACK, new Uint8Array(4));
    seg[12] = 0xf0; // 60-byte header in a 24-byte segment
    expect(decode(LINKTYPE.RAW, ipv4(C4, S4, IpProto.TCP, seg)).st).toBe(PacketStatus.TcpTruncated);
    expect(decode(LINKTYPE.RAW, ipv6(C6, S6, IpProto.TCP, seg)).st).toBe(PacketStatus.TcpTruncated);
    // Snapped inside the TCP header is a truncation too.
    const f = ethernet(tcp4());
    expect(decode(LINKTYPE.ETHERNET, f, 14 + 20 + 10, f.length).st).toBe(PacketStatus.TcpTruncated);
  });

  it('TcpBad: data offset below 5 words', () => {
    for (const doff of [0, 1, 4]) {
      const seg = tcpSeg();
      seg[12] = doff << 4;
      const d = decode(LINKTYPE.ETHERNET, ethernet(ipv4(C4, S4, IpProto.TCP, seg)));
      expect(d.st).toBe(PacketStatus.TcpBad);
      expect(d.v.errorOffset).toBe(d.off + 14 + 20);
      expect(PACKET_STATUS_ANOMALY[d.st]).toBe('tcp.bad_header');
    }
  });

  it('UdpTruncated and UdpBadLength', () => {
    const d = decode(LINKTYPE.RAW, ipv4(C4, S4, IpProto.UDP, new Uint8Array([0xcf, 0x09, 0, 53])));
    expect(d.st).toBe(PacketStatus.UdpTruncated);
    expect(PACKET_STATUS_ANOMALY[d.st]).toBe('udp.truncated');
    const bad = udp4('payload');
    bad[20 + 4] = 0;
    bad[20 + 5] = 4;
    const b = decode(LINKTYPE.RAW, bad);
    expect(b.st).toBe(PacketStatus.UdpBadLength);
    expect(PACKET_STATUS_ANOMALY[b.st]).toBe('udp.bad_length');
  });

  it('a reused view: a clean packet after a warned one carries no warning', () => {
    const v = new PacketView();
    const ip = tcp4();
    const cut = ip.slice(0, ip.length - 2);
    expect(decodePacket(LINKTYPE.RAW, cut, 0, cut.length, cut.length, v)).toBe(PacketStatus.Transport);
    expect(v.warning).toBe(PacketStatus.Ipv4Truncated);
    expect(decodePacket(LINKTYPE.RAW, ip, 0, ip.length, ip.length, v)).toBe(PacketStatus.Transport);
    expect(v.warning).toBe(0);
    expect(v.payloadLength).toBe(PAYLOAD.length);
  });
});
