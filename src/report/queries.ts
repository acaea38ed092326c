/**
 * Queries over a report as plain rows: flows and the subscriber watch list for listings, and the
 * bookkeeping a run reads and sets (inputs already complete or held in part, the subscriber count,
 * the last run's nets, a run's final status).
 */
import { confidenceRank, levelsAtLeast } from '../confidence.js';
import type Database from 'better-sqlite3';
import { formatTime } from '../i18n.js';
import { formatKwh } from './format.js';
import type { Attributes, Confidence } from '../types.js';
import type { Pseudonymiser } from './pseudonym.js';


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
  /**
   * The client addresses the subscriber's flows were seen with, each with its period
   * (`ADDRESS FIRST – LAST`), first seen first; at most {@link MAX_ADDRESSES}, then `… N more`.
   */
  addresses: string[];
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

/** Addresses listed per watch-list row (a subscriber behind a whole prefix can have thousands). */
export const MAX_ADDRESSES = 16;

/** How a row's times are written: ISO 8601 UTC, or in zone `tz` (checked by {@link checkZone}) as `2026-11-21 08:00:00 +08:00`. */
const timeIn = (tz: string | undefined): ((ms: number) => string) => (tz === undefined ? iso : (ms) => formatTime(ms, tz));

const levelsFrom = (min: Confidence): string[] => levelsAtLeast(min, true);

/**
 * The project's own constant strings (evidence kinds, states) as the list of an SQL `IN (…)`, each
 * quoted. Only for literals of the code: text from an input is always bound as a parameter.
 */
export function sqlList(values: Iterable<string>): string {
  return [...values].map((v) => `'${v.replace(/'/g, "''")}'`).join(', ');
}

/** A `flows` row's identity and endpoints, as listings and `explain` show them. */
export function flowEndpoints(r: Record<string, unknown>): { id: number; client: string; clientPort: number; server: string; serverPort: number; transport: string } {
  return {
    id: r.id as number,
    client: r.client as string,
    clientPort: r.client_port as number,
    server: r.server as string,
    serverPort: r.server_port as number,
    transport: r.transport as string,
  };
}

/** A `flows` row's classifier attributes (coin, agent, software, workers, pool, server name). */
export function flowAttributes(r: Record<string, unknown>): Attributes {
  return {
    coin: (r.coin as string | null) ?? null,
    agent: (r.agent as string | null) ?? null,
    software: (r.software as string | null) ?? null,
    workers: JSON.parse(r.workers as string) as string[],
    pool: (r.pool as string | null) ?? null,
    serverName: (r.server_name as string | null) ?? null,
  };
}

/** Which flows a listing reads. */
export interface FlowQuery {
  /** Every flow, not only mining and suspect ones. */
  all: boolean;
  minConfidence: Confidence;
  tz?: string;
  /** Only the flows of this subscriber (`flows.subscriber`, exact). */
  subscriber?: string;
  /** Only these flows (`flows.id`), whatever their label and confidence. */
  ids?: readonly number[];
}

/**
 * Flows of a report one at a time, in time order (mining and suspect ones unless `all`), at the
 * minimum confidence or above: a statement iterated, so memory does not grow with the report.
 * Flows asked for by id are given whatever their label and confidence.
 */
export function* iterateFlows(db: Database.Database, opts: FlowQuery): IterableIterator<FlowRow> {
  const at = timeIn(opts.tz);
  const where: string[] = [];
  const args: Array<string | number> = [];
  if (opts.ids !== undefined) {
    where.push(`id IN (SELECT value FROM json_each(?))`);
    args.push(JSON.stringify(opts.ids));
  } else {
    // At 'none' every flow counts, whatever its confidence column holds.
    const levels = confidenceRank(opts.minConfidence) > 0 ? levelsFrom(opts.minConfidence) : [];
    if (levels.length) {
      where.push(`confidence IN (${levels.map(() => '?').join(', ')})`);
      args.push(...levels);
    }
    if (!opts.all) where.push("label IN ('mining', 'suspect')");
  }
  if (opts.subscriber !== undefined) {
    where.push('subscriber = ?');
    args.push(opts.subscriber);
  }
  const stmt = db.prepare(
    `SELECT id, client, client_port, server, server_port, transport, first_seen, last_seen, packets_c2s + packets_s2c AS packets,
     bytes_c2s + bytes_s2c AS bytes, label, confidence, rules, coin, agent, software, workers, pool, server_name, subscriber, outcome, reason
     FROM flows ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY first_seen, id`,
  );
  for (const r of stmt.iterate(...args) as IterableIterator<Record<string, unknown>>) {
    yield {
      ...flowEndpoints(r),
      firstSeen: at(r.first_seen as number),
      lastSeen: at(r.last_seen as number),
      packets: r.packets as number,
      bytes: r.bytes as number,
      label: r.label as string,
      confidence: r.confidence as string,
      rules: (r.rules as string) ? (r.rules as string).split(',') : [],
      ...flowAttributes(r),
      subscriber: (r.subscriber as string | null) ?? null,
      outcome: (r.outcome as string | null) ?? null,
      reason: r.reason as string,
    };
  }
}

/** {@link iterateFlows} as an array (small reports, tests). */
export function queryFlows(db: Database.Database, opts: FlowQuery): FlowRow[] {
  return Array.from(iterateFlows(db, opts));
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
  /** Only subscribers whose id is an address inside this CIDR, or that were seen with an address inside it. */
  prefix?: { contains: (ip: string) => boolean };
}

/**
 * Watch-list rows one at a time, strongest confidence first, then most mining flows, then by
 * subscriber: sorted and joined to their flow ids by SQLite, so memory does not grow with the report.
 * With `pseudonymise`, the subscriber, its account and every address of the subscriber in the
 * evidence are replaced by keyed pseudonyms; servers stay.
 */
export function* iterateWatchlist(db: Database.Database, opts: WatchFilter & { pseudonymise?: Pseudonymiser | null; tz?: string }): IterableIterator<WatchRow> {
  const at = timeIn(opts.tz);
  const levels = levelsFrom(opts.minConfidence).filter((k) => k !== 'none');
  const inLevels = `(${levels.map(() => '?').join(', ')})`;
  const p = opts.pseudonymise ?? null;
  // Every address the subscriber's flows were seen with, and when: listed, matched by --prefix,
  // and found in the evidence text when pseudonymising.
  const stmt = db.prepare(
    `SELECT s.*, (SELECT group_concat(id) FROM (SELECT id FROM flows f WHERE f.subscriber = s.subscriber AND f.label = 'mining' AND f.confidence IN ${inLevels} ORDER BY id)) AS flow_ids,
     (SELECT json_group_array(json_array(client, first, last)) FROM (SELECT client, min(first_seen) AS first, max(last_seen) AS last FROM flows c WHERE c.subscriber = s.subscriber GROUP BY client ORDER BY first, client)) AS client_addresses
     FROM subscribers s WHERE s.confidence IN ${inLevels}
     ORDER BY CASE s.confidence WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END DESC, s.mining_flows DESC, s.subscriber`,
  );
  const kwh = (lo: unknown, hi: unknown): string | null =>
    typeof lo === 'number' && typeof hi === 'number' ? `${formatKwh((lo * 24) / 1000)} – ${formatKwh((hi * 24) / 1000)}` : null;
  const eq = (a: unknown, b: string | undefined): boolean => b === undefined || (typeof a === 'string' && a.toLowerCase() === b.toLowerCase());
  for (const r of stmt.iterate(...levels, ...levels) as IterableIterator<Record<string, unknown>>) {
    if (!(eq(r.type, opts.type) && eq(r.region, opts.region))) continue;
    const coins = JSON.parse(r.coins as string) as string[];
    if (opts.coin !== undefined && !coins.some((c) => c.toLowerCase() === opts.coin!.toLowerCase())) continue;
    if ((opts.since !== undefined && (r.last_seen as number) < opts.since) || (opts.until !== undefined && (r.first_seen as number) > opts.until)) continue;
    const seen = (JSON.parse((r.client_addresses as string | null) ?? '[]') as Array<[string, number, number]>).filter((x) => typeof x[0] === 'string');
    // The subscriber's id when it is an address, or any address it was seen with, whatever the directory calls it.
    if (opts.prefix !== undefined && !opts.prefix.contains(r.subscriber as string) && !seen.some((x) => opts.prefix!.contains(x[0]))) continue;
    const subscriber = r.subscriber as string;
    const account = (r.account as string | null) ?? null;
    const own = [subscriber, ...(account ? [account] : []), ...seen.map((x) => x[0])];
    const addresses = seen.slice(0, MAX_ADDRESSES).map(([a, f, l]) => `${p ? p.of(a) : a} ${at(f)} – ${at(l)}`);
    if (seen.length > MAX_ADDRESSES) addresses.push(`… ${seen.length - MAX_ADDRESSES} more`);
    yield {
      subscriber: p ? p.of(subscriber) : subscriber,
      account: p && account !== null ? p.of(account) : account,
      addresses,
      type: (r.type as string | null) ?? null,
      region: (r.region as string | null) ?? null,
      confidence: r.confidence as string,
      firstSeen: at(r.first_seen as number),
      lastSeen: at(r.last_seen as number),
      miningFlows: r.mining_flows as number,
      servers: JSON.parse(r.servers as string) as string[],
      pools: JSON.parse(r.pools as string) as string[],
      coins,
      agents: JSON.parse(r.agents as string) as string[],
      workers: JSON.parse(r.workers as string) as string[],
      hashrate: (r.hashrate as string | null) ?? null,
      kwhPerDay: kwh(r.power_w_low, r.power_w_high),
      powerCheck: (r.power_check as string | null) ?? null,
      evidence: p ? p.text(r.evidence as string, own) : (r.evidence as string),
      flowIds: r.flow_ids ? String(r.flow_ids).split(',').map(Number).sort((a, b) => a - b) : [],
    };
  }
}

/** {@link iterateWatchlist} as an array (small reports, tests, benchmarks). */
export function queryWatchlist(db: Database.Database, opts: WatchFilter & { pseudonymise?: Pseudonymiser | null; tz?: string }): WatchRow[] {
  return Array.from(iterateWatchlist(db, opts));
}

/**
 * Inputs the report holds complete, by content: sha256 → the path it was read from; and their sizes
 * (their bytes as stored, which their sha256 covers), or null when one of them has no size recorded:
 * content identical to one of them has one of these sizes.
 */
export function completeInputs(db: Database.Database): { bySha: Map<string, string>; sizes: Set<number> | null } {
  const rows = db.prepare("SELECT sha256, path, size FROM inputs WHERE sha256 IS NOT NULL AND status = 'complete'").all() as Array<{ sha256: string; path: string; size: number | null }>;
  return { bySha: new Map(rows.map((r) => [r.sha256, r.path])), sizes: rows.some((r) => r.size === null) ? null : new Set(rows.map((r) => r.size!)) };
}

/** An input the report holds only in part: its rows are replaced when the input is read again. */
export interface PartialInput {
  id: number;
  path: string;
  sha256: string | null;
  /** Bytes read (for standard input, the prefix whose sha256 is `sha256`). */
  size: number | null;
}

/** Inputs the report holds only in part (interrupted, failed, or removed with a dead run), oldest first. */
export function partialInputs(db: Database.Database): PartialInput[] {
  return db.prepare("SELECT id, path, sha256, size FROM inputs WHERE status IN ('interrupted', 'failed', 'removed') ORDER BY id").all() as PartialInput[];
}

/** Subscribers with mining evidence in the report (rows of the subscribers rollup). */
export function subscriberCount(db: Database.Database): number {
  return (db.prepare('SELECT count(*) AS n FROM subscribers').get() as { n: number }).n;
}

/**
 * A run's mining flows as the report holds them now: after its close, whose adding up may raise
 * flows to mining (or lower them), not as each was first classified.
 */
export function runMiningFlows(db: Database.Database, run: number): number {
  return db.prepare("SELECT count(*) FROM flows WHERE label = 'mining' AND run_id = ?").pluck().get(run) as number;
}

/** The subscriber nets (CIDR text) of the report's latest run; none when it recorded none or unreadable ones. */
export function lastRunNets(db: Database.Database): string[] {
  const row = db.prepare('SELECT options FROM runs ORDER BY id DESC LIMIT 1').get() as { options: string } | undefined;
  try {
    const nets = row ? (JSON.parse(row.options) as { subscriberNets?: unknown }).subscriberNets : undefined;
    return Array.isArray(nets) ? nets.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Close a run that will not finish on its own: `abandoned` (quit at once; the next scan removes what
 * it wrote) or `failed` (the report could not be written).
 */
export function markRun(db: Database.Database, run: number, status: 'abandoned' | 'failed'): void {
  // Only a run still running: one that closed (a second signal handled after its close commits,
  // a failure writing the output after it) is whole, and a later scan would remove it.
  db.prepare("UPDATE runs SET status = ?, finished = ? WHERE id = ? AND status = 'running'").run(status, Date.now(), run);
}

/**
 * Begin a read transaction on `db`: every query until the returned call ends it sees one state of
 * the report while other processes write to it (a listing that reads its rows twice, an
 * explanation that reads several tables). For output written with awaits between the reads, where
 * a synchronous `db.transaction` cannot hold.
 */
export function beginRead(db: Database.Database): () => void {
  db.exec('BEGIN');
  return () => {
    db.exec('COMMIT');
  };
}

/** True when the report holds a flow of `subscriber` (its id as stored). */
export function hasSubscriberFlows(db: Database.Database, subscriber: string): boolean {
  return db.prepare('SELECT 1 FROM flows WHERE subscriber = ? LIMIT 1').get(subscriber) !== undefined;
}

/** Which of these flow ids the report holds. */
export function heldFlowIds(db: Database.Database, ids: readonly number[]): Set<number> {
  return new Set(db.prepare('SELECT id FROM flows WHERE id IN (SELECT value FROM json_each(?))').pluck().all(JSON.stringify(ids)) as number[]);
}

/** The distinct values the report's subscribers hold of a watch-list filter's field (coins: each coin). */
export function subscriberValues(db: Database.Database, field: 'type' | 'region' | 'coin'): string[] {
  const sql =
    field === 'coin'
      ? 'SELECT DISTINCT c.value FROM subscribers s, json_each(s.coins) c'
      : field === 'type'
        ? 'SELECT DISTINCT type FROM subscribers WHERE type IS NOT NULL'
        : 'SELECT DISTINCT region FROM subscribers WHERE region IS NOT NULL';
  return (db.prepare(sql).pluck().all() as unknown[]).filter((x): x is string => typeof x === 'string');
}

/** Paths of the complete inputs read from Kafka (`kafka://` segment names). */
export function completeKafkaInputs(db: Database.Database): string[] {
  return db.prepare("SELECT path FROM inputs WHERE status = 'complete' AND path LIKE 'kafka://%'").pluck().all() as string[];
}

/** Every row of the subscriber rollup, as stored, in subscriber order. */
export function subscriberRows(db: Database.Database): Array<Record<string, unknown>> {
  return db.prepare('SELECT * FROM subscribers ORDER BY subscriber').all() as Array<Record<string, unknown>>;
}
