/**
 * Hashrate and power from observed shares.
 *
 * A share is proof of the expected number of hashes its difficulty (or target) stands for, so a
 * miner's hashrate is the work of the shares the pool accepted divided by the time it mined:
 * - Stratum difficulty d: d × the algorithm's `difficulty_one` hashes (2^32 for SHA-256d, 2^16 for scrypt);
 * - a 256-bit target t (Equihash `mining.set_target`, ETHPROXY boundary, EthereumStratum/2.0.0): 2^256 / t;
 * - a CryptoNote compact target: 2^32 / t (4 bytes) or 2^64 / t (8 bytes).
 * Shares arrive as a Poisson process, so with N shares the relative standard error is 1/√N.
 * Power is hashrate × the algorithm's efficiency range (J/H) from rules/algorithms.yaml.
 */
import type { AlgorithmRule } from '../rules/schema.js';
import type { ShareCounts } from '../types.js';
import { overlapMs } from './power.js';

/**
 * Expected hashes behind a flow's counted shares, or null when they cannot be valued: no share with
 * a known difficulty, or a Stratum difficulty whose algorithm (and so its unit) is unknown. Shares
 * counted before the first difficulty was seen are valued at the mean of the others.
 */
export function flowHashes(s: ShareCounts, algorithm: AlgorithmRule | null): number | null {
  const known = s.counted - s.unknownWork;
  if (known <= 0) return null;
  let hashes = s.hashes;
  if (s.difficulty > 0) {
    if (!algorithm || algorithm.difficultyOne === null) return null;
    hashes += s.difficulty * algorithm.difficultyOne;
  }
  if (!(hashes > 0)) return null;
  return (hashes * s.counted) / known;
}

/** One mining flow's measured work, as the report keeps it. */
export interface WorkFlow {
  first: number;
  last: number;
  coin: string | null;
  algorithm: string | null;
  /** Shares behind `hashes`. */
  shares: number;
  hashes: number | null;
  /** The miner's own figure (H/s), if it sent one. */
  reported: number | null;
}

export interface Efficiency {
  low: number | null;
  high: number | null;
}

/** Hashrate of one subscriber for one coin (and algorithm). */
export interface HashrateRow {
  coin: string | null;
  algorithm: string | null;
  flows: number;
  shares: number;
  /** Shares seen that could not be valued (no difficulty seen, or a difficulty unit unknown for the algorithm). */
  unvalued: number;
  hashes: number;
  /** Time mined: the union of the measured flows' spans (s). */
  seconds: number;
  hashrateHs: number | null;
  /** Relative standard error, 1/√shares. */
  relErr: number | null;
  /** Time-weighted mean of the miner's own figures (H/s). */
  reportedHs: number | null;
  powerWLow: number | null;
  powerWHigh: number | null;
}

/**
 * Roll one subscriber's mining flows up per (coin, algorithm). Hashes of flows add; their time is
 * the union of their spans, so parallel connections (several rigs) add their rates and a session
 * cut into pieces or reconnected later does not. A span shorter than a second counts as one.
 */
export function rollupHashrate(flows: readonly WorkFlow[], efficiency: ReadonlyMap<string, Efficiency>): HashrateRow[] {
  const groups = new Map<string, WorkFlow[]>();
  for (const f of flows) {
    if (f.hashes === null && f.reported === null && f.shares === 0) continue;
    const k = `${f.coin ?? ''}\u0000${f.algorithm ?? ''}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(f);
  }
  const out: HashrateRow[] = [];
  for (const g of groups.values()) {
    const measured = g.filter((f) => f.hashes !== null);
    const shares = measured.reduce((a, f) => a + f.shares, 0);
    const hashes = measured.reduce((a, f) => a + f.hashes!, 0);
    const seconds = unionSeconds(measured);
    const hs = shareHashrate(hashes, seconds, shares);
    const rep = g.filter((f) => f.reported !== null);
    const repSeconds = unionSeconds(rep);
    const reportedHs = rep.length ? rep.reduce((a, f) => a + f.reported! * Math.max(1, (f.last - f.first) / 1000), 0) / repSeconds : null;
    const eff = g[0]!.algorithm ? efficiency.get(g[0]!.algorithm) : undefined;
    out.push({
      coin: g[0]!.coin,
      algorithm: g[0]!.algorithm,
      flows: g.length,
      shares,
      unvalued: g.filter((f) => f.hashes === null).reduce((a, f) => a + f.shares, 0),
      hashes,
      seconds,
      hashrateHs: hs,
      relErr: shareRelErr(shares),
      reportedHs,
      powerWLow: hs !== null && eff?.low != null ? hs * eff.low : null,
      powerWHigh: hs !== null && eff?.high != null ? hs * eff.high : null,
    });
  }
  return out.sort((a, b) => String(a.coin ?? '~').localeCompare(String(b.coin ?? '~')) || String(a.algorithm).localeCompare(String(b.algorithm)));
}

/** Hashrate (H/s) of `hashes` expected hashes over `seconds` mined, or null when no share was valued. */
export function shareHashrate(hashes: number, seconds: number, shares: number): number | null {
  return seconds > 0 && shares > 0 ? hashes / seconds : null;
}

/** Relative standard error of a rate measured from `shares` shares (a Poisson count): 1/√shares, or null for none. */
export function shareRelErr(shares: number): number | null {
  return shares > 0 ? 1 / Math.sqrt(shares) : null;
}

/** Length of the union of the flows' [first, last] spans, in seconds (at least 1). */
export function unionSeconds(flows: ReadonlyArray<{ first: number; last: number }>): number {
  return Math.max(1, overlapMs(flows, -Infinity, Infinity) / 1000);
}
