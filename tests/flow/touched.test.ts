/**
 * Working-buffer slabs touched by a helper thread (src/flow/touched.ts): the reading thread takes
 * them without waiting, writing into them costs it no page faults (counted by the kernel per thread,
 * /proc/thread-self/stat), and payload prefixes carved from them hold what they were given.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { StreamPrefix, workSlabStats } from '../../src/flow/prefix.js';
import { prefaultWorkBuffers, TouchedSlabs } from '../../src/flow/touched.js';
import { mulberry32 } from '../support/random.js';

const SLAB = 1 << 20;
const PAGE = 4096;
const STAT = '/proc/thread-self/stat';

/** Minor page faults this thread has taken (Linux). */
function minorFaults(): number {
  const s = readFileSync(STAT, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[7]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

afterAll(() => prefaultWorkBuffers(false));

describe('slabs touched by a helper thread', () => {
  it('are off until turned on: no thread, every slab the caller’s own', () => {
    prefaultWorkBuffers(false);
    const t = new TouchedSlabs(SLAB);
    for (let i = 0; i < 5; i++) expect(t.take()).toBeNull();
    expect(t.stats()).toEqual({ started: false, taken: 0, missed: 0 });
  });

  it.skipIf(!existsSync(STAT))('come touched: writing all of them takes the reading thread few page faults, where fresh memory takes one a page', async () => {
    prefaultWorkBuffers(true);
    const t = new TouchedSlabs(SLAB);
    // The first slab is the caller's own; the second request starts the helper (not ready yet).
    expect(t.take()).toBeNull();
    expect(t.take()).toBeNull();
    const slabs: ArrayBuffer[] = [];
    for (let waited = 0; slabs.length < 6 && waited < 10_000; ) {
      const s = t.take();
      if (s !== null) slabs.push(s);
      else {
        await sleep(10);
        waited += 10;
      }
    }
    expect(slabs).toHaveLength(6);
    // Moved to this thread, not shared: V8 copies into shared memory with a slower loop than memmove.
    for (const s of slabs) expect(s).not.toBeInstanceOf(SharedArrayBuffer);
    expect(t.stats().started).toBe(true);
    expect(t.stats().taken).toBe(6);
    const pages = (6 * SLAB) / PAGE;
    let before = minorFaults();
    for (const s of slabs) new Uint8Array(s).fill(0x5a);
    const touched = minorFaults() - before;
    // The measure sees faults here: the same bytes of fresh memory, written by this thread.
    const fresh = new ArrayBuffer(6 * SLAB);
    before = minorFaults();
    new Uint8Array(fresh).fill(0x5a);
    const untouched = minorFaults() - before;
    if (untouched < pages / 2) {
      console.warn(`fresh memory took ${untouched} faults for ${pages} pages (huge pages?): the fault count says nothing here`);
      return;
    }
    expect(touched).toBeLessThan(pages / 10);
  });

  it('carry payload prefixes: thousands of streams grown in them hold their bytes', async () => {
    prefaultWorkBuffers(true);
    const r = mulberry32(4242);
    const pool = Uint8Array.from({ length: 1 << 16 }, () => Math.floor(r() * 256));
    const streams: Array<{ p: StreamPrefix; want: Buffer }> = [];
    // Rounds until the helper (started by the first) has handed out slabs, each after a pause: a
    // busy machine may take a while to start it (up to 10 s).
    const until = Date.now() + 10_000;
    for (let round = 0; round < 2 || (workSlabStats().taken === 0 && Date.now() < until); round++) {
      for (let i = 0; i < 1500; i++) {
        const p = new StreamPrefix(4096);
        const parts: Uint8Array[] = [];
        let seq = 1000;
        for (let k = 0; k < 4; k++) {
          const len = 200 + Math.floor(r() * 1200);
          const at = Math.floor(r() * (pool.length - len));
          p.tcp(seq, pool, at, len, { time: 1 });
          seq += len;
          parts.push(pool.subarray(at, at + len));
        }
        streams.push({ p, want: Buffer.concat(parts).subarray(0, 4096) });
      }
      await sleep(round < 2 ? 200 : 50);
    }
    const wrong = streams.filter(({ p, want }) => !want.equals(p.view())).length;
    expect(wrong).toBe(0);
    expect(workSlabStats().taken).toBeGreaterThan(0);
    // More slabs hold the streams than this thread made itself (its first, and one per miss): the
    // helper's slabs hold some of them.
    const held = new Set(streams.map(({ p }) => p.buf.buffer));
    expect(held.size).toBeGreaterThan(workSlabStats().missed + 1);
    for (const { p } of streams) p.reset();
  });
});
