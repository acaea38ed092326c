/**
 * Flow exports end to end: nfdump CSV, NetFlow/IPFIX datagrams inside captures, IPFIX files.
 * The corpus's generated exports were made by softflowd from the corpus captures, so the same
 * conversations must come out of the packet path and the export paths.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import type { ExportFlowInput } from '../../src/flow/records.js';
import { decodePacket, PacketStatus, PacketView } from '../../src/decode/packet.js';
import { readCapture } from '../../src/io/input.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, projectRules, scanFiles } from '../helpers.js';
import { scanInputs } from '../../src/scan.js';
import { lineStart } from '../support/lines.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-exports-'));
const GEN = join(CORPUS, 'netflow', 'generated');

function key(f: { client: string; clientPort: number; server: string; serverPort: number }): string {
  return [`${f.client}:${f.clientPort}`, `${f.server}:${f.serverPort}`].sort().join(' ');
}

/** The UDP payloads of a capture, concatenated: for IPFIX exports, an RFC 5655 file. */
async function udpPayloads(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const v = new PacketView();
  await readCapture(
    path,
    {
      time: 0,
      offset: 0,
      packet(lt, buf, off, caplen, orig) {
        if (decodePacket(lt, buf, off, caplen, orig, v) === PacketStatus.Transport && v.proto === 17) parts.push(Buffer.from(buf.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)));
      },
      record() {},
      exportMessage() {},
    },
    new Anomalies(),
  );
  return Buffer.concat(parts);
}

/** The flow records of a file as the scan reads it (its window, its chunks), and its anomalies. */
async function readRecords(path: string): Promise<{ records: ExportFlowInput[]; anomalies: Anomalies }> {
  const records: ExportFlowInput[] = [];
  const anomalies = new Anomalies();
  await readCapture(path, { time: 0, offset: 0, packet() {}, record: (r) => void records.push(r), exportMessage() {} }, anomalies);
  return { records, anomalies };
}

describe('nfdump CSV', () => {
  it('maps columns by name: reordered columns and extra ones give the same records; junk lines are counted', async () => {
    const csv = [
      'te,sa,ts,dp,sp,pr,da,ibyt,ipkt,flg,extra',
      '2024-05-01 10:20:00,100.64.0.5,2024-05-01 10:00:00,3333,50000,TCP,198.51.100.9,90000,1000,...AP...,x',
      'not,a,valid,line',
      '2024-05-01 10:20:00,198.51.100.9,2024-05-01 10:00:00,50000,3333,TCP,100.64.0.5,120000,800,...AP...,x',
      '2024-05-01 10:20:00,100.64.0.5,2024-05-01 10:00:00,53,40000,UDP,198.51.100.53,80,1,........,x',
      'Summary',
      'flows,bytes,packets',
      '3,210080,1801',
    ].join('\n');
    const p = join(tmp, 'reordered.csv');
    writeFileSync(p, csv);
    const { summary, flows } = await scanFiles([p]);
    expect(summary.inputs[0]).toMatchObject({ format: 'nfdump-csv', records: 3, anomalies: { 'csv.bad_line': 1 } });
    const tcp = flows.find((f) => f.flow.transport === 'tcp')!.flow;
    expect(tcp).toMatchObject({ client: '100.64.0.5', clientPort: 50000, server: '198.51.100.9', serverPort: 3333, packetsC2S: 1000, packetsS2C: 800, bytesC2S: 90000, bytesS2C: 120000, records: 2, source: 'export' });
    expect(tcp.tcpFlagsC2S).toBe(0x18);
    expect(tcp.lastSeen - tcp.firstSeen).toBe(20 * 60_000);
  });

  it('a CSV without the required columns is one clear error naming the file', async () => {
    const p = join(tmp, 'bad.csv');
    writeFileSync(p, 'ts,te,sa,da,sp,dp,proto\n2024-05-01 10:00:00,2024-05-01 10:00:01,1.2.3.4,5.6.7.8,1,2,TCP\n');
    const { summary } = await scanFiles([p]);
    expect(summary.inputs[0]!.error).toMatch(/bad\.csv: at byte 0: unrecognised format .*nfdump CSV header/);
    expect(summary.inputs[0]!.records).toBe(0);
  });

  it('a line over 64 KiB is one bad line, and the rows after it are read with their line numbers', async () => {
    const row = (n: number): string => `2024-05-01 10:00:00,2024-05-01 10:00:01,1.000,10.0.0.${n},198.51.100.9,5000${n},3333,TCP,...AP...,10,1000,5,500`;
    const p = join(tmp, 'long-line.csv');
    // Line 2 is 4.5 MB: longer than the window a file is read into, so it arrives in pieces.
    const text = `ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt,opkt,obyt\n${'x'.repeat(4_500_000)}\n${row(1)}\n${row(2)}\nnot,a,line\n${row(3)}\n`;
    writeFileSync(p, text);
    const { anomalies, records } = await readRecords(p);
    expect(records.map((r) => r.srcAddr)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(anomalies.toObject()).toEqual({ 'csv.bad_line': 2 });
    // Each counted at the byte where its line starts in the file, its line number in the message.
    expect(anomalies.samples.map((a) => [a.offset, a.message.slice(0, 40)])).toEqual([
      [lineStart(text, 2), 'line 2: longer than 65536 bytes (expecte'],
      [lineStart(text, 5), 'line 5: 3 fields, the header has 13: not'],
    ]);
  });

  it('a file whose lines end in CR alone is refused at its header, naming the file and the line', async () => {
    const row = (n: number): string => `2024-05-01 10:00:00,2024-05-01 10:00:01,1.000,10.0.0.${n},198.51.100.9,5000${n},3333,TCP,...AP...,10,1000,5,500`;
    const p = join(tmp, 'mac.csv');
    writeFileSync(p, ['ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt,opkt,obyt', ...Array.from({ length: 14 }, (_, i) => row(i + 1))].join('\r') + '\r');
    const { summary } = await scanFiles([p]);
    expect(summary.inputs[0]!.records).toBe(0);
    expect(summary.inputs[0]!.error).toMatch(/mac\.csv: at byte 0: line 1: lines end in CR alone \(.*\); expected LF or CRLF line ends/);
  });

  it('start and end times the wrong way round are put right, so the two directions still pair', async () => {
    const p = join(tmp, 'swapped.csv');
    writeFileSync(p, 'ts,te,sa,da,sp,dp,pr,ipkt,ibyt\n2024-05-01 10:30:00,2024-05-01 10:11:00,10.0.0.1,198.51.100.1,50000,8333,TCP,47,26166\n2024-05-01 10:30:00,2024-05-01 10:11:00,198.51.100.1,10.0.0.1,8333,50000,TCP,72,54919\n');
    const { flows } = await scanFiles([p]);
    expect(flows).toHaveLength(1);
    expect(flows[0]!.flow).toMatchObject({ packetsC2S: 47, packetsS2C: 72 });
    expect(flows[0]!.flow.lastSeen - flows[0]!.flow.firstSeen).toBe(19 * 60_000);
  });
});

describe('GoFlow2 and pmacct JSON lines', () => {
  it('maps either tool\'s field names; bad lines are counted with their line number', async () => {
    const goflow = [
      JSON.stringify({ type: 'NETFLOW_V9', time_received_ns: 1714557600000000000, sampling_rate: 0, sampler_address: '192.0.2.1', time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714558800000000000, bytes: 90000, packets: 1000, src_addr: '100.64.0.5', dst_addr: '198.51.100.9', etype: 'IPv4', proto: 'TCP', src_port: 50000, dst_port: 3333, tcp_flags: 24 }),
      '{"broken": ',
      JSON.stringify({ type: 'NETFLOW_V9', time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714558800000000000, bytes: 120000, packets: 800, src_addr: '198.51.100.9', dst_addr: '100.64.0.5', proto: 'TCP', src_port: 3333, dst_port: 50000, tcp_flags: 24 }),
      // A negative counter must not join (and wipe out) the flow above.
      JSON.stringify({ type: 'NETFLOW_V9', time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714558800000000000, bytes: -1e308, packets: -1e308, src_addr: '198.51.100.9', dst_addr: '100.64.0.5', proto: 'TCP', src_port: 3333, dst_port: 50000, tcp_flags: 24 }),
    ].join('\n');
    const pmacct = JSON.stringify({ event_type: 'purge', ip_src: '2001:db8::5', ip_dst: '2001:db8:1::9', port_src: 40000, port_dst: 4444, ip_proto: 'tcp', timestamp_start: '2024-05-01 10:00:00.000000', timestamp_end: '2024-05-01 10:30:00.000000', packets: 600, bytes: 54000 });
    const a = join(tmp, 'goflow.jsonl');
    const b = join(tmp, 'pmacct.jsonl');
    writeFileSync(a, goflow + '\n');
    writeFileSync(b, pmacct + '\n');
    const { summary, flows } = await scanFiles([a, b]);
    expect(summary.inputs.map((i) => [i.format, i.records])).toEqual([
      ['json-flows', 2],
      ['json-flows', 1],
    ]);
    expect(summary.inputs[0]!.anomalies).toEqual({ 'json.bad_line': 2 });
    const v4 = flows.find((f) => f.flow.ipVersion === 4)!.flow;
    expect(v4).toMatchObject({ client: '100.64.0.5', server: '198.51.100.9', serverPort: 3333, packetsC2S: 1000, packetsS2C: 800, records: 2 });
    expect(v4.lastSeen - v4.firstSeen).toBe(20 * 60_000);
    const v6 = flows.find((f) => f.flow.ipVersion === 6)!.flow;
    expect(v6).toMatchObject({ client: '2001:db8::5', server: '2001:db8:1::9', serverPort: 4444, packetsC2S: 600, firstSeen: Date.UTC(2024, 4, 1, 10, 0, 0) });
  });

  it('a line over 64 KiB is one bad line, and the lines after it are read with their line numbers', async () => {
    const rec = (n: number): string => JSON.stringify({ src_addr: `10.0.0.${n}`, dst_addr: '198.51.100.9', proto: 'tcp', src_port: 50000 + n, dst_port: 3333, packets: 3, bytes: 180, time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714557601000000000 });
    const p = join(tmp, 'long-line.jsonl');
    // Line 2 is 4.5 MB: longer than the window a file is read into, so it arrives in pieces.
    const text = `${rec(1)}\n${'x'.repeat(4_500_000)}\n${rec(2)}\n{"broken": \n${rec(3)}\n`;
    writeFileSync(p, text);
    const { anomalies, records } = await readRecords(p);
    expect(records.map((r) => r.srcAddr)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(anomalies.toObject()).toEqual({ 'json.bad_line': 2 });
    // Each counted at the byte where its line starts in the file, its line number in the message.
    expect(anomalies.samples.map((a) => [a.offset, a.message.slice(0, 40)])).toEqual([
      [lineStart(text, 2), 'line 2: longer than 65536 bytes (expecte'],
      [lineStart(text, 4), 'line 4: not JSON: {"broken":'],
    ]);
  });
});

describe('address text the flow table cannot read', () => {
  it('is a bad line at the byte where its line starts, in nfdump CSV and in JSON lines, and the lines after are read', async () => {
    const row = (sa: string, n: number): string => `2024-05-01 10:00:00,2024-05-01 10:00:01,1.000,${sa},2001:db8::9,5000${n},3333,TCP,...AP...,10,1000,5,500`;
    // An IPv6 text the CSV reader passes on as IPv6 (it has colons) that is no address.
    const csv = `ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt,opkt,obyt\n${row('2001:db8::1', 1)}\n${row('2001:db8::gg', 2)}\n${row('2001:db8::3', 3)}\n`;
    const rec = (src: string, n: number): string => JSON.stringify({ src_addr: src, dst_addr: '2001:db8::9', proto: 'tcp', src_port: 51000 + n, dst_port: 3333, packets: 3, bytes: 180, time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714557601000000000 });
    // A zone index: an address to an IP library, not a flow's address.
    const json = `${rec('2001:db8::1', 1)}\n${rec('fe80::1%eth0', 2)}\n${rec('2001:db8::3', 3)}\n`;
    const a = join(tmp, 'bad-address.csv');
    const b = join(tmp, 'bad-address.jsonl');
    writeFileSync(a, csv);
    writeFileSync(b, json);
    const samples: Array<Array<[string, number, string]>> = [[], []];
    const clients: string[] = [];
    await scanInputs([a, b], projectRules(), (f) => clients.push(f.client), {}, {
      endInput: (i, _info, _counts, x) => samples[i]!.push(...x.samples.map((s): [string, number, string] => [s.code, s.offset, s.message])),
    });
    expect(samples).toEqual([
      [['csv.bad_line', lineStart(csv, 3), `line 3: expected two addresses of one family in sa and da: ${row('2001:db8::gg', 2)}`]],
      [['json.bad_line', lineStart(json, 2), `line 2: expected src_addr/ip_src and dst_addr/ip_dst as IP addresses of one family: ${rec('fe80::1%eth0', 2).slice(0, 120)}`]],
    ]);
    // The good lines of both inputs are flows (their ports differ, so none joins another).
    expect(clients.sort()).toEqual(['2001:db8::1', '2001:db8::1', '2001:db8::3', '2001:db8::3']);
  });
});

describe.skipIf(!HAVE_CORPUS)('softflowd exports of the corpus captures', () => {
  const names = HAVE_CORPUS ? readdirSync(join(GEN, 'v9')).filter((n) => n.endsWith('.csv')).map((n) => n.replace(/\.csv$/, '')) : [];

  it.each(names)('%s: v5, v9 and IPFIX datagrams in the capture give the same conversations as nfdump CSV', async (name) => {
    for (const v of ['v5', 'v9', 'ipfix']) {
      const fromPcap = await scanFiles([join(GEN, v, `${name}.export.pcap`)]);
      const fromCsv = await scanFiles([join(GEN, v, `${name}.csv`)]);
      const exp = (s: typeof fromPcap) => new Map(s.flows.filter((f) => f.flow.source === 'export').map((f) => [key(f.flow), f.flow.packetsC2S + f.flow.packetsS2C]));
      const a = exp(fromPcap);
      const b = exp(fromCsv);
      expect(a.size, `${v} ${name}`).toBeGreaterThan(0);
      expect([...a.keys()].sort(), `${v} ${name}`).toEqual([...b.keys()].sort());
      for (const [k, n] of a) expect(n, `${v} ${name} ${k}`).toBe(b.get(k));
      expect(fromPcap.summary.inputs[0]!.anomalies).toEqual({});
    }
  });

  it('an IPFIX file (the export messages of a capture, concatenated) reads like the capture', async () => {
    const file = join(tmp, 'mining.ipfix');
    writeFileSync(file, await udpPayloads(join(GEN, 'ipfix', 'ndpi__mining.export.pcap')));
    const a = await scanFiles([file]);
    const b = await scanFiles([join(GEN, 'ipfix', 'ndpi__mining.export.pcap')]);
    expect(a.summary.inputs[0]!.format).toBe('ipfix');
    const keys = (s: typeof a) => s.flows.filter((f) => f.flow.source === 'export').map((f) => key(f.flow)).sort();
    expect(keys(a)).toEqual(keys(b));
    expect(keys(a).length).toBeGreaterThan(0);
  });

  it('a malformed export datagram on the collector port is a counted anomaly naming the exporter and offset; the next input still decodes', async () => {
    const files = [join(CORPUS, 'netflow/vendor/logstash__nf5_invalid02.pcap'), join(CORPUS, 'netflow/vendor/logstash__nf5_mikrotik.pcap')];
    const forced = await scanFiles(files, { collectorPorts: [2055] });
    expect(forced.summary.inputs[0]!.anomalies).toEqual({ 'netflow.bad_count': 1 });
    expect(forced.summary.inputs[0]!.records).toBe(0);
    expect(forced.summary.inputs[1]!.records).toBe(30);
    // Without the port, a datagram whose header cannot be right is not taken for an export at all.
    const sniffed = await scanFiles(files);
    expect(sniffed.summary.inputs[0]!.anomalies).toEqual({});
    expect(sniffed.summary.inputs[1]!.records).toBe(30);
  });

  it('the mining sessions of ndpi__mining to listed pool addresses are found from NetFlow alone; the unlisted one on a pool port stays suspect', async () => {
    const { flows } = await scanFiles([join(GEN, 'v9', 'ndpi__mining.export.pcap')]);
    const mining = flows.filter((f) => f.flow.source === 'export' && f.verdict.label === 'mining');
    expect(mining.map((f) => `${f.flow.server}:${f.flow.serverPort}`).sort()).toEqual(['116.211.167.195:3333', '178.32.196.217:9050', '94.23.199.191:3333']);
    for (const f of mining) expect(f.verdict.evidence.some((e) => e.kind === 'endpoint' || e.kind === 'endpoint-port')).toBe(true);
    // nanopool's 185.71.66.39 is in no list: pool port and pool-like behaviour alone never list anyone.
    const eth = flows.find((f) => f.flow.server === '185.71.66.39')!;
    expect(eth.verdict).toMatchObject({ label: 'suspect', confidence: 'low' });
    expect(eth.verdict.evidence.map((e) => e.kind).sort()).toEqual(['behaviour', 'port']);
  });
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
