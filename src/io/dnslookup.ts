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
