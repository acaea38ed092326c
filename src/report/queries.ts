/** Read-side queries over a report: flows and the subscriber watch list, as plain rows. */
import type Database from 'better-sqlite3';
import { formatKwh } from './format.js';
import type { Confidence } from '../types.js';

const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };

export interface FlowRow {
  id: number;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  transport: string;
  firstSeen: string;
  lastSeen: string;
  packets: number;
  bytes: number;
  label: string;
  confidence: string;
  rules: string[];
  coin: string | null;
  agent: string | null;
  software: string | null;
  workers: string[];
  pool: string | null;
  serverName: string | null;
  subscriber: string | null;
  outcome: string | null;
  reason: string;
}

export interface WatchRow {
  subscriber: string;
  account: string | null;
  type: string | null;
  region: string | null;
  confidence: string;
  firstSeen: string;
  lastSeen: string;
  miningFlows: number;
  servers: string[];
  pools: string[];
  coins: string[];
  agents: string[];
  workers: string[];
  /** One line per coin: rate ± error, shares, time mined; null when no shares were seen. */
  hashrate: string | null;
  /** Energy estimate, `low – high` kWh/day; null when not measured. */
  kwhPerDay: string | null;
  /** `fits`, `contradicts`, `no-overlap`, `no-estimate` (with `--power`), else null. */
  powerCheck: string | null;
  evidence: string;
  /** Ids (flows.id) of the mining flows behind the row, at the minimum confidence or above. */
  flowIds: number[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function queryFlows(db: Database.Database, opts: { all: boolean; minConfidence: Confidence }): FlowRow[] {
  const min = RANK[opts.minConfidence] ?? 0;
  const rows = db
    .prepare(
      `SELECT id, client, client_port, server, server_port, transport, first_seen, last_seen, packets_c2s + packets_s2c AS packets,
       bytes_c2s + bytes_s2c AS bytes, label, confidence, rules, coin, agent, software, workers, pool, server_name, subscriber, outcome, reason
       FROM flows ${opts.all ? '' : "WHERE label IN ('mining', 'suspect')"} ORDER BY first_seen, id`,
    )
    .all() as Array<Record<string, unknown>>;
  return rows
    .filter((r) => (RANK[r.confidence as string] ?? 0) >= min)
    .map((r) => ({
      id: r.id as number,
      client: r.client as string,
      clientPort: r.client_port as number,
      server: r.server as string,
      serverPort: r.server_port as number,
      transport: r.transport as string,
      firstSeen: iso(r.first_seen as number),
      lastSeen: iso(r.last_seen as number),
      packets: r.packets as number,
      bytes: r.bytes as number,
      label: r.label as string,
      confidence: r.confidence as string,
      rules: (r.rules as string) ? (r.rules as string).split(',') : [],
      coin: (r.coin as string | null) ?? null,
      agent: (r.agent as string | null) ?? null,
      software: (r.software as string | null) ?? null,
      workers: JSON.parse(r.workers as string) as string[],
      pool: (r.pool as string | null) ?? null,
      serverName: (r.server_name as string | null) ?? null,
      subscriber: (r.subscriber as string | null) ?? null,
      outcome: (r.outcome as string | null) ?? null,
      reason: r.reason as string,
    }));
}

export interface WatchFilter {
  minConfidence: Confidence;
  /** Subscriber type, region, coin: exact (case-insensitive). */
  type?: string;
  region?: string;
  coin?: string;
  /** Active at some time in [since, until] (ms). */
  since?: number;
  until?: number;
  /** Only subscribers whose id is an address inside this CIDR. */
  prefix?: { contains: (ip: string) => boolean };
}

export function queryWatchlist(db: Database.Database, opts: WatchFilter): WatchRow[] {
  const min = RANK[opts.minConfidence] ?? 0;
  const rows = db.prepare('SELECT * FROM subscribers ORDER BY subscriber').all() as Array<Record<string, unknown>>;
  const levels = Object.keys(RANK).filter((k) => k !== 'none' && RANK[k]! >= min);
  const ids = new Map<string, number[]>();
  for (const f of db
    .prepare(`SELECT id, subscriber FROM flows WHERE label = 'mining' AND subscriber IS NOT NULL AND confidence IN (${levels.map(() => '?').join(', ')}) ORDER BY id`)
    .iterate(...levels) as IterableIterator<{ id: number; subscriber: string }>) {
    let l = ids.get(f.subscriber);
    if (!l) ids.set(f.subscriber, (l = []));
    l.push(f.id);
  }
  const kwh = (lo: unknown, hi: unknown): string | null =>
    typeof lo === 'number' && typeof hi === 'number' ? `${formatKwh((lo * 24) / 1000)} – ${formatKwh((hi * 24) / 1000)}` : null;
  const eq = (a: unknown, b: string | undefined): boolean => b === undefined || (typeof a === 'string' && a.toLowerCase() === b.toLowerCase());
  return rows
    .filter((r) => (RANK[r.confidence as string] ?? 0) >= min)
    .filter((r) => eq(r.type, opts.type) && eq(r.region, opts.region))
    .filter((r) => opts.coin === undefined || (JSON.parse(r.coins as string) as string[]).some((c) => c.toLowerCase() === opts.coin!.toLowerCase()))
    .filter((r) => (opts.since === undefined || (r.last_seen as number) >= opts.since) && (opts.until === undefined || (r.first_seen as number) <= opts.until))
    .filter((r) => opts.prefix === undefined || opts.prefix.contains(r.subscriber as string))
    .sort((a, b) => (RANK[b.confidence as string] ?? 0) - (RANK[a.confidence as string] ?? 0) || (b.mining_flows as number) - (a.mining_flows as number))
    .map((r) => ({
      subscriber: r.subscriber as string,
      account: (r.account as string | null) ?? null,
      type: (r.type as string | null) ?? null,
      region: (r.region as string | null) ?? null,
      confidence: r.confidence as string,
      firstSeen: iso(r.first_seen as number),
      lastSeen: iso(r.last_seen as number),
      miningFlows: r.mining_flows as number,
      servers: JSON.parse(r.servers as string) as string[],
      pools: JSON.parse(r.pools as string) as string[],
      coins: JSON.parse(r.coins as string) as string[],
      agents: JSON.parse(r.agents as string) as string[],
      workers: JSON.parse(r.workers as string) as string[],
      hashrate: (r.hashrate as string | null) ?? null,
      kwhPerDay: kwh(r.power_w_low, r.power_w_high),
      powerCheck: (r.power_check as string | null) ?? null,
      evidence: r.evidence as string,
      flowIds: ids.get(r.subscriber as string) ?? [],
    }));
}
