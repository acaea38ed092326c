/** `minerwatch flows` and `minerwatch watchlist`: read a report, print rows. */
import { toCsv, toJsonLines, toTable } from '../report/format.js';
import ipaddr from 'ipaddr.js';
import { UsageError } from '../errors.js';
import { resolveLang, watchlistHeaders, WATCHLIST_KEYS } from '../i18n.js';
import { queryFlows, queryWatchlist, type WatchFilter } from '../report/queries.js';
import { openReport } from '../report/writer.js';
import type { Confidence } from '../types.js';
import type { Io } from './main.js';

const FLOW_COLUMNS = ['client', 'clientPort', 'server', 'serverPort', 'transport', 'firstSeen', 'lastSeen', 'packets', 'bytes', 'label', 'confidence', 'rules', 'coin', 'agent'];
const FLOW_CSV_EXTRA = ['software', 'workers', 'pool', 'serverName', 'subscriber', 'outcome', 'reason'];
const WATCH_COLUMNS = [...WATCHLIST_KEYS];
const WATCH_TABLE = ['subscriber', 'type', 'region', 'confidence', 'firstSeen', 'lastSeen', 'miningFlows', 'servers', 'coins', 'agents', 'workers', 'hashrate', 'evidence'];

export interface WatchCliOptions {
  db: string;
  minConfidence: Confidence;
  format: string;
  type?: string;
  region?: string;
  coin?: string;
  since?: string;
  until?: string;
  prefix?: string;
  bom?: boolean;
  lang?: string;
}

function time(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(/^\d{4}-\d\d-\d\d$/.test(v) ? `${v}T00:00:00Z` : v);
  if (!Number.isFinite(t)) throw new UsageError(`${flag} ${JSON.stringify(v)}: expected a date or time, e.g. 2026-11-01 or 2026-11-01T08:00:00Z`);
  return t;
}

function cidr(v: string | undefined): WatchFilter['prefix'] {
  if (v === undefined) return undefined;
  let net: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    net = ipaddr.parseCIDR(v);
  } catch {
    throw new UsageError(`--prefix ${JSON.stringify(v)} is not a CIDR; expected e.g. 100.64.0.0/10`);
  }
  return {
    contains: (ip: string) => {
      try {
        const a = ipaddr.process(ip);
        return a.kind() === net[0].kind() && (a as ipaddr.IPv4).match(net[0] as ipaddr.IPv4, net[1]);
      } catch {
        return false;
      }
    },
  };
}

export function runFlows(o: { db: string; all?: boolean; minConfidence: Confidence; format: string }, io: Io): void {
  const db = openReport(o.db, { readonly: true });
  try {
    const rows = queryFlows(db, { all: !!o.all, minConfidence: o.all && o.minConfidence === 'low' ? 'none' : o.minConfidence });
    if (o.format === 'jsonl') io.out(toJsonLines(rows));
    else if (o.format === 'csv') io.out(toCsv([...FLOW_COLUMNS, ...FLOW_CSV_EXTRA], rows as never));
    else io.out(toTable(FLOW_COLUMNS, rows as never, 40));
  } finally {
    db.close();
  }
}

export function runWatchlist(o: WatchCliOptions, io: Io): void {
  const filter: WatchFilter = { minConfidence: o.minConfidence, type: o.type, region: o.region, coin: o.coin, since: time('--since', o.since), until: time('--until', o.until), prefix: cidr(o.prefix) };
  // Chinese headers for Chinese readers; in English the headers are the field names, the same as
  // the JSON keys, so scripts read both alike.
  const lang = resolveLang(o.lang);
  const headers = lang === 'en' ? undefined : (watchlistHeaders(lang) as Record<string, string>);
  const db = openReport(o.db, { readonly: true });
  try {
    const rows = queryWatchlist(db, filter);
    if (o.format === 'json') io.out(JSON.stringify(rows, null, 2) + '\n');
    else if (o.format === 'jsonl') io.out(toJsonLines(rows));
    // Excel opens UTF-8 CSV correctly only with a byte-order mark.
    else if (o.format === 'csv') io.out((o.bom ? '\uFEFF' : '') + toCsv(WATCH_COLUMNS, rows as never, headers));
    else io.out(toTable(WATCH_TABLE, rows as never, 40, headers));
  } finally {
    db.close();
  }
}
