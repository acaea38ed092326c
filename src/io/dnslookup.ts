/**
 * What the resolver-log readers share: one decoded DNS response turned into a {@link DnsLookup},
 * and resolver/client addresses in one text form whatever the log wrote.
 */
import { decodeDns, DNS_TYPE, formatIpv6, type DnsMessage } from '../decode/dns.js';
import { DecodeError } from '../errors.js';
import type { DnsLookup } from './dnslog.js';

type Answer = DnsLookup['answers'][number];

/**
 * Address bytes as text: 4 bytes dotted IPv4; 16 bytes RFC 5952 IPv6, except that an
 * IPv4-mapped address (::ffff:a.b.c.d) is written as the plain IPv4 address, so a client that a
 * dual-stack resolver saw over an IPv6 socket has the same text as in a capture. `null` for any
 * other length.
 */
export function addressText(bytes: Uint8Array, off = 0, len = bytes.length - off): string | null {
  if (len === 4) return `${bytes[off]!}.${bytes[off + 1]!}.${bytes[off + 2]!}.${bytes[off + 3]!}`;
  if (len !== 16) return null;
  let mapped = bytes[off + 10] === 0xff && bytes[off + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) if (bytes[off + i] !== 0) mapped = false;
  if (mapped) return `${bytes[off + 12]!}.${bytes[off + 13]!}.${bytes[off + 14]!}.${bytes[off + 15]!}`;
  return formatIpv6(bytes, off);
}

/** Outcome of {@link decodeLookup}: the lookup, or why the message gave none. */
export type LookupResult =
  | { kind: 'lookup'; lookup: DnsLookup }
  /** A well-formed message that is not an answered lookup (a query). */
  | { kind: 'skip' }
  /** A malformed message: `offset` indexes the message bytes. */
  | { kind: 'bad'; offset: number; message: string };

const SKIP: LookupResult = { kind: 'skip' };

/**
 * Decode the DNS response in `buf[off, off + len)` into a lookup: its first question, its RCODE,
 * and its A, AAAA and CNAME answers in message order (other types dropped). A message with the QR
 * bit clear is a query (`skip`); one that does not decode, or a response without a question, is
 * `bad`.
 */
export function decodeLookup(
  buf: Uint8Array,
  off: number,
  len: number,
  time: number,
  client: string,
  resolver: string | null,
): LookupResult {
  if (len >= 3 && (buf[off + 2]! & 0x80) === 0) return SKIP;
  let m: DnsMessage;
  try {
    m = decodeDns(buf, off, len);
  } catch (e) {
    if (e instanceof DecodeError) return { kind: 'bad', offset: e.offset - off, message: `${e.code}: ${e.message}` };
    throw e;
  }
  const q = m.questions[0];
  if (q === undefined) return { kind: 'bad', offset: 4, message: 'response has no question (QDCOUNT 0): the name asked for is unknown' };
  const answers: Answer[] = [];
  for (const a of m.answers) {
    const type = a.type === DNS_TYPE.A ? 'A' : a.type === DNS_TYPE.AAAA ? 'AAAA' : a.type === DNS_TYPE.CNAME ? 'CNAME' : null;
    if (type !== null) answers.push({ name: a.name, type, data: a.data, ttl: a.ttl });
  }
  return { kind: 'lookup', lookup: { time, client, resolver, query: q.name, qtype: q.type, rcode: m.rcode, answers } };
}

/**
 * Parse IPv6 text (RFC 4291 §2.2: groups of up to four hex digits, one `::`, an optional dotted
 * IPv4 tail) into `out[0, 16)`. No regular expressions, no allocation; false when it is not one.
 */
export function parseIpv6Text(s: string, out: Uint8Array): boolean {
  const len = s.length;
  if (len < 2 || len > 45) return false;
  let groups = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === len) {
      out.fill(0, 0, 16);
      return true;
    }
  }
  while (i < len) {
    if (groups === 8) return false;
    // A dotted IPv4 tail takes the last two groups.
    let j = i;
    let value = 0;
    let digits = 0;
    let dotted = false;
    for (; j < len; j++) {
      const c = s.charCodeAt(j);
      const h = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c === 0x2e ? -2 : -1;
      if (h === -2) {
        dotted = true;
        break;
      }
      if (h < 0) break;
      value = value * 16 + h;
      if (++digits > 4) return false;
    }
    if (dotted) {
      if (groups > 6) return false;
      let part = 0;
      let partDigits = 0;
      let dots = 0;
      let p = groups * 2;
      for (j = i; j < len; j++) {
        const c = s.charCodeAt(j);
        if (c === 0x2e) {
          if (partDigits === 0 || ++dots > 3) return false;
          out[p++] = part;
          part = 0;
          partDigits = 0;
        } else if (c >= 0x30 && c <= 0x39) {
          part = part * 10 + c - 0x30;
          if (++partDigits > 3 || part > 255) return false;
        } else return false;
      }
      if (dots !== 3 || partDigits === 0) return false;
      out[p] = part;
      groups += 2;
      break;
    }
    if (digits === 0) return false;
    out[groups * 2] = value >> 8;
    out[groups * 2 + 1] = value & 255;
    groups++;
    if (j === len) break;
    if (s.charCodeAt(j) !== 0x3a) return false;
    if (j + 1 < len && s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return false;
      gap = groups;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === len) return false;
    }
  }
  if (gap < 0) return groups === 8;
  if (groups > 7) return false;
  // Move the groups after the gap to the end and zero the gap.
  const tail = (groups - gap) * 2;
  out.copyWithin(16 - tail, gap * 2, groups * 2);
  out.fill(0, gap * 2, 16 - tail);
  return true;
}
