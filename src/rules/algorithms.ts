/**
 * Compiles `rules/algorithms.yaml`: which coin mines with which algorithm (by date), what a Stratum
 * difficulty of 1 is worth in hashes, and the efficiency range (J/H) that turns a hashrate into power.
 */
import { asList, COIN_RE, dateText, isDay, isObj, type FileContext } from './yamlfile.js';
import type { AlgorithmRule, Algorithms } from './schema.js';

const ALG_RE = /^[a-z0-9][a-z0-9._/-]{1,31}$/;
const TOP_KEYS = new Set(['id', 'rev', 'date', 'algorithms']);
const KEYS = new Set(['id', 'coins', 'names', 'unit', 'difficulty_one', 'efficiency', 'sources', 'note']);

export function compileAlgorithmsFile(ctx: FileContext, root: Record<string, unknown>): Algorithms | null {
  for (const k of Object.keys(root)) if (!TOP_KEYS.has(k)) ctx.err([k], k, 'unknown field; expected id, rev, date, algorithms');
  const id = root.id;
  const rev = root.rev;
  const date = dateText(root.date);
  if (typeof id !== 'string' || !/^[A-Z0-9][A-Z0-9-]{2,63}$/.test(id)) ctx.err(['id'], 'id', 'expected an id like MW-ALGORITHMS');
  if (!Number.isInteger(rev) || (rev as number) < 1) ctx.err(['rev'], 'rev', 'expected a revision number >= 1');
  if (!isDay(date)) ctx.err(['date'], 'date', 'expected the date the figures were checked, YYYY-MM-DD');
  const list = root.algorithms;
  if (!Array.isArray(list)) {
    ctx.err(['algorithms'], 'algorithms', 'expected a list, e.g. algorithms: [ { id: sha256d, coins: [BTC], difficulty_one: 4294967296, efficiency: { low: 1.75e-11, high: 9.8e-11 } } ]');
    return null;
  }
  const out: AlgorithmRule[] = [];
  const ids = new Set<string>();
  list.forEach((a: unknown, i: number) => {
    const at = (...p: (string | number)[]): (string | number)[] => ['algorithms', i, ...p];
    const f = (k: string): string => `algorithms[${i}].${k}`;
    const before = ctx.errors.length;
    if (!isObj(a) || typeof a.id !== 'string' || !ALG_RE.test(a.id)) {
      ctx.err(at(), `algorithms[${i}]`, 'expected { id: sha256d, coins: [...], ... } with a lower-case id');
      return;
    }
    for (const k of Object.keys(a)) if (!KEYS.has(k)) ctx.err(at(k), f(k), `unknown field; expected ${[...KEYS].join(', ')}`);
    if (ids.has(a.id)) ctx.err(at('id'), f('id'), `duplicate algorithm id ${a.id}`);
    ids.add(a.id);
    const coins: Array<{ coin: string; from: number | null; until: number | null }> = [];
    asList(a.coins).forEach((c: unknown, j: number) => {
      if (typeof c === 'string' && COIN_RE.test(c)) coins.push({ coin: c, from: null, until: null });
      else if (isObj(c) && typeof c.coin === 'string' && COIN_RE.test(c.coin)) {
        const from = dateText(c.from);
        const until = dateText(c.until);
        const ok = (d: unknown): boolean => d === undefined || isDay(d);
        if (!ok(from) || !ok(until)) ctx.err(at('coins', j), `${f('coins')}[${j}]`, 'expected from/until dates YYYY-MM-DD');
        else coins.push({ coin: c.coin, from: from ? Date.parse(from as string) : null, until: until ? Date.parse(until as string) : null });
      } else ctx.err(at('coins', j), `${f('coins')}[${j}]`, 'expected a ticker (XMR) or { coin: XMR, from: 2019-11-30 }');
    });
    const names = asList(a.names);
    if (!names.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 32)) ctx.err(at('names'), f('names'), 'expected protocol algorithm names, e.g. [rx/0]');
    const unit = a.unit ?? 'H/s';
    if (unit !== 'H/s' && unit !== 'Sol/s') ctx.err(at('unit'), f('unit'), 'expected H/s or Sol/s');
    const d1 = a.difficulty_one;
    if (d1 !== undefined && !(typeof d1 === 'number' && d1 > 0 && Number.isFinite(d1))) ctx.err(at('difficulty_one'), f('difficulty_one'), 'expected the hashes one share of Stratum difficulty 1 is worth, e.g. 4294967296');
    const eff = a.efficiency;
    let low: number | null = null;
    let high: number | null = null;
    if (eff !== undefined) {
      if (!isObj(eff) || typeof eff.low !== 'number' || typeof eff.high !== 'number' || !(eff.low > 0) || !(eff.high >= eff.low)) {
        ctx.err(at('efficiency'), f('efficiency'), 'expected { low: J/H, high: J/H, low_hardware: text, high_hardware: text } with 0 < low <= high');
      } else {
        low = eff.low;
        high = eff.high;
        for (const k of Object.keys(eff)) if (!['low', 'high', 'low_hardware', 'high_hardware'].includes(k)) ctx.err(at('efficiency', k), `${f('efficiency')}.${k}`, 'unknown field; expected low, high, low_hardware, high_hardware');
      }
    }
    const sources = asList(a.sources);
    if (eff !== undefined && (!sources.length || !sources.every((s) => typeof s === 'string' && s.length > 0))) ctx.err(at('sources'), f('sources'), 'an efficiency needs its sources: a list of references');
    if (ctx.errors.length > before) return;
    const e = (eff ?? {}) as Record<string, unknown>;
    out.push({
      id: a.id,
      coins,
      names: (names as string[]).map((n) => n.toLowerCase()),
      unit: unit as AlgorithmRule['unit'],
      difficultyOne: typeof d1 === 'number' ? d1 : null,
      efficiencyLow: low,
      efficiencyHigh: high,
      hardwareLow: typeof e.low_hardware === 'string' ? e.low_hardware : null,
      hardwareHigh: typeof e.high_hardware === 'string' ? e.high_hardware : null,
      sources: sources as string[],
      line: ctx.line(at()),
    });
  });
  if (typeof id !== 'string' || typeof date !== 'string' || !Number.isInteger(rev)) return null;
  return { id, rev: rev as number, date, algorithms: out };
}

/**
 * The algorithm a flow mined: by its coin (the mapping valid at `time`), else by the name the
 * protocol gave (XMRig's `rx/0`, EthereumStratum/2.0.0's `ethash`). Null when neither says.
 */
export function algorithmFor(table: Algorithms | null, coin: string | null, protocolName: string | null, time: number): AlgorithmRule | null {
  if (!table) return null;
  if (coin) {
    for (const a of table.algorithms)
      for (const c of a.coins) if (c.coin === coin && (c.from === null || time >= c.from) && (c.until === null || time < c.until)) return a;
  }
  if (protocolName) {
    const n = protocolName.toLowerCase();
    for (const a of table.algorithms) if (a.names.includes(n)) return a;
  }
  return null;
}
