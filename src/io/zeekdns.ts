/**
 * Zeek dns.log, in its tab-separated form (header lines `#separator`, `#set_separator`,
 * `#empty_field`, `#unset_field`, `#path`, `#fields`, `#types`; columns found by name from
 * `#fields`, so any column order and extra columns work) and as JSON lines (`LogAscii::use_json`:
 * the same field names, unset fields left out, vectors as arrays, `ts` as epoch seconds or an
 * ISO 8601 string).
 *
 * One line is one query/response pair as Zeek saw it: a line with no RCODE had no response and is
 * counted as skipped. The lookup's time is `ts + rtt` (the answer), or `ts` when the round trip is
 * unset. Zeek's `answers` hold the record data without record types, so types are inferred:
 * - an IPv4 literal is an A record, an IPv6 literal an AAAA record;
 * - for A, AAAA, CNAME, SVCB and HTTPS queries, a name before the first address is a CNAME target
 *   (resolvers answer with the chain first); names after an address, names in answers to other
 *   query types (PTR, MX, NS, TXT … whose data are names or text) and anything that is not a
 *   domain name are skipped;
 * - owners chain: the first record's owner is the query, each CNAME's target owns the next record,
 *   and the addresses belong to the last target.
 * TTL i goes with answer i.
 *
 * @see https://docs.zeek.org/en/master/scripts/base/protocols/dns/main.zeek.html (DNS::Info)
 * @see https://docs.zeek.org/en/master/logs/dns.html
 */
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { DnsLookup } from './dnslog.js';
import { formatIpv6 } from '../decode/dns.js';
import { canonicalAddress, canonicalIpv4ToInt, parseIpv6Text } from '../ip.js';
import { quotedExcerpt } from '../report/format.js';
import { isDateMs, MAX_DATE_MS } from '../time.js';
import type { ByteWindow } from './joiner.js';
import { LineCutter } from './lines.js';
import { readTime } from './csv.js';

type Answer = DnsLookup['answers'][number];

/** Longest line read; a longer one is counted and skipped. */
export const MAX_ZEEK_LINE = 64 * 1024;
/** Most answers taken from one line (as the DNS decoder's limit). */
const MAX_ANSWERS = 256;

const utf8 = new TextDecoder('utf-8');

/** Query types whose answers may start with a CNAME chain. */
const CHAIN_QTYPES = new Set([1, 5, 28, 64, 65]);

/** Does the input start like a Zeek TSV log? */
export function looksLikeZeekTsv(head: Uint8Array): boolean {
  return startsWith(head, 0, '#separator ');
}

/** Does the first line look like a Zeek dns.log record in JSON? */
export function looksLikeZeekJson(head: Uint8Array): boolean {
  let i = 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0d || head[i] === 0x0a)) i++;
  if (head[i] !== 0x7b) return false;
  let nl = head.indexOf(0x0a, i);
  if (nl < 0) nl = head.length;
  const first = utf8.decode(head.subarray(i, nl));
  if (!first.includes('"id.orig_h"')) return false;
  // conn.log and the other Zeek logs share the id fields; these keys are dns.log's own.
  return ['"query"', '"qtype"', '"rcode"', '"trans_id"', '"rejected"', '"answers"'].some((k) => first.includes(k));
}

/**
 * Everything a Zeek line says about one lookup, in the units the log uses; `null` for unset.
 * Built per line and handed to {@link zeekLookup}.
 */
interface ZeekRecord {
  tsMs: number;
  rttS: number | null;
  origH: string;
  respH: string | null;
  query: string | null;
  qtype: number;
  rcode: number | null;
  answers: string[];
  ttls: number[];
}

/** The longest answer time (`rtt`) taken as one: a resolver gives up within seconds, so more is not a time. */
const MAX_RTT_S = 3600;

/** The lookup a Zeek line describes, or a reason it is malformed. */
function zeekLookup(r: ZeekRecord): DnsLookup | string {
  if (r.rttS !== null && !(r.rttS >= 0 && r.rttS <= MAX_RTT_S)) return `rtt ${r.rttS} s; expected the seconds a resolver took to answer, 0 to ${MAX_RTT_S}`;
  const client = canonicalAddress(r.origH);
  if (client === null) return `id.orig_h ${quotedExcerpt(r.origH)} is not an IP address`;
  let resolver: string | null = null;
  if (r.respH !== null) {
    resolver = canonicalAddress(r.respH);
    if (resolver === null) return `id.resp_h ${quotedExcerpt(r.respH)} is not an IP address`;
  }
  if (r.answers.length > MAX_ANSWERS) return `${r.answers.length} answers; at most ${MAX_ANSWERS} are read`;
  if (r.ttls.length !== r.answers.length && r.ttls.length !== 0) return `${r.answers.length} answers but ${r.ttls.length} TTLs; expected one TTL per answer`;
  const query = domainName(r.query!);
  const answers: Answer[] = [];
  let owner = query;
  let addressSeen = false;
  const chain = CHAIN_QTYPES.has(r.qtype);
  for (let i = 0; i < r.answers.length; i++) {
    const text = r.answers[i]!;
    const ttlS = r.ttls[i] ?? 0;
    if (!(ttlS >= 0)) return `TTL ${i + 1} is not a number of seconds`;
    const ttl = Math.round(ttlS);
    const c = text.charCodeAt(0);
    if (text.includes(':')) {
      const aaaa = ipv6Text(text);
      if (aaaa !== null) {
        // An IPv4-mapped literal is still an AAAA record's data.
        answers.push({ name: owner, type: 'AAAA', data: aaaa, ttl });
        addressSeen = true;
        continue;
      }
    } else if (c >= 0x30 && c <= 0x39 && canonicalIpv4ToInt(text) >= 0) {
      answers.push({ name: owner, type: 'A', data: text, ttl });
      addressSeen = true;
      continue;
    }
    if (!chain || addressSeen || !looksLikeName(text)) continue;
    const target = domainName(text);
    answers.push({ name: owner, type: 'CNAME', data: target, ttl });
    owner = target;
  }
  const time = r.rttS === null ? r.tsMs : r.tsMs + r.rttS * 1000;
  if (!isDateMs(time)) return `ts ${r.tsMs / 1000} s${r.rttS === null ? '' : ` + rtt ${r.rttS} s`} is outside the dates a report holds; expected epoch seconds within ${MAX_DATE_MS / 1000} of 1970`;
  return { time, client, resolver, query, qtype: r.qtype, rcode: r.rcode!, answers };
}

const v6 = new Uint8Array(16);

/**
 * An ISO 8601 `ts` (Zeek's JSON::TS_ISO8601 writes `2023-11-14T22:13:21.500000Z`) as UTC ms, read as
 * every other time is (src/io/csv.ts readTime: UTC unless it carries an offset, a real calendar
 * day), or NaN. Date.parse took a time without an offset in the machine's zone and rolled
 * 2023-02-30 over to March 2.
 */
function isoMs(text: string): number {
  const t = readTime(text);
  return t.ok ? t.value : NaN;
}

/** IPv6 literal as RFC 5952 text, as the DNS decoder writes AAAA data (an IPv4-mapped one as its IPv4 host, as there), or null. */
function ipv6Text(s: string): string | null {
  return parseIpv6Text(s, v6) ? formatIpv6(v6) : null;
}

/** A domain name as text: no spaces or separators (TXT and other records' text are not names). */
function looksLikeName(s: string): boolean {
  if (s.length === 0 || s.length > 1024) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x7f) return false;
  }
  return true;
}

/** Lower case, no trailing dot (the root stays ''). */
function domainName(s: string): string {
  const t = s.length > 1 && s.charCodeAt(s.length - 1) === 0x2e ? s.slice(0, -1) : s === '.' ? '' : s;
  return t.toLowerCase();
}

function startsWith(b: Uint8Array, p: number, text: string): boolean {
  if (b.length - p < text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[p + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Undo Zeek's `\xHH` escapes (separators and unprintable bytes inside values). */
function unescapeZeek(s: string): string {
  if (!s.includes('\\x')) return s;
  const src = Buffer.from(s, 'utf8');
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const h = src[i] === 0x5c && src[i + 1] === 0x78 ? (hexDigit(src[i + 2]) << 4) | hexDigit(src[i + 3]) : -1;
    if (h >= 0) {
      out[n++] = h;
      i += 3;
    } else out[n++] = src[i]!;
  }
  return utf8.decode(out.subarray(0, n));
}

function hexDigit(c: number | undefined): number {
  if (c === undefined) return -256;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -256;
}

/** Do the bytes `b[a, z)` spell `text`? */
function bytesAre(b: Uint8Array, a: number, z: number, text: string): boolean {
  if (z - a !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[a + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Column roles the TSV reader fills. */
const COL_TS = 1;
const COL_ORIG_H = 2;
const COL_RESP_H = 3;
const COL_QUERY = 4;
const COL_QTYPE = 5;
const COL_RCODE = 6;
const COL_ANSWERS = 7;
const COL_TTLS = 8;
const COL_RTT = 9;
const ROLE_OF: Record<string, number> = {
  ts: COL_TS,
  'id.orig_h': COL_ORIG_H,
  'id.resp_h': COL_RESP_H,
  query: COL_QUERY,
  qtype: COL_QTYPE,
  rcode: COL_RCODE,
  answers: COL_ANSWERS,
  TTLs: COL_TTLS,
  rtt: COL_RTT,
};

/**
 * What both Zeek readers share: lines cut from the window (a line longer than {@link MAX_ZEEK_LINE}
 * is counted once and skipped to its end), numbered for anomalies.
 */
abstract class ZeekLines {
  lookups = 0;
  skipped = 0;
  private readonly cut = new LineCutter(MAX_ZEEK_LINE);
  /** Byte offset of the current line's start in the input. */
  protected lineAt = 0;

  constructor(
    protected readonly file: string,
    protected readonly anomalies: Anomalies,
    protected readonly onLookup: (l: DnsLookup) => void,
  ) {}

  /** One line `[s, nl)` of the window (its number in {@link line}). */
  protected abstract onLine(b: Buffer, s: number, nl: number): void;

  /** The number of the current line (1 for the first). */
  protected get line(): number {
    return this.cut.line;
  }

  parse(win: ByteWindow, final: boolean): void {
    const b = asBuffer(win.buf);
    const overlong = (from: number): void => {
      this.lineAt = win.offsetOf(from);
      this.bad(`line longer than ${MAX_ZEEK_LINE} bytes`);
    };
    for (;;) {
      const nl = this.cut.next(win, final, overlong);
      if (nl < 0) return;
      this.lineAt = win.offsetOf(this.cut.from);
      this.onLine(b, this.cut.from, nl);
    }
  }

  protected bad(what: string): void {
    this.anomalies.add('zeek.bad_line', this.file, this.lineAt, `line ${this.line}: ${what}; line skipped`);
  }
}

/**
 * Zeek dns.log TSV reader fed from a {@link ByteWindow}. Header lines may come again (logs
 * concatenated); each `#fields` line sets the columns for the lines after it.
 */
export class ZeekTsvParser extends ZeekLines {
  readonly format = 'zeek-tsv' as const;
  private sep = 0x09;
  private setSep = 0x2c;
  private empty = '(empty)';
  private unset = '-';
  /** Role of each column (0: not read); empty until `#fields`. */
  private roles: Uint8Array = new Uint8Array(0);
  /** Start and end of each column on the current line. */
  private starts = new Int32Array(64);
  private ends = new Int32Array(64);
  private lastNeeded = -1;
  private readonly rec: ZeekRecord = { tsMs: 0, rttS: null, origH: '', respH: null, query: null, qtype: 0, rcode: null, answers: [], ttls: [] };

  protected onLine(b: Buffer, s: number, nl: number): void {
    let e = nl;
    if (e > s && b[e - 1] === 0x0d) e--;
    if (e === s) return;
    if (b[s] === 0x23) this.header(b, s, e);
    else this.data(b, s, e);
  }

  private header(b: Uint8Array, s: number, e: number): void {
    if (startsWith(b, s, '#separator ')) {
      const v = unescapeZeek(utf8.decode(b.subarray(s + 11, e)));
      if (v.length !== 1 || v.charCodeAt(0) > 0x7f) throw new InputError(this.file, this.lineAt, `line ${this.line}: separator ${quotedExcerpt(v)}; expected one ASCII character`);
      this.sep = v.charCodeAt(0);
      return;
    }
    const text = utf8.decode(b.subarray(s, e));
    const parts = text.split(String.fromCharCode(this.sep));
    const key = parts[0];
    const value = parts.slice(1);
    switch (key) {
      case '#set_separator': {
        const v = unescapeZeek(value[0] ?? '');
        if (v.length !== 1) throw new InputError(this.file, this.lineAt, `line ${this.line}: set separator ${quotedExcerpt(v)}; expected one character`);
        this.setSep = v.charCodeAt(0);
        return;
      }
      case '#empty_field':
        this.empty = value[0] ?? '(empty)';
        return;
      case '#unset_field':
        this.unset = value[0] ?? '-';
        return;
      case '#path':
        if (value[0] !== 'dns') throw new InputError(this.file, this.lineAt, `line ${this.line}: a Zeek ${value[0] === undefined ? '(unnamed)' : quotedExcerpt(value[0])} log; expected #path dns`);
        return;
      case '#fields': {
        const roles = new Uint8Array(value.length);
        let last = -1;
        value.forEach((name, i) => {
          const r = ROLE_OF[name];
          if (r !== undefined) {
            roles[i] = r;
            last = i;
          }
        });
        for (const needed of ['ts', 'id.orig_h', 'query', 'rcode'] as const) {
          if (!value.includes(needed)) {
            throw new InputError(this.file, this.lineAt, `line ${this.line}: #fields has no ${needed} column; a Zeek dns.log has ts, id.orig_h, id.resp_h, query, qtype, rcode, answers, TTLs`);
          }
        }
        this.roles = roles;
        this.lastNeeded = last;
        if (this.starts.length < value.length) {
          this.starts = new Int32Array(value.length);
          this.ends = new Int32Array(value.length);
        }
        return;
      }
      default:
        return; // #open, #close, #types, comments
    }
  }

  private data(b: Uint8Array, s: number, e: number): void {
    if (this.lastNeeded < 0) {
      this.bad('data line before the #fields header');
      return;
    }
    const sep = this.sep;
    const starts = this.starts;
    const ends = this.ends;
    const want = this.lastNeeded;
    let col = 0;
    let p = s;
    starts[0] = s;
    while (col < want) {
      const t = b.indexOf(sep, p);
      if (t < 0 || t >= e) break;
      ends[col] = t;
      col++;
      starts[col] = t + 1;
      p = t + 1;
    }
    if (col < want) {
      this.bad(`${col + 1} fields; #fields names ${this.roles.length}`);
      return;
    }
    const t = b.indexOf(sep, p);
    ends[col] = t < 0 || t >= e ? e : t;

    const r = this.rec;
    r.rttS = null;
    r.respH = null;
    r.query = null;
    r.qtype = 0;
    r.rcode = null;
    r.answers = [];
    r.ttls = [];
    r.tsMs = NaN;
    r.origH = '';
    const roles = this.roles;
    for (let i = 0; i <= want; i++) {
      const role = roles[i]!;
      if (role === 0) continue;
      const a = starts[i]!;
      const z = ends[i]!;
      if (this.isUnset(b, a, z)) continue;
      switch (role) {
        case COL_TS:
          r.tsMs = epochMs(b, a, z);
          if (Number.isNaN(r.tsMs)) r.tsMs = isoMs(utf8.decode(b.subarray(a, z)));
          break;
        case COL_RTT:
          r.rttS = decimal(b, a, z);
          if (Number.isNaN(r.rttS)) return this.bad(`rtt ${quotedExcerpt(utf8.decode(b.subarray(a, z)))} is not a number of seconds`);
          break;
        case COL_ORIG_H:
          r.origH = latin1(b, a, z);
          break;
        case COL_RESP_H:
          r.respH = latin1(b, a, z);
          break;
        case COL_QUERY:
          r.query = this.text(b, a, z);
          break;
        case COL_QTYPE:
          r.qtype = integer(b, a, z);
          if (r.qtype < 0) return this.bad(`qtype ${quotedExcerpt(utf8.decode(b.subarray(a, z)))} is not a number`);
          break;
        case COL_RCODE:
          r.rcode = integer(b, a, z);
          if (r.rcode < 0) return this.bad(`rcode ${quotedExcerpt(utf8.decode(b.subarray(a, z)))} is not a number`);
          break;
        case COL_ANSWERS:
          if (!this.isEmpty(b, a, z)) r.answers = this.set(b, a, z, (x, y) => this.text(b, x, y));
          break;
        case COL_TTLS:
          if (!this.isEmpty(b, a, z)) r.ttls = this.set(b, a, z, (x, y) => decimal(b, x, y));
          break;
      }
    }
    if (Number.isNaN(r.tsMs)) return this.bad(`ts ${quotedExcerpt(utf8.decode(b.subarray(starts[roles.indexOf(COL_TS)]!, ends[roles.indexOf(COL_TS)]!)))} is not epoch seconds or an ISO 8601 time`);
    if (r.origH === '') return this.bad('id.orig_h is unset; expected the client address');
    if (r.rcode === null || r.query === null) {
      this.skipped++;
      return;
    }
    const l = zeekLookup(r);
    if (typeof l === 'string') return this.bad(l);
    this.lookups++;
    this.onLookup(l);
  }

  private set<T>(b: Uint8Array, a: number, z: number, item: (x: number, y: number) => T): T[] {
    const out: T[] = [];
    let p = a;
    for (;;) {
      let t = b.indexOf(this.setSep, p);
      if (t < 0 || t > z) t = z;
      out.push(item(p, t));
      if (t >= z) return out;
      p = t + 1;
    }
  }

  private text(b: Uint8Array, a: number, z: number): string {
    for (let i = a; i < z; i++) if (b[i]! >= 0x80 || b[i] === 0x5c) return unescapeZeek(utf8.decode(b.subarray(a, z)));
    return latin1(b, a, z);
  }

  private isUnset(b: Uint8Array, a: number, z: number): boolean {
    return bytesAre(b, a, z, this.unset);
  }

  private isEmpty(b: Uint8Array, a: number, z: number): boolean {
    return bytesAre(b, a, z, this.empty);
  }

}

/** Zeek dns.log as JSON lines. */
export class ZeekJsonParser extends ZeekLines {
  readonly format = 'zeek-json' as const;

  protected onLine(b: Buffer, s: number, nl: number): void {
    let a = s;
    while (a < nl && (b[a] === 0x20 || b[a] === 0x09 || b[a] === 0x0d)) a++;
    if (a === nl) return;
    this.record(utf8.decode(b.subarray(a, nl)));
  }

  private record(text: string): void {
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (e) {
      // V8's message quotes the line raw: only its start is said, inert.
      return this.bad(`not JSON: the line starts ${quotedExcerpt(text, 40)}`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return this.bad('expected one JSON object per line');
    const v = o as Record<string, unknown>;
    const path = v['_path'];
    if (path !== undefined && path !== 'dns') return this.bad(`a Zeek ${quotedExcerpt(String(path))} record; expected _path dns`);
    const ts = v['ts'];
    const tsMs = typeof ts === 'number' ? ts * 1000 : typeof ts === 'string' ? isoMs(ts) : NaN;
    if (!Number.isFinite(tsMs)) return this.bad(`ts ${quotedExcerpt(String(ts))}; expected epoch seconds or an ISO 8601 time`);
    const origH = v['id.orig_h'];
    if (typeof origH !== 'string') return this.bad('id.orig_h missing; expected the client address');
    const respH = v['id.resp_h'];
    if (respH !== undefined && typeof respH !== 'string') return this.bad('id.resp_h is not a string');
    const rtt = v['rtt'];
    if (rtt !== undefined && typeof rtt !== 'number') return this.bad('rtt is not a number of seconds');
    const query = v['query'];
    const rcode = v['rcode'];
    if (query === undefined || rcode === undefined) {
      this.skipped++;
      return;
    }
    if (typeof query !== 'string') return this.bad('query is not a string');
    if (typeof rcode !== 'number' || !Number.isInteger(rcode)) return this.bad('rcode is not an integer');
    const qtype = v['qtype'] ?? 0;
    if (typeof qtype !== 'number' || !Number.isInteger(qtype)) return this.bad('qtype is not an integer');
    const answers = v['answers'] ?? [];
    if (!Array.isArray(answers) || !answers.every((x) => typeof x === 'string')) return this.bad('answers is not an array of strings');
    const ttls = v['TTLs'] ?? [];
    if (!Array.isArray(ttls) || !ttls.every((x) => typeof x === 'number')) return this.bad('TTLs is not an array of numbers');
    const l = zeekLookup({
      tsMs,
      rttS: rtt === undefined ? null : rtt,
      origH,
      respH: respH === undefined ? null : respH,
      query,
      qtype,
      rcode,
      answers: answers as string[],
      ttls: ttls as number[],
    });
    if (typeof l === 'string') return this.bad(l);
    this.lookups++;
    this.onLookup(l);
  }

}

/** ASCII/Latin-1 bytes as a string; `b` must be a Buffer (see {@link asBuffer}). */
function latin1(b: Uint8Array, a: number, z: number): string {
  return (b as Buffer).toString('latin1', a, z);
}

let lastWindow: Uint8Array | null = null;
let lastBuffer: Buffer | null = null;

/**
 * The window's bytes as a Buffer over the same memory (no copy), made again only when the window
 * grows. Buffer methods called on a plain Uint8Array (Buffer.prototype.latin1Slice.call) left a
 * later gunzip stream stalled in Node 20.
 */
function asBuffer(u: Uint8Array): Buffer {
  if (u !== lastWindow) {
    lastWindow = u;
    lastBuffer = Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  }
  return lastBuffer!;
}

/** Epoch seconds with an optional fraction as ms, without a string; NaN when not that form. */
function epochMs(b: Uint8Array, a: number, z: number): number {
  let sec = 0;
  let p = a;
  if (p === z) return NaN;
  while (p < z && b[p]! >= 0x30 && b[p]! <= 0x39) sec = sec * 10 + b[p++]! - 0x30;
  if (p === a || p - a > 12) return NaN;
  if (p === z) return sec * 1000;
  if (b[p] !== 0x2e) return NaN;
  p++;
  let frac = 0;
  let digits = 0;
  while (p < z && b[p]! >= 0x30 && b[p]! <= 0x39) {
    if (digits < 9) {
      frac = frac * 10 + b[p]! - 0x30;
      digits++;
    }
    p++;
  }
  if (p !== z) return NaN;
  // Same arithmetic as a capture's seconds + fraction, so equal times compare equal.
  return digits <= 3 ? sec * 1000 + frac * 10 ** (3 - digits) : sec * 1000 + frac / 10 ** (digits - 3);
}

function decimal(b: Uint8Array, a: number, z: number): number {
  if (a === z) return NaN;
  for (let i = a; i < z; i++) {
    const c = b[i]!;
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x65 || c === 0x45 || c === 0x2b)) return NaN;
  }
  return Number(latin1(b, a, z));
}

/** Non-negative integer, or -1. */
function integer(b: Uint8Array, a: number, z: number): number {
  if (a === z || z - a > 9) return -1;
  let n = 0;
  for (let i = a; i < z; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + c - 0x30;
  }
  return n;
}
