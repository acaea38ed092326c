/** `minerwatch flows` and `minerwatch watchlist`: read a report, print rows. */
import type Database from 'better-sqlite3';
import { csvHeader, csvLine, inertJson, inertText, jsonLine, TableLayout } from '../report/format.js';
import ipaddr from '../ipaddr.js';
import { ADDRESS_FORMS } from '../ip.js';
import { readCidr, readTime } from '../io/csv.js';
import { InputError, UsageError } from '../errors.js';
import { checkZone, levelName, messages, resolveLang, translateEvidence, watchlistHeaders, WATCHLIST_KEYS, type Lang } from '../i18n.js';
import { pseudonymiser } from '../report/pseudonym.js';
import { beginRead, hasSubscriberFlows, heldFlowIds, iterateFlows, iterateWatchlist, subscriberValues, type WatchFilter } from '../report/queries.js';
import { incompleteInputs, type IncompleteInput } from '../report/runs.js';
import { openReport, reportReadError } from '../report/writer.js';
import type { Confidence } from '../types.js';
import type { Io } from './main.js';

// The id first: what `flows --id N` and `explain` take to show one flow again.
const FLOW_COLUMNS = ['id', 'client', 'clientPort', 'server', 'serverPort', 'transport', 'firstSeen', 'lastSeen', 'packets', 'bytes', 'label', 'confidence', 'rules', 'coin', 'agent'];
const FLOW_CSV_EXTRA = ['software', 'workers', 'pool', 'serverName', 'subscriber', 'outcome', 'reason'];
const WATCH_COLUMNS = [...WATCHLIST_KEYS];
const WATCH_TABLE = ['subscriber', 'addresses', 'type', 'region', 'confidence', 'firstSeen', 'lastSeen', 'miningFlows', 'servers', 'coins', 'agents', 'workers', 'hashrate', 'evidence'];

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
  /** Key for subscriber pseudonyms (HMAC-SHA256). */
  pseudonymise?: string;
  /** Zone times are written in (IANA name or offset); ISO 8601 UTC when not given. */
  tz?: string;
}

/**
 * A `--since`/`--until` value, read as the files' times are (src/io/csv.ts readTime): ISO 8601, UTC
 * unless it carries an offset, on a real calendar day. Date.parse read a date-time without an offset
 * in the machine's zone and rolled 2026-02-30 over to March 2.
 */
function time(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = readTime(v);
  if (!t.ok) throw new UsageError(`${flag} ${JSON.stringify(v)}: expected ${t.expected}, e.g. 2026-11-01 or 2026-11-01T08:00:00Z`);
  return t.value;
}

function cidr(v: string | undefined): WatchFilter['prefix'] {
  if (v === undefined) return undefined;
  const net = readCidr(v);
  if (net === null) throw new UsageError(`--prefix ${JSON.stringify(v)} is not a CIDR; expected e.g. 100.64.0.0/10 or 2001:db8::/32 (the address: ${ADDRESS_FORMS})`);
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

/**
 * Standard output as listings write it: gathered into chunks of about 64 KiB (few writes, never
 * more than one chunk held), waiting for a slow reader, and telling the listing when the reader has
 * gone (`minerwatch flows | head`), so it stops reading the report instead of running to its end.
 */
export class ListingOutput {
  private buf = '';
  private gone = false;
  private readonly onError = (): void => {
    this.gone = true;
  };

  constructor(private readonly out: (s: string) => void) {
    // main.ts turns EPIPE into silence; this listener only learns that nothing more can be written.
    process.stdout.on('error', this.onError);
  }

  /** True once standard output has failed (its reader closed the pipe): nothing more will arrive. */
  get closed(): boolean {
    return this.gone;
  }

  /** Add `s`; every 64 KiB, write the chunk and wait until standard output has room for more. */
  write(s: string): Promise<void> | void {
    this.buf += s;
    if (this.buf.length < 1 << 16) return;
    this.out(this.buf);
    this.buf = '';
    return this.room();
  }

  /** Write what is gathered and stop listening to standard output. */
  end(): void {
    if (this.buf && !this.gone) this.out(this.buf);
    this.buf = '';
    process.stdout.off('error', this.onError);
  }

  /**
   * Wait while a write to standard output has returned false (writes to a pipe queue in memory when
   * the reader is slower than the report is read), until it drains or fails. Otherwise yield one
   * turn of the event loop: a failed write is reported as an event, which a loop that never yields
   * would not see until its end.
   */
  private async room(): Promise<void> {
    const s = process.stdout;
    if (this.gone || s.destroyed) return;
    if (!s.writableNeedDrain) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        s.off('error', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
      s.on('error', done);
    });
  }
}

/**
 * A subscriber, address or flow asked for that the report does not hold (exit status 1): the
 * message names the report first, as an unreadable input's does, without a byte offset.
 */
export class NotInReport extends InputError {
  constructor(report: string, message: string) {
    super(report, 0, message);
    this.message = `${report}: ${message}`;
  }
}

type Rows = () => Iterable<Record<string, unknown>>;

/** Incomplete inputs named in the one-line warning; the rest are counted. */
export const WARNING_NAMES = 5;

/** An input's state in a word or two: what its own row says, or what its run's process says. */
function stateWord(i: IncompleteInput): string {
  if (i.runStatus === 'running') return 'being read';
  if (i.runStatus === 'killed' && (i.status === 'reading' || i.status === 'read')) return 'run killed';
  return i.status;
}

/**
 * The one-line stderr warning for a report holding incomplete inputs, or null when every input is
 * complete. It goes to stderr so standard output stays the list a script reads. Input paths are
 * file names, not subscriber data: they are shown with or without `--pseudonymise`.
 */
export function incompleteWarning(report: string, inputs: readonly IncompleteInput[], what: string): string | null {
  if (!inputs.length) return null;
  const named = inputs.slice(0, WARNING_NAMES).map((i) => `${i.path} (${stateWord(i)})`);
  if (inputs.length > named.length) named.push(`and ${inputs.length - named.length} more`);
  const n = inputs.length;
  return inertText(`minerwatch: warning: ${report} holds ${n} incomplete input${n === 1 ? '' : 's'}; the list may miss ${what}: ${named.join(', ')} (minerwatch summary names each)`) + '\n';
}

/**
 * Rows written as they are read. A table needs its column widths first: it reads the rows twice,
 * inside one read transaction so both passes see the same report while others write to it.
 */
async function writeRows(
  db: ReturnType<typeof openReport>,
  rows: Rows,
  format: string,
  o: { table: string[]; csv: string[]; headers?: Record<string, string>; bom?: boolean; report: string; missing: string; empty?: string },
  io: Io,
): Promise<void> {
  const w = new ListingOutput(io.out);
  const endRead = beginRead(db);
  try {
    // Read in the same transaction as the rows, so the warning speaks of the report they come from.
    const warning = incompleteWarning(o.report, incompleteInputs(db), o.missing);
    if (warning) io.err(warning);
    if (format === 'jsonl') {
      for (const r of rows()) {
        await w.write(jsonLine(r));
        if (w.closed) return;
      }
    } else if (format === 'json') {
      // The layout of JSON.stringify(rows, null, 2), one row at a time.
      let n = 0;
      for (const r of rows()) {
        await w.write(`${n++ ? ',\n' : '[\n'}${inertJson(r, 2).replace(/^/gm, '  ')}`);
        if (w.closed) return;
      }
      await w.write(n ? '\n]\n' : '[]\n');
    } else if (format === 'csv') {
      // Excel opens UTF-8 CSV correctly only with a byte-order mark.
      await w.write((o.bom ? '\uFEFF' : '') + csvHeader(o.csv, o.headers));
      for (const r of rows()) {
        await w.write(csvLine(o.csv, r as never));
        if (w.closed) return;
      }
    } else {
      const t = new TableLayout(o.table, {}, o.headers);
      let n = 0;
      for (const r of rows()) {
        t.measure(r as never);
        n++;
      }
      // A bare header would read as a broken listing; say what was looked for instead.
      if (n === 0 && o.empty !== undefined) {
        await w.write(o.empty + '\n');
        return;
      }
      await w.write(t.head());
      for (const r of rows()) {
        await w.write(t.line(r as never));
        if (w.closed) return;
      }
    }
  } finally {
    w.end();
    endRead();
  }
}

/** Options of `minerwatch flows`. */
export interface FlowsCliOptions {
  db: string;
  all?: boolean;
  minConfidence: Confidence;
  format: string;
  tz?: string;
  /** Only this subscriber's flows (its id as the report stores it). */
  subscriber?: string;
  /** Only these flows (`flows.id`), whatever their label and confidence. */
  id?: number[];
}

export async function runFlows(o: FlowsCliOptions, io: Io): Promise<void> {
  const tz = o.tz === undefined ? undefined : checkZone(o.tz);
  const ids = o.id !== undefined && o.id.length ? o.id : undefined;
  const db = openReport(o.db, { readonly: true });
  try {
    if (o.subscriber !== undefined && !hasSubscriberFlows(db, o.subscriber))
      throw new NotInReport(o.db, `no flow of subscriber ${JSON.stringify(inertText(o.subscriber))} in the report (minerwatch explain also finds a subscriber by client address or account)`);
    if (ids) {
      const held = heldFlowIds(db, ids);
      const missing = ids.filter((i) => !held.has(i));
      if (missing.length) throw new NotInReport(o.db, `no flow with id ${missing.join(', ')} in the report`);
    }
    const opts = { all: !!o.all, minConfidence: o.all && o.minConfidence === 'low' ? ('none' as const) : o.minConfidence, tz, subscriber: o.subscriber, ids };
    const empty = `no ${o.all ? '' : 'mining or suspect '}flow${o.minConfidence !== 'low' && !ids ? ` at confidence ≥ ${o.minConfidence}` : ''}${o.subscriber !== undefined ? ` of subscriber ${o.subscriber}` : ''} in ${o.db}`;
    await writeRows(db, () => iterateFlows(db, opts) as Iterable<never>, o.format, { table: FLOW_COLUMNS, csv: [...FLOW_COLUMNS, ...FLOW_CSV_EXTRA], report: o.db, missing: 'flows', empty: inertText(empty) }, io);
  } catch (e) {
    throw reportReadError(o.db, e);
  } finally {
    db.close();
  }
}

/**
 * `--type`, `--region` and `--coin` values no subscriber of the report has (compared as the filter
 * compares, ignoring case): one line each, with the values the report does hold, so an empty list
 * is not taken for "no miners of that kind".
 */
function unmatchedFilters(db: Database.Database, o: WatchCliOptions): string[] {
  const out: string[] = [];
  const check = (flag: string, value: string | undefined, field: 'type' | 'region' | 'coin'): void => {
    if (value === undefined) return;
    const held = subscriberValues(db, field);
    if (held.some((x) => x.toLowerCase() === value.toLowerCase())) return;
    out.push(`${flag} ${JSON.stringify(value)} matches no subscriber in ${o.db} (${held.length ? `it holds: ${held.sort().join(', ')}` : 'it holds none'})`);
  };
  check('--type', o.type, 'type');
  check('--region', o.region, 'region');
  check('--coin', o.coin, 'coin');
  return out;
}

/** Watch-list rows with their evidence translated for `lang` (as they are when `lang` is null). */
function* watchRows<R extends { evidence?: unknown }>(rows: Iterable<R>, lang: Lang | null): Iterable<R> {
  if (lang === null) return yield* rows;
  for (const r of rows) yield typeof r.evidence === 'string' ? { ...r, evidence: translateEvidence(r.evidence, lang) } : r;
}

export async function runWatchlist(o: WatchCliOptions, io: Io): Promise<void> {
  const filter: WatchFilter = { minConfidence: o.minConfidence, type: o.type, region: o.region, coin: o.coin, since: time('--since', o.since), until: time('--until', o.until), prefix: cidr(o.prefix) };
  const pseudonymise = pseudonymiser(o.pseudonymise);
  const tz = o.tz === undefined ? undefined : checkZone(o.tz);
  // Chinese headers for Chinese readers; in English the headers are the field names, the same as
  // the JSON keys, so scripts read both alike.
  const lang = resolveLang(o.lang);
  const headers = lang === 'en' ? undefined : (watchlistHeaders(lang) as Record<string, string>);
  // Evidence is stored in English; readers of a Chinese table or CSV get its recognised lines in
  // Chinese (values kept). JSON keeps the stored text, as scripts compare it.
  const translate: Lang | null = lang !== 'en' && (o.format === 'csv' || o.format === 'table') ? lang : null;
  const db = openReport(o.db, { readonly: true });
  try {
    for (const line of unmatchedFilters(db, o)) io.err(`minerwatch: ${line}\n`);
    const filters = [o.type && `--type ${o.type}`, o.region && `--region ${o.region}`, o.coin && `--coin ${o.coin}`, o.prefix && `--prefix ${o.prefix}`, o.since && `--since ${o.since}`, o.until && `--until ${o.until}`].filter(Boolean);
    const empty = messages(lang).watchlistEmpty(lang === 'en' ? o.minConfidence : levelName(o.minConfidence, lang), filters.join(' '), o.db);
    await writeRows(db, () => watchRows(iterateWatchlist(db, { ...filter, pseudonymise, tz }), translate) as Iterable<never>, o.format, { table: WATCH_TABLE, csv: WATCH_COLUMNS, headers, bom: o.bom, report: o.db, missing: 'subscribers', empty: inertText(empty) }, io);
  } catch (e) {
    throw reportReadError(o.db, e);
  } finally {
    db.close();
  }
}
