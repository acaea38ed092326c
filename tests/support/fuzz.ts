/**
 * Seeded mutation fuzzing of every reader: the targets, their seeds and one case. Shared by
 * `npm run fuzz` (scripts/fuzz.ts, many cases on worker threads) and the small sample in `npm test`.
 * A case passes when the reader reads the bytes to the end (counting anomalies) or rejects them
 * with an InputError/RuleError that names the file; anything else thrown is a failure. The files
 * the tool validates whole (subscriber directory, NAT log, NAT formula, power readings) pass when
 * every error names a line and what was expected; report databases pass when each command reads
 * them or refuses them in one line naming the file (exit 2; a warning line may come first), and a
 * refusal leaves the file as it was.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { SubscriberDirectory } from '../../src/aggregate/directory.js';
import { NatMapper, parseDeterministic, parseNatLog } from '../../src/aggregate/nat.js';
import { checkPower, parsePowerReadings } from '../../src/aggregate/power.js';
import { parseRadiusLog, RadiusIndex, radiusSessionsFromEvents } from '../../src/aggregate/radius.js';
import { Anomalies } from '../../src/anomalies.js';
import { decodePacket, PacketStatus, PacketView } from '../../src/decode/packet.js';
import { InputError, RuleError, UsageError } from '../../src/errors.js';
import { ExportDatagrams } from '../../src/flow/exportsource.js';
import { PacketIngest } from '../../src/flow/ingest.js';
import { DEFAULT_EXPORT_OPTIONS, DEFAULT_FLOW_OPTIONS, FlowTable } from '../../src/flow/table.js';
import { DnstapParser, dnstapType, DNSTAP_CONTENT_TYPE, FSTRM_CONTROL } from '../../src/io/dnstap.js';
import { makeParser, sniffFormat } from '../../src/io/input.js';
import { ByteWindow } from '../../src/io/joiner.js';
import { loadNfcapdCodecs, type NfcapdCodecs } from '../../src/io/nfcapd.js';
import { PcapParser } from '../../src/io/pcap.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { ZeekJsonParser, ZeekTsvParser } from '../../src/io/zeekdns.js';
import { compileRules } from '../../src/rules/loader.js';
import type { FlowRecord } from '../../src/types.js';
import { missingNfdump, NFCAPD_COMPRESSION, nfcapdFiles, sendPaced, startNfcapd } from './nfcapd.js';

/** One fuzz target: its seeds and how one input is read. */
export interface FuzzTarget {
  name: string;
  /** Text targets are mutated line-wise as well as byte-wise. */
  text: boolean;
  seeds: Uint8Array[];
  /** Read `bytes`; returns the anomaly counts by code, or throws what the reader threw. */
  run(bytes: Uint8Array): Map<string, number> | Promise<Map<string, number>>;
}

/** Thrown by a target when the tool gave up without saying why: a non-zero exit with nothing on stderr, a refusal without an error. */
export class SilentFailure extends Error {
  override readonly name = 'SilentFailure';
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
export async function runCase(t: FuzzTarget, bytes: Uint8Array): Promise<CaseResult> {
  try {
    return { kind: 'ok', anomalies: await t.run(bytes) };
  } catch (e) {
    if (e instanceof SilentFailure) return { kind: 'silent', message: e.message };
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

/**
 * A capture or flow-export reader wired as a scan wires it (flows, export records, datagrams in
 * captures); nfdump binary files with the block codecs a scan loads for them.
 */
function captureRun(allowed: ReadonlyArray<string>, codecs: NfcapdCodecs | null = null): (bytes: Uint8Array) => Map<string, number> {
  return (bytes) => {
    const anomalies = new Anomalies();
    const sink = (_f: FlowRecord) => undefined;
    const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 64, exports: { ...DEFAULT_EXPORT_OPTIONS, maxFlows: 64 } }, sink);
    const ingest = new PacketIngest(table, anomalies, null, new ExportDatagrams(), new Set());
    ingest.begin(NAME, 0);
    const kind = sniffFormat(bytes.subarray(0, 512));
    if (kind === null || kind === 'gzip' || !allowed.includes(kind)) throw new InputError(NAME, 0, `unrecognised format ${String(kind)}`);
    const parser = makeParser(kind, NAME, anomalies, ingest, codecs);
    feed(parser, bytes);
    table.flush();
    return counts(anomalies);
  };
}

/**
 * nfdump binary files as Debian's nfcapd writes them, uncompressed, LZ4 and BZ2, from the corpus's
 * NetFlow v9 export datagrams sent to it on 127.0.0.1; none without nfcapd or the corpus.
 */
async function nfcapdSeeds(v9Captures: readonly Uint8Array[]): Promise<Uint8Array[]> {
  if (missingNfdump() !== null) return [];
  const datagrams = v9Captures.flatMap((c) => udpPayloads(c, () => true)).slice(0, 400);
  if (!datagrams.length) return [];
  const out: Uint8Array[] = [];
  for (const flags of [NFCAPD_COMPRESSION.none, NFCAPD_COMPRESSION.lz4, NFCAPD_COMPRESSION.bz2]) {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-fuzz-nfcapd-'));
    try {
      const nfcapd = await startNfcapd(dir, flags);
      try {
        await sendPaced(nfcapd.port, datagrams, 60_000);
      } finally {
        await nfcapd.stop();
      }
      for (const f of nfcapdFiles(dir)) out.push(new Uint8Array(readFileSync(f)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
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
    const msg = dnstapType().encode(
      dnstapType().create({
        identity: new TextEncoder().encode('ns1'),
        type: 1,
        message: { type: 6, socketFamily: 1, socketProtocol: 1, queryAddress: new Uint8Array([100, 64, 0, 10 + (i % 5)]), queryPort: 40000 + i, responseTimeSec: 1_700_000_000 + i, responseTimeNsec: 0, responseMessage: wire },
      }),
    ).finish();
    return concat(be32(msg.length), msg);
  });
  return concat(control(FSTRM_CONTROL.START, true), ...frames, control(FSTRM_CONTROL.STOP, false));
}

/** What may not reach a terminal from a file's bytes: C0 controls, DEL, C1, bidi marks and overrides, line separators, BOM. */
const DISPLAY_CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

/** An IPv4 address as the file formats document it: four decimal parts, no leading zeros (ipaddr.js would also take `10`, `0x10`, octal `010.1.1.1`). */
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The file's text as `readTextFile` gives it (UTF-8, bad sequences replaced). */
function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * Check the errors of a file validated whole: each names a line of the file (1 to its last line)
 * and says what was expected in one line that cannot control a terminal. Counts them by code
 * (`prefix.kind`, the kind from the first pattern the message matches).
 */
function lineErrors(text: string, errors: ReadonlyArray<{ line: number; message: string }>, prefix: string, kinds: ReadonlyArray<[RegExp, string]>): Map<string, number> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).length;
  const m = new Map<string, number>();
  for (const e of errors) {
    if (!Number.isInteger(e.line) || e.line < 1 || e.line > lines) throw new Error(`${prefix} error names line ${e.line} of a ${lines}-line file: ${e.message}`);
    if (typeof e.message !== 'string' || e.message.trim() === '') throw new Error(`${prefix} error on line ${e.line} without a message`);
    if (DISPLAY_CONTROL.test(e.message)) throw new Error(`${prefix} error on line ${e.line} carries a display control from the file: ${JSON.stringify(e.message)}`);
    const code = `${prefix}.${kinds.find(([re]) => re.test(e.message))?.[1] ?? 'other'}`;
    m.set(code, (m.get(code) ?? 0) + 1);
  }
  return m;
}

/**
 * RADIUS accounting, either format (told apart by the first line): bad lines named with their line
 * and why; every event dated, on a line of the file, with prefix lengths its address family has; the
 * sessions paired from them and the index over them answer a lookup of each event's addresses at
 * its time (and 5 s either side) without throwing.
 */
function radiusRun(bytes: Uint8Array): Map<string, number> {
  const text = utf8(bytes);
  const r = parseRadiusLog(text, NAME);
  const m = lineErrors(text, r.errors, 'radius', [
    [/^empty file/, 'empty'],
    [/^header/, 'header'],
    [/^time/, 'time'],
    [/^event/, 'event'],
    [/^address/, 'address'],
    [/^account/, 'account'],
    [/expected a value in double quotes/, 'quoting'],
    [/needs/, 'incomplete'],
  ]);
  if (r.routesIgnored) m.set('radius.route-ignored', r.routesIgnored);
  if (r.skipped) m.set('radius.skipped', r.skipped);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).length;
  for (const e of r.events) {
    if (!Number.isFinite(e.time)) throw new Error(`line ${e.line}: an event with time ${e.time}`);
    if (!Number.isInteger(e.line) || e.line < 1 || e.line > lines) throw new Error(`an event on line ${e.line} of a ${lines}-line file`);
    for (const a of e.addresses) {
      const v6 = a.addr.kind() === 'ipv6';
      // A host's own address is any length; a routed network or a CSV prefix is /8 (/16) or longer.
      if (!(a.bits >= 0 && a.bits <= (v6 ? 128 : 32))) throw new Error(`line ${e.line}: accepted ${a.text} as a /${a.bits}`);
    }
  }
  const { sessions } = radiusSessionsFromEvents(r.events);
  const index = new RadiusIndex(sessions);
  for (const e of r.events.slice(0, 64)) for (const a of e.addresses.slice(0, 4)) for (const dt of [0, -5_000, 5_000]) index.lookup(a.addr.toString(), e.time + dt);
  m.set('radius.events', r.events.length);
  return m;
}

/** RADIUS seeds: a FreeRADIUS detail file as the `detail` module writes it (routes, a netmask, IPv6, other records). */
function radiusDetailSeeds(): Uint8Array[] {
  const rec = (date: string, attrs: string[]): string => [date, ...attrs.map((a) => `\t${a}`), ''].join('\n');
  const doc = [
    rec('Sat Dec  5 08:00:03 2026', [
      'Acct-Status-Type = Start',
      'User-Name = "alice@isp"',
      'Acct-Session-Id = "4F2A0001"',
      'NAS-IP-Address = 192.0.2.1',
      'Framed-IP-Address = 100.64.7.9',
      'Delegated-IPv6-Prefix = 2001:db8:7:100::/56',
      'Event-Timestamp = "Dec  5 2026 08:00:00 UTC"',
      'Timestamp = 1796457603',
    ]),
    rec('Sat Dec  5 08:00:05 2026', ['Packet-Type = Access-Request', 'User-Name = "bob"', 'Timestamp = 1796457605']),
    rec('Sat Dec  5 08:10:00 2026', [
      'Acct-Status-Type = Interim-Update',
      'User-Name = "dave"',
      'Acct-Session-Id = "S9"',
      'NAS-Identifier = "bras-2"',
      'Framed-IP-Address = 100.64.9.1',
      'Framed-IP-Netmask = 255.255.255.248',
      'Framed-Route = "198.51.100.0/25 100.64.9.1 1"',
      'Framed-IPv6-Route = "2001:db8:99::/48 :: 1"',
      'Event-Timestamp = 1796458200',
    ]),
    rec('Sat Dec  5 09:00:02 2026', [
      'Acct-Status-Type = Stop',
      'User-Name = "alice@isp"',
      'Acct-Session-Id = "4F2A0001"',
      'NAS-IP-Address = 192.0.2.1',
      'Framed-IP-Address = 100.64.7.9',
      'Acct-Session-Time = 3600',
      'Event-Timestamp = "Dec  5 2026 09:00:00 UTC"',
      'Timestamp = 1796461202',
    ]),
    rec('Sat Dec  5 09:30:10 2026', [
      'Acct-Status-Type = Start',
      'User-Name = "carol \\"the miner\\""',
      'Acct-Session-Id = "4F2A0002"',
      'NAS-IP-Address = 192.0.2.1',
      'Framed-IP-Address = 100.64.7.9',
      'Event-Timestamp = "Dec  5 2026 17:30:00 CST"',
      'Acct-Delay-Time = 10',
      'Timestamp = 1796463010',
    ]),
    rec('Sat Dec  5 10:00:00 2026', ['Acct-Status-Type = Accounting-On', 'NAS-IP-Address = 192.0.2.1', 'Timestamp = 1796464800']),
  ].join('\n');
  return [new TextEncoder().encode(doc)];
}

/** RADIUS seeds: the CSV of the README, with quoting, offsets, epoch times, a NAS column and CRLF. */
function radiusCsvSeeds(): Uint8Array[] {
  const doc = [
    '# RADIUS accounting',
    'time,event,account,session,address,nas',
    '2026-12-05T08:00:00Z,start,alice@isp,4F2A0001,100.64.7.9 2001:db8:7:100::/56,bras-1',
    '2026-12-05T08:30:00+08:00,interim,bob,S2,100.64.7.10,bras-1',
    '1796461200,stop,alice@isp,4F2A0001,,bras-1',
    '"2026-12-05T10:00:00Z","start","carol ""x""",S3,"198.51.100.0/25",bras-2',
    '2026-12-05T11:00:00Z,accounting-off,,,,bras-1',
    '',
  ].join('\r\n');
  return [new TextEncoder().encode(doc)];
}

/** Seeds of the subscriber directory: the documented example, quoting, other header names and order, IPv6, BOM and CRLF, and a long generated one. */
function subscriberSeeds(): Uint8Array[] {
  const enc = new TextEncoder();
  const doc = [
    '# subscriber directory',
    'prefix,subscriber,account,type,region',
    '100.64.1.0/24,SUB-0001,ACC-77,residential,Hangzhou',
    '100.64.1.7,SUB-0002,ACC-78,enterprise,Hangzhou',
    '198.51.100.7,CAFE-12,,internet-cafe,Wenzhou',
    '"10.0.0.0/8","SUB, ""quoted""",ACC-1,Internet Cafe,"Ningbo"',
    '2001:db8::/48,SUB-6,,university,Shanghai',
    '2001:db8:0:1::/64,SUB-7,ACC-9,mobile,',
    '192.0.2.0/28,GOV-1,,government,Beijing',
    '0.0.0.0/0,DEFAULT,,other,',
    '',
  ].join('\n');
  const other = '\uFEFFip,region,subscriber,type,account\r\n203.0.113.9,Suzhou,SUB-9,residential,A9\r\n2001:db8:ffff::1,Suzhou,SUB-10,,\r\n# comment\r\n203.0.113.0/25,Suzhou,SUB-11,other,A11\r\n';
  const cidr = 'cidr,subscriber,city\n100.64.0.0/10,CGN-POOL,Xiamen\n100.64.2.0/23,SUB-2,Xiamen\n';
  const gen = ['prefix,subscriber,account,type,region'];
  for (let i = 0; i < 200; i++) gen.push(`100.${64 + (i >> 6)}.${i & 63}.0/${24 + (i % 9)},SUB-${String(i).padStart(4, '0')},ACC-${i},${['residential', 'enterprise', 'mobile', 'university'][i % 4]},R${i % 7}`);
  return [doc, other, cidr, gen.join('\n') + '\n'].map((t) => enc.encode(t));
}

function natSeeds(): Uint8Array[] {
  const enc = new TextEncoder();
  const doc = [
    'start,end,private_ip,public_ip,port_start,port_end',
    '2026-11-01T00:00:00,2026-11-01T12:00:00,100.64.0.5,203.0.113.1,1024,2047',
    '2026-11-01T12:00:00,,100.64.0.9,203.0.113.1,1024,2047',
    '2026-11-01 00:00:00,,100.64.0.6,203.0.113.1,2048,3071',
    '1793491200,1793494800.5,100.64.0.7,203.0.113.1,3100,3100',
    '2026-11-01T06:30:00,2026-11-01T08:00:00,100.64.0.8,203.0.113.1,3100,3100',
    '2026-11-01T00:00:00,,fd00::5,2001:db8::1,0,65535',
    '',
  ].join('\n');
  const other = '# NAT log, other column order\r\npublic_ip,port_start,port_end,private_ip,start,end,proto\r\n198.51.100.2,40000,40999,100.64.9.1,2026-11-02T00:00:00,2026-11-02T01:00:00,tcp\r\n198.51.100.2,41000,41999,100.64.9.2,2026-11-02T00:00:00,,udp\r\n';
  const gen = ['start,end,private_ip,public_ip,port_start,port_end'];
  for (let i = 0; i < 200; i++) {
    const start = 1_793_491_200 + i * 600;
    gen.push(`${start},${i % 5 === 0 ? '' : start + 3600},100.64.${i >> 6}.${i & 63},203.0.113.${i % 4},${1024 + (i % 63) * 1024},${1024 + (i % 63) * 1024 + 1023}`);
  }
  return [doc, other, gen.join('\n') + '\n'].map((t) => enc.encode(t));
}

function natFormulaSeeds(): Uint8Array[] {
  return ['100.64.0.0/16=203.0.113.0/24:1024-65535/2016', '100.64.0.0/24=203.0.113.0/29:1024-65535/1024', '10.0.0.0/30=192.0.2.7/32:1-65535/16383', ' 100.64.0.0/10=198.18.0.0/15:1024-65535/4032 '].map((t) => new TextEncoder().encode(t));
}

function powerSeeds(): Uint8Array[] {
  const enc = new TextEncoder();
  const doc = [
    '# metered energy',
    'subscriber,start,end,kwh',
    'SUB-0001,2026-11-01,2026-11-02,38.5',
    'SUB-0001,2026-11-02,2026-11-03,40',
    'CAFE-12,2026-11-01T00:00:00+08:00,2026-11-08T00:00:00+08:00,310',
    'CAFE-12,2026-11-08 00:00:00Z,2026-11-08 12:30,12.25',
    '"SUB, quoted",2026-11-01T00:00:00.500-0500,2026-11-01T01:00:00-05:00,0',
    '',
  ].join('\n');
  const other = '\uFEFFkwh,end,start,subscriber,meter\r\n1.5,2026-02-28,2026-02-27,SUB-9,M1\r\n2.5,2026-03-01,2026-02-28,SUB-9,M1\r\n';
  const gen = ['subscriber,start,end,kwh'];
  for (let i = 0; i < 200; i++) {
    const day = (d: number) => new Date(Date.UTC(2026, 10, 1 + d)).toISOString().slice(0, 10);
    gen.push(`SUB-${String(i % 20).padStart(4, '0')},${day(i)},${day(i + 1)},${(i * 7.25).toFixed(2)}`);
  }
  return [doc, other, gen.join('\n') + '\n'].map((t) => enc.encode(t));
}

/** A real small report (office.pcap scanned by the CLI), the same with a rollback journal and with a newer schema version, a database another program made, and a capture given as a report. */
async function reportSeeds(root: string): Promise<Uint8Array[]> {
  const { main } = await import('../../src/cli/main.js');
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-fuzz-seed-'));
  try {
    const report = join(dir, 'report.sqlite');
    const capture = join(root, 'fixtures', 'demo', 'office.pcap');
    let err = '';
    const code = await main(['scan', capture, '--db', report], { out: () => undefined, err: (s) => (err += s) });
    if (code !== 0) throw new Error(`seed scan of ${capture} exited ${code}: ${err}`);
    const variant = (name: string, sql: (db: Database.Database) => void): Uint8Array => {
      const p = join(dir, name);
      copyFileSync(report, p);
      const db = new Database(p);
      sql(db);
      db.close();
      return new Uint8Array(readFileSync(p));
    };
    const rollback = variant('rollback.sqlite', (db) => db.pragma('journal_mode = DELETE'));
    const newer = variant('newer.sqlite', (db) => db.prepare("UPDATE meta SET value = '999' WHERE key = 'schema_version'").run());
    const foreignPath = join(dir, 'foreign.sqlite');
    const foreign = new Database(foreignPath);
    foreign.exec('CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, address TEXT); CREATE INDEX customers_name ON customers(name); CREATE TABLE meta(k TEXT, v TEXT);');
    const ins = foreign.prepare('INSERT INTO customers(name, address) VALUES (?, ?)');
    for (let i = 0; i < 300; i++) ins.run(`customer ${i}`, `100.64.${i >> 8}.${i & 255}`);
    foreign.close();
    return [new Uint8Array(readFileSync(report)), rollback, newer, new Uint8Array(readFileSync(foreignPath)), new Uint8Array(readFileSync(capture))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why a report was refused, from its one line. */
function refusal(message: string): string {
  if (/is not a SQLite database/.test(message)) return 'not-sqlite';
  if (/not a minerwatch report/.test(message)) return 'not-report';
  if (/schema version/.test(message)) return 'version';
  if (/malformed|corrupt|not a database/i.test(message)) return 'corrupt';
  if (/cannot (open|read)/.test(message)) return 'unreadable';
  return 'other';
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A mutated report file: `summary`, `watchlist` and `flows` through the CLI's `main` read it
 * (exit 0) or refuse it with one stderr line naming it (exit 2), and leave its bytes unchanged;
 * then `openReport` in write mode opens it, or refuses it without changing a byte.
 */
async function reportDbRun(bytes: Uint8Array): Promise<Map<string, number>> {
  const { main } = await import('../../src/cli/main.js');
  const { openReport } = await import('../../src/report/writer.js');
  const m = new Map<string, number>();
  const count = (k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-fuzz-db-'));
  try {
    const p = join(dir, 'report.sqlite');
    writeFileSync(p, bytes);
    const before = sha256(bytes);
    let summaryRefusal: string | null = null;
    for (const cmd of ['summary', 'watchlist', 'flows']) {
      let err = '';
      const code = await main([cmd, '--db', p], { out: () => undefined, err: (s) => (err += s) });
      // The lists warn on stderr (an incomplete input) before their rows: one error line follows.
      const lines = err.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('minerwatch: warning: '));
      if (code === 0) count(`${cmd}.read`);
      else if (err.trim() === '') throw new SilentFailure(`${cmd}: exit ${code} with nothing on stderr`);
      else if (code === 2 && lines.length === 1 && lines[0]!.includes(p)) {
        const why = refusal(lines[0]!);
        if (cmd === 'summary') summaryRefusal = why;
        count(`${cmd}.refused.${why}`);
      } else throw new Error(`${cmd}: exit ${code}, expected 0, or 2 with one line naming the file: ${err.slice(0, 1500)}`);
    }
    if (sha256(readFileSync(p)) !== before) throw new Error('summary, watchlist or flows changed the report file');
    try {
      openReport(p).close();
      // Only an empty file, an empty SQLite database or a minerwatch report may be opened for writing.
      if (summaryRefusal === 'not-sqlite') throw new Error('write mode opened a file that summary found not to be SQLite');
      count('write.opened');
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      if (!e.message.includes(p) || e.message.includes('\n')) throw new Error(`write mode refused without one line naming the file: ${e.message}`, { cause: e });
      if (sha256(readFileSync(p)) !== before) throw new Error(`write mode refused (${e.message}) but changed the file`, { cause: e });
      count(`write.refused.${refusal(e.message)}`);
    }
    return m;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
  const nfcapdFileSeeds = await nfcapdSeeds(exportPcaps('v9'));

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

  const dbSeeds = await reportSeeds(root);
  const ruleFiles = readRuleFiles(join(root, 'rules'));
  const policy = ruleFiles.find((f) => f.path === 'policy.yaml');
  const decoder = new TextDecoder();
  let ruleIndex = 0;
  return [
    { name: 'pcap', text: false, seeds: pcaps, run: captureRun(['pcap']) },
    { name: 'pcapng', text: false, seeds: pcapngs, run: captureRun(['pcapng']) },
    { name: 'netflow-in-captures', text: false, seeds: exportsInCaptures, run: captureRun(['pcap', 'pcapng']) },
    { name: 'ipfix-file', text: false, seeds: ipfixFiles, run: captureRun(['ipfix']) },
    { name: 'nfcapd', text: false, seeds: nfcapdFileSeeds, run: captureRun(['nfcapd'], await loadNfcapdCodecs()) },
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
    {
      name: 'subscribers-csv',
      text: true,
      seeds: subscriberSeeds(),
      run: (bytes) => {
        const text = utf8(bytes);
        const { directory, errors } = SubscriberDirectory.parse(text);
        const m = lineErrors(text, errors, 'subscribers', [
          [/^header/, 'header'],
          [/^empty file/, 'empty'],
          [/is already mapped/, 'duplicate'],
          [/^prefix/, 'prefix'],
          [/^subscriber/, 'subscriber'],
          [/^type/, 'type'],
        ]);
        if (!directory) {
          if (!errors.length) throw new SilentFailure('subscriber directory refused without an error');
          return m;
        }
        for (const e of directory.entries) {
          const addr = e.prefix.split('/')[0]!;
          if (!addr.includes(':') && !DOTTED_QUAD.test(addr)) throw new Error(`line ${e.line}: accepted ${JSON.stringify(e.prefix)}, not a dotted-quad IPv4 address or CIDR`);
          if (addr.includes(':') || e.prefix.endsWith('/32') || !e.prefix.includes('/')) {
            const hit = directory.lookup(addr);
            if (!hit) throw new Error(`line ${e.line}: ${addr} is in the directory but maps to no subscriber`);
          }
        }
        directory.lookup('100.64.1.9');
        directory.lookup('2001:db8::9');
        return m;
      },
    },
    {
      name: 'nat-log-csv',
      text: true,
      seeds: natSeeds(),
      run: (bytes) => {
        const text = utf8(bytes);
        const { records, errors } = parseNatLog(text);
        const m = lineErrors(text, errors, 'nat', [
          [/^header/, 'header'],
          [/^empty file/, 'empty'],
          [/^expected start/, 'time'],
          [/^expected IP/, 'address'],
          [/^expected port/, 'port'],
        ]);
        if (errors.length) return m;
        const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
        const nat = new NatMapper();
        nat.addRecords(records);
        for (const r of records.slice(0, 64)) {
          if (!Number.isFinite(r.start) || !(r.end >= r.start) || !Number.isInteger(r.portStart) || !Number.isInteger(r.portEnd) || r.portStart < 0 || r.portEnd > 65535 || r.portStart > r.portEnd)
            throw new Error(`line ${r.line}: accepted a record out of range: ${JSON.stringify(r)}`);
          // An IPv4 address is taken only as written (ipaddr.js alone also reads 10, 0x10 or octal 010.1.1.1).
          for (const ip of [r.privateIp, r.publicIp]) if (!ip.includes(':') && !lines[r.line - 1]!.split(',').some((f) => f.trim() === ip || f.trim().toLowerCase() === `::ffff:${ip}`)) throw new Error(`line ${r.line}: accepted ${ip}, which the line does not hold as written: ${JSON.stringify(lines[r.line - 1])}`);
          const hit = nat.map(r.publicIp, r.portStart, r.start);
          if (hit === null || hit.status === 'missing') throw new Error(`line ${r.line}: the record's own public address, port and start map to ${JSON.stringify(hit)}`);
        }
        return m;
      },
    },
    {
      name: 'nat-deterministic',
      text: true,
      seeds: natFormulaSeeds(),
      run: (bytes) => {
        const spec = utf8(bytes);
        const f = parseDeterministic(spec);
        if (typeof f === 'string') {
          if (f.trim() === '' || DISPLAY_CONTROL.test(f)) throw new Error(`formula refused without a clear one-line reason: ${JSON.stringify(f)}`);
          return new Map([[`nat-formula.${/^ports/.test(f) ? 'ports' : /holds only/.test(f) ? 'size' : /CIDR/.test(f) ? 'cidr' : 'syntax'}`, 1]]);
        }
        const nat = new NatMapper();
        nat.addFormula(f);
        // Every public address of the range, at each end of its ports, maps into the private range.
        const [priv] = spec.trim().split('=');
        const [privNet, privBits] = priv!.split('/');
        const size = 2 ** (32 - Number(privBits));
        const base = ipToUint(privNet!) - (ipToUint(privNet!) % size);
        const [pubNet, pubBits] = spec.trim().split('=')[1]!.split(':')[0]!.split('/');
        const pubSize = 2 ** (32 - Number(pubBits));
        const pubBase = ipToUint(pubNet!) - (ipToUint(pubNet!) % pubSize);
        for (const j of [0, pubSize - 1]) {
          const pub = uintToIp(pubBase + j);
          for (const port of [f.first, f.first + f.perSubscriber * f.blocksPerPublic - 1]) {
            const r = nat.map(pub, port, 0);
            if (r === null) throw new Error(`${pub} of ${spec} is not taken as a public address`);
            if (r.status === 'mapped' && !(ipToUint(r.privateIp) >= base && ipToUint(r.privateIp) < base + size)) throw new Error(`${pub}:${port} maps to ${r.privateIp}, outside ${priv}`);
          }
        }
        return new Map([['nat-formula.accepted', 1]]);
      },
    },
    {
      name: 'power-csv',
      text: true,
      seeds: powerSeeds(),
      run: (bytes) => {
        const text = utf8(bytes);
        const { readings, errors } = parsePowerReadings(text);
        const m = lineErrors(text, errors, 'power', [
          [/^header/, 'header'],
          [/^empty file/, 'empty'],
          [/^expected \d+ fields/, 'fields'],
          [/^subscriber/, 'subscriber'],
          [/^start/, 'start'],
          [/^end: /, 'end'],
          [/is not after/, 'order'],
          [/^kwh/, 'kwh'],
          [/overlaps/, 'overlap'],
        ]);
        if (!readings) {
          if (!errors.length) throw new SilentFailure('power file refused without an error');
          return m;
        }
        for (const r of readings) if (!(Number.isFinite(r.start) && Number.isFinite(r.end) && r.end > r.start && Number.isFinite(r.kwh) && r.kwh >= 0)) throw new Error(`line ${r.line}: accepted a reading out of range: ${JSON.stringify(r)}`);
        const first = readings.length ? Math.min(...readings.map((r) => r.start)) : 0;
        checkPower(readings, [{ spans: [{ first, last: first + 86_400_000 }], wLow: 100, wHigh: 300 }]);
        return m;
      },
    },
    { name: 'radius-detail', text: true, seeds: radiusDetailSeeds(), run: radiusRun },
    { name: 'radius-csv', text: true, seeds: radiusCsvSeeds(), run: radiusRun },
    { name: 'report-db', text: false, seeds: dbSeeds, run: reportDbRun },
  ];
}

function ipToUint(s: string): number {
  return s.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

function uintToIp(n: number): string {
  return [n / 2 ** 24, n / 2 ** 16, n / 2 ** 8, n].map((x) => Math.floor(x) % 256).join('.');
}
