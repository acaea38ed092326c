/**
 * TCP segments to lines, per direction: bytes are taken in sequence order (retransmissions
 * trimmed, a few segments that arrive ahead of a hole held until it fills), split at `\n`, and each
 * complete line handed to the subclass. A hole that does not fill drops the partial line and is
 * counted; reading resumes at once when the segment after it starts a JSON message, else at the
 * next line. Of a line longer than {@link MAX_LINE} bytes only the head is kept.
 *
 * Allocation: one 256-byte line buffer per direction (grown to at most MAX_LINE), a copy of each
 * held segment; nothing per in-order segment.
 */

/** Longest line parsed whole; of longer ones only this much of the head is kept. */
export const MAX_LINE = 1024;
/** Out-of-order segments held per stream, and the largest held. */
const MAX_AHEAD = 4;
const MAX_AHEAD_BYTES = 4096;

class LineBuffer {
  /** A Buffer, so a complete line becomes a string without a decoder (`toString('latin1')`). */
  buf = Buffer.alloc(256);
  length = 0;
  /** After a gap: drop bytes until the next newline. */
  skipping = false;
  /** The current line is longer than MAX_LINE; only its head is kept. */
  truncated = false;
  nextSeq = 0;
  seqSet = false;
}

/** Reassembles the two directions of one TCP connection into lines (see the module comment). */
export abstract class TcpLineStream {
  /** The reader gave up (see {@link admit}); further segments are ignored. */
  dead = false;
  /** Holes skipped since the start (or the last reset by the subclass). */
  protected gaps = 0;
  private readonly dirs = [new LineBuffer(), new LineBuffer()];
  /** Segments that arrived ahead of a hole, waiting for it to fill. */
  private readonly ahead: Array<{ dir: number; seq: number; bytes: Uint8Array; ts: number }> = [];

  /**
   * `len` more bytes are about to be read: false to stop reading for good (sets {@link dead}).
   * Called for every accepted segment, before its lines are handed on.
   */
  protected abstract admit(len: number): boolean;

  /** One complete line of direction `dir`: `b[0, n)`; `truncated` when only its head was kept. */
  protected abstract onLine(dir: number, b: Buffer, n: number, truncated: boolean, ts: number): void;

  /** Where direction `dir`'s data starts (its SYN + 1), when the handshake was seen: a first data segment lost is then a gap too. */
  expect(dir: number, seq: number): void {
    const d = this.dirs[dir]!;
    if (d.seqSet) return;
    d.seqSet = true;
    d.nextSeq = seq;
  }

  /**
   * One TCP segment of direction `dir` (0 or 1). `seq` is the sequence number of its first byte
   * (after any SYN). Bytes already seen are skipped; a segment that arrives ahead of its
   * predecessor is held (a few, bounded) until the hole fills; a hole that does not fill drops
   * the partial line and is counted.
   */
  segment(dir: number, seq: number, buf: Uint8Array, off: number, len: number, ts: number): void {
    this.expect(dir, seq);
    const d = this.dirs[dir]!;
    if (((seq - d.nextSeq) | 0) > 0) {
      // Too much is waiting: give up on the nearest hole of this direction first.
      if (this.ahead.length >= MAX_AHEAD) this.giveUpHole(dir);
      if (((seq - d.nextSeq) | 0) > 0 && this.ahead.length < MAX_AHEAD && len <= MAX_AHEAD_BYTES) {
        this.ahead.push({ dir, seq, bytes: buf.slice(off, off + len), ts });
        return;
      }
    }
    this.accept(dir, seq, buf, off, len, ts);
    this.drain(dir);
  }

  /** At the end of the flow: what is still held went past holes that never filled. */
  protected flushAhead(): void {
    while (this.ahead.length) this.giveUpHole(this.ahead[0]!.dir);
  }

  /** Take a segment in order (trimming what was already seen), or across a hole. */
  private accept(dir: number, seq: number, buf: Uint8Array, off: number, len: number, ts: number): void {
    if (this.dead) return;
    const d = this.dirs[dir]!;
    const delta = (seq - d.nextSeq) | 0;
    if (delta < 0) {
      // Retransmission (or a late segment): keep only the new tail, if any.
      if (-delta >= len) return;
      off -= delta;
      len += delta;
    } else if (delta > 0) {
      this.gaps++;
      d.length = 0;
      d.truncated = false;
      d.skipping = buf[off] !== 0x7b;
    }
    d.nextSeq = (seq + (delta < 0 ? -delta : 0) + len) | 0;
    if (!this.admit(len)) {
      this.dead = true;
      return;
    }
    this.feed(dir, d, buf, off, len, ts);
  }

  /** Feed held segments of `dir` that the stream has now reached. */
  private drain(dir: number): void {
    const d = this.dirs[dir]!;
    for (let i = 0; i < this.ahead.length; ) {
      const h = this.ahead[i]!;
      if (h.dir === dir && ((h.seq - d.nextSeq) | 0) <= 0) {
        this.ahead.splice(i, 1);
        this.accept(dir, h.seq, h.bytes, 0, h.bytes.length, h.ts);
        i = 0;
      } else i++;
    }
  }

  /** Accept the nearest held segment of `dir` across its hole (or, with none, any direction's). */
  private giveUpHole(dir: number): void {
    let best = -1;
    for (let i = 0; i < this.ahead.length; i++) {
      const h = this.ahead[i]!;
      if (h.dir !== dir) continue;
      if (best < 0 || ((h.seq - this.ahead[best]!.seq) | 0) < 0) best = i;
    }
    if (best < 0) best = 0;
    const [h] = this.ahead.splice(best, 1);
    if (!h) return;
    this.accept(h.dir, h.seq, h.bytes, 0, h.bytes.length, h.ts);
    this.drain(h.dir);
  }

  private feed(dir: number, d: LineBuffer, buf: Uint8Array, off: number, len: number, ts: number): void {
    const end = off + len;
    let p = off;
    while (p < end) {
      let nl = p;
      while (nl < end && buf[nl] !== 0x0a) nl++;
      if (!d.skipping) {
        // Keep at most MAX_LINE bytes of a line: the head of a long one still names its method and id.
        const n = Math.min(nl - p, MAX_LINE - d.length);
        if (n < nl - p) d.truncated = true;
        if (n > 0) {
          if (d.length + n > d.buf.length) {
            let cap = d.buf.length;
            while (cap < d.length + n) cap *= 2;
            const nb = Buffer.alloc(Math.min(cap, MAX_LINE));
            nb.set(d.buf.subarray(0, d.length));
            d.buf = nb;
          }
          d.buf.set(buf.subarray(p, p + n), d.length);
          d.length += n;
        }
      }
      if (nl === end) return;
      // A complete line.
      if (!d.skipping && d.length > 0) this.onLine(dir, d.buf, d.length, d.truncated, ts);
      d.length = 0;
      d.skipping = false;
      d.truncated = false;
      p = nl + 1;
    }
  }
}
