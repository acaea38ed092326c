/**
 * Classic libpcap file reader: microsecond (0xa1b2c3d4) and nanosecond (0xa1b23c4d) magic, in
 * either byte order. Records are parsed in place in a {@link ByteWindow}; nothing is allocated per
 * packet. A record whose length is impossible is counted and the reader resynchronises on the next
 * plausible record header instead of giving up on the rest of the file.
 *
 * @see https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ (PCAP Capture File Format)
 */
import type { InputFormat } from '../types.js';
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { ByteWindow } from './joiner.js';

/** Receives every packet; `buf[off .. off+caplen)` is valid only during the call. */
export interface PacketSink {
  /**
   * The time of the packet about to be delivered (ms since 1970, fractions kept) and where its bytes
   * start in the (decompressed) input, for error reports: the parser sets both before each
   * {@link packet} call. Fields, not arguments: a number that is not a small integer (every packet's
   * time; an offset past 2 GiB) passed to a call the engine does not inline is boxed, an allocation
   * per packet.
   */
  time: number;
  offset: number;
  packet(linktype: number, buf: Uint8Array, off: number, caplen: number, origLen: number): void;
}

/** An incremental container parser fed from a {@link ByteWindow}. */
export interface CaptureParser {
  readonly format: InputFormat;
  /** Parse every complete record the window holds; `final` means no more bytes will come. */
  parse(win: ByteWindow, final: boolean): void;
  /** Packets (or, for flow exports, records) delivered so far. */
  readonly packets: number;
}

/** The largest record any libpcap writes (MAXIMUM_SNAPLEN). */
export const MAX_RECORD = 262144;

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;

export class PcapParser implements CaptureParser {
  readonly format = 'pcap' as const;
  packets = 0;
  private headerDone = false;
  private le = true;
  private nanos = false;
  private snaplen = 0;
  private linktype = 0;
  private maxCaplen = MAX_RECORD;
  private lastSec = -1;
  private resyncing = false;
  /** Input offset where the bytes being skipped began. */
  private skipFrom = 0;

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly sink: PacketSink,
  ) {}

  parse(win: ByteWindow, final: boolean): void {
    const b = win.buf;
    if (!this.headerDone) {
      if (win.available < 24) {
        if (final) throw new InputError(this.file, win.offsetOf(win.end), `file ends inside the 24-byte pcap header (${win.available} bytes)`);
        return;
      }
      const s = win.start;
      const magicLe = (b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16) | (b[s + 3]! << 24)) >>> 0;
      const magicBe = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
      if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
        this.le = true;
        this.nanos = magicLe === PCAP_MAGIC_NS;
      } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS) {
        this.le = false;
        this.nanos = magicBe === PCAP_MAGIC_NS;
      } else {
        throw new InputError(this.file, win.offsetOf(s), 'not a pcap header (expected magic a1b2c3d4 or a1b23c4d)');
      }
      this.snaplen = this.u32(b, s + 16);
      // The low 16 bits of the link-type field are the link type; FCS bits live above them.
      this.linktype = this.u32(b, s + 20) & 0xffff;
      this.maxCaplen = this.snaplen > 0 && this.snaplen < MAX_RECORD ? this.snaplen : MAX_RECORD;
      win.start += 24;
      this.headerDone = true;
    }
    const div = this.nanos ? 1e6 : 1e3;
    for (;;) {
      let s = win.start;
      if (this.resyncing) {
        const found = this.resync(win, final);
        if (!found) return;
        s = win.start;
      }
      if (win.end - s < 16) break;
      const sec = this.u32(b, s);
      const frac = this.u32(b, s + 4);
      const caplen = this.u32(b, s + 8);
      const origLen = this.u32(b, s + 12);
      if (caplen > this.maxCaplen) {
        this.anomalies.add(
          'pcap.record_too_long',
          this.file,
          win.offsetOf(s),
          `record claims ${caplen} captured bytes; expected at most ${this.maxCaplen} (snap length ${this.snaplen})`,
        );
        this.resyncing = true;
        this.skipFrom = win.offsetOf(s);
        win.start = s + 1;
        continue;
      }
      if (win.end - s - 16 < caplen) break;
      this.lastSec = sec;
      this.packets++;
      const sink = this.sink;
      sink.time = sec * 1000 + frac / div;
      sink.offset = win.offsetOf(s + 16);
      sink.packet(this.linktype, b, s + 16, caplen, origLen < caplen ? caplen : origLen);
      win.start = s + 16 + caplen;
    }
    if (final && win.available > 0) {
      this.anomalies.add(
        'pcap.truncated_record',
        this.file,
        win.offsetOf(win.start),
        `file ends inside a packet record (${win.available} bytes left, record header is 16 bytes plus data)`,
      );
      win.start = win.end;
    }
  }

  /** Is there a plausible record header at `q` (and, when the bytes are there, one after it)? */
  private plausible(b: Uint8Array, q: number, end: number, depth: number): boolean {
    if (end - q < 16) return depth > 0;
    const sec = this.u32(b, q);
    const frac = this.u32(b, q + 4);
    const caplen = this.u32(b, q + 8);
    const orig = this.u32(b, q + 12);
    if (frac >= (this.nanos ? 1e9 : 1e6)) return false;
    if (caplen > this.maxCaplen || orig < caplen || orig > 1 << 24) return false;
    if (this.lastSec >= 0 && (sec < this.lastSec - 86400 || sec > this.lastSec + 86400 * 366)) return false;
    if (depth > 0) return true;
    const next = q + 16 + caplen;
    if (next >= end) return next === end;
    return this.plausible(b, next, end, 1);
  }

  /** Scan forward for the next plausible record; consumes skipped bytes. */
  private resync(win: ByteWindow, final: boolean): boolean {
    const b = win.buf;
    for (let q = win.start; q + 16 <= win.end; q++) {
      const caplen = this.u32(b, q + 8);
      const need = q + 16 + (caplen <= this.maxCaplen ? caplen : 0) + 16;
      if (need > win.end && !final) {
        // Not enough bytes to judge this candidate: wait for more.
        win.start = q;
        return false;
      }
      if (this.plausible(b, q, win.end, 0)) {
        this.anomalies.add('capture.resync_skipped', this.file, this.skipFrom, `skipped ${win.offsetOf(q) - this.skipFrom} bytes to the next plausible record`);
        win.start = q;
        this.resyncing = false;
        return true;
      }
    }
    if (final) {
      this.anomalies.add('capture.resync_skipped', this.file, this.skipFrom, `no plausible record found in the last ${win.offsetOf(win.end) - this.skipFrom} bytes`);
      win.start = win.end;
    } else {
      win.start = Math.max(win.start, win.end - 15);
    }
    return false;
  }

  private u32(b: Uint8Array, p: number): number {
    return this.le
      ? (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
      : ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
}
