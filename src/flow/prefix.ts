/**
 * The first bytes of one direction of a flow, in TCP sequence order: segments are placed at their
 * sequence offset, out-of-order ones are remembered as a few pending ranges, and the contiguous
 * prefix grows as gaps fill. Buffers are pooled and reused across flows.
 */
const MAX_PENDING = 8;

const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/** Copy without creating a subarray view (Buffer#copy takes source offsets; allocation-free). */
function copyBytes(src: Uint8Array, off: number, n: number, dst: Uint8Array, at: number): void {
  bufferCopy.call(src, dst, at, off, off + n);
}

export class StreamPrefix {
  readonly buf: Uint8Array;
  /** Contiguous bytes from the first data byte. */
  length = 0;
  baseSet = false;
  /** Sequence number of the first data byte (TCP). */
  base = 0;
  /** Time of the first payload byte (ms), 0 when none. */
  time = 0;
  /** Payload length of the first packet that carried data (for handshake fingerprints), 0 when none. */
  firstSegment = 0;
  /** No more bytes will be kept (capacity reached). */
  full = false;
  private readonly pendStart = new Int32Array(MAX_PENDING);
  private readonly pendEnd = new Int32Array(MAX_PENDING);
  private npend = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
    this.full = capacity === 0;
  }

  reset(): void {
    this.length = 0;
    this.firstSegment = 0;
    this.full = this.buf.length === 0;
    this.baseSet = false;
    this.base = 0;
    this.time = 0;
    this.npend = 0;
  }

  /** A SYN fixes the base: data starts at its sequence number + 1. */
  syn(seq: number): void {
    if (!this.baseSet) {
      this.base = (seq + 1) | 0;
      this.baseSet = true;
    }
  }

  /** Add one TCP segment's payload `src[off .. off+len)` with sequence number `seq`. */
  tcp(seq: number, src: Uint8Array, off: number, len: number, ts: number): void {
    if (len === 0) return;
    if (!this.baseSet) {
      this.base = seq;
      this.baseSet = true;
    }
    const cap = this.buf.length;
    let rel = (seq - this.base) >>> 0;
    // Bytes before the base (a retransmission of what preceded the first seen segment) wrap to huge values.
    if (rel >= 0x80000000) {
      const before = 0x100000000 - rel;
      if (before >= len) return;
      off += before;
      len -= before;
      rel = 0;
    }
    if (rel >= cap) return;
    if (this.time === 0) {
      this.time = ts;
      this.firstSegment = len;
    }
    const n = Math.min(len, cap - rel);
    copyBytes(src, off, n, this.buf, rel);
    const endRel = rel + n;
    if (rel <= this.length) {
      if (endRel > this.length) this.length = endRel;
      this.mergePending();
      if (this.length >= cap) this.full = true;
    } else if (this.npend < MAX_PENDING) {
      this.pendStart[this.npend] = rel;
      this.pendEnd[this.npend] = endRel;
      this.npend++;
    }
  }

  /**
   * Append a datagram's payload (UDP). Datagrams keep their boundaries: each is stored as a
   * 2-byte big-endian length followed by its bytes (the last one may be cut by the capacity).
   */
  datagram(src: Uint8Array, off: number, len: number, ts: number): void {
    if (len === 0) return;
    if (this.time === 0) {
      this.time = ts;
      this.firstSegment = len;
    }
    const room = this.buf.length - this.length - 2;
    if (room <= 0) {
      // No room for another length field and a byte: the prefix is complete as it stands.
      this.full = true;
      return;
    }
    const n = Math.min(len, room);
    this.buf[this.length] = len >>> 8;
    this.buf[this.length + 1] = len & 0xff;
    copyBytes(src, off, n, this.buf, this.length + 2);
    this.length += 2 + n;
    if (this.length >= this.buf.length) this.full = true;
  }

  private mergePending(): void {
    let merged = true;
    while (merged && this.npend > 0) {
      merged = false;
      for (let i = 0; i < this.npend; i++) {
        if (this.pendStart[i]! <= this.length) {
          if (this.pendEnd[i]! > this.length) this.length = this.pendEnd[i]!;
          this.npend--;
          this.pendStart[i] = this.pendStart[this.npend]!;
          this.pendEnd[i] = this.pendEnd[this.npend]!;
          merged = true;
          break;
        }
      }
    }
  }
}

/** Both directions of a flow's payload prefix. */
export class FlowPayload {
  readonly a: StreamPrefix;
  readonly b: StreamPrefix;
  constructor(capacity: number) {
    this.a = new StreamPrefix(capacity);
    this.b = new StreamPrefix(capacity);
  }
  reset(): void {
    this.a.reset();
    this.b.reset();
  }
}
