/**
 * Reads a file into a parser's window one chunk ahead of the parser: while the parser works on one
 * chunk, the next is read on libuv's thread pool, so the kernel's copy of the file's bytes (a fifth
 * of a core at a gigabyte a second) is made on another core and not on the parsing thread.
 *
 * The window is laid out as two slots, each with room before it for what the parser left unparsed
 * of the chunk before (`[carry 0][slot 0][carry 1][slot 1]`). Chunks go to the slots in turn. Before
 * a chunk is handed to the parser, the unparsed end of the one before (the start of a record that
 * crosses the chunks' boundary, at most a record) is moved into the carry room just before it, so
 * the parser sees one contiguous run of bytes, and the other slot, which then holds nothing
 * unparsed, is given to the read of the chunk after. An unparsed end larger than the carry room (a
 * record of more than a mebibyte) ends the reading ahead: from then on the file is read the plain
 * way, chunk by chunk into the end of the window, which grows as it must.
 */
import { read, readSync } from 'node:fs';
import { ByteWindow } from './joiner.js';

/** Room before each slot for the unparsed end of the chunk before it. */
export const CARRY_BYTES = 1 << 20;

/** The window a {@link ChunkReader} of `chunk`-byte chunks needs. */
export function readAheadWindowBytes(chunk: number): number {
  return 2 * (CARRY_BYTES + chunk);
}

interface Pending {
  /** Where in the window the chunk is being read. */
  at: number;
  promise: Promise<number>;
}

export class ChunkReader {
  /** The file offset after every byte read so far (one read is under way at most, so it is exact). */
  private pos = 0;
  private pending: Pending | null = null;
  /** The slot the next chunk is read into (0 or 1). */
  private slot = 0;
  /** Reading ahead was given up: the window is read into at its end, one chunk at a time. */
  private plain = false;
  private ended = false;

  constructor(
    private readonly fd: number,
    private readonly win: ByteWindow,
    private readonly chunk: number,
  ) {
    if (win.buf.length < readAheadWindowBytes(chunk)) throw new RangeError(`ChunkReader: the window holds ${win.buf.length} bytes, ${readAheadWindowBytes(chunk)} needed`);
  }

  /**
   * Append the next chunk to the window (`win.start .. win.end` then runs on into it) and start
   * reading the one after. Gives the bytes appended: 0 at the end of the file. The window's bytes
   * before `win.start` are gone afterwards (moved or overwritten), as after `makeRoom`.
   */
  async next(): Promise<number> {
    if (this.ended) return 0;
    const win = this.win;
    if (this.plain) {
      win.makeRoom(this.chunk);
      const got = readSync(this.fd, win.buf, win.end, this.chunk, this.pos);
      win.end += got;
      return this.took(got);
    }
    this.pending ??= this.readInto(this.slot);
    const { at, promise } = this.pending;
    this.pending = null;
    const got = this.took(await promise);
    if (got === 0) return 0;
    const left = win.end - win.start;
    if (left <= CARRY_BYTES) {
      // The unparsed end goes just before the chunk (a no-op when it is already there).
      const to = at - left;
      if (left > 0 && win.start !== to) win.buf.copyWithin(to, win.start, win.end);
      win.base += win.start - to;
      win.start = to;
      win.end = at + got;
      // The other slot holds nothing unparsed now: the chunk after this one is read into it. A
      // short read is the file's end as it stands: the next read is asked for when it is wanted,
      // so a file still growing is read on as before.
      this.slot ^= 1;
      if (got === this.chunk) this.pending = this.readInto(this.slot);
    } else {
      // More is left than the carry room holds: append the chunk the plain way, and go on so.
      const bytes = win.buf.slice(at, at + got);
      win.makeRoom(got);
      win.buf.set(bytes, win.end);
      win.end += got;
      this.plain = true;
    }
    return got;
  }

  /** Wait for a read still under way: call before the descriptor is closed or the window reused. */
  async settle(): Promise<void> {
    const p = this.pending;
    this.pending = null;
    if (p !== null) await p.promise.catch(() => 0);
  }

  private took(got: number): number {
    if (got === 0) this.ended = true;
    else this.pos += got;
    return got;
  }

  /** Start reading the file from `pos` into a slot. */
  private readInto(slot: number): Pending {
    const at = CARRY_BYTES + slot * (CARRY_BYTES + this.chunk);
    const promise = new Promise<number>((resolve, reject) => {
      read(this.fd, this.win.buf, at, this.chunk, this.pos, (err, n) => (err ? reject(err) : resolve(n)));
    });
    // Settled later (next or settle); until then a failure is not an unhandled rejection.
    promise.catch(() => undefined);
    return { at, promise };
  }
}
