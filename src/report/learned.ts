/**
 * Pool endpoints a report proved: the server address and port of every mining flow whose own
 * evidence includes protocol bytes (payload or HTTP rule evidence: the server spoke, or was spoken
 * to in, a mining protocol), grouped by server and port. The report is opened read-only and never
 * written; peer, name and port evidence do not count, so the list never feeds on itself.
 */
import { isDateMs } from '../time.js';
import { canonicalAddress } from '../ip.js';
import Database from 'better-sqlite3';
import { InputError } from '../errors.js';
import { SCHEMA_VERSION } from './schema.js';

/** One server address and port proven to speak a mining protocol. */
export interface LearnedEndpoint {
  /** Address text as every path writes it (src/ip.ts canonicalAddress), IPv4 or IPv6. */
  address: string;
  port: number;
  /** ms since the epoch, UTC: first packet of the earliest proving flow. */
  firstSeen: number;
  /** Ids (flows.id) of the earliest proving flows, earliest first, at most {@link MAX_LISTED_FLOWS}. */
  flowIds: number[];
  /** Proving flows in all. */
  flows: number;
  /** Distinct pool names and coin tickers the flows carry (bounded, in order of first sight). */
  pools: string[];
  coins: string[];
}

/** Flow ids named per endpoint: enough to lead back to the evidence, bounded so the source stays short. */
export const MAX_LISTED_FLOWS = 10;
/** Endpoints read from one report before it is refused as not a report this tool wrote. */
const MAX_ENDPOINTS = 1_000_000;
const MAX_NAMES = 8;
const MAX_NAME_CHARS = 100;

/** Oldest report schema version whose flows and evidence columns this query reads (they are unchanged since). */
const OLDEST_READABLE = 3;

/**
 * Learned endpoints of the report at `path`, in order of first proof; endpoints whose
 * address `skip` answers true for are left out and counted.
 * @throws InputError when the file is not a minerwatch report or cannot be read.
 */
export function readLearnedEndpoints(path: string, skip: (address: string) => boolean): { endpoints: LearnedEndpoint[]; skipped: number } {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new InputError(path, 0, `cannot open report: ${(e as Error).message}`);
  }
  try {
    let version: number;
    try {
      const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
      version = Number(row?.value);
    } catch {
      version = NaN;
    }
    if (!(Number.isInteger(version) && version >= OLDEST_READABLE && version <= SCHEMA_VERSION))
      throw new InputError(
        path,
        0,
        Number.isNaN(version)
          ? 'a SQLite database but not a minerwatch report (no meta table with a schema_version); expected a report written by minerwatch scan, collect or merge'
          : `minerwatch report schema version ${version}; this minerwatch learns intel from versions ${OLDEST_READABLE} to ${SCHEMA_VERSION}`,
      );
    const rows = db
      .prepare(
        `SELECT f.id, f.server, f.server_port, f.first_seen, f.pool, f.coin FROM flows f
         WHERE f.label = 'mining' AND EXISTS (SELECT 1 FROM evidence e WHERE e.flow_id = f.id AND e.kind IN ('payload', 'http'))
         ORDER BY f.first_seen, f.id`,
      )
      .raw()
      .iterate() as IterableIterator<[unknown, unknown, unknown, unknown, unknown, unknown]>;
    const byEndpoint = new Map<string, LearnedEndpoint>();
    const skippedKeys = new Set<string>();
    for (const [id, server, port, firstSeen, pool, coin] of rows) {
      const address = normalise(server);
      if (address === null || typeof id !== 'number' || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535 || typeof firstSeen !== 'number' || !isDateMs(firstSeen)) {
        skippedKeys.add(`bad row ${String(id)}`);
        continue;
      }
      const key = `${address}|${port as number}`;
      if (skippedKeys.has(key)) continue;
      let ep = byEndpoint.get(key);
      if (!ep) {
        if (skip(address)) {
          skippedKeys.add(key);
          continue;
        }
        if (byEndpoint.size >= MAX_ENDPOINTS) throw new InputError(path, 0, `more than ${MAX_ENDPOINTS} proven pool endpoints: not read as intel`);
        ep = { address, port: port as number, firstSeen, flowIds: [], flows: 0, pools: [], coins: [] };
        byEndpoint.set(key, ep);
      }
      ep.flows++;
      if (ep.flowIds.length < MAX_LISTED_FLOWS) ep.flowIds.push(id);
      if (typeof pool === 'string' && pool && ep.pools.length < MAX_NAMES && !ep.pools.includes(pool.slice(0, MAX_NAME_CHARS))) ep.pools.push(pool.slice(0, MAX_NAME_CHARS));
      if (typeof coin === 'string' && coin && ep.coins.length < MAX_NAMES && !ep.coins.includes(coin.slice(0, MAX_NAME_CHARS))) ep.coins.push(coin.slice(0, MAX_NAME_CHARS));
    }
    return { endpoints: [...byEndpoint.values()], skipped: skippedKeys.size };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(path, 0, `cannot read report: ${(e as Error).message}`);
  } finally {
    db.close();
  }
}

function normalise(x: unknown): string | null {
  return typeof x === 'string' ? canonicalAddress(x) : null;
}
