/**
 * The administration's summary of a report: mining subscribers and flows, by coin, by subscriber
 * type and by region, hashrate and energy when the report holds estimates, and the method behind
 * each figure. Every number is counted from the report; nothing is estimated here. Hashrate comes
 * from `subscriber_hashrate` (per subscriber, coin and algorithm, from shares) and energy from the
 * `subscribers` power columns (`power_w_low`, `power_w_high`); when they are absent or NULL the
 * figure is `null`, shown as "not measured".
 */
import { levelsAtLeast } from '../confidence.js';
import type Database from 'better-sqlite3';
import { formatTime, levelName, messages, type Lang } from '../i18n.js';
import type { Confidence } from '../types.js';
import { formatHashrate, kwhRange } from './format.js';
import { describeIncomplete, incompleteInputs, type IncompleteInput } from './runs.js';


/** Incomplete inputs named one per line in the summary table and the HTML page; the rest are counted. */
export const INCOMPLETE_LISTED = 20;

/** One row of a breakdown; `key` null means unknown (no coin named, not in the directory). */
export interface Breakdown {
  key: string | null;
  subscribers: number;
  flows: number;
  /** Energy of the row's subscribers with an estimate (kWh/day range), null when none has one. */
  kwhPerDay: { low: number; high: number; subscribers: number } | null;
  /** By coin only: the coin's summed hashrate, null when not measured (or not a coin row). */
  hashrate: { hs: number; unit: string; subscribers: number } | null;
}

export interface HashrateGroup {
  /** The coin (or, when no coin was named, the algorithm in brackets); null when neither is known. */
  coins: string | null;
  /** H/s, or Sol/s for Equihash. */
  unit: string;
  hs: number;
  /** Absolute one-sigma error in H/s, or null when some estimate in the group has no error. */
  errHs: number | null;
  subscribers: number;
}

export interface Summary {
  minConfidence: Confidence;
  miningSubscribers: number;
  miningFlows: number;
  period: { first: number | null; last: number | null };
  byCoin: Breakdown[];
  byType: Breakdown[];
  byRegion: Breakdown[];
  /** Null: not measured (columns absent or every value NULL). */
  hashrate: { groups: HashrateGroup[]; measuredSubscribers: number } | null;
  /** Null: not measured. */
  energy: { kwhPerDayLow: number; kwhPerDayHigh: number; measuredSubscribers: number } | null;
  /** One sentence per figure: how it was made. */
  method: string[];
  /**
   * Inputs whose rows are not the whole of them (interrupted, failed, removed, or still being read),
   * oldest first; empty when every input is complete. Their paths are file names, not subscriber
   * data, so they are shown as they are, pseudonymised or not.
   */
  incompleteInputs: IncompleteInput[];
}

interface SubInfo {
  type: string | null;
  region: string | null;
  wLow: number | null;
  wHigh: number | null;
}

/** The subscribers' directory attributes and power estimates, keyed by subscriber. */
function subscriberInfo(db: Database.Database): Map<string, SubInfo> {
  const rows = db.prepare('SELECT subscriber, type, region, power_w_low, power_w_high FROM subscribers').all() as Array<{
    subscriber: string;
    type: string | null;
    region: string | null;
    power_w_low: number | null;
    power_w_high: number | null;
  }>;
  const out = new Map<string, SubInfo>();
  for (const r of rows) out.set(r.subscriber, { type: r.type || null, region: r.region || null, wLow: r.power_w_low, wHigh: r.power_w_high });
  return out;
}

/** Mining flows with a subscriber at or above a confidence, in time order. */
export function qualifyingFlows(db: Database.Database, minConfidence: Confidence): Array<{ id: number; subscriber: string; first_seen: number; last_seen: number; coin: string | null }> {
  const levels = levelsAtLeast(minConfidence, false);
  return db
    .prepare(
      `SELECT id, subscriber, first_seen, last_seen, coin FROM flows
       WHERE label = 'mining' AND subscriber IS NOT NULL AND confidence IN (${levels.map(() => '?').join(', ')}) ORDER BY first_seen, id`,
    )
    .all(...levels) as Array<{ id: number; subscriber: string; first_seen: number; last_seen: number; coin: string | null }>;
}

function breakdown(
  m: Map<string | null, { subs: Set<string>; flows: number }>,
  figures: (key: string | null, subs: ReadonlySet<string>) => Pick<Breakdown, 'kwhPerDay' | 'hashrate'>,
): Breakdown[] {
  return [...m.entries()]
    .map(([key, v]) => ({ key, subscribers: v.subs.size, flows: v.flows, ...figures(key, v.subs) }))
    .sort((a, b) => (a.key === null ? 1 : 0) - (b.key === null ? 1 : 0) || b.subscribers - a.subscribers || b.flows - a.flows || String(a.key).localeCompare(String(b.key)));
}

function bump(m: Map<string | null, { subs: Set<string>; flows: number }>, key: string | null, sub: string): void {
  let e = m.get(key);
  if (!e) m.set(key, (e = { subs: new Set(), flows: 0 }));
  e.subs.add(sub);
  e.flows++;
}

export function summarize(db: Database.Database, opts: { minConfidence: Confidence; lang?: Lang }): Summary {
  const lang = opts.lang ?? 'en';
  const msg = messages(lang);
  const flows = qualifyingFlows(db, opts.minConfidence);
  const info = subscriberInfo(db);
  const subs = new Set<string>();
  const coinsOf = new Map<string, Set<string>>();
  const byCoin = new Map<string | null, { subs: Set<string>; flows: number }>();
  const byType = new Map<string | null, { subs: Set<string>; flows: number }>();
  const byRegion = new Map<string | null, { subs: Set<string>; flows: number }>();
  let first: number | null = null;
  let last: number | null = null;
  for (const f of flows) {
    subs.add(f.subscriber);
    first = first === null ? f.first_seen : Math.min(first, f.first_seen);
    last = last === null ? f.last_seen : Math.max(last, f.last_seen);
    const coin = f.coin || null;
    if (coin) {
      let s = coinsOf.get(f.subscriber);
      if (!s) coinsOf.set(f.subscriber, (s = new Set()));
      s.add(coin);
    }
    bump(byCoin, coin, f.subscriber);
    const i = info.get(f.subscriber);
    bump(byType, i?.type ?? null, f.subscriber);
    bump(byRegion, i?.region ?? null, f.subscriber);
  }
  // A subscriber some of whose flows name a coin is counted under that coin, not also under unknown.
  const unknownCoin = byCoin.get(null);
  if (unknownCoin) {
    for (const s of [...unknownCoin.subs]) if (coinsOf.has(s)) unknownCoin.subs.delete(s);
  }

  // Estimates, only as the report holds them: hashrate per coin (hashes of different coins' algorithms do not add).
  const groups = new Map<string | null, { hs: number; var: number; errKnown: boolean; subs: Set<string>; unit: string }>();
  const hsSubs = new Set<string>();
  const coinPower = new Map<string, { low: number; high: number; subs: Set<string> }>();
  for (const r of db.prepare('SELECT subscriber, coin, algorithm, unit, hashrate_hs, rel_err, power_w_low, power_w_high FROM subscriber_hashrate WHERE hashrate_hs IS NOT NULL').all() as Array<{
    subscriber: string;
    coin: string | null;
    algorithm: string | null;
    unit: string;
    hashrate_hs: number;
    rel_err: number | null;
    power_w_low: number | null;
    power_w_high: number | null;
  }>) {
    if (!subs.has(r.subscriber)) continue;
    if (r.coin !== null && r.power_w_low !== null && r.power_w_high !== null) {
      let pc = coinPower.get(r.coin);
      if (!pc) coinPower.set(r.coin, (pc = { low: 0, high: 0, subs: new Set() }));
      pc.low += r.power_w_low;
      pc.high += r.power_w_high;
      pc.subs.add(r.subscriber);
    }
    hsSubs.add(r.subscriber);
    const key = r.coin ?? (r.algorithm ? `(${r.algorithm})` : null);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { hs: 0, var: 0, errKnown: true, subs: new Set(), unit: r.unit }));
    g.hs += r.hashrate_hs;
    g.subs.add(r.subscriber);
    if (r.rel_err === null) g.errKnown = false;
    else g.var += (r.hashrate_hs * r.rel_err) ** 2;
  }
  const hsMeasured = hsSubs.size;
  let wMeasured = 0;
  let wLow = 0;
  let wHigh = 0;
  for (const s of subs) {
    const i = info.get(s);
    if (!i) continue;
    if (i.wLow !== null || i.wHigh !== null) {
      wMeasured++;
      wLow += i.wLow ?? i.wHigh!;
      wHigh += i.wHigh ?? i.wLow!;
    }
  }
  const hashrate =
    hsMeasured === 0
      ? null
      : {
          measuredSubscribers: hsMeasured,
          groups: [...groups.entries()]
            .map(([coins, g]) => ({ coins, unit: g.unit, hs: g.hs, errHs: g.errKnown ? Math.sqrt(g.var) : null, subscribers: g.subs.size }))
            .sort((a, b) => (a.coins === null ? 1 : 0) - (b.coins === null ? 1 : 0) || b.hs - a.hs),
        };
  /** kWh/day of a group of subscribers: each subscriber's own power range, once. */
  const energyOf = (group: ReadonlySet<string>): Breakdown['kwhPerDay'] => {
    let low = 0;
    let high = 0;
    let n = 0;
    for (const sub of group) {
      const i = info.get(sub);
      if (!i || (i.wLow === null && i.wHigh === null)) continue;
      low += i.wLow ?? i.wHigh!;
      high += i.wHigh ?? i.wLow!;
      n++;
    }
    return n ? { low: (low * 24) / 1000, high: (high * 24) / 1000, subscribers: n } : null;
  };
  const energy = wMeasured === 0 ? null : { kwhPerDayLow: (wLow * 24) / 1000, kwhPerDayHigh: (wHigh * 24) / 1000, measuredSubscribers: wMeasured };

  const method = [
    msg.method_subscribers(levelName(opts.minConfidence, lang)),
    msg.method_period,
    msg.method_coin,
    msg.method_typeRegion,
    hashrate ? msg.method_hashrate : msg.method_hashrateAbsent,
    energy ? msg.method_energy : msg.method_energyAbsent,
  ];
  return {
    minConfidence: opts.minConfidence,
    miningSubscribers: subs.size,
    miningFlows: flows.length,
    period: { first, last },
    byCoin: breakdown(byCoin, (coin) => {
      const g = coin === null ? undefined : groups.get(coin);
      const pc = coin === null ? undefined : coinPower.get(coin);
      return {
        hashrate: g ? { hs: g.hs, unit: g.unit, subscribers: g.subs.size } : null,
        kwhPerDay: pc ? { low: (pc.low * 24) / 1000, high: (pc.high * 24) / 1000, subscribers: pc.subs.size } : null,
      };
    }),
    byType: breakdown(byType, (_k, group) => ({ hashrate: null, kwhPerDay: energyOf(group) })),
    byRegion: breakdown(byRegion, (_k, group) => ({ hashrate: null, kwhPerDay: energyOf(group) })),
    hashrate,
    energy,
    method,
    incompleteInputs: incompleteInputs(db),
  };
}

/**
 * The incomplete-input warning in the language: a heading, then one line per input (in English,
 * from {@link describeIncomplete}) up to {@link INCOMPLETE_LISTED}, then how many more; null when
 * every input is complete.
 */
export function incompleteLines(s: Pick<Summary, 'incompleteInputs'>, lang: Lang): { heading: string; lines: string[]; more: string | null } | null {
  const all = s.incompleteInputs;
  if (!all.length) return null;
  const m = messages(lang);
  const shown = all.slice(0, INCOMPLETE_LISTED);
  return { heading: m.incompleteInputs(all.length), lines: shown.map(describeIncomplete), more: all.length > shown.length ? m.incompleteMore(all.length - shown.length) : null };
}

/** The hashrate line: per coin group, or "not measured". */
export function hashrateText(s: Summary, lang: Lang): string {
  const m = messages(lang);
  if (!s.hashrate) return m.notMeasured;
  const parts = s.hashrate.groups.map((g) => `${g.coins ?? m.unknown} ${formatHashrate(g.hs, g.unit)}${g.errHs !== null ? ` ± ${formatHashrate(g.errHs, g.unit)}` : ''}`);
  return `${parts.join('; ')} (${m.measuredFor(s.hashrate.measuredSubscribers, s.miningSubscribers)})`;
}

export function energyText(s: Summary, lang: Lang): string {
  const m = messages(lang);
  if (!s.energy) return m.notMeasured;
  return `${kwhRange(s.energy.kwhPerDayLow, s.energy.kwhPerDayHigh)} (${m.measuredFor(s.energy.measuredSubscribers, s.miningSubscribers)})`;
}

export function periodText(s: Summary, lang: Lang, tz: string): string {
  const m = messages(lang);
  if (s.period.first === null || s.period.last === null) return m.periodNone;
  return `${formatTime(s.period.first, tz)} ${m.to} ${formatTime(s.period.last, tz)}`;
}

