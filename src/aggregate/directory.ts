/**
 * The operator's subscriber directory (`--subscribers FILE`): IPs or CIDRs mapped to a subscriber id
 * and attributes. Longest prefix wins; IPv4 and IPv6. The whole file is validated before any of it
 * is used, so a scan never half-applies a mapping: every bad line is reported with file and line.
 *
 * Format (CSV with a header; `#` starts a comment line):
 *   prefix,subscriber,account,type,region
 *   100.64.1.0/24,SUB-0001,ACC-77,residential,Hangzhou
 *   198.51.100.7,CAFE-12,,internet-cafe,Wenzhou
 */
import ipaddr from 'ipaddr.js';
import { ipv4ToInt } from '../ip.js';
import { inertJson } from '../report/format.js';

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

/**
 * An address as the file formats document it: IPv6, or IPv4 as four decimal parts without leading
 * zeros. ipaddr.js alone also reads `1024` as 0.0.4.0, `0x10` and octal `010.1.1.1` (8.1.1.1): a
 * shifted column or a zero-padded export would be mapped to another address without a word.
 */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    if (text.includes(':')) return ipaddr.IPv6.parse(text);
    return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : null;
  } catch {
    return null;
  }
}

/** An address or CIDR (`100.64.1.0/24`, `2001:db8::/48`, `198.51.100.7`), or null. */
export function parsePrefix(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | null {
  const slash = text.indexOf('/');
  const addr = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return null;
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  if (slash < 0) return [addr, max];
  const bitsText = text.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  return bits <= max ? [addr, bits] : null;
}

const MASKS = Int32Array.from({ length: 33 }, (_, b) => (b === 0 ? 0 : (-1 << (32 - b)) | 0));

/** One CSV line's fields (RFC 4180 quotes, `""` for a quote), trimmed. */
export function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

export class SubscriberDirectory {
  private readonly v4: Array<{ bits: number; map: Map<number, DirectoryEntry> }> = [];
  private readonly v6: Array<{ bits: number; map: Map<string, DirectoryEntry> }> = [];
  readonly entries: DirectoryEntry[] = [];

  /** Parse and validate the whole text; returns the directory or every error found. */
  static parse(text: string): { directory: SubscriberDirectory | null; errors: DirectoryError[] } {
    const errors: DirectoryError[] = [];
    const dir = new SubscriberDirectory();
    const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
    let cols: Map<string, number> | null = null;
    const seen = new Map<string, number>();
    lines.forEach((raw, i) => {
      const n = i + 1;
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const f = splitCsv(line);
      if (!cols) {
        const names = f.map((x) => x.toLowerCase());
        const prefixCol = ['prefix', 'cidr', 'ip'].map((x) => names.indexOf(x)).find((x) => x >= 0) ?? -1;
        const subCol = names.indexOf('subscriber');
        if (prefixCol < 0 || subCol < 0) {
          errors.push({ line: n, message: `header needs a prefix (or cidr, ip) and a subscriber column, e.g. "prefix,subscriber,account,type,region"; got ${inertJson(line)}` });
          cols = new Map();
          return;
        }
        cols = new Map(names.map((x, k) => [x, k]));
        cols.set('prefix', prefixCol);
        return;
      }
      if (cols.size === 0) return;
      const get = (k: string): string => {
        const idx = cols!.get(k);
        return idx === undefined ? '' : (f[idx] ?? '');
      };
      const prefixText = get('prefix');
      const parsed = parsePrefix(prefixText);
      if (!parsed) {
        errors.push({ line: n, message: `prefix ${inertJson(prefixText)} is not an IP address or CIDR (expected e.g. 100.64.1.0/24, 198.51.100.7 or 2001:db8::/48)` });
        return;
      }
      const [addr, bits] = parsed;
      const subscriber = get('subscriber');
      if (!subscriber || subscriber.length > 128) {
        errors.push({ line: n, message: 'subscriber id missing or longer than 128 characters' });
        return;
      }
      const typeText = get('type').toLowerCase().replace(/[ _]/g, '-');
      if (typeText && !SUBSCRIBER_TYPES.includes(typeText as SubscriberType)) {
        errors.push({ line: n, message: `type ${inertJson(get('type'))}: expected one of ${SUBSCRIBER_TYPES.join(', ')}` });
        return;
      }
      const key = `${addr.toNormalizedString()}/${bits}`;
      if (seen.has(key)) {
        errors.push({ line: n, message: `prefix ${inertJson(prefixText)} is already mapped on line ${seen.get(key)}: the same range twice is ambiguous` });
        return;
      }
      seen.set(key, n);
      const e: DirectoryEntry = { prefix: prefixText, subscriber, account: get('account') || null, type: (typeText || null) as SubscriberType | null, region: get('region') || get('city') || null, line: n };
      dir.add(addr, bits, e);
    });
    if (!cols) errors.push({ line: 1, message: 'empty file: expected a header "prefix,subscriber,account,type,region" and one line per range' });
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
      g.map.set(ipv4ToInt(addr.toString()) & MASKS[bits]!, e);
    } else {
      let g = this.v6.find((x) => x.bits === bits);
      if (!g) {
        this.v6.push((g = { bits, map: new Map() }));
        this.v6.sort((a, b) => b.bits - a.bits);
      }
      g.map.set(net6(addr as ipaddr.IPv6, bits), e);
    }
  }

  /** The longest-prefix entry for an address (one hash lookup per prefix length in use). */
  lookup(ip: string): DirectoryEntry | null {
    const n = ipv4ToInt(ip);
    if (n >= 0) {
      for (const g of this.v4) {
        const e = g.map.get(n & MASKS[g.bits]!);
        if (e) return e;
      }
      return null;
    }
    if (!this.v6.length) return null;
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      a = ipaddr.process(ip);
    } catch {
      return null;
    }
    if (a.kind() !== 'ipv6') return this.lookup(a.toString());
    for (const g of this.v6) {
      const e = g.map.get(net6(a as ipaddr.IPv6, g.bits));
      if (e) return e;
    }
    return null;
  }
}

function net6(a: ipaddr.IPv6, bits: number): string {
  const b = a.toByteArray();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    b[i] = b[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return b.join('.');
}
