/**
 * A growable byte window over a stream of chunks: readers parse records in place and only the
 * tail that straddles two chunks is ever moved. Files are read straight into the window
 * (no intermediate copy); streams (stdin, gunzip) append their chunks.
 */
export class ByteWindow {
  buf: Uint8Array;
  /** First unconsumed byte. */
  start = 0;
  /** One past the last valid byte. */
  end = 0;
  /** Absolute offset (in the input) of `buf[0]`. */
  base = 0;

  constructor(capacity = 1 << 22) {
    this.buf = new Uint8Array(capacity);
  }

  get available(): number {
    return this.end - this.start;
  }

  /** Absolute input offset of buffer position `pos`. */
  offsetOf(pos: number): number {
    return this.base + pos;
  }

  /** Move the unconsumed tail to the front and make room for at least `need` more bytes. */
  makeRoom(need: number): void {
    const live = this.end - this.start;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.base += this.start;
      this.start = 0;
      this.end = live;
    }
    if (this.buf.length - this.end < need) {
      let cap = this.buf.length * 2;
      while (cap - this.end < need) cap *= 2;
      const nb = new Uint8Array(cap);
      nb.set(this.buf.subarray(0, this.end));
      this.buf = nb;
    }
  }

  /** Append a chunk from a stream. */
  append(chunk: Uint8Array): void {
    if (this.buf.length - this.end < chunk.length) this.makeRoom(chunk.length);
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}

/** The window of the last input read, free for the next one (inputs are read one after another). */
let spare: ByteWindow | null = null;
/** A window larger than this (grown for a huge record) is not kept for the next input. */
const MAX_SPARE_BYTES = 1 << 24;

/**
 * An empty window of at least `capacity` bytes: the one {@link releaseWindow} gave back when it is
 * free, else a new one. Making and first touching megabytes of zeroed memory costs a small input
 * several milliseconds, and a folder of rotated flow files is hundreds of small inputs.
 */
export function takeWindow(capacity: number): ByteWindow {
  const w = spare;
  if (w === null || w.buf.length < capacity) return new ByteWindow(capacity);
  spare = null;
  w.start = w.end = w.base = 0;
  return w;
}

/** Give a window back once nothing reads it any more (its bytes are not kept). */
export function releaseWindow(w: ByteWindow): void {
  if (w.buf.length <= MAX_SPARE_BYTES) spare = w;
}
