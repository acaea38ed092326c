/**
 * The one flow table's export-record path: IPv6 records with text addresses parsed once into the
 * key's words (checked against ipaddr.js), records and packets of one 5-tuple kept apart, separate
 * bounds, the arrival clock of a live collector, and IPv6 conversations exported by softflowd as
 * NetFlow v9 and IPFIX giving the same flows as the packets they came from.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import { parseIpv6Words } from '../../src/flow/addr.js';
import { PacketIngest } from '../../src/flow/ingest.js';
import { DEFAULT_FLOW_OPTIONS, FlowTable, type ExportFlowInput, type FlowTableOptions } from '../../src/flow/table.js';
import { readCapture } from '../../src/io/input.js';
import type { FlowRecord } from '../../src/types.js';
import { scanFiles } from '../helpers.js';
import { LinkType, pcapFile, tcpSession, udpExchange, type TimedPacket } from '../support/builders.js';
import { mulberry32 } from '../support/random.js';
import { exportToDatagramCapture, missingFlowTools } from '../support/softflowd.js';

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);

function table(opts: Partial<FlowTableOptions> = {}): { t: FlowTable; flows: FlowRecord[]; ingest: PacketIngest } {
  const flows: FlowRecord[] = [];
  const t = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 64, exports: { joinGapMs: 300_000, maxFlows: 64 }, ...opts }, (f) => flows.push(f));
  const ingest = new PacketIngest(t, new Anomalies());
  ingest.begin('records', 0);
  return { t, flows, ingest };
}

function rec(src: string, sp: number, dst: string, dp: number, o: Partial<ExportFlowInput> = {}): ExportFlowInput {
  return { ipVersion: src.includes(':') ? 6 : 4, srcAddr: src, dstAddr: dst, srcPort: sp, dstPort: dp, protocol: 6, tcpFlags: 0x18, packets: 10, bytes: 1000, reversePackets: 0, reverseBytes: 0, firstMs: T0, lastMs: T0 + 1000, sampling: 1, ...o };
}

describe('IPv6 address text into key words', () => {
  const words = new Int32Array(4);
  const oracleWords = (text: string): number[] => {
    const b = ipaddr.IPv6.parse(text).toByteArray();
    return [0, 4, 8, 12].map((p) => (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  };

  it('reads every text form ipaddr.js reads to the same 128 bits (compressed, full, upper case, IPv4 tail)', () => {
    const rnd = mulberry32(4291);
    const fixed = ['::', '::1', '1::', '2001:db8::5', 'fe80::1:2', '::ffff:100.64.0.13', '2001:DB8:0:0:0:0:0:1', '0:0:0:0:0:0:0:0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '64:ff9b:0:0:0:0:c000:221'];
    const texts = [...fixed];
    for (let i = 0; i < 2000; i++) {
      const bytes = Array.from({ length: 16 }, () => (rnd() < 0.4 ? 0 : Math.floor(rnd() * 256)));
      const a = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
      texts.push(a.toString(), a.toNormalizedString(), a.toNormalizedString().split(':').map((g) => g.padStart(4, '0')).join(':'), a.toString().toUpperCase());
    }
    for (const text of texts) {
      expect(parseIpv6Words(text, words, 0), text).toBe(true);
      expect([...words], text).toEqual(oracleWords(text));
    }
    // A dotted tail is the last 32 bits (RFC 4291 §2.2 form 3); ipaddr.js reads `::a.b.c.d` as mapped, so these are spelled out.
    expect(parseIpv6Words('::1.2.3.4', words, 0)).toBe(true);
    expect([...words]).toEqual([0, 0, 0, 0x01020304]);
    expect(parseIpv6Words('64:ff9b::192.0.2.33', words, 0)).toBe(true);
    expect([...words]).toEqual([0x0064ff9b, 0, 0, (192 << 24) | (2 << 8) | 33]);
  });

  it('refuses what ipaddr.js refuses', () => {
    for (const text of ['', ':', ':::', '1:2', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '::1.2.3', '::1.2.3.256', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%eth0', ' ::1', '::1 ', '1:', ':1', 'zz:zz', '1.2.3.4']) {
      expect(ipaddr.IPv6.isValid(text) && !text.includes('%'), text).toBe(false);
      expect(parseIpv6Words(text, words, 0), text).toBe(false);
    }
  });
});

describe('export records in the one flow table', () => {
  it('IPv6 records: both directions pair, active-timeout cuts join, addresses come out in RFC 5952 form', () => {
    const { t, flows, ingest } = table();
    ingest.record(rec('2001:DB8:0:0:0:0:0:5', 40000, '2001:db8:1::9', 3333, { packets: 20, bytes: 2000, lastMs: T0 + 60_000 }));
    ingest.record(rec('2001:db8:1:0::9', 3333, '2001:db8::5', 40000, { packets: 15, bytes: 3000, tcpFlags: 0x12, lastMs: T0 + 60_000 }));
    // The exporter's active timeout cut the connection: the next record starts 30 s after the last ended.
    ingest.record(rec('2001:db8::5', 40000, '2001:db8:1::9', 3333, { packets: 5, bytes: 500, firstMs: T0 + 90_000, lastMs: T0 + 120_000 }));
    t.flush();
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      client: '2001:db8::5',
      clientPort: 40000,
      server: '2001:db8:1::9',
      serverPort: 3333,
      ipVersion: 6,
      transport: 'tcp',
      source: 'export',
      packetsC2S: 25,
      bytesC2S: 2500,
      packetsS2C: 15,
      bytesS2C: 3000,
      tcpFlagsC2S: 0x18,
      tcpFlagsS2C: 0x12,
      records: 3,
      firstSeen: T0,
      lastSeen: T0 + 120_000,
      endReason: 'eof',
    });
  });

  it('an IPv6 record starting more than the join gap after the flow ended starts a new flow; other protocols are counted, not flows', () => {
    const { t, flows, ingest } = table();
    ingest.record(rec('2001:db8::5', 40000, '2001:db8:1::9', 3333));
    ingest.record(rec('2001:db8::5', 40000, '2001:db8:1::9', 3333, { firstMs: T0 + 1000 + 300_001, lastMs: T0 + 1000 + 300_002 }));
    ingest.record(rec('2001:db8::5', 0, '2001:db8:1::9', 0, { protocol: 58 }));
    t.flush();
    expect(flows.map((f) => [f.endReason, f.records])).toEqual([
      ['idle', 1],
      ['eof', 1],
    ]);
    expect(t.otherProtocol).toBe(1);
    expect(ingest.counts().records).toBe(3);
  });

  it('a record whose address text is not an address is no flow, and is counted', () => {
    const { t, flows, ingest } = table();
    expect(ingest.record(rec('2001:db8::zz', 1, '2001:db8::1', 2))).toBe(false);
    expect(ingest.record({ ...rec('10.0.0.1', 1, '10.0.0.2', 2), srcAddr: 'host.example' })).toBe(false);
    t.flush();
    expect(flows).toHaveLength(0);
    expect(ingest.badAddresses).toBe(2);
  });

  it('a packet flow and an export flow of one 5-tuple stay two flows, each with its own counters', () => {
    const { t, flows, ingest } = table();
    const packets = tcpSession({ client: ['2001:db8::5', 40000], server: ['2001:db8:1::9', 3333], start: T0, messages: [{ from: 'client', data: '{"id":1}\n' }] });
    const capture = join(mkdtempSync(join(tmpdir(), 'mw-records-')), 'one.pcap');
    writeFileSync(capture, pcapFile(LinkType.RAW, packets.map((p) => ({ ts: p.ts, data: p.ip }))));
    return readCapture(capture, ingest, new Anomalies()).then(() => {
      ingest.record(rec('2001:db8::5', 40000, '2001:db8:1::9', 3333, { packets: 7, bytes: 700 }));
      t.flush();
      expect(flows.map((f) => [f.source, f.packetsC2S + f.packetsS2C]).sort()).toEqual([
        ['export', 7],
        ['packets', packets.length],
      ]);
    });
  });

  it('export flows have their own bound: a full export share evicts export flows only', () => {
    const { t, flows, ingest } = table({ maxFlows: 16, exports: { joinGapMs: 300_000, maxFlows: 4 } });
    for (let i = 0; i < 10; i++) ingest.record(rec(`2001:db8::${i + 1}`, 40000 + i, '2001:db8:1::9', 3333, { firstMs: T0 + i, lastMs: T0 + i }));
    expect(t.active).toBe(4);
    expect(t.evicted).toBe(6);
    // The six least recently joined went first, in order.
    expect(flows.map((f) => [f.client, f.endReason])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [`2001:db8::${i}`, 'evicted']));
    t.flush();
    expect(flows).toHaveLength(10);
  });

  it('the arrival clock finishes flows no record joined for the join gap, however the exporter clock stands', () => {
    const { t, flows, ingest } = table({ maxFlows: 0, exports: { joinGapMs: 60_000, maxFlows: 64 } });
    const now = 5_000_000;
    t.arrival = now;
    ingest.record(rec('2001:db8::5', 40000, '2001:db8:1::9', 3333));
    t.arrival = now + 50_000;
    ingest.record(rec('10.0.0.5', 40001, '198.51.100.9', 3333));
    // 61 s later by the collector's clock: the first flow is over, the second (joined 11 s ago) is not.
    t.expireArrivedBefore(now + 61_000 - 60_000);
    expect(flows.map((f) => f.client)).toEqual(['2001:db8::5']);
    t.expireArrivedBefore(now + 200_000 - 60_000);
    expect(flows.map((f) => f.client)).toEqual(['2001:db8::5', '10.0.0.5']);
    expect(flows.every((f) => f.endReason === 'idle')).toBe(true);
  });
});

const missing = missingFlowTools();

describe.skipIf(missing !== null)(`IPv6 through softflowd${missing ? ` (skipped: ${missing})` : ''}`, () => {
  // A mining-like TCP session and a UDP exchange between IPv6 hosts, each well inside one export.
  const capturePackets: TimedPacket[] = [
    ...tcpSession({
      client: ['2001:db8:10::5', 40012],
      server: ['2001:db8:beef::9', 3333],
      start: T0,
      messages: [
        { from: 'client', data: '{"id":1,"method":"login","params":{"login":"4Abc","pass":"x","agent":"XMRig/6.21.0"}}\n' },
        { from: 'server', data: '{"id":1,"jsonrpc":"2.0","result":{"id":"1","job":{"blob":"0707","job_id":"1","target":"b88d0600"},"status":"OK"}}\n', gapMs: 40 },
        { from: 'client', data: '{"id":2,"method":"submit","params":{"id":"1","job_id":"1","nonce":"00000001","result":"ab"}}\n', gapMs: 2000 },
      ],
    }),
    ...udpExchange({
      client: ['2001:db8:10::5', 51000],
      server: ['2001:db8:53::1', 53],
      start: T0 + 100,
      messages: [
        { from: 'client', data: 'query-bytes' },
        { from: 'server', data: 'answer-bytes-longer' },
      ],
    }),
  ].sort((a, b) => a.ts - b.ts);

  const dir = mkdtempSync(join(tmpdir(), 'mw-v6-softflowd-'));
  const capture = join(dir, 'v6.pcap');
  writeFileSync(capture, pcapFile(LinkType.RAW, capturePackets.map((p) => ({ ts: p.ts, data: p.ip }))));

  const shape = (f: FlowRecord) => ({
    client: f.client,
    clientPort: f.clientPort,
    server: f.server,
    serverPort: f.serverPort,
    transport: f.transport,
    ipVersion: f.ipVersion,
    packetsC2S: f.packetsC2S,
    packetsS2C: f.packetsS2C,
    bytesC2S: f.bytesC2S,
    bytesS2C: f.bytesS2C,
  });
  const byKey = (a: { client: string; clientPort: number }, b: { client: string; clientPort: number }) => a.clientPort - b.clientPort;

  for (const version of [9, 10] as const) {
    it(`NetFlow v${version === 10 ? '10 (IPFIX)' : version}: export flows match the packet flows of the capture softflowd read`, async () => {
      const fromPackets = await scanFiles([capture], { readExports: false });
      const exported = await exportToDatagramCapture([capture], join(dir, `v6-export-${version}.pcap`), { version });
      const fromExports = await scanFiles([exported.pcap], { collectorPorts: [exported.port] });
      const exportFlows = fromExports.flows.filter((f) => f.flow.source === 'export').map((f) => shape(f.flow)).sort(byKey);
      expect(exportFlows).toHaveLength(2);
      expect(exportFlows.every((f) => f.ipVersion === 6)).toBe(true);
      expect(exportFlows).toEqual(fromPackets.flows.map((f) => shape(f.flow)).sort(byKey));
    }, 90_000);
  }
});
