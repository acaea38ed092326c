/**
 * Where probe targets come from: HOST:PORT text (command line or a targets file), or the servers a
 * report suspects but no flow's own messages proved.
 */
import type Database from 'better-sqlite3';
import { canonicalAddress } from '../ip.js';
import { UsageError } from '../errors.js';
import { targetText, type ProbeTarget } from './requests.js';

const EXAMPLE = 'e.g. 203.0.113.5:3333 or [2001:db8::5]:3333';

/**
 * Parse `IP:PORT` (IPv6 in brackets). Host names are refused: resolving them is the operator's
 * choice, and a pool list needs the address that answered.
 * @returns null when the text is not a target; the caller names where it came from.
 */
export function parseTarget(text: string): ProbeTarget | null {
  const s = text.trim();
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const host = m[1]!;
  const port = Number(m[2]);
  // In brackets only IPv6; bare only a dotted quad (the patterns above).
  const address = s.startsWith('[') === host.includes(':') ? canonicalAddress(host) : null;
  if (address === null || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: address, port };
}

/** Parse one `--target` value. @throws UsageError naming what was expected. */
export function targetArgument(text: string): ProbeTarget {
  const t = parseTarget(text);
  if (!t) throw new UsageError(`--target: expected an IP address and port, ${EXAMPLE}; got ${JSON.stringify(text)}`);
  return t;
}

/**
 * A targets file: one IP:PORT per line; `#` starts a comment; blank lines are skipped.
 * @throws UsageError listing every bad line as file:line.
 */
export function parseTargetsFile(text: string, file: string): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const hash = raw.indexOf('#');
    const s = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (!s) return;
    const t = parseTarget(s);
    if (t) out.push(t);
    else if (bad.length < 20) bad.push(`${file}:${i + 1}: expected an IP address and port, ${EXAMPLE}; got ${JSON.stringify(s.slice(0, 80))}`);
  });
  if (bad.length) throw new UsageError(`bad targets file:\n  ${bad.join('\n  ')}`);
  return out;
}

/** Targets in first-seen order, each once. */
export function uniqueTargets(targets: readonly ProbeTarget[]): ProbeTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const k = targetText(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A server the report suspects, with what the suspicion stands on. */
export interface SuspectServer extends ProbeTarget {
  flows: number;
  subscribers: number;
}

/**
 * Servers of TCP flows labelled `suspect` or `mining` that no flow's own protocol messages proved:
 * servers with a flow carrying payload or HTTP evidence are already proven and are left out. Ordered
 * by subscribers, then flows (most telling first), then address.
 */
export function suspectServers(db: Database.Database, opts: { minSubscribers: number; minFlows: number; limit: number }): SuspectServer[] {
  const rows = db
    .prepare(
      `WITH proven AS (SELECT DISTINCT p.server, p.server_port FROM evidence e JOIN flows p ON p.id = e.flow_id WHERE e.kind IN ('payload', 'http'))
       SELECT server, server_port, COUNT(*) AS flows, COUNT(DISTINCT COALESCE(subscriber, client)) AS subscribers
       FROM flows
       WHERE label IN ('suspect', 'mining') AND transport = 'tcp' AND (server, server_port) NOT IN (SELECT server, server_port FROM proven)
       GROUP BY server, server_port
       HAVING COUNT(*) >= ? AND COUNT(DISTINCT COALESCE(subscriber, client)) >= ?
       ORDER BY subscribers DESC, flows DESC, server, server_port
       LIMIT ?`,
    )
    .all(opts.minFlows, opts.minSubscribers, opts.limit) as Array<{ server: string; server_port: number; flows: number; subscribers: number }>;
  return rows.map((r) => ({ host: r.server, port: r.server_port, flows: r.flows, subscribers: r.subscribers }));
}
