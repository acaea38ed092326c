import { describe, expect, it } from 'vitest';
import { flowHashes, rollupHashrate, unionSeconds, type WorkFlow } from '../../src/aggregate/hashrate.js';
import { algorithmFor } from '../../src/rules/algorithms.js';
import type { ShareCounts } from '../../src/types.js';
import { projectRules } from '../helpers.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const shares = (p: Partial<ShareCounts>): ShareCounts => ({
  submitted: 0, accepted: 0, rejected: 0, answered: true, counted: 0, difficulty: 0, hashes: 0, unknownWork: 0,
  reportedHashrate: null, algorithm: null, firstShare: 0, lastShare: 0, gaps: 0, ...p,
});

describe('algorithm table (rules/algorithms.yaml)', () => {
  const table = projectRules().algorithms;
  it('maps coins to algorithms by date, and protocol names when no coin is known', () => {
    expect(algorithmFor(table, 'BTC', null, T0)?.id).toBe('sha256d');
    expect(algorithmFor(table, 'LTC', null, T0)?.difficultyOne).toBe(65536);
    expect(algorithmFor(table, 'XMR', null, T0)?.id).toBe('randomx');
    expect(algorithmFor(table, 'XMR', null, Date.parse('2017-12-25T00:00:00Z'))?.id).toBe('cryptonight');
    expect(algorithmFor(table, 'ETH', null, Date.parse('2017-01-17T00:00:00Z'))?.id).toBe('ethash');
    expect(algorithmFor(table, 'ETH', null, T0)).toBeNull();
    expect(algorithmFor(table, null, 'RX/0', T0)?.id).toBe('randomx');
    expect(algorithmFor(table, 'NOPE', null, T0)).toBeNull();
  });
  it('every documented efficiency has its sources and a low <= high range', () => {
    for (const a of table!.algorithms) {
      if (a.efficiencyLow === null) continue;
      expect(a.efficiencyHigh!).toBeGreaterThanOrEqual(a.efficiencyLow);
      expect(a.sources.length).toBeGreaterThan(0);
      expect(a.hardwareLow && a.hardwareHigh).toBeTruthy();
    }
  });
});

describe('flowHashes', () => {
  const sha = algorithmFor(projectRules().algorithms, 'BTC', null, T0);
  it('turns Stratum difficulty into hashes with the algorithm multiplier', () => {
    expect(flowHashes(shares({ counted: 10, difficulty: 10 * 1024 }), sha)).toBe(10 * 1024 * 2 ** 32);
  });
  it('needs no algorithm for target-valued shares, but does for difficulty-valued ones', () => {
    expect(flowHashes(shares({ counted: 3, hashes: 30000 }), null)).toBe(30000);
    expect(flowHashes(shares({ counted: 3, difficulty: 24 }), null)).toBeNull();
  });
  it('values shares of unknown difficulty at the mean of the others, and none at all as unmeasured', () => {
    expect(flowHashes(shares({ counted: 4, unknownWork: 1, difficulty: 3 }), sha)).toBe((3 * 2 ** 32 * 4) / 3);
    expect(flowHashes(shares({ counted: 9, unknownWork: 9 }), sha)).toBeNull();
    expect(flowHashes(shares({ counted: 0 }), sha)).toBeNull();
  });
});

describe('rollupHashrate', () => {
  const eff = new Map([['randomx', { low: 0.004, high: 0.015 }]]);
  const f = (first: number, last: number, shares: number, hashes: number | null, reported: number | null = null): WorkFlow => ({ first: T0 + first * 1000, last: T0 + last * 1000, coin: 'XMR', algorithm: 'randomx', shares, hashes, reported });

  it('parallel connections add their rates; a reconnect later does not double the time', () => {
    // Two rigs at once, 600 s each, 1 MH over the time each: 2 MH over 600 s.
    const [par] = rollupHashrate([f(0, 600, 50, 1e6), f(0, 600, 50, 1e6)], eff);
    expect(par!.seconds).toBe(600);
    expect(par!.hashrateHs).toBeCloseTo(2e6 / 600, 6);
    // One rig in two sessions with an hour off between: the hour does not count.
    const [seq] = rollupHashrate([f(0, 600, 50, 1e6), f(4200, 4800, 50, 1e6)], eff);
    expect(seq!.seconds).toBe(1200);
    expect(seq!.hashrateHs).toBeCloseTo(2e6 / 1200, 6);
  });

  it('gives the Poisson error, the shares behind it, and a power range from the efficiency', () => {
    const [r] = rollupHashrate([f(0, 1000, 100, 1e6)], eff);
    expect(r).toMatchObject({ shares: 100, relErr: 0.1, flows: 1, unvalued: 0 });
    expect(r!.powerWLow).toBeCloseTo(1000 * 0.004, 9);
    expect(r!.powerWHigh).toBeCloseTo(1000 * 0.015, 9);
  });

  it('keeps unvalued shares and the miner-reported figure apart from the measurement', () => {
    const [r] = rollupHashrate([f(0, 100, 9, null), f(0, 200, 0, null, 5e6)], eff);
    expect(r).toMatchObject({ hashrateHs: null, relErr: null, unvalued: 9, powerWLow: null });
    expect(r!.reportedHs).toBeCloseTo(5e6, 6);
  });

  it('separates coins and algorithms', () => {
    const rows = rollupHashrate([f(0, 100, 1, 100), { ...f(0, 100, 1, 100), coin: 'ZEC', algorithm: 'equihash' }], eff);
    expect(rows.map((r) => r.coin)).toEqual(['XMR', 'ZEC']);
  });

  it('unionSeconds merges overlapping spans and counts at least a second', () => {
    expect(unionSeconds([{ first: 0, last: 5000 }, { first: 3000, last: 9000 }, { first: 20000, last: 21000 }])).toBe(10);
    expect(unionSeconds([{ first: 0, last: 0 }])).toBe(1);
  });
});
