/**
 * The operator's subscriber directory (`--subscribers FILE`): IPs or CIDRs mapped to a subscriber id
 * and attributes. Longest prefix wins; IPv4 and IPv6. The whole file is validated before any of it
 * is used, so a scan never half-applies a mapping: every bad line is reported with file and line.
 *
 * Format (CSV with a header, RFC 4180 quoting, read by src/io/csv.ts; `#` starts a comment line):
 *   prefix,subscriber,account,type,region
 *   100.64.1.0/24,SUB-0001,ACC-77,residential,Hangzhou
 *   198.51.100.7,CAFE-12,,internet-cafe,Wenzhou
 */
import ipaddr from '../ipaddr.js';
import { ipv4ToInt } from '../ip.js';
import { IPV4_MASKS, ipv6BytesKey, ipv6NetKey, mappedIpv4Text, parseLookupAddress, parseLookupV6 } from './netkey.js';
import { columnsByName, headedCsvRows, widthError } from '../io/headed-csv.js';
import { readAddress, readPrefix } from '../io/csv.js';
import { quotedExcerpt } from '../report/format.js';

export const SUBSCRIBER_TYPES = ['residential', 'enterprise', 'government', 'university', 'internet-cafe', 'mobile', 'other'] as const;
export type SubscriberType = (typeof SUBSCRIBER_TYPES)[number];

export interface DirectoryEntry {
  prefix: string;
  subscriber: string;
  account: string | null;
  type: SubscriberType | null;
  region: string | null;
  line: number;
}

export interface DirectoryError {
  line: number;
  message: string;
}

/** An IPv6 address being looked up, as bytes (lookups run one at a time). */
const V6_BYTES = new Uint8Array(16);

/**
 * An address as the file formats document it: IPv6, or IPv4 as four decimal parts without leading
 * zeros (see `readAddress` in src/io/csv.ts); null when it is not one.
 */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const r = readAddress(text);
  return r.ok ? r.value : null;
}

/** An address or CIDR (`100.64.1.0/24`, `2001:db8::/48`, `198.51.100.7`), or null. */
export function parsePrefix(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | null {
  const r = readPrefix(text);
  return r.ok ? r.value : null;
}


export class SubscriberDirectory {
  private readonly v4: Array<{ bits: number; map: Map<number, DirectoryEntry> }> = [];
  private readonly v6: Array<{ bits: number; map: Map<string, DirectoryEntry> }> = [];
  readonly entries: DirectoryEntry[] = [];

  /** Parse and validate the whole text; returns the directory or every error found. */
  static parse(text: string): { directory: SubscriberDirectory | null; errors: DirectoryError[] } {
    const errors: DirectoryError[] = [];
    const dir = new SubscriberDirectory();
    const seen = new Map<string, number>();
    const columns = (names: string[], fields: string[]): Map<string, number> | string => {
      const prefixCol = ['prefix', 'cidr', 'ip'].map((x) => names.indexOf(x)).find((x) => x >= 0) ?? -1;
      const subCol = names.indexOf('subscriber');
      if (prefixCol < 0 || subCol < 0) return `header needs a prefix (or cidr, ip) and a subscriber column, e.g. "prefix,subscriber,account,type,region"; got ${quotedExcerpt(fields.join(','))}`;
      return columnsByName(names).set('prefix', prefixCol);
    };
    const empty = 'empty file: expected a header "prefix,subscriber,account,type,region" and one line per range';
    for (const row of headedCsvRows(text, columns, empty, errors)) {
      const { line: n, get } = row;
      // A row may leave out trailing columns (account, type, region read as empty); one with more
      // fields than the header has a comma that shifted its values (an unquoted "ACME, Inc").
      const width = widthError(row, true);
      if (width) {
        errors.push(width);
        continue;
      }
      const prefixText = get('prefix');
      const parsed = readPrefix(prefixText);
      if (!parsed.ok) {
        errors.push({ line: n, message: `prefix ${quotedExcerpt(prefixText)} is not an IP address or CIDR (expected ${parsed.expected})` });
        continue;
      }
      const [addr, bits] = parsed.value;
      const subscriber = get('subscriber');
      if (!subscriber || subscriber.length > 128) {
        errors.push({ line: n, message: 'subscriber id missing or longer than 128 characters' });
        continue;
      }
      const typeText = get('type').toLowerCase().replace(/[ _]/g, '-');
      if (typeText && !SUBSCRIBER_TYPES.includes(typeText as SubscriberType)) {
        errors.push({ line: n, message: `type ${quotedExcerpt(get('type'))}: expected one of ${SUBSCRIBER_TYPES.join(', ')}` });
        continue;
      }
      const key = `${addr.toNormalizedString()}/${bits}`;
      if (seen.has(key)) {
        errors.push({ line: n, message: `prefix ${quotedExcerpt(prefixText)} is already mapped on line ${seen.get(key)}: the same range twice is ambiguous` });
        continue;
      }
      seen.set(key, n);
      const e: DirectoryEntry = { prefix: prefixText, subscriber, account: get('account') || null, type: (typeText || null) as SubscriberType | null, region: get('region') || get('city') || null, line: n };
      dir.add(addr, bits, e);
    }
    return errors.length ? { directory: null, errors } : { directory: dir, errors };
  }

  private add(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number, e: DirectoryEntry): void {
    this.entries.push(e);
    if (addr.kind() === 'ipv4') {
      let g = this.v4.find((x) => x.bits === bits);
      if (!g) {
        this.v4.push((g = { bits, map: new Map() }));
        this.v4.sort((a, b) => b.bits - a.bits);
      }
      g.map.set(ipv4ToInt(addr.toString()) & IPV4_MASKS[bits]!, e);
    } else {
      let g = this.v6.find((x) => x.bits === bits);
      if (!g) {
        this.v6.push((g = { bits, map: new Map() }));
        this.v6.sort((a, b) => b.bits - a.bits);
      }
      g.map.set(ipv6NetKey(addr as ipaddr.IPv6, bits), e);
    }
  }

  /** The longest-prefix entry for an address (one hash lookup per prefix length in use). */
  lookup(ip: string): DirectoryEntry | null {
    const n = ipv4ToInt(ip);
    if (n >= 0) {
      for (const g of this.v4) {
        const e = g.map.get(n & IPV4_MASKS[g.bits]!);
        if (e) return e;
      }
      return null;
    }
    if (!this.v6.length) return null;
    const b = V6_BYTES;
    const fast = parseLookupV6(ip, b);
    if (fast === 0) return this.lookup(mappedIpv4Text(b));
    if (fast === 1) {
      for (const g of this.v6) {
        const e = g.map.get(ipv6BytesKey(b, g.bits));
        if (e) return e;
      }
      return null;
    }
    const a = parseLookupAddress(ip);
    if (a === null) return null;
    if (a.kind() !== 'ipv6') return this.lookup(a.toString());
    for (const g of this.v6) {
      const e = g.map.get(ipv6NetKey(a as ipaddr.IPv6, g.bits));
      if (e) return e;
    }
    return null;
  }
}
