/**
 * The nfdump CSV parser of src/io/nfcsv.ts as it was before it read bytes in place (lines decoded
 * to text, fields split with indexOf), kept as the oracle for the byte parser in nfcsv.test.ts. Not
 * used by the program. One change since: a line longer than MAX_LINE is counted once, with the byte
 * parser's message, and its rest is skipped up to its newline (it was read as one more line, counted
 * again, and every later line numbered one too many), as nfcsv.test.ts tests on its own.
 */
import type { Anomalies } from '../../src/anomalies.js';
import { InputError } from '../../src/errors.js';
import type { ExportFlowInput } from '../../src/flow/records.js';
import type { NumericExportRecord } from '../../src/flow/table.js';
import { newNumericRecord } from '../../src/decode/templates.js';
import type { ByteWindow } from '../../src/io/joiner.js';

/** Receives every export record an input yields. */
interface RecordSink {
  record(r: ExportFlowInput): void;
  /** IPv4 records with numeric addresses (optional fast path; the object is reused). */
  recordNumeric?(r: NumericExportRecord): void;
}

const REQUIRED = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr'] as const;
const MAX_LINE = 64 * 1024;
const PROTOCOLS: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMP6: 58, IPV6: 41, GRE: 47, ESP: 50, AH: 51, SCTP: 132 };
/** nfdump prints TCP flags as 8 characters C E U A P R S F, '.' for unset. */
const FLAG_BITS: Record<string, number> = { C: 0x80, E: 0x40, U: 0x20, A: 0x10, P: 0x08, R: 0x04, S: 0x02, F: 0x01 };
const decoder = new TextDecoder('utf-8');

/** Does the text start like an nfdump CSV header? */
export function looksLikeNfdumpCsv(head: Uint8Array): boolean {
  const t = decoder.decode(head.subarray(0, Math.min(head.length, 512)));
  const first = t.split(/\r?\n/, 1)[0] ?? '';
  const cols = new Set(first.split(',').map((c) => c.trim()));
  return REQUIRED.every((c) => cols.has(c));
}

/** nfdump prints large counters as "1.2 M"; plain integers otherwise. */
function parseCount(s: string | undefined): number {
  if (s === undefined) return 0;
  const t = s.trim();
  if (t === '') return 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKMG]?)$/.exec(t);
  if (!m) return NaN;
  const mult = m[2] === 'k' || m[2] === 'K' ? 1e3 : m[2] === 'M' ? 1e6 : m[2] === 'G' ? 1e9 : 1;
  return Math.round(Number(m[1]) * mult);
}

/** Column indices the parser reads (-1 when the column is absent). */
interface Columns {
  count: number;
  /** Fields up to the last column read: splitting stops there. */
  needed: number;
  ts: number;
  te: number;
  sa: number;
  da: number;
  sp: number;
  dp: number;
  pr: number;
  flg: number;
  ipkt: number;
  ibyt: number;
  opkt: number;
  obyt: number;
}

/**
 * Parses lines by scanning characters in one decoded chunk: numbers, times and IPv4 addresses are
 * read in place, so a row costs no per-field strings (IPv6 addresses and odd values take the slow
 * path). Measured with `npm run bench` (flow-export case).
 */
export class NfdumpCsvParser {
  readonly format = 'nfdump-csv' as const;
  /** Data lines turned into records. */
  records = 0;
  private cols: Columns | null = null;
  private line = 0;
  private done = false;
  /** The rest of a line longer than MAX_LINE, counted once already, is skipped up to its newline. */
  private skipping = false;
  /** Start offsets of the fields of the current line (reused). */
  private readonly starts = new Int32Array(256);
  private readonly ends = new Int32Array(256);
  private readonly numeric: NumericExportRecord = newNumericRecord();

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly sink: RecordSink,
  ) {}

  get packets(): number {
    return this.records;
  }

  parse(win: ByteWindow, final: boolean): void {
    const b = win.buf;
    while (!this.done && win.available > 0) {
      // Decode up to the last newline at once; when the input ends, the rest is a last line.
      let lastNl = b.lastIndexOf(0x0a, win.end - 1);
      if (lastNl < win.start) {
        if (win.available > MAX_LINE) {
          if (!this.skipping) {
            this.line++;
            this.anomalies.add('csv.bad_line', this.file, this.line, `line ${this.line}: longer than ${MAX_LINE} bytes (expected at most ${MAX_LINE} bytes a line); skipped up to its line end`);
            this.skipping = true;
          }
          win.start = win.end;
          return;
        }
        if (!final) return;
        lastNl = win.end;
      }
      // nfdump writes ASCII: a one-byte (latin1) string is what V8 builds fastest.
      const text = Buffer.from(b.buffer, b.byteOffset + win.start, lastNl - win.start).toString('latin1');
      win.start = Math.min(lastNl + 1, win.end);
      let p = 0;
      while (p < text.length && !this.done) {
        let e = text.indexOf('\n', p);
        if (e < 0) e = text.length;
        if (this.skipping) {
          this.skipping = false;
          p = e + 1;
          continue;
        }
        let le = e;
        if (le > p && text.charCodeAt(le - 1) === 13) le--;
        this.line++;
        if (skipSpaces(text, p, le) < le) this.handle(text, p, le);
        p = e + 1;
      }
    }
    // After the summary: ignore the rest.
    if (this.done) win.start = win.end;
  }

  private bad(why: string, t: string, from: number, to: number): void {
    this.anomalies.add('csv.bad_line', this.file, this.line, `line ${this.line}: ${why}: ${t.slice(from, Math.min(to, from + 120))}`);
  }

  private handle(t: string, from: number, to: number): void {
    if (!this.cols) {
      const names = t.slice(from, to).split(',').map((c) => c.trim());
      const missing = REQUIRED.filter((c) => !names.includes(c));
      if (missing.length)
        throw new InputError(this.file, 1, `line 1: CSV header lacks ${missing.join(', ')}; expected an nfdump -o csv header such as ts,te,td,sa,da,sp,dp,pr,flg,…,ipkt,ibyt,opkt,obyt,…`);
      const at = (n: string): number => names.indexOf(n);
      const idx = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr', 'flg', 'ipkt', 'ibyt', 'opkt', 'obyt'].map(at);
      this.cols = { count: names.length, needed: Math.max(...idx) + 1, ts: at('ts'), te: at('te'), sa: at('sa'), da: at('da'), sp: at('sp'), dp: at('dp'), pr: at('pr'), flg: at('flg'), ipkt: at('ipkt'), ibyt: at('ibyt'), opkt: at('opkt'), obyt: at('obyt') };
      return;
    }
    if (t.startsWith('Summary', from)) {
      this.done = true;
      return;
    }
    const c = this.cols;
    const st = this.starts;
    const en = this.ends;
    let n = 0;
    let q = from;
    // Only the fields up to the last column read are located (nfdump has ~48, we need ~15).
    const want = c.needed;
    while (n < want) {
      st[n] = q;
      let k = t.indexOf(',', q);
      if (k < 0 || k > to) k = to;
      en[n] = k;
      n++;
      if (k >= to) break;
      q = k + 1;
    }
    if (n < want) return this.bad(`${n} fields, the header has ${c.count}`, t, from, to);
    const firstMs = timeAt(t, st[c.ts]!, en[c.ts]!, 0);
    const lastMs = timeAt(t, st[c.te]!, en[c.te]!, 1);
    if (!Number.isFinite(firstMs) || !Number.isFinite(lastMs)) return this.bad('expected times like 2017-01-17 11:32:31 in ts and te', t, from, to);
    const sp = intAt(t, st[c.sp]!, en[c.sp]!);
    const dp = intAt(t, st[c.dp]!, en[c.dp]!);
    if (!(sp >= 0 && sp <= 65535 && dp >= 0 && dp <= 65535)) return this.bad('expected ports 0-65535 in sp and dp', t, from, to);
    let protocol = intAt(t, st[c.pr]!, en[c.pr]!);
    if (protocol < 0) {
      const name = t.slice(st[c.pr]!, en[c.pr]!).trim().toUpperCase();
      protocol = PROTOCOLS[name] ?? -1;
    }
    if (!(protocol >= 0 && protocol <= 255)) return this.bad(`unknown protocol ${JSON.stringify(t.slice(st[c.pr]!, en[c.pr]!))}`, t, from, to);
    const packets = c.ipkt >= 0 ? countAt(t, st[c.ipkt]!, en[c.ipkt]!) : 0;
    const bytes = c.ibyt >= 0 ? countAt(t, st[c.ibyt]!, en[c.ibyt]!) : 0;
    const rp = c.opkt >= 0 ? countAt(t, st[c.opkt]!, en[c.opkt]!) : 0;
    const rb = c.obyt >= 0 ? countAt(t, st[c.obyt]!, en[c.obyt]!) : 0;
    if (!(packets >= 0 && bytes >= 0 && rp >= 0 && rb >= 0)) return this.bad('expected counters in ipkt, ibyt, opkt, obyt', t, from, to);
    const flags = c.flg >= 0 ? flagsAt(t, st[c.flg]!, en[c.flg]!) : 0;
    const s4 = ipv4At(t, st[c.sa]!, en[c.sa]!);
    const d4 = ipv4At(t, st[c.da]!, en[c.da]!);
    if (s4 >= 0 && d4 >= 0 && this.sink.recordNumeric) {
      const r = this.numeric;
      r.src4 = s4;
      r.dst4 = d4;
      r.srcPort = sp;
      r.dstPort = dp;
      r.protocol = protocol;
      r.tcpFlags = flags;
      r.packets = packets;
      r.bytes = bytes;
      r.reversePackets = rp;
      r.reverseBytes = rb;
      r.firstMs = firstMs;
      r.lastMs = lastMs;
      r.sampling = 1;
      this.records++;
      this.sink.recordNumeric(r);
      return;
    }
    const sa = t.slice(st[c.sa]!, en[c.sa]!).trim();
    const da = t.slice(st[c.da]!, en[c.da]!).trim();
    const v6 = sa.includes(':');
    if (!sa || !da || v6 !== da.includes(':') || (!v6 && (s4 < 0 || d4 < 0))) return this.bad('expected two addresses of one family in sa and da', t, from, to);
    this.records++;
    this.sink.record({ ipVersion: v6 ? 6 : 4, srcAddr: sa, dstAddr: da, srcPort: sp, dstPort: dp, protocol, tcpFlags: flags, packets, bytes, reversePackets: rp, reverseBytes: rb, firstMs, lastMs, sampling: 1 });
  }
}

function skipSpaces(t: string, a: number, b: number): number {
  while (a < b && t.charCodeAt(a) === 32) a++;
  return a;
}

/** A non-negative integer in t[a, b) (spaces allowed around it), or -1. */
function intAt(t: string, a: number, b: number): number {
  a = skipSpaces(t, a, b);
  while (b > a && t.charCodeAt(b - 1) === 32) b--;
  if (a >= b || b - a > 15) return -1;
  let n = 0;
  for (let i = a; i < b; i++) {
    const d = t.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** A counter: an integer, or nfdump's scaled form ("1.2 M"). */
function countAt(t: string, a: number, b: number): number {
  const n = intAt(t, a, b);
  if (n >= 0) return n;
  const v = parseCount(t.slice(a, b));
  return Number.isFinite(v) ? v : -1;
}

/** Dotted-quad IPv4 in t[a, b) as an unsigned 32-bit number, or -1. */
function ipv4At(t: string, a: number, b: number): number {
  a = skipSpaces(t, a, b);
  while (b > a && t.charCodeAt(b - 1) === 32) b--;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = a; i < b; i++) {
    const ch = t.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57) {
      part = part * 10 + (ch - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

const FLAG_CODES = new Int32Array(128);
for (const [ch, bit] of Object.entries(FLAG_BITS)) FLAG_CODES[ch.charCodeAt(0)] = bit;

function flagsAt(t: string, a: number, b: number): number {
  let f = 0;
  for (let i = a; i < b; i++) {
    const c = t.charCodeAt(i);
    if (c < 128) f |= FLAG_CODES[c]!;
  }
  return f;
}

function digits(t: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = t.charCodeAt(i + k) - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}

/** "YYYY-MM-DD HH:MM:SS" with optional ".fff…" in t[a, b), as UTC ms; NaN when malformed. */
function timeAt(t: string, a: number, b: number, column: 0 | 1): number {
  a = skipSpaces(t, a, b);
  // Rows arrive in time order: the same second repeats, so each column's last stamp is remembered.
  if (b - a === 19 && t.startsWith(cachedStamp[column]!, a)) return cachedStampMs[column]!;
  const v = parseStamp(t, a, b);
  if (b - a === 19 && v === v) {
    cachedStamp[column] = t.slice(a, b);
    cachedStampMs[column] = v;
  }
  return v;
}

const cachedStamp = ['-', '-'];
const cachedStampMs = [0, 0];

function parseStamp(t: string, a: number, b: number): number {
  if (b - a < 19 || t.charCodeAt(a + 4) !== 45 || t.charCodeAt(a + 7) !== 45 || t.charCodeAt(a + 13) !== 58 || t.charCodeAt(a + 16) !== 58) return NaN;
  const sep = t.charCodeAt(a + 10);
  if (sep !== 32 && sep !== 84) return NaN;
  let ms = 0;
  if (b - a > 19) {
    if (t.charCodeAt(a + 19) !== 46) return NaN;
    let scale = 100;
    for (let i = a + 20; i < b && i < a + 23; i++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return NaN;
      ms += d * scale;
      scale /= 10;
    }
  }
  const y = digits(t, a, 4);
  const mo = digits(t, a + 5, 2);
  const d = digits(t, a + 8, 2);
  const h = digits(t, a + 11, 2);
  const mi = digits(t, a + 14, 2);
  const se = digits(t, a + 17, 2);
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60)) return NaN;
  // Rows arrive in time order: the day's start is computed once per day, not per field.
  const dayKey = y * 10000 + mo * 100 + d;
  if (dayKey !== cachedDayKey) {
    cachedDayKey = dayKey;
    cachedDayMs = Date.UTC(y, mo - 1, d);
  }
  return cachedDayMs + ((h * 60 + mi) * 60 + se) * 1000 + ms;
}

let cachedDayKey = -1;
let cachedDayMs = 0;
