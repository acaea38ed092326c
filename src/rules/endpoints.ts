/**
 * Known endpoints (`rules/endpoints/*.yaml`): pool domains (exact or suffix), IP:port, IPs and CIDRs,
 * each with pool, coins, ports, source and date; and an index that answers per flow in time
 * independent of the list size (hash lookups per domain label and per prefix length).
 */
import ipaddr from '../ipaddr.js';
import { ADDRESS_FORMS, canonicalAddress, ipv4ToInt } from '../ip.js';
import { readCidr } from '../io/csv.js';
import { ipv6BytesKey, parseLookupV6 } from '../aggregate/netkey.js';
import { asList, COIN_RE, dateText, isDay, isObj, type FileContext } from './yamlfile.js';
import type { EndpointEntry, EndpointKind } from './schema.js';
import { lastAtMost } from '../search.js';

const itself = (x: number): number => x;

const KINDS: readonly EndpointKind[] = ['pool', 'browser-mining', 'proxy', 'exclude'];
const ENTRY_KEYS = new Set(['domain', 'suffix', 'ip', 'cidr', 'port', 'pool', 'coins', 'ports', 'kind', 'source', 'added', 'reference']);
const HOST_RE = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

export function compileEndpointFile(ctx: FileContext, root: Record<string, unknown>): { good: EndpointEntry[]; bad: number } {
  for (const k of Object.keys(root)) if (!['source', 'added', 'kind', 'entries', 'description', 'dates', 'subdomains'].includes(k)) ctx.err([k], k, 'unknown field; expected source, added, kind, dates, subdomains, entries');
  const dates = root.dates === undefined ? 'observed' : root.dates;
  if (dates !== 'observed' && dates !== 'listed') ctx.err(['dates'], 'dates', 'expected observed (each added date is when the fact was seen true) or listed (only when the list was taken)');
  const subdomains = root.subdomains === undefined ? false : root.subdomains;
  if (typeof subdomains !== 'boolean') ctx.err(['subdomains'], 'subdomains', 'expected true (a domain entry also covers its subdomains, as block lists mean it) or false');
  const source = root.source;
  const added = dateText(root.added);
  if (typeof source !== 'string' || !source) ctx.err(['source'], 'source', 'expected the list\'s provenance, e.g. source: "maltrail crypto_mining.txt @ 8adace15 (MIT)"');
  if (!isDay(added)) ctx.err(['added'], 'added', 'expected a date YYYY-MM-DD');
  const fileKind = root.kind === undefined ? 'pool' : root.kind;
  if (!KINDS.includes(fileKind as EndpointKind)) ctx.err(['kind'], 'kind', `expected one of ${KINDS.join(', ')}`);
  if (!Array.isArray(root.entries)) {
    ctx.err(['entries'], 'entries', 'expected a list, e.g. entries: [ { suffix: nanopool.org, pool: nanopool, coins: [XMR] } ]');
    return { good: [], bad: 0 };
  }
  if (ctx.errors.length) return { good: [], bad: 0 };
  const good: EndpointEntry[] = [];
  let bad = 0;
  (root.entries as unknown[]).forEach((e, i) => {
    const before = ctx.errors.length;
    const at = (...p: (string | number)[]): (string | number)[] => ['entries', i, ...p];
    const f = (k: string): string => `entries[${i}].${k}`;
    if (!isObj(e)) {
      ctx.err(at(), `entries[${i}]`, 'expected a mapping with one of domain, suffix, ip, cidr and a pool');
      bad++;
      return;
    }
    for (const k of Object.keys(e)) if (!ENTRY_KEYS.has(k)) ctx.err(at(k), f(k), `unknown field; expected one of ${[...ENTRY_KEYS].join(', ')}`);
    const keys = ['domain', 'suffix', 'ip', 'cidr'].filter((k) => e[k] !== undefined);
    let match: EndpointEntry['match'] | null = null;
    if (keys.length !== 1) ctx.err(at(), `entries[${i}]`, `expected exactly one of domain, suffix, ip, cidr (got ${keys.length ? keys.join(', ') : 'none'})`);
    else {
      const k = keys[0]!;
      const v = e[k];
      if (k === 'domain' || k === 'suffix') {
        const name = typeof v === 'string' ? v.toLowerCase().replace(/\.$/, '') : '';
        if (!HOST_RE.test(name)) ctx.err(at(k), f(k), `expected a host name like pool.example.org, got ${JSON.stringify(v)}`);
        else match = k === 'domain' ? { domain: name } : { suffix: name };
      } else if (k === 'ip') {
        const ip = typeof v === 'string' ? canonicalAddress(v) : null;
        if (ip === null) ctx.err(at(k), f(k), `expected ${ADDRESS_FORMS}, got ${JSON.stringify(v)}`);
        else {
          const port = e.port;
          if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)) ctx.err(at('port'), f('port'), 'expected a port number 1-65535');
          match = { ip, port: (port as number | undefined) ?? null };
        }
      } else {
        const net = typeof v === 'string' ? readCidr(v) : null;
        if (net !== null) match = { cidr: `${net[0].toString()}/${net[1]}` };
        else ctx.err(at(k), f(k), `expected a CIDR like 203.0.113.0/24 or 2001:db8::/32 (the address: ${ADDRESS_FORMS}), got ${JSON.stringify(v)}`);
      }
    }
    if (e.port !== undefined && keys[0] !== 'ip') ctx.err(at('port'), f('port'), 'port goes with ip only (an IP:port entry); documented ports go in ports: [...]');
    if (typeof e.pool !== 'string' || !e.pool) ctx.err(at('pool'), f('pool'), 'expected the pool or operator name ("unknown" when the source does not say)');
    const coins = asList(e.coins);
    if (!coins.every((c) => typeof c === 'string' && COIN_RE.test(c))) ctx.err(at('coins'), f('coins'), 'expected tickers like [XMR, BTC]');
    const ports = asList(e.ports);
    if (!ports.every((p) => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536)) ctx.err(at('ports'), f('ports'), 'expected port numbers');
    const kind = e.kind === undefined ? fileKind : e.kind;
    if (!KINDS.includes(kind as EndpointKind)) ctx.err(at('kind'), f('kind'), `expected one of ${KINDS.join(', ')}`);
    const eAdded = e.added === undefined ? added : dateText(e.added);
    if (!isDay(eAdded)) ctx.err(at('added'), f('added'), 'expected a date YYYY-MM-DD');
    if (e.source !== undefined && typeof e.source !== 'string') ctx.err(at('source'), f('source'), 'expected text');
    if (e.reference !== undefined && typeof e.reference !== 'string') ctx.err(at('reference'), f('reference'), 'expected a URL');
    if (ctx.errors.length > before || !match) {
      bad++;
      return;
    }
    good.push({
      match,
      pool: e.pool as string,
      coins: coins as string[],
      ports: ports as number[],
      kind: kind as EndpointKind,
      source: (e.source as string | undefined) ?? (source as string),
      added: eAdded as string,
      reference: (e.reference as string | undefined) ?? null,
      dates: dates as EndpointEntry['dates'],
      subdomains: subdomains === true,
      origin: { file: ctx.file, line: ctx.line(at()) },
    });
  });
  return { good, bad };
}

/** How an address matched. */
export interface AddressHit {
  entry: EndpointEntry;
  how: 'ip:port' | 'ip' | 'cidr';
}

/** Lookups over the endpoint entries. */
export class EndpointIndex {
  private readonly exact = new Map<string, EndpointEntry>();
  private readonly suffix = new Map<string, EndpointEntry>();
  /** Domain entries of block lists (`subdomains: true`): they cover the names below them too. */
  private readonly below = new Map<string, EndpointEntry>();
  /**
   * The fewest labels of any listed name or suffix, and the last that many labels of each: a name
   * whose own last labels are not among them matches no entry, which {@link domain} tells with one
   * lookup (nearly every name a resolver answers is not a pool's).
   */
  private tailLabels = Infinity;
  private readonly tails = new Set<string>();
  private readonly ipPort = new Map<string, EndpointEntry>();
  private readonly ip = new Map<string, EndpointEntry>();
  /** IPv6 networks: per prefix length, network text → entry; lengths longest first. */
  private readonly nets: Array<{ v6: boolean; bits: number; map: Map<string, EndpointEntry> }> = [];
  /** IPv4 networks: per prefix length, network number → entry (lookups without parsing or allocating). */
  private readonly nets4: Array<{ bits: number; map: Map<number, EndpointEntry> }> = [];
  /** IPv4 IP:port and IP entries keyed by number (address × 65536 + port, and address). */
  private readonly ipPort4 = new Map<number, EndpointEntry>();
  private readonly ip4 = new Map<number, EndpointEntry>();
  /** 1 for each /16 that some IPv4 entry (address, address:port or network) lies in or covers. */
  private readonly any16 = new Uint8Array(65536);
  private readonly excludeIp4 = new Set<number>();
  private readonly excludeIp = new Set<string>();
  private readonly excludeNets: Array<{ v6: boolean; bits: number; set: Set<string> }> = [];
  private readonly excludeNets4: Array<{ bits: number; set: Set<number> }> = [];
  /** 1 for each first 16-bit group of IPv6 that some IPv6 network or excluded network lies in or covers. */
  private readonly any6 = new Uint8Array(65536);
  /** An IPv6 address being looked up, as bytes (parsed without ipaddr's regular expressions). */
  private readonly v6 = new Uint8Array(16);
  /** The IPv4 exclusions merged into sorted, disjoint [start, end] ranges (binary search). */
  private excludeStarts = new Float64Array(0);
  private excludeEnds = new Float64Array(0);

  constructor(entries: readonly EndpointEntry[]) {
    for (const e of entries) {
      const m = e.match;
      if (e.kind === 'exclude') {
        if ('ip' in m) {
          this.excludeIp.add(m.ip);
          const n4 = ipv4ToInt(m.ip);
          if (n4 >= 0) this.excludeIp4.add(n4);
        }
        else if ('cidr' in m) {
          const [a, bits] = ipaddr.parseCIDR(m.cidr);
          if (a.kind() === 'ipv4') {
            let g = this.excludeNets4.find((x) => x.bits === bits);
            if (!g) this.excludeNets4.push((g = { bits, set: new Set() }));
            g.set.add(maskV4(ipv4ToInt(a.toString()), bits));
          } else {
            let g = this.excludeNets.find((x) => x.v6 && x.bits === bits);
            if (!g) this.excludeNets.push((g = { v6: true, bits, set: new Set() }));
            g.set.add(networkKey(a, bits));
            this.markV6(a, bits);
          }
        }
        continue;
      }
      if ('domain' in m) {
        first(this.exact, m.domain, e);
        // Block lists mean a name and everything below it; a curated exact entry stays exact.
        if (e.subdomains) first(this.below, m.domain, e);
      }
      else if ('suffix' in m) first(this.suffix, m.suffix, e);
      else if ('ip' in m) {
        if (m.port !== null) first(this.ipPort, `${m.ip}|${m.port}`, e);
        else first(this.ip, m.ip, e);
        const n4 = ipv4ToInt(m.ip);
        if (n4 >= 0) {
          if (m.port !== null) first(this.ipPort4, n4 * 65536 + m.port, e);
          else first(this.ip4, n4, e);
          this.any16[n4 >>> 16] = 1;
        }
      } else {
        const [a, bits] = ipaddr.parseCIDR(m.cidr);
        if (a.kind() === 'ipv4') {
          let g = this.nets4.find((x) => x.bits === bits);
          if (!g) this.nets4.push((g = { bits, map: new Map() }));
          const net = maskV4(ipv4ToInt(a.toString()), bits) >>> 0;
          first(g.map, maskV4(ipv4ToInt(a.toString()), bits), e);
          const span = bits >= 16 ? 1 : 2 ** (16 - bits);
          for (let i = 0; i < span; i++) this.any16[(net >>> 16) + i] = 1;
        } else {
          let g = this.nets.find((x) => x.bits === bits);
          if (!g) this.nets.push((g = { v6: true, bits, map: new Map() }));
          first(g.map, networkKey(a, bits), e);
          this.markV6(a, bits);
        }
      }
    }
    for (const names of [this.exact, this.suffix, this.below]) for (const n of names.keys()) this.tailLabels = Math.min(this.tailLabels, n.split('.').length);
    for (const names of [this.exact, this.suffix, this.below]) for (const n of names.keys()) this.tails.add(lastLabels(n, this.tailLabels)!);
    this.nets.sort((a, b) => b.bits - a.bits);
    this.nets4.sort((a, b) => b.bits - a.bits);
    this.excludeNets.sort((a, b) => b.bits - a.bits);
    this.excludeNets4.sort((a, b) => b.bits - a.bits);
    const ranges: Array<[number, number]> = [];
    for (const g of this.excludeNets4) for (const net of g.set) ranges.push([net >>> 0, (net >>> 0) + 2 ** (32 - g.bits) - 1]);
    for (const n of this.excludeIp4) ranges.push([n, n]);
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.excludeStarts = Float64Array.from(merged.map((r) => r[0]));
    this.excludeEnds = Float64Array.from(merged.map((r) => r[1]));
  }

  /** Mark the first 16-bit groups an IPv6 network covers in {@link any6}. */
  private markV6(a: ipaddr.IPv4 | ipaddr.IPv6, bits: number): void {
    const b = a.toByteArray();
    const group = ((b[0]! << 8) | b[1]!) & (bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff);
    const span = bits >= 16 ? 1 : 2 ** (16 - bits);
    for (let i = 0; i < span; i++) this.any6[group + i] = 1;
  }

  /**
   * Read an address that is not a dotted quad, once per lookup, for {@link inV6Nets}:
   * {@link parseLookupV6} into {@link v6} (1), an IPv4-mapped address (0: it matches no IPv6
   * network, as ipaddr.process makes it IPv4), or another form parsed by ipaddr into {@link parsed} (-1).
   */
  private readV6(ip: string): number {
    const r = parseLookupV6(ip, this.v6);
    this.parsed = r === -1 ? parse(ip) : null;
    return r;
  }

  /** What ipaddr made of the address {@link readV6} read last when the fast parser did not read it. */
  private parsed: ipaddr.IPv4 | ipaddr.IPv6 | null = null;

  /** The first of `groups` (IPv6 networks, longest first) that `get` finds the address read as `r` in. */
  private inV6Nets<G extends { v6: boolean; bits: number }, T>(r: number, groups: readonly G[], get: (g: G, key: string) => T | undefined): T | undefined {
    let key: (bits: number) => string;
    if (r === 1) {
      // No IPv6 network covers the address's first 16 bits: no key is made.
      if (this.any6[(this.v6[0]! << 8) | this.v6[1]!] !== 1) return undefined;
      key = (bits) => ipv6BytesKey(this.v6, bits);
    } else {
      const a = r === -1 ? this.parsed : null;
      if (a === null || a.kind() !== 'ipv6') return undefined;
      key = (bits) => networkKey(a, bits);
    }
    for (const g of groups) {
      if (!g.v6) continue;
      const x = get(g, key(g.bits));
      if (x !== undefined) return x;
    }
    return undefined;
  }

  get size(): number {
    return this.exact.size + this.suffix.size + this.ipPort.size + this.ip.size + this.nets.reduce((n, g) => n + g.map.size, 0) + this.nets4.reduce((n, g) => n + g.map.size, 0);
  }

  /**
   * The entry for a host name: the exact entry, else the longest matching suffix. An exact entry
   * from a list that does not name the pool gives way to a suffix entry that does (a curated pool
   * list knows more than a threat feed that only says "mining").
   */
  domain(name: string): EndpointEntry | null {
    let n = name.toLowerCase();
    if (n.endsWith('.')) n = n.slice(0, -1);
    // An entry that matches is the name itself or one of its suffixes, so it ends in the name's last labels.
    const tail = lastLabels(n, this.tailLabels);
    if (tail === null || !this.tails.has(tail)) return null;
    const e = this.exact.get(n);
    if (e && e.pool !== 'unknown') return e;
    let under: EndpointEntry | null = null;
    for (let i = -1; ; ) {
      const rest = n.slice(i + 1);
      const s = this.suffix.get(rest);
      if (s) return e && s.pool === 'unknown' ? e : s;
      if (!under && i >= 0 && this.below.size) under = this.below.get(rest) ?? null;
      i = n.indexOf('.', i + 1);
      if (i < 0) return e ?? under;
    }
  }

  /** IPv4 by number: numeric keys only, no strings built per lookup. */
  address4(n: number, port: number): AddressHit | null {
    if (this.any16[n >>> 16] === 0) return null;
    if (this.excluded4(n)) return null;
    const ipp = this.ipPort4.get(n * 65536 + port);
    if (ipp) return { entry: ipp, how: 'ip:port' };
    const e4 = this.ip4.get(n);
    if (e4) return { entry: e4, how: 'ip' };
    for (const g of this.nets4) {
      const hit = g.map.get(maskV4(n, g.bits));
      if (hit) return { entry: hit, how: 'cidr' };
    }
    return null;
  }

  private excluded4(n: number): boolean {
    const hi = lastAtMost(this.excludeStarts, itself, n);
    return hi >= 0 && n <= this.excludeEnds[hi]!;
  }

  /** Is the address one that must never count as pool evidence (resolvers, CDNs)? */
  excluded(ip: string): boolean {
    if (this.excludeIp.has(ip)) return true;
    const n = ipv4ToInt(ip);
    if (n >= 0) return this.excluded4(n);
    return this.excludeNets.length > 0 && this.inV6Nets(this.readV6(ip), this.excludeNets, inSet) === true;
  }

  /** The entry for a server address and port: IP:port, then IP, then the longest CIDR. */
  address(ip: string, port: number): AddressHit | null {
    const n = ipv4ToInt(ip);
    if (n >= 0) return this.address4(n, port);
    if (this.excludeIp.has(ip)) return null;
    // Read once for the exclusions and the networks (nothing to read when the lists have neither).
    const r = this.excludeNets.length > 0 || this.nets.length > 0 ? this.readV6(ip) : 0;
    if (this.inV6Nets(r, this.excludeNets, inSet) === true) return null;
    const ipp = this.ipPort.get(`${ip}|${port}`);
    if (ipp) return { entry: ipp, how: 'ip:port' };
    const e = this.ip.get(ip);
    if (e) return { entry: e, how: 'ip' };
    const hit = this.inV6Nets(r, this.nets, inMap);
    return hit ? { entry: hit, how: 'cidr' } : null;
  }
}

/** Network masks by prefix length, as signed 32-bit patterns. */
const MASKS = Int32Array.from({ length: 33 }, (_, b) => (b === 0 ? 0 : (-1 << (32 - b)) | 0));

/** The network number of `n` (an IPv4 address as a number) under a prefix length, as int32 bits. */
function maskV4(n: number, bits: number): number {
  return n & MASKS[bits]!;
}

/** {@link EndpointIndex}'s network lookups: is the key an excluded network, and the entry of a listed one. */
const inSet = (g: { set: Set<string> }, key: string): true | undefined => (g.set.has(key) ? true : undefined);
const inMap = (g: { map: Map<string, EndpointEntry> }, key: string): EndpointEntry | undefined => g.map.get(key);

function first<K, V>(m: Map<K, V>, k: K, v: V): void {
  if (!m.has(k)) m.set(k, v);
}

function parse(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(ip);
  } catch {
    return null;
  }
}

/** The network part of an IPv6 address under a prefix length, as text (IPv4 networks are keyed by number). */
function networkKey(a: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  return ipv6BytesKey(a.toByteArray(), bits);
}

/** The last `k` labels of `name` (the whole name when it has exactly `k`); null when it has fewer. */
function lastLabels(name: string, k: number): string | null {
  if (!(k < Infinity)) return null;
  let at = name.length;
  for (let i = 0; i < k; i++) {
    if (at < 0) return null;
    at = name.lastIndexOf('.', at - 1);
  }
  return name.slice(at + 1);
}
