/**
 * nfdump CSV (`nfdump -o csv`, and `-o fmt:` exports using the same column names). Columns are
 * mapped by header name, so other nfdump versions and reordered columns work; the trailing
 * `Summary` block is not data. Bad lines are counted with their line number and skipped.
 * Times are read as UTC (nfdump prints the local time of the machine that ran it: run it with TZ=UTC).
 */
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { ExportFlowInput } from '../flow/exports.js';
import type { NumericExportRecord } from '../flow/table.js';
import { newNumericRecord } from '../decode/templates.js';
import type { ByteWindow } from './joiner.js';

/** Receives every export record an input yields. */
export interface RecordSink {
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

/** What a column holds (the columns the parser reads). */
const R_NONE = 0;
const R_TS = 1;
const R_TE = 2;
const R_SA = 3;
const R_DA = 4;
const R_SP = 5;
const R_DP = 6;
const R_PR = 7;
const R_FLG = 8;
const R_IPKT = 9;
const R_IBYT = 10;
const R_OPKT = 11;
const R_OBYT = 12;
const R_COUNT = 13;
const COMMA = 0x2c;
const DOT = 0x2e;

/** Bytes of a time stamp without fraction: `YYYY-MM-DD HH:MM:SS`. */
const STAMP = 19;
const SUMMARY = [0x53, 0x75, 0x6d, 0x6d, 0x61, 0x72, 0x79]; // "Summary"

/** Bytes `b[a, e)` as text, one character per byte (nfdump writes ASCII). */
function latin1(b: Uint8Array, a: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + a, e - a).toString('latin1');
}

/**
 * Parses lines in place on the bytes of the window: lines are found with the native newline search,
 * numbers, times and IPv4 addresses are read from the bytes, so a row costs no string and no object
 * (IPv6 addresses and odd values — scaled counters, protocol names other than TCP and UDP — take the
 * slow path through text, with the same results). Bytes are read as Latin-1 characters, as the text
 * decoder before did. Measured with `npm run bench` (flow-export case).
 */
export class NfdumpCsvParser {
  readonly format = 'nfdump-csv' as const;
  /** Data lines turned into records. */
  records = 0;
  private cols: Columns | null = null;
  private line = 0;
  private done = false;
  /** Start and end offsets of the fields of the current line (reused). */
  private starts = new Int32Array(256);
  private ends = new Int32Array(256);
  private readonly numeric: NumericExportRecord = newNumericRecord();
  /** Per column up to the last one read: the value it holds (R_*), R_NONE for the others. */
  private roles = new Uint8Array(0);
  /** The values of the current line by role. */
  private readonly values = new Float64Array(R_COUNT);
  /**
   * Rows arrive in time order: the same second repeats, so each time column's last stamp (19 bytes)
   * and its value are remembered, and the start of the day is computed once per day.
   */
  private readonly stampWords = new Int32Array(2 * 5);
  private readonly stampMs = new Float64Array(2);
  private readonly stampValid = new Uint8Array(2);
  private dayKey = -1;
  private dayMs = 0;
  /** Big-endian view of the window's valid bytes (set per parse call). */
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

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
    const end = win.end;
    // A Node view of the valid bytes, for its native (memchr) newline search: one per call.
    const nb = Buffer.from(b.buffer, b.byteOffset, end);
    this.dv = new DataView(b.buffer, b.byteOffset, end);
    let p = win.start;
    while (!this.done && p < end) {
      let nl = nb.indexOf(0x0a, p);
      if (nl < 0) {
        // No newline in the window: a partial line waits for more bytes, unless it is too long or the input ends.
        win.start = p;
        if (end - p > MAX_LINE) {
          this.anomalies.add('csv.bad_line', this.file, this.line + 1, `line longer than ${MAX_LINE} bytes skipped`);
          win.start = end;
          return;
        }
        if (!final) return;
        nl = end;
      }
      let le = nl;
      if (le > p && b[le - 1] === 13) le--;
      this.line++;
      win.start = nl < end ? nl + 1 : end;
      if (skipSpaces(b, p, le) < le) this.handle(b, p, le);
      p = win.start;
    }
    // After the summary: ignore the rest.
    if (this.done) win.start = win.end;
  }

  private bad(why: string, b: Uint8Array, from: number, to: number): void {
    this.anomalies.add('csv.bad_line', this.file, this.line, `line ${this.line}: ${why}: ${latin1(b, from, Math.min(to, from + 120))}`);
  }

  private header(b: Uint8Array, from: number, to: number): Columns {
    const names = latin1(b, from, to)
      .split(',')
      .map((c) => c.trim());
    const missing = REQUIRED.filter((c) => !names.includes(c));
    if (missing.length)
      throw new InputError(this.file, 1, `line 1: CSV header lacks ${missing.join(', ')}; expected an nfdump -o csv header such as ts,te,td,sa,da,sp,dp,pr,flg,…,ipkt,ibyt,opkt,obyt,…`);
    const at = (n: string): number => names.indexOf(n);
    const idx = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr', 'flg', 'ipkt', 'ibyt', 'opkt', 'obyt'].map(at);
    const needed = Math.max(...idx) + 1;
    if (needed > this.starts.length) {
      this.starts = new Int32Array(needed);
      this.ends = new Int32Array(needed);
    }
    // What each column up to the last one read holds (columns other than these are only skipped).
    this.roles = new Uint8Array(needed);
    const roleOf = [R_TS, R_TE, R_SA, R_DA, R_SP, R_DP, R_PR, R_FLG, R_IPKT, R_IBYT, R_OPKT, R_OBYT];
    for (let i = 0; i < idx.length; i++) if (idx[i]! >= 0) this.roles[idx[i]!] = roleOf[i]!;
    return { count: names.length, needed, ts: at('ts'), te: at('te'), sa: at('sa'), da: at('da'), sp: at('sp'), dp: at('dp'), pr: at('pr'), flg: at('flg'), ipkt: at('ipkt'), ibyt: at('ibyt'), opkt: at('opkt'), obyt: at('obyt') };
  }

  private handle(b: Uint8Array, from: number, to: number): void {
    if (!this.cols) {
      this.cols = this.header(b, from, to);
      return;
    }
    if (to - from >= SUMMARY.length && isSummary(b, from)) {
      this.done = true;
      return;
    }
    const c = this.cols;
    const st = this.starts;
    const en = this.ends;
    const roles = this.roles;
    const val = this.values;
    // One pass over the fields up to the last column read (nfdump has ~48, we need ~15): each field
    // read is parsed where it lies and ends at the byte that stops its parse, a comma or the end of
    // the line; anything else (spaces, fractions, scaled counters, names) takes the general reader
    // on the whole field, found by its comma. The values are checked afterwards, in column order.
    const want = c.needed;
    let n = 0;
    let q = from;
    while (n < want) {
      st[n] = q;
      let k = q;
      const role = roles[n]!;
      switch (role) {
        case R_NONE:
          while (k < to && b[k] !== COMMA) k++;
          break;
        case R_TS:
        case R_TE: {
          // Times are written to `val` by the readers (a returned double would be boxed).
          const column = role === R_TS ? 0 : 1;
          if (to - q >= STAMP && (to - q === STAMP || b[q + STAMP] === COMMA)) {
            this.stampAt(b, q, column, role);
            if (val[role] === val[role]) {
              k = q + STAMP;
              break;
            }
          }
          // Not a bare stamp: the general reader on the whole field.
          while (k < to && b[k] !== COMMA) k++;
          this.timeAt(b, q, k, column, role);
          break;
        }
        case R_SA:
        case R_DA: {
          let a = 0;
          let part = 0;
          let digits = 0;
          let dots = 0;
          let ok = true;
          for (; k < to; k++) {
            const ch = b[k]!;
            if (ch === DOT) {
              if (digits === 0 || ++dots > 3) ok = false;
              a = a * 256 + part;
              part = 0;
              digits = 0;
            } else if (ch >= 48 && ch <= 57) {
              part = part * 10 + (ch - 48);
              if (++digits > 3 || part > 255) ok = false;
            } else break;
          }
          if (k === to || b[k] === COMMA) val[role] = ok && dots === 3 && digits > 0 ? a * 256 + part : -1;
          else {
            while (k < to && b[k] !== COMMA) k++;
            val[role] = ipv4At(b, q, k);
          }
          break;
        }
        case R_FLG: {
          let f = 0;
          for (; k < to; k++) {
            const ch = b[k]!;
            if (ch === COMMA) break;
            if (ch < 128) f |= FLAG_CODES[ch]!;
          }
          val[role] = f;
          break;
        }
        default: {
          // Ports, protocol and counters: a plain integer in place.
          let v = 0;
          for (; k < to; k++) {
            const d = b[k]! - 48;
            if (d < 0 || d > 9) break;
            v = v * 10 + d;
          }
          if (k > q && k - q <= 15 && (k === to || b[k] === COMMA)) val[role] = v;
          else if (role === R_PR && k === q && to - q >= 3 && (to - q === 3 || b[q + 3] === COMMA) && (v = tcpOrUdp(b, q)) > 0) {
            k = q + 3;
            val[role] = v;
          } else {
            while (k < to && b[k] !== COMMA) k++;
            val[role] = role === R_SP || role === R_DP ? intAt(b, q, k) : role === R_PR ? protocolAt(b, q, k) : countAt(b, q, k);
          }
        }
      }
      en[n] = k;
      n++;
      if (k >= to) break;
      q = k + 1;
    }
    if (n < want) return this.bad(`${n} fields, the header has ${c.count}`, b, from, to);
    const firstMs = val[R_TS]!;
    const lastMs = val[R_TE]!;
    if (firstMs !== firstMs || lastMs !== lastMs) return this.bad('expected times like 2017-01-17 11:32:31 in ts and te', b, from, to);
    const sp = val[R_SP]!;
    const dp = val[R_DP]!;
    if (!(sp >= 0 && sp <= 65535 && dp >= 0 && dp <= 65535)) return this.bad('expected ports 0-65535 in sp and dp', b, from, to);
    const protocol = val[R_PR]!;
    if (!(protocol >= 0 && protocol <= 255)) return this.bad(`unknown protocol ${JSON.stringify(latin1(b, st[c.pr]!, en[c.pr]!))}`, b, from, to);
    const packets = c.ipkt >= 0 ? val[R_IPKT]! : 0;
    const bytes = c.ibyt >= 0 ? val[R_IBYT]! : 0;
    const rp = c.opkt >= 0 ? val[R_OPKT]! : 0;
    const rb = c.obyt >= 0 ? val[R_OBYT]! : 0;
    if (!(packets >= 0 && bytes >= 0 && rp >= 0 && rb >= 0)) return this.bad('expected counters in ipkt, ibyt, opkt, obyt', b, from, to);
    const flags = c.flg >= 0 ? val[R_FLG]! : 0;
    const s4 = val[R_SA]!;
    const d4 = val[R_DA]!;
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
    const sa = latin1(b, st[c.sa]!, en[c.sa]!).trim();
    const da = latin1(b, st[c.da]!, en[c.da]!).trim();
    const v6 = sa.includes(':');
    if (!sa || !da || v6 !== da.includes(':') || (!v6 && (s4 < 0 || d4 < 0))) return this.bad('expected two addresses of one family in sa and da', b, from, to);
    this.records++;
    this.sink.record({ ipVersion: v6 ? 6 : 4, srcAddr: sa, dstAddr: da, srcPort: sp, dstPort: dp, protocol, tcpFlags: flags, packets, bytes, reversePackets: rp, reverseBytes: rb, firstMs, lastMs, sampling: 1 });
  }

  /** A bare 19-byte stamp at b[a] into values[role]: the remembered one of this column, or parsed (NaN when malformed). */
  private stampAt(b: Uint8Array, a: number, column: 0 | 1, role: number): void {
    // The remembered stamp as five overlapping 4-byte words (offsets 0, 4, 8, 12, 15).
    const w = this.stampWords;
    const o = column * 5;
    const dv = this.dv;
    if (
      this.stampValid[column] === 1 &&
      dv.getInt32(a + 15) === w[o + 4] &&
      dv.getInt32(a + 12) === w[o + 3] &&
      dv.getInt32(a + 8) === w[o + 2] &&
      dv.getInt32(a + 4) === w[o + 1] &&
      dv.getInt32(a) === w[o]
    ) {
      this.values[role] = this.stampMs[column]!;
      return;
    }
    this.parseStamp(b, a, a + STAMP, role);
    const v = this.values[role]!;
    if (v === v) {
      w[o] = dv.getInt32(a);
      w[o + 1] = dv.getInt32(a + 4);
      w[o + 2] = dv.getInt32(a + 8);
      w[o + 3] = dv.getInt32(a + 12);
      w[o + 4] = dv.getInt32(a + 15);
      this.stampMs[column] = v;
      this.stampValid[column] = 1;
    }
  }

  /** "YYYY-MM-DD HH:MM:SS" with optional ".fff…" in b[a, e) (leading spaces allowed) into values[role] as UTC ms; NaN when malformed. */
  private timeAt(b: Uint8Array, a: number, e: number, column: 0 | 1, role: number): void {
    a = skipSpaces(b, a, e);
    if (e - a === STAMP) this.stampAt(b, a, column, role);
    else this.parseStamp(b, a, e, role);
  }

  /** The time at b[a, e) into values[role] (see {@link timeAt}). */
  private parseStamp(b: Uint8Array, a: number, e: number, role: number): void {
    const val = this.values;
    val[role] = NaN;
    if (e - a < STAMP || b[a + 4] !== 45 || b[a + 7] !== 45 || b[a + 13] !== 58 || b[a + 16] !== 58) return;
    const sep = b[a + 10];
    if (sep !== 32 && sep !== 84) return;
    let ms = 0;
    if (e - a > STAMP) {
      if (b[a + STAMP] !== 46) return;
      let scale = 100;
      for (let i = a + 20; i < e && i < a + 23; i++) {
        const d = b[i]! - 48;
        if (d < 0 || d > 9) return;
        ms += d * scale;
        scale /= 10;
      }
    }
    const y = digits(b, a, 4);
    const mo = digits(b, a + 5, 2);
    const d = digits(b, a + 8, 2);
    const h = digits(b, a + 11, 2);
    const mi = digits(b, a + 14, 2);
    const se = digits(b, a + 17, 2);
    if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60)) return;
    const dayKey = y * 10000 + mo * 100 + d;
    if (dayKey !== this.dayKey) {
      this.dayKey = dayKey;
      this.dayMs = Date.UTC(y, mo - 1, d);
    }
    val[role] = this.dayMs + ((h * 60 + mi) * 60 + se) * 1000 + ms;
  }
}

function isSummary(b: Uint8Array, p: number): boolean {
  for (let i = 0; i < SUMMARY.length; i++) if (b[p + i] !== SUMMARY[i]) return false;
  return true;
}

function skipSpaces(b: Uint8Array, a: number, e: number): number {
  while (a < e && b[a] === 32) a++;
  return a;
}

/** A non-negative integer in b[a, e) (spaces allowed around it), or -1. */
function intAt(b: Uint8Array, a: number, e: number): number {
  a = skipSpaces(b, a, e);
  while (e > a && b[e - 1] === 32) e--;
  if (a >= e || e - a > 15) return -1;
  let n = 0;
  for (let i = a; i < e; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** 6 for `TCP`, 17 for `UDP` at b[p, p + 3), else 0. */
function tcpOrUdp(b: Uint8Array, p: number): number {
  if (b[p + 1] !== 68 && b[p + 1] !== 67) return 0;
  if (b[p] === 84 && b[p + 1] === 67 && b[p + 2] === 80) return 6;
  if (b[p] === 85 && b[p + 1] === 68 && b[p + 2] === 80) return 17;
  return 0;
}

/** A protocol number or name (TCP and UDP read in place, other names through text); -1 when unknown. */
function protocolAt(b: Uint8Array, a: number, e: number): number {
  const n = intAt(b, a, e);
  if (n >= 0) return n;
  const s = skipSpaces(b, a, e);
  let t = e;
  while (t > s && b[t - 1] === 32) t--;
  if (t - s === 3) {
    const p = tcpOrUdp(b, s);
    if (p > 0) return p;
  }
  const name = latin1(b, a, e).trim().toUpperCase();
  return PROTOCOLS[name] ?? -1;
}

/** A counter: an integer, or nfdump's scaled form ("1.2 M"). */
function countAt(b: Uint8Array, a: number, e: number): number {
  const n = intAt(b, a, e);
  if (n >= 0) return n;
  const v = parseCount(latin1(b, a, e));
  return Number.isFinite(v) ? v : -1;
}

/** Dotted-quad IPv4 in b[a, e) as an unsigned 32-bit number, or -1. */
function ipv4At(b: Uint8Array, a: number, e: number): number {
  a = skipSpaces(b, a, e);
  while (e > a && b[e - 1] === 32) e--;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = a; i < e; i++) {
    const ch = b[i]!;
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


function digits(b: Uint8Array, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = b[i + k]! - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}
