/**
 * Resolver logs as a stream of DNS lookups (`scan --dns-log FILE`): dnstap (Frame Streams),
 * Zeek dns.log (TSV or JSON lines) and packet captures (DNS responses on UDP port 53). The format
 * is sniffed from the content, never from the name; gzip is decompressed on the fly. Files are
 * read in chunks into one window and parsed in place: memory stays constant whatever the size.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Anomalies } from '../anomalies.js';
import { decodePacket, PACKET_STATUS_ANOMALY, PacketStatus, PacketView } from '../decode/packet.js';
import { InputError, InputInterrupted } from '../errors.js';
import { addressText, decodeLookup } from './dnslookup.js';
import { DnstapParser, looksLikeFrameStreams } from './dnstap.js';
import { hashFileInWorker, refuseStreams } from './hash.js';
import { gunzip } from './gunzip.js';
import { ByteWindow } from './joiner.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapParser, type PacketSink } from './pcap.js';
import { PCAPNG_SHB, PcapngParser } from './pcapng.js';
import { looksLikeZeekJson, looksLikeZeekTsv, ZeekJsonParser, ZeekTsvParser } from './zeekdns.js';

/** One answered DNS lookup from a resolver log. */
export interface DnsLookup {
  /** When the answer was given, ms since the epoch (dnstap: response_time, else query_time). */
  time: number;
  /** The address that asked (subscriber/CPE), text form; IPv4-mapped IPv6 written as plain IPv4. */
  client: string;
  /** The resolver that answered: its address, or the log's identity; null when unknown. */
  resolver: string | null;
  /** The name asked for, lower-case, no trailing dot. */
  query: string;
  qtype: number;
  rcode: number;
  /** A, AAAA and CNAME answers in order (others skipped); names lower-case, no trailing dot. */
  answers: Array<{ name: string; type: 'A' | 'AAAA' | 'CNAME'; data: string; ttl: number }>;
}

/** The resolver-log formats {@link readDnsLog} recognises. */
export type DnsLogFormat = 'dnstap' | 'zeek-tsv' | 'zeek-json' | 'capture';

/** What was learned about one resolver log while reading it. */
export interface DnsLogInfo {
  path: string;
  format: DnsLogFormat;
  /** Bytes of the file as stored (compressed size for gzip). */
  size: number;
  /** sha256 of the file as stored, hex. */
  sha256: string;
  /** Lookups delivered. */
  lookups: number;
  /**
   * Well-formed records that are not answered lookups: dnstap queries and messages of the
   * resolver's own upstream traffic, Zeek lines without a response, DNS queries in captures.
   * Malformed records are counted in the anomalies instead.
   */
  skipped: number;
}

/** The formats, for messages. */
export const DNS_LOG_FORMATS_TEXT =
  'a dnstap Frame Streams file (fstrm_capture, Unbound, BIND, Knot Resolver, PowerDNS; content type protobuf:dnstap.Dnstap), ' +
  'a Zeek dns.log (tab-separated with #separator/#fields header, or JSON lines), or a pcap/pcapng capture; any of them may be gzip-compressed';

const CHUNK = 1 << 22;
const SNIFF_BYTES = 512;

interface DnsLogParser {
  parse(win: ByteWindow, final: boolean): void;
  readonly lookups: number;
  readonly skipped: number;
}

/** Identify a resolver log from its first (decompressed) bytes. */
export function sniffDnsLog(head: Uint8Array): DnsLogFormat | null {
  if (looksLikeFrameStreams(head)) return 'dnstap';
  if (looksLikeZeekTsv(head)) return 'zeek-tsv';
  if (looksLikeZeekJson(head)) return 'zeek-json';
  if (head.length >= 4) {
    const le = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
    const be = ((head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!) >>> 0;
    if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || be === PCAPNG_SHB) return 'capture';
  }
  return null;
}

/** What to do with a resolver log that is a pipe or device ({@link refuseStreams}). */
const PIPE_INSTEAD = 'write it to a file first';

/**
 * Reads one resolver log (format sniffed from content, gzip transparently); calls `onLookup` per
 * answered lookup; malformed records are counted in `anomalies` (file + byte offset, or line
 * number for Zeek logs, + what was expected) and skipped. `opts.signal` stops the read where it
 * stands (what was read is kept).
 *
 * @throws InputError only when the file cannot be read at all or is no known format (the message
 * lists the formats).
 */
export async function readDnsLog(
  path: string,
  onLookup: (l: DnsLookup) => void,
  anomalies: Anomalies,
  opts: { signal?: AbortSignal } = {},
): Promise<DnsLogInfo> {
  const signal = opts.signal;
  refuseStreams(path, PIPE_INSTEAD);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(path, 0, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    let size: number;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw new InputError(path, 0, 'is a directory; expected a resolver log file');
      refuseStreams(path, PIPE_INSTEAD, st);
      size = st.size;
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(path, 0, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const head = new Uint8Array(2);
    const n = readAt(path, fd, head, 0);
    const gz = n === 2 && head[0] === 0x1f && head[1] === 0x8b;
    const hashing = gz ? null : hashFileInWorker(path);
    hashing?.catch(() => undefined);
    const hash = gz ? createHash('sha256') : null;
    const chunks = gz ? gunzipChunks(path, fd, hash!, anomalies) : fileChunks(path, fd);

    const win = new ByteWindow(CHUNK * 2);
    let parser: DnsLogParser | null = null;
    let format: DnsLogFormat | null = null;
    let count = 0;
    let read = 0;
    for await (const chunk of chunks) {
      if ((++count & 15) === 0) await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) break;
      win.append(chunk);
      read += chunk.length;
      if (parser === null) {
        if (win.available < SNIFF_BYTES) continue;
        format = sniffDnsLog(win.buf.subarray(win.start, win.end));
        if (format === null) throw unknownFormat(path, win.buf.subarray(win.start, win.end));
        parser = makeParser(format, path, anomalies, onLookup);
      }
      parser.parse(win, false);
    }
    const stopped = signal?.aborted ?? false;
    if (parser === null) {
      format = sniffDnsLog(win.buf.subarray(win.start, win.end));
      if (format === null) {
        if (stopped) throw new InputInterrupted(path, read, 'interrupted before the format could be recognised');
        throw unknownFormat(path, win.buf.subarray(win.start, win.end));
      }
      parser = makeParser(format, path, anomalies, onLookup);
    }
    parser.parse(win, !stopped);

    let sha256: string;
    if (hashing !== null) {
      try {
        const h = await hashing;
        sha256 = h.size === read || stopped ? h.sha256 : `changed-while-reading:${h.sha256}`;
      } catch (e) {
        throw new InputError(path, read, `cannot hash: ${(e as Error).message}`);
      }
    } else sha256 = hash!.digest('hex');
    return { path, format: format!, size, sha256, lookups: parser.lookups, skipped: parser.skipped };
  } finally {
    closeSync(fd);
  }
}

function makeParser(format: DnsLogFormat, path: string, anomalies: Anomalies, onLookup: (l: DnsLookup) => void): DnsLogParser {
  switch (format) {
    case 'dnstap':
      return new DnstapParser(path, anomalies, onLookup);
    case 'zeek-tsv':
      return new ZeekTsvParser(path, anomalies, onLookup);
    case 'zeek-json':
      return new ZeekJsonParser(path, anomalies, onLookup);
    case 'capture':
      return new CaptureDnsParser(path, anomalies, onLookup);
  }
}

function unknownFormat(path: string, head: Uint8Array): InputError {
  if (head.length === 0) return new InputError(path, 0, `empty file; expected ${DNS_LOG_FORMATS_TEXT}`);
  const hex = [...head.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  return new InputError(path, 0, `not a known resolver log (first bytes ${hex}); expected ${DNS_LOG_FORMATS_TEXT}`);
}

function readAt(path: string, fd: number, into: Uint8Array, pos: number): number {
  try {
    return readSync(fd, into, 0, into.length, pos);
  } catch (e) {
    throw new InputError(path, pos, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The file's bytes in chunks (one reused buffer: each chunk is valid until the next is asked for). */
async function* fileChunks(path: string, fd: number): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(CHUNK);
  let pos = 0;
  for (;;) {
    const got = readAt(path, fd, buf, pos);
    if (got === 0) return;
    pos += got;
    yield buf.subarray(0, got);
  }
}

/** The decompressed bytes of a gzip file; the stored bytes go through `hash`. A cut or corrupt stream is said as an anomaly, and every byte it gave is kept. */
function gunzipChunks(path: string, fd: number, hash: ReturnType<typeof createHash>, anomalies: Anomalies): AsyncGenerator<Uint8Array> {
  async function* raw(): AsyncGenerator<Buffer> {
    let stored = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const got = readAt(path, fd, buf, stored);
      if (got === 0) return;
      stored += got;
      const chunk = buf.subarray(0, got);
      hash.update(chunk);
      yield chunk;
    }
  }
  return gunzip(raw(), (offset, message) => anomalies.add('input.bad_gzip', path, offset, message));
}

/**
 * DNS responses in a capture: every UDP datagram from port 53 whose QR bit is set is a lookup;
 * the client is its destination, the resolver its source, the time the packet's. Capture
 * containers are read by the project's pcap/pcapng parsers.
 */
class CaptureDnsParser implements PacketSink {
  readonly format = 'capture' as const;
  lookups = 0;
  skipped = 0;
  private container: PcapParser | PcapngParser | null = null;
  private readonly view = new PacketView();
  private ordinal = 0;

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly onLookup: (l: DnsLookup) => void,
  ) {}

  parse(win: ByteWindow, final: boolean): void {
    if (this.container === null) {
      const b = win.buf;
      const s = win.start;
      const be = win.available >= 4 ? ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0 : 0;
      this.container = be === PCAPNG_SHB ? new PcapngParser(this.file, this.anomalies, this) : new PcapParser(this.file, this.anomalies, this);
    }
    this.container.parse(win, final);
  }

  /** Set by the capture parser before each packet ({@link PacketSink}). */
  time = 0;
  offset = 0;

  packet(linktype: number, buf: Uint8Array, off: number, caplen: number, origLen: number): void {
    const tsMs = this.time;
    const fileOffset = this.offset;
    this.ordinal++;
    const v = this.view;
    const st = decodePacket(linktype, buf, off, caplen, origLen, v);
    if (st !== PacketStatus.Transport) {
      const code = PACKET_STATUS_ANOMALY[st];
      if (code) this.anomalies.add(code, this.file, fileOffset + (v.errorOffset - off), `packet ${this.ordinal} (link type ${linktype}): ${code}`);
      return;
    }
    if (v.proto !== 17 || v.srcPort !== 53 || v.payloadLength === 0) return;
    const client = v.ipVersion === 4 ? ipv4Text(v.dst4) : addressText(buf, v.dst6, 16)!;
    const resolver = v.ipVersion === 4 ? ipv4Text(v.src4) : addressText(buf, v.src6, 16)!;
    const r = decodeLookup(buf, v.payloadOffset, v.payloadLength, tsMs, client, resolver);
    if (r.kind === 'lookup') {
      this.lookups++;
      this.onLookup(r.lookup);
    } else if (r.kind === 'skip') this.skipped++;
    else {
      const at = fileOffset + (v.payloadOffset - off);
      this.anomalies.add('dns.bad_message', this.file, at + r.offset, `packet ${this.ordinal}: UDP payload from port 53 is not a DNS response that decodes (byte ${r.offset} of the message): ${r.message}`);
    }
  }
}

function ipv4Text(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
