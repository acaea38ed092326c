import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import {
  IpProto,
  LinkType,
  TcpFlag,
  ethernet,
  internetChecksum,
  ipv4,
  ipv6,
  nullLoopback,
  parseIpv4,
  parseIpv6,
  pcapFile,
  pcapngFile,
  sll,
  sll2,
  tcp,
  tcpSession,
  udp,
  udpExchange,
  utf8,
  type TimedPacket,
} from './support/builders.js';
import { BASE_TS, buildFixtures, expectedJson } from '../scripts/gen-fixtures.js';

const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));

interface PcapParserPacket {
  header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number };
  data: Buffer;
}
interface PcapParserGlobalHeader {
  magicNumber: number;
  majorVersion: number;
  minorVersion: number;
  snapshotLength: number;
  linkLayerType: number;
}
interface PcapParserEmitter {
  on(event: 'globalHeader', listener: (header: PcapParserGlobalHeader) => void): this;
  on(event: 'packet', listener: (packet: PcapParserPacket) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
}

const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as { parse(input: Readable | string): PcapParserEmitter };

/** Parses a classic pcap with the independent `pcap-parser` package. */
function parseWithPcapParser(bytes: Uint8Array): Promise<{ header: PcapParserGlobalHeader; packets: PcapParserPacket[] }> {
  return new Promise((resolve, reject) => {
    const packets: PcapParserPacket[] = [];
    let header: PcapParserGlobalHeader | undefined;
    let failed = false;
    const parser = pcapParser.parse(Readable.from([Buffer.from(bytes)]));
    parser.on('globalHeader', (h) => (header = h));
    parser.on('packet', (p) => packets.push(p));
    parser.on('error', (error) => {
      failed = true;
      reject(error);
    });
    parser.on('end', () => {
      if (failed) return;
      if (header) resolve({ header, packets });
      else reject(new Error('pcap-parser emitted no global header'));
    });
  });
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Minimal walk of an IP packet down to its transport header, for checking builder output. */
function transportOf(ip: Uint8Array): { proto: number; offset: number; src: Uint8Array; dst: Uint8Array } {
  if (ip[0]! >> 4 === 4) return { proto: ip[9]!, offset: (ip[0]! & 0x0f) * 4, src: ip.subarray(12, 16), dst: ip.subarray(16, 20) };
  let next = ip[6]!;
  let offset = 40;
  while (next === 0 || next === 43 || next === 60 || next === 44) {
    const length = next === 44 ? 8 : (ip[offset + 1]! + 1) * 8;
    next = ip[offset]!;
    offset += length;
  }
  return { proto: next, offset, src: ip.subarray(8, 24), dst: ip.subarray(24, 40) };
}

function u16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

function u32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset);
}

function pseudoSum(ip: Uint8Array): number {
  const { proto, offset, src, dst } = transportOf(ip);
  const segment = ip.subarray(offset);
  const pseudo =
    src.length === 4
      ? new Uint8Array([...src, ...dst, 0, proto, segment.length >> 8, segment.length & 0xff])
      : new Uint8Array([...src, ...dst, 0, 0, segment.length >> 8, segment.length & 0xff, 0, 0, 0, proto]);
  return internetChecksum(pseudo, segment);
}

describe('address parsing', () => {
  it('parses IPv6 text with :: compression and embedded IPv4', () => {
    expect(hex(parseIpv6('::'))).toBe('0'.repeat(32));
    expect(hex(parseIpv6('::1'))).toBe('0'.repeat(31) + '1');
    expect(hex(parseIpv6('fd00::1:10'))).toBe('fd00' + '0'.repeat(20) + '00010010');
    expect(hex(parseIpv6('2001:db8::3333'))).toBe('20010db8' + '0'.repeat(20) + '3333');
    expect(hex(parseIpv6('1::'))).toBe('0001' + '0'.repeat(28));
    expect(hex(parseIpv6('2001:DB8:0:0:1:0:0:1'))).toBe('20010db8000000000001000000000001');
    expect(hex(parseIpv6('::ffff:192.0.2.1'))).toBe('0'.repeat(20) + 'ffffc0000201');
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '1:2:3:4::5:6:7:8', '12345::']) {
      expect(() => parseIpv6(bad), bad).toThrow();
    }
  });

  it('parses dotted-quad IPv4 and rejects the rest', () => {
    expect([...parseIpv4('203.0.113.10')]).toEqual([203, 0, 113, 10]);
    for (const bad of ['1.2.3', '1.2.3.256', '1.2.3.4.5', 'a.b.c.d']) expect(() => parseIpv4(bad), bad).toThrow();
  });
});

describe('IP and transport builders', () => {
  it('builds IPv4 with a valid header checksum, padded options and fragment fields', () => {
    const payload = utf8('hello');
    const packet = ipv4('10.0.0.1', '203.0.113.7', IpProto.UDP, payload, {
      id: 0x1234,
      ttl: 33,
      options: new Uint8Array([7, 7, 4, 0, 0, 0, 0]),
      fragOffset8: 185,
      moreFragments: true,
    });
    const headerLength = (packet[0]! & 0x0f) * 4;
    expect(packet[0]! >> 4).toBe(4);
    expect(headerLength).toBe(28);
    expect(u16(packet, 2)).toBe(packet.length);
    expect(packet.length).toBe(28 + payload.length);
    expect(u16(packet, 4)).toBe(0x1234);
    expect(u16(packet, 6)).toBe(0x2000 | 185);
    expect(packet[8]).toBe(33);
    expect(packet[9]).toBe(17);
    expect(internetChecksum(packet.subarray(0, headerLength))).toBe(0);
    expect(Buffer.from(packet.subarray(headerLength)).toString()).toBe('hello');
  });

  it('chains IPv6 extension headers with correct lengths', () => {
    const segment = tcp(1, 2, 3, 4, TcpFlag.SYN, new Uint8Array(0));
    const packet = ipv6('fd00::1', '2001:db8::2', IpProto.TCP, segment, {
      extHeaders: [{ type: 0 }, { type: 43 }, { type: 60, body: new Uint8Array([1, 9, ...new Array<number>(9).fill(0)]) }, { type: 44 }],
    });
    expect(packet[0]! >> 4).toBe(6);
    expect(u16(packet, 4)).toBe(packet.length - 40);
    expect(packet[6]).toBe(0);
    // hop-by-hop: 8 bytes, next = routing
    expect(packet[40]).toBe(43);
    expect(packet[41]).toBe(0);
    // routing (segment routing header holding the destination): 24 bytes, next = destination options
    expect(packet[48]).toBe(60);
    expect(packet[49]).toBe(2);
    expect(hex(packet.subarray(56, 72))).toBe(hex(parseIpv6('2001:db8::2')));
    // destination options: 2 + 11 bytes padded to 16, next = fragment
    expect(packet[72]).toBe(44);
    expect(packet[73]).toBe(1);
    // fragment: 8 bytes, next = TCP
    expect(packet[88]).toBe(6);
    const walked = transportOf(packet);
    expect(walked).toMatchObject({ proto: 6, offset: 96 });
    expect(hex(packet.subarray(96))).toBe(hex(segment));
  });

  it('builds TCP and UDP headers with verifiable checksums', () => {
    const payload = utf8('{"id":1}\n');
    const options = new Uint8Array([2, 4, 5, 0xb4, 1]);
    const segment = tcp(40001, 3333, 0xfffffff0, 7, TcpFlag.PSH | TcpFlag.ACK, payload, {
      window: 1000,
      options,
      pseudo: { src: '10.0.0.1', dst: '203.0.113.5' },
    });
    expect(u16(segment, 0)).toBe(40001);
    expect(u16(segment, 2)).toBe(3333);
    expect(u32(segment, 4)).toBe(0xfffffff0);
    expect(u32(segment, 8)).toBe(7);
    expect(segment[12]! >> 4).toBe(7);
    expect(segment[13]).toBe(0x18);
    expect(u16(segment, 14)).toBe(1000);
    expect(pseudoSum(ipv4('10.0.0.1', '203.0.113.5', IpProto.TCP, segment))).toBe(0);

    const datagram = udp(53001, 53, payload, { pseudo: { src: 'fd00::10', dst: '2001:db8::53' } });
    expect(u16(datagram, 4)).toBe(8 + payload.length);
    expect(u16(datagram, 6)).not.toBe(0);
    expect(pseudoSum(ipv6('fd00::10', '2001:db8::53', IpProto.UDP, datagram))).toBe(0);
  });
});

describe('link-layer builders', () => {
  const ip4 = ipv4('10.0.0.1', '10.0.0.2', IpProto.UDP, udp(1, 2, new Uint8Array(4)));
  const ip6 = ipv6('fd00::1', 'fd00::2', IpProto.UDP, udp(1, 2, new Uint8Array(4)));

  it('frames Ethernet with VLAN, QinQ, MPLS and PPPoE', () => {
    expect(u16(ethernet(ip4), 12)).toBe(0x0800);
    expect(u16(ethernet(ip6), 12)).toBe(0x86dd);
    const vlan = ethernet(ip4, { vlans: [100] });
    expect([u16(vlan, 12), u16(vlan, 14), u16(vlan, 16)]).toEqual([0x8100, 100, 0x0800]);
    const qinq = ethernet(ip6, { vlans: [200, 100] });
    expect([u16(qinq, 12), u16(qinq, 14), u16(qinq, 16), u16(qinq, 18), u16(qinq, 20)]).toEqual([0x88a8, 200, 0x8100, 100, 0x86dd]);
    const mpls = ethernet(ip4, { mpls: [16001, 24] });
    expect(u16(mpls, 12)).toBe(0x8847);
    expect(u32(mpls, 14)).toBe(((16001 << 12) | 64) >>> 0);
    expect(u32(mpls, 18)).toBe(((24 << 12) | 0x100 | 64) >>> 0);
    expect(hex(mpls.subarray(22))).toBe(hex(ip4));
    const pppoe = ethernet(ip6, { pppoe: { session: 0x1234 } });
    expect(u16(pppoe, 12)).toBe(0x8864);
    expect([pppoe[14], pppoe[15], u16(pppoe, 16), u16(pppoe, 18), u16(pppoe, 20)]).toEqual([0x11, 0, 0x1234, ip6.length + 2, 0x0057]);
    expect(ethernet(ip4, { padToMinimum: true }).length).toBe(60);
  });

  it('writes cooked and loopback headers', () => {
    const v1 = sll(ip4, { outgoing: true });
    expect([u16(v1, 0), u16(v1, 2), u16(v1, 4), u16(v1, 14)]).toEqual([4, 1, 6, 0x0800]);
    expect(v1.length).toBe(16 + ip4.length);
    const v2 = sll2(ip6);
    expect([u16(v2, 0), u32(v2, 4), u16(v2, 8), v2[10], v2[11]]).toEqual([0x86dd, 2, 1, 0, 6]);
    expect(v2.length).toBe(20 + ip6.length);
    expect([...nullLoopback(ip4).subarray(0, 4)]).toEqual([2, 0, 0, 0]);
    expect([...nullLoopback(ip6, false).subarray(0, 4)]).toEqual([0, 0, 0, 30]);
  });
});

describe('tcpSession', () => {
  const messages = [
    { from: 'client' as const, data: 'hello server, this is a longer request\n', segments: 3 },
    { from: 'server' as const, data: 'hi\n' },
    { from: 'client' as const, data: 'bye\n', segments: 2 },
  ];

  function analyse(packets: TimedPacket[]) {
    const streams = { client: new Map<number, Uint8Array>(), server: new Map<number, Uint8Array>() };
    const decoded = packets.map((p) => {
      const { proto, offset } = transportOf(p.ip);
      expect(proto).toBe(6);
      expect(pseudoSum(p.ip)).toBe(0);
      const seg = p.ip.subarray(offset);
      const dataOffset = (seg[12]! >> 4) * 4;
      const d = { from: p.from, seq: u32(seg, 4), ack: u32(seg, 8), flags: seg[13]!, payload: seg.subarray(dataOffset), ts: p.ts };
      if (d.payload.length > 0) streams[p.from].set(d.seq, d.payload);
      return d;
    });
    return { decoded, streams };
  }

  it('numbers sequences and acknowledgements exactly', () => {
    const packets = tcpSession({ client: ['10.0.0.1', 40000], server: ['203.0.113.5', 3333], start: BASE_TS, isn: { c: 0xfffffff0, s: 1000 }, messages });
    const { decoded, streams } = analyse(packets);
    expect(decoded.map((d) => d.ts)).toEqual([...decoded.map((d) => d.ts)].sort((a, b) => a - b));
    expect(decoded[0]).toMatchObject({ from: 'client', flags: TcpFlag.SYN, seq: 0xfffffff0 });
    expect(decoded[1]).toMatchObject({ from: 'server', flags: TcpFlag.SYN | TcpFlag.ACK, seq: 1000, ack: 0xfffffff1 });
    expect(decoded[2]).toMatchObject({ from: 'client', flags: TcpFlag.ACK, seq: 0xfffffff1, ack: 1001 });
    // Reassemble each direction from sequence numbers (wrapping past 2^32) and compare.
    const reassemble = (map: Map<number, Uint8Array>, first: number): string => {
      let out = '';
      let next = first;
      while (map.has(next)) {
        const piece = map.get(next)!;
        out += Buffer.from(piece).toString();
        next = (next + piece.length) >>> 0;
      }
      return out;
    };
    expect(reassemble(streams.client, 0xfffffff1)).toBe(messages[0]!.data + messages[2]!.data);
    expect(reassemble(streams.server, 1001)).toBe('hi\n');
    // Every data segment is followed by an ACK from the other side covering it.
    decoded.forEach((d, i) => {
      if (d.payload.length === 0) return;
      const reply = decoded[i + 1]!;
      expect(reply.from).not.toBe(d.from);
      expect(reply.ack).toBe((d.seq + d.payload.length) >>> 0);
    });
    const clientBytes = messages[0]!.data.length + messages[2]!.data.length;
    const tail = decoded.slice(-3);
    expect(tail.map((d) => d.flags)).toEqual([TcpFlag.FIN | TcpFlag.ACK, TcpFlag.FIN | TcpFlag.ACK, TcpFlag.ACK]);
    expect(tail[0]).toMatchObject({ seq: (0xfffffff1 + clientBytes) >>> 0, ack: 1004 });
    expect(tail[1]).toMatchObject({ seq: 1004, ack: (0xfffffff2 + clientBytes) >>> 0 });
    expect(tail[2]).toMatchObject({ seq: (0xfffffff2 + clientBytes) >>> 0, ack: 1005 });
  });

  it('swaps the first two segments of the first split message and acks cumulatively', () => {
    const packets = tcpSession({
      client: ['fd00::1', 40000],
      server: ['2001:db8::5', 3333],
      start: BASE_TS,
      isn: { c: 100, s: 5000 },
      messages,
      outOfOrder: true,
    });
    const { decoded } = analyse(packets);
    const data = decoded.filter((d) => d.payload.length > 0 && d.from === 'client');
    expect(data[0]!.seq).toBeGreaterThan(data[1]!.seq);
    const afterFirst = decoded[decoded.indexOf(data[0]!) + 1]!;
    expect(afterFirst.ack).toBe(101); // duplicate ACK: the hole is still open
    const afterSecond = decoded[decoded.indexOf(data[1]!) + 1]!;
    expect(afterSecond.ack).toBe(data[0]!.seq + data[0]!.payload.length);
  });

  it('starts mid-session without handshake or close', () => {
    const packets = tcpSession({
      client: ['10.0.0.1', 40000],
      server: ['203.0.113.5', 3333],
      start: BASE_TS,
      handshake: false,
      close: false,
      messages: [{ from: 'server', data: 'x\n' }],
    });
    expect(packets).toHaveLength(2);
    expect(packets[0]!.ts).toBe(BASE_TS);
    expect(packets.every((p) => (p.ip[33]! & (TcpFlag.SYN | TcpFlag.FIN)) === 0)).toBe(true);
  });

  it('builds UDP exchanges with one datagram per message', () => {
    const packets = udpExchange({
      client: ['10.0.0.1', 5353],
      server: ['198.51.100.53', 53],
      start: BASE_TS,
      messages: [
        { from: 'client', data: 'q' },
        { from: 'server', data: 'answer', gapMs: 7 },
      ],
    });
    expect(packets.map((p) => p.ts)).toEqual([BASE_TS, BASE_TS + 7]);
    expect(packets.map((p) => p.from)).toEqual(['client', 'server']);
    expect(packets.map((p) => pseudoSum(p.ip))).toEqual([0, 0]);
    expect(u16(packets[1]!.ip, 20)).toBe(53);
  });
});

describe('pcapFile round-trips through pcap-parser', () => {
  const frames = [
    { ts: BASE_TS, data: ethernet(ipv4('10.0.0.1', '10.0.0.2', IpProto.UDP, udp(1, 2, utf8('a')))) },
    { ts: BASE_TS + 1.5, data: ethernet(ipv4('10.0.0.2', '10.0.0.1', IpProto.UDP, udp(2, 1, utf8('bb')))) },
    { ts: BASE_TS + 999.999, data: ethernet(ipv4('10.0.0.1', '10.0.0.2', IpProto.UDP, udp(1, 2, new Uint8Array(200)))), origLen: 1500 },
    { ts: BASE_TS + 61_000.25, data: ethernet(ipv6('fd00::1', 'fd00::2', IpProto.UDP, udp(1, 2, new Uint8Array(300)))) },
  ];

  for (const bigEndian of [false, true]) {
    it(`reads microsecond ${bigEndian ? 'big' : 'little'}-endian files`, async () => {
      const file = pcapFile(LinkType.ETHERNET, frames, { bigEndian, snaplen: 128 });
      const { header, packets } = await parseWithPcapParser(file);
      expect(header).toMatchObject({ majorVersion: 2, minorVersion: 4, snapshotLength: 128, linkLayerType: 1 });
      expect(packets).toHaveLength(frames.length);
      const expectedTimes = [
        [1_700_000_000, 0],
        [1_700_000_000, 1_500],
        [1_700_000_000, 999_999],
        [1_700_000_061, 250],
      ];
      packets.forEach((packet, i) => {
        const frame = frames[i]!;
        expect([packet.header.timestampSeconds, packet.header.timestampMicroseconds]).toEqual(expectedTimes[i]);
        expect(packet.header.capturedLength).toBe(Math.min(128, frame.data.length));
        expect(packet.header.originalLength).toBe(frame.origLen ?? frame.data.length);
        expect(hex(packet.data)).toBe(hex(frame.data.subarray(0, 128)));
      });
    });
  }

  it('writes nanosecond files with the 0xa1b23c4d magic (which pcap-parser rejects)', async () => {
    const le = pcapFile(LinkType.RAW, [{ ts: BASE_TS + 0.125, data: new Uint8Array([0x45]) }], { nanos: true });
    expect(hex(le.subarray(0, 4))).toBe('4d3cb2a1');
    expect(new DataView(le.buffer).getUint32(28, true)).toBe(125_000);
    const be = pcapFile(LinkType.RAW, [{ ts: BASE_TS + 0.125, data: new Uint8Array([0x45]) }], { nanos: true, bigEndian: true });
    expect(hex(be.subarray(0, 4))).toBe('a1b23c4d');
    await expect(parseWithPcapParser(le)).rejects.toThrow(/magic/);
  });

  it('reads the committed classic-pcap fixtures', async () => {
    const fixtures = buildFixtures();
    for (const path of ['link/ethernet.pcap', 'formats/pcap-usec-be.pcap', 'demo/office.pcap', 'link/fragments.pcap']) {
      const { packets } = await parseWithPcapParser(readFileSync(join(fixturesDir, path)));
      expect(packets.length, path).toBe(fixtures.expected[path]!.packets);
    }
  });
});

describe('pcapngFile', () => {
  it('writes well-formed blocks with lengths at both ends', () => {
    const file = pcapngFile([
      {
        interfaces: [{ linktype: LinkType.ETHERNET }, { linktype: LinkType.RAW, tsresol: 9 }],
        packets: [
          { iface: 0, ts: BASE_TS, data: new Uint8Array(13), comment: 'x' },
          { iface: 1, ts: BASE_TS + 0.25, data: new Uint8Array(3) },
          { iface: 0, ts: 0, data: new Uint8Array(5), simple: true },
        ],
        unknownBlocks: true,
      },
      { bigEndian: true, interfaces: [{ linktype: LinkType.ETHERNET, snaplen: 4 }], packets: [{ iface: 0, ts: BASE_TS, data: new Uint8Array(10) }] },
    ]);
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const types: number[] = [];
    let offset = 0;
    let le = true;
    while (offset < file.length) {
      if (view.getUint32(offset, true) === 0x0a0d0d0a) le = view.getUint32(offset + 8, true) === 0x1a2b3c4d;
      const type = view.getUint32(offset, le);
      const length = view.getUint32(offset + 4, le);
      expect(length % 4).toBe(0);
      expect(view.getUint32(offset + length - 4, le)).toBe(length);
      types.push(type);
      if (type === 6) {
        const iface = view.getUint32(offset + 8, le);
        const ticks = (BigInt(view.getUint32(offset + 12, le)) << 32n) | BigInt(view.getUint32(offset + 16, le));
        if (iface === 1) expect(ticks).toBe(BigInt(BASE_TS) * 1_000_000n + 250_000n);
        else expect(ticks).toBe(BigInt(BASE_TS) * 1_000n);
        if (!le) expect([view.getUint32(offset + 20, le), view.getUint32(offset + 24, le)]).toEqual([4, 10]);
      }
      offset += length;
    }
    expect(offset).toBe(file.length);
    expect(types).toEqual([0x0a0d0d0a, 1, 1, 6, 0x00000bad, 6, 3, 0x0a0d0d0a, 1, 6]);
    expect(() => pcapngFile([{ interfaces: [{ linktype: 1 }, { linktype: 1 }], packets: [{ iface: 1, ts: 0, data: new Uint8Array(1), simple: true }] }])).toThrow();
  });
});

describe('fixtures', () => {
  const built = buildFixtures();

  it('are up to date with scripts/gen-fixtures.ts and small', () => {
    for (const [path, data] of built.files) {
      expect(data.length, path).toBeLessThan(64 * 1024);
      expect(hex(readFileSync(join(fixturesDir, path))) === hex(data), `${path} differs: run the generator`).toBe(true);
    }
    expect(readFileSync(join(fixturesDir, 'expected.json'), 'utf8')).toBe(expectedJson(built.expected));
  });

  it('are deterministic', () => {
    const again = buildFixtures();
    for (const [path, data] of built.files) expect(hex(again.files.get(path)!), path).toBe(hex(data));
  });

  it('list every fixture in the README', () => {
    const readme = readFileSync(join(fixturesDir, 'README.md'), 'utf8');
    for (const path of built.files.keys()) expect(readme, path).toContain(path);
  });
});

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

const tshark = findOnPath('tshark');
if (!tshark) console.warn('tshark is not on PATH: skipping the tshark cross-checks of builders and fixtures');

function runTshark(args: string[]): string {
  const result = spawnSync(tshark!, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tshark ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function tsharkFields(file: string, fields: string[], extra: string[] = []): string[][] {
  const args = ['-n', '-r', file, ...extra, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  return runTshark(args)
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

describe.skipIf(!tshark)('tshark cross-checks', () => {
  const expected = buildFixtures().expected;
  const fixture = (path: string): string => join(fixturesDir, path);
  const linkFields = ['ip.src', 'ip.dst', 'tcp.srcport', 'tcp.dstport', 'ipv6.src', 'vlan.id', 'mpls.label', 'pppoe.session_id', 'ieee8021ad.id', 'sll.pkttype'];
  // Row 2 is the client's SYN (after the DNS query and answer).
  const synRows: Record<string, Partial<Record<string, string>>> = {
    'link/ethernet.pcap': {},
    'link/vlan.pcap': { 'vlan.id': '100' },
    'link/qinq.pcap': { 'ieee8021ad.id': '200', 'vlan.id': '100' },
    'link/mpls.pcap': { 'mpls.label': '16001,24' },
    'link/pppoe.pcap': { 'pppoe.session_id': '0x1234' },
    'link/sll.pcap': { 'sll.pkttype': '4' },
    'link/sll2.pcapng': { 'sll.pkttype': '4' },
    'link/raw.pcap': {},
    'link/raw-ipv4.pcap': {},
    'link/null.pcap': {},
    'link/ipv4-options.pcap': {},
    'link/raw-ipv6.pcap': { 'ipv6.src': 'fd00::10', 'ip.src': '', 'ip.dst': '' },
    'link/ipv6-ext.pcap': { 'ipv6.src': 'fd00::10', 'ip.src': '', 'ip.dst': '' },
  };

  for (const [path, overrides] of Object.entries(synRows)) {
    it(`decodes ${path}`, () => {
      const rows = tsharkFields(fixture(path), linkFields);
      expect(rows).toHaveLength(expected[path]!.packets);
      const want: Record<string, string> = {
        'ip.src': '192.168.1.10',
        'ip.dst': '203.0.113.5',
        'tcp.srcport': '40001',
        'tcp.dstport': '3333',
        'ipv6.src': '',
        'vlan.id': '',
        'mpls.label': '',
        'pppoe.session_id': '',
        'ieee8021ad.id': '',
        'sll.pkttype': '',
        ...overrides,
      };
      expect(Object.fromEntries(linkFields.map((f, i) => [f, rows[2]![i] ?? '']))).toEqual(want);
    });
  }

  it('finds no malformed packets, bad checksums or TCP sequence problems in valid fixtures', () => {
    const valid = Object.keys(expected).filter((path) => !path.startsWith('bad/'));
    expect(valid.length).toBeGreaterThan(25);
    const checks = ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
    for (const path of valid) {
      const malformed = runTshark(['-n', '-r', fixture(path), ...checks, '-Y', '_ws.malformed || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || tcp.analysis.flags']);
      expect(malformed, path).toBe('');
    }
  });

  it('counts the same packets as expected.json', () => {
    for (const [path, entry] of Object.entries(expected)) {
      if (path.startsWith('bad/')) continue;
      // Custom pcapng blocks surface as records without an encapsulation; they are not packets.
      const rows = tsharkFields(fixture(path), ['frame.encap_type']).filter((row) => row[0] !== '');
      expect(rows.length, path).toBe(entry.packets);
    }
  });

  it('reads multi-section, multi-interface pcapng', () => {
    const rows = tsharkFields(fixture('formats/multi.pcapng'), ['frame.interface_id', 'frame.encap_type', 'frame.time_epoch', 'frame.comment']);
    const packets = rows.filter((row) => row[1] !== '');
    expect(packets).toHaveLength(expected['formats/multi.pcapng']!.packets);
    // Section 1: DNS on the raw-IP ns interface 1, Stratum on Ethernet interface 0.
    expect(packets.filter((row) => row[0] === '1').map((row) => [row[1], row[2]])).toEqual([
      ['7', '1700000000.000000000'],
      ['7', '1700000000.012500000'],
    ]);
    // Section 2 (big-endian): the later DNS lookup on its own Ethernet interface.
    expect(packets.slice(-2).map((row) => [row[1], row[2]])).toEqual([
      ['1', '1700000060.000000000'],
      ['1', '1700000060.012500000'],
    ]);
    // Simple packet blocks carry no timestamp.
    expect(packets.filter((row) => row[2] === '')).toHaveLength(2);
    expect(packets.some((row) => row[3] === 'first Stratum payload')).toBe(true);
    expect(rows.length - packets.length).toBe(1); // the custom block
  });

  it('sees reordered segments as out of order', () => {
    const session = tcpSession({
      client: ['10.0.0.1', 40000],
      server: ['203.0.113.5', 3333],
      start: BASE_TS,
      messages: [{ from: 'client', data: 'one two three four\n', segments: 2 }],
      outOfOrder: true,
    });
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-builders-'));
    const file = join(dir, 'ooo.pcap');
    writeFileSync(file, pcapFile(LinkType.ETHERNET, session.map((p) => ({ ts: p.ts, data: ethernet(p.ip) }))));
    const flagged = runTshark(['-n', '-r', file, '-Y', 'tcp.analysis.out_of_order || tcp.analysis.lost_segment || tcp.analysis.retransmission']);
    expect(flagged).not.toBe('');
    const reassembled = runTshark(['-n', '-r', file, '-q', '-z', 'follow,tcp,ascii,0']);
    // tshark's stream follow puts the segments back in sequence order.
    const first = reassembled.indexOf('one two th');
    expect(first).toBeGreaterThan(0);
    expect(reassembled.indexOf('ree four', first)).toBeGreaterThan(first);
  });
});

