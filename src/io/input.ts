/**
 * The only place input bytes are read. Formats are sniffed from magic bytes, never from the file
 * name; `-` reads standard input; gzip is decompressed on the fly. Files are read straight into the
 * parser's window (no per-chunk copies), one chunk ahead of the parser on libuv's thread pool
 * (src/io/readahead.ts); streams are appended chunk by chunk.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Anomalies } from '../anomalies.js';
import { InputError, InputInterrupted } from '../errors.js';
import type { InputFormat } from '../types.js';
import { hashFileInWorker, refuseStreams } from './hash.js';
import { gunzip } from './gunzip.js';
import { ByteWindow, releaseWindow, takeWindow } from './joiner.js';
import { ChunkReader, readAheadWindowBytes } from './readahead.js';
import { IpfixFileParser, looksLikeIpfixFile, type ExportMessageSink } from './ipfixfile.js';
import { JsonFlowsParser, looksLikeJsonFlows } from './jsonflows.js';
import { loadNfcapdCodecs, looksLikeNffile, NfcapdParser, type NfcapdCodecs } from './nfcapd.js';
import { looksLikeNfdumpCsv, NfdumpCsvParser, type RecordSink } from './nfcsv.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapParser, type CaptureParser, type PacketSink } from './pcap.js';
import { PCAPNG_SHB, PcapngParser } from './pcapng.js';

/** What was learned about one input while reading it. */
export interface InputInfo {
  path: string;
  format: InputFormat;
  /** `gzip` when the bytes were decompressed on the fly. */
  compression: 'none' | 'gzip';
  /** Bytes of the input as stored (compressed size for gzip). */
  size: number;
  /** Bytes parsed (decompressed size for gzip). */
  parsedBytes: number;
  /** sha256 of the input as stored, hex. */
  sha256: string;
  /** Packet records delivered. */
  packets: number;
  /**
   * Standard input: sha256 of its first N bytes, for each N asked for (the lengths of earlier,
   * interrupted reads of standard input, so a later read can tell whether it holds them).
   */
  prefixSha256?: Record<number, string>;
}

const CHUNK = 1 << 22;

/** Identify a container from its first bytes. */
export function sniffFormat(head: Uint8Array): InputFormat | 'gzip' | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (looksLikeNffile(head)) return 'nfcapd';
  if (looksLikeNfdumpCsv(head)) return 'nfdump-csv';
  if (looksLikeIpfixFile(head)) return 'ipfix';
  if (looksLikeJsonFlows(head)) return 'json-flows';
  if (head.length < 4) return null;
  const le = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
  const be = ((head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!) >>> 0;
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return 'pcap';
  if (be === PCAPNG_SHB) return 'pcapng';
  return null;
}

function hex(head: Uint8Array): string {
  return [...head.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** What an input delivers: packets (captures) or export records (flow exports). */
export type InputSink = PacketSink & RecordSink & ExportMessageSink;

/** Bytes looked at to recognise a format (a CSV header needs more than a magic number). */
const SNIFF_BYTES = 512;

/** Block decompressors for nfdump files, loaded only when one is read. */
async function codecsFor(format: InputFormat): Promise<NfcapdCodecs | null> {
  return format === 'nfcapd' ? loadNfcapdCodecs() : null;
}

/** The reader of one input format (an nfdump file needs its block codecs: {@link loadNfcapdCodecs}). */
export function makeParser(format: InputFormat, path: string, anomalies: Anomalies, sink: InputSink, codecs: NfcapdCodecs | null): CaptureParser {
  switch (format) {
    case 'nfcapd':
      return new NfcapdParser(path, anomalies, sink, codecs!);
    case 'pcap':
      return new PcapParser(path, anomalies, sink);
    case 'pcapng':
      return new PcapngParser(path, anomalies, sink);
    case 'nfdump-csv':
      return new NfdumpCsvParser(path, anomalies, sink);
    case 'ipfix':
      return new IpfixFileParser(path, anomalies, sink);
    case 'json-flows':
      return new JsonFlowsParser(path, anomalies, sink);
  }
}

/** Every format an input may be in, for the messages that refuse one. */
export const SUPPORTED_FORMATS =
  'pcap (magic a1b2c3d4 or a1b23c4d), pcapng (0a0d0d0a), an nfdump binary file as nfcapd writes it (0ca5 0200, nfdump 1.7), an nfdump CSV header (ts,te,…,sa,da,sp,dp,pr,…), an IPFIX file (RFC 5655: version 10 messages), JSON lines of flows, or any of these gzipped (1f8b)';

function unknownFormat(path: string, head: Uint8Array): InputError {
  if (head.length === 0) return new InputError(path, 0, `empty input: expected ${SUPPORTED_FORMATS}`);
  return new InputError(path, 0, `unrecognised format (first bytes ${hex(head)}); expected ${SUPPORTED_FORMATS}`);
}

/**
 * Read one capture and deliver every packet to `sink`. Malformed records are counted in
 * `anomalies`; a file that cannot be read at all raises {@link InputError}. `opts.hash: false`
 * leaves `sha256` empty (a reader whose twin hashes the same file). `opts.progress.bytes` is set to
 * the bytes read so far as stored (compressed for gzip) after each chunk, for a progress display.
 * `opts.pace`, when it gives a promise before a chunk, is waited for before that chunk is read.
 */
export async function readCapture(path: string, sink: InputSink, anomalies: Anomalies, signal?: AbortSignal, opts: { prefixes?: readonly number[]; hash?: boolean; progress?: { bytes: number }; pace?: () => Promise<void> | null } = {}): Promise<InputInfo> {
  if (path === '-') return readStream(path, process.stdin, sink, anomalies, signal, opts.prefixes ?? [], true, opts.progress, opts.pace);
  refuseStreams(path, PIPE_INSTEAD);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(path, 0, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let win: ByteWindow | null = null;
  let reader: ChunkReader | null = null;
  try {
    // One fstat: what the descriptor is, its size when opened, and its identity for the digest.
    const st = fstatSync(fd, { bigint: true });
    if (st.isDirectory()) throw new InputError(path, 0, 'is a directory');
    if (!st.isFile()) refuseStreams(path, PIPE_INSTEAD, st);
    const head = new Uint8Array(SNIFF_BYTES);
    const n = readSync(fd, head, 0, SNIFF_BYTES, 0);
    const kind = sniffFormat(head.subarray(0, n));
    // Hash on the other core while this one parses (the stored bytes, compressed or not).
    const hashing = kind !== null && (opts.hash ?? true) ? hashFileInWorker(path, st) : null;
    hashing?.catch(() => undefined);
    if (kind === 'gzip') {
      // The stream opens and closes its own descriptor: destroying it on SIGINT closes that one,
      // never the one the finally below closes (which gave EBADF and an internal error).
      const { createReadStream } = await import('node:fs');
      const info = await readStream(path, createReadStream(path, { start: 0, highWaterMark: CHUNK }), sink, anomalies, signal, [], false, opts.progress, opts.pace);
      // Compared with the size it had when opened: a gzip stream that fails part-way is read only
      // that far, and the file did not change for it.
      return { ...info, sha256: await digestOf(path, hashing, Math.max(info.size, Number(st.size)), signal?.aborted ?? false) };
    }
    if (kind === null) throw unknownFormat(path, head.subarray(0, n));
    win = takeWindow(readAheadWindowBytes(CHUNK));
    const parser = makeParser(kind, path, anomalies, sink, await codecsFor(kind));
    reader = new ChunkReader(fd, win, CHUNK);
    let pos = 0;
    let chunks = 0;
    for (;;) {
      // Let signals (SIGINT) through between chunks; an abort ends the input where it stands.
      if (++chunks > 1) await (opts.pace?.() ?? yieldToEventLoop());
      if (signal?.aborted) break;
      const got = await reader.next();
      if (got === 0) break;
      pos += got;
      if (opts.progress) opts.progress.bytes = pos;
      parser.parse(win, false);
    }
    const stopped = signal?.aborted ?? false;
    parser.parse(win, !stopped);
    const sha256 = await digestOf(path, hashing, pos, stopped);
    return { path, format: kind, compression: 'none', size: pos, parsedBytes: pos, sha256, packets: parser.packets };
  } finally {
    // A read still under way writes into the window with the descriptor: both wait for it.
    await reader?.settle();
    closeSync(fd);
    if (win !== null) releaseWindow(win);
  }
}

/** What to do with a pipe or device named as an input ({@link refuseStreams}). */
const PIPE_INSTEAD = 'pipe it to standard input instead: … | minerwatch scan -';

/**
 * The sha256 the hashing thread took of a file `read` bytes of which were read ('' when it was not
 * asked for). A file that changed while being read is not the file that was parsed: its digest says
 * so. A stopped read hashed the whole file but parsed part of it: the digest still names the file.
 */
async function digestOf(path: string, hashing: Promise<{ sha256: string; size: number }> | null, read: number, stopped: boolean): Promise<string> {
  if (hashing === null) return '';
  try {
    const h = await hashing;
    return h.size === read || stopped ? h.sha256 : `changed-while-reading:${h.sha256}`;
  } catch (e) {
    throw new InputError(path, read, `cannot hash: ${(e as Error).message}`);
  }
}

/** Let pending events (a signal) run before the next chunk. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Read from a stream (standard input, or a gzipped file), gunzipping when the first bytes say gzip.
 * With `hashing` the bytes are hashed as they pass (standard input, which cannot be read again);
 * a file is hashed by the caller, on the hashing thread.
 */
async function readStream(
  path: string,
  stream: Readable,
  sink: InputSink,
  anomalies: Anomalies,
  signal?: AbortSignal,
  prefixes: readonly number[] = [],
  hashing = true,
  progress?: { bytes: number },
  pace?: () => Promise<void> | null,
): Promise<InputInfo> {
  const hash = createHash('sha256');
  let size = 0;
  // Hashes of the first N bytes, finished as the stream passes N (a handful at most).
  const pending = [...new Set(prefixes)].filter((n) => n > 0).map((n) => ({ n, h: createHash('sha256') }));
  const prefixSha256: Record<number, string> = {};
  async function* raw(): AsyncGenerator<Buffer> {
    for await (const c of stream) {
      const chunk = c as Buffer;
      if (hashing) hash.update(chunk);
      for (const p of pending) {
        if (p.n in prefixSha256 || size >= p.n) continue;
        p.h.update(chunk.subarray(0, Math.min(chunk.length, p.n - size)));
        if (size + chunk.length >= p.n) prefixSha256[p.n] = p.h.digest('hex');
      }
      size += chunk.length;
      if (progress) progress.bytes = size;
      yield chunk;
    }
  }
  // Peek at the first bytes to decide on gunzip, without losing them.
  const it = raw();
  const first = await it.next();
  const firstChunk: Buffer = first.done ? Buffer.alloc(0) : first.value;
  async function* rest(): AsyncGenerator<Buffer> {
    if (firstChunk.length) yield firstChunk;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const gz = sniffFormat(firstChunk) === 'gzip';
  let gzipError: string | null = null;
  // A cut or corrupt gzip stream: every byte it gave is kept (even fewer than the sniff needs); the
  // parser below says what its own format lost at the cut.
  const body: AsyncIterable<Buffer> = gz
    ? gunzip(rest(), (offset, message) => {
        gzipError ??= message;
        anomalies.add('input.bad_gzip', path, offset, message);
      })
    : rest();
  const win = new ByteWindow(CHUNK * 2);
  let parser: CaptureParser | null = null;
  let parsed = 0;
  // An abort must also end a read that is waiting for bytes (a pipe that stays open).
  const onAbort = (): void => {
    stream.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      const wait = pace?.();
      if (wait) await wait;
      if (signal?.aborted) break;
      win.append(chunk);
      parsed += chunk.length;
      if (!parser) {
        if (win.available < SNIFF_BYTES) continue;
        const kind = sniffFormat(win.buf.subarray(win.start, win.start + SNIFF_BYTES));
        if (kind === null || kind === 'gzip') throw unknownFormat(path, win.buf.subarray(win.start, win.start + 8));
        parser = makeParser(kind, path, anomalies, sink, await codecsFor(kind));
      }
      parser.parse(win, false);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as NodeJS.ErrnoException;
    // Stopped on purpose: keep what was read.
    if (!signal?.aborted) throw new InputError(path, size, `cannot read: ${err.code ?? err.message}`);
  }
  signal?.removeEventListener('abort', onAbort);
  const stopped = signal?.aborted ?? false;
  if (!parser) {
    const kind = sniffFormat(win.buf.subarray(win.start, Math.min(win.end, win.start + SNIFF_BYTES)));
    if (kind === null || kind === 'gzip') {
      if (stopped) throw new InputInterrupted(path, parsed, 'interrupted before the format could be recognised');
      if (gzipError !== null)
        throw new InputError(path, size, `gzip stream cut short or corrupt (${gzipError}) after ${parsed} decompressed byte(s), too few to recognise a capture or flow export`);
      throw unknownFormat(path, win.buf.subarray(win.start, win.end));
    }
    parser = makeParser(kind, path, anomalies, sink, await codecsFor(kind));
  }
  // A stop mid-record is not a truncated file: only a real end of input is final.
  parser.parse(win, !stopped);
  const format = parser.format;
  return {
    path,
    format,
    compression: gz ? 'gzip' : 'none',
    size,
    parsedBytes: parsed,
    sha256: hashing ? hash.digest('hex') : '',
    packets: parser.packets,
    ...(pending.length ? { prefixSha256 } : {}),
  };
}
