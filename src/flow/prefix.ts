/**
 * The first bytes of one direction of a flow, in TCP sequence order: segments are placed at their
 * sequence offset, out-of-order ones are remembered as a few pending ranges, and the contiguous
 * prefix grows as gaps fill. Buffers are pooled and reused across flows.
 *
 * A stream's working buffer starts empty and grows (doubling, up to the capacity) as bytes arrive:
 * on a subscriber link most flows are a DNS exchange or a few-packet session whose payload is a
 * small part of the capacity, and tens of thousands of them are open at once. Working buffers come
 * from free lists by size and go back to them when the stream is reset, so after warm-up a flow
 * allocates nothing for its bytes. The record of a finished flow gets a view of the working buffer
 * when the table lends its buffers ({@link StreamPrefix.view}, a scan), or else an exact-size copy
 * carved from a shared slab (a new typed array with its own backing store costs several microseconds
 * to make and to collect, a view of a slab a fraction of that: bench, flows case).
 */
import { TouchedSlabs, type PrefaultStats } from './touched.js';

const MAX_PENDING = 8;
/** First allocation for a stream's bytes: a DNS query or a TLS ClientHello's start fits. */
const INITIAL_BYTES = 256;
/**
 * Each growth multiplies the working buffer by this. Doubling copies more than growing by fours, but
 * leaves less of each buffer unused: the buffers of the flows open at once are most of a scan's
 * fresh memory, and memory touched for the first time is what costs (flows case: 75,500 page faults
 * by fours, 66,000–68,500 doubling; 25 MiB less at the peak, and 0.1–0.2 s less of the scan thread
 * over five alternated runs).
 */
const GROWTH = 2;
const NO_BYTES = new Uint8Array(0);

/**
 * Slabs that hand out byte arrays as views: `size` bytes up to `pieceMax` come from the current
 * slab, larger ones are arrays of their own. A slab is freed when no view holds it.
 */
class Slabs {
  private slab: Uint8Array = new Uint8Array(0);
  private used = 0;
  constructor(
    private readonly slabBytes: number,
    private readonly pieceMax: number,
    /** Slabs a helper thread touched (src/flow/touched.ts), when it has one ready. */
    private readonly touched: TouchedSlabs | null = null,
  ) {}

  carve(size: number): Uint8Array {
    if (size > this.pieceMax) return new Uint8Array(size);
    if (this.used + size > this.slab.length) {
      const ready = this.touched?.take() ?? null;
      this.slab = ready !== null ? new Uint8Array(ready) : new Uint8Array(this.slabBytes);
      this.used = 0;
    }
    // The constructor, not subarray(): subarray looks up a species constructor on every call.
    const piece = new Uint8Array(this.slab.buffer, this.used, size);
    this.used += size;
    return piece;
  }
}

/** Records' payload copies: short-lived, so a slab is soon free; a record kept long pins at most its slab. */
const recordSlabs = new Slabs(256 * 1024, 4096);
/** Working buffers: they live on in the free lists, so their slabs do too. */
const WORK_SLAB_BYTES = 1024 * 1024;
const workTouched = new TouchedSlabs(WORK_SLAB_BYTES);
const workSlabs = new Slabs(WORK_SLAB_BYTES, 64 * 1024, workTouched);

/** What the helper that touches working-buffer slabs did in this thread (src/flow/touched.ts). */
export function workSlabStats(): PrefaultStats {
  return workTouched.stats();
}
/** Free working buffers by size, and their bytes (bounded: beyond it a released buffer is left to the collector). */
const freeBySize = new Map<number, Uint8Array[]>();
let freeBytes = 0;
const MAX_FREE_BYTES = 64 * 1024 * 1024;

/** A working buffer of `size` bytes (contents unspecified). */
function acquire(size: number): Uint8Array {
  const l = freeBySize.get(size);
  if (l !== undefined && l.length > 0) {
    freeBytes -= size;
    return l.pop()!;
  }
  return workSlabs.carve(size);
}

function release(b: Uint8Array): void {
  if (b.length === 0 || freeBytes + b.length > MAX_FREE_BYTES) return;
  let l = freeBySize.get(b.length);
  if (l === undefined) freeBySize.set(b.length, (l = []));
  l.push(b);
  freeBytes += b.length;
}

/** `size` bytes (contents unspecified) for a finished flow's record, carved from a shared slab. */
export function carveBytes(size: number): Uint8Array {
  return recordSlabs.carve(size);
}

const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/**
 * Copy `n` bytes as one memmove (Buffer#copy takes source offsets). Node 20's Buffer#copy makes a
 * short-lived view of the source range for every copy that is not of the whole source; copying
 * between two arrays by hand costs more than that allocation (ten times more for a full segment).
 */
function copyBytes(src: Uint8Array, off: number, n: number, dst: Uint8Array, at: number): void {
  bufferCopy.call(src, dst, at, off, off + n);
}

/**
 * The time of the packet whose payload is added (ms since 1970): a packet view
 * (src/decode/packet.ts). An object whose field is read when wanted (a stream's first payload), not
 * a number: a number that is not a small integer passed to a call is boxed, once per packet.
 */
export interface PacketClock {
  readonly time: number;
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

  /** Empty again, for another flow: the working buffer goes back to the free lists. */
  reset(): void {
    release(this.buf);
    this.buf = NO_BYTES;
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

  /**
   * Add one TCP segment's payload `src[off .. off+len)` with sequence number `seq`, carried by a
   * packet of time `at.time` ({@link PacketClock}).
   */
  tcp(seq: number, src: Uint8Array, off: number, len: number, at: PacketClock): void {
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
      this.time = at.time;
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
  datagram(src: Uint8Array, off: number, len: number, at: PacketClock): void {
    if (len === 0) return;
    if (this.time === 0) {
      this.time = at.time;
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

  /**
   * The prefix (`buf[0 .. length)`) for a finished flow's record: an exact-size copy carved from a
   * shared slab, so it stays valid after the stream is reset and the working buffer goes to the
   * next flow.
   */
  take(): Uint8Array {
    if (this.length === 0) return NO_BYTES;
    const out = carveBytes(this.length);
    copyBytes(this.buf, 0, this.length, out, 0);
    return out;
  }

  /**
   * The prefix as a view of the working buffer, with no copy: valid only until the stream is reset
   * or given more bytes (a growing buffer is replaced, and a reset one goes to the next flow).
   */
  view(): Uint8Array {
    if (this.length === 0) return NO_BYTES;
    // The constructor, not subarray(): subarray looks up a species constructor on every call.
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.length);
  }

  /** Room for at least `need` bytes (≤ capacity), keeping what is there. */
  private grow(need: number): void {
    let size = this.buf.length === 0 ? INITIAL_BYTES : this.buf.length * GROWTH;
    while (size < need) size *= GROWTH;
    if (size > this.capacity) size = this.capacity;
    const next = acquire(size);
    if (this.buf.length > 0) {
      // What was written: the prefix, and the pending ranges past it (the rest of the old array is
      // unspecified; on a subscriber link a quarter of what growing copied).
      let used = this.length;
      for (let i = 0; i < this.npend; i++) if (this.pend![i * 2 + 1]! > used) used = this.pend![i * 2 + 1]!;
      if (used > 0) copyBytes(this.buf, 0, used, next, 0);
      release(this.buf);
    }
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
