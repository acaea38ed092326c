/**
 * The first bytes of one direction of a flow, in TCP sequence order: segments are placed at their
 * sequence offset, out-of-order ones are remembered as a few pending ranges, and the contiguous
 * prefix grows as gaps fill. Buffers are pooled and reused across flows.
 *
 * A stream's buffer starts empty and grows (doubling, up to the capacity) as bytes arrive: on a
 * subscriber link most flows are a DNS exchange or a few-packet session whose payload is a small
 * part of the capacity, and tens of thousands of them are open at once (bench: flows case, where
 * a full-capacity buffer per direction was most of the peak memory and a tenth of the time).
 */
const MAX_PENDING = 8;
/** First allocation for a stream's bytes: a DNS query or a TLS ClientHello's start fits. */
const INITIAL_BYTES = 256;
const NO_BYTES = new Uint8Array(0);
/** Arrays up to this size are carved from a shared slab. */
const SLAB_PIECE_MAX = 1024;
const SLAB_BYTES = 256 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * `size` bytes (contents unspecified). Small ones are views of a shared slab: a new typed array
 * has its own backing store, several times dearer to make and to collect than a view, and a
 * subscriber link makes two per flow (bench: flows case). A slab is freed when no view holds it.
 */
export function carveBytes(size: number): Uint8Array {
  if (size > SLAB_PIECE_MAX) return new Uint8Array(size);
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  // The constructor, not subarray(): subarray looks up a species constructor on every call.
  const piece = new Uint8Array(slab.buffer, slabUsed, size);
  slabUsed += size;
  return piece;
}

const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/** Copy without creating a subarray view (Buffer#copy takes source offsets; allocation-free). */
function copyBytes(src: Uint8Array, off: number, n: number, dst: Uint8Array, at: number): void {
  bufferCopy.call(src, dst, at, off, off + n);
}

export class StreamPrefix {
  /** The bytes; `buf[0 .. length)` is the prefix. Replaced by a larger array as it grows, so read it after the adds. */
  buf: Uint8Array = NO_BYTES;
  /** Most bytes kept. */
  readonly capacity: number;
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
  /** Out-of-order ranges as start, end pairs (made on the first one: most streams never have one). */
  private pend: Int32Array | null = null;
  private npend = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.full = capacity === 0;
  }

  reset(): void {
    this.length = 0;
    this.firstSegment = 0;
    this.full = this.capacity === 0;
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
    const cap = this.capacity;
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
    const endRel = rel + n;
    if (rel <= this.length) {
      if (endRel > this.buf.length) this.grow(endRel);
      copyBytes(src, off, n, this.buf, rel);
      if (endRel > this.length) this.length = endRel;
      if (this.npend > 0) this.mergePending();
      if (this.length >= cap) this.full = true;
    } else if (this.npend < MAX_PENDING) {
      if (endRel > this.buf.length) this.grow(endRel);
      copyBytes(src, off, n, this.buf, rel);
      const pend = (this.pend ??= new Int32Array(MAX_PENDING * 2));
      pend[this.npend * 2] = rel;
      pend[this.npend * 2 + 1] = endRel;
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
    const room = this.capacity - this.length - 2;
    if (room <= 0) {
      // No room for another length field and a byte: the prefix is complete as it stands.
      this.full = true;
      return;
    }
    const n = Math.min(len, room);
    if (this.length + 2 + n > this.buf.length) this.grow(this.length + 2 + n);
    this.buf[this.length] = len >>> 8;
    this.buf[this.length + 1] = len & 0xff;
    copyBytes(src, off, n, this.buf, this.length + 2);
    this.length += 2 + n;
    if (this.length >= this.capacity) this.full = true;
  }

  /** Room for at least `need` bytes (≤ capacity): double from the current size, keeping what is there. */
  /** A copy of the prefix (`buf[0 .. length)`) that stays valid after the stream is reset and reused. */
  copy(): Uint8Array {
    if (this.length === 0) return NO_BYTES;
    const out = carveBytes(this.length);
    copyBytes(this.buf, 0, this.length, out, 0);
    return out;
  }

  /**
   * The prefix (`buf[0 .. length)`) handed over without a copy: the stream lets go of its buffer
   * (the next bytes it keeps go to a new one), so the view stays valid after a reset and reuse.
   */
  take(): Uint8Array {
    const b = this.buf;
    const n = this.length;
    this.buf = NO_BYTES;
    if (n === 0) return NO_BYTES;
    return n === b.length ? b : new Uint8Array(b.buffer, b.byteOffset, n);
  }

  private grow(need: number): void {
    let size = this.buf.length === 0 ? INITIAL_BYTES : this.buf.length * 2;
    while (size < need) size *= 2;
    if (size > this.capacity) size = this.capacity;
    const next = carveBytes(size);
    // Pending ranges lie past `length`: copy the whole old array, not just the prefix.
    if (this.buf.length > 0) next.set(this.buf);
    this.buf = next;
  }

  private mergePending(): void {
    const pend = this.pend!;
    let merged = true;
    while (merged && this.npend > 0) {
      merged = false;
      for (let i = 0; i < this.npend; i++) {
        if (pend[i * 2]! <= this.length) {
          if (pend[i * 2 + 1]! > this.length) this.length = pend[i * 2 + 1]!;
          this.npend--;
          pend[i * 2] = pend[this.npend * 2]!;
          pend[i * 2 + 1] = pend[this.npend * 2 + 1]!;
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
