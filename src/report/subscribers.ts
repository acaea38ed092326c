/**
 * Per-subscriber rollup, rebuilt from every mining flow in the report (so it stays exact when
 * inputs are added across runs). A subscriber is the flow's `subscriber` column: the client
 * address, or the address inside `--subscriber-net` when nets were given.
 */
import { CONFIDENCE_LEVELS, confidenceRank } from '../confidence.js';
import type Database from 'better-sqlite3';
import { rollupHashrate, type Efficiency, type HashrateRow, type WorkFlow } from '../aggregate/hashrate.js';
import { checkPower } from '../aggregate/power.js';
import { hashrateLine } from './format.js';
import { endpointText } from '../ip.js';
import { messages } from '../i18n.js';

const MAX_LIST = 50;
/** The strongest flow's reason is quoted in the subscriber's evidence line up to this many characters. */
const MAX_REASON = 600;

interface Row {
  subscriber: string;
  first_seen: number;
  last_seen: number;
  server: string;
  server_port: number;
  coin: string | null;
  agent: string | null;
  software: string | null;
  pool: string | null;
  workers: string;
  confidence: string;
  rules: string;
  reason: string;
  outcome: string | null;
  shares: number | null;
  share_hashes: number | null;
  algorithm: string | null;
  reported_hs: number | null;
}

/**
 * Rebuild the `subscribers` and `subscriber_hashrate` rows from the report's mining flows: of every
 * subscriber, or, with `only`, of those subscribers alone (their rows are replaced, a subscriber left
 * with no mining flow loses its row; the others' rows stay as they are). The rows of a subscriber are
 * the same whichever way they were built: a subscriber's rollup reads its own flows only.
 *
 * `only` is what a live collector uses at each commit (the subscribers of the flows it committed
 * since the last one): its cost follows those subscribers' flows, found by the subscriber index,
 * not the report's size.
 */
export function rebuildSubscribers(db: Database.Database, only?: Iterable<string>): void {
  const subset = only === undefined ? null : JSON.stringify([...only]);
  if (subset === '[]') return;
  const columns = `subscriber, first_seen, last_seen, server, server_port, coin, agent, software, pool, workers, confidence, rules, reason, outcome,
              shares, share_hashes, algorithm, reported_hs`;
  const rows = (
    subset === null
      ? db.prepare(`SELECT ${columns} FROM flows WHERE label = 'mining' AND subscriber IS NOT NULL ORDER BY subscriber, first_seen, id`).iterate()
      : // `+label`: found by the subscriber index, not by reading every mining flow through the label index.
        db.prepare(`SELECT ${columns} FROM flows WHERE subscriber IN (SELECT value FROM json_each(?)) AND +label = 'mining' ORDER BY subscriber, first_seen, id`).iterate(subset)
  ) as IterableIterator<Row>;
  interface Acc {
    first: number;
    last: number;
    flows: number;
    servers: Set<string>;
    pools: Set<string>;
    coins: Set<string>;
    agents: Set<string>;
    workers: Set<string>;
    rules: Set<string>;
    rank: number;
    byConf: Map<string, number>;
    outcomes: Map<string, number>;
    /** The reason of the first flow at the highest confidence. */
    best: string;
    work: WorkFlow[];
  }
  const acc = new Map<string, Acc>();
  for (const r of rows) {
    let a = acc.get(r.subscriber);
    if (!a) {
      a = { first: r.first_seen, last: r.last_seen, flows: 0, servers: new Set(), pools: new Set(), coins: new Set(), agents: new Set(), workers: new Set(), rules: new Set(), rank: 0, byConf: new Map(), outcomes: new Map(), best: '', work: [] };
      acc.set(r.subscriber, a);
    }
    a.first = Math.min(a.first, r.first_seen);
    a.last = Math.max(a.last, r.last_seen);
    a.flows++;
    add(a.servers, endpointText(r.server, r.server_port));
    if (r.coin) add(a.coins, r.coin);
    if (r.pool) add(a.pools, r.pool);
    // Named software when the agent is known, the agent string verbatim otherwise.
    if (r.software ?? r.agent) add(a.agents, (r.software ?? r.agent)!);
    for (const w of JSON.parse(r.workers) as string[]) add(a.workers, w);
    for (const id of r.rules.split(',')) if (id) a.rules.add(id);
    const rank = confidenceRank(r.confidence);
    if (rank > a.rank || !a.best) a.best = r.reason;
    a.rank = Math.max(a.rank, rank);
    if (r.outcome) a.outcomes.set(r.outcome, (a.outcomes.get(r.outcome) ?? 0) + 1);
    a.byConf.set(r.confidence, (a.byConf.get(r.confidence) ?? 0) + 1);
    if (r.shares !== null || r.reported_hs !== null)
      a.work.push({ first: r.first_seen, last: r.last_seen, coin: r.coin, algorithm: r.algorithm, shares: r.shares ?? 0, hashes: r.share_hashes, reported: r.reported_hs });
  }
  const efficiency = new Map<string, Efficiency & { unit: string }>();
  for (const e of db.prepare('SELECT id, unit, j_per_h_low, j_per_h_high FROM algorithms').all() as Array<{ id: string; unit: string; j_per_h_low: number | null; j_per_h_high: number | null }>)
    efficiency.set(e.id, { low: e.j_per_h_low, high: e.j_per_h_high, unit: e.unit });
  const readings = new Map<string, Array<{ start: number; end: number; kwh: number }>>();
  const readingRows =
    subset === null
      ? db.prepare('SELECT subscriber, period_start, period_end, kwh FROM power_readings ORDER BY period_start').all()
      : db.prepare('SELECT subscriber, period_start, period_end, kwh FROM power_readings WHERE subscriber IN (SELECT value FROM json_each(?)) ORDER BY period_start').all(subset);
  for (const p of readingRows as Array<{ subscriber: string; period_start: number; period_end: number; kwh: number }>) {
    let l = readings.get(p.subscriber);
    if (!l) readings.set(p.subscriber, (l = []));
    l.push({ start: p.period_start, end: p.period_end, kwh: p.kwh });
  }
  const ins = db.prepare(
    `INSERT INTO subscribers(subscriber, first_seen, last_seen, mining_flows, account, type, region, servers, pools, coins, agents, workers, confidence, evidence,
       shares, hashrate, hashrate_hs, hashrate_rel_err, power_w_low, power_w_high, power_check, power_note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insRate = db.prepare(
    `INSERT INTO subscriber_hashrate(subscriber, coin, algorithm, unit, flows, shares, unvalued, hashes, seconds, hashrate_hs, rel_err, reported_hs, power_w_low, power_w_high)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const info = db.prepare('SELECT account, type, region FROM subscriber_info WHERE subscriber = ?');
  db.transaction(() => {
    if (subset === null) {
      db.exec('DELETE FROM subscribers');
      db.exec('DELETE FROM subscriber_hashrate');
    } else {
      db.prepare('DELETE FROM subscribers WHERE subscriber IN (SELECT value FROM json_each(?))').run(subset);
      db.prepare('DELETE FROM subscriber_hashrate WHERE subscriber IN (SELECT value FROM json_each(?))').run(subset);
    }
    for (const [sub, a] of acc) {
      const rates = rollupHashrate(a.work, efficiency);
      for (const h of rates) insRate.run(sub, h.coin, h.algorithm, unitOf(h, efficiency), h.flows, h.shares, h.unvalued, h.hashes, h.seconds, h.hashrateHs, h.relErr, h.reportedHs, h.powerWLow, h.powerWHigh);
      const f = figures(rates, efficiency);
      let check: string | null = null;
      let note: string | null = null;
      const rd = readings.get(sub);
      if (rd && f.wLow !== null && f.wHigh !== null) {
        // Per coin: its power over the time that coin was mined.
        const estimates = rates
          .filter((h) => h.powerWLow !== null && h.powerWHigh !== null)
          .map((h) => ({ spans: a.work.filter((w) => w.hashes !== null && w.coin === h.coin && w.algorithm === h.algorithm), wLow: h.powerWLow!, wHigh: h.powerWHigh! }));
        const c = checkPower(rd, estimates);
        check = c.check;
        note = c.note;
      } else if (rd) {
        check = 'no-estimate';
        note = `${rd.length} reading(s); no power estimate to compare (no measured hashrate with a documented efficiency)`;
      }
      const conf = [...a.byConf.entries()].sort((x, y) => confidenceRank(y[0]) - confidenceRank(x[0])).map(([c, n]) => `${n} ${c}`).join(', ');
      const outcomes = [...a.outcomes.entries()].sort((x, y) => y[1] - x[1]).map(([o, n]) => `${o} ${n}`).join(', ');
      const best = a.best.length > MAX_REASON ? `${a.best.slice(0, MAX_REASON)}…` : a.best;
      const evidence = `${a.flows} mining flow${a.flows === 1 ? '' : 's'} (${conf}) to ${a.servers.size} server${a.servers.size === 1 ? '' : 's'}; rules ${[...a.rules].sort().join(', ')}${outcomes ? `; outcomes: ${outcomes}` : ''}; strongest: ${best}`;
      const i = info.get(sub) as { account: string | null; type: string | null; region: string | null } | undefined;
      ins.run(sub, a.first, a.last, a.flows, i?.account ?? null, i?.type ?? null, i?.region ?? null, JSON.stringify([...a.servers]), JSON.stringify([...a.pools].sort()), JSON.stringify([...a.coins].sort()), JSON.stringify([...a.agents]), JSON.stringify([...a.workers]), CONFIDENCE_LEVELS[a.rank], evidence, f.shares, f.text, f.hs, f.relErr, f.wLow, f.wHigh, check, note);
    }
  })();
}

function unitOf(h: HashrateRow, eff: ReadonlyMap<string, { unit: string }>): string {
  return (h.algorithm && eff.get(h.algorithm)?.unit) || 'H/s';
}

/**
 * A subscriber's figures over its (coin, algorithm) rows: shares, a readable line, one hashrate when
 * all rows share an algorithm (hashes of different algorithms do not add), power summed over rows.
 */
function figures(rates: readonly HashrateRow[], eff: ReadonlyMap<string, { unit: string }>): { shares: number; text: string | null; hs: number | null; relErr: number | null; wLow: number | null; wHigh: number | null } {
  const measured = rates.filter((r) => r.hashrateHs !== null);
  const shares = measured.reduce((a, r) => a + r.shares, 0);
  const en = messages('en');
  const parts = rates.map((r) => hashrateLine({ ...r, unit: unitOf(r, eff) }, en));
  const algs = new Set(measured.map((r) => r.algorithm ?? ''));
  let hs: number | null = null;
  let relErr: number | null = null;
  if (measured.length && algs.size === 1) {
    hs = measured.reduce((a, r) => a + r.hashrateHs!, 0);
    relErr = Math.sqrt(measured.reduce((a, r) => a + (r.hashrateHs! * r.relErr!) ** 2, 0)) / hs;
  }
  const withW = rates.filter((r) => r.powerWLow !== null && r.powerWHigh !== null);
  return {
    shares,
    text: parts.length ? parts.join('; ') : null,
    hs,
    relErr,
    wLow: withW.length ? withW.reduce((a, r) => a + r.powerWLow!, 0) : null,
    wHigh: withW.length ? withW.reduce((a, r) => a + r.powerWHigh!, 0) : null,
  };
}

function add(s: Set<string>, v: string): void {
  if (s.size < MAX_LIST) s.add(v);
}
