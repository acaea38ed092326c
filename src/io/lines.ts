/**
 * Lines of a text input, cut from a {@link ByteWindow} for the readers of nfdump CSV, GoFlow2/pmacct
 * JSON lines and Zeek logs: one rule for where a line ends and for a line too long to hold.
 */
import type { ByteWindow } from './joiner.js';

/**
 * Hands out the window's lines one at a time, numbered. A line ends at its newline (`\n`; a CR
 * before it is the reader's to drop) or, when the input ends without one, at the input's end. A
 * line longer than `maxBytes` is counted, reported through the `overlong` hook and skipped, whether
 * it came whole or in pieces: one still arriving is reported as soon as more than `maxBytes` of its
 * bytes are buffered, and its later bytes, in this window and the next ones up to its newline, are
 * not lines of their own. Allocates nothing but one Buffer view per window, for Node's memchr
 * newline search (a typed array's own indexOf compares byte by byte).
 */
export class LineCutter {
  /** The number of the line last handed out or reported overlong (1 for the first). */
  line = 0;
  /** Where the current line starts in the window. */
  from = 0;
  private skipping = false;
  private view: Buffer = Buffer.alloc(0);
  private viewOf: Uint8Array | null = null;
  private viewEnd = -1;

  constructor(readonly maxBytes: number) {}

  /**
   * The end (exclusive, before its newline) of the window's next line, which starts at
   * {@link from}, with `win.start` moved past its newline; or -1 when the window holds no more
   * whole line (more bytes are needed, or none are left). `overlong(from, to)` is called for a line
   * longer than `maxBytes` when it is counted ({@link line} is then its number), with its bytes in
   * the window (`to` is its newline, or the window's end while it is still arriving).
   */
  next(win: ByteWindow, final: boolean, overlong: (from: number, to: number) => void): number {
    const b = this.bufferOf(win);
    for (;;) {
      const from = win.start;
      let nl = b.indexOf(0x0a, from);
      if (nl < 0) {
        if (win.end - from > this.maxBytes) {
          if (!this.skipping) {
            this.line++;
            this.skipping = true;
            overlong(from, win.end);
          }
          win.start = win.end;
          return -1;
        }
        if (!final || from === win.end) return -1;
        nl = win.end;
      }
      win.start = nl < win.end ? nl + 1 : nl;
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      this.line++;
      // Whole in the window but too long all the same: the rule does not depend on where reads cut.
      if (nl - from > this.maxBytes) {
        overlong(from, nl);
        continue;
      }
      this.from = from;
      return nl;
    }
  }

  /** A Buffer over the window's valid bytes, made again only when the window's array or end moved. */
  private bufferOf(win: ByteWindow): Buffer {
    if (this.viewOf !== win.buf || this.viewEnd !== win.end) {
      this.view = Buffer.from(win.buf.buffer, win.buf.byteOffset, win.end);
      this.viewOf = win.buf;
      this.viewEnd = win.end;
    }
    return this.view;
  }
}
