/**
 * Reading a file one chunk ahead of the parser (src/io/readahead.ts): a parser of length-prefixed
 * records sees every record whole, with its bytes and its offset in the file, whatever the records'
 * sizes against the chunks: records that cross a chunk's end (their start moved into the carry room
 * before the next chunk), a record larger than the carry room (reading ahead given up, the window
 * grown), and a file whose size is a whole number of chunks.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ByteWindow } from '../../src/io/joiner.js';
import { CARRY_BYTES, ChunkReader, readAheadWindowBytes } from '../../src/io/readahead.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-readahead-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Byte `j` of record `i`'s body. */
const bodyByte = (i: number, j: number): number => (i * 31 + j * 7) & 0xff;

/** A file of records (4-byte big-endian body length, then the body) of the given body sizes; their offsets. */
function recordFile(name: string, sizes: readonly number[]): { path: string; offsets: number[] } {
  const total = sizes.reduce((a, n) => a + 4 + n, 0);
  const b = Buffer.alloc(total);
  const offsets: number[] = [];
  let at = 0;
  sizes.forEach((n, i) => {
    offsets.push(at);
    b.writeUInt32BE(n, at);
    for (let j = 0; j < n; j++) b[at + 4 + j] = bodyByte(i, j);
    at += 4 + n;
  });
  const path = join(tmp, name);
  writeFileSync(path, b);
  return { path, offsets };
}

/** Read the file through a ChunkReader as a parser would; the records seen (offset, and whether the body was right). */
async function readRecords(path: string, chunk: number): Promise<{ offsets: number[]; bad: number[]; windowBytes: number }> {
  const fd = openSync(path, 'r');
  const win = new ByteWindow(readAheadWindowBytes(chunk));
  const reader = new ChunkReader(fd, win, chunk);
  const offsets: number[] = [];
  const bad: number[] = [];
  try {
    for (;;) {
      const got = await reader.next();
      if (got === 0) break;
      const b = win.buf;
      // Every complete record in the window.
      while (win.end - win.start >= 4) {
        const s = win.start;
        const n = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
        if (win.end - s < 4 + n) break;
        const i = offsets.length;
        offsets.push(win.offsetOf(s));
        for (let j = 0; j < n; j++)
          if (b[s + 4 + j] !== bodyByte(i, j)) {
            bad.push(i);
            break;
          }
        win.start = s + 4 + n;
      }
    }
    expect(win.end - win.start).toBe(0);
  } finally {
    await reader.settle();
    closeSync(fd);
  }
  return { offsets, bad, windowBytes: win.buf.length };
}

/** Write records of `sizes` and read them back in `chunk`-byte chunks: every one must be seen whole, at its offset. */
async function everyRecord(name: string, sizes: readonly number[], chunk: number): Promise<{ windowBytes: number }> {
  const { path, offsets } = recordFile(name, sizes);
  const seen = await readRecords(path, chunk);
  expect(seen.bad).toEqual([]);
  expect(seen.offsets).toEqual(offsets);
  return seen;
}

describe('ChunkReader', () => {
  it('records of every size cross chunk ends: each is seen whole, at its offset', async () => {
    const sizes: number[] = [];
    // Deterministic sizes from a few bytes to a few chunks of 64 KiB.
    let x = 7;
    for (let i = 0; i < 900; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      sizes.push(i % 97 === 0 ? 200_000 + (x % 50_000) : x % 3000);
    }
    const seen = await everyRecord('mixed.bin', sizes, 64 * 1024);
    // Read ahead all along: the window kept its size.
    expect(seen.windowBytes).toBe(readAheadWindowBytes(64 * 1024));
  });

  it('a record larger than the carry room: reading ahead stops, the window grows, and every record is still seen', async () => {
    // Larger than the whole read-ahead window too, so the plain reading must grow it.
    const seen = await everyRecord('huge.bin', [100, 70_000, 2 * CARRY_BYTES + 300_000, 5, 90_000, 3], 64 * 1024);
    expect(seen.windowBytes).toBeGreaterThan(readAheadWindowBytes(64 * 1024));
  });

  it('a file of exactly whole chunks, and an empty file', async () => {
    // 16 records of 4 + 4092 bytes: 64 KiB, 16 chunks of 4 KiB.
    await everyRecord('whole.bin', Array<number>(16).fill(4092), 4096);
    const empty = recordFile('empty.bin', []);
    expect((await readRecords(empty.path, 4096)).offsets).toEqual([]);
  });

  it('refuses a window too small for its two slots and their carry room', () => {
    expect(() => new ChunkReader(0, new ByteWindow(1024), 4096)).toThrow(/window holds 1024 bytes/);
  });
});
