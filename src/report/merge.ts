/**
 * Merges reports (several days, collectors or operators) into one. Runs, inputs, anomalies, flows
 * and evidence are copied with new ids; an input already in the target (same sha256) is not copied
 * again, nor are its flows. Peer evidence and subscribers are then decided again over the merged
 * flows, so the merged figures equal those of one scan over all the inputs (for inputs whose flows
 * do not span two reports). Probe results are copied too, each probe once.
 *
 * Input states travel with the rows: only complete inputs count as already in the target, an input
 * the target holds only in part is replaced by a complete copy from a source, and the rows of a
 * source's scan run that never finished (killed, abandoned, failed) are not copied: its inputs arrive
 * as `removed`, so the merged report names them until they are scanned.
 */
import Database from 'better-sqlite3';
import { UsageError } from '../errors.js';
import { applyPeerEvidence, type Redecide } from './peers.js';
import { SCHEMA_VERSION } from './schema.js';
import { rebuildSubscribers } from './subscribers.js';
import { clearSettled } from './settle.js';
import { deleteInputs } from './runs.js';
import { parseSegmentPath } from './segments.js';

export interface MergeCounts {
  runs: number;
  inputs: number;
  skippedInputs: number;
  flows: number;
  evidence: number;
  /** Inputs the target held only in part, replaced by a complete copy. */
  replacedInputs: number;
  /** Source runs that never finished (their scan rows are not copied). */
  unfinishedRuns: number;
}

function columns(db: Database.Database, table: string): string[] {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
}

function openSource(source: string): { src: Database.Database; version: number } {
  let src: Database.Database;
  try {
    src = new Database(source, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new UsageError(`cannot open report ${source}: ${(e as Error).message}`);
  }
  const v = (() => {
    try {
      return Number((src.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)?.value);
    } catch {
      return NaN;
    }
  })();
  // Older reports (from version 3) merge too: rows are copied by column name, and what later
  // versions added is rebuilt (subscriber figures) or simply absent (probes).
  if (!(v >= 3 && v <= SCHEMA_VERSION)) {
    src.close();
    throw new UsageError(`${source} is not a minerwatch report of schema version 3 to ${SCHEMA_VERSION} (found ${Number.isNaN(v) ? 'none' : v})`);
  }
  return { src, version: v };
}

/**
 * Check that `source` opens read-only as a minerwatch report of a version that merges, without
 * touching any target (so a merge can refuse before it creates its output).
 * @throws UsageError naming the file and what was expected.
 */
export function checkMergeSource(source: string): void {
  openSource(source).src.close();
}

/**
 * Copy `source` into the open target report `target`. Run it inside a transaction of the target
 * to make several merges one (the transactions here then nest as savepoints).
 */
export function mergeReport(target: Database.Database, source: string, redecide: Redecide | null, decideAgain?: (db: Database.Database) => void): MergeCounts {
  const { src, version: v } = openSource(source);
  try {
    // Before any row comes in (under the source's settle, which a scan's may not be): the next scan settles the whole report.
    clearSettled(target);
    const counts: MergeCounts = { runs: 0, inputs: 0, skippedInputs: 0, flows: 0, evidence: 0, replacedInputs: 0, unfinishedRuns: 0 };
    const known = new Set((target.prepare("SELECT sha256 FROM inputs WHERE sha256 IS NOT NULL AND status = 'complete'").all() as Array<{ sha256: string }>).map((r) => r.sha256));
    // Rows the target holds only in part, that a complete copy replaces: same content, or (a killed
    // run's, whose hash was never taken) the same path.
    const sameStart = target.prepare("SELECT id, path FROM inputs WHERE status = 'complete' AND path LIKE ?");
    const partial = target.prepare("SELECT id FROM inputs WHERE status != 'complete' AND (sha256 = ? OR (status = 'removed' AND sha256 IS NULL AND path = ?))").pluck();
    const srcRunCols = columns(src, 'runs');
    const srcHasState = columns(src, 'inputs').includes('status');
    const copy = (table: string): { cols: string[]; insert: Database.Statement } => {
      const cols = columns(src, table).filter((c) => c !== 'id');
      return { cols, insert: target.prepare(`INSERT INTO ${table}(${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`) };
    };
    const runs = copy('runs');
    const inputs = copy('inputs');
    const anomalies = copy('anomalies');
    const samples = copy('anomaly_samples');
    const flows = copy('flows');
    const evidence = copy('evidence');
    target.transaction(() => {
      const runMap = new Map<number, number>();
      // A source's scan run that never finished: its rows are not copied (a scan of its inputs would
      // give them whole); a collect run's are (live traffic is not read again).
      const unfinished = new Set<number>();
      // A consumer's run that never finished: its complete segments are copied, a segment it was
      // still reading is not (its messages are read again from Kafka by the partition's next owner).
      const unfinishedConsume = new Set<number>();
      const runStatus = new Map<number, string>();
      for (const r of src.prepare('SELECT * FROM runs ORDER BY id').iterate() as IterableIterator<Record<string, unknown>>) {
        const row: Record<string, unknown> = { ...r };
        runStatus.set(r.id as number, r.status as string);
        if (r.status !== 'complete' && r.status !== 'interrupted' && r.status !== 'killed') {
          row.status = 'killed';
          if (!srcRunCols.includes('command') || r.command === 'scan') {
            unfinished.add(r.id as number);
            row.flows = row.packets = row.anomalies = 0;
          } else if (r.command === 'consume') unfinishedConsume.add(r.id as number);
          counts.unfinishedRuns++;
        }
        runMap.set(r.id as number, Number(runs.insert.run(...runs.cols.map((c) => row[c])).lastInsertRowid));
        counts.runs++;
      }
      const inputMap = new Map<number, number | null>();
      const replaced: number[] = [];
      // Source runs with inputs, and those of them any row was copied for: a run whose every input
      // the target already holds adds nothing, and is not copied as an empty run (merging the same
      // report again changes nothing).
      const runsWithInputs = new Set<number>();
      const usedRuns = new Set<number>();
      for (const r of src.prepare('SELECT * FROM inputs ORDER BY id').iterate() as IterableIterator<Record<string, unknown>>) {
        runsWithInputs.add(r.run_id as number);
        // Before version 6 an input's state follows its run's (as the in-place upgrade sets it).
        const rs = runStatus.get(r.run_id as number);
        const status = srcHasState ? (r.status as string) : r.error !== null ? 'failed' : rs === 'complete' ? 'complete' : rs === 'interrupted' ? 'interrupted' : 'reading';
        // Content the target already holds whole: a complete copy adds nothing, a partial one would double it.
        if (r.sha256 && known.has(r.sha256 as string)) {
          inputMap.set(r.id as number, null);
          counts.skippedInputs++;
          continue;
        }
        // Kafka segments of one partition that start at one offset hold the same messages up to the
        // shorter one's end (a consumer whose last commit failed, and the next owner reading on from
        // the same offset): the longer is kept.
        const seg = status === 'complete' ? parseSegmentPath(String(r.path)) : null;
        if (seg) {
          const same = sameStart.all(`kafka://${seg.topic}/${seg.partition}/${seg.first}-%`) as Array<{ id: number; path: string }>;
          const lasts = same
            .map((x) => ({ id: x.id, s: parseSegmentPath(x.path) }))
            .filter((x) => x.s !== null && x.s.topic === seg.topic && x.s.partition === seg.partition && x.s.first === seg.first)
            .map((x) => ({ id: x.id, last: x.s!.last }));
          if (lasts.some((x) => x.last >= seg.last)) {
            inputMap.set(r.id as number, null);
            counts.skippedInputs++;
            continue;
          }
          replaced.push(...lasts.map((x) => x.id));
        }
        const row: Record<string, unknown> = { ...r, run_id: runMap.get(r.run_id as number), status };
        const openSegment = unfinishedConsume.has(r.run_id as number) && status !== 'complete';
        if (openSegment) {
          row.status = 'removed';
          row.note = `segment of consumer run ${String(r.run_id)} of ${source}, which did not finish it; not merged: its messages are read again from Kafka`;
        }
        if (unfinished.has(r.run_id as number)) {
          Object.assign(row, { status: 'removed', packets: 0, wire_bytes: 0, transport_packets: 0, non_ip: 0, ip_other: 0, fragments: 0, malformed: 0, records: 0, export_packets: 0 });
          row.note = `run ${String(r.run_id)} of ${source} did not finish; nothing of it was merged: scan it again`;
        }
        if (row.status === 'complete' && r.sha256) {
          known.add(r.sha256 as string);
          replaced.push(...(partial.all(r.sha256, r.path) as number[]));
        }
        const cols = inputs.cols.includes('status') ? inputs.cols : [...inputs.cols, 'status'];
        const ins = cols === inputs.cols ? inputs.insert : target.prepare(`INSERT INTO inputs(${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
        inputMap.set(r.id as number, Number(ins.run(...cols.map((c) => row[c] ?? null)).lastInsertRowid));
        usedRuns.add(r.run_id as number);
        if (unfinished.has(r.run_id as number) || openSegment) inputMap.set(r.id as number, null);
        counts.inputs++;
      }
      deleteInputs(target, [...new Set(replaced)]);
      counts.replacedInputs = new Set(replaced).size;
      const keep = (inputId: unknown): boolean => inputId === null || inputMap.get(inputId as number) !== null;
      for (const table of [anomalies, samples] as const) {
        const name = table === anomalies ? 'anomalies' : 'anomaly_samples';
        for (const r of src.prepare(`SELECT * FROM ${name}`).iterate() as IterableIterator<Record<string, unknown>>) {
          if (!keep(r.input_id) || unfinished.has(r.run_id as number)) continue;
          const row: Record<string, unknown> = { ...r, run_id: runMap.get(r.run_id as number), input_id: r.input_id === null ? null : inputMap.get(r.input_id as number) };
          table.insert.run(...table.cols.map((c) => row[c]));
          usedRuns.add(r.run_id as number);
        }
      }
      const flowMap = new Map<number, number>();
      for (const r of src.prepare('SELECT * FROM flows ORDER BY id').iterate() as IterableIterator<Record<string, unknown>>) {
        if (!keep(r.input_id) || unfinished.has(r.run_id as number)) continue;
        const row: Record<string, unknown> = { ...r, run_id: runMap.get(r.run_id as number), input_id: r.input_id === null ? null : inputMap.get(r.input_id as number) };
        flowMap.set(r.id as number, Number(flows.insert.run(...flows.cols.map((c) => row[c])).lastInsertRowid));
        usedRuns.add(r.run_id as number);
        counts.flows++;
      }
      const dropRun = target.prepare('DELETE FROM runs WHERE id = ?');
      for (const run of runsWithInputs) {
        if (usedRuns.has(run) || !runMap.has(run)) continue;
        dropRun.run(runMap.get(run));
        counts.runs--;
      }
      for (const r of src.prepare('SELECT * FROM evidence').iterate() as IterableIterator<Record<string, unknown>>) {
        const to = flowMap.get(r.flow_id as number);
        if (to === undefined) continue;
        const row: Record<string, unknown> = { ...r, flow_id: to };
        evidence.insert.run(...evidence.cols.map((c) => row[c]));
        counts.evidence++;
      }
    })();
    const info = target.prepare('INSERT OR REPLACE INTO subscriber_info(subscriber, account, type, region, prefixes, source) VALUES (?, ?, ?, ?, ?, ?)');
    target.transaction(() => {
      for (const r of src.prepare('SELECT * FROM subscriber_info').iterate() as IterableIterator<Record<string, unknown>>) info.run(r.subscriber, r.account, r.type, r.region, r.prefixes, r.source);
    })();
    const alg = target.prepare('INSERT OR REPLACE INTO algorithms(id, unit, j_per_h_low, j_per_h_high, hardware, sources, rules) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const pow = target.prepare('INSERT OR REPLACE INTO power_readings(subscriber, period_start, period_end, kwh, source) VALUES (?, ?, ?, ?, ?)');
    target.transaction(() => {
      if (v >= 4) {
        for (const r of src.prepare('SELECT * FROM algorithms').iterate() as IterableIterator<Record<string, unknown>>) alg.run(r.id, r.unit, r.j_per_h_low, r.j_per_h_high, r.hardware, r.sources, r.rules);
        for (const r of src.prepare('SELECT * FROM power_readings').iterate() as IterableIterator<Record<string, unknown>>) pow.run(r.subscriber, r.period_start, r.period_end, r.kwh, r.source);
      }
    })();
    if (v >= 5) {
      // A probe is one request at one time: merging the same report twice copies it once.
      const probe = target.prepare(`INSERT INTO probes(time, server, server_port, protocol, status, matched, rule_id, rev, excerpt, error)
        SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM probes WHERE time = ? AND server = ? AND server_port = ? AND protocol = ?)`);
      target.transaction(() => {
        for (const r of src.prepare('SELECT * FROM probes ORDER BY id').iterate() as IterableIterator<Record<string, unknown>>)
          probe.run(r.time, r.server, r.server_port, r.protocol, r.status, r.matched, r.rule_id, r.rev, r.excerpt, r.error, r.time, r.server, r.server_port, r.protocol);
      })();
    }
    if (redecide) applyPeerEvidence(target, redecide);
    decideAgain?.(target);
    rebuildSubscribers(target);
    return counts;
  } finally {
    src.close();
  }
}
