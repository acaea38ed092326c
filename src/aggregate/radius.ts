/**
 * Accounting-log attribution for dynamic addresses (`--radius FILE`): which account held an address
 * (PPPoE, DHCP, a delegated IPv6 prefix) at a given time, from RADIUS accounting (RFC 2866, RFC 6911,
 * RFC 4818) as FreeRADIUS writes it in `detail` files, or from a CSV an operator exports from any
 * other AAA system. Sessions run from Start (or the first Interim-Update) to Stop; one left without a
 * Stop ends at the next Start for the same address, at an Accounting-On/Off of its NAS, or stays open.
 * Lookups are one hash lookup per prefix length in use and a binary search by time.
 *
 * CSV format (header names in any order; `#` starts a comment line; RFC 4180 quoting):
 *   time,event,account,session,address
 *   2026-12-05T08:00:00Z,start,alice@isp,4F2A0001,100.64.7.9 2001:db8:7:100::/56
 *   1796544000,stop,alice@isp,4F2A0001,
 */
import ipaddr from '../ipaddr.js';
import { readPrefix, readTime, readUnsigned, TEXT_LINE_MAX_BYTES } from '../io/csv.js';
import { ipv4ToInt } from '../ip.js';
import { IPV4_MASKS, ipv6BytesKey, ipv6NetKey, mappedIpv4Text, parseLookupAddress, parseLookupV6 } from './netkey.js';
import { columnsByName, headedCsvRows, widthError } from '../io/headed-csv.js';
import { inertJson, quotedExcerpt } from '../report/format.js';
import { lastAtMost } from '../search.js';
import { LOG_CLOCK_ALLOWANCE_MS } from '../classify/resolverlog.js';

const fromOf = (h: Held): number => h.from;

/** An IPv6 address being looked up, as bytes (a lookup reads them before it returns). */
const V6_BYTES = new Uint8Array(16);

/** What an accounting record says happened (Acct-Status-Type, RFC 2866 §5.1). */
export type RadiusEventKind = 'start' | 'interim' | 'stop' | 'accounting-on' | 'accounting-off';

/** An address or prefix a session holds, as written and as parsed. */
export interface RadiusPrefix {
  text: string;
  addr: ipaddr.IPv4 | ipaddr.IPv6;
  bits: number;
  /** The network at `bits` (a number for IPv4), and with the kind and length: one key per prefix, made once. */
  net: string | number;
  key: string;
}

function radiusPrefix(text: string, addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): RadiusPrefix {
  const net = netKey(addr, bits);
  return { text, addr, bits, net, key: `${addr.kind()}|${net}/${bits}` };
}

/** One accounting record that can open, extend or close a session. */
export interface RadiusEvent {
  kind: RadiusEventKind;
  /** Event time, ms since the epoch (UTC). */
  time: number;
  /** User-Name; null only on Stop and Accounting-On/Off records. */
  account: string | null;
  /** Acct-Session-Id; null when the record has none. */
  session: string | null;
  /** NAS-IP-Address, NAS-IPv6-Address or NAS-Identifier: who sent it (session ids are unique per NAS). */
  nas: string | null;
  addresses: RadiusPrefix[];
  /** Acct-Session-Time in seconds, when given. */
  sessionTime: number | null;
  file: string;
  /** First line of the record (a detail file's date line, a CSV row). */
  line: number;
  /** Where the event time came from, e.g. `Event-Timestamp`, `Timestamp - Acct-Delay-Time`. */
  timeFrom: string;
}

/** A line that could not be read, with what was expected. */
export interface RadiusError {
  line: number;
  message: string;
}

/** What a file held besides its events. */
export interface RadiusParseResult {
  format: 'detail' | 'csv';
  events: RadiusEvent[];
  /** Accounting records that map nothing: other status types (Failed, Tunnel-*), none, or no address and no session id. */
  skipped: number;
  /** Records whose Event-Timestamp was not read (a zone abbreviation, say) and whose time came from another attribute. */
  timeFallbacks: number;
  /**
   * Routed-network attributes (Framed-Route, Framed-IPv6-Route, Framed-IP-Netmask) not taken, and the
   * first of them with why: the rest of their record is read as without them.
   */
  routesIgnored: number;
  firstIgnoredRoute: string | null;
  errors: RadiusError[];
}

/** The first record line of a FreeRADIUS detail file (`%t`, ctime format): `Sat Dec  5 19:08:49 2026`. */
const DETAIL_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;
/** FreeRADIUS prints a date attribute as `%b %e %Y %H:%M:%S %Z`: `Dec 25 2017 10:02:08 UTC`. */
const ATTR_DATE = /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{4}) (\d{2}):(\d{2}):(\d{2})(?: (UTC|GMT|Z|[+-]\d{4}))?$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const ATTRIBUTE_LINE = /^[ \t]+([A-Za-z0-9][A-Za-z0-9._:-]*)[ \t]*=[ \t]*(.*)$/;
const STATUS: Record<string, RadiusEventKind> = {
  start: 'start',
  '1': 'start',
  stop: 'stop',
  '2': 'stop',
  'interim-update': 'interim',
  alive: 'interim',
  '3': 'interim',
  'accounting-on': 'accounting-on',
  '7': 'accounting-on',
  'accounting-off': 'accounting-off',
  '8': 'accounting-off',
};
/** Attributes whose value is an address or prefix the session holds. */
const ADDRESS_ATTRIBUTES = new Set(['framed-ip-address', 'framed-ipv6-address', 'framed-ipv6-prefix', 'delegated-ipv6-prefix']);
/**
 * Attributes that give the session a routed network: Framed-IP-Netmask (RFC 2865 §5.9: the user is
 * a router to the network of its Framed-IP-Address under that mask), Framed-Route and
 * Framed-IPv6-Route (RFC 2865 §5.22, RFC 3162 §2.5: "prefix[/length] gateway metrics", the prefix
 * routed to the user; a prefix without a length is the one address).
 */
const ROUTE_ATTRIBUTES = new Set(['framed-ip-netmask', 'framed-route', 'framed-ipv6-route']);
const MAX_ACCOUNT = 253;

/**
 * Read a RADIUS accounting file, FreeRADIUS detail or CSV, told apart by its first line: a detail
 * file opens with a date line (`Sat Dec  5 19:08:49 2026`), the CSV with its header.
 */
export function parseRadiusLog(text: string, file: string): RadiusParseResult {
  const first = /^\uFEFF?[ \t]*(\S[^\r\n]*)/m.exec(text)?.[1] ?? '';
  if (DETAIL_DATE.test(first.trimEnd())) return parseRadiusDetail(text, file);
  if (/^[#]/.test(first) || /(^|,)\s*"?time"?\s*(,|$)/i.test(first)) return parseRadiusCsv(text, file);
  const line = text.slice(0, text.indexOf(first)).split('\n').length;
  return {
    format: 'csv',
    events: [],
    skipped: 0,
    timeFallbacks: 0,
    routesIgnored: 0,
    firstIgnoredRoute: null,
    errors: [
      {
        line,
        message: `expected a FreeRADIUS detail file (a date line such as "Sat Dec  5 19:08:49 2026", then tab-indented "Attribute = value" lines) or a CSV with the header time,event,account,session,address; got ${quotedExcerpt(first)}`,
      },
    ],
  };
}

/** Parse a FreeRADIUS `detail` file: records separated by blank lines, each a date line then `\tAttribute = value` lines. Unknown attributes are skipped. */
export function parseRadiusDetail(text: string, file: string): RadiusParseResult {
  const out: RadiusParseResult = { format: 'detail', events: [], skipped: 0, timeFallbacks: 0, routesIgnored: 0, firstIgnoredRoute: null, errors: [] };
  let record: { line: number; dateMs: number; attrs: Array<[string, string, number]> } | null = null;
  // A record whose date line is bad (or attribute lines with no date line): one error, which says
  // how many attribute lines after it went with it, rather than one error a line.
  let orphan: { error: { line: number; message: string }; lines: number } | null = null;
  const closeOrphan = (): void => {
    if (orphan && orphan.lines > 0) orphan.error.message += `; the ${orphan.lines} attribute line(s) after it, to the next blank or date line, were skipped with it`;
    orphan = null;
  };
  const lines = text.split('\n');
  if (lines[0]?.startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  for (let i = 0; i <= lines.length; i++) {
    const raw = i < lines.length ? lines[i]! : '';
    const n = i + 1;
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (l.trim() === '') {
      if (record) detailRecord(record, file, out);
      record = null;
      closeOrphan();
      continue;
    }
    if (Buffer.byteLength(l) > TEXT_LINE_MAX_BYTES) {
      out.errors.push({ line: n, message: `line longer than ${TEXT_LINE_MAX_BYTES} bytes` });
      continue;
    }
    if (/^[ \t]/.test(l)) {
      const m = ATTRIBUTE_LINE.exec(l);
      if (orphan) orphan.lines++;
      else if (!record) {
        const error = { line: n, message: `expected a date line opening a record (e.g. "Sat Dec  5 19:08:49 2026") before attribute lines; got ${quotedExcerpt(l.trim())}` };
        out.errors.push(error);
        orphan = { error, lines: 0 };
      } else if (!m) out.errors.push({ line: n, message: `expected an attribute line "\\tName = value" (e.g. "\\tFramed-IP-Address = 100.64.7.9"); got ${quotedExcerpt(l.trim())}` });
      else record.attrs.push([m[1]!.toLowerCase(), m[2]!.trimEnd(), n]);
      continue;
    }
    const d = DETAIL_DATE.exec(l.trimEnd());
    // The server's local time, without a zone: read as UTC, and used only when the record carries no
    // other time. A date line naming no such date or time (Feb 31, 99:99:99) reads no better than one
    // of another shape.
    const dateMs = d ? detailTime(d[6]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, 'Z') : null;
    closeOrphan();
    if (dateMs === null) {
      const error = { line: n, message: `expected a date line opening a record (e.g. "Sat Dec  5 19:08:49 2026") or a tab-indented attribute line; got ${quotedExcerpt(l)}` };
      out.errors.push(error);
      // The record before it ends here; the one it opened, if it was one, is skipped whole (its
      // attribute lines belong to no record).
      if (record) detailRecord(record, file, out);
      record = null;
      orphan = { error, lines: 0 };
      continue;
    }
    if (record) detailRecord(record, file, out);
    record = { line: n, dateMs, attrs: [] };
  }
  return out;
}

/** A quoted detail value with FreeRADIUS's escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\ooo` octal bytes), or an unquoted one as is. */
function detailValue(v: string): string | null {
  if (!v.startsWith('"')) return v;
  if (v.length < 2 || !v.endsWith('"')) return null;
  const bytes: number[] = [];
  const body = Buffer.from(v.slice(1, -1), 'utf8');
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== 0x5c) {
      bytes.push(c);
      continue;
    }
    const e = body[++i];
    if (e === undefined) return null;
    if (e >= 0x30 && e <= 0x37 && i + 2 < body.length) {
      const oct = body.subarray(i, i + 3).toString('latin1');
      if (!/^[0-7]{3}$/.test(oct)) return null;
      bytes.push(parseInt(oct, 8) & 0xff);
      i += 2;
    } else bytes.push(e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e);
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * A date and time as a detail file writes them (month name, day, year, clock, zone `Z` or `±hhmm`), in
 * ms; null when there is no such date or time (Feb 30, hour 24, minute or second 60, an offset of 60
 * minutes). Read as the ISO 8601 it stands for, by the reader the CSV's times go through, so both
 * formats refuse the same dates: Date.UTC would roll Feb 31 over to March 3 and 99:99:99 into days later.
 */
function detailTime(year: string, month: string, day: string, hour: string, minute: string, second: string, zone: string): number | null {
  const t = readTime(`${year}-${String(MONTHS.indexOf(month) + 1).padStart(2, '0')}-${day.padStart(2, '0')}T${hour}:${minute}:${second}${zone}`);
  return t.ok ? t.value : null;
}

/**
 * An Event-Timestamp as FreeRADIUS prints it (UTC, GMT or a numeric zone), or epoch seconds; null when
 * unreadable (a zone abbreviation says too little: the record is timed otherwise); `impossible` when
 * it names no such date or time, which no clock printed: the record is damaged, not merely zoned.
 */
function attributeTime(v: string): number | null | 'impossible' {
  if (/^\d{1,12}$/.test(v)) return Number(v) * 1000;
  const m = ATTR_DATE.exec(v);
  if (!m) return null;
  const zone = m[7];
  // UTC and GMT are offset Z; a value without a zone is not read, but a date it names must still exist.
  const t = detailTime(m[3]!, m[1]!, m[2]!, m[4]!, m[5]!, m[6]!, zone === undefined || !/^[+-]/.test(zone) ? 'Z' : zone);
  if (t === null) return 'impossible';
  return zone === undefined ? null : t;
}

function detailRecord(r: { line: number; dateMs: number; attrs: Array<[string, string, number]> }, file: string, out: RadiusParseResult): void {
  let status: string | null = null;
  let account: string | null = null;
  let session: string | null = null;
  let nas: string | null = null;
  // Its time, or `unread` when it is in a form not read (a zone abbreviation), null when there is none.
  let eventTimestamp: number | 'unread' | null = null;
  let timestamp: number | null = null;
  let delay = 0;
  let sessionTime: number | null = null;
  const addresses: RadiusPrefix[] = [];
  let netmask: { bits: number; line: number } | null = null;
  let framedIp: RadiusPrefix | null = null;
  const before = out.errors.length;
  const bad = (line: number, message: string): void => {
    out.errors.push({ line, message });
  };
  // A routed network that cannot be taken costs only itself: the record's own address still maps.
  const ignoreRoute = (line: number, why: string): void => {
    if (out.routesIgnored++ === 0) out.firstIgnoredRoute = `${file}:${line}: ${why}`;
  };
  for (const [name, rawValue, line] of r.attrs) {
    const known = name === 'acct-status-type' || name === 'user-name' || name === 'acct-session-id' || name === 'nas-ip-address' || name === 'nas-ipv6-address' || name === 'nas-identifier' || name === 'event-timestamp' || name === 'timestamp' || name === 'acct-delay-time' || name === 'acct-session-time' || ADDRESS_ATTRIBUTES.has(name) || ROUTE_ATTRIBUTES.has(name);
    if (!known) continue;
    const v = detailValue(rawValue);
    if (v === null) {
      bad(line, `${name}: expected a value in double quotes with FreeRADIUS escapes; got ${quotedExcerpt(rawValue)}`);
      continue;
    }
    switch (name) {
      case 'acct-status-type':
        status = v.toLowerCase();
        break;
      case 'user-name':
        if (v.length > MAX_ACCOUNT) bad(line, `User-Name longer than ${MAX_ACCOUNT} characters`);
        else account = v;
        break;
      case 'acct-session-id':
        session = v.slice(0, MAX_ACCOUNT);
        break;
      case 'nas-ip-address':
      case 'nas-ipv6-address':
        nas = v;
        break;
      case 'nas-identifier':
        nas ??= v;
        break;
      case 'event-timestamp': {
        const t = attributeTime(v);
        if (t === 'impossible') bad(line, `Event-Timestamp: expected a date and time that exist, as FreeRADIUS prints them (e.g. "Dec  5 2026 08:00:00 UTC"); got ${quotedExcerpt(v, 40)}`);
        else eventTimestamp = t ?? 'unread';
        break;
      }
      case 'timestamp':
      case 'acct-delay-time':
      case 'acct-session-time': {
        const u = readUnsigned(v, 2 ** 40);
        if (!u.ok) bad(line, `${name === 'timestamp' ? 'Timestamp' : name === 'acct-delay-time' ? 'Acct-Delay-Time' : 'Acct-Session-Time'}: expected ${u.expected}; got ${quotedExcerpt(v, 40)}`);
        else if (name === 'timestamp') timestamp = u.value * 1000;
        else if (name === 'acct-delay-time') delay = u.value * 1000;
        else sessionTime = u.value;
        break;
      }
      case 'framed-ip-netmask': {
        const bits = maskBits(v);
        if (bits === null) ignoreRoute(line, `Framed-IP-Netmask ${quotedExcerpt(v, 40)}: not a netmask like 255.255.255.248`);
        else netmask = { bits, line };
        break;
      }
      case 'framed-route':
      case 'framed-ipv6-route': {
        const route = routePrefix(v, name === 'framed-ipv6-route');
        if (typeof route === 'string') ignoreRoute(line, `${name === 'framed-route' ? 'Framed-Route' : 'Framed-IPv6-Route'} ${quotedExcerpt(v)}: ${route}`);
        else addresses.push(route);
        break;
      }
      default: {
        const p = readPrefix(v);
        const v4only = name === 'framed-ip-address';
        if (!p.ok || (v4only && (p.value[0].kind() !== 'ipv4' || v.includes('/'))) || (!v4only && p.value[0].kind() !== 'ipv6')) {
          bad(line, `${displayName(name)}: expected ${v4only ? 'an IPv4 address like 100.64.7.9' : name === 'framed-ipv6-address' ? 'an IPv6 address like 2001:db8::7' : 'an IPv6 prefix like 2001:db8:7::/56'}; got ${quotedExcerpt(v)}`);
        } else {
          const a = radiusPrefix(v, p.value[0], p.value[1]);
          addresses.push(a);
          if (v4only) framedIp = a;
        }
      }
    }
  }
  if (netmask !== null && netmask.bits < 32) {
    // The user routes the network of its address under that mask (a mask of all ones is the address alone).
    const own: RadiusPrefix | null = framedIp;
    if (own === null) ignoreRoute(netmask.line, 'Framed-IP-Netmask without a Framed-IP-Address in its record to apply it to');
    else if (netmask.bits < MIN_ROUTE_BITS_V4) ignoreRoute(netmask.line, `Framed-IP-Netmask of /${netmask.bits}: shorter than /${MIN_ROUTE_BITS_V4}, no subscriber's network`);
    else {
      const net = ipaddr.IPv4.networkAddressFromCIDR(`${own.addr.toString()}/${netmask.bits}`);
      addresses.push(radiusPrefix(`${net.toString()}/${netmask.bits}`, net, netmask.bits));
    }
  }
  if (out.errors.length > before) return;
  const kind = status === null ? undefined : STATUS[status];
  if (kind === undefined) {
    // Authentication records, Failed, Tunnel-*: nothing about who holds an address.
    out.skipped++;
    return;
  }
  let time: number;
  let timeFrom: string;
  if (typeof eventTimestamp === 'number') {
    time = eventTimestamp;
    timeFrom = 'Event-Timestamp';
  } else {
    if (eventTimestamp === 'unread') out.timeFallbacks++;
    // RFC 2866 §5.2: the event happened Acct-Delay-Time seconds before the server received it.
    time = (timestamp ?? r.dateMs) - delay;
    timeFrom = `${timestamp !== null ? 'Timestamp' : 'the date line (read as UTC)'}${delay ? ' - Acct-Delay-Time' : ''}`;
  }
  const event: RadiusEvent = { kind, time, account, session, nas, addresses, sessionTime, file, line: r.line, timeFrom };
  const problem = eventProblem(event);
  if (problem === 'skip') out.skipped++;
  else if (problem) bad(r.line, problem);
  else out.events.push(event);
}

/** Routed networks shorter than these are no subscriber's (a default route would take every address). */
const MIN_ROUTE_BITS_V4 = 8;
const MIN_ROUTE_BITS_V6 = 16;

/** The shortest network a session may hold: routed networks in detail files and prefixes in the CSV alike. */
function minRouteBits(v6: boolean): number {
  return v6 ? MIN_ROUTE_BITS_V6 : MIN_ROUTE_BITS_V4;
}

/**
 * The network a Framed-Route or Framed-IPv6-Route value routes to the user: RFC 2865's
 * "prefix[/length] gateway metrics", or the "prefix mask gateway metrics" some NAS write; a prefix
 * with neither length nor mask is the one address. A string says why it cannot be taken.
 */
function routePrefix(v: string, v6: boolean): RadiusPrefix | string {
  const [dest = '', second = ''] = v.trim().split(/\s+/);
  const p = readPrefix(dest);
  if (!p.ok) return `expected "prefix[/length] gateway metrics" with an ${v6 ? 'IPv6 prefix like 2001:db8:7::/48' : 'IPv4 prefix like 192.0.2.0/29'} first`;
  if ((p.value[0].kind() === 'ipv6') !== v6) return `the prefix is not ${v6 ? 'IPv6' : 'IPv4'}`;
  let [addr, bits] = p.value;
  let text = dest;
  const mask = !v6 && !dest.includes('/') ? maskBits(second) : null;
  if (mask !== null) {
    bits = mask;
    text = `${dest}/${mask}`;
  }
  const min = minRouteBits(v6);
  if (bits < min) return `a /${bits} route is shorter than /${min}, no subscriber's network`;
  if (mask !== null) addr = ipaddr.IPv4.networkAddressFromCIDR(text);
  return radiusPrefix(text, addr, bits);
}

/** The prefix length of a contiguous IPv4 netmask (`255.255.255.248` → 29); null for anything else. */
function maskBits(v: string): number | null {
  const n = ipv4ToInt(v.trim());
  if (n < 0) return null;
  const inv = ~n >>> 0;
  // Contiguous: the host part, plus one, is a power of two.
  if ((inv & (inv + 1)) !== 0 || inv === 0xffffffff) return null;
  return 32 - Math.log2(inv + 1);
}

function displayName(lower: string): string {
  return lower.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase()).replace('Ip', 'IP').replace('Ipv6', 'IPv6');
}

/** Why an event cannot be used: an error message, `skip` when it maps nothing, or null. */
function eventProblem(e: RadiusEvent): string | 'skip' | null {
  if (e.kind === 'accounting-on' || e.kind === 'accounting-off') return e.nas === null ? 'skip' : null;
  if (e.kind === 'stop' && e.session !== null) return null;
  if (!e.addresses.length) return 'skip';
  if (e.account === null || e.account === '') return `expected the account (User-Name) of a ${e.kind} record that holds ${e.addresses.map((a) => a.text).join(', ')}`;
  return null;
}

/** Parse the RADIUS CSV: `time,event,account,session,address` (and an optional `nas` column). */
export function parseRadiusCsv(text: string, file: string): RadiusParseResult {
  const out: RadiusParseResult = { format: 'csv', events: [], skipped: 0, timeFallbacks: 0, routesIgnored: 0, firstIgnoredRoute: null, errors: [] };
  const header = 'time,event,account,session,address';
  const columns = (names: string[]): Map<string, number> | string => {
    const missing = ['time', 'event', 'account', 'address'].filter((x) => !names.includes(x));
    return missing.length ? `header lacks ${missing.join(', ')}; expected ${header} (session and nas optional)` : columnsByName(names);
  };
  for (const row of headedCsvRows(text, columns, `empty file: expected a header ${header}`, out.errors)) {
    const { line: n, get } = row;
    // A row short of a field would be read with its columns shifted (its address as the session, its session as the account).
    const width = widthError(row);
    if (width) {
      out.errors.push(width);
      continue;
    }
    const t = readTime(get('time'), { epochSeconds: true });
    if (!t.ok) {
      out.errors.push({ line: n, message: `time: expected ${t.expected}; got ${quotedExcerpt(get('time'), 40)}` });
      continue;
    }
    const kind = STATUS[get('event').toLowerCase().replace(/^interim$/, 'interim-update')];
    if (kind === undefined) {
      out.errors.push({ line: n, message: `event: expected start, interim, stop, accounting-on or accounting-off; got ${quotedExcerpt(get('event'), 40)}` });
      continue;
    }
    const addresses: RadiusPrefix[] = [];
    let badAddress: string | null = null;
    for (const a of get('address').split(/\s+/).filter(Boolean)) {
      const p = readPrefix(a);
      if (!p.ok) badAddress = `address: expected ${p.expected} (several separated by spaces); got ${quotedExcerpt(a, 60)}`;
      else {
        // As for routed networks in detail files: a prefix this short would take every address around it.
        const min = minRouteBits(p.value[0].kind() === 'ipv6');
        if (p.value[1] < min) badAddress = `address: ${quotedExcerpt(a, 60)} is shorter than /${min}, no subscriber's network; expected an address or a prefix of /${min} or longer`;
        else addresses.push(radiusPrefix(a, p.value[0], p.value[1]));
      }
    }
    if (badAddress) {
      out.errors.push({ line: n, message: badAddress });
      continue;
    }
    const account = get('account');
    if (account.length > MAX_ACCOUNT) {
      out.errors.push({ line: n, message: `account longer than ${MAX_ACCOUNT} characters` });
      continue;
    }
    const e: RadiusEvent = { kind, time: t.value, account: account || null, session: get('session') || null, nas: get('nas') || null, addresses, sessionTime: null, file, line: n, timeFrom: 'time' };
    const problem = eventProblem(e);
    if (problem === 'skip') {
      const why = kind === 'accounting-on' || kind === 'accounting-off' ? `an ${kind} row needs the nas column` : `a ${kind} row needs an address${kind === 'stop' ? ' or a session' : ''}`;
      out.errors.push({ line: n, message: why });
    } else if (problem) out.errors.push({ line: n, message: problem });
    else out.events.push(e);
  }
  return out;
}

/** One place a session's life begins or ends: the record, and what it was. */
export interface RadiusMark {
  file: string;
  line: number;
  /** `Start`, `Interim-Update`, `Stop`, `next Start for the address`, `Accounting-On` … */
  what: string;
  time: number;
}

/** An address or prefix of a session, and since when (ms): an Interim-Update may name one the Start did not. */
export interface HeldPrefix extends RadiusPrefix {
  since: number;
}

/** An account holding addresses from `start` to `end` (ms; half-open; `end` Infinity while open). */
export interface RadiusSession {
  account: string;
  session: string | null;
  nas: string | null;
  prefixes: HeldPrefix[];
  start: number;
  end: number;
  opened: RadiusMark;
  closed: RadiusMark | null;
}

/**
 * Turn accounting events (of every file at once, so a Start in one rotated file pairs with its Stop
 * in the next) into sessions. Records of one session are paired by NAS and Acct-Session-Id (by
 * account and first address when there is no session id). A Start opens a session (a session with
 * the same id still open is ended there); an Interim-Update extends its session or, alone, opens one
 * at its time and adds any address it names; a Stop ends it (alone, with Acct-Session-Time, it is a
 * session of that length; without, it maps nothing and is counted). A session that takes an address
 * ends the open session that held it; an Accounting-On or -Off ends every open session of its NAS.
 */
export function radiusSessionsFromEvents(events: readonly RadiusEvent[]): { sessions: RadiusSession[]; unpaired: number } {
  const order = new Map<RadiusEvent, number>();
  events.forEach((e, k) => order.set(e, k));
  const sorted = [...events].sort((a, b) => a.time - b.time || order.get(a)! - order.get(b)!);
  const sessions: RadiusSession[] = [];
  const byKey = new Map<string, RadiusSession>();
  const byAddress = new Map<string, RadiusSession>();
  let unpaired = 0;
  const keyOf = (e: RadiusEvent): string => (e.session !== null ? `s|${e.nas ?? ''}|${e.session}` : `a|${e.account ?? ''}|${e.addresses[0] ? e.addresses[0].key : ''}`);
  const mark = (e: RadiusEvent, what: string): RadiusMark => ({ file: e.file, line: e.line, what, time: e.time });
  const close = (s: RadiusSession, m: RadiusMark): void => {
    if (s.closed) return;
    s.end = Math.max(s.start, m.time);
    s.closed = m;
    for (const p of s.prefixes) if (byAddress.get(p.key) === s) byAddress.delete(p.key);
  };
  const claim = (s: RadiusSession, e: RadiusEvent): void => {
    for (const p of e.addresses) {
      const k = p.key;
      if (!s.prefixes.some((q) => q.key === k)) s.prefixes.push({ ...p, since: e.time });
      const holder = byAddress.get(k);
      if (holder && holder !== s) close(holder, mark(e, `next ${statusName(e.kind)} for ${p.text} (${e.account ?? '?'})`));
      byAddress.set(k, s);
    }
  };
  for (const e of sorted) {
    if (e.kind === 'accounting-on' || e.kind === 'accounting-off') {
      for (const [k, s] of byKey) {
        if (s.nas !== e.nas) continue;
        close(s, mark(e, `${statusName(e.kind)} of NAS ${e.nas}`));
        byKey.delete(k);
      }
      continue;
    }
    const key = keyOf(e);
    let s = byKey.get(key);
    if (e.kind === 'start' && s) {
      close(s, mark(e, 'Start of the same session id again'));
      s = undefined;
    }
    if (e.kind === 'stop') {
      if (s) {
        // A Stop may name addresses the session had not: added, but they take nothing from a later holder.
        for (const p of e.addresses) if (!s.prefixes.some((q) => q.key === p.key)) s.prefixes.push({ ...p, since: e.time });
        close(s, mark(e, 'Stop'));
        byKey.delete(key);
      } else if (e.sessionTime !== null && e.addresses.length && e.account) {
        sessions.push({ account: e.account, session: e.session, nas: e.nas, prefixes: e.addresses.map((p) => ({ ...p, since: e.time - e.sessionTime! * 1000 })), start: e.time - e.sessionTime * 1000, end: e.time, opened: mark(e, `Stop with Acct-Session-Time ${e.sessionTime} s`), closed: mark(e, 'Stop') });
      } else unpaired++;
      continue;
    }
    // An Interim-Update of a session whose address another has taken since does not take it back.
    if (s?.closed) continue;
    if (!s) {
      s = { account: e.account!, session: e.session, nas: e.nas, prefixes: [], start: e.time, end: Infinity, opened: mark(e, statusName(e.kind)), closed: null };
      sessions.push(s);
      byKey.set(key, s);
    }
    claim(s, e);
  }
  return { sessions, unpaired };
}

function statusName(k: RadiusEventKind): string {
  return k === 'start' ? 'Start' : k === 'interim' ? 'Interim-Update' : k === 'stop' ? 'Stop' : k === 'accounting-on' ? 'Accounting-On' : 'Accounting-Off';
}

/** The network of an address at a prefix length: a number for IPv4 (no allocation per lookup), the masked bytes for IPv6. */
function netKey(a: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string | number {
  if (a.kind() === 'ipv4') return (ipv4ToInt(a.toString()) & IPV4_MASKS[bits]!) >>> 0;
  return ipv6NetKey(a as ipaddr.IPv6, bits);
}

/** What {@link RadiusIndex.lookup} found for an address at a time; null when no session ever held it. */
export type RadiusResult =
  | { status: 'mapped'; session: RadiusSession; prefix: HeldPrefix; how: string }
  | { status: 'ambiguous'; how: string }
  | { status: 'missing'; how: string }
  | null;

interface Held {
  session: RadiusSession;
  prefix: HeldPrefix;
  /** When the session began to hold the prefix. */
  from: number;
}

const EMPTY = new Float64Array(0);

interface Group {
  bits: number;
  map: Map<string | number, { held: Held[]; maxEnd: Float64Array }>;
}

/** Sessions indexed by address or prefix: who held an address at a time (longest prefix first). */
export class RadiusIndex {
  private readonly v4: Group[] = [];
  private readonly v6: Group[] = [];
  readonly sessions: number;

  constructor(sessions: readonly RadiusSession[]) {
    this.sessions = sessions.length;
    for (const s of sessions) {
      for (const p of s.prefixes) {
        const groups = p.addr.kind() === 'ipv4' ? this.v4 : this.v6;
        let g = groups.find((x) => x.bits === p.bits);
        if (!g) {
          groups.push((g = { bits: p.bits, map: new Map() }));
          groups.sort((x, y) => y.bits - x.bits);
        }
        let l = g.map.get(p.net);
        if (!l) g.map.set(p.net, (l = { held: [], maxEnd: EMPTY }));
        l.held.push({ session: s, prefix: p, from: Math.max(s.start, p.since) });
      }
    }
    for (const g of [...this.v4, ...this.v6]) {
      for (const l of g.map.values()) {
        if (l.held.length > 1) l.held.sort((x, y) => x.from - y.from);
        // Latest end among the sessions up to each one: the backward scan stops where nothing earlier reaches the time.
        l.maxEnd = new Float64Array(l.held.length);
        let m = -Infinity;
        for (let k = 0; k < l.held.length; k++) l.maxEnd[k] = m = Math.max(m, l.held[k]!.session.end);
      }
    }
  }

  get empty(): boolean {
    return this.sessions === 0;
  }

  /**
   * The account that held an address (flow text: dotted IPv4 or IPv6) at a time (ms): the session
   * of the longest prefix holding it then; `ambiguous` when two accounts did; `missing` when
   * sessions held it but none then; null when none ever did. When no session held it then, one that
   * began at most {@link LOG_CLOCK_ALLOWANCE_MS} (5 s) after that time, or ended at most that long
   * before it, is taken (the accounting server's clock and the exporter's differ by seconds), and
   * says so; two such sessions of different accounts are `ambiguous`.
   */
  lookup(ip: string, time: number): RadiusResult {
    const exact = this.lookupAt(ip, time);
    if (exact === null || exact.status !== 'missing') return exact;
    const a = LOG_CLOCK_ALLOWANCE_MS;
    // Held a little later: the session began in (time, time + a]; held a little earlier: it ended in (time - a, time].
    const later = this.lookupAt(ip, time + a);
    const earlier = this.lookupAt(ip, time - a);
    const near = [later, earlier].filter((r): r is Extract<RadiusResult, { status: 'mapped' }> => r !== null && r.status === 'mapped');
    if (!near.length) return exact;
    if (near.length === 2 && near[0]!.session.account !== near[1]!.session.account)
      return { status: 'ambiguous', how: `${ip} at ${iso(time)} held by no account; within ${a / 1000} s of it by 2: ${near[0]!.how}; ${near[1]!.how}` };
    const r = near[0]!;
    const gap = r === later ? Math.max(r.session.start, r.prefix.since) - time : time - r.session.end;
    const side = r === later ? `${gap / 1000} s before the session began` : `${gap / 1000} s after it ended`;
    return { ...r, how: `${r.how} (the flow began ${side}: within the ${a / 1000} s allowed for the clocks of the accounting server and the exporter)` };
  }

  private lookupAt(ip: string, time: number): RadiusResult {
    let groups: Group[];
    let keyOf: (bits: number) => string | number;
    const n = ipv4ToInt(ip);
    if (n >= 0) {
      groups = this.v4;
      keyOf = (bits) => (n & IPV4_MASKS[bits]!) >>> 0;
    } else {
      if (!this.v6.length) return null;
      const b = V6_BYTES;
      const fast = parseLookupV6(ip, b);
      if (fast === 0) return this.lookupAt(mappedIpv4Text(b), time);
      groups = this.v6;
      if (fast === 1) keyOf = (bits) => ipv6BytesKey(b, bits);
      else {
        const a = parseLookupAddress(ip);
        if (a === null) return null;
        if (a.kind() === 'ipv4') return this.lookupAt(a.toString(), time);
        const addr = a;
        keyOf = (bits) => netKey(addr, bits);
      }
    }
    let known = 0;
    for (const g of groups) {
      const list = g.map.get(keyOf(g.bits));
      if (!list) continue;
      known += list.held.length;
      const { held, maxEnd } = list;
      const hi = lastAtMost(held, fromOf, time);
      let found: Held | null = null;
      for (let r = hi; r >= 0 && maxEnd[r]! > time; r--) {
        const h = held[r]!;
        if (h.session.end <= time) continue;
        if (!found) found = h;
        else if (h.session.account !== found.session.account) {
          return { status: 'ambiguous', how: `${ip} at ${iso(time)} held by 2 accounts: ${describeRadiusSession(found.session, found.prefix)}; ${describeRadiusSession(h.session, h.prefix)}` };
        }
      }
      if (found) return { status: 'mapped', session: found.session, prefix: found.prefix, how: describeRadiusSession(found.session, found.prefix) };
    }
    return known ? { status: 'missing', how: `no session held ${ip} at ${iso(time)} (${known} session(s) held it at other times)` } : null;
  }
}

function iso(t: number): string {
  return Number.isFinite(t) ? new Date(t).toISOString().replace('.000Z', 'Z') : String(t);
}

/**
 * The session as evidence: account, session id, the address or prefix, and where it began and
 * ended (file:line, what, time), e.g.
 * `alice (session 4F2A0001) held 100.64.7.9 from detail:1 Start 2026-12-05T08:00:00Z to detail:40 Stop 2026-12-05T09:00:00Z`.
 */
export function describeRadiusSession(s: RadiusSession, p: HeldPrefix): string {
  const end = s.closed ? `to ${s.closed.file}:${s.closed.line} ${s.closed.what} ${iso(s.end)}` : 'still open (no Stop)';
  return `${inertJson(s.account)}${s.session !== null ? ` (session ${inertJson(s.session)})` : ''} held ${p.text}${p.since > s.start ? ` (named from ${iso(p.since)})` : ''} from ${s.opened.file}:${s.opened.line} ${s.opened.what} ${iso(s.start)} ${end}`;
}
