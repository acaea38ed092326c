/**
 * Carrier-grade NAT: map a public (address, port, time) back to the private subscriber address,
 * from NAT logs (port-block or session records) or from a deterministic NAT formula (RFC 7422) with
 * no logs. Lookups are logarithmic: per public address, port blocks sorted by first port, and each
 * block's assignments sorted by start time. A mapping that is missing or ambiguous is reported as
 * such and the flow stays on the public address.
 */
import ipaddr from '../ipaddr.js';
import { canonicalAddress, ipv4ToInt } from '../ip.js';
import { readAddress, readPort, readTime } from '../io/csv.js';
import { quotedExcerpt } from '../report/format.js';
import { columnsByName, headedCsvRows, widthError } from '../io/headed-csv.js';
import { lastAtMost } from '../search.js';

const portStartOf = (b: { portStart: number }): number => b.portStart;
const startOf = (r: { start: number }): number => r.start;

export interface NatRecord {
  start: number;
  /** Infinity when the assignment is still open. */
  end: number;
  privateIp: string;
  publicIp: string;
  portStart: number;
  portEnd: number;
  line: number;
  /** Where the record came from when not a NAT log line, e.g. `IPFIX NAT event 12 from 192.0.2.1`. */
  source?: string;
}

export type NatResult =
  | { status: 'mapped'; privateIp: string; how: string }
  | { status: 'missing'; how: string }
  | { status: 'ambiguous'; how: string }
  | null;

export interface NatError {
  line: number;
  message: string;
}

/** Parse a NAT log CSV: `start,end,private_ip,public_ip,port_start,port_end` (header names, any order). */
export function parseNatLog(text: string): { records: NatRecord[]; errors: NatError[] } {
  const records: NatRecord[] = [];
  const errors: NatError[] = [];
  const columns = (names: string[]): Map<string, number> | string => {
    const need = ['start', 'private_ip', 'public_ip', 'port_start', 'port_end'];
    const missing = need.filter((x) => !names.includes(x));
    return missing.length ? `header lacks ${missing.join(', ')}; expected start,end,private_ip,public_ip,port_start,port_end` : columnsByName(names);
  };
  const empty = 'empty file: expected a header start,end,private_ip,public_ip,port_start,port_end';
  for (const row of headedCsvRows(text, columns, empty, errors)) {
    const { line: n, get } = row;
    // A short or long row would be read with its columns shifted (a port as an address).
    const width = widthError(row);
    if (width) {
      errors.push(width);
      continue;
    }
    // Times: ISO 8601 (UTC unless it carries an offset) or epoch seconds; an empty end is an open assignment.
    const start = readTime(get('start'), { epochSeconds: true });
    const endText = get('end');
    const end = endText === '' ? ({ ok: true, value: Infinity } as const) : readTime(endText, { epochSeconds: true });
    if (!start.ok || !end.ok || end.value < start.value) {
      const what = start.ok ? (end.ok ? 'times' : end.expected) : start.expected;
      errors.push({ line: n, message: `expected start (and end, or empty for open) as ${what}, end not before start; got ${quotedExcerpt(get('start'))}, ${quotedExcerpt(endText)}` });
      continue;
    }
    const priv = get('private_ip');
    const pub = get('public_ip');
    const privAddr = readAddress(priv);
    const wrong = privAddr.ok ? readAddress(pub) : privAddr;
    if (!wrong.ok) {
      errors.push({ line: n, message: `expected IP addresses in private_ip and public_ip, each ${wrong.expected}; got ${quotedExcerpt(priv)}, ${quotedExcerpt(pub)}` });
      continue;
    }
    const ps = readPort(get('port_start'));
    const pe = readPort(get('port_end'));
    if (!ps.ok || !pe.ok || pe.value < ps.value) {
      errors.push({ line: n, message: `expected port_start <= port_end within 0-65535, got ${quotedExcerpt(get('port_start'))}, ${quotedExcerpt(get('port_end'))}` });
      continue;
    }
    // One text per host, as every path writes it (an IPv4-mapped IPv6 address as its IPv4 address).
    records.push({ start: start.value, end: end.value, privateIp: canonicalAddress(priv)!, publicIp: canonicalAddress(pub)!, portStart: ps.value, portEnd: pe.value, line: n });
  }
  return { records, errors };
}

interface Block {
  portStart: number;
  portEnd: number;
  /** Assignments of this block, sorted by start. */
  recs: NatRecord[];
}

/** Deterministic NAT (RFC 7422): private range ↔ public range with fixed port blocks. */
interface Formula {
  text: string;
  privBase: number;
  privSize: number;
  pubBase: number;
  pubSize: number;
  first: number;
  last: number;
  perSubscriber: number;
  blocksPerPublic: number;
}

/** `100.64.0.0/16=203.0.113.0/24:1024-65535/2016` */
export function parseDeterministic(spec: string): Formula | string {
  const m = /^([\d.]+\/\d+)=([\d.]+\/\d+):(\d+)-(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) return `expected PRIVATE_CIDR=PUBLIC_CIDR:FIRST_PORT-LAST_PORT/PORTS_PER_SUBSCRIBER, e.g. 100.64.0.0/16=203.0.113.0/24:1024-65535/2016; got ${quotedExcerpt(spec)}`;
  try {
    const [pa, pb] = ipaddr.IPv4.parseCIDR(m[1]!);
    const [qa, qb] = ipaddr.IPv4.parseCIDR(m[2]!);
    // Four decimal parts (ipaddr.js would read `10/8` as 0.0.0.10/8), and a network address: the
    // blocks are counted from it, so 100.64.0.5/16 would map to addresses outside the range.
    for (const [text, a, bits] of [[m[1]!, pa, pb], [m[2]!, qa, qb]] as const) {
      if (!ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0]!)) return `expected IPv4 CIDRs with four decimal parts in ${quotedExcerpt(spec)}; got ${text}`;
      if ((ipv4ToInt(a.toString()) >>> 0) % 2 ** (32 - bits) !== 0) return `${text} has host bits set: expected its network address, ${ipaddr.IPv4.networkAddressFromCIDR(text).toString()}/${bits}`;
    }
    const first = Number(m[3]);
    const last = Number(m[4]);
    const per = Number(m[5]);
    if (first < 1 || last > 65535 || last < first || per < 1 || per > last - first + 1) return `ports: expected 1 <= FIRST <= LAST <= 65535 and 1 <= PORTS_PER_SUBSCRIBER <= LAST-FIRST+1 in ${quotedExcerpt(spec)}`;
    const blocksPerPublic = Math.floor((last - first + 1) / per);
    const privSize = 2 ** (32 - pb);
    const pubSize = 2 ** (32 - qb);
    if (privSize > pubSize * blocksPerPublic) return `${m[1]} has ${privSize} addresses but ${m[2]} × ${blocksPerPublic} port blocks holds only ${pubSize * blocksPerPublic}`;
    return { text: spec, privBase: ipv4ToInt(pa.toString()) >>> 0, privSize, pubBase: ipv4ToInt(qa.toString()) >>> 0, pubSize, first, last, perSubscriber: per, blocksPerPublic };
  } catch {
    return `expected IPv4 CIDRs in ${quotedExcerpt(spec)}`;
  }
}

function v4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export class NatMapper {
  private readonly byPublic = new Map<string, Block[]>();
  /** Widest block per public address: how far back a covering block can start. */
  private readonly maxSpan = new Map<string, number>();
  private readonly formulas: Formula[] = [];
  records = 0;

  addRecords(recs: readonly NatRecord[]): void {
    // Blocks by (public address, first port, last port) while loading: one hash lookup per record.
    const index = new Map<string, Block>();
    for (const blocks of this.byPublic.values()) for (const b of blocks) index.set(`${b.recs[0]!.publicIp}|${b.portStart}|${b.portEnd}`, b);
    for (const r of recs) {
      let blocks = this.byPublic.get(r.publicIp);
      if (!blocks) this.byPublic.set(r.publicIp, (blocks = []));
      const key = `${r.publicIp}|${r.portStart}|${r.portEnd}`;
      let b = index.get(key);
      if (!b) {
        blocks.push((b = { portStart: r.portStart, portEnd: r.portEnd, recs: [] }));
        index.set(key, b);
      }
      b.recs.push(r);
      this.maxSpan.set(r.publicIp, Math.max(this.maxSpan.get(r.publicIp) ?? 0, r.portEnd - r.portStart));
      this.records++;
    }
    for (const blocks of this.byPublic.values()) {
      blocks.sort((a, b) => a.portStart - b.portStart || a.portEnd - b.portEnd);
      for (const b of blocks) b.recs.sort((a, c) => a.start - c.start);
    }
  }

  addFormula(f: Formula): void {
    this.formulas.push(f);
  }

  get empty(): boolean {
    return this.byPublic.size === 0 && this.formulas.length === 0;
  }

  /** Is this address a NAT public address we know of (so its flows must be mapped)? */
  isPublic(ip: string): boolean {
    if (this.byPublic.has(ip)) return true;
    const n = ipv4ToInt(ip);
    return n >= 0 && this.formulas.some((f) => n - f.pubBase >= 0 && n - f.pubBase < f.pubSize);
  }

  /** Map (public address, port, time ms); null when the address is not a known NAT public address. */
  map(ip: string, port: number, time: number): NatResult {
    const n = ipv4ToInt(ip);
    for (const f of this.formulas) {
      const j = n - f.pubBase;
      if (n < 0 || j < 0 || j >= f.pubSize) continue;
      if (port < f.first || port > f.last) return { status: 'missing', how: `port ${port} outside ${f.first}-${f.last} of ${f.text}` };
      const k = Math.floor((port - f.first) / f.perSubscriber);
      if (k >= f.blocksPerPublic) return { status: 'missing', how: `port ${port} beyond the last whole block of ${f.text}` };
      const i = j * f.blocksPerPublic + k;
      if (i >= f.privSize) return { status: 'missing', how: `no private address for block ${k} of ${ip} in ${f.text}` };
      return { status: 'mapped', privateIp: v4(f.privBase + i), how: `deterministic NAT ${f.text}` };
    }
    const blocks = this.byPublic.get(ip);
    if (!blocks) return null;
    // Last block whose first port is <= port; blocks of other sizes may start earlier and still cover it.
    const hi = lastAtMost(blocks, portStartOf, port);
    // The matching assignment, and whether another private address matches too (ambiguity).
    let found: NatRecord | null = null;
    let other: NatRecord | null = null;
    const span = this.maxSpan.get(ip) ?? 0;
    for (let b = hi; b >= 0 && other === null; b--) {
      const blk = blocks[b]!;
      // Blocks further back start too early to reach the port (bounded by the widest block).
      if (port - blk.portStart > span) break;
      if (blk.portEnd < port) continue;
      const recs = blk.recs;
      // Last assignment that started at or before the time.
      const h = lastAtMost(recs, startOf, time);
      for (let r = h; r >= 0 && other === null; r--) {
        const rec = recs[r]!;
        if (rec.end < time) break;
        if (found === null) found = rec;
        else if (rec.privateIp !== found.privateIp) other = rec;
      }
    }
    if (found === null) return { status: 'missing', how: `no NAT record for ${ip}:${port} at ${new Date(time).toISOString()}` };
    const name = (r: NatRecord): string => r.source ?? `NAT log line ${r.line}`;
    if (other !== null) {
      const which = found.source === undefined && other.source === undefined ? `lines ${found.line}, ${other.line}` : `${name(found)}; ${name(other)}`;
      return { status: 'ambiguous', how: `2 NAT records for ${ip}:${port} at ${new Date(time).toISOString()} (${which})` };
    }
    return { status: 'mapped', privateIp: found.privateIp, how: `${name(found)}: ${found.privateIp} → ${ip}:${found.portStart}-${found.portEnd}` };
  }
}

/**
 * One NAT event as a router exports it in IPFIX or NetFlow v9 (RFC 8158): the private source, its
 * post-NAT public address, and either one translated port (sessions, BIB entries) or a port block.
 */
export interface NatEvent {
  /** Event time (ms): observationTimeMilliseconds, else the record's flow times, else the export time. */
  time: number;
  /** natEvent (IE 230); null in a flow record that merely carries post-NAT fields. */
  event: number | null;
  privateIp: string;
  privatePort: number;
  publicIp: string;
  publicPort: number | null;
  portRangeStart: number | null;
  portRangeEnd: number | null;
  /** For a flow record with post-NAT fields: its end time (ms). */
  lastMs: number;
  /** The session's remote end (`address#port`) when the record names it: sessions to different ends may share a mapping. */
  remote: string | null;
  exporter: string;
  ordinal: number;
}

/** natEvent values (IANA "NAT Event Type"; RFC 8158 §4): what opens and what closes an assignment. */
// Address bindings (14/15) are not used: with paired pooling every subscriber of a public address
// has one, so they say nothing about a port, and taking them as 0-65535 would make every lookup on
// that address ambiguous.
const NAT_OPEN: Record<number, 'session' | 'block'> = { 1: 'session', 4: 'session', 6: 'session', 8: 'session', 10: 'session', 16: 'block' };
const NAT_CLOSE: Record<number, 'session' | 'block'> = { 2: 'session', 5: 'session', 7: 'session', 9: 'session', 11: 'session', 17: 'block' };

/** Does this natEvent close an assignment (session, BIB or port-block delete, address-binding delete)? */
export function isNatClose(event: number): boolean {
  return NAT_CLOSE[event] !== undefined || event === 15;
}

/**
 * Turn NAT events into assignments for {@link NatMapper}: a create/allocation opens one, the matching
 * delete/de-allocation closes it (still open at the end: open-ended); a close without an open covers
 * the time from the first event on; a flow record carrying post-NAT fields is a session for its own
 * span. Sessions are keyed with their remote end when the record names it (endpoint-independent
 * mapping reuses one public port for several). Pass the events of all files at once, so a create
 * in one rotated file and its delete in the next pair up.
 * Other events (address bindings, addresses or ports exhausted, quota, threshold) and records whose post-NAT fields
 * repeat the original address and port (no translation) map nothing and are counted.
 */
export function natRecordsFromEvents(events: readonly NatEvent[]): { records: NatRecord[]; ignored: number } {
  const sorted = [...events].sort((a, b) => a.time - b.time || a.ordinal - b.ordinal);
  const since = sorted.length ? sorted[0]!.time : 0;
  const open = new Map<string, NatRecord>();
  const records: NatRecord[] = [];
  let ignored = 0;
  const where = (e: NatEvent): string => `NAT export record #${e.ordinal} (${e.event === null ? 'post-NAT fields' : `natEvent ${e.event}`}) from ${e.exporter}`;
  for (const e of sorted) {
    // No translation (exporters fill post-NAT fields with the original) or no public address: nothing to map.
    if ((e.publicIp === e.privateIp && (e.publicPort === null || e.publicPort === e.privatePort)) || e.publicIp === '0.0.0.0' || e.publicIp === '::') {
      ignored++;
      continue;
    }
    let kind: 'session' | 'block' | null = null;
    let closing = false;
    if (e.event === null) kind = 'session';
    else if (NAT_OPEN[e.event]) kind = NAT_OPEN[e.event]!;
    else if (NAT_CLOSE[e.event]) {
      kind = NAT_CLOSE[e.event]!;
      closing = true;
    }
    let lo: number | null;
    let hi: number | null;
    if (kind === 'block') {
      lo = e.portRangeStart;
      hi = e.portRangeEnd;
    } else {
      lo = hi = e.publicPort;
    }
    if (kind === null || lo === null || hi === null || lo > hi || hi > 65535) {
      ignored++;
      continue;
    }
    if (e.event === null) {
      records.push({ start: e.time, end: Math.max(e.time, e.lastMs), privateIp: e.privateIp, publicIp: e.publicIp, portStart: lo, portEnd: hi, line: e.ordinal, source: where(e) });
      continue;
    }
    const key = `${kind}|${e.privateIp}|${kind === 'session' ? `${e.privatePort}|${e.remote ?? ''}` : ''}|${e.publicIp}|${lo}|${hi}`;
    const cur = open.get(key);
    if (!closing) {
      // A repeated create (exporters resend) keeps the first.
      if (cur) continue;
      const r: NatRecord = { start: e.time, end: Infinity, privateIp: e.privateIp, publicIp: e.publicIp, portStart: lo, portEnd: hi, line: e.ordinal, source: where(e) };
      open.set(key, r);
      records.push(r);
    } else if (cur) {
      cur.end = e.time;
      open.delete(key);
    } else {
      // Opened before the events begin: known only from the first event on.
      records.push({ start: Math.min(since, e.time), end: e.time, privateIp: e.privateIp, publicIp: e.publicIp, portStart: lo, portEnd: hi, line: e.ordinal, source: where(e) });
    }
  }
  return { records, ignored };
}
