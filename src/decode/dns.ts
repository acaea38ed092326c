/**
 * DNS message decoding: header, question section and answer section (A, AAAA and CNAME data),
 * over UDP and over TCP. Pure: the functions read only the bytes they are given, check every
 * length and count taken from the wire against the bytes left before using it, bound every loop,
 * and throw nothing but {@link DecodeError}.
 *
 * Error codes: `dns.truncated` (a field or record runs past the end of the message),
 * `dns.bad_label` (a label length byte with the reserved 0b01/0b10 prefix, i.e. a label over 63
 * bytes), `dns.name_too_long` (a name over 255 bytes in wire form), `dns.pointer_loop` (a
 * compression pointer that does not point backwards, or more than {@link MAX_POINTER_JUMPS} of
 * them in one name), `dns.too_many_records` (more than {@link MAX_QUESTIONS} questions or
 * {@link MAX_ANSWERS} answers), `dns.bad_rdata` (A/AAAA/CNAME data of the wrong size).
 * Offsets in errors index `buf`.
 *
 * @see RFC 1035 §4.1 (message format), §4.1.4 (compression), §3.1 (name limits), §3.4.1 (A)
 * @see RFC 3596 §2.2 (AAAA)
 * @see RFC 5952 §4 (IPv6 text form)
 * @see RFC 7766 §8 (DNS over TCP: two-byte length prefix)
 */
import { formatIpv6 } from '../ip.js';
import { DecodeError } from '../errors.js';

/** One decoded DNS message: the header fields the tool uses, questions and answers. */
export interface DnsMessage {
  id: number;
  /** QR bit: true for a response. */
  response: boolean;
  /** RCODE (low 4 bits of the flags; 0 = no error, 3 = NXDOMAIN). */
  rcode: number;
  questions: Array<{ name: string; type: number }>;
  /**
   * `data` is the dotted IPv4 address for A, the RFC 5952 text for AAAA, the target name for
   * CNAME and '' for every other type.
   */
  answers: Array<{ name: string; type: number; ttl: number; data: string }>;
}

/** Record types whose data is decoded. */
export const DNS_TYPE = { A: 1, CNAME: 5, AAAA: 28 } as const;

/** Questions accepted in one message; more is `dns.too_many_records`. */
export const MAX_QUESTIONS = 64;
/** Answers accepted in one message; more is `dns.too_many_records`. */
export const MAX_ANSWERS = 256;
/** Compression pointers followed while reading one name. */
export const MAX_POINTER_JUMPS = 32;
/** Messages returned from one DNS-over-TCP stream prefix; later ones are not decoded. */
export const MAX_TCP_MESSAGES = 1024;

const HEADER_LENGTH = 12;
/** Longest name in wire form (length bytes, labels and the root byte). @see RFC 1035 §3.1 */
const MAX_NAME_WIRE = 255;
/** Fixed part of a question after its name: QTYPE, QCLASS. */
const QUESTION_FIXED = 4;
/** Fixed part of a resource record after its name: TYPE, CLASS, TTL, RDLENGTH. */
const RR_FIXED = 10;

/**
 * Decode one DNS message held in `buf[off, off + len)` (a UDP payload, or one message of a TCP
 * stream without its length prefix). Names are lower-cased (ASCII only) and have no trailing dot;
 * the root name is ''. Label bytes outside printable ASCII, and '.' or '\' inside a label, are
 * written as `\DDD` (decimal, as in master files) so that a name cannot be mistaken for another.
 * The authority and additional sections are not read.
 *
 * @throws DecodeError for any malformed or truncated message (codes in the module comment).
 * @see RFC 1035 §4.1
 */
export function decodeDns(buf: Uint8Array, off = 0, len = buf.length - off): DnsMessage {
  const start = clampStart(buf, off);
  const end = clampEnd(buf, start, len);
  if (end - start < HEADER_LENGTH) {
    throw new DecodeError('dns.truncated', start, `DNS header needs ${HEADER_LENGTH} bytes, ${end - start} available`);
  }
  const id = u16(buf, start);
  const flags = u16(buf, start + 2);
  const qdcount = u16(buf, start + 4);
  const ancount = u16(buf, start + 6);
  if (qdcount > MAX_QUESTIONS) {
    throw new DecodeError(
      'dns.too_many_records',
      start + 4,
      `question count ${qdcount} exceeds the limit of ${MAX_QUESTIONS}`,
    );
  }
  if (ancount > MAX_ANSWERS) {
    throw new DecodeError('dns.too_many_records', start + 6, `answer count ${ancount} exceeds the limit of ${MAX_ANSWERS}`);
  }
  // Every question takes at least 1 + 4 bytes and every answer 1 + 10: a count that cannot fit
  // in the bytes left fails before anything is allocated for it.
  const minimum = HEADER_LENGTH + qdcount * (1 + QUESTION_FIXED) + ancount * (1 + RR_FIXED);
  if (minimum > end - start) {
    throw new DecodeError(
      'dns.truncated',
      start + 4,
      `${qdcount} questions and ${ancount} answers need at least ${minimum} bytes, message has ${end - start}`,
    );
  }

  const name: NameResult = { name: '', next: 0 };
  let pos = start + HEADER_LENGTH;
  const questions: DnsMessage['questions'] = [];
  for (let i = 0; i < qdcount; i++) {
    readName(buf, start, end, pos, name);
    pos = name.next;
    need(end, pos, QUESTION_FIXED, 'question type and class');
    questions.push({ name: name.name, type: u16(buf, pos) });
    pos += QUESTION_FIXED;
  }

  const answers: DnsMessage['answers'] = [];
  for (let i = 0; i < ancount; i++) {
    readName(buf, start, end, pos, name);
    const owner = name.name;
    pos = name.next;
    need(end, pos, RR_FIXED, 'resource record header');
    const type = u16(buf, pos);
    const ttl = u32(buf, pos + 4);
    const rdlength = u16(buf, pos + 8);
    pos += RR_FIXED;
    need(end, pos, rdlength, `record data (RDLENGTH ${rdlength})`);
    answers.push({ name: owner, type, ttl, data: recordData(buf, start, end, pos, rdlength, type, name) });
    pos += rdlength;
  }

  return { id, response: (flags & 0x8000) !== 0, rcode: flags & 0x000f, questions, answers };
}

/**
 * Decode the DNS messages at the start of a TCP stream held in `buf[off, off + len)`: each is
 * preceded by its two-byte big-endian length. A last message cut short by the end of the bytes is
 * ignored; a complete message that is malformed throws. At most {@link MAX_TCP_MESSAGES} are
 * returned.
 *
 * @throws DecodeError from {@link decodeDns} for a complete but malformed message.
 * @see RFC 7766 §8, RFC 1035 §4.2.2
 */
export function decodeDnsOverTcp(buf: Uint8Array, off = 0, len = buf.length - off): DnsMessage[] {
  const start = clampStart(buf, off);
  const end = clampEnd(buf, start, len);
  const messages: DnsMessage[] = [];
  let pos = start;
  while (messages.length < MAX_TCP_MESSAGES && end - pos >= 2) {
    const length = u16(buf, pos);
    if (length > end - pos - 2) break;
    messages.push(decodeDns(buf, pos + 2, length));
    pos += 2 + length;
  }
  return messages;
}

/**
 * The datagrams of a stored UDP payload prefix: each is stored as a two-byte big-endian length
 * followed by that many bytes. Gives the end of the datagram stored at `pos` (its bytes are
 * `pos + 2 .. end`, and the next one starts at `end`), or -1 when none starts there whole (the end
 * of the prefix, or a last record cut short). Offsets, not views: the classifier walks every UDP
 * flow's prefix with it and makes a view only of a datagram it reads. Never throws.
 */
export function datagramEnd(prefix: Uint8Array, pos: number): number {
  if (prefix.length - pos < 2) return -1;
  const end = pos + 2 + u16(prefix, pos);
  return end <= prefix.length ? end : -1;
}

/** IPv6 text (RFC 5952; IPv4-mapped as plain IPv4): the one formatter every path uses. */
export { formatIpv6 };

/** Output of {@link readName}: reused across calls to avoid an allocation per name. */
interface NameResult {
  name: string;
  /** Offset just past the name where it appears (after its first pointer, if any). */
  next: number;
}

/**
 * Read the (possibly compressed) name at `pos`. Pointers are offsets from `msgStart`; each must
 * point strictly before the pointer itself and at most {@link MAX_POINTER_JUMPS} are followed, so
 * a crafted message cannot loop.
 *
 * @see RFC 1035 §3.1, §4.1.4
 */
function readName(buf: Uint8Array, msgStart: number, end: number, pos: number, out: NameResult): void {
  let text = '';
  let wireLength = 1; // the root byte
  let jumps = 0;
  let next = -1;
  let p = pos;
  for (;;) {
    if (p >= end) throw new DecodeError('dns.truncated', p, 'name runs past the end of the message');
    const b = buf[p]!;
    if (b === 0) {
      if (next < 0) next = p + 1;
      break;
    }
    const kind = b & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= end) throw new DecodeError('dns.truncated', p, 'compression pointer cut short');
      const target = msgStart + (((b & 0x3f) << 8) | buf[p + 1]!);
      if (target >= p) {
        throw new DecodeError(
          'dns.pointer_loop',
          p,
          `compression pointer to offset ${target - msgStart} does not point before itself (offset ${p - msgStart})`,
        );
      }
      if (++jumps > MAX_POINTER_JUMPS) {
        throw new DecodeError('dns.pointer_loop', p, `name follows more than ${MAX_POINTER_JUMPS} compression pointers`);
      }
      if (next < 0) next = p + 2;
      p = target;
      continue;
    }
    if (kind !== 0) {
      throw new DecodeError(
        'dns.bad_label',
        p,
        `label length byte 0x${b.toString(16)} uses a reserved label type (labels are at most 63 bytes)`,
      );
    }
    wireLength += b + 1;
    if (wireLength > MAX_NAME_WIRE) {
      throw new DecodeError('dns.name_too_long', p, `name is longer than ${MAX_NAME_WIRE} bytes`);
    }
    if (b > end - p - 1) throw new DecodeError('dns.truncated', p, `label of ${b} bytes runs past the end of the message`);
    if (text.length > 0) text += '.';
    text += labelText(buf, p + 1, p + 1 + b);
    p += 1 + b;
  }
  out.name = text;
  out.next = next;
}

/** Label bytes as text: ASCII lower-cased, anything ambiguous or unprintable as `\DDD`. */
function labelText(buf: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) s += String.fromCharCode(c + 0x20);
    else if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c);
    else s += `\\${c.toString().padStart(3, '0')}`;
  }
  return s;
}

/** Text of the record data at `pos` (already checked to fit): address, CNAME target or ''. */
function recordData(
  buf: Uint8Array,
  msgStart: number,
  end: number,
  pos: number,
  rdlength: number,
  type: number,
  name: NameResult,
): string {
  switch (type) {
    case DNS_TYPE.A:
      if (rdlength !== 4) throw new DecodeError('dns.bad_rdata', pos, `A record data is ${rdlength} bytes, expected 4`);
      return `${buf[pos]!}.${buf[pos + 1]!}.${buf[pos + 2]!}.${buf[pos + 3]!}`;
    case DNS_TYPE.AAAA:
      if (rdlength !== 16) throw new DecodeError('dns.bad_rdata', pos, `AAAA record data is ${rdlength} bytes, expected 16`);
      return formatIpv6(buf, pos);
    case DNS_TYPE.CNAME: {
      const rdEnd = pos + rdlength;
      readName(buf, msgStart, rdEnd, pos, name);
      if (name.next !== rdEnd) {
        throw new DecodeError(
          'dns.bad_rdata',
          pos,
          `CNAME target ends ${rdEnd - name.next} bytes before the end of its record data`,
        );
      }
      return name.name;
    }
    default:
      return '';
  }
}

function need(end: number, pos: number, n: number, what: string): void {
  if (n > end - pos) throw new DecodeError('dns.truncated', pos, `${what} needs ${n} bytes, ${Math.max(0, end - pos)} left`);
}

function clampStart(buf: Uint8Array, off: number): number {
  return Number.isInteger(off) && off > 0 ? Math.min(off, buf.length) : 0;
}

function clampEnd(buf: Uint8Array, start: number, len: number): number {
  return Number.isInteger(len) && len > 0 ? Math.min(start + len, buf.length) : start;
}

function u16(buf: Uint8Array, pos: number): number {
  return (buf[pos]! << 8) | buf[pos + 1]!;
}

function u32(buf: Uint8Array, pos: number): number {
  return ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
}
