/**
 * CGNAT mapping from NAT events exported in IPFIX (RFC 8158): the pure pairing of events into
 * assignments, and `scan --nat-ipfix` end to end on an IPFIX file built byte by byte here.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { natRecordsFromEvents, NatMapper, type NatEvent } from '../../src/aggregate/nat.js';
import { main } from '../../src/cli/main.js';
import { FlowExportDecoder, type ExportRecord } from '../../src/decode/flowexport.js';
import { CORPUS, FIXTURES, HAVE_CORPUS } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-natev-'));
const T = 1_700_000_000_000;

function ev(p: Partial<NatEvent> & Pick<NatEvent, 'time' | 'event'>, ordinal: number): NatEvent {
  return { privateIp: '192.168.1.5', privatePort: 5555, publicIp: '203.0.113.9', publicPort: 40001, portRangeStart: null, portRangeEnd: null, lastMs: p.time, remote: null, exporter: '192.0.2.1', ordinal, ...p };
}

describe('natRecordsFromEvents', () => {
  it('pairs session creates with deletes, keeps port blocks open until de-allocated', () => {
    const { records, ignored } = natRecordsFromEvents([
      ev({ time: T + 5000, event: 5 }, 2),
      ev({ time: T, event: 4 }, 1),
      ev({ time: T, event: 16, privateIp: '192.168.1.6', portRangeStart: 2048, portRangeEnd: 3071, publicPort: null }, 3),
      ev({ time: T + 1, event: 3 }, 4),
    ]);
    expect(ignored).toBe(1);
    expect(records).toEqual([
      { start: T, end: T + 5000, privateIp: '192.168.1.5', publicIp: '203.0.113.9', portStart: 40001, portEnd: 40001, line: 1, source: 'NAT export record #1 (natEvent 4) from 192.0.2.1' },
      { start: T, end: Infinity, privateIp: '192.168.1.6', publicIp: '203.0.113.9', portStart: 2048, portEnd: 3071, line: 3, source: 'NAT export record #3 (natEvent 16) from 192.0.2.1' },
    ]);
    const nat = new NatMapper();
    nat.addRecords(records);
    expect(nat.map('203.0.113.9', 40001, T + 100)).toMatchObject({ status: 'mapped', privateIp: '192.168.1.5' });
    expect(nat.map('203.0.113.9', 40001, T + 6000)).toMatchObject({ status: 'missing' });
    expect(nat.map('203.0.113.9', 3000, T + 86_400_000)).toMatchObject({ status: 'mapped', privateIp: '192.168.1.6' });
  });

  it('a delete without its create covers the time from the first event on; a repeated create counts once', () => {
    const { records } = natRecordsFromEvents([ev({ time: T - 50, event: 4, privateIp: '192.168.1.9', publicPort: 9 }, 1), ev({ time: T, event: 17, portRangeStart: 1024, portRangeEnd: 2047 }, 2), ev({ time: T, event: 4 }, 3), ev({ time: T + 10, event: 4 }, 4)]);
    expect(records.map((r) => [r.start, r.end, r.portStart])).toEqual([
      [T - 50, Infinity, 9],
      [T - 50, T, 1024],
      [T, Infinity, 40001],
    ]);
  });

  it('sessions to different remote ends sharing one public port (endpoint-independent mapping) open and close on their own', () => {
    const a = { remote: '198.51.100.1#3333' };
    const b = { remote: '198.51.100.2#443' };
    const { records } = natRecordsFromEvents([ev({ time: T, event: 4, ...a }, 1), ev({ time: T + 5, event: 4, ...b }, 2), ev({ time: T + 10, event: 5, ...a }, 3), ev({ time: T + 20, event: 5, ...b }, 4)]);
    expect(records.map((r) => [r.start, r.end])).toEqual([
      [T, T + 10],
      [T + 5, T + 20],
    ]);
    const nat = new NatMapper();
    nat.addRecords(records);
    expect(nat.map('203.0.113.9', 40001, T + 15)).toMatchObject({ status: 'mapped', privateIp: '192.168.1.5' });
  });

  it('flow records with post-NAT fields are sessions for their span; untranslated ones map nothing', () => {
    const { records, ignored } = natRecordsFromEvents([ev({ time: T, lastMs: T + 900, event: null }, 1), ev({ time: T, event: null, publicIp: '192.168.1.5', publicPort: 5555 }, 2), ev({ time: T, event: 14, publicPort: null }, 3)]);
    // The untranslated record and the address binding (which names no port) map nothing.
    expect(ignored).toBe(2);
    expect(records.map((r) => [r.start, r.end, r.portStart, r.portEnd])).toEqual([[T, T + 900, 40001, 40001]]);
  });
});

// ---- an IPFIX file (RFC 5655: a stream of messages) with NAT events --------------------------
const u16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const u64 = (v: number): number[] => [...u32(Math.floor(v / 2 ** 32)), ...u32(v % 2 ** 32)];
const ip4 = (s: string): number[] => s.split('.').map(Number);
const tpl = (id: number, fields: Array<[number, number]>): number[] => [...u16(id), ...u16(fields.length), ...fields.flatMap(([f, l]) => [...u16(f), ...u16(l)])];
const set = (id: number, body: number[]): number[] => [...u16(id), ...u16(4 + body.length), ...body];
const message = (exportSecs: number, seq: number, sets: number[][]): number[] => {
  const body = sets.flat();
  return [...u16(10), ...u16(16 + body.length), ...u32(exportSecs), ...u32(seq), ...u32(1), ...body];
};
// Port block allocation as CGN boxes send it: no destination, no protocol.
const BLOCK: Array<[number, number]> = [[323, 8], [8, 4], [225, 4], [230, 1], [361, 2], [362, 2]];
// NAT44 session create/delete with the destination.
const SESSION: Array<[number, number]> = [[323, 8], [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [225, 4], [227, 2], [230, 1]];

function natEventsFile(): Uint8Array {
  const t0 = T - 3_600_000;
  const m1 = message(t0 / 1000, 1, [
    set(2, [...tpl(300, BLOCK), ...tpl(301, SESSION)]),
    set(300, [...u64(t0), ...ip4('192.168.50.7'), ...ip4('10.0.0.70'), 16, ...u16(40000), ...u16(41999)]),
    set(301, [...u64(T - 1000), ...ip4('192.168.50.8'), ...ip4('203.0.113.77'), ...u16(5555), ...u16(10128), 6, ...ip4('10.0.0.80'), ...u16(41080), 4]),
  ]);
  const m2 = message(T / 1000 + 600, 2, [set(301, [...u64(T + 300_000), ...ip4('192.168.50.8'), ...ip4('203.0.113.77'), ...u16(5555), ...u16(10128), 6, ...ip4('10.0.0.80'), ...u16(41080), 5])]);
  return Uint8Array.from([...m1, ...m2]);
}

describe('NAT events in IPFIX', () => {
  it('are decoded with their observation time, and port-block events without a destination are delivered', () => {
    const bytes = natEventsFile();
    const recs: ExportRecord[] = [];
    const dec = new FlowExportDecoder();
    let off = 0;
    while (off < bytes.length) {
      const len = (bytes[off + 2]! << 8) | bytes[off + 3]!;
      dec.decode(bytes, off, len, '192.0.2.1', (r) => recs.push(r), (a) => expect.fail(a.message));
      off += len;
    }
    expect(recs.map((r) => [r.dstAddr, r.firstMs, r.nat?.event, r.nat?.postSrcAddr, r.nat?.postSrcPort, r.nat?.portRangeStart, r.nat?.portRangeEnd])).toEqual([
      ['', T - 3_600_000, 16, '10.0.0.70', null, 40000, 41999],
      ['203.0.113.77', T - 1000, 4, '10.0.0.80', 41080, null, null],
      // Exported at T + 600 s, observed at T + 300 s.
      ['203.0.113.77', T + 300_000, 5, '10.0.0.80', 41080, null, null],
    ]);
  });
});

describe('scan --nat-ipfix', () => {
  it('maps flows from a CGNAT public address back to the subscriber with the exported NAT events', async () => {
    const file = join(tmp, 'nat-events.ipfix');
    writeFileSync(file, natEventsFile());
    const db = join(tmp, 'natev.sqlite');
    let err = '';
    const code = await main(['scan', join(FIXTURES, 'names/pool-sni.pcap'), join(FIXTURES, 'names/pool-dns.pcap'), '--db', db, '--nat-ipfix', file], { out: () => undefined, err: (s) => (err += s) });
    expect(code).toBe(0);
    expect(err).toMatch(/nat-events\.ipfix: 3 NAT event\(s\)\n.*NAT events → 2 assignment\(s\)/);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare("SELECT client, client_port, subscriber, nat FROM flows WHERE label = 'mining' ORDER BY client").all() as Array<Record<string, string>>;
    d.close();
    expect(rows[0]).toMatchObject({ client: '10.0.0.70', subscriber: '192.168.50.7' });
    // An IPFIX file names no exporter: the file stands for it.
    expect(rows[0]!.nat).toBe(`mapped: NAT export record #1 (natEvent 16) from ${file}: 192.168.50.7 → 10.0.0.70:40000-41999`);
    expect(rows[1]).toMatchObject({ client: '10.0.0.80', subscriber: '192.168.50.8' });
    expect(rows[1]!.nat).toMatch(/^mapped: NAT export record #2 \(natEvent 4\) from .*: 192\.168\.50\.8 → 10\.0\.0\.80:41080-41080$/);
  });

  it('pairs a port block allocated in one rotated file with its de-allocation in the next', async () => {
    // File 1: block 40000-41999 of 10.0.0.70 to 192.168.50.1 a day before. File 2: freed, then given to 192.168.50.7.
    const day = 86_400_000;
    const f1 = join(tmp, 'nat-1.ipfix');
    const f2 = join(tmp, 'nat-2.ipfix');
    const block = (ms: number, priv: string, ev: number): number[] => [...u64(ms), ...ip4(priv), ...ip4('10.0.0.70'), ev, ...u16(40000), ...u16(41999)];
    writeFileSync(f1, Uint8Array.from(message((T - day) / 1000, 1, [set(2, tpl(300, BLOCK)), set(300, block(T - day, '192.168.50.1', 16))])));
    writeFileSync(f2, Uint8Array.from(message((T - 60_000) / 1000, 2, [set(2, tpl(300, BLOCK)), set(300, [...block(T - 120_000, '192.168.50.1', 17), ...block(T - 60_000, '192.168.50.7', 16)])])));
    const db = join(tmp, 'rotated.sqlite');
    const code = await main(['scan', join(FIXTURES, 'names/pool-sni.pcap'), '--db', db, '--nat-ipfix', f1, '--nat-ipfix', f2], { out: () => undefined, err: () => undefined });
    expect(code).toBe(0);
    const d = new Database(db, { readonly: true });
    const row = d.prepare("SELECT subscriber, nat FROM flows WHERE client = '10.0.0.70' AND label = 'mining'").get() as { subscriber: string; nat: string };
    d.close();
    expect(row.subscriber).toBe('192.168.50.7');
    expect(row.nat).toMatch(/^mapped: NAT export record #3 \(natEvent 16\)/);
  });

  it.skipIf(!HAVE_CORPUS)('a vendor export whose post-NAT fields translate nothing is refused with the reason', async () => {
    let err = '';
    const code = await main(['scan', join(FIXTURES, 'names/pool-sni.pcap'), '--db', join(tmp, 'asa.sqlite'), '--nat-ipfix', join(CORPUS, 'netflow/vendor/logstash__nf9_cisco_asa_2.pcap')], { out: () => undefined, err: (s) => (err += s) });
    expect(code).toBe(2);
    expect(err).toMatch(/no NAT translations found in 19 export record\(s\): 0 without RFC 8158 NAT fields .*, 19 that translate nothing/);
  });
});
