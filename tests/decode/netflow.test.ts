/**
 * NetFlow v5 and v9 decoding on datagrams built byte by byte here: exact records, template
 * caching, data before template, refresh, options sampling, and every malformed case the decoder
 * must survive with anomalies only.
 */
import { describe, expect, it } from 'vitest';
import { FlowExportDecoder, looksLikeFlowExport, type ExportAnomaly, type ExportRecord } from '../../src/decode/flowexport.js';

// ---- builders -------------------------------------------------------------------------------

const u8 = (v: number): number[] => [v & 255];
const u16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const ip4 = (s: string): number[] => s.split('.').map(Number);

interface V5Rec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  pkts: number;
  bytes: number;
  first: number;
  last: number;
}

function v5(opts: { sysUptime: number; secs: number; nsecs: number; sampling?: number; count?: number }, recs: V5Rec[]): Uint8Array {
  const out = [
    ...u16(5),
    ...u16(opts.count ?? recs.length),
    ...u32(opts.sysUptime),
    ...u32(opts.secs),
    ...u32(opts.nsecs),
    ...u32(77),
    ...u8(0),
    ...u8(0),
    ...u16(opts.sampling ?? 0),
  ];
  for (const r of recs) {
    out.push(...ip4(r.src), ...ip4(r.dst), ...ip4('0.0.0.0'), ...u16(1), ...u16(2));
    out.push(...u32(r.pkts), ...u32(r.bytes), ...u32(r.first), ...u32(r.last));
    out.push(...u16(r.sport), ...u16(r.dport), 0, r.flags, r.proto, 0, ...u16(0), ...u16(0), 24, 24, ...u16(0));
  }
  return Uint8Array.from(out);
}

/** A v9 FlowSet: id, length, body, zero padding to 4 bytes. */
function set(id: number, body: number[], pad = true): number[] {
  const padded = pad ? [...body, ...new Array((4 - (body.length % 4)) % 4).fill(0)] : body;
  return [...u16(id), ...u16(4 + padded.length), ...padded];
}
function tpl(id: number, fields: Array<[number, number]>): number[] {
  return [...u16(id), ...u16(fields.length), ...fields.flatMap(([t, l]) => [...u16(t), ...u16(l)])];
}
function optTpl(id: number, scope: Array<[number, number]>, opts: Array<[number, number]>): number[] {
  return [
    ...u16(id),
    ...u16(scope.length * 4),
    ...u16(opts.length * 4),
    ...scope.flatMap(([t, l]) => [...u16(t), ...u16(l)]),
    ...opts.flatMap(([t, l]) => [...u16(t), ...u16(l)]),
  ];
}
function v9(hdr: { sysUptime: number; secs: number; sourceId: number; count?: number }, sets: number[][]): Uint8Array {
  return Uint8Array.from([...u16(9), ...u16(hdr.count ?? sets.length), ...u32(hdr.sysUptime), ...u32(hdr.secs), ...u32(1), ...u32(hdr.sourceId), ...sets.flat()]);
}

/** Decode one datagram placed at an offset inside a larger buffer (offsets must be honoured). */
function run(dec: FlowExportDecoder, bytes: Uint8Array, exporter = '192.0.2.1'): { ok: boolean; recs: ExportRecord[]; an: ExportAnomaly[] } {
  const buf = new Uint8Array(bytes.length + 10).fill(0xee);
  buf.set(bytes, 7);
  const recs: ExportRecord[] = [];
  const an: ExportAnomaly[] = [];
  const ok = dec.decode(buf, 7, bytes.length, exporter, (r) => recs.push(r), (a) => an.push(a));
  return { ok, recs, an };
}

const REC: V5Rec = { src: '10.0.0.1', dst: '198.51.100.7', sport: 51000, dport: 3333, proto: 6, flags: 0x1b, pkts: 12, bytes: 3400, first: 90_000, last: 99_500 };

// ---- v5 ---------------------------------------------------------------------------------------

describe('NetFlow v5', () => {
  it('decodes header and records exactly', () => {
    const dg = v5({ sysUptime: 100_000, secs: 1_700_000_000, nsecs: 250_000_000, sampling: (1 << 14) | 100 }, [REC, { ...REC, src: '10.0.0.2', proto: 17, flags: 0 }]);
    expect(looksLikeFlowExport(dg, 0, dg.length)).toBe(5);
    const { ok, recs, an } = run(new FlowExportDecoder(), dg, 'exp-a');
    expect(ok).toBe(true);
    expect(an).toEqual([]);
    expect(recs).toHaveLength(2);
    expect(recs[0]).toEqual({
      version: 5,
      exporter: 'exp-a',
      domain: 0,
      templateId: 0,
      ipVersion: 4,
      srcAddr: '10.0.0.1',
      dstAddr: '198.51.100.7',
      srcPort: 51000,
      dstPort: 3333,
      protocol: 6,
      tcpFlags: 0x1b,
      packets: 12,
      bytes: 3400,
      reversePackets: 0,
      reverseBytes: 0,
      samplingInterval: 100,
      // export time 1_700_000_000_250 ms; flow started 10 s and ended 0.5 s before it
      firstMs: 1_700_000_000_250 - 10_000,
      lastMs: 1_700_000_000_250 - 500,
      direction: null,
      nat: null,
    });
    expect(recs[1]!.srcAddr).toBe('10.0.0.2');
    expect(recs[1]!.protocol).toBe(17);
  });

  it('converts times across a sysUptime wrap', () => {
    const dg = v5({ sysUptime: 1000, secs: 1_700_000_000, nsecs: 0 }, [{ ...REC, first: 0xffffff00, last: 500 }]);
    const { recs } = run(new FlowExportDecoder(), dg);
    expect(recs[0]!.firstMs).toBe(1_700_000_000_000 - 1000 - 256);
    expect(recs[0]!.lastMs).toBe(1_700_000_000_000 - 500);
    expect(recs[0]!.samplingInterval).toBe(1);
  });

  it('reads a time far before an uptime past 24.8 days as that far before, not as a wrap into the future', () => {
    // softflowd exporting an old capture: uptime 3,772,054.195 s, a flow at uptime 0. Signed, the
    // difference would put it 6 days after its own export; it lies 43.7 days before (nfdump's reading).
    const dg = v5({ sysUptime: 3_772_054_195, secs: 1_514_197_279, nsecs: 0 }, [{ ...REC, first: 0, last: 295_926 }]);
    const { recs } = run(new FlowExportDecoder(), dg);
    expect(recs[0]!.firstMs).toBe(1_514_197_279_000 - 3_772_054_195);
    expect(recs[0]!.lastMs).toBe(1_514_197_279_000 - 3_772_054_195 + 295_926);
    // A time a little after the header's uptime (stamped early) stays a little after.
    const late = run(new FlowExportDecoder(), v5({ sysUptime: 3_772_054_195, secs: 1_514_197_279, nsecs: 0 }, [{ ...REC, first: 3_772_054_000, last: 3_772_055_195 }]));
    expect(late.recs[0]!.lastMs).toBe(1_514_197_279_000 + 1000);
  });

  it('refuses count 31 (and 0)', () => {
    const recs31 = new Array(31).fill(REC) as V5Rec[];
    const dg = v5({ sysUptime: 1, secs: 1, nsecs: 0 }, recs31);
    expect(looksLikeFlowExport(dg, 0, dg.length)).toBeNull();
    const r = run(new FlowExportDecoder(), dg);
    expect(r.recs).toEqual([]);
    expect(r.an.map((a) => a.code)).toEqual(['netflow.bad_count']);
    const zero = run(new FlowExportDecoder(), v5({ sysUptime: 1, secs: 1, nsecs: 0 }, []));
    expect(zero.an.map((a) => a.code)).toEqual(['netflow.bad_count']);
  });

  it('a datagram cut anywhere yields only anomalies and the whole records before the cut', () => {
    const dg = v5({ sysUptime: 100_000, secs: 1_700_000_000, nsecs: 0 }, [REC, REC, REC]);
    for (let cut = 0; cut < dg.length; cut++) {
      const dec = new FlowExportDecoder();
      const r = run(dec, dg.subarray(0, cut));
      expect(r.recs.length).toBe(cut < 24 ? 0 : Math.floor((cut - 24) / 48));
      expect(r.an.length).toBe(1);
      expect(r.an[0]!.code).toBe(cut < 2 ? 'export.unknown_version' : 'netflow.truncated');
      expect(looksLikeFlowExport(dg, 0, cut)).toBeNull();
    }
  });
});

// ---- v9 ---------------------------------------------------------------------------------------

/** IPv4 data template: src, dst, sport, dport, proto, flags, packets(4), bytes(8), first, last, direction. */
const T4: Array<[number, number]> = [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [2, 4], [1, 8], [22, 4], [21, 4], [61, 1]];
function rec4(src: string, dst: string, sport: number, dport: number, pkts: number, bytes: number, first: number, last: number): number[] {
  return [...ip4(src), ...ip4(dst), ...u16(sport), ...u16(dport), 6, 0x18, ...u32(pkts), ...u32(0), ...u32(bytes), ...u32(first), ...u32(last), 1];
}
const HDR = { sysUptime: 500_000, secs: 1_700_000_100, sourceId: 7 };

describe('NetFlow v9', () => {
  it('decodes a template and its data exactly', () => {
    const dg = v9(HDR, [set(0, tpl(256, T4)), set(256, [...rec4('100.64.0.5', '203.0.113.10', 40000, 3333, 5, 900, 440_000, 499_000), ...rec4('100.64.0.6', '203.0.113.11', 40001, 4444, 1, 60, 499_000, 499_000)])]);
    expect(looksLikeFlowExport(dg, 0, dg.length)).toBe(9);
    const dec = new FlowExportDecoder();
    const { ok, recs, an } = run(dec, dg, '192.0.2.9');
    expect(ok).toBe(true);
    expect(an).toEqual([]);
    expect(recs).toEqual([
      {
        version: 9, exporter: '192.0.2.9', domain: 7, templateId: 256, ipVersion: 4,
        srcAddr: '100.64.0.5', dstAddr: '203.0.113.10', srcPort: 40000, dstPort: 3333, protocol: 6, tcpFlags: 0x18,
        packets: 5, bytes: 900, reversePackets: 0, reverseBytes: 0, samplingInterval: 1,
        firstMs: 1_700_000_100_000 - 60_000, lastMs: 1_700_000_100_000 - 1000, direction: 1, nat: null,
      },
      {
        version: 9, exporter: '192.0.2.9', domain: 7, templateId: 256, ipVersion: 4,
        srcAddr: '100.64.0.6', dstAddr: '203.0.113.11', srcPort: 40001, dstPort: 4444, protocol: 6, tcpFlags: 0x18,
        packets: 1, bytes: 60, reversePackets: 0, reverseBytes: 0, samplingInterval: 1,
        firstMs: 1_700_000_100_000 - 1000, lastMs: 1_700_000_100_000 - 1000, direction: 1, nat: null,
      },
    ]);
    expect(dec.stats).toEqual({ datagrams: 1, records: 2, templates: 1, templateMisses: 0, pendingDropped: 0, optionsRecords: 0 });
  });

  it('a record time far before an uptime past 24.8 days is read as before the export, on both decoding paths', () => {
    const hdr = { sysUptime: 3_772_054_195, secs: 1_514_197_279, sourceId: 7 };
    const dg = v9(hdr, [set(0, tpl(256, T4)), set(256, rec4('100.64.0.5', '203.0.113.10', 40000, 3333, 5, 900, 0, 295_926))]);
    const exportMs = 1_514_197_279_000;
    const { recs } = run(new FlowExportDecoder(), dg);
    expect([recs[0]!.firstMs, recs[0]!.lastMs]).toEqual([exportMs - 3_772_054_195, exportMs - 3_772_054_195 + 295_926]);
    const numeric: Array<[number, number]> = [];
    new FlowExportDecoder().decode(dg, 0, dg.length, '192.0.2.9', () => undefined, () => undefined, (n) => numeric.push([n.firstMs, n.lastMs]));
    expect(numeric).toEqual([[exportMs - 3_772_054_195, exportMs - 3_772_054_195 + 295_926]]);
  });

  it('IPv6 records are written in RFC 5952 form', () => {
    const t: Array<[number, number]> = [[27, 16], [28, 16], [7, 2], [11, 2], [4, 1], [2, 4], [1, 4]];
    const a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const b = [0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x33, 0x33];
    const { recs } = run(new FlowExportDecoder(), v9(HDR, [set(0, tpl(300, t)), set(300, [...a, ...b, ...u16(1), ...u16(2), 17, ...u32(3), ...u32(4)])]));
    expect(recs.map((r) => [r.ipVersion, r.srcAddr, r.dstAddr, r.packets, r.bytes, r.firstMs])).toEqual([[6, '2001:db8::1', 'fd00:0:0:1::3333', 3, 4, 1_700_000_100_000]]);
  });

  it('holds data that arrives before its template and decodes it when the template comes', () => {
    const dec = new FlowExportDecoder({ maxPendingPerTemplate: 2 });
    const data = (n: number): Uint8Array => v9(HDR, [set(256, rec4('10.1.1.1', '10.2.2.2', n, 80, n, n * 10, 499_000, 499_000))]);
    const seen: ExportRecord[] = [];
    const codes: string[] = [];
    for (const n of [1, 2, 3]) {
      const r = run(dec, data(n));
      seen.push(...r.recs);
      codes.push(...r.an.map((a) => a.code));
      expect(r.an[0]!.message).toContain('template 256');
    }
    expect(seen).toEqual([]);
    expect(codes).toEqual(['v9.template_missing', 'v9.template_missing', 'v9.template_missing']);
    expect(dec.stats.templateMisses).toBe(3);
    expect(dec.stats.pendingDropped).toBe(1);
    // A different exporter's template with the same id must not release them.
    expect(run(dec, v9(HDR, [set(0, tpl(256, T4))]), '192.0.2.99').recs).toEqual([]);
    const r = run(dec, v9(HDR, [set(0, tpl(256, T4))]));
    expect(r.recs.map((x) => [x.srcPort, x.packets, x.bytes])).toEqual([[1, 1, 10], [2, 2, 20]]);
    expect(dec.stats.records).toBe(2);
  });

  it('a template refresh with a different layout replaces the old one', () => {
    const dec = new FlowExportDecoder();
    run(dec, v9(HDR, [set(0, tpl(256, T4))]));
    const t2: Array<[number, number]> = [[2, 2], [1, 2], [8, 4], [12, 4], [11, 2], [7, 2]];
    const r = run(dec, v9(HDR, [set(0, tpl(256, t2)), set(256, [...u16(9), ...u16(999), ...ip4('1.2.3.4'), ...ip4('5.6.7.8'), ...u16(3333), ...u16(5555)])]));
    expect(r.an).toEqual([]);
    expect(r.recs.map((x) => [x.srcAddr, x.dstAddr, x.srcPort, x.dstPort, x.packets, x.bytes])).toEqual([['1.2.3.4', '5.6.7.8', 5555, 3333, 9, 999]]);
    expect(dec.stats.templates).toBe(2);
  });

  it('sets the sampling interval from options data for that exporter and source id only', () => {
    const dec = new FlowExportDecoder();
    const opt = set(1, optTpl(260, [[1, 4]], [[48, 1], [34, 4], [35, 1]]));
    const optData = set(260, [...u32(0), 1, ...u32(1000), 2]);
    const r = run(dec, v9(HDR, [opt, optData, set(0, tpl(256, T4)), set(256, rec4('10.0.0.1', '10.0.0.2', 1, 2, 3, 4, 499_000, 499_000))]));
    expect(r.an).toEqual([]);
    expect(dec.stats.optionsRecords).toBe(1);
    expect(r.recs.map((x) => x.samplingInterval)).toEqual([1000]);
    const other = run(dec, v9({ ...HDR, sourceId: 8 }, [set(0, tpl(256, T4)), set(256, rec4('10.0.0.1', '10.0.0.2', 1, 2, 3, 4, 499_000, 499_000))]));
    expect(other.recs.map((x) => x.samplingInterval)).toEqual([1]);
    // A record that carries its own samplerRandomInterval (IE 50) uses it.
    const own = run(dec, v9(HDR, [set(0, tpl(257, [[8, 4], [12, 4], [50, 2]])), set(257, [...ip4('1.1.1.1'), ...ip4('2.2.2.2'), ...u16(64)])]));
    expect(own.recs.map((x) => x.samplingInterval)).toEqual([64]);
  });

  it('a template claiming more fields than its set holds is refused; the next set still decodes', () => {
    const bad = [...u16(256), ...u16(50), ...u16(8), ...u16(4)];
    const r = run(new FlowExportDecoder(), v9(HDR, [set(0, bad), set(0, tpl(257, T4)), set(257, rec4('10.0.0.1', '10.0.0.2', 1, 2, 3, 4, 5, 6))]));
    expect(r.an.map((a) => a.code)).toEqual(['v9.bad_template']);
    expect(r.an[0]!.offset).toBe(20 + 4 + 2);
    expect(r.recs).toHaveLength(1);
  });

  it('a template of more than 512 fields is refused (the template cache stays bounded); 512 is taken', () => {
    // 513 padding-like fields of IE 210 (paddingOctets), one byte each, then the addresses.
    const many = (n: number): Array<[number, number]> => [[8, 4], [12, 4], ...Array.from({ length: n - 2 }, (): [number, number] => [210, 1])];
    const over = run(new FlowExportDecoder(), v9(HDR, [set(0, tpl(300, many(513)))]));
    expect(over.an.map((a) => a.code)).toEqual(['v9.bad_template']);
    expect(over.an[0]!.message).toMatch(/template 300 declares 513 fields, more than 512/);
    const dec = new FlowExportDecoder();
    const atCap = run(dec, v9(HDR, [set(0, tpl(301, many(512))), set(301, [...ip4('1.1.1.1'), ...ip4('2.2.2.2'), ...new Array<number>(510).fill(0)])]));
    expect(atCap.an).toEqual([]);
    expect(atCap.recs.map((x) => [x.srcAddr, x.dstAddr])).toEqual([['1.1.1.1', '2.2.2.2']]);
  });

  it('set length 0 and 65535 are bad set lengths', () => {
    for (const len of [0, 3, 65535]) {
      const dg = v9(HDR, [set(0, tpl(256, T4)), [...u16(256), ...u16(len), 1, 2, 3, 4]]);
      const r = run(new FlowExportDecoder(), dg);
      expect(r.an.map((a) => a.code)).toEqual(['v9.bad_set_length']);
      expect(r.recs).toEqual([]);
    }
  });

  it('zero-length fields: reported and ignored; a template of only zero-length fields is refused', () => {
    const mixed = run(new FlowExportDecoder(), v9(HDR, [set(0, tpl(256, [[8, 4], [0, 0], [12, 4]])), set(256, [...ip4('1.1.1.1'), ...ip4('2.2.2.2')])]));
    expect(mixed.an.map((a) => a.code)).toEqual(['v9.bad_template']);
    expect(mixed.recs.map((x) => [x.srcAddr, x.dstAddr])).toEqual([['1.1.1.1', '2.2.2.2']]);
    const dec = new FlowExportDecoder();
    const empty = run(dec, v9(HDR, [set(0, tpl(256, [[8, 0], [12, 0]])), set(256, [1, 2, 3, 4])]));
    expect(empty.an.map((a) => a.code)).toEqual(['v9.bad_template', 'v9.template_missing']);
    expect(empty.recs).toEqual([]);
  });

  it('unknown fields are skipped by their length; padding at the end of a set is tolerated', () => {
    const t: Array<[number, number]> = [[8, 4], [999, 7], [12, 4]];
    const r = run(new FlowExportDecoder(), v9(HDR, [set(0, tpl(256, t)), set(256, [...ip4('9.9.9.9'), 1, 2, 3, 4, 5, 6, 7, ...ip4('8.8.8.8')])]));
    expect(r.an).toEqual([]);
    expect(r.recs.map((x) => [x.srcAddr, x.dstAddr])).toEqual([['9.9.9.9', '8.8.8.8']]);
  });

  it('a datagram cut at every point gives anomalies, never throws, never invents records', () => {
    const dg = v9(HDR, [set(1, optTpl(260, [[1, 4]], [[34, 4]])), set(260, [...u32(0), ...u32(10)]), set(0, tpl(256, T4)), set(256, rec4('10.0.0.1', '10.0.0.2', 1, 2, 3, 4, 5, 6))]);
    const full = run(new FlowExportDecoder(), dg);
    expect(full.recs).toHaveLength(1);
    for (let cut = 0; cut < dg.length; cut++) {
      const r = run(new FlowExportDecoder(), dg.subarray(0, cut));
      expect(r.recs.length).toBe(0);
      if (cut >= 2) expect(r.ok).toBe(true);
      for (const a of r.an) expect(a.offset).toBeLessThanOrEqual(cut);
    }
  });

  it('unknown version: false and export.unknown_version', () => {
    const r = run(new FlowExportDecoder(), Uint8Array.from([0, 7, 0, 1, 0, 0, 0, 0]));
    expect(r.ok).toBe(false);
    expect(r.an.map((a) => a.code)).toEqual(['export.unknown_version']);
    expect(looksLikeFlowExport(Uint8Array.from([0, 7, 0, 1, 0, 0, 0, 0]), 0, 8)).toBeNull();
  });

  it('looksLikeFlowExport rejects implausible v9 headers', () => {
    const dg = v9(HDR, [set(0, tpl(256, T4))]);
    expect(looksLikeFlowExport(dg, 0, dg.length)).toBe(9);
    const badSet = v9(HDR, [set(77, [0, 0, 0, 0])]);
    expect(looksLikeFlowExport(badSet, 0, badSet.length)).toBeNull();
    const hugeCount = v9({ ...HDR, count: 60000 }, [set(0, tpl(256, T4))]);
    expect(looksLikeFlowExport(hugeCount, 0, hugeCount.length)).toBeNull();
  });

  it('bounds the template cache', () => {
    const dec = new FlowExportDecoder({ maxTemplates: 2 });
    run(dec, v9(HDR, [set(0, tpl(256, T4)), set(0, tpl(257, T4)), set(0, tpl(258, T4))]));
    const r = run(dec, v9(HDR, [set(256, rec4('1.1.1.1', '2.2.2.2', 1, 2, 3, 4, 5, 6)), set(258, rec4('1.1.1.1', '2.2.2.2', 1, 2, 3, 4, 5, 6))]));
    expect(r.an.map((a) => a.code)).toEqual(['v9.template_missing']);
    expect(r.recs).toHaveLength(1);
  });
});

describe('robustness', () => {
  it('random corruption of valid datagrams never throws and keeps offsets inside the datagram', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const seeds = [
      v5({ sysUptime: 1, secs: 1, nsecs: 0 }, [REC, REC]),
      v9(HDR, [set(1, optTpl(260, [[1, 4]], [[34, 4]])), set(260, [...u32(0), ...u32(10)]), set(0, tpl(256, T4)), set(256, rec4('10.0.0.1', '10.0.0.2', 1, 2, 3, 4, 5, 6))]),
      Uint8Array.from([0, 10, 0, 44, ...u32(1), ...u32(2), ...u32(3), ...u16(2), ...u16(16), ...u16(256), ...u16(2), ...u16(8), ...u16(4), ...u16(82), ...u16(65535), ...u16(256), ...u16(12), 1, 2, 3, 4, 3, 65, 66, 67]),
    ];
    const dec = new FlowExportDecoder({ maxTemplates: 8, maxPendingPerTemplate: 4 });
    for (let i = 0; i < 3000; i++) {
      const dg = Uint8Array.from(seeds[i % seeds.length]!);
      for (let k = 0, n = 1 + rnd(4); k < n; k++) dg[rnd(dg.length)] = rnd(256);
      const cut = rnd(4) === 0 ? rnd(dg.length) : dg.length;
      const r = run(dec, dg.subarray(0, cut));
      for (const a of r.an) {
        expect(a.offset).toBeGreaterThanOrEqual(0);
        expect(a.offset).toBeLessThanOrEqual(cut);
      }
    }
    expect(dec.stats.datagrams).toBeGreaterThan(0);
  });
});
