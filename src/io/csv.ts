/**
 * One CSV splitter and the typed field readers shared by every text input: nfdump CSV, JSON-lines
 * flows, and the operator's NAT log, power readings and subscriber directory.
 *
 * CSV is read as RFC 4180 §2 describes it, one record per line: fields separated by commas, a field
 * in double quotes may hold commas and quotes written twice (`""` for `"`), lines end in CRLF or LF,
 * and a UTF-8 byte order mark may open the file. Two liberties, because operators' exports do this:
 * blanks (space, tab) around a quoted field are dropped, and an unquoted field is trimmed. A quoted
 * field may not span lines: every record is one line, so an error's line number is the line to look
 * at and a line's length bounds a record's.
 *
 * Readers of text return the value or what was expected; callers add file, line and column. The
 * readers of bytes (`…At`) are the hot path of nfdump CSV: they return -1 (or write NaN) instead.
 * @see https://www.rfc-editor.org/rfc/rfc4180#section-2
 */
import { MAX_DATE_MS } from '../time.js';
import ipaddr from '../ipaddr.js';
import { ADDRESS_FORMS, parseAddressBytes } from '../ip.js';

/** The longest line any text input reads; a longer one is refused before it is split. */
export const TEXT_LINE_MAX_BYTES = 64 * 1024;
/** The most fields a CSV line may have (a header of the operator's files has a handful, nfdump's ~48). */
export const CSV_MAX_FIELDS = 1024;

const COMMA = 0x2c;
const QUOTE = 0x22;
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/** Offset after a UTF-8 byte order mark at `p`, else `p`. */
export function skipBom(b: Uint8Array, p: number): number {
  return b[p] === 0xef && b[p + 1] === 0xbb && b[p + 2] === 0xbf ? p + 3 : p;
}

/** Where the fields of one line lie in its bytes: reused from line to line, sized once. */
export class CsvFieldSpans {
  /** Offset of each field's first byte (inside the quotes when quoted). */
  readonly starts: Int32Array;
  /** Offset after each field's last byte (the closing quote for a quoted field). */
  readonly ends: Int32Array;
  /** 0 unquoted (span not trimmed), 1 quoted, 2 quoted and holding doubled quotes. */
  readonly quoted: Uint8Array;
  /** Fields located by the last split. */
  count = 0;
  /** Did the last split reach the end of the line (false: it stopped at its field limit)? */
  complete = false;

  constructor(readonly capacity: number = CSV_MAX_FIELDS) {
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.quoted = new Uint8Array(capacity);
  }
}

/** {@link splitCsvFields} results below 0: why the line is not CSV. */
export const CSV_UNTERMINATED_QUOTE = -1;
export const CSV_TEXT_AFTER_QUOTE = -2;
export const CSV_STRAY_QUOTE = -3;

/** What a negative {@link splitCsvFields} result means, for an error message. */
export function csvSplitProblem(code: number): string {
  switch (code) {
    case CSV_UNTERMINATED_QUOTE:
      return 'a quoted field not closed on its line (expected a closing " before the end of the line)';
    case CSV_TEXT_AFTER_QUOTE:
      return 'text after a closing quote (expected a comma or the end of the line after "…")';
    case CSV_STRAY_QUOTE:
      return 'a quote inside an unquoted field (expected the whole field in quotes, a quote written as "")';
    default:
      return 'not a CSV line';
  }
}

/**
 * Why a line with a CR inside is refused. A text whose lines end in CR alone (as classic Mac OS ended
 * them) has no LF: read by LF it is one line, and a header split from it still names every column,
 * its last name running into the first record, so the file would be read as a header and no rows.
 */
export const CR_ALONE_PROBLEM = 'lines end in CR alone (a CR inside the line, as classic Mac OS ended lines); expected LF or CRLF line ends';

/**
 * Does the line `b[from, to)` hold a CR with more than blanks after it? A CR that only blanks follow
 * is taken as its line end (CRLF, and CR CR LF from converting CRLF text a second time).
 */
export function crInsideLine(b: Uint8Array, from: number, to: number): boolean {
  while (to > from && isBlank(b[to - 1]!)) to--;
  for (let i = from; i < to; i++) if (b[i] === CR) return true;
  return false;
}

/**
 * Locate the field that starts at `b[q]` in the line `b[q, to)` (no line end in it) as field `n` of
 * `spans`: returns the offset of the comma that ends it, `to` when it is the last, or a negative
 * `CSV_*` code when it breaks the quoting rules.
 */
export function csvFieldAt(b: Uint8Array, q: number, to: number, spans: CsvFieldSpans, n: number): number {
  let k = q;
  let c = 0;
  // Field bytes are mostly above the comma (digits, letters, '-', '.', ':'): one compare for them.
  for (;;) {
    while (k < to && b[k]! > COMMA) k++;
    if (k >= to || (c = b[k]!) === COMMA || c === QUOTE) break;
    k++;
  }
  if (k >= to || c === COMMA) {
    spans.starts[n] = q;
    spans.ends[n] = k;
    spans.quoted[n] = 0;
    return k;
  }
  // Only blanks may come before an opening quote.
  for (let i = q; i < k; i++) if (b[i] !== SPACE && b[i] !== TAB) return CSV_STRAY_QUOTE;
  const open = k + 1;
  let doubled = 0;
  k = open;
  for (;;) {
    while (k < to && b[k] !== QUOTE) k++;
    if (k >= to) return CSV_UNTERMINATED_QUOTE;
    if (k + 1 < to && b[k + 1] === QUOTE) {
      doubled = 1;
      k += 2;
      continue;
    }
    break;
  }
  spans.starts[n] = open;
  spans.ends[n] = k;
  spans.quoted[n] = 1 + doubled;
  k++;
  while (k < to && (b[k] === SPACE || b[k] === TAB)) k++;
  return k < to && b[k] !== COMMA ? CSV_TEXT_AFTER_QUOTE : k;
}

/**
 * Locate the fields of the line `b[from, to)` (no line end in it) into `spans`, at most `limit` of
 * them (the rest of the line is neither read nor checked): nothing is allocated. Returns how many
 * were located, or a negative `CSV_*` code when the line breaks the quoting rules.
 */
export function splitCsvFields(b: Uint8Array, from: number, to: number, spans: CsvFieldSpans, limit: number = spans.capacity): number {
  if (limit > spans.capacity) limit = spans.capacity;
  spans.complete = false;
  let n = 0;
  let q = from;
  while (n < limit) {
    const k = csvFieldAt(b, q, to, spans, n);
    if (k < 0) {
      spans.count = n;
      return k;
    }
    n++;
    if (k >= to) {
      spans.complete = true;
      break;
    }
    q = k + 1;
  }
  spans.count = n;
  return n;
}

/**
 * Field `i` of the last split of `b` as text: an unquoted field trimmed, a quoted one as written
 * between its quotes with `""` read as `"`. nfdump writes ASCII (read as `latin1`); the operator's
 * files are UTF-8.
 */
export function csvFieldText(b: Uint8Array, spans: CsvFieldSpans, i: number, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  const a = spans.starts[i]!;
  const s = Buffer.from(b.buffer, b.byteOffset + a, spans.ends[i]! - a).toString(encoding);
  const q = spans.quoted[i];
  return q === 0 ? s.trim() : q === 2 ? s.replaceAll('""', '"') : s;
}

/** One line of a CSV text: its fields, or why it could not be split. */
export type CsvLine = { line: number; fields: string[]; error: null } | { line: number; fields: null; error: string };

export interface CsvTextOptions {
  /** Lines whose first non-blank character is `#` are comments (the operator's files allow them). */
  comments?: boolean;
  maxFields?: number;
  maxLineBytes?: number;
}

/**
 * The non-blank lines of a whole CSV text (a BOM at its start dropped, LF or CRLF line ends), each
 * split into fields, numbered from 1 as an editor shows them. A line with a CR inside
 * ({@link CR_ALONE_PROBLEM}), longer than `maxLineBytes` (UTF-8) or with more than `maxFields` fields
 * is an error line, refused before it is split.
 */
export function* csvLines(text: string, options: CsvTextOptions = {}): Generator<CsvLine> {
  const maxFields = options.maxFields ?? CSV_MAX_FIELDS;
  const maxLine = options.maxLineBytes ?? TEXT_LINE_MAX_BYTES;
  const b = Buffer.from(text, 'utf8');
  const spans = new CsvFieldSpans(maxFields + 1);
  let p = skipBom(b, 0);
  let line = 0;
  while (p < b.length) {
    let nl = b.indexOf(LF, p);
    if (nl < 0) nl = b.length;
    let e = nl;
    if (e > p && b[e - 1] === CR) e--;
    line++;
    const from = p;
    p = nl + 1;
    let a = from;
    while (a < e && isBlank(b[a]!)) a++;
    if (a === e) continue;
    // Before comments: a text whose lines end in CR alone and that opens with a comment would
    // otherwise be one comment line, and the file read as empty.
    if (crInsideLine(b, from, e)) {
      yield { line, fields: null, error: CR_ALONE_PROBLEM };
      continue;
    }
    if (options.comments && b[a] === 0x23) continue;
    if (e - from > maxLine) {
      yield { line, fields: null, error: `line longer than ${maxLine} bytes` };
      continue;
    }
    const n = splitCsvFields(b, from, e, spans, maxFields + 1);
    if (n < 0) yield { line, fields: null, error: csvSplitProblem(n) };
    else if (n > maxFields) yield { line, fields: null, error: `more than ${maxFields} fields` };
    else {
      const fields: string[] = new Array<string>(n);
      for (let i = 0; i < n; i++) fields[i] = csvFieldText(b, spans, i);
      yield { line, fields, error: null };
    }
  }
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === CR || c === 0x0b || c === 0x0c;
}

/** What a text field reader returns: the value, or what the field should have held. */
export type FieldRead<T> = { ok: true; value: T } | { ok: false; expected: string };

function ok<T>(value: T): FieldRead<T> {
  return { ok: true, value };
}

function expected<T>(what: string): FieldRead<T> {
  return { ok: false, expected: what };
}

/** The largest counter a flow record can carry (NetFlow/IPFIX counters are 64-bit unsigned). */
export const MAX_COUNTER = 2 ** 64;

/**
 * A whole number from 0 to `max`: decimal digits as text (no sign, no exponent, no hex: `0x10` or
 * `1e3` in a port column is a shifted or damaged field), or a number already decoded (JSON).
 */
export function readUnsigned(v: string | number, max: number, what = `a whole number from 0 to ${max}`): FieldRead<number> {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= max ? ok(v) : expected(what);
  if (v.length === 0 || v.length > 20) return expected(what);
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return expected(what);
    n = n * 10 + d;
  }
  return n <= max ? ok(n) : expected(what);
}

/** A TCP/UDP port, 0-65535. */
export function readPort(v: string | number): FieldRead<number> {
  return readUnsigned(v, 65535, 'a port from 0 to 65535');
}

/** A packet or byte counter, 0 to 2^64. */
export function readCounter(v: string | number): FieldRead<number> {
  return readUnsigned(v, MAX_COUNTER, 'a count from 0 to 2^64');
}

/** Protocol names as nfdump, GoFlow2 and pmacct write them (IANA protocol numbers). */
const PROTOCOL_NUMBERS: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMP6: 58, ICMPV6: 58, IPV6_ICMP: 58, 'IPV6-ICMP': 58, IPV6: 41, GRE: 47, ESP: 50, AH: 51, SCTP: 132 };

/** An IP protocol: its number 0-255, or a name such as TCP, udp, ICMP6 (any case). */
export function readProtocol(v: string | number): FieldRead<number> {
  if (typeof v === 'string' && v.length <= 16) {
    const n = PROTOCOL_NUMBERS[v.trim().toUpperCase()];
    if (n !== undefined) return ok(n);
  }
  return readUnsigned(v, 255, 'a protocol number 0-255 or a name such as TCP, UDP, ICMP, GRE');
}

/** A non-negative decimal number such as `38.5` (no sign, no exponent). */
export function readDecimal(text: string): FieldRead<number> {
  const what = 'a non-negative number like 38.5';
  if (text.length > 40 || !/^\d+(\.\d+)?$/.test(text)) return expected(what);
  const n = Number(text);
  return Number.isFinite(n) ? ok(n) : expected(what);
}

/**
 * An address as the operator's files write it, read as src/ip.ts parseAddressBytes reads it: IPv4 as
 * four decimal parts without leading zeros, IPv6 without a zone index. ipaddr.js alone also reads
 * `1024` as 0.0.4.0, `0x10` and octal `010.1.1.1` (8.1.1.1): a shifted column or a zero-padded
 * export would be mapped to another address without a word.
 */
export function readAddress(text: string): FieldRead<ipaddr.IPv4 | ipaddr.IPv6> {
  const kind = text.length > 64 ? 0 : parseAddressBytes(text, ADDRESS_BYTES);
  if (kind === 0) return expected(ADDRESS_FORMS);
  // From the bytes src/ip.ts read: ipaddr.js's own parser takes a zone index, and reads a dotted IPv6 tail otherwise.
  return ok(kind === 4 ? new ipaddr.IPv4(Array.from(ADDRESS_BYTES.subarray(12))) : new ipaddr.IPv6(Array.from(ADDRESS_BYTES)));
}

const ADDRESS_BYTES = new Uint8Array(16);

/** An address or a CIDR (`100.64.1.0/24`, `2001:db8::/48`, `198.51.100.7`, a host prefix). */
export function readPrefix(text: string): FieldRead<[ipaddr.IPv4 | ipaddr.IPv6, number]> {
  const what = 'an IP address or CIDR like 100.64.1.0/24, 198.51.100.7 or 2001:db8::/48';
  const slash = text.indexOf('/');
  const addr = readAddress(slash < 0 ? text : text.slice(0, slash));
  if (!addr.ok) return expected(what);
  const max = addr.value.kind() === 'ipv4' ? 32 : 128;
  if (slash < 0) return ok([addr.value, max]);
  const bitsText = text.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  return bits <= max ? ok([addr.value, bits]) : expected(what);
}

/**
 * A CIDR with its length (`100.64.0.0/10`, `2001:db8::/32`): {@link readPrefix} for the places a
 * bare address is not a network (a list's `cidr:` entry, `--subscriber-net`, `--prefix`); null
 * when it is not one. The caller says what was expected, where.
 */
export function readCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | null {
  const read = text.includes('/') ? readPrefix(text) : null;
  return read?.ok ? read.value : null;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time as UTC ms: an ISO 8601 date (`2026-11-01`, midnight UTC) or date-time (`2026-11-01T08:00`,
 * `2026-11-01 08:00:00.5`, `2026-11-01T08:00:00+08:00`; UTC unless it carries an offset), a real
 * calendar date (Date.parse would roll 2026-02-30 over to March 2); with `epochSeconds`, also
 * seconds since 1970 as decimal text (`1793491200`, `1793491200.5`).
 */
export function readTime(text: string, options: { epochSeconds?: boolean } = {}): FieldRead<number> {
  const what = options.epochSeconds
    ? 'a date or date-time (2026-11-01, 2026-11-01T00:00:00+08:00), ISO 8601, UTC unless it carries an offset, or epoch seconds'
    : 'a date (2026-11-01) or date-time (2026-11-01T00:00:00+08:00), ISO 8601, UTC unless it carries an offset';
  if (text.length > 40) return expected(what);
  if (options.epochSeconds && /^\d+(\.\d+)?$/.test(text)) {
    const ms = Number(text) * 1000;
    return ms <= MAX_DATE_MS ? ok(ms) : expected(what);
  }
  const m = ISO_TIME.exec(text);
  if (!m) return expected(what);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4] ?? 0);
  const mi = Number(m[5] ?? 0);
  const s = Number(m[6] ?? 0);
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return expected(what);
  let offsetMin = 0;
  const z = m[8];
  if (z && z !== 'Z' && z !== 'z') {
    const oh = Number(z.slice(1, 3));
    const om = Number(z.slice(-2));
    if (oh > 23 || om > 59) return expected(what);
    offsetMin = (z[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const day = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  day.setUTCFullYear(y, mo - 1, d);
  return ok(day.getTime() + ((h * 60 + mi - offsetMin) * 60 + s) * 1000 + ms);
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/* Readers of bytes for the hot path of nfdump CSV: fields as spans, nothing allocated. */

/** Offset of the first byte of `b[a, e)` that is not a space. */
export function skipSpaces(b: Uint8Array, a: number, e: number): number {
  while (a < e && b[a] === SPACE) a++;
  return a;
}

function trimSpacesEnd(b: Uint8Array, a: number, e: number): number {
  while (e > a && b[e - 1] === SPACE) e--;
  return e;
}

/**
 * Read decimal digits from `b[a]` on (before `e`): returns the offset of the first other byte and
 * puts the number in `out[slot]`, -1 when there is no digit or more than 15 (a caller reading in
 * place checks that a comma or the line's end stops it).
 */
export function unsignedPrefix(b: Uint8Array, a: number, e: number, out: Float64Array, slot: number): number {
  let v = 0;
  let k = a;
  for (; k < e; k++) {
    const d = b[k]! - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  out[slot] = k > a && k - a <= 15 ? v : -1;
  return k;
}

/**
 * Read a dotted-quad IPv4 address from `b[a]` on (before `e`), parts of up to 3 decimal digits (the
 * byte form of `ipv4ToInt` in src/ip.ts): returns the offset of the first byte that is neither digit
 * nor dot and puts the address as an unsigned 32-bit number in `out[slot]`, -1 when malformed.
 */
export function ipv4Prefix(b: Uint8Array, a: number, e: number, out: Float64Array, slot: number): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let ok = true;
  let k = a;
  for (; k < e; k++) {
    const ch = b[k]!;
    if (ch === DOT) {
      if (digits === 0 || ++dots > 3) ok = false;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57) {
      part = part * 10 + (ch - 48);
      if (++digits > 3 || part > 255) ok = false;
    } else break;
  }
  out[slot] = ok && dots === 3 && digits > 0 ? n * 256 + part : -1;
  return k;
}

const scratch = new Float64Array(1);

/** A whole number of at most 15 digits in `b[a, e)` (spaces around it allowed), or -1. */
export function unsignedAt(b: Uint8Array, a: number, e: number): number {
  a = skipSpaces(b, a, e);
  e = trimSpacesEnd(b, a, e);
  return unsignedPrefix(b, a, e, scratch, 0) === e ? scratch[0]! : -1;
}

/** 6 for `TCP`, 17 for `UDP` at `b[p, p + 3)`, else 0. */
export function tcpOrUdp(b: Uint8Array, p: number): number {
  if (b[p] === 84 && b[p + 1] === 67 && b[p + 2] === 80) return 6;
  if (b[p] === 85 && b[p + 1] === 68 && b[p + 2] === 80) return 17;
  return 0;
}

/** A protocol number or name in `b[a, e)` (TCP and UDP read in place, other names as text), or -1. */
export function protocolAt(b: Uint8Array, a: number, e: number): number {
  const n = unsignedAt(b, a, e);
  if (n >= 0) return n <= 255 ? n : -1;
  const s = skipSpaces(b, a, e);
  const t = trimSpacesEnd(b, s, e);
  if (t - s === 3) {
    const p = tcpOrUdp(b, s);
    if (p > 0) return p;
  }
  if (t - s > 16) return -1;
  return PROTOCOL_NUMBERS[latin1(b, s, t).trim().toUpperCase()] ?? -1;
}

/** A counter in `b[a, e)`: a whole number, or nfdump's scaled form (`1.2 M`, `35 k`); -1 when neither. */
export function counterAt(b: Uint8Array, a: number, e: number): number {
  const n = unsignedAt(b, a, e);
  if (n >= 0) return n;
  const t = latin1(b, a, e).trim();
  if (t === '') return 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKMG]?)$/.exec(t);
  if (!m) return -1;
  const mult = m[2] === 'k' || m[2] === 'K' ? 1e3 : m[2] === 'M' ? 1e6 : m[2] === 'G' ? 1e9 : 1;
  const v = Math.round(Number(m[1]) * mult);
  return Number.isFinite(v) ? v : -1;
}

/** A dotted-quad IPv4 address in `b[a, e)` (spaces around it allowed) as an unsigned 32-bit number, or -1. */
export function ipv4At(b: Uint8Array, a: number, e: number): number {
  a = skipSpaces(b, a, e);
  e = trimSpacesEnd(b, a, e);
  return ipv4Prefix(b, a, e, scratch, 0) === e ? scratch[0]! : -1;
}

/** nfdump prints TCP flags as 8 characters C E U A P R S F, `.` for unset: the bit of each character. */
export const TCP_FLAG_CODES = new Int32Array(128);
for (const [ch, bit] of Object.entries({ C: 0x80, E: 0x40, U: 0x20, A: 0x10, P: 0x08, R: 0x04, S: 0x02, F: 0x01 })) TCP_FLAG_CODES[ch.charCodeAt(0)] = bit;

/** TCP flags in nfdump's notation (`...AP.SF`) in `b[a, e)`; other characters add nothing. */
export function tcpFlagsAt(b: Uint8Array, a: number, e: number): number {
  let f = 0;
  for (let i = a; i < e; i++) {
    const ch = b[i]!;
    if (ch < 128) f |= TCP_FLAG_CODES[ch]!;
  }
  return f;
}

/** Bytes `b[a, e)` as text, one character per byte. */
export function latin1(b: Uint8Array, a: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + a, e - a).toString('latin1');
}

/** Bytes of an nfdump time stamp without fraction: `YYYY-MM-DD HH:MM:SS`. */
export const NFDUMP_STAMP_BYTES = 19;

/**
 * nfdump's times (`2017-01-17 11:32:31`, optionally `T` for the space and `.fff` after, read as UTC;
 * leading spaces allowed) read from bytes. Rows arrive in time order: the same second repeats, so
 * each of up to two columns remembers its last bare stamp (19 bytes, compared as five 4-byte words)
 * and its value, and the start of the day is computed once per day. A time is written to an array
 * slot rather than returned, so it is never boxed.
 */
export class NfdumpTimeReader {
  private readonly stampWords = new Int32Array(2 * 5);
  private readonly stampMs = new Float64Array(2);
  private readonly stampValid = new Uint8Array(2);
  private dayKey = -1;
  private dayMs = 0;
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

  /** The bytes `b[0, end)` the next reads are in (one view per call, not per read). */
  use(b: Uint8Array, end: number): void {
    this.dv = new DataView(b.buffer, b.byteOffset, end);
  }

  /** The time in `b[a, e)` into `out[slot]`, NaN when it is not one; `column` (0 or 1) picks the remembered stamp. */
  read(b: Uint8Array, a: number, e: number, column: 0 | 1, out: Float64Array, slot: number): void {
    a = skipSpaces(b, a, e);
    if (e - a === NFDUMP_STAMP_BYTES) this.readStamp(b, a, column, out, slot);
    else this.parse(b, a, e, out, slot);
  }

  /** A bare 19-byte stamp at `b[a]` into `out[slot]`: the remembered one of this column, or parsed (NaN when malformed). */
  readStamp(b: Uint8Array, a: number, column: 0 | 1, out: Float64Array, slot: number): void {
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
      out[slot] = this.stampMs[column]!;
      return;
    }
    this.parse(b, a, a + NFDUMP_STAMP_BYTES, out, slot);
    const v = out[slot]!;
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

  private parse(b: Uint8Array, a: number, e: number, out: Float64Array, slot: number): void {
    out[slot] = NaN;
    if (e - a < NFDUMP_STAMP_BYTES || b[a + 4] !== 45 || b[a + 7] !== 45 || b[a + 13] !== 58 || b[a + 16] !== 58) return;
    const sep = b[a + 10];
    if (sep !== 32 && sep !== 84) return;
    let ms = 0;
    if (e - a > NFDUMP_STAMP_BYTES) {
      if (b[a + NFDUMP_STAMP_BYTES] !== DOT) return;
      // Milliseconds: nfdump prints three digits; more are not read.
      let scale = 100;
      for (let i = a + 20; i < e && i < a + 23; i++) {
        const d = b[i]! - 48;
        if (d < 0 || d > 9) return;
        ms += d * scale;
        scale /= 10;
      }
    }
    const y = digitsAt(b, a, 4);
    const mo = digitsAt(b, a + 5, 2);
    const d = digitsAt(b, a + 8, 2);
    const h = digitsAt(b, a + 11, 2);
    const mi = digitsAt(b, a + 14, 2);
    const se = digitsAt(b, a + 17, 2);
    if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60)) return;
    const dayKey = y * 10000 + mo * 100 + d;
    if (dayKey !== this.dayKey) {
      this.dayKey = dayKey;
      this.dayMs = Date.UTC(y, mo - 1, d);
    }
    out[slot] = this.dayMs + ((h * 60 + mi) * 60 + se) * 1000 + ms;
  }
}

function digitsAt(b: Uint8Array, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = b[i + k]! - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return v;
}
