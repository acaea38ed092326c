/**
 * IPFIX decoding on messages built byte by byte here: exact records, variable-length and
 * enterprise fields, RFC 5103 reverse counters, NAT elements, reduced-size counters, every time
 * encoding, options sampling, template withdrawal, malformed sets and truncation, and the RFC 5655
 * file reader.
 */
import { describe, expect, it } from 'vitest';
import { FlowExportDecoder, looksLikeFlowExport, type ExportAnomaly, type ExportRecord } from '../../src/decode/flowexport.js';
import { ieName } from '../../src/decode/ie.js';
import { ipfixMessages } from '../../src/decode/ipfix.js';

// ---- builders -------------------------------------------------------------------------------

const u16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const u64 = (v: number): number[] => [...u32(Math.floor(v / 2 ** 32)), ...u32(v % 2 ** 32)];
const ip4 = (s: string): number[] => s.split('.').map(Number);
const V6A = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
const V6B = [0x26, 0x06, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x10, 0x84, 0xe5];

/** Field specifier: [id, length] or [id, length, enterprise]. */
type F = [number, number] | [number, number, number];
const spec = (f: F): number[] => (f.length === 3 ? [...u16(f[0] | 0x8000), ...u16(f[1]), ...u32(f[2])] : [...u16(f[0]), ...u16(f[1])]);
const tpl = (id: number, fields: F[]): number[] => [...u16(id), ...u16(fields.length), ...fields.flatMap(spec)];
const optTpl = (id: number, scope: F[], opts: F[]): number[] => [...u16(id), ...u16(scope.length + opts.length), ...u16(scope.length), ...scope.flatMap(spec), ...opts.flatMap(spec)];
const set = (id: number, body: number[]): number[] => [...u16(id), ...u16(4 + body.length), ...body];
function msg(hdr: { exportSecs: number; domain: number; length?: number }, sets: number[][]): Uint8Array {
  const body = sets.flat();
  return Uint8Array.from([...u16(10), ...u16(hdr.length ?? 16 + body.length), ...u32(hdr.exportSecs), ...u32(42), ...u32(hdr.domain), ...body]);
}
/** Variable-length field value: 1-byte length, or 255 + 2-byte length. */
const varlen = (bytes: number[], long = false): number[] => (long || bytes.length >= 255 ? [255, ...u16(bytes.length), ...bytes] : [bytes.length, ...bytes]);

function run(dec: FlowExportDecoder, bytes: Uint8Array, exporter = '2001:db8::e'): { ok: boolean; recs: ExportRecord[]; an: ExportAnomaly[] } {
  const buf = new Uint8Array(bytes.length + 9).fill(0xab);
  buf.set(bytes, 5);
  const recs: ExportRecord[] = [];
  const an: ExportAnomaly[] = [];
  const ok = dec.decode(buf, 5, bytes.length, exporter, (r) => recs.push(r), (a) => an.push(a));
  return { ok, recs, an };
}

const H = { exportSecs: 1_700_000_000, domain: 3 };
const T: F[] = [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 2], [2, 8], [1, 8], [152, 8], [153, 8]];
const rec = (src: string, dst: string, pk: number, by: number): number[] => [
  ...ip4(src), ...ip4(dst), ...u16(50000), ...u16(3333), 6, ...u16(0x1a), ...u64(pk), ...u64(by), ...u64(1_699_999_990_123), ...u64(1_699_999_999_456),
];

describe('IPFIX', () => {
  it('decodes a template and its data exactly', () => {
    const m = msg(H, [set(2, tpl(256, T)), set(256, [...rec('100.64.1.1', '203.0.113.9', 7, 1234), ...rec('100.64.1.2', '203.0.113.9', 2 ** 40, 2 ** 50)])]);
    expect(looksLikeFlowExport(m, 0, m.length)).toBe(10);
    const dec = new FlowExportDecoder();
    const { ok, recs, an } = run(dec, m);
    expect(ok).toBe(true);
    expect(an).toEqual([]);
    expect(recs[0]).toEqual({
      version: 10, exporter: '2001:db8::e', domain: 3, templateId: 256, ipVersion: 4,
      srcAddr: '100.64.1.1', dstAddr: '203.0.113.9', srcPort: 50000, dstPort: 3333, protocol: 6, tcpFlags: 0x1a,
      packets: 7, bytes: 1234, reversePackets: 0, reverseBytes: 0, samplingInterval: 1,
      firstMs: 1_699_999_990_123, lastMs: 1_699_999_999_456, direction: null, nat: null,
    });
    expect([recs[1]!.packets, recs[1]!.bytes]).toEqual([2 ** 40, 2 ** 50]);
    expect(dec.stats).toEqual({ datagrams: 1, records: 2, templates: 1, templateMisses: 0, pendingDropped: 0, optionsRecords: 0 });
  });

  it('variable-length fields (both length forms), unknown enterprise fields and RFC 5103 reverse counters', () => {
    const t: F[] = [[27, 16], [28, 16], [82, 65535], [1, 4], [2, 4], [1, 4, 29305], [2, 2, 29305], [100, 65535, 6871], [200, 3, 9], [7, 2], [11, 2]];
    const body = [
      ...V6A, ...V6B, ...varlen([0x65, 0x74, 0x68, 0x30]), ...u32(5000), ...u32(10), ...u32(70000), ...u16(20),
      ...varlen(new Array(300).fill(7)), 1, 2, 3, ...u16(443), ...u16(61000),
      // second record: short forms written long
      ...V6B, ...V6A, ...varlen([], true), ...u32(1), ...u32(1), ...u32(0), ...u16(0), ...varlen([9]), 0, 0, 0, ...u16(1), ...u16(2),
    ];
    const { recs, an } = run(new FlowExportDecoder(), msg(H, [set(2, tpl(400, t)), set(400, body)]));
    expect(an).toEqual([]);
    expect(recs.map((r) => [r.ipVersion, r.srcAddr, r.dstAddr, r.srcPort, r.dstPort, r.bytes, r.packets, r.reverseBytes, r.reversePackets])).toEqual([
      [6, '2001:db8::10', '2606:4700::6810:84e5', 443, 61000, 5000, 10, 70000, 20],
      [6, '2606:4700::6810:84e5', '2001:db8::10', 1, 2, 1, 1, 0, 0],
    ]);
    expect(ieName(29305, 1)).toBe('reverseOctetDeltaCount');
    expect(ieName(0, 152)).toBe('flowStartMilliseconds');
    expect(ieName(9, 12235)).toBe('cisco.12235');
    expect(ieName(4242, 1)).toBe('pen4242.1');
  });

  it('NAT elements (RFC 8158), flowDirection, reduced-size and total counters', () => {
    const t: F[] = [[8, 4], [12, 4], [7, 2], [11, 2], [225, 4], [226, 4], [227, 2], [228, 2], [230, 1], [361, 2], [362, 2], [85, 3], [86, 1], [61, 1]];
    const body = [...ip4('100.64.9.9'), ...ip4('198.51.100.1'), ...u16(40000), ...u16(3333), ...ip4('192.0.2.77'), ...ip4('198.51.100.1'), ...u16(1024), ...u16(3333), 4, ...u16(1024), ...u16(2047), 1, 2, 3, 200, 0];
    const { recs, an } = run(new FlowExportDecoder(), msg(H, [set(2, tpl(500, t)), set(500, body)]));
    expect(an).toEqual([]);
    expect(recs).toHaveLength(1);
    const r = recs[0]!;
    expect([r.bytes, r.packets, r.direction, r.firstMs, r.lastMs]).toEqual([0x010203, 200, 0, 1_700_000_000_000, 1_700_000_000_000]);
    expect(r.nat).toEqual({ event: 4, postSrcAddr: '192.0.2.77', postDstAddr: '198.51.100.1', postSrcPort: 1024, postDstPort: 3333, portRangeStart: 1024, portRangeEnd: 2047 });
    const v6 = run(new FlowExportDecoder(), msg(H, [set(2, tpl(501, [[27, 16], [28, 16], [281, 16], [282, 16]])), set(501, [...V6A, ...V6B, ...V6B, ...V6A])]));
    expect(v6.recs[0]!.nat).toEqual({ event: null, postSrcAddr: '2606:4700::6810:84e5', postDstAddr: '2001:db8::10', postSrcPort: null, postDstPort: null, portRangeStart: null, portRangeEnd: null });
  });

  it('every time encoding becomes absolute Unix ms', () => {
    const base: F[] = [[8, 4], [12, 4]];
    const addrs = [...ip4('1.1.1.1'), ...ip4('2.2.2.2')];
    const cases: Array<[F[], number[], number, number]> = [
      [[[150, 4], [151, 4]], [...u32(1_699_999_000), ...u32(1_699_999_100)], 1_699_999_000_000, 1_699_999_100_000],
      // NTP: seconds since 1900 plus a 2^-32 fraction (0x80000000 = 0.5 s)
      [[[154, 8], [157, 8]], [...u32(1_699_999_000 + 2_208_988_800), ...u32(0x80000000), ...u32(1_699_999_001 + 2_208_988_800), ...u32(0)], 1_699_999_000_500, 1_699_999_001_000],
      [[[22, 4], [21, 4], [160, 8]], [...u32(1000), ...u32(5000), ...u64(1_600_000_000_000)], 1_600_000_001_000, 1_600_000_005_000],
      [[[158, 4], [159, 4]], [...u32(3_000_000), ...u32(250_000)], 1_699_999_997_000, 1_699_999_999_750],
    ];
    for (const [fields, values, first, last] of cases) {
      const { recs, an } = run(new FlowExportDecoder(), msg(H, [set(2, tpl(600, [...base, ...fields])), set(600, [...addrs, ...values])]));
      expect(an).toEqual([]);
      expect([recs[0]!.firstMs, recs[0]!.lastMs]).toEqual([first, last]);
    }
    // sysUpTime-relative times with systemInitTimeMilliseconds from options data
    const dec = new FlowExportDecoder();
    run(dec, msg(H, [set(3, optTpl(700, [[149, 4]], [[160, 8]])), set(700, [...u32(3), ...u64(1_650_000_000_000)])]));
    const r = run(dec, msg(H, [set(2, tpl(600, [...base, [22, 4], [21, 4]])), set(600, [...addrs, ...u32(10), ...u32(20)])]));
    expect([r.recs[0]!.firstMs, r.recs[0]!.lastMs]).toEqual([1_650_000_000_010, 1_650_000_000_020]);
  });

  it('options data sets sampling per selector id and per domain', () => {
    const dec = new FlowExportDecoder();
    const opt = set(3, optTpl(800, [[302, 4]], [[305, 4], [304, 1], [309, 4], [310, 4]]));
    const optData = set(800, [...u32(1), ...u32(1), 3, ...u32(1), ...u32(256), ...u32(2), ...u32(1), 3, ...u32(1), ...u32(16)]);
    const t = set(2, tpl(801, [[8, 4], [12, 4], [302, 4]]));
    const r = run(dec, msg(H, [opt, optData, t, set(801, [...ip4('1.1.1.1'), ...ip4('2.2.2.2'), ...u32(1), ...ip4('1.1.1.1'), ...ip4('2.2.2.2'), ...u32(2)])]));
    expect(r.an).toEqual([]);
    expect(dec.stats.optionsRecords).toBe(2);
    expect(r.recs.map((x) => x.samplingInterval)).toEqual([256, 16]);
    // samplingInterval (IE 34) from options data without a selector: the whole domain
    const d2 = new FlowExportDecoder();
    run(d2, msg(H, [set(3, optTpl(802, [[149, 4]], [[34, 4]])), set(802, [...u32(3), ...u32(100)])]));
    const a = run(d2, msg(H, [set(2, tpl(803, [[8, 4], [12, 4]])), set(803, [...ip4('1.1.1.1'), ...ip4('2.2.2.2')])]));
    const b = run(d2, msg({ ...H, domain: 4 }, [set(2, tpl(803, [[8, 4], [12, 4]])), set(803, [...ip4('1.1.1.1'), ...ip4('2.2.2.2')])]));
    expect([a.recs[0]!.samplingInterval, b.recs[0]!.samplingInterval]).toEqual([100, 1]);
  });

  it('template withdrawal: one template, then all of them', () => {
    const dec = new FlowExportDecoder();
    const data = (id: number): number[] => set(id, rec('10.0.0.1', '10.0.0.2', 1, 2));
    run(dec, msg(H, [set(2, [...tpl(256, T), ...tpl(257, T)])]));
    const w1 = run(dec, msg(H, [set(2, [...u16(256), ...u16(0)]), data(256), data(257)]));
    expect(w1.an.map((a) => a.code)).toEqual(['ipfix.template_missing']);
    expect(w1.recs).toHaveLength(1);
    const all = run(dec, msg(H, [set(2, [...u16(2), ...u16(0)]), data(257)]));
    expect(all.an.map((a) => a.code)).toEqual(['ipfix.template_missing']);
    expect(all.recs).toEqual([]);
  });

  it('data before its template is held and decoded when the template arrives', () => {
    const dec = new FlowExportDecoder();
    const first = run(dec, msg(H, [set(256, rec('10.9.9.9', '10.8.8.8', 5, 6))]));
    expect(first.an.map((a) => a.code)).toEqual(['ipfix.template_missing']);
    const then = run(dec, msg(H, [set(2, tpl(256, T))]));
    expect(then.recs.map((r) => [r.srcAddr, r.packets, r.bytes])).toEqual([['10.9.9.9', 5, 6]]);
  });

  it('malformed templates and sets: anomalies, and decoding goes on with the next set', () => {
    const good = [set(2, tpl(300, [[8, 4], [12, 4]])), set(300, [...ip4('1.1.1.1'), ...ip4('2.2.2.2')])];
    const cases: Array<[number[], string]> = [
      [set(2, [...u16(256), ...u16(40), ...u16(8), ...u16(4)]), 'ipfix.bad_template'], // claims 40 fields
      [set(2, [...u16(17), ...u16(1), ...u16(8), ...u16(4)]), 'ipfix.bad_template'], // reserved id
      [set(3, [...u16(256), ...u16(1), ...u16(0), ...u16(8), ...u16(4)]), 'ipfix.bad_template'], // scope count 0
      [set(2, [...u16(256), ...u16(1), ...u16(8 | 0x8000), ...u16(4), 0, 0]), 'ipfix.bad_template'], // enterprise number cut
      [set(2, tpl(256, [[8, 0], [12, 0]])), 'ipfix.bad_template'], // no bytes at all
    ];
    for (const [bad, code] of cases) {
      const r = run(new FlowExportDecoder(), msg(H, [bad, ...good]));
      expect(r.an.map((a) => a.code)).toEqual([code]);
      expect(r.recs).toHaveLength(1);
    }
    // a varlen record running past its set
    const v = run(new FlowExportDecoder(), msg(H, [set(2, tpl(301, [[8, 4], [12, 4], [82, 65535]])), set(301, [...ip4('1.1.1.1'), ...ip4('2.2.2.2'), 200, 1, 2]), ...good]));
    expect(v.an.map((a) => a.code)).toEqual(['ipfix.bad_set_length']);
    expect(v.recs).toHaveLength(1);
    // set length 0 / 65535: the rest of the message cannot be walked
    for (const len of [0, 65535]) {
      const r = run(new FlowExportDecoder(), msg(H, [...good, [...u16(300), ...u16(len), 1, 2, 3, 4]]));
      expect(r.an.map((a) => a.code)).toEqual(['ipfix.bad_set_length']);
      expect(r.recs).toHaveLength(1);
    }
  });

  it('message length must match; a message cut anywhere gives anomalies only', () => {
    const m = msg(H, [set(2, tpl(256, T)), set(256, rec('10.0.0.1', '10.0.0.2', 1, 2))]);
    const long = msg({ ...H, length: 2000 }, [set(2, tpl(256, T))]);
    expect(looksLikeFlowExport(long, 0, long.length)).toBeNull();
    expect(run(new FlowExportDecoder(), long).an.map((a) => a.code)).toEqual(['ipfix.bad_length']);
    const short = msg({ ...H, length: 8 }, []);
    expect(run(new FlowExportDecoder(), short).an.map((a) => a.code)).toEqual(['ipfix.bad_length']);
    for (let cut = 0; cut < m.length; cut++) {
      const r = run(new FlowExportDecoder(), m.subarray(0, cut));
      expect(r.recs).toEqual([]);
      expect(r.an.length).toBeGreaterThan(0);
      expect(looksLikeFlowExport(m, 0, cut)).toBeNull();
    }
  });
});

describe('ipfixMessages (RFC 5655 files)', () => {
  it('splits back-to-back messages and stops at a bad length or the end', () => {
    const a = msg(H, [set(2, tpl(256, T))]);
    const b = msg(H, [set(256, rec('10.0.0.1', '10.0.0.2', 1, 2))]);
    const file = Uint8Array.from([...a, ...b, ...u16(10), ...u16(4), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...ipfixMessages(file)]).toEqual([{ off: 0, len: a.length }, { off: a.length, len: b.length }]);
    expect([...ipfixMessages(Uint8Array.from([...a, ...b.subarray(0, 20)]))]).toEqual([{ off: 0, len: a.length }]);
    expect([...ipfixMessages(new Uint8Array(0))]).toEqual([]);
    const dec = new FlowExportDecoder();
    const recs: ExportRecord[] = [];
    for (const { off, len } of ipfixMessages(file)) dec.decode(file, off, len, 'file', (r) => recs.push(r), () => undefined);
    expect(recs).toHaveLength(1);
  });
});
