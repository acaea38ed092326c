/**
 * The reading window kept between inputs (src/io/joiner.ts): the next input gets the last one's
 * window back, empty; a window still in use, too small or grown past the limit is not handed out.
 * That the bytes of one input never reach the next is tested on real captures read one after
 * another (tests/io/pcap-oracle.test.ts, against tshark).
 */
import { describe, expect, it } from 'vitest';
import { ByteWindow, releaseWindow, takeWindow } from '../../src/io/joiner.js';

describe('takeWindow / releaseWindow', () => {
  it('hands the released window back, emptied', () => {
    const a = takeWindow(1024);
    a.append(new Uint8Array([1, 2, 3]));
    a.start = 1;
    a.base = 4096;
    releaseWindow(a);
    const b = takeWindow(1024);
    expect(b).toBe(a);
    expect([b.start, b.end, b.base, b.available]).toEqual([0, 0, 0, 0]);
    // Taken: the next reader gets its own.
    const c = takeWindow(1024);
    expect(c).not.toBe(b);
    releaseWindow(b);
  });

  it('does not hand out a window smaller than asked', () => {
    const small = new ByteWindow(16);
    releaseWindow(small);
    const w = takeWindow(64);
    expect(w).not.toBe(small);
    expect(w.buf.length).toBe(64);
  });

  it('does not keep a window grown past 16 MiB', () => {
    const big = new ByteWindow(16);
    big.makeRoom((1 << 24) + 1);
    expect(big.buf.length).toBeGreaterThan(1 << 24);
    releaseWindow(new ByteWindow(32));
    releaseWindow(big);
    const w = takeWindow(16);
    expect(w).not.toBe(big);
    expect(w.buf.length).toBe(32);
  });
});
