/**
 * IPFIX files (RFC 5655): a file is a sequence of IPFIX messages, each with its own 16-byte header
 * carrying the message length. Messages are handed whole to the export decoder; a message length
 * that cannot be right is counted and the reader resynchronises on the next plausible header.
 * @see RFC 5655 section 6 (file format), RFC 7011 section 3.1 (message header)
 */
import type { Anomalies } from '../anomalies.js';
import type { ByteWindow } from './joiner.js';

/** Receives whole export messages (IPFIX files, and later live datagrams). */
export interface ExportMessageSink {
  exportMessage(buf: Uint8Array, off: number, len: number, exporter: string, fileOffset: number): void;
}

const HEADER = 16;
/** 2000-01-01: an export time before it is not a real IPFIX header. */
const MIN_EXPORT_TIME = 946684800;

function plausibleHeader(b: Uint8Array, p: number, end: number): boolean {
  if (end - p < HEADER) return false;
  if (b[p] !== 0 || b[p + 1] !== 10) return false;
  const len = (b[p + 2]! << 8) | b[p + 3]!;
  const t = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
  return len >= HEADER + 4 && t >= MIN_EXPORT_TIME;
}

/** Does the input start like an IPFIX file? */
export function looksLikeIpfixFile(head: Uint8Array): boolean {
  return plausibleHeader(head, 0, head.length);
}

export class IpfixFileParser {
  readonly format = 'ipfix' as const;
  /** Messages read. */
  packets = 0;
  private resyncing = false;

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly sink: ExportMessageSink,
  ) {}

  parse(win: ByteWindow, final: boolean): void {
    const b = win.buf;
    for (;;) {
      const s = win.start;
      if (this.resyncing) {
        let q = s;
        while (q + HEADER <= win.end && !plausibleHeader(b, q, win.end)) q++;
        if (q + HEADER > win.end) {
          win.start = final ? win.end : Math.max(s, win.end - HEADER + 1);
          return;
        }
        this.anomalies.add('capture.resync_skipped', this.file, win.offsetOf(s), `skipped ${q - s} bytes to the next plausible IPFIX message header`);
        win.start = q;
        this.resyncing = false;
        continue;
      }
      if (win.end - s < HEADER) break;
      if (!plausibleHeader(b, s, win.end)) {
        this.anomalies.add('ipfix.bad_length', this.file, win.offsetOf(s), 'expected an IPFIX message header (version 10, length >= 20, export time after 2000)');
        this.resyncing = true;
        win.start = s + 1;
        continue;
      }
      const len = (b[s + 2]! << 8) | b[s + 3]!;
      if (win.end - s < len) break;
      this.packets++;
      this.sink.exportMessage(b, s, len, this.file, win.offsetOf(s));
      win.start = s + len;
    }
    if (final && win.available > 0) {
      this.anomalies.add('ipfix.bad_length', this.file, win.offsetOf(win.start), `file ends inside an IPFIX message (${win.available} bytes left)`);
      win.start = win.end;
    }
  }
}
