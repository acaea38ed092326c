/** Probe results into the report's `probes` table (schema 5). */
import type Database from 'better-sqlite3';
import type { ProbeResult } from './probe.js';

/** Insert every result in one transaction; returns the rows written. */
export function writeProbes(db: Database.Database, results: readonly ProbeResult[]): number {
  const insert = db.prepare(
    'INSERT INTO probes(time, server, server_port, protocol, status, matched, rule_id, rev, excerpt, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (const r of results) insert.run(r.time, r.target.host, r.target.port, r.protocol, r.status, r.matched, r.ruleId, r.rev, r.excerpt, r.error);
  })();
  return results.length;
}
