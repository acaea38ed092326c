/**
 * GoFlow2 FlowMessage decoding and encoding on protobuf wire bytes assembled here tag by tag
 * (field numbers and types from GoFlow2 v2 pb/flow.proto), and on GoFlow2-style JSON lines.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeGoflowJson,
  decodeGoflowMessages,
  encodeGoflowJson,
  encodeGoflowMessage,
  FlowMessageType,
  GOFLOW_MAX_MESSAGE,
  type GoflowFields,
  type GoflowFraming,
} from '../../src/decode/goflow2.js';
import type { ExportFlowInput } from '../../src/flow/records.js';

// ---- wire builders (the protobuf encoding rules, written out) -------------------------------

function varint(v: number | bigint): number[] {
  let n = BigInt(v);
  const out: number[] = [];
  do {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n > 0n ? b | 0x80 : b);
  } while (n > 0n);
  return out;
}
const key = (field: number, wt: number): number[] => varint((field << 3) | wt);
const vf = (field: number, v: number | bigint): number[] => [...key(field, 0), ...varint(v)];
const bf = (field: number, bytes: number[]): number[] => [...key(field, 2), ...varint(bytes.length), ...bytes];
const delimited = (body: number[]): number[] => [...varint(body.length), ...body];
const ip4 = (s: string): number[] => s.split('.').map(Number);

interface Decoded {
  records: ExportFlowInput[];
  bad: [number, string][];
  delivered: number;
}

function decode(bytes: number[] | Uint8Array, framing: GoflowFraming = 'delimited'): Decoded {
  const records: ExportFlowInput[] = [];
  const bad: [number, string][] = [];
  const delivered = decodeGoflowMessages(Uint8Array.from(bytes), framing, (r) => records.push(r), (o, e) => bad.push([o, e]));
  return { records, bad, delivered };
}

function decodeJson(text: string): Decoded {
  const records: ExportFlowInput[] = [];
  const bad: [number, string][] = [];
  const delivered = decodeGoflowJson(new TextEncoder().encode(text), (r) => void records.push(r), (o, e) => bad.push([o, e]));
  return { records, bad, delivered };
}

// A NetFlow v9 TCP flow 192.0.2.1:49152 -> 198.51.100.7:3333, 1/100 sampled, with every tag byte
// spelled out: key = field << 3 | wire type, as a varint.
const V9_TCP_BODY = [
  0x08, 0x03, // 1 type = NETFLOW_V9
  0x18, 0x64, // 3 sampling_rate = 100
  0x32, 0x04, 192, 0, 2, 1, // 6 src_addr
  0x3a, 0x04, 198, 51, 100, 7, // 7 dst_addr
  0x48, 0xdc, 0x0b, // 9 bytes = 1500
  0x50, 0x03, // 10 packets = 3
  0x5a, 0x04, 10, 0, 0, 1, // 11 sampler_address
  0xa0, 0x01, 0x06, // 20 proto = 6
  0xa8, 0x01, 0x80, 0x80, 0x03, // 21 src_port = 49152
  0xb0, 0x01, 0x85, 0x1a, // 22 dst_port = 3333
  0xd0, 0x01, 0x1b, // 26 tcp_flags = 0x1b
  0xf0, 0x01, 0x80, 0x10, // 30 etype = 0x800
  ...vf(110, 1_700_000_060_000_000_000n), // time_received_ns
  ...vf(111, 1_700_000_000_123_000_000n), // time_flow_start_ns
  ...vf(112, 1_700_000_059_456_000_000n), // time_flow_end_ns
];

const V9_TCP_RECORD: ExportFlowInput = {
  ipVersion: 4,
  srcAddr: '192.0.2.1',
  dstAddr: '198.51.100.7',
  srcPort: 49152,
  dstPort: 3333,
  protocol: 6,
  tcpFlags: 0x1b,
  packets: 3,
  bytes: 1500,
  reversePackets: 0,
  reverseBytes: 0,
  firstMs: 1_700_000_000_123,
  lastMs: 1_700_000_059_456,
  sampling: 100,
};

const V9_TCP_FIELDS: GoflowFields = {
  type: 'NETFLOW_V9',
  timeReceivedNs: 1_700_000_060_000_000_000n,
  samplingRate: 100,
  samplerAddress: '10.0.0.1',
  srcAddr: '192.0.2.1',
  dstAddr: '198.51.100.7',
  srcPort: 49152,
  dstPort: 3333,
  proto: 6,
  bytes: 1500,
  packets: 3,
  tcpFlags: 0x1b,
  timeFlowStartNs: 1_700_000_000_123_000_000n,
  timeFlowEndNs: 1_700_000_059_456_000_000n,
};

// An sFlow UDP sample between two IPv6 hosts: no flow times, no sampling rate.
const V6 = { src: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01], dst: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x02] };
const SFLOW_V6_BODY = [...vf(1, 1), ...bf(6, V6.src), ...bf(7, V6.dst), ...vf(9, 90), ...vf(10, 1), ...vf(20, 17), ...vf(21, 53), ...vf(22, 40000), ...vf(30, 0x86dd), ...vf(110, 1_700_000_100_250_000_000n)];

describe('decodeGoflowMessages', () => {
  it('reads an IPv4 NetFlow v9 message: addresses, ports, counters, flags, ns times as ms, sampling', () => {
    const d = decode(delimited(V9_TCP_BODY));
    expect(d.bad).toEqual([]);
    expect(d.delivered).toBe(1);
    expect(d.records).toEqual([V9_TCP_RECORD]);
  });

  it('reads IPv6 addresses as RFC 5952 text; a flow time of 0 (sFlow) is the receive time; rate 0 is unsampled', () => {
    const d = decode(delimited(SFLOW_V6_BODY));
    expect(d.bad).toEqual([]);
    expect(d.records).toEqual([
      { ipVersion: 6, srcAddr: '2001:db8::1', dstAddr: '2001:db8:0:1::2', srcPort: 53, dstPort: 40000, protocol: 17, tcpFlags: 0, packets: 1, bytes: 90, reversePackets: 0, reverseBytes: 0, firstMs: 1_700_000_100_250, lastMs: 1_700_000_100_250, sampling: 1 },
    ]);
  });

  it('reads an IPv4-mapped IPv6 address as plain IPv4, beside a 4-byte one', () => {
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9];
    const d = decode(delimited([...bf(6, mapped), ...bf(7, ip4('198.51.100.7')), ...vf(20, 6), ...vf(110, 5_000_000n)]));
    expect(d.bad).toEqual([]);
    expect(d.records[0]).toMatchObject({ ipVersion: 4, srcAddr: '203.0.113.9', dstAddr: '198.51.100.7', protocol: 6, firstMs: 5, lastMs: 5 });
  });

  it('keeps sub-millisecond times as fractions and 64-bit counters as numbers', () => {
    const d = decode(delimited([...bf(6, ip4('192.0.2.1')), ...bf(7, ip4('192.0.2.2')), ...vf(9, 2n ** 40n + 5n), ...vf(10, 2n ** 33n), ...vf(111, 1_700_000_000_123_456_789n), ...vf(112, 1_700_000_000_124_000_000n)]));
    expect(d.records[0]!.bytes).toBe(2 ** 40 + 5);
    expect(d.records[0]!.packets).toBe(2 ** 33);
    expect(d.records[0]!.firstMs - 1_700_000_000_123).toBeCloseTo(0.456789, 3);
    expect(d.records[0]!.lastMs).toBe(1_700_000_000_124);
  });

  it('reads several delimited messages in one record value, in order', () => {
    const other = [...bf(6, ip4('100.64.0.5')), ...bf(7, ip4('203.0.113.50')), ...vf(20, 1), ...vf(110, 7_000_000n)];
    const d = decode([...delimited(V9_TCP_BODY), ...delimited(SFLOW_V6_BODY), ...delimited(other)]);
    expect(d.bad).toEqual([]);
    expect(d.delivered).toBe(3);
    expect(d.records.map((r) => [r.srcAddr, r.protocol])).toEqual([
      ['192.0.2.1', 6],
      ['2001:db8::1', 17],
      ['100.64.0.5', 1],
    ]);
  });

  it("reads one message without a prefix ('single')", () => {
    const d = decode(V9_TCP_BODY, 'single');
    expect(d.bad).toEqual([]);
    expect(d.records).toEqual([V9_TCP_RECORD]);
    // A Kafka client hands over Buffers, often views into a larger pool.
    const pool = Buffer.from([0xee, 0xee, ...delimited(V9_TCP_BODY), ...delimited(V9_TCP_BODY), 0xee]);
    const got: ExportFlowInput[] = [];
    expect(decodeGoflowMessages(pool.subarray(2, pool.length - 1), 'delimited', (r) => got.push(r), () => expect.fail('no bad message'))).toBe(2);
    expect(got).toEqual([V9_TCP_RECORD, V9_TCP_RECORD]);
  });

  it('skips fields it does not need and unknown ones, of every wire type', () => {
    const body = [
      ...vf(4, 77), // sequence_num
      ...V9_TCP_BODY.slice(0, 4),
      ...vf(27, 0x001122334455n), // src_mac
      ...bf(81, [...varint(100), ...varint(300000)]), // packed mpls_label
      ...bf(82, [10, 9, 9, 9]), // mpls_ip
      ...V9_TCP_BODY.slice(4),
      ...vf(250, 12345678901234n), // unknown varint
      ...key(251, 1), 1, 2, 3, 4, 5, 6, 7, 8, // unknown fixed64
      ...key(252, 5), 1, 2, 3, 4, // unknown fixed32
      ...bf(999, [0xff, 0xff, 0xff]), // unknown bytes
      ...key(300, 3), ...vf(1, 5), ...key(300, 4), // unknown group
    ];
    const d = decode(delimited(body));
    expect(d.bad).toEqual([]);
    expect(d.records).toEqual([V9_TCP_RECORD]);
  });

  it('reports a declared length past the end at the prefix, and stops', () => {
    const good = delimited(V9_TCP_BODY);
    const d = decode([...good, ...varint(50), 1, 2, 3]);
    expect(d.delivered).toBe(1);
    expect(d.bad).toHaveLength(1);
    expect(d.bad[0]![0]).toBe(good.length);
    expect(d.bad[0]![1]).toMatch(/50-byte FlowMessage, only 3 bytes left/);
  });

  it('reports a varint prefix cut short, an oversized or over-long one, and stops', () => {
    expect(decode([0xff, 0xff]).bad).toEqual([[0, expect.stringMatching(/varint message length/)]]);
    const big = decode([...varint(GOFLOW_MAX_MESSAGE + 1), ...new Array(10).fill(0)]);
    expect(big.bad).toEqual([[0, expect.stringMatching(/up to 65536 bytes/)]]);
    // 2^35 declared: protobufjs keeps only 32 bits of it; the prefix length gives it away.
    const huge = decode([...delimited(V9_TCP_BODY), 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 2]);
    expect(huge.delivered).toBe(1);
    expect(huge.bad).toEqual([[V9_TCP_BODY.length + 1, expect.stringMatching(/up to 65536 bytes/)]]);
    const single = decode(new Uint8Array(GOFLOW_MAX_MESSAGE + 1), 'single');
    expect(single.bad).toEqual([[0, expect.stringMatching(/at most 65536 bytes/)]]);
  });

  it('reports a bad message at the offending field and goes on to the next message', () => {
    const fiveByteSrc = [...bf(6, [1, 2, 3, 4, 5]), ...bf(7, ip4('192.0.2.2'))];
    const first = delimited(fiveByteSrc);
    const d = decode([...first, ...delimited(V9_TCP_BODY)]);
    expect(d.bad).toEqual([[1, 'src_addr (field 6) of 4 or 16 bytes, got 5']]);
    expect(d.records).toEqual([V9_TCP_RECORD]);

    const noDst = decode(delimited([...bf(6, ip4('192.0.2.1')), ...vf(20, 6)]));
    expect(noDst.bad).toEqual([[1, 'dst_addr (field 7) of 4 or 16 bytes, got 0']]);

    const mixed = decode(delimited([...bf(6, ip4('192.0.2.1')), ...bf(7, V6.dst)]));
    expect(mixed.bad).toEqual([[7, expect.stringMatching(/one address family/)]]);

    const wrongType = decode(delimited([...vf(6, 5), ...bf(7, ip4('192.0.2.2'))]));
    expect(wrongType.bad).toEqual([[1, expect.stringMatching(/src_addr.*length-delimited.*got varint/)]]);

    const bigPort = decode(delimited([...bf(6, ip4('192.0.2.1')), ...bf(7, ip4('192.0.2.2')), ...vf(21, 70000)]));
    expect(bigPort.bad).toEqual([[13, expect.stringMatching(/src_port.*0-65535, got 70000/)]]);

    const fieldZero = decode(delimited([...bf(6, ip4('192.0.2.1')), 0x00, 0x01]));
    expect(fieldZero.bad).toEqual([[7, expect.stringMatching(/field number 0/)]]);

    const wire7 = decode(delimited([...bf(6, ip4('192.0.2.1')), ...key(40, 7)]));
    expect(wire7.bad).toEqual([[7, expect.stringMatching(/FlowMessage field/)]]);

    // A bytes field whose length runs past its message, though not past the record.
    const overrun = decode([...delimited([...bf(6, ip4('192.0.2.1')), ...key(7, 2), 20]), ...new Array(30).fill(0)]);
    expect(overrun.bad[0]).toEqual([7, expect.stringMatching(/field 7: 20 bytes of address, only 0 left/)]);

    const cutVarint = decode(delimited([...bf(6, ip4('192.0.2.1')), ...key(9, 0), 0x80]));
    expect(cutVarint.bad).toEqual([[7, expect.stringMatching(/FlowMessage field/)]]);
  });

  it('survives thousands of random mutations without throwing, delivering only sound records', () => {
    const seed = [...delimited(V9_TCP_BODY), ...delimited(SFLOW_V6_BODY), ...delimited(V9_TCP_BODY)];
    let state = 0x2545f491;
    const rnd = (n: number): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    let delivered = 0;
    let bad = 0;
    for (let i = 0; i < 4000; i++) {
      const b = seed.slice();
      const edits = 1 + rnd(4);
      for (let e = 0; e < edits; e++) {
        if (b.length === 0) break;
        const op = rnd(4);
        const at = rnd(b.length);
        if (op === 0) b[at] = rnd(256);
        else if (op === 1) b.splice(at, 1 + rnd(8));
        else if (op === 2) b.splice(at, 0, ...Array.from({ length: 1 + rnd(8) }, () => rnd(256)));
        else b.length = at;
      }
      for (const framing of ['delimited', 'single'] as const) {
        const d = decode(b, framing);
        expect(d.delivered).toBe(d.records.length);
        delivered += d.delivered;
        bad += d.bad.length;
        for (const [offset, what] of d.bad) {
          expect(offset).toBeGreaterThanOrEqual(0);
          expect(offset).toBeLessThanOrEqual(b.length);
          expect(what.length).toBeGreaterThan(0);
        }
        for (const r of d.records) {
          expect(r.srcPort).toBeLessThanOrEqual(65535);
          expect(r.protocol).toBeLessThanOrEqual(255);
          expect(r.sampling).toBeGreaterThanOrEqual(1);
          expect(r.srcAddr.includes(':')).toBe(r.ipVersion === 6);
        }
      }
    }
    expect(delivered).toBeGreaterThan(0);
    expect(bad).toBeGreaterThan(0);
  });
});

describe('encodeGoflowMessage', () => {
  it('writes the same bytes as the hand-assembled message, length-prefixed', () => {
    expect(Array.from(encodeGoflowMessage(V9_TCP_FIELDS))).toEqual(delimited(V9_TCP_BODY));
  });

  it('writes IPv6 addresses as 16 bytes, etype 0x86dd, and leaves zero values out', () => {
    const enc = encodeGoflowMessage({ type: 'SFLOW_5', timeReceivedNs: 1_700_000_100_250_000_000n, srcAddr: '2001:db8::1', dstAddr: '2001:db8:0:1::2', srcPort: 53, dstPort: 40000, proto: 17, bytes: 90, packets: 1, tcpFlags: 0, timeFlowStartNs: 0n, timeFlowEndNs: 0n });
    expect(Array.from(enc)).toEqual(delimited(SFLOW_V6_BODY));
  });

  it('is read back by protobufjs with the FlowMessage schema', () => {
    const m = FlowMessageType.toObject(FlowMessageType.decodeDelimited(encodeGoflowMessage(V9_TCP_FIELDS)), { longs: String, enums: String });
    expect(m).toMatchObject({ type: 'NETFLOW_V9', samplingRate: '100', srcPort: 49152, dstPort: 3333, proto: 6, etype: 0x800, timeReceivedNs: '1700000060000000000', timeFlowStartNs: '1700000000123000000', timeFlowEndNs: '1700000059456000000' });
    expect(Array.from(m.srcAddr as Uint8Array)).toEqual([192, 0, 2, 1]);
    expect(Array.from(m.samplerAddress as Uint8Array)).toEqual([10, 0, 0, 1]);
  });

  it('round-trips through the decoder, several messages in one value', () => {
    const f2: GoflowFields = { ...V9_TCP_FIELDS, srcAddr: '2001:db8::a', dstAddr: '2001:db8::b', proto: 17, tcpFlags: 0, samplingRate: 0, samplerAddress: null };
    const value = Uint8Array.from([...encodeGoflowMessage(V9_TCP_FIELDS), ...encodeGoflowMessage(f2)]);
    const d = decode(value);
    expect(d.bad).toEqual([]);
    expect(d.records).toEqual([V9_TCP_RECORD, { ...V9_TCP_RECORD, ipVersion: 6, srcAddr: '2001:db8::a', dstAddr: '2001:db8::b', protocol: 17, tcpFlags: 0, sampling: 1 }]);
  });

  it('refuses what is not an address', () => {
    expect(() => encodeGoflowMessage({ ...V9_TCP_FIELDS, srcAddr: 'host.example' })).toThrow(/srcAddr: expected an IPv4 or IPv6 address/);
  });
});

describe('GoFlow2 JSON', () => {
  const lines = [
    '{"type":"SFLOW_5","time_received_ns":1700000100500000000,"sequence_num":12,"sampling_rate":512,"sampler_address":"192.0.2.254","time_flow_start_ns":0,"time_flow_end_ns":0,"bytes":1514,"packets":1,"src_addr":"2001:db8::10","dst_addr":"2001:db8::20","etype":"IPv6","proto":"TCP","src_port":443,"dst_port":51000,"in_if":3,"out_if":4,"src_mac":"00:11:22:33:44:55","dst_mac":"66:77:88:99:aa:bb","tcp_flags":24,"mpls_label":[],"as_path":[]}',
    '',
    '{"type":"NETFLOW_V9","time_received_ns":1700000060000000000,"sequence_num":900,"sampling_rate":0,"sampler_address":"10.0.0.1","time_flow_start_ns":1700000000123000000,"time_flow_end_ns":1700000059456000000,"bytes":300,"packets":2,"src_addr":"100.64.1.2","dst_addr":"198.51.100.7","etype":"IPv4","proto":17,"src_port":5000,"dst_port":3333,"tcp_flags":0}',
    '{"type":"IPFIX","src_addr":"100.64.1.2","time_flow_start_ns":1,"proto":6}',
    'not json',
  ];

  it('reads GoFlow2 JSON lines: names or numbers for proto, receive time for sFlow, a bad line at its offset', () => {
    const d = decodeJson(lines.join('\n'));
    expect(d.delivered).toBe(2);
    expect(d.records).toEqual([
      { ipVersion: 6, srcAddr: '2001:db8::10', dstAddr: '2001:db8::20', srcPort: 443, dstPort: 51000, protocol: 6, tcpFlags: 24, packets: 1, bytes: 1514, reversePackets: 0, reverseBytes: 0, firstMs: 1_700_000_100_500, lastMs: 1_700_000_100_500, sampling: 512 },
      { ipVersion: 4, srcAddr: '100.64.1.2', dstAddr: '198.51.100.7', srcPort: 5000, dstPort: 3333, protocol: 17, tcpFlags: 0, packets: 2, bytes: 300, reversePackets: 0, reverseBytes: 0, firstMs: 1_700_000_000_123, lastMs: 1_700_000_059_456, sampling: 1 },
    ]);
    const off = (i: number): number => lines.slice(0, i).reduce((n, l) => n + l.length + 1, 0);
    expect(d.bad).toEqual([
      [off(3), expect.stringMatching(/dst_addr/)],
      [off(4), expect.stringMatching(/a JSON object/)],
    ]);
  });

  it('a line whose flow the sink refuses (address text the flow table cannot read) is a bad line at its offset; what a bad object misses is said once', () => {
    const good = JSON.stringify({ src_addr: '2001:db8::1', dst_addr: '2001:db8::2', proto: 6, src_port: 40000, dst_port: 3333, bytes: 100, packets: 1, time_flow_start_ns: 1700000000000000000, time_flow_end_ns: 1700000001000000000 });
    const zoned = good.replace('2001:db8::1', 'fe80::1%eth0');
    const text = [good, zoned, '{"src_addr":"10.0.0.1"}', good].join('\n');
    const got: ExportFlowInput[] = [];
    const bad: [number, string][] = [];
    // The sink refuses what it cannot read, as the flow table's record() does.
    const delivered = decodeGoflowJson(new TextEncoder().encode(text), (r) => r.srcAddr !== 'fe80::1%eth0' && got.push(r) > 0, (o, e) => bad.push([o, e]));
    expect(delivered).toBe(2);
    expect(got).toHaveLength(2);
    const at = (i: number): number => Buffer.byteLength([good, zoned, '{"src_addr":"10.0.0.1"}'].slice(0, i).join('\n')) + (i > 0 ? 1 : 0);
    expect(bad).toEqual([
      [at(1), 'a flow object (expected src_addr/ip_src and dst_addr/ip_dst as IP addresses of one family)'],
      [at(2), expect.stringMatching(/^a flow object \(.+\)$/)],
    ]);
    // The consumer writes "expected " before it: the reason is not "expected expected …".
    expect(bad[1]![1]).not.toMatch(/^expected|\(expected expected/);
  });

  it('refuses an over-long line unread', () => {
    const d = decodeJson(`{"x":"${'a'.repeat(GOFLOW_MAX_MESSAGE)}"}\n${lines[2]}`);
    expect(d.bad).toEqual([[0, expect.stringMatching(/at most/)]]);
    expect(d.delivered).toBe(1);
  });

  it('encodes as GoFlow2 writes JSON, and reads back the record the binary path gives', () => {
    const json = encodeGoflowJson(V9_TCP_FIELDS);
    expect(json).toBe(
      '{"type":"NETFLOW_V9","time_received_ns":1700000060000000000,"sampling_rate":100,"sampler_address":"10.0.0.1","time_flow_start_ns":1700000000123000000,"time_flow_end_ns":1700000059456000000,"bytes":1500,"packets":3,"src_addr":"192.0.2.1","dst_addr":"198.51.100.7","etype":2048,"proto":6,"src_port":49152,"dst_port":3333,"tcp_flags":27}',
    );
    expect(decodeJson(json).records).toEqual([V9_TCP_RECORD]);
    const v6: GoflowFields = { ...V9_TCP_FIELDS, srcAddr: '2001:DB8:0:0::1', dstAddr: '2001:db8::2', timeFlowStartNs: 0n, timeFlowEndNs: 0n };
    const fromJson = decodeJson(encodeGoflowJson(v6)).records;
    expect(fromJson[0]!.srcAddr).toBe('2001:db8::1');
    expect(fromJson).toEqual(decode(encodeGoflowMessage(v6)).records);
  });
});
