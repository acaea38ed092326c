/**
 * dnstap resolver logs: Frame Streams files (as `fstrm_capture`, Unbound, BIND, Knot Resolver and
 * PowerDNS write them) carrying `dnstap.Dnstap` protobuf messages, each with the resolver's
 * wire-format DNS message.
 *
 * Frame Streams: a data frame is a big-endian 32-bit length and that many bytes; a length of 0 is
 * the escape that starts a control frame (32-bit length, 32-bit type ACCEPT 1, START 2, STOP 3,
 * READY 4, FINISH 5, then fields: 32-bit field type, 32-bit length, bytes; field 1 is the content
 * type). Lengths are checked against {@link MAX_DATA_FRAME} and {@link MAX_CONTROL_FRAME} before
 * anything is read; after an impossible length the reader looks for the next plausible frame.
 *
 * Which dnstap messages are lookups: CLIENT_RESPONSE (a resolver's answer to its client; the
 * client is `query_address`), and STUB_RESPONSE and TOOL_RESPONSE (the answer as the asking stub
 * or tool logged it; `query_address` is again the asker). RESOLVER_, AUTH_ and FORWARDER_RESPONSE
 * are answers to a resolver, not to a subscriber, and queries carry no answers: all are counted
 * as skipped.
 *
 * @see https://github.com/farsightsec/fstrm (Frame Streams protocol, fstrm/control.h)
 * @see https://github.com/dnstap/dnstap.pb (dnstap.proto)
 */
import { isDateMs, MAX_DATE_MS } from '../time.js';
import { createRequire } from 'node:module';
import type { Reader, Root, Type } from 'protobufjs/light.js';
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { DnsLookup } from './dnslog.js';
import { addressText, decodeLookup } from './dnslookup.js';
import type { ByteWindow } from './joiner.js';

/** Largest data frame read (fstrm's and the Go reader's default maximum payload). */
export const MAX_DATA_FRAME = 1 << 20;
/** Largest control frame (FSTRM_CONTROL_FRAME_LENGTH_MAX). */
export const MAX_CONTROL_FRAME = 512;
/** The Frame Streams content type of dnstap. */
export const DNSTAP_CONTENT_TYPE = 'protobuf:dnstap.Dnstap';

/** Frame Streams control frame types. */
export const FSTRM_CONTROL = { ACCEPT: 1, START: 2, STOP: 3, READY: 4, FINISH: 5 } as const;
const FSTRM_FIELD_CONTENT_TYPE = 1;

/** dnstap `Message.Type` values. */
export const DNSTAP_MESSAGE_TYPE = {
  AUTH_QUERY: 1,
  AUTH_RESPONSE: 2,
  RESOLVER_QUERY: 3,
  RESOLVER_RESPONSE: 4,
  CLIENT_QUERY: 5,
  CLIENT_RESPONSE: 6,
  FORWARDER_QUERY: 7,
  FORWARDER_RESPONSE: 8,
  STUB_QUERY: 9,
  STUB_RESPONSE: 10,
  TOOL_QUERY: 11,
  TOOL_RESPONSE: 12,
  UPDATE_QUERY: 13,
  UPDATE_RESPONSE: 14,
} as const;

/**
 * dnstap.proto as a protobufjs JSON descriptor (proto2; field numbers and types from the
 * dnstap.pb repository, names in camel case as protobufjs uses them).
 */
export const DNSTAP_SCHEMA = {
  nested: {
    dnstap: {
      nested: {
        Dnstap: {
          fields: {
            identity: { type: 'bytes', id: 1 },
            version: { type: 'bytes', id: 2 },
            extra: { type: 'bytes', id: 3 },
            message: { type: 'Message', id: 14 },
            type: { rule: 'required', type: 'Type', id: 15 },
          },
          nested: { Type: { values: { MESSAGE: 1 } } },
        },
        SocketFamily: { values: { INET: 1, INET6: 2 } },
        SocketProtocol: { values: { UDP: 1, TCP: 2, DOT: 3, DOH: 4, DNSCryptUDP: 5, DNSCryptTCP: 6, DOQ: 7 } },
        HttpProtocol: { values: { HTTP1: 1, HTTP2: 2, HTTP3: 3 } },
        Policy: {
          fields: {
            type: { type: 'string', id: 1 },
            rule: { type: 'bytes', id: 2 },
            action: { type: 'Action', id: 3 },
            match: { type: 'Match', id: 4 },
            value: { type: 'bytes', id: 5 },
          },
          nested: {
            Match: { values: { QNAME: 1, CLIENT_IP: 2, RESPONSE_IP: 3, NS_NAME: 4, NS_IP: 5 } },
            Action: { values: { NXDOMAIN: 1, NODATA: 2, PASS: 3, DROP: 4, TRUNCATE: 5, LOCAL_DATA: 6 } },
          },
        },
        Message: {
          fields: {
            type: { rule: 'required', type: 'Type', id: 1 },
            socketFamily: { type: 'SocketFamily', id: 2 },
            socketProtocol: { type: 'SocketProtocol', id: 3 },
            queryAddress: { type: 'bytes', id: 4 },
            responseAddress: { type: 'bytes', id: 5 },
            queryPort: { type: 'uint32', id: 6 },
            responsePort: { type: 'uint32', id: 7 },
            queryTimeSec: { type: 'uint64', id: 8 },
            queryTimeNsec: { type: 'fixed32', id: 9 },
            queryMessage: { type: 'bytes', id: 10 },
            queryZone: { type: 'bytes', id: 11 },
            responseTimeSec: { type: 'uint64', id: 12 },
            responseTimeNsec: { type: 'fixed32', id: 13 },
            responseMessage: { type: 'bytes', id: 14 },
            policy: { type: 'Policy', id: 15 },
            httpProtocol: { type: 'HttpProtocol', id: 16 },
          },
          nested: { Type: { values: DNSTAP_MESSAGE_TYPE } },
        },
      },
    },
  },
};

/** protobufjs (light build), the schema's root and the types read. */
interface Schema {
  Reader: typeof Reader;
  root: Root;
  dnstap: Type;
  /** `dnstap.Policy`: decoded (and so checked) where a message carries one; nothing of it is used. */
  policy: Type;
}

let schema: Schema | null = null;

/**
 * The schema's types, made on first use: protobufjs is loaded then, not when a scan starts (most
 * scans read no dnstap, and loading it costs a short scan a tenth of its start-up).
 */
function dnstapSchema(): Schema {
  if (schema === null) {
    const protobuf = createRequire(import.meta.url)('protobufjs/light.js') as { Reader: typeof Reader; Root: typeof Root };
    const root = protobuf.Root.fromJSON(DNSTAP_SCHEMA);
    schema = { Reader: protobuf.Reader, root, dnstap: root.lookupType('dnstap.Dnstap'), policy: root.lookupType('dnstap.Policy') };
  }
  return schema;
}

/** The `dnstap.Dnstap` type: protobufjs' own encoder and decoder (bench, tests; the reader uses {@link readDnstapFields}). */
export function dnstapType(): Type {
  return dnstapSchema().dnstap;
}

/** A uint64 as protobufjs hands it over: a number, or a Long when long.js is installed. */
type U64 = number | { low: number; high: number };

/**
 * What a lookup needs of one `dnstap.Dnstap` frame, read in place by {@link readDnstapFields}:
 * byte fields as offset and length into the frame's buffer (length -1: absent). One object is
 * reused for every frame, so a frame costs no allocation beyond the reader.
 */
interface DnstapFields {
  type: number;
  hasMessage: boolean;
  identityOff: number;
  identityLen: number;
  /** `Message.type`, and whether a message of the frame gave one. */
  messageType: number;
  messageHasType: boolean;
  queryAddressOff: number;
  queryAddressLen: number;
  responseAddressOff: number;
  responseAddressLen: number;
  /** Seconds (-1: absent) and nanoseconds of the query and response times. */
  queryTimeSec: number;
  queryTimeNsec: number;
  responseTimeSec: number;
  responseTimeNsec: number;
  responseMessageOff: number;
  responseMessageLen: number;
}

function newFields(): DnstapFields {
  return {
    type: 0,
    hasMessage: false,
    identityOff: 0,
    identityLen: -1,
    messageType: 0,
    messageHasType: false,
    queryAddressOff: 0,
    queryAddressLen: -1,
    responseAddressOff: 0,
    responseAddressLen: -1,
    queryTimeSec: -1,
    queryTimeNsec: 0,
    responseTimeSec: -1,
    responseTimeNsec: 0,
    responseMessageOff: 0,
    responseMessageLen: -1,
  };
}

/**
 * Read the fields of the `dnstap.Dnstap` message in `b[p, p + len)` into `f`, exactly as
 * protobufjs' decoder generated from {@link DNSTAP_SCHEMA} reads them (tests/io/dnstap-fields.test.ts
 * holds the two side by side): a known field with another wire type is skipped as unknown, an empty
 * byte field or a zero uint64 is absent, a repeated `message` is merged into the first, an embedded
 * message must end where its length says, a missing required `type` is an error, an embedded
 * `Policy` is decoded by protobufjs. What differs: byte fields are not copied out, and fields no
 * lookup reads are not kept. Throws what protobufjs' reader throws on bytes that are no message.
 */
export function readDnstapFields(b: Uint8Array, p: number, len: number, f: DnstapFields): void {
  const pb = dnstapSchema();
  const r = pb.Reader.create(b.subarray(p, p + len));
  let hasType = false;
  f.hasMessage = false;
  f.messageHasType = false;
  f.identityLen = -1;
  f.queryAddressLen = -1;
  f.responseAddressLen = -1;
  f.queryTimeSec = -1;
  f.queryTimeNsec = 0;
  f.responseTimeSec = -1;
  f.responseTimeNsec = 0;
  f.responseMessageLen = -1;
  while (r.pos < r.len) {
    const t = r.tag();
    const u = t & 7;
    const field = t >>> 3;
    switch (field) {
      case 1: {
        if (u !== 2) break;
        const n = r.size();
        const at = r.pos;
        r.skip(n);
        f.identityOff = p + at;
        f.identityLen = n > 0 ? n : -1;
        continue;
      }
      case 2:
      case 3:
        if (u !== 2) break;
        r.skip(r.size());
        continue;
      case 14:
        if (u !== 2) break;
        readMessage(pb, r, p, r.size(), f, 1);
        f.hasMessage = true;
        continue;
      case 15:
        if (u !== 0) break;
        f.type = r.int32();
        hasType = true;
        continue;
    }
    r.skipType(u, 0, field);
  }
  if (!hasType) throw new Error("missing required 'type'");
}

/** The `Message` of {@link readDnstapFields}: `n` bytes from the reader's position, at nesting `depth`. */
function readMessage(pb: Schema, r: Reader, p: number, n: number, f: DnstapFields, depth: number): void {
  if (depth > pb.Reader.recursionLimit) throw new Error('max depth exceeded');
  const end = r.pos + n;
  if (end > r.len) throw new RangeError('index out of range');
  const outer = r.len;
  r.len = end;
  while (r.pos < end) {
    const t = r.tag();
    const u = t & 7;
    const field = t >>> 3;
    switch (field) {
      case 1:
        if (u !== 0) break;
        f.messageType = r.int32();
        f.messageHasType = true;
        continue;
      case 2:
      case 3:
      case 16:
        if (u !== 0) break;
        r.int32();
        continue;
      case 4:
      case 5:
      case 14: {
        if (u !== 2) break;
        const k = r.size();
        const at = p + r.pos;
        r.skip(k);
        const l = k > 0 ? k : -1;
        if (field === 4) {
          f.queryAddressOff = at;
          f.queryAddressLen = l;
        } else if (field === 5) {
          f.responseAddressOff = at;
          f.responseAddressLen = l;
        } else {
          f.responseMessageOff = at;
          f.responseMessageLen = l;
        }
        continue;
      }
      case 6:
      case 7:
        if (u !== 0) break;
        r.uint32();
        continue;
      case 8:
      case 12: {
        if (u !== 0) break;
        const v = u64(r.uint64() as U64);
        if (field === 8) f.queryTimeSec = v !== 0 ? v : -1;
        else f.responseTimeSec = v !== 0 ? v : -1;
        continue;
      }
      case 9:
        if (u !== 5) break;
        f.queryTimeNsec = r.fixed32();
        continue;
      case 13:
        if (u !== 5) break;
        f.responseTimeNsec = r.fixed32();
        continue;
      case 10:
      case 11:
        if (u !== 2) break;
        r.skip(r.size());
        continue;
      case 15:
        if (u !== 2) break;
        // Decoded (so checked) as protobufjs would, one level deeper; nothing of it is kept.
        (pb.policy.decode as unknown as (r: Reader, l: number, z: undefined, depth: number) => unknown)(r, r.size(), undefined, depth + 1);
        continue;
    }
    r.skipType(u, depth, field);
  }
  if (r.pos !== end) throw new RangeError('index out of range');
  r.len = outer;
  if (!f.messageHasType) throw new Error("missing required 'type'");
}

function u64(v: U64): number {
  return typeof v === 'number' ? v : (v.high >>> 0) * 4294967296 + (v.low >>> 0);
}

const utf8 = new TextDecoder('utf-8');

/** Does the input start like a Frame Streams file (escape, then a plausible control frame)? */
export function looksLikeFrameStreams(head: Uint8Array): boolean {
  if (head.length < 12) return false;
  if (u32(head, 0) !== 0) return false;
  const len = u32(head, 4);
  const type = u32(head, 8);
  return len >= 4 && len <= MAX_CONTROL_FRAME && type >= FSTRM_CONTROL.ACCEPT && type <= FSTRM_CONTROL.FINISH;
}

/** First byte of each top-level `Dnstap` field (tag = field number << 3 | wire type). */
function plausibleDnstapTag(b: number): boolean {
  return b === 0x0a || b === 0x12 || b === 0x1a || b === 0x72 || b === 0x78;
}

/**
 * Incremental Frame Streams + dnstap reader fed from a {@link ByteWindow}. Every lookup goes to
 * `onLookup`; malformed frames and messages are counted in `anomalies` with their byte offset.
 */
export class DnstapParser {
  readonly format = 'dnstap' as const;
  lookups = 0;
  skipped = 0;
  private resyncing = false;
  private skipFrom = 0;
  private dataFrames = 0;
  private identityBytes: Uint8Array | null = null;
  private identityText: string | null = null;

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly onLookup: (l: DnsLookup) => void,
  ) {}

  parse(win: ByteWindow, final: boolean): void {
    const b = win.buf;
    for (;;) {
      if (this.resyncing && !this.resync(win, final)) return;
      const s = win.start;
      const avail = win.end - s;
      if (avail < 4) break;
      const len = u32(b, s);
      if (len === 0) {
        if (avail < 8) break;
        const clen = u32(b, s + 4);
        if (clen < 4 || clen > MAX_CONTROL_FRAME) {
          this.badFrame(win, s, `control frame length ${clen}; expected 4 to ${MAX_CONTROL_FRAME} bytes`);
          continue;
        }
        if (avail < 8 + clen) break;
        if (!this.control(b, s + 8, clen, win.offsetOf(s))) {
          this.badFrame(win, s, `control frame of ${clen} bytes is malformed (expected type 1-5 and fields that fit)`);
          continue;
        }
        win.start = s + 8 + clen;
        continue;
      }
      if (len > MAX_DATA_FRAME) {
        this.badFrame(win, s, `data frame length ${len}; expected at most ${MAX_DATA_FRAME} bytes`);
        continue;
      }
      if (avail < 4 + len) break;
      this.dataFrame(b, s + 4, len, win.offsetOf(s));
      win.start = s + 4 + len;
    }
    if (final && win.available > 0) {
      const s = win.start;
      const need = win.available >= 4 ? (u32(b, s) === 0 ? (win.available >= 8 ? 8 + u32(b, s + 4) : 8) : 4 + u32(b, s)) : 4;
      this.anomalies.add(
        'dnstap.truncated',
        this.file,
        win.offsetOf(s),
        `file ends inside a Frame Streams frame: ${win.available} bytes left, the frame needs ${need}`,
      );
      win.start = win.end;
    }
  }

  /** Read one control frame body; false when it is malformed. */
  private control(b: Uint8Array, p: number, len: number, fileOffset: number): boolean {
    const type = u32(b, p);
    if (type < FSTRM_CONTROL.ACCEPT || type > FSTRM_CONTROL.FINISH) return false;
    const end = p + len;
    let q = p + 4;
    while (q < end) {
      if (end - q < 8) return false;
      const ftype = u32(b, q);
      const flen = u32(b, q + 4);
      if (flen > end - q - 8) return false;
      if (ftype === FSTRM_FIELD_CONTENT_TYPE) {
        const ct = utf8.decode(b.subarray(q + 8, q + 8 + flen));
        if (ct !== DNSTAP_CONTENT_TYPE) {
          const what = `Frame Streams content type ${JSON.stringify(ct)}; expected ${JSON.stringify(DNSTAP_CONTENT_TYPE)}`;
          // A stream of something else from the start is not a dnstap log at all.
          if (this.dataFrames === 0) throw new InputError(this.file, fileOffset, what);
          this.anomalies.add('dnstap.bad_frame', this.file, fileOffset, what);
        }
      }
      q += 8 + flen;
    }
    return true;
  }

  private readonly fields = newFields();

  private dataFrame(b: Uint8Array, p: number, len: number, fileOffset: number): void {
    this.dataFrames++;
    const f = this.fields;
    try {
      readDnstapFields(b, p, len, f);
    } catch (e) {
      this.anomalies.add('dnstap.bad_message', this.file, fileOffset, `data frame of ${len} bytes is not a dnstap protobuf message: ${(e as Error).message}`);
      return;
    }
    if (f.type !== 1 || !f.hasMessage) {
      this.skipped++;
      return;
    }
    const t = f.messageType;
    if (t !== DNSTAP_MESSAGE_TYPE.CLIENT_RESPONSE && t !== DNSTAP_MESSAGE_TYPE.STUB_RESPONSE && t !== DNSTAP_MESSAGE_TYPE.TOOL_RESPONSE) {
      this.skipped++;
      return;
    }
    if (f.responseMessageLen <= 0) {
      this.anomalies.add('dnstap.bad_message', this.file, fileOffset, `${typeName(t)} without response_message (field 14)`);
      return;
    }
    const client = f.queryAddressLen < 0 ? null : addressText(b, f.queryAddressOff, f.queryAddressLen);
    if (client === null) {
      this.anomalies.add(
        'dnstap.bad_message',
        this.file,
        fileOffset,
        `${typeName(t)} without a usable query_address (field 4): expected 4 or 16 bytes, got ${f.queryAddressLen < 0 ? 'none' : f.queryAddressLen}`,
      );
      return;
    }
    let time: number;
    if (f.responseTimeSec >= 0) time = f.responseTimeSec * 1000 + f.responseTimeNsec / 1e6;
    else if (f.queryTimeSec >= 0) time = f.queryTimeSec * 1000 + f.queryTimeNsec / 1e6;
    else {
      this.anomalies.add('dnstap.bad_message', this.file, fileOffset, `${typeName(t)} without response_time_sec (field 12) or query_time_sec (field 8)`);
      return;
    }
    if (!isDateMs(time)) {
      this.anomalies.add('dnstap.bad_message', this.file, fileOffset, `${typeName(t)} timed ${time / 1000} s, outside the dates a report holds; expected within ${MAX_DATE_MS / 1000} s of 1970`);
      return;
    }
    const resolver = (f.responseAddressLen >= 0 ? addressText(b, f.responseAddressOff, f.responseAddressLen) : null) ?? this.identity(b, f.identityOff, f.identityLen);
    const r = decodeLookup(b, f.responseMessageOff, f.responseMessageLen, time, client, resolver);
    if (r.kind === 'lookup') {
      this.lookups++;
      this.onLookup(r.lookup);
    } else if (r.kind === 'skip') {
      this.anomalies.add('dns.bad_message', this.file, fileOffset, `${typeName(t)} carries a DNS query (QR bit clear), expected a response`);
    } else {
      this.anomalies.add('dns.bad_message', this.file, fileOffset, `response_message of the ${typeName(t)} in this frame, at byte ${r.offset}: ${r.message}`);
    }
  }

  /** The log's identity (`b[off, off + len)`, len -1: none) as text, decoded once while it stays the same. */
  private identity(b: Uint8Array, off: number, len: number): string | null {
    if (len <= 0) return null;
    const prev = this.identityBytes;
    if (prev !== null && prev.length === len) {
      let same = true;
      for (let i = 0; i < len && same; i++) same = prev[i] === b[off + i];
      if (same) return this.identityText;
    }
    this.identityBytes = b.slice(off, off + len);
    this.identityText = utf8.decode(this.identityBytes);
    return this.identityText;
  }

  private badFrame(win: ByteWindow, s: number, message: string): void {
    this.anomalies.add('dnstap.bad_frame', this.file, win.offsetOf(s), `${message}; looking for the next plausible frame`);
    this.resyncing = true;
    this.skipFrom = win.offsetOf(s);
    win.start = s + 1;
  }

  /** Is there a plausible frame header at `q` (judged on what the window holds)? */
  private plausibleAt(b: Uint8Array, q: number, end: number): boolean {
    if (end - q < 5) return false;
    const len = u32(b, q);
    if (len === 0) {
      if (end - q < 12) return false;
      const clen = u32(b, q + 4);
      const type = u32(b, q + 8);
      return clen >= 4 && clen <= MAX_CONTROL_FRAME && type >= FSTRM_CONTROL.ACCEPT && type <= FSTRM_CONTROL.FINISH;
    }
    return len <= MAX_DATA_FRAME && plausibleDnstapTag(b[q + 4]!);
  }

  /**
   * Scan forward for a frame header followed by another plausible one, or by the end of the file,
   * or a data frame whose bytes decode as a dnstap message (the next frame may be damaged too);
   * consumes the bytes skipped. False while more bytes are needed to judge.
   */
  private resync(win: ByteWindow, final: boolean): boolean {
    const b = win.buf;
    for (let q = win.start; q + 5 <= win.end; q++) {
      if (!this.plausibleAt(b, q, win.end)) {
        if (win.end - q < 12 && !final) {
          win.start = q;
          return false;
        }
        continue;
      }
      const len = u32(b, q);
      const next = q + (len === 0 ? 8 + u32(b, q + 4) : 4 + len);
      if (next + 12 > win.end && !final) {
        win.start = q;
        return false;
      }
      if (next === win.end || (next < win.end && (this.plausibleAt(b, next, win.end) || (len > 0 && decodesAsDnstap(b, q + 4, len))))) {
        this.anomalies.add('capture.resync_skipped', this.file, this.skipFrom, `skipped ${win.offsetOf(q) - this.skipFrom} bytes to the next plausible frame`);
        win.start = q;
        this.resyncing = false;
        return true;
      }
    }
    if (final) {
      this.anomalies.add('capture.resync_skipped', this.file, this.skipFrom, `no plausible frame in the last ${win.offsetOf(win.end) - this.skipFrom} bytes`);
      win.start = win.end;
      this.resyncing = false;
    } else {
      win.start = Math.max(win.start, win.end - 11);
    }
    return false;
  }
}

const probe = newFields();

function decodesAsDnstap(b: Uint8Array, p: number, len: number): boolean {
  try {
    readDnstapFields(b, p, len, probe);
    return probe.type === 1;
  } catch {
    return false;
  }
}

function typeName(t: number): string {
  for (const [k, v] of Object.entries(DNSTAP_MESSAGE_TYPE)) if (v === t) return k;
  return `message type ${t}`;
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}
