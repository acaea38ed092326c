/**
 * Which subscribers a scan's close settles. Settling (peer evidence, then evidence added up over a
 * subscriber's flows, then the subscriber rows) reads only one subscriber's flows at a time, so a
 * subscriber none of whose flows changed, settled before with the same rules and intelligence and
 * left where a further settle changes nothing, is settled again for nothing. The whole-report pass
 * costs what the report holds (about 14 µs per flow with evidence), at every scan; scoped to the
 * run's subscribers it costs what the run brought.
 *
 * The report remembers when that holds for every subscriber it has, in `meta` (key `settled`): the
 * settle context it holds under (the tool version, the ruleset digest and the intelligence's
 * content), the run that wrote it and when. A scan's close settles only its own subscribers when the
 * marker names the same context, no other run has ended since it was written, no other run is
 * running (its rows, and a directory or power readings it wrote, would otherwise be settled at this
 * close by the whole-report pass and not by this one), and the close replaces no earlier rows;
 * otherwise the whole report, as before. The marker
 * is written after a settle that left no new proof behind (a flow raised to a medium or high mining
 * verdict that holds proof evidence can prove peers on the next pass: that settle was not the last
 * word), and removed by everything else that changes flows without settling every subscriber they
 * touched under the scan's context: a live collector's or consumer's run, `merge`, `rescore`, and
 * the removal of a dead run's rows.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { IntelSource } from '../rules/intel.js';
import type { Confidence, Evidence, Label } from '../types.js';

const KEY = 'settled';

/**
 * Most subscribers a close settles one by one (each read by the subscriber index); with more, the
 * whole-report pass (the subscriber list is held as one JSON text of about 50 bytes each).
 */
export const MAX_SCOPED_SUBSCRIBERS = 1 << 17;
/**
 * A subscriber read by its index costs about as much as this many flows of the whole-report pass:
 * when the run's subscribers times this reach the report's flows with evidence, the whole pass is
 * the cheaper one.
 */
export const SUBSCRIBER_COST_IN_FLOWS = 4;

/** Evidence kinds that make a medium or high mining flow the proof of peer evidence (src/report/peers.ts). */
export const PROOF_KINDS: ReadonlySet<Evidence['kind']> = new Set<Evidence['kind']>(['payload', 'http', 'sni', 'host', 'dns', 'dns-log']);

/** Whether a flow with these evidence kinds and this verdict proves its (subscriber, server) pair. */
export function isProof(label: Label | string, confidence: Confidence | string, kinds: ReadonlyArray<Pick<Evidence, 'kind'>>): boolean {
  return label === 'mining' && (confidence === 'medium' || confidence === 'high') && kinds.some((e) => PROOF_KINDS.has(e.kind));
}

/**
 * What a settle depends on besides the flows (the policy and the endpoint lists are in the ruleset
 * digest): null when some of it has no content digest, and for endpoints learned from a report,
 * whose file digest does not cover what its write-ahead log holds (then every close settles the
 * whole report).
 */
export function settleContext(toolVersion: string, rulesetDigest: string, intel: ReadonlyArray<Pick<IntelSource, 'kind' | 'entries' | 'sha256'>>): string | null {
  if (intel.some((x) => x.sha256 === undefined || x.kind === 'report')) return null;
  return createHash('sha256')
    .update(JSON.stringify([toolVersion, rulesetDigest, intel.map((x) => [x.kind, x.entries, x.sha256])]))
    .digest('hex');
}

interface Marker {
  context: string;
  /** The run whose close wrote it, and when (ms). */
  by: number;
  at: number;
}

function readMarker(db: Database.Database): Marker | null {
  const v = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(KEY) as string | undefined;
  if (v === undefined) return null;
  try {
    const m = JSON.parse(v) as Partial<Marker>;
    return typeof m.context === 'string' && typeof m.by === 'number' && typeof m.at === 'number' ? { context: m.context, by: m.by, at: m.at } : null;
  } catch {
    return null;
  }
}

/** Forget that the report is settled (a change that did not settle every subscriber it touched under a scan's context). */
export function clearSettled(db: Database.Database): void {
  db.prepare('DELETE FROM meta WHERE key = ?').run(KEY);
}

/** A collector or consumer is writing: its rollups settle under its own context. */
function liveRunRunning(db: Database.Database, runId: number): boolean {
  return db.prepare("SELECT 1 FROM runs WHERE id != ? AND status = 'running' AND command != 'scan' LIMIT 1").get(runId) !== undefined;
}

/**
 * The subscribers run `runId`'s close settles, or null for the whole report. Read in the close's
 * transaction before any of the run's rows are rolled back (their subscribers are settled too).
 */
export function closeScope(db: Database.Database, runId: number, context: string | null): string[] | null {
  if (context === null) return null;
  const m = readMarker(db);
  if (m === null || m.context !== context) return null;
  // A run the marker does not cover (one that ended since it was written, by a tool that keeps no
  // marker), or any other run still running.
  const uncovered = db.prepare("SELECT 1 FROM runs WHERE id != ? AND (status = 'running' OR (id != ? AND finished >= ?)) LIMIT 1").get(runId, m.by, m.at);
  if (uncovered !== undefined) return null;
  const subs = db
    .prepare('SELECT DISTINCT subscriber FROM flows WHERE input_id IN (SELECT id FROM inputs WHERE run_id = ?) AND subscriber IS NOT NULL LIMIT ?')
    .pluck()
    .all(runId, MAX_SCOPED_SUBSCRIBERS + 1) as string[];
  if (subs.length > MAX_SCOPED_SUBSCRIBERS) return null;
  // Counted through the partial index flows_evidence (its entries only).
  const withEvidence = db.prepare("SELECT count(*) FROM flows WHERE rules != ''").pluck().get() as number;
  return subs.length * SUBSCRIBER_COST_IN_FLOWS < withEvidence ? subs : null;
}

/**
 * After run `runId`'s settle: mark the report settled under `context` when that settle left no new
 * proof and no collector or consumer is writing; otherwise forget it.
 */
export function markSettled(db: Database.Database, runId: number, context: string | null, newProofs: number): void {
  if (context === null || newProofs > 0 || liveRunRunning(db, runId)) {
    clearSettled(db);
    return;
  }
  db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run(KEY, JSON.stringify({ context, by: runId, at: Date.now() } satisfies Marker));
}
