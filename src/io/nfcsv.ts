/**
 * nfdump CSV (`nfdump -o csv`, and `-o fmt:` exports using the same column names). Columns are
 * mapped by header name, so other nfdump versions and reordered columns work; the trailing
 * `Summary` block is not data. Bad lines are counted with their line number and skipped.
 * Times are read as UTC (nfdump prints the local time of the machine that ran it: run it with TZ=UTC).
 * Lines are split and fields read by the shared CSV reader (src/io/csv.ts).
 */
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { ExportFlowInput } from '../flow/records.js';
import type { NumericExportRecord } from '../flow/table.js';
import { newNumericRecord } from '../decode/templates.js';
import {
  counterAt,
  CR_ALONE_PROBLEM,
  crInsideLine,
  CsvFieldSpans,
  csvFieldText,
  csvFieldAt,
  csvSplitProblem,
  ipv4At,
  ipv4Prefix,
  latin1,
  NFDUMP_STAMP_BYTES,
  NfdumpTimeReader,
  protocolAt,
  skipBom,
  skipSpaces,
  splitCsvFields,
  TCP_FLAG_CODES,
  tcpFlagsAt,
  tcpOrUdp,
  TEXT_LINE_MAX_BYTES,
  unsignedAt,
  unsignedPrefix,
} from './csv.js';
import type { ByteWindow } from './joiner.js';
import { LineCutter } from './lines.js';

/** Receives every export record an input yields. */
export interface RecordSink {
  /**
   * One record with text addresses. `false` when the sink finds an address is no address (an IPv6
   * text it cannot read): the record is no flow, and the reader reports it where it read it.
   */
  record(r: ExportFlowInput): boolean | void;
  /** IPv4 records with numeric addresses (optional fast path; the object is reused). */
  recordNumeric?(r: NumericExportRecord): void;
}

const REQUIRED = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr'] as const;
/** What a row's addresses must be, when they are not (or the flow table cannot read them). */
const ADDRESSES_EXPECTED = 'expected two addresses of one family in sa and da';
const MAX_LINE = TEXT_LINE_MAX_BYTES;
/** Bytes of a time stamp without fraction: `YYYY-MM-DD HH:MM:SS`. */
const STAMP = NFDUMP_STAMP_BYTES;
const SUMMARY = [0x53, 0x75, 0x6d, 0x6d, 0x61, 0x72, 0x79]; // "Summary"

/** The header's column names, if `b[from, to)` splits as CSV. */
function headerNames(b: Uint8Array, from: number, to: number): string[] | null {
  const spans = new CsvFieldSpans();
  const n = splitCsvFields(b, from, to, spans);
  if (n < 0 || !spans.complete) return null;
  return Array.from({ length: n }, (_, i) => csvFieldText(b, spans, i, 'latin1'));
}

/** Does the text start like an nfdump CSV header? */
export function looksLikeNfdumpCsv(head: Uint8Array): boolean {
  const from = skipBom(head, 0);
  const lim = Math.min(head.length, 512);
  let nl = head.indexOf(0x0a, from);
  if (nl < 0 || nl > lim) nl = lim;
  if (nl > from && head[nl - 1] === 0x0d) nl--;
  const cols = new Set(headerNames(head, from, Math.max(from, nl)) ?? []);
  return REQUIRED.every((c) => cols.has(c));
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

/** What a column holds (the columns the parser reads): its slot in the values of a line. */
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
const QUOTE = 0x22;

/**
 * Parses lines in place on the bytes of the window: lines are found with the native newline search,
 * split by the shared CSV splitter into spans, and numbers, times and IPv4 addresses are read from
 * the bytes, so a row costs no string and no object (IPv6 addresses and odd values — scaled
 * counters, protocol names other than TCP and UDP — take the slow path through text, with the same
 * results). Bytes are read as Latin-1 characters. Measured with `npm run bench` (exports case).
 */
export class NfdumpCsvParser {
  readonly format = 'nfdump-csv' as const;
  /** Data lines turned into records. */
  records = 0;
  private cols: Columns | null = null;
  private readonly cut = new LineCutter(MAX_LINE);
  private done = false;
  /** Where the fields of the current line lie (reused). */
  private spans = new CsvFieldSpans(16);
  private readonly numeric: NumericExportRecord = newNumericRecord();
  private readonly times = new NfdumpTimeReader();
  /** Per column up to the last one read: the value it holds (R_*), R_NONE for the others. */
  private roles = new Uint8Array(0);
  /** The values of the current line by role. */
  private readonly values = new Float64Array(R_COUNT);

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
    this.base = win.base;
    this.times.use(b, win.end);
    const overlong = (from: number, to: number): void => this.overlong(win, from, to);
    for (;;) {
      // After the summary: ignore the rest.
      if (this.done) {
        win.start = win.end;
        return;
      }
      const nl = this.cut.next(win, final, overlong);
      if (nl < 0) return;
      let p = this.cut.from;
      let le = nl;
      if (le > p && b[le - 1] === 13) le--;
      // A byte order mark may open the file.
      if (this.cut.line === 1) p = skipBom(b, p);
      // Where the header starts in the input, for its errors.
      if (this.cols === null) this.headerAt = win.offsetOf(p);
      if (skipSpaces(b, p, le) < le) this.handle(b, p, le);
    }
  }

  /** A line of more than {@link MAX_LINE} bytes, at `from` (its bytes in the window up to `to`): counted, and skipped to its end. */
  private overlong(win: ByteWindow, from: number, to: number): void {
    // No header yet: a file whose lines end in CR alone, over 64 KiB, is one long line.
    if (!this.cols && crInsideLine(win.buf, from, to)) this.refuseCrAlone(win.offsetOf(from));
    const line = this.cut.line;
    this.anomalies.add('csv.bad_line', this.file, win.offsetOf(line === 1 ? skipBom(win.buf, from) : from), `line ${line}: longer than ${MAX_LINE} bytes (expected at most ${MAX_LINE} bytes a line); skipped up to its line end`);
  }

  /** Input offset of the window's first byte, for the window being parsed. */
  private base = 0;

  /** A bad line `b[from, to)`: counted at the byte where it starts in the input, its line number in the message. */
  private bad(why: string, b: Uint8Array, from: number, to: number): void {
    this.anomalies.add('csv.bad_line', this.file, this.base + from, `line ${this.cut.line}: ${why}: ${latin1(b, from, Math.min(to, from + 120))}`);
  }

  /** Byte offset in the input of the line read while no header is known (the header, when it is read). */
  private headerAt = 0;

  /** A header with a CR inside: the file's lines end in CR alone (see {@link CR_ALONE_PROBLEM}). */
  private refuseCrAlone(at = this.headerAt): never {
    throw new InputError(this.file, at, `line ${this.cut.line}: ${CR_ALONE_PROBLEM}`);
  }

  private header(b: Uint8Array, from: number, to: number): Columns {
    if (crInsideLine(b, from, to)) this.refuseCrAlone();
    const names = headerNames(b, from, to) ?? [];
    const missing = REQUIRED.filter((c) => !names.includes(c));
    if (missing.length)
      throw new InputError(this.file, this.headerAt, `line ${this.cut.line}: CSV header lacks ${missing.join(', ')}; expected an nfdump -o csv header such as ts,te,td,sa,da,sp,dp,pr,flg,…,ipkt,ibyt,opkt,obyt,…`);
    const at = (n: string): number => names.indexOf(n);
    const idx = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr', 'flg', 'ipkt', 'ibyt', 'opkt', 'obyt'].map(at);
    const needed = Math.max(...idx) + 1;
    if (needed > this.spans.capacity) this.spans = new CsvFieldSpans(needed);
    // What each column up to the last one read holds (columns other than these are only located).
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
    const spans = this.spans;
    const st = spans.starts;
    const en = spans.ends;
    const qu = spans.quoted;
    const roles = this.roles;
    const val = this.values;
    // One pass over the fields up to the last column read (nfdump has ~48, we need ~15): a field
    // read is parsed where it lies, and a parse that a comma or the line's end stops has also found
    // where the field ends. Any other field (skipped columns, spaces, quotes, fractions, scaled
    // counters, names) is located by the CSV splitter and read from its span. The values are
    // checked afterwards, in column order.
    const want = c.needed;
    let n = 0;
    let q = from;
    while (n < want) {
      const role = roles[n]!;
      let k = q;
      let located = false;
      switch (role) {
        case R_NONE:
          // Bytes above the comma (digits, letters, '.', ':') cannot end a field or open a quote.
          while (k < to && b[k]! > COMMA) k++;
          located = k === to || b[k] === COMMA;
          break;
        case R_TS:
        case R_TE:
          if (to - q >= STAMP && (to - q === STAMP || b[q + STAMP] === COMMA)) {
            this.times.readStamp(b, q, role === R_TS ? 0 : 1, val, role);
            if (val[role] === val[role]) {
              k = q + STAMP;
              located = true;
            }
          }
          break;
        case R_SA:
        case R_DA:
          k = ipv4Prefix(b, q, to, val, role);
          located = k === to || b[k] === COMMA;
          break;
        case R_FLG: {
          let f = 0;
          for (; k < to; k++) {
            const ch = b[k]!;
            if (ch === COMMA || ch === QUOTE) break;
            if (ch < 128) f |= TCP_FLAG_CODES[ch]!;
          }
          val[role] = f;
          located = k === to || b[k] === COMMA;
          break;
        }
        default:
          // Ports, protocol and counters: a plain integer in place, or TCP/UDP.
          k = unsignedPrefix(b, q, to, val, role);
          if (val[role]! >= 0) located = k === to || b[k] === COMMA;
          else if (role === R_PR && to - q >= 3 && (to - q === 3 || b[q + 3] === COMMA) && (val[role] = tcpOrUdp(b, q)) > 0) {
            k = q + 3;
            located = true;
          }
      }
      if (located) {
        st[n] = q;
        en[n] = k;
        qu[n] = 0;
      } else {
        k = csvFieldAt(b, q, to, spans, n);
        if (k < 0) return this.bad(csvSplitProblem(k), b, from, to);
        if (role !== R_NONE) this.readSpan(b, st[n]!, en[n]!, role);
      }
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
    const sa = csvFieldText(b, spans, c.sa, 'latin1');
    const da = csvFieldText(b, spans, c.da, 'latin1');
    const v6 = sa.includes(':');
    if (!sa || !da || v6 !== da.includes(':') || (!v6 && (s4 < 0 || d4 < 0))) return this.bad(ADDRESSES_EXPECTED, b, from, to);
    this.records++;
    if (this.sink.record({ ipVersion: v6 ? 6 : 4, srcAddr: sa, dstAddr: da, srcPort: sp, dstPort: dp, protocol, tcpFlags: flags, packets, bytes, reversePackets: rp, reverseBytes: rb, firstMs, lastMs, sampling: 1 }) === false)
      this.bad(ADDRESSES_EXPECTED, b, from, to);
  }

  /** The value of the field at `b[a, e)` into its role's slot, by the general readers. */
  private readSpan(b: Uint8Array, a: number, e: number, role: number): void {
    const val = this.values;
    switch (role) {
      case R_TS:
      case R_TE:
        this.times.read(b, a, e, role === R_TS ? 0 : 1, val, role);
        break;
      case R_SA:
      case R_DA:
        val[role] = ipv4At(b, a, e);
        break;
      case R_FLG:
        val[role] = tcpFlagsAt(b, a, e);
        break;
      case R_SP:
      case R_DP:
        val[role] = unsignedAt(b, a, e);
        break;
      case R_PR:
        val[role] = protocolAt(b, a, e);
        break;
      default:
        val[role] = counterAt(b, a, e);
    }
  }
}

function isSummary(b: Uint8Array, p: number): boolean {
  for (let i = 0; i < SUMMARY.length; i++) if (b[p + i] !== SUMMARY[i]) return false;
  return true;
}
