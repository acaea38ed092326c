/**
 * A stream's payload prefix, held against a naive model written here: a fixed array of the
 * capacity, each accepted segment written at its sequence offset in arrival order, out-of-order
 * segments remembered as at most 8 ranges, and the prefix the contiguous run from the first byte.
 * The prefix under test starts small and grows, reusing buffers across streams; the model never
 * grows, so what growing copies (and what it may leave out) is what is checked. Streams of
 * reordered, overlapping, retransmitted and cut segments, and datagrams.
 */
import { describe, expect, it } from 'vitest';
import { StreamPrefix } from '../../src/flow/prefix.js';
import { mulberry32 } from '../support/random.js';

const MAX_PENDING = 8;

/** The rules of StreamPrefix.tcp, on a fixed array. */
class Model {
  readonly bytes: Uint8Array;
  length = 0;
  base = -1;
  pend: Array<[number, number]> = [];
  constructor(readonly cap: number) {
    this.bytes = new Uint8Array(cap);
  }
  syn(seq: number): void {
    if (this.base < 0) this.base = (seq + 1) >>> 0;
  }
  tcp(seq: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.base < 0) this.base = seq >>> 0;
    // The signed distance from the first byte (sequence numbers wrap): bytes before it are dropped.
    const dist = (seq - this.base) | 0;
    const off = dist < 0 ? -dist : 0;
    if (off >= data.length) return;
    const len = data.length - off;
    const rel = dist < 0 ? 0 : dist;
    if (rel >= this.cap) return;
    const end = rel + Math.min(len, this.cap - rel);
    if (rel > this.length) {
      if (this.pend.length >= MAX_PENDING) return;
      this.pend.push([rel, end]);
    }
    this.bytes.set(data.subarray(off, off + (end - rel)), rel);
    if (rel <= this.length) {
      this.length = Math.max(this.length, end);
      for (let merged = true; merged; ) {
        merged = false;
        const i = this.pend.findIndex(([a]) => a <= this.length);
        if (i >= 0) {
          this.length = Math.max(this.length, this.pend[i]![1]);
          this.pend.splice(i, 1);
          merged = true;
        }
      }
    }
  }
  prefix(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function randomBytes(r: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

describe('a stream’s payload prefix', () => {
  it('holds what the naive model holds, for reordered, overlapping and cut TCP segments, as its buffer grows and is reused', () => {
    const r = mulberry32(20261206);
    let grown = 0;
    let withPending = 0;
    // One prefix per capacity, reset between streams: buffers go back to the free lists and come again.
    const prefixes = new Map<number, StreamPrefix>();
    for (let stream = 0; stream < 2000; stream++) {
      const cap = [64, 300, 1500, 4096][Math.floor(r() * 4)]!;
      let p = prefixes.get(cap);
      if (!p) prefixes.set(cap, (p = new StreamPrefix(cap)));
      p.reset();
      const m = new Model(cap);
      const isn = Math.floor(r() * 0x100000000);
      if (r() < 0.7) {
        p.syn(isn);
        m.syn(isn);
      }
      const start = (isn + 1) >>> 0;
      let sawPending = false;
      for (let k = 0; k < 1 + Math.floor(r() * 30); k++) {
        // Mostly near the data seen so far, some ahead (gaps), some before the start (retransmissions).
        const at = Math.floor((r() - 0.1) * Math.min(cap * 1.3, 6000));
        const data = randomBytes(r, Math.floor(r() * (r() < 0.3 ? 1460 : 200)));
        const seq = (start + at) >>> 0;
        p.tcp(seq, data, 0, data.length, { time: 1000 + k });
        m.tcp(seq, data);
        if (m.pend.length) sawPending = true;
      }
      expect(p.length, `stream ${stream}`).toBe(m.length);
      expect(p.take(), `stream ${stream}`).toEqual(m.prefix());
      expect(p.full).toBe(m.length >= cap);
      if (p.buf.length > 256) grown++;
      if (sawPending) withPending++;
    }
    // Not vacuous: buffers grew, and gaps were filled later.
    expect(grown).toBeGreaterThan(500);
    expect(withPending).toBeGreaterThan(300);
  });

  it('keeps datagrams as length-prefixed records up to its capacity, as its buffer grows', () => {
    const r = mulberry32(7);
    const p = new StreamPrefix(4096);
    for (let stream = 0; stream < 300; stream++) {
      p.reset();
      const want: number[] = [];
      for (let k = 0; k < Math.floor(r() * 40); k++) {
        const d = randomBytes(r, Math.floor(r() * 600));
        p.datagram(d, 0, d.length, { time: 1000 + k });
        if (d.length === 0) continue;
        const room = 4096 - want.length - 2;
        if (room <= 0) continue;
        want.push(d.length >>> 8, d.length & 0xff, ...d.subarray(0, Math.min(d.length, room)));
      }
      expect(p.take()).toEqual(Uint8Array.from(want));
    }
  });
});
