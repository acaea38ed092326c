/**
 * pcapng reader: several sections (each with its own byte order) and interfaces (each with its own
 * link type, snap length and timestamp resolution), enhanced, simple and obsolete packet blocks;
 * every other block is skipped by its length. Bad block lengths are counted and the reader
 * resynchronises on the next plausible block.
 *
 * @see https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ (PCAP Next Generation Dump File Format)
 */
import { isDateMs, MAX_DATE_MS } from '../time.js';
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { ByteWindow } from './joiner.js';
import { MAX_RECORD, type CaptureParser, type PacketSink } from './pcap.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;
const IDB = 1;
const OPB = 2;
const SPB = 3;
const NRB = 4;
const ISB = 5;
const EPB = 6;
const DSB = 10;
/** Largest block accepted: bigger claims are treated as corruption. */
const MAX_BLOCK = 16 << 20;

interface Iface {
  linktype: number;
  snaplen: number;
  /** Timestamp units per second. */
  units: number;
  /** if_tsoffset in seconds. */
  offsetSec: number;
}

export class PcapngParser implements CaptureParser {
  readonly format = 'pcapng' as const;
  packets = 0;
  private le = true;
  private inSection = false;
  private ifaces: Iface[] = [];
  private resyncing = false;
  private skipFrom = 0;

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly sink: PacketSink,
  ) {}

  parse(win: ByteWindow, final: boolean): void {
    const b = win.buf;
    for (;;) {
      if (this.resyncing && !this.resync(win, final)) return;
      const s = win.start;
      if (win.end - s < 12) {
        if (final && win.end > s) this.endsInsideHeader(win, s);
        break;
      }
      const rawType = this.u32(b, s);
      if (rawType === PCAPNG_SHB) {
        const bomLe = (b[s + 8]! | (b[s + 9]! << 8) | (b[s + 10]! << 16) | (b[s + 11]! << 24)) >>> 0;
        if (bomLe === BOM) this.le = true;
        else if (bomLe === 0x4d3c2b1a) this.le = false;
        else if (this.packets === 0 && !this.inSection) {
          throw new InputError(this.file, win.offsetOf(s + 8), 'section header without the byte-order magic 1a2b3c4d');
        } else {
          this.badBlock(win, s, 'section header without the byte-order magic 1a2b3c4d');
          continue;
        }
      } else if (!this.inSection) {
        if (this.packets === 0 && win.offsetOf(s) === 0) {
          throw new InputError(this.file, 0, 'not a pcapng file (expected a section header block 0a0d0d0a)');
        }
      }
      const type = this.u32(b, s);
      const len = this.u32(b, s + 4);
      if (len < 12 || (len & 3) !== 0 || len > MAX_BLOCK) {
        this.badBlock(win, s, `block type ${type} claims length ${len}; expected a multiple of 4 between 12 and ${MAX_BLOCK}`);
        continue;
      }
      if (win.end - s < len) {
        if (final) {
          this.anomalies.add('pcapng.truncated_block', this.file, win.offsetOf(s), `file ends inside a ${len}-byte block of type ${type}`);
          win.start = win.end;
        }
        break;
      }
      if (this.u32(b, s + len - 4) !== len) {
        this.badBlock(win, s, `block type ${type}: trailing length ${this.u32(b, s + len - 4)} differs from leading length ${len}`);
        continue;
      }
      this.block(type, b, s, len, win);
      win.start = s + len;
    }
  }

  /** The input ends with fewer bytes than the smallest block (12): a cut file, said like any cut block. */
  private endsInsideHeader(win: ByteWindow, s: number): void {
    const left = win.end - s;
    const why = `file ends ${left} byte(s) into a block, before its header and trailer (a block is at least 12 bytes)`;
    // Nothing read yet: there is no capture in it at all.
    if (!this.inSection && this.packets === 0 && win.offsetOf(s) === 0) throw new InputError(this.file, 0, why);
    this.anomalies.add('pcapng.truncated_block', this.file, win.offsetOf(s), why);
    win.start = win.end;
  }

  private block(type: number, b: Uint8Array, s: number, len: number, win: ByteWindow): void {
    switch (type) {
      case PCAPNG_SHB:
        this.inSection = true;
        this.ifaces = [];
        return;
      case IDB: {
        if (!this.requireSection(win, s)) return;
        if (len < 20) return this.short(win, s, 'interface description', 20, len);
        const iface: Iface = { linktype: this.u16(b, s + 8), snaplen: this.u32(b, s + 12), units: 1e6, offsetSec: 0 };
        this.readIfaceOptions(b, s + 16, s + len - 4, iface);
        this.ifaces.push(iface);
        return;
      }
      case EPB:
      case OPB: {
        if (!this.requireSection(win, s)) return;
        if (len < 32) return this.short(win, s, type === EPB ? 'enhanced packet' : 'packet', 32, len);
        const id = type === EPB ? this.u32(b, s + 8) : this.u16(b, s + 8);
        const iface = this.ifaces[id];
        if (!iface) {
          this.anomalies.add('pcapng.unknown_interface', this.file, win.offsetOf(s), `packet names interface ${id}, but only ${this.ifaces.length} were described`);
          return;
        }
        const caplen = this.u32(b, s + 20);
        const orig = this.u32(b, s + 24);
        if (caplen > len - 32 || caplen > MAX_RECORD) {
          this.anomalies.add('pcapng.bad_block', this.file, win.offsetOf(s), `packet claims ${caplen} captured bytes but its block holds ${len - 32}`);
          return;
        }
        const ts = (this.u32(b, s + 12) * 4294967296 + this.u32(b, s + 16)) / iface.units;
        const ms = (ts + iface.offsetSec) * 1000;
        if (!isDateMs(ms)) {
          this.anomalies.add(
            'pcapng.bad_time',
            this.file,
            win.offsetOf(s),
            `packet time ${ts + iface.offsetSec} s (interface ${id}: ${iface.units} units per second, offset ${iface.offsetSec} s) is outside the dates a report holds; expected within ${MAX_DATE_MS / 1000} s of 1970; skipped`,
          );
          return;
        }
        this.packets++;
        this.sink.time = ms;
        this.sink.offset = win.offsetOf(s + 28);
        this.sink.packet(iface.linktype, b, s + 28, caplen, orig < caplen ? caplen : orig);
        return;
      }
      case SPB: {
        if (!this.requireSection(win, s)) return;
        if (len < 16) return this.short(win, s, 'simple packet', 16, len);
        const iface = this.ifaces[0];
        if (!iface) {
          this.anomalies.add('pcapng.unknown_interface', this.file, win.offsetOf(s), 'simple packet block before any interface description');
          return;
        }
        const orig = this.u32(b, s + 8);
        let caplen = Math.min(orig, len - 16);
        if (iface.snaplen > 0 && caplen > iface.snaplen) caplen = iface.snaplen;
        this.packets++;
        // A simple packet block has no timestamp.
        this.sink.time = 0;
        this.sink.offset = win.offsetOf(s + 12);
        this.sink.packet(iface.linktype, b, s + 12, caplen, orig);
        return;
      }
      case NRB:
      case ISB:
      case DSB:
      default:
        return;
    }
  }

  private readIfaceOptions(b: Uint8Array, p: number, end: number, iface: Iface): void {
    while (p + 4 <= end) {
      const code = this.u16(b, p);
      const olen = this.u16(b, p + 2);
      const v = p + 4;
      if (code === 0 || v + olen > end) return;
      if (code === 9 && olen >= 1) {
        const r = b[v]!;
        iface.units = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
      } else if (code === 14 && olen >= 8) {
        const hi = this.u32(b, this.le ? v + 4 : v);
        const lo = this.u32(b, this.le ? v : v + 4);
        iface.offsetSec = (hi | 0) * 4294967296 + lo;
      }
      p = v + ((olen + 3) & ~3);
    }
  }

  private requireSection(win: ByteWindow, s: number): boolean {
    if (this.inSection) return true;
    this.anomalies.add('pcapng.no_section', this.file, win.offsetOf(s), 'block before any section header block');
    return false;
  }

  private short(win: ByteWindow, s: number, what: string, need: number, len: number): void {
    this.anomalies.add('pcapng.bad_block', this.file, win.offsetOf(s), `${what} block of ${len} bytes; expected at least ${need}`);
  }

  private badBlock(win: ByteWindow, s: number, message: string): void {
    this.anomalies.add('pcapng.bad_block_length', this.file, win.offsetOf(s), message);
    this.resyncing = true;
    this.skipFrom = win.offsetOf(s);
    win.start = s + 4;
  }

  /** Scan 4-byte steps for a block whose type is known and whose two lengths agree. */
  private resync(win: ByteWindow, final: boolean): boolean {
    const b = win.buf;
    for (let q = win.start; q + 12 <= win.end; q += 4) {
      const type = this.u32(b, q);
      if (type !== EPB && type !== SPB && type !== IDB && type !== PCAPNG_SHB && type !== ISB && type !== NRB && type !== OPB) continue;
      const len = this.u32(b, q + 4);
      if (len < 12 || (len & 3) !== 0 || len > MAX_BLOCK) continue;
      if (q + len > win.end) {
        if (!final) {
          win.start = q;
          return false;
        }
        continue;
      }
      if (type !== PCAPNG_SHB && this.u32(b, q + len - 4) !== len) continue;
      this.anomalies.add('capture.resync_skipped', this.file, this.skipFrom, `skipped ${win.offsetOf(q) - this.skipFrom} bytes to the next plausible block`);
      win.start = q;
      this.resyncing = false;
      return true;
    }
    if (final) {
      this.anomalies.add('capture.resync_skipped', this.file, this.skipFrom, `no plausible block in the last ${win.offsetOf(win.end) - this.skipFrom} bytes`);
      win.start = win.end;
    } else {
      // Keep the 4-byte block alignment while dropping what was already scanned.
      const scanned = (win.end - 11 - win.start) & ~3;
      if (scanned > 0) win.start += scanned;
    }
    return false;
  }

  private u16(b: Uint8Array, p: number): number {
    return this.le ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!;
  }

  private u32(b: Uint8Array, p: number): number {
    return this.le
      ? (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
      : ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
}
