/**
 * TLS ClientHello decoding from the first bytes a client sends: record layer, handshake header,
 * ClientHello fields, and the server_name and ALPN extensions. Pure: every length read from the
 * wire is checked against both the structure that encloses it and the bytes actually captured,
 * every loop is bounded, and nothing but {@link DecodeError} is thrown.
 *
 * Error codes: `tls.not_client_hello` (not a TLS handshake record, or a handshake other than
 * ClientHello), `tls.truncated` (the bytes end before the ClientHello does and before its
 * server_name extension was read), `tls.bad_record` (a record length of 0 or over 2^14, or a
 * record in the middle of the ClientHello that is not a handshake record), `tls.bad_length` (a
 * length field that overruns the structure enclosing it, or a field of an impossible size),
 * `tls.bad_extension` (a malformed server_name or ALPN extension), `tls.too_many_extensions`.
 * Offsets in errors index `buf` when they fall in the first record, and otherwise are positions
 * in the reassembled handshake message plus the offset of its first byte in `buf`.
 *
 * @see RFC 8446 §5.1 (record layer), §4 (handshake header), §4.1.2 (ClientHello)
 * @see RFC 6066 §3 (server_name), RFC 7301 §3.1 (ALPN), RFC 8701 (GREASE)
 */
import { DecodeError } from '../errors.js';

/**
 * The {@link DecodeError} codes of this decoder (the module comment says when each is thrown). The
 * container counts them all as the anomaly `tls.bad_client_hello`.
 */
export type TlsErrorCode =
  | 'tls.not_client_hello'
  | 'tls.truncated'
  | 'tls.bad_record'
  | 'tls.bad_length'
  | 'tls.bad_extension'
  | 'tls.too_many_extensions';

/** What the tool keeps of a ClientHello. */
export interface ClientHello {
  /** legacy_version of the ClientHello (0x0303 for TLS 1.2 and 1.3). */
  version: number;
  /** server_name host_name, lower-cased; null when absent or not a plausible host name. */
  sni: string | null;
  /** ALPN protocol names in the client's order ([] when absent). */
  alpn: string[];
  /** Number of cipher suites offered. */
  cipherSuites: number;
  /** Extension types in wire order, GREASE values included. */
  extensions: number[];
}

/** Extension types read. @see RFC 6066 §3, RFC 7301 §3.1 */
export const TLS_EXTENSION = { SERVER_NAME: 0, ALPN: 16 } as const;

/** Handshake bytes (header included) reassembled across records; beyond is treated as cut. */
export const MAX_HANDSHAKE_BYTES = 16384;
/** Extensions accepted in one ClientHello; more is `tls.too_many_extensions`. */
export const MAX_EXTENSIONS = 256;
/** ALPN protocol names accepted in one extension; more is `tls.bad_extension`. */
export const MAX_ALPN_PROTOCOLS = 64;
/** server_name list entries looked at; more is `tls.bad_extension`. */
const MAX_SERVER_NAMES = 16;
/** Longest host name accepted as an SNI. */
const MAX_HOST_NAME = 255;

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
/** Largest TLSPlaintext fragment. @see RFC 8446 §5.1 */
const MAX_RECORD_LENGTH = 16384;
const HOST_NAME_TYPE = 0;

/**
 * Cheap test of the first bytes of a client payload: a handshake record (content type 22,
 * version 3.0 to 3.4) whose first handshake byte is ClientHello (1).
 */
export function looksLikeTls(buf: Uint8Array, off = 0, len = buf.length - off): boolean {
  if (!(len >= 6) || off < 0 || off + 6 > buf.length) return false;
  return (
    buf[off] === CONTENT_HANDSHAKE && buf[off + 1] === 3 && buf[off + 2]! <= 4 && buf[off + 5] === HANDSHAKE_CLIENT_HELLO
  );
}

/**
 * Decode the ClientHello at the start of a client-to-server TCP payload held in
 * `buf[off, off + len)`: one or more handshake records (content type 22, version 0x0301 to
 * 0x0304) carrying a ClientHello, reassembled up to {@link MAX_HANDSHAKE_BYTES}.
 *
 * When the bytes end before the ClientHello does (a cut capture, or a ClientHello over the
 * reassembly limit), the fields read so far are returned if the server_name extension was read
 * completely (extensions after the cut are missing from `extensions` and `alpn`); otherwise
 * `tls.truncated` is thrown.
 *
 * @throws DecodeError with the codes listed in the module comment.
 * @see RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301 §3.1
 */
export function decodeClientHello(buf: Uint8Array, off = 0, len = buf.length - off): ClientHello {
  const start = Number.isInteger(off) && off > 0 ? Math.min(off, buf.length) : 0;
  const end = Number.isInteger(len) && len > 0 ? Math.min(start + len, buf.length) : start;
  const hs = reassemble(buf, start, end);
  return parseClientHello(hs);
}

/** The handshake message bytes gathered from the records, and how long it claims to be. */
interface Handshake {
  bytes: Uint8Array;
  /** Bytes of the message present (≤ bytes.length). */
  avail: number;
  /** HANDSHAKE_HEADER + the handshake length field. */
  declared: number;
  /** Offset in the caller's buffer of the handshake message's first byte (for error offsets). */
  base: number;
  /** True when the message was longer than {@link MAX_HANDSHAKE_BYTES}. */
  overLimit: boolean;
}

/**
 * Check the record headers and gather the handshake message from consecutive handshake records.
 * The message is a view into `buf` when the first record holds all of it (or all there is);
 * otherwise it is copied into a buffer no larger than the captured bytes and the reassembly limit.
 */
function reassemble(buf: Uint8Array, start: number, end: number): Handshake {
  const have = end - start;
  if (have >= 1 && buf[start] !== CONTENT_HANDSHAKE) {
    throw new DecodeError('tls.not_client_hello', start, `content type ${buf[start]!} is not a handshake record (22)`);
  }
  if (have >= 3 && !validRecordVersion(buf, start + 1)) {
    throw new DecodeError(
      'tls.not_client_hello',
      start + 1,
      `record version 0x${hex4(u16(buf, start + 1))} is not 0x0301 to 0x0304`,
    );
  }
  if (have >= 6 && buf[start + 5] !== HANDSHAKE_CLIENT_HELLO) {
    throw new DecodeError('tls.not_client_hello', start + 5, `handshake type ${buf[start + 5]!} is not ClientHello (1)`);
  }
  if (have < RECORD_HEADER) {
    throw new DecodeError(
      'tls.truncated',
      start,
      `TLS record header needs 5 bytes, ${have} captured`,
    );
  }
  const firstLength = recordLength(buf, start);
  const base = start + RECORD_HEADER;
  const firstAvail = Math.min(firstLength, end - base);
  if (firstAvail < HANDSHAKE_HEADER && firstAvail === end - base) {
    throw new DecodeError('tls.truncated', base, `handshake header needs 4 bytes, ${firstAvail} captured`);
  }

  // Fast path: the first record's captured bytes hold the handshake header and the whole message
  // (or everything there is, when no further record header was captured).
  if (firstAvail >= HANDSHAKE_HEADER) {
    const declared = HANDSHAKE_HEADER + u24(buf, base + 1);
    const moreRecords = firstAvail === firstLength && end - (base + firstLength) > 0;
    if (declared <= firstAvail || !moreRecords) {
      const avail = Math.min(firstAvail, declared, MAX_HANDSHAKE_BYTES);
      return { bytes: buf.subarray(base, base + avail), avail, declared, base, overLimit: declared > MAX_HANDSHAKE_BYTES };
    }
  }

  // Several records: copy their fragments, stopping when the message is complete, the limit is
  // reached or the bytes end. Each record adds at least one byte, so this loop runs at most
  // MAX_HANDSHAKE_BYTES times.
  const out = new Uint8Array(Math.min(MAX_HANDSHAKE_BYTES, end - base));
  let filled = 0;
  let target = MAX_HANDSHAKE_BYTES;
  let declared = -1;
  let pos = start;
  let first = true;
  while (filled < target && pos < end) {
    if (!first) {
      if (end - pos < RECORD_HEADER) break;
      if (buf[pos] !== CONTENT_HANDSHAKE) {
        throw new DecodeError(
          'tls.bad_record',
          pos,
          `record of content type ${buf[pos]!} inside the ClientHello (handshake records only)`,
        );
      }
      if (!validRecordVersion(buf, pos + 1)) {
        throw new DecodeError(
          'tls.bad_record',
          pos + 1,
          `record version 0x${hex4(u16(buf, pos + 1))} is not 0x0301 to 0x0304`,
        );
      }
    }
    const length = recordLength(buf, pos);
    const fragment = pos + RECORD_HEADER;
    const take = Math.min(length, end - fragment, target - filled);
    out.set(buf.subarray(fragment, fragment + take), filled);
    filled += take;
    if (declared < 0 && filled >= HANDSHAKE_HEADER) {
      if (out[0] !== HANDSHAKE_CLIENT_HELLO) {
        throw new DecodeError('tls.not_client_hello', base, `handshake type ${out[0]!} is not ClientHello (1)`);
      }
      declared = HANDSHAKE_HEADER + u24(out, 1);
      target = Math.min(declared, MAX_HANDSHAKE_BYTES);
    }
    pos = fragment + length;
    first = false;
  }
  if (declared < 0) throw new DecodeError('tls.truncated', base, `handshake header needs 4 bytes, ${filled} captured`);
  const avail = Math.min(filled, target);
  return { bytes: out, avail, declared, base, overLimit: declared > MAX_HANDSHAKE_BYTES };
}

/** Mutable state while walking the ClientHello body; returned as-is when the bytes are cut. */
interface Progress {
  hello: ClientHello;
  sniRead: boolean;
}

/** Signals that the captured bytes ended inside the ClientHello (caught in parseClientHello). */
class Cut {
  constructor(readonly at: number) {}
}

/**
 * Walk the ClientHello in `hs.bytes[0, hs.avail)`. `limit` arguments are ends declared by length
 * fields; a read past one is malformed (`tls.bad_length`), a read past `hs.avail` is a cut.
 *
 * @see RFC 8446 §4.1.2
 */
function parseClientHello(hs: Handshake): ClientHello {
  const b = hs.bytes;
  const progress: Progress = {
    hello: { version: 0, sni: null, alpn: [], cipherSuites: 0, extensions: [] },
    sniRead: false,
  };
  const fail = (code: TlsErrorCode, at: number, message: string): never => {
    throw new DecodeError(code, hs.base + at, message);
  };
  /** Check that `n` bytes at `pos` lie inside `limit` and were captured. */
  const need = (pos: number, n: number, limit: number, what: string): void => {
    if (n > limit - pos) {
      fail(
        'tls.bad_length',
        pos,
        `${what} (${n} bytes) overruns its enclosing length by ${n - (limit - pos)} bytes`,
      );
    }
    if (n > hs.avail - pos) throw new Cut(pos);
  };

  try {
    const bodyEnd = hs.declared;
    let pos = HANDSHAKE_HEADER;
    need(pos, 2 + 32 + 1, bodyEnd, 'legacy_version, random and session id length');
    progress.hello.version = u16(b, pos);
    pos += 34;
    const sessionIdLength = b[pos]!;
    if (sessionIdLength > 32) fail('tls.bad_length', pos, `legacy_session_id of ${sessionIdLength} bytes (at most 32)`);
    pos += 1;
    need(pos, sessionIdLength, bodyEnd, 'legacy_session_id');
    pos += sessionIdLength;

    need(pos, 2, bodyEnd, 'cipher_suites length');
    const suitesLength = u16(b, pos);
    if (suitesLength < 2 || suitesLength % 2 !== 0) {
      fail(
        'tls.bad_length',
        pos,
        `cipher_suites length ${suitesLength} is not a positive even number`,
      );
    }
    pos += 2;
    need(pos, suitesLength, bodyEnd, 'cipher_suites');
    progress.hello.cipherSuites = suitesLength / 2;
    pos += suitesLength;

    need(pos, 1, bodyEnd, 'legacy_compression_methods length');
    const compressionLength = b[pos]!;
    if (compressionLength < 1) fail('tls.bad_length', pos, 'legacy_compression_methods is empty');
    pos += 1;
    need(pos, compressionLength, bodyEnd, 'legacy_compression_methods');
    pos += compressionLength;

    if (pos === bodyEnd) return progress.hello; // no extensions (before TLS 1.2 they were optional)
    need(pos, 2, bodyEnd, 'extensions length');
    const extensionsLength = u16(b, pos);
    pos += 2;
    if (extensionsLength !== bodyEnd - pos) {
      fail(
        'tls.bad_length',
        pos - 2,
        `extensions length ${extensionsLength} does not match the ${bodyEnd - pos} bytes left in the ClientHello`,
      );
    }
    while (pos < bodyEnd) {
      if (progress.hello.extensions.length >= MAX_EXTENSIONS) {
        fail('tls.too_many_extensions', pos, `more than ${MAX_EXTENSIONS} extensions`);
      }
      need(pos, 4, bodyEnd, 'extension header');
      const type = u16(b, pos);
      const length = u16(b, pos + 2);
      pos += 4;
      need(pos, length, bodyEnd, `extension ${type} data`);
      progress.hello.extensions.push(type);
      if (type === TLS_EXTENSION.SERVER_NAME && !progress.sniRead) {
        progress.hello.sni = serverName(b, pos, pos + length, fail);
        progress.sniRead = true;
      } else if (type === TLS_EXTENSION.ALPN && progress.hello.alpn.length === 0) {
        progress.hello.alpn = alpnProtocols(b, pos, pos + length, fail);
      }
      pos += length;
    }
    return progress.hello;
  } catch (e) {
    if (!(e instanceof Cut)) throw e;
    if (progress.sniRead) return progress.hello;
    const why = hs.overLimit
      ? `ClientHello of ${hs.declared} bytes is longer than the ${MAX_HANDSHAKE_BYTES}-byte reassembly limit`
      : `bytes end inside the ClientHello (${hs.avail} of ${hs.declared} bytes)`;
    throw new DecodeError('tls.truncated', hs.base + e.at, `${why}, before its server_name extension`);
  }
}

type Fail = (code: TlsErrorCode, at: number, message: string) => never;

/**
 * The first host_name of a server_name extension held (completely) in `b[pos, end)`, lower-cased,
 * or null when there is none or it is not a plausible host name.
 *
 * @see RFC 6066 §3
 */
function serverName(b: Uint8Array, pos: number, end: number, fail: Fail): string | null {
  if (end === pos) return null; // the empty form a server sends back
  if (end - pos < 2) fail('tls.bad_extension', pos, 'server_name extension too short for its list length');
  const listLength = u16(b, pos);
  if (listLength !== end - pos - 2) {
    fail(
      'tls.bad_extension',
      pos,
      `server_name list length ${listLength} does not match the extension's ${end - pos - 2} bytes`,
    );
  }
  pos += 2;
  let found: string | null | undefined;
  for (let entries = 0; pos < end; entries++) {
    if (entries >= MAX_SERVER_NAMES) fail('tls.bad_extension', pos, `more than ${MAX_SERVER_NAMES} server_name entries`);
    if (end - pos < 3) fail('tls.bad_extension', pos, 'server_name entry header cut short');
    const nameType = b[pos]!;
    const nameLength = u16(b, pos + 1);
    pos += 3;
    if (nameLength > end - pos) {
      fail(
        'tls.bad_extension',
        pos - 2,
        `server_name entry of ${nameLength} bytes overruns the extension`,
      );
    }
    if (nameType === HOST_NAME_TYPE && found === undefined) found = hostName(b, pos, pos + nameLength);
    pos += nameLength;
  }
  return found ?? null;
}

/**
 * `b[from, to)` lower-cased if it is a host name: letters, digits, '-' and '_' in non-empty labels
 * separated by single dots (no trailing dot), at most 255 bytes; otherwise null.
 */
function hostName(b: Uint8Array, from: number, to: number): string | null {
  if (to - from < 1 || to - from > MAX_HOST_NAME) return null;
  let s = '';
  let labelLength = 0;
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c === 0x2e) {
      if (labelLength === 0) return null;
      labelLength = 0;
      s += '.';
      continue;
    }
    labelLength++;
    if (c >= 0x41 && c <= 0x5a) s += String.fromCharCode(c + 0x20);
    else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) s += String.fromCharCode(c);
    else return null;
  }
  return labelLength === 0 ? null : s;
}

/**
 * ALPN protocol names of an extension held (completely) in `b[pos, end)`. Bytes outside
 * printable ASCII are written as `\xHH`.
 *
 * @see RFC 7301 §3.1
 */
function alpnProtocols(b: Uint8Array, pos: number, end: number, fail: Fail): string[] {
  if (end - pos < 2) fail('tls.bad_extension', pos, 'ALPN extension too short for its list length');
  const listLength = u16(b, pos);
  if (listLength < 2 || listLength !== end - pos - 2) {
    fail('tls.bad_extension', pos, `ALPN list length ${listLength} does not match the extension's ${end - pos - 2} bytes`);
  }
  pos += 2;
  const protocols: string[] = [];
  while (pos < end) {
    if (protocols.length >= MAX_ALPN_PROTOCOLS) {
      fail(
        'tls.bad_extension',
        pos,
        `more than ${MAX_ALPN_PROTOCOLS} ALPN protocols`,
      );
    }
    const length = b[pos]!;
    if (length === 0) fail('tls.bad_extension', pos, 'empty ALPN protocol name');
    if (length > end - pos - 1) {
      fail(
        'tls.bad_extension',
        pos,
        `ALPN protocol name of ${length} bytes overruns the extension`,
      );
    }
    let s = '';
    for (let i = pos + 1; i <= pos + length; i++) {
      const c = b[i]!;
      s += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
    }
    protocols.push(s);
    pos += 1 + length;
  }
  return protocols;
}

/** Record length of the header at `pos` (5 bytes present), checked against the TLSPlaintext limit. */
function recordLength(buf: Uint8Array, pos: number): number {
  const length = u16(buf, pos + 3);
  if (length === 0 || length > MAX_RECORD_LENGTH) {
    throw new DecodeError('tls.bad_record', pos + 3, `record length ${length} is not between 1 and ${MAX_RECORD_LENGTH}`);
  }
  return length;
}

function validRecordVersion(buf: Uint8Array, pos: number): boolean {
  return buf[pos] === 3 && buf[pos + 1]! >= 1 && buf[pos + 1]! <= 4;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function u16(buf: Uint8Array, pos: number): number {
  return (buf[pos]! << 8) | buf[pos + 1]!;
}

function u24(buf: Uint8Array, pos: number): number {
  return (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
}
