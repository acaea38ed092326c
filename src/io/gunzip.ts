/**
 * gzip (RFC 1952) decompression that passes on every byte the input gives, as `zcat` does.
 *
 * Node's Gunzip holds up to 16 KiB of output until its input is done, and drops it when the stream
 * then fails: a CRC that does not match, or bytes after the last member that are not another member
 * (`incorrect header check`). A small file lost everything. Here each member's header is read by
 * this module, its deflate body goes through zlib's raw inflate (what it gives is passed on as it comes),
 * and the trailer's CRC32 and length are checked after, against what was passed on. Members written
 * one after another are read in turn; zero bytes after the last (padding) are allowed.
 *
 * A problem is said through `onProblem` with its byte offset in the compressed input and what was
 * expected, and the bytes decompressed before it are kept. One limit: when the deflate data itself
 * is corrupt, zlib drops what it decompressed in the same write as the error (at most one write's
 * output, from {@link PIECE} compressed bytes). The input is always read to its end, so
 * a caller hashing it as it passes hashes all of it.
 */
import { createInflateRaw, crc32 } from 'node:zlib';

/**
 * Compressed bytes per inflate write. Deflate expands at most about 1032 times, so one write's
 * output stays below 17 MB even for a crafted input, and at most two are held at once (the reader
 * works through one while zlib makes the next).
 */
const PIECE = 16 * 1024;
/** Decompressed bytes per chunk passed on (zlib fills one buffer of this size per call on its thread pool). */
const OUT_CHUNK = 128 * 1024;
/** Longest member header read (optional extra field, name and comment): more is not a gzip header. */
const MAX_HEADER = 1 << 20;

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const FRESERVED = 0xe0;

/** A problem at this byte offset of the compressed input; the message says what was expected. */
export type GunzipProblem = (offset: number, message: string) => void;

/**
 * The compressed input, read on demand into one buffer of the bytes not yet consumed (so a header's
 * bytes are found in constant time however small the chunks it came in).
 */
class Compressed {
  private buf = new Uint8Array(0);
  /** The unconsumed bytes are `buf[start, end)`. */
  private start = 0;
  private end = 0;
  /** Offset in the input of the first byte not consumed. */
  offset = 0;
  private done = false;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Bytes queued and not consumed. */
  get available(): number {
    return this.end - this.start;
  }

  /**
   * Queue at least `n` bytes; false when the input ends first. Never called while a view from
   * {@link peek} is in use: moving the bytes would change what it shows.
   */
  async fill(n: number): Promise<boolean> {
    while (this.available < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length) this.append(r.value);
    }
    return this.available >= n;
  }

  private append(c: Uint8Array): void {
    const live = this.end - this.start;
    if (this.end + c.length > this.buf.length) {
      if (live + c.length <= this.buf.length) this.buf.copyWithin(0, this.start, this.end);
      else {
        const grown = new Uint8Array(Math.max(this.buf.length * 2, live + c.length, 1 << 16));
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(c, this.end);
    this.end += c.length;
  }

  /** The queued byte `i` places past the first unconsumed one (`i` < {@link available}). */
  byte(i: number): number {
    return this.buf[this.start + i]!;
  }

  /** Up to `max` of the next bytes as a view, without consuming them (fill first). */
  peek(max: number): Uint8Array {
    return this.buf.subarray(this.start, this.start + Math.min(max, this.available));
  }

  /** Consume `n` queued bytes. */
  skip(n: number): void {
    this.start += n;
    this.offset += n;
  }

  /** Read and drop the rest of the input; whether every byte of it was zero, and how many there were. */
  async drain(): Promise<{ zeros: boolean; bytes: number }> {
    let zeros = true;
    let bytes = 0;
    while (await this.fill(1)) {
      const v = this.peek(this.available);
      if (zeros) for (let i = 0; i < v.length && zeros; i++) zeros = v[i] === 0;
      bytes += v.length;
      this.skip(v.length);
    }
    return { zeros, bytes };
  }
}

/**
 * The decompressed bytes of a gzip stream, chunk by chunk. Problems go to `onProblem` (the first one
 * that ends decompression is the last said); the generator itself throws only what `source` throws.
 */
export async function* gunzip(source: AsyncIterable<Uint8Array>, onProblem: GunzipProblem): AsyncGenerator<Buffer> {
  const input = new Compressed(source[Symbol.asyncIterator]());
  let members = 0;
  for (;;) {
    const start = input.offset;
    if (members > 0) {
      if (!(await input.fill(1))) return;
      if (!(await input.fill(2)) || input.byte(0) !== 0x1f || input.byte(1) !== 0x8b) {
        const rest = await input.drain();
        if (!rest.zeros) onProblem(start, `${rest.bytes} byte(s) after the gzip member that ends here are neither another member (1f 8b) nor zero padding; ignored, as gzip does`);
        return;
      }
    }
    const header = await readHeader(input);
    if (typeof header === 'string') {
      onProblem(start, `${members > 0 ? `gzip member ${members + 1}` : 'gzip header'}: ${header}`);
      await input.drain();
      return;
    }
    if (header.crcProblem !== null) onProblem(start, `gzip member at byte ${start}: ${header.crcProblem}`);
    members++;
    const body = input.offset;
    const inflate = createInflateRaw({ chunkSize: OUT_CHUNK });
    const out: Buffer[] = [];
    let crc = 0;
    let size = 0;
    let failure: Error | null = null;
    inflate.on('data', (c: Buffer) => {
      out.push(c);
      crc = crc32(c, crc);
      size += c.length;
    });
    inflate.on('error', (e: Error) => {
      failure ??= e;
    });
    // Settled by the write's callback, or by an error (zlib then destroys the stream, and a
    // callback may never come).
    const write = (piece: Uint8Array): Promise<void> =>
      new Promise((resolve) => {
        const settle = (): void => {
          inflate.off('error', settle);
          resolve();
        };
        inflate.once('error', settle);
        inflate.write(piece, settle);
      });
    let ended = false;
    /** The input ended inside the deflate data. */
    let cut = false;
    /** The compressed bytes of the last write, `[pieceAt, pieceEnd)`: where an error zlib gives is (it does not say the byte). */
    let pieceAt = body;
    let pieceEnd = body;
    try {
      while (!ended && failure === null) {
        if (!(await input.fill(1))) break;
        const piece = input.peek(PIECE);
        pieceAt = input.offset;
        pieceEnd = pieceAt + piece.length;
        const before = inflate.bytesWritten;
        const written = write(piece);
        // The reader takes what came so far while zlib works on this piece (on the thread pool).
        if (out.length) yield* out.splice(0);
        await written;
        const used = inflate.bytesWritten - before;
        input.skip(used);
        // The deflate stream ended inside this piece: zlib took no more of it.
        if (used < piece.length) ended = true;
      }
      yield* out.splice(0);
      if (!ended && failure === null) {
        // The input ended: either right where the deflate stream did, or inside it.
        await new Promise<void>((resolve) => {
          inflate.once('end', resolve);
          inflate.once('error', () => resolve());
          inflate.end();
        });
        yield* out.splice(0);
        ended = failure === null;
        cut = !ended;
      }
    } finally {
      inflate.destroy();
    }
    if (failure !== null && !cut) {
      onProblem(
        pieceAt,
        `gzip member at byte ${start}: its deflate data does not decompress (${(failure as Error).message}) at a byte from ${pieceAt} to ${pieceEnd - 1} (zlib does not say which), after ${size} decompressed byte(s); expected a valid deflate stream`,
      );
      await input.drain();
      return;
    }
    if (!ended || !(await input.fill(8))) {
      const where = ended ? 'in its 8-byte trailer (CRC32 and length)' : 'inside its deflate data';
      onProblem(input.offset + input.available, `gzip member at byte ${start} is cut short ${where}, after ${input.offset + input.available - body} compressed and ${size} decompressed byte(s); every decompressed byte is kept`);
      await input.drain();
      return;
    }
    const want = (input.byte(0) | (input.byte(1) << 8) | (input.byte(2) << 16) | (input.byte(3) << 24)) >>> 0;
    const length = (input.byte(4) | (input.byte(5) << 8) | (input.byte(6) << 16) | (input.byte(7) << 24)) >>> 0;
    if (want !== crc >>> 0 || length !== size % 2 ** 32) {
      const what =
        want !== crc >>> 0
          ? `the CRC32 of its ${size} decompressed byte(s) is ${hex(crc)} where its trailer says ${hex(want)}`
          : `it decompressed to ${size} byte(s) where its trailer says ${length} (mod 2^32)`;
      onProblem(input.offset, `gzip member at byte ${start}: ${what}; the bytes are kept, and may be corrupt`);
    }
    input.skip(8);
  }
}

/** `n` (unsigned) in hexadecimal, `digits` wide: a CRC32 in 8, a CRC16 in 4, a byte in 2. */
function hex(n: number, digits = 8): string {
  return (n >>> 0).toString(16).padStart(digits, '0');
}

/**
 * Read one member header (RFC 1952 section 2.3); a string says why it is not one. A header CRC16
 * (FHCRC) that does not match is said (`crcProblem`) and the member is read on: its data carry
 * their own CRC32, checked at its trailer (gzip refuses the member; its bytes are kept here, as a
 * trailer that does not match keeps them).
 */
async function readHeader(input: Compressed): Promise<{ crcProblem: string | null } | string> {
  if (!(await input.fill(10))) return `cut short after ${input.available} of its 10 bytes`;
  if (input.byte(0) !== 0x1f || input.byte(1) !== 0x8b) return `starts ${hex(input.byte(0), 2)} ${hex(input.byte(1), 2)}; expected 1f 8b`;
  if (input.byte(2) !== 8) return `compression method ${input.byte(2)}; expected 8 (deflate)`;
  const flags = input.byte(3);
  if (flags & FRESERVED) return `flags ${hex(flags, 2)} set reserved bits; expected none of 0xe0`;
  let n = 10;
  if (flags & FEXTRA) {
    if (!(await input.fill(n + 2))) return 'cut short in its extra field length';
    n += 2 + (input.byte(n) | (input.byte(n + 1) << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    // A zero-terminated string (the original file name, a comment).
    for (;;) {
      if (n >= MAX_HEADER) return `no end to its ${flag === FNAME ? 'file name' : 'comment'} within ${MAX_HEADER} bytes`;
      if (!(await input.fill(n + 1))) return `cut short in its ${flag === FNAME ? 'file name' : 'comment'}`;
      if (input.byte(n++) === 0) break;
    }
  }
  if (flags & FHCRC) n += 2;
  if (!(await input.fill(n))) return `cut short after ${input.available} of its ${n} bytes`;
  let crcProblem: string | null = null;
  if (flags & FHCRC) {
    // The two low bytes of the CRC32 of every header byte before them.
    const stored = input.byte(n - 2) | (input.byte(n - 1) << 8);
    const made = crc32(input.peek(n - 2)) & 0xffff;
    if (stored !== made) crcProblem = `its header CRC16 is ${hex(stored, 4)} where its ${n - 2} header byte(s) give ${hex(made, 4)}; the header may be corrupt, its data are read on and checked by their own CRC32`;
  }
  input.skip(n);
  return { crcProblem };
}
