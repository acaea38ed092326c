/**
 * Seeded mutation fuzzing of every reader: the targets, their seeds and one case. Shared by
 * `npm run fuzz` (scripts/fuzz.ts, many cases on worker threads) and the small sample in `npm test`.
 * A case passes when the reader reads the bytes to the end (counting anomalies) or rejects them
 * with an InputError/RuleError that names the file; anything else thrown is a failure.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Anomalies } from '../anomalies.js';
import { decodePacket, PacketStatus, PacketView } from '../decode/packet.js';
import { InputError, RuleError } from '../errors.js';
import { DEFAULT_EXPORT_OPTIONS, ExportFlowAssembler } from '../flow/exports.js';
import { ExportDatagrams } from '../flow/exportsource.js';
import { PacketIngest } from '../flow/ingest.js';
import { DEFAULT_FLOW_OPTIONS, FlowTable } from '../flow/table.js';
import { DnstapParser, DnstapType, DNSTAP_CONTENT_TYPE, FSTRM_CONTROL } from '../io/dnstap.js';
import { sniffFormat } from '../io/input.js';
import { IpfixFileParser } from '../io/ipfixfile.js';
import { ByteWindow } from '../io/joiner.js';
import { JsonFlowsParser } from '../io/jsonflows.js';
import { NfdumpCsvParser } from '../io/nfcsv.js';
import { PcapParser, type CaptureParser } from '../io/pcap.js';
import { PcapngParser } from '../io/pcapng.js';
import { readRuleFiles } from '../io/rulefiles.js';
import { ZeekJsonParser, ZeekTsvParser } from '../io/zeekdns.js';
import { compileRules } from '../rules/loader.js';
import type { FlowRecord } from '../types.js';

/** One fuzz target: its seeds and how one input is read. */
export interface FuzzTarget {
  name: string;
  /** Text targets are mutated line-wise as well as byte-wise. */
  text: boolean;
  seeds: Uint8Array[];
  /** Read `bytes`; returns the anomaly counts by code, or throws what the reader threw. */
  run(bytes: Uint8Array): Map<string, number>;
}

/** The outcome of one case. */
export type CaseResult = { kind: 'ok' | 'rejected'; anomalies: Map<string, number> } | { kind: 'uncaught' | 'silent'; message: string };

const NAME = 'fuzz-input';

/** Byte flips, truncation, 4-byte overwrites (0xffffffff / 0 / 0x7fffffff), duplicated and deleted ranges; for text also line deletion and duplication. */
export function mutate(src: Uint8Array, rnd: () => number, text = false): { bytes: Uint8Array; what: string[] } {
  const int = (n: number) => Math.floor(rnd() * n);
  let b: Uint8Array = src.slice();
  const what: string[] = [];
  const steps = 1 + int(3);
  for (let s = 0; s < steps; s++) {
    const kind = int(text ? 8 : 6);
    const len = b.length;
    if (kind === 0) {
      for (let i = 0, n = 1 + int(8); i < n && len > 0; i++) {
        const at = int(len);
        const x = 1 + int(255);
        b[at] = b[at]! ^ x;
        what.push(`flip@${at}^${x}`);
      }
    } else if (kind === 1) {
      const at = int(len + 1);
      b = b.slice(0, at);
      what.push(`truncate@${at}`);
    } else if (kind === 2) {
      for (let i = 0, n = 1 + int(4); i < n && len >= 4; i++) {
        let at = int(len - 3);
        if (rnd() < 0.5) at &= ~3;
        const value = [0xffffffff, 0, 0x7fffffff][int(3)]!;
        new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, value, rnd() < 0.5);
        what.push(`u32@${at}=${value.toString(16)}`);
      }
    } else if (kind === 3 && len > 0) {
      const a = int(len);
      const e = Math.min(len, a + 1 + int(256));
      const at = int(len + 1);
      b = concat(b.subarray(0, at), b.subarray(a, e), b.subarray(at));
      what.push(`dup[${a},${e})@${at}`);
    } else if (kind === 4 && len > 0) {
      const a = int(len);
      const e = Math.min(len, a + 1 + int(256));
      b = concat(b.subarray(0, a), b.subarray(e));
      what.push(`del[${a},${e})`);
    } else if (kind >= 6) {
      const lines = Buffer.from(b).toString('latin1').split('\n');
      const at = int(lines.length);
      if (kind === 6) lines.splice(at, 1);
      else lines.splice(at, 0, lines[at]!);
      b = new Uint8Array(Buffer.from(lines.join('\n'), 'latin1'));
      what.push(`${kind === 6 ? 'delline' : 'dupline'}@${at}`);
    } else if (len >= 32) {
      const at = Math.min([24 + 8, 24 + 12, 4, 8 + int(8) * 4][int(4)]!, len - 4);
      const value = [0xffffffff, 0, 0x7fffffff][int(3)]!;
      new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, value, true);
      what.push(`hdr-u32@${at}=${value.toString(16)}`);
    }
  }
  return { bytes: b, what };
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Run one case and classify it: an error that does not name the input is a silent one. */
export function runCase(t: FuzzTarget, bytes: Uint8Array): CaseResult {
  try {
    return { kind: 'ok', anomalies: t.run(bytes) };
  } catch (e) {
    if (e instanceof InputError || e instanceof RuleError) {
      if (!e.message.includes(e.file) || e.message.trim() === '') return { kind: 'silent', message: e.message };
      return { kind: 'rejected', anomalies: new Map([[`rejected:${e.name}`, 1]]) };
    }
    return { kind: 'uncaught', message: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) };
  }
}

function counts(a: Anomalies): Map<string, number> {
  const m = new Map<string, number>();
  for (const [code, n] of Object.entries(a.toObject())) m.set(code, n);
  return m;
}

/** Feed bytes to a window parser in one piece, then finish it. */
function feed(parser: { parse(win: ByteWindow, final: boolean): void }, bytes: Uint8Array): void {
  const win = new ByteWindow(256);
  win.append(bytes);
  parser.parse(win, false);
  parser.parse(win, true);
}

/** A capture or flow-export reader wired as a scan wires it (flows, export records, datagrams in captures). */
function captureRun(allowed: ReadonlyArray<string>): (bytes: Uint8Array) => Map<string, number> {
  return (bytes) => {
    const anomalies = new Anomalies();
    const sink = (_f: FlowRecord) => undefined;
    const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 64 }, sink);
    const exports = new ExportFlowAssembler({ ...DEFAULT_EXPORT_OPTIONS, maxFlows: 64 }, sink);
    const exportTable = new FlowTable({ maxFlows: 64, idleTimeoutMs: 300_000, activeTimeoutMs: Infinity, closeGraceMs: 300_000, payloadBytes: 0, exportRecords: true, servicePorts: null }, sink);
    const ingest = new PacketIngest(table, anomalies, null, exports, new ExportDatagrams(), new Set(), exportTable);
    ingest.begin(NAME, 0);
    const kind = sniffFormat(bytes.subarray(0, 512));
    if (kind === null || kind === 'gzip' || !allowed.includes(kind)) throw new InputError(NAME, 0, `unrecognised format ${String(kind)}`);
    const parser: CaptureParser =
      kind === 'pcap'
        ? new PcapParser(NAME, anomalies, ingest)
        : kind === 'pcapng'
          ? new PcapngParser(NAME, anomalies, ingest)
          : kind === 'nfdump-csv'
            ? new NfdumpCsvParser(NAME, anomalies, ingest)
            : kind === 'ipfix'
              ? new IpfixFileParser(NAME, anomalies, ingest)
              : new JsonFlowsParser(NAME, anomalies, ingest);
    feed(parser, bytes);
    table.flush();
    exportTable.flush();
    exports.flush();
    return counts(anomalies);
  };
}

function listFiles(dir: string, keep: (name: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, keep));
    else if (keep(name)) out.push(p);
  }
  return out;
}

function plain(p: string): Uint8Array {
  const b = new Uint8Array(readFileSync(p));
  return b[0] === 0x1f && b[1] === 0x8b ? new Uint8Array(gunzipSync(b)) : b;
}

/** UDP payloads of every packet in a pcap (for DNS responses and export datagrams). */
function udpPayloads(capture: Uint8Array, port: (src: number, dst: number) => boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new PacketView();
  const dv = new DataView(capture.buffer, capture.byteOffset, capture.byteLength);
  if (capture.length < 24) return out;
  const le = dv.getUint32(0, true) === 0xa1b2c3d4 || dv.getUint32(0, true) === 0xa1b23c4d;
  const link = dv.getUint32(20, le);
  for (let p = 24; p + 16 <= capture.length; ) {
    const caplen = dv.getUint32(p + 8, le);
    const orig = dv.getUint32(p + 12, le);
    if (p + 16 + caplen > capture.length) break;
    const st = decodePacket(link, capture, p + 16, caplen, orig, view);
    if (st === PacketStatus.Transport && view.proto === 17 && port(view.srcPort, view.dstPort)) out.push(capture.slice(view.payloadOffset, view.payloadOffset + view.payloadLength));
    p += 16 + caplen;
  }
  return out;
}

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

/** A Frame Streams file of dnstap CLIENT_RESPONSE messages (fstrm: START control frame, data frames, STOP). */
function dnstapFile(responses: Uint8Array[]): Uint8Array {
  const ct = new TextEncoder().encode(DNSTAP_CONTENT_TYPE);
  const control = (type: number, withType: boolean) => {
    const body = withType ? concat(be32(type), be32(1), be32(ct.length), ct) : be32(type);
    return concat(be32(0), be32(body.length), body);
  };
  const frames = responses.map((wire, i) => {
    const msg = DnstapType.encode(
      DnstapType.create({
        identity: new TextEncoder().encode('ns1'),
        type: 1,
        message: { type: 6, socketFamily: 1, socketProtocol: 1, queryAddress: new Uint8Array([100, 64, 0, 10 + (i % 5)]), queryPort: 40000 + i, responseTimeSec: 1_700_000_000 + i, responseTimeNsec: 0, responseMessage: wire },
      }),
    ).finish();
    return concat(be32(msg.length), msg);
  });
  return concat(control(FSTRM_CONTROL.START, true), ...frames, control(FSTRM_CONTROL.STOP, false));
}

/**
 * Every target with its seeds, from the repository's fixtures and rules, and from the shared corpus
 * when it is there (NetFlow/IPFIX exports and nfdump CSV come from it). A target without seeds is
 * returned with none, and the caller says it was skipped.
 */
export async function fuzzTargets(root: string, corpus: string): Promise<FuzzTarget[]> {
  const fixtures = join(root, 'fixtures');
  const captures = listFiles(fixtures, (n) => !n.endsWith('.md') && !n.endsWith('.json')).map(plain);
  const pcaps = captures.filter((b) => sniffFormat(b.subarray(0, 8)) === 'pcap');
  const pcapngs = captures.filter((b) => sniffFormat(b.subarray(0, 8)) === 'pcapng');
  const gen = join(corpus, 'netflow', 'generated');
  const exportPcaps = (v: string) => listFiles(join(gen, v), (n) => n.endsWith('.export.pcap')).slice(0, 6).map(plain);
  const exportsInCaptures = ['v5', 'v9', 'ipfix'].flatMap(exportPcaps);
  const ipfixFiles = exportPcaps('ipfix')
    .map((c) => concat(...udpPayloads(c, () => true)))
    .filter((b) => b.length > 0);
  const csvs = listFiles(gen, (n) => n.endsWith('.csv')).slice(0, 8).map(plain);

  // JSON flows (GoFlow2 keys) from the flows of the demo captures.
  const jsonLines: string[] = [];
  for (const b of pcaps.slice(0, 6)) {
    const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 64 }, (f) =>
      jsonLines.push(
        JSON.stringify({ type: 'IPFIX', time_flow_start_ns: f.firstSeen * 1e6, time_flow_end_ns: f.lastSeen * 1e6, src_addr: f.client, dst_addr: f.server, src_port: f.clientPort, dst_port: f.serverPort, proto: f.transport.toUpperCase(), packets: f.packetsC2S, bytes: f.bytesC2S, sampling_rate: 0 }),
      ),
    );
    const ingest = new PacketIngest(table, new Anomalies());
    ingest.begin(NAME, 0);
    try {
      feed(new PcapParser(NAME, new Anomalies(), ingest), b);
    } catch {
      // fixtures/bad holds captures that are refused on purpose
    }
    table.flush();
  }
  const jsonSeeds = jsonLines.length ? [new TextEncoder().encode(jsonLines.join('\n') + '\n')] : [];

  // Resolver logs from the DNS responses in the name fixtures: dnstap, and Zeek TSV/JSON written by the project's own writer.
  const dnsResponses = listFiles(join(fixtures, 'names'), (n) => n.endsWith('.pcap')).flatMap((p) => udpPayloads(plain(p), (s) => s === 53));
  const dnstapSeeds = dnsResponses.length ? [dnstapFile(dnsResponses)] : [];
  const zeekSeeds: Uint8Array[] = [];
  try {
    const { writeZeekDnsLog } = await import('../../scripts/corpus-dnslog.js');
    for (const p of listFiles(join(fixtures, 'names'), (n) => n.endsWith('.pcap'))) {
      let text = '';
      await writeZeekDnsLog(p, (s: string) => (text += s), new Anomalies());
      if (text.includes('\n') && text.split('\n').length > 10) zeekSeeds.push(new TextEncoder().encode(text));
    }
  } catch {
    // The writer is a script of this repository; without it the TSV target has no seeds.
  }
  const zeekJsonSeeds = dnsResponses.length
    ? [new TextEncoder().encode(dnsResponses.map((_, i) => JSON.stringify({ ts: 1_700_000_000 + i, uid: `C${i}`, 'id.orig_h': `100.64.0.${10 + (i % 5)}`, 'id.orig_p': 40000 + i, 'id.resp_h': '192.0.2.53', 'id.resp_p': 53, proto: 'udp', query: `pool${i}.example.org`, qtype_name: 'A', rcode_name: 'NOERROR', answers: [`198.51.100.${i % 250}`], TTLs: [300] })).join('\n') + '\n')]
    : [];

  const dnsRun = (make: (a: Anomalies, on: () => void) => { parse(win: ByteWindow, final: boolean): void }) => (bytes: Uint8Array) => {
    const a = new Anomalies();
    feed(make(a, () => undefined), bytes);
    return counts(a);
  };

  const ruleFiles = readRuleFiles(join(root, 'rules'));
  const policy = ruleFiles.find((f) => f.path === 'policy.yaml');
  const decoder = new TextDecoder();
  let ruleIndex = 0;
  return [
    { name: 'pcap', text: false, seeds: pcaps, run: captureRun(['pcap']) },
    { name: 'pcapng', text: false, seeds: pcapngs, run: captureRun(['pcapng']) },
    { name: 'netflow-in-captures', text: false, seeds: exportsInCaptures, run: captureRun(['pcap', 'pcapng']) },
    { name: 'ipfix-file', text: false, seeds: ipfixFiles, run: captureRun(['ipfix']) },
    { name: 'nfdump-csv', text: true, seeds: csvs, run: captureRun(['nfdump-csv']) },
    { name: 'json-flows', text: true, seeds: jsonSeeds, run: captureRun(['json-flows']) },
    { name: 'dnstap', text: false, seeds: dnstapSeeds, run: dnsRun((a, on) => new DnstapParser(NAME, a, on)) },
    { name: 'zeek-dns-tsv', text: true, seeds: zeekSeeds, run: dnsRun((a, on) => new ZeekTsvParser(NAME, a, on)) },
    { name: 'zeek-dns-json', text: true, seeds: zeekJsonSeeds, run: dnsRun((a, on) => new ZeekJsonParser(NAME, a, on)) },
    {
      name: 'rule-files',
      text: true,
      seeds: ruleFiles.filter((f) => f.text.length < 40_000).map((f) => new TextEncoder().encode(`${f.path}\n${f.text}`)),
      run: (bytes) => {
        // First line: which file it is (mutations may change it: an unknown rule file is an error too).
        const text = decoder.decode(bytes);
        const nl = text.indexOf('\n');
        const path = nl < 0 ? `x${ruleIndex++}.yaml` : text.slice(0, nl);
        const files = [{ path, text: nl < 0 ? text : text.slice(nl + 1) }];
        if (policy && path !== 'policy.yaml') files.push(policy);
        const rep = compileRules(files);
        const m = new Map<string, number>();
        for (const e of rep.errors) {
          if (!/^[^\n]*:\d+: /.test(e.message) || e.line < 1) throw new Error(`rule error without file:line: ${e.message}`);
          const code = e.field.startsWith('(') ? `rule.${e.field}` : 'rule.field';
          m.set(code, (m.get(code) ?? 0) + 1);
        }
        return m;
      },
    },
  ];
}
