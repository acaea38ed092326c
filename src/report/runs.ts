/**
 * The state of runs and inputs. Every input of a report is in one state:
 * - `reading`: its run is reading it (or was, when the run was killed);
 * - `read`: read to its end; some of its flows may still be open in the run's flow table;
 * - `complete`: every flow it holds is written (its run ended);
 * - `interrupted`: the run stopped while reading it, or it shares a flow with an input that was cut
 *   or failed (a conversation running on across rotated files), so its rows are not the whole of it;
 * - `failed`: it could not be read to its end (`error` says why);
 * - `removed`: its run was killed; what it wrote was removed, nothing of it is counted.
 *
 * Only `complete` inputs are "already in the report". A scan of an input whose earlier rows are
 * incomplete (same sha256 or the same path) replaces those rows when it ends, in the transaction
 * that closes the run; a run that dies before that leaves the earlier rows as they were, and what it
 * wrote is removed by the next scan, so any sequence of kills and reruns ends in the report of one
 * clean run.
 *
 * A scan run's owner is its process: pid, host and the process's start time (Linux
 * `/proc/PID/stat`, so a reused pid is not taken for the owner). A run marked `running` whose owner
 * is gone was killed (SIGKILL, power loss, out of memory).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import { rebuildSubscribers } from './subscribers.js';
import { clearSettled } from './settle.js';

type Db = Database.Database;

/** Input states that are not the whole of the input. */
export const INCOMPLETE_STATES = ['reading', 'read', 'interrupted', 'failed', 'removed'] as const;

export interface RunOwner {
  pid: number;
  host: string;
  /** The process's start time in clock ticks after boot (Linux), or null when it cannot be read. */
  procStart: string | null;
  /** The kernel's boot id (Linux): another boot means the owner is gone. */
  bootId: string | null;
  /** The owner's PID namespace (Linux): its pid means nothing from another namespace. */
  pidNs: string | null;
}

/** A run whose owner cannot be checked from here (another host, another PID namespace) is taken as killed once its heartbeat is this old. */
export const STALE_HEARTBEAT_MS = 5 * 60_000;
/** How often a running scan or collector writes its heartbeat (besides every batch it commits). */
export const HEARTBEAT_MS = 30_000;

/** Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces). */
function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || null;
  } catch {
    return null;
  }
}

function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

let self: RunOwner | null = null;

/** This process, as a run's owner (read from /proc once: it does not change while the process runs). */
export function currentOwner(): RunOwner {
  return (self ??= { pid: process.pid, host: hostname(), procStart: procStart(process.pid), bootId: bootId(), pidNs: pidNamespace() });
}

/** What a run row records of its owner. */
export interface OwnerRow {
  pid: number | null;
  host: string | null;
  proc_start: string | null;
  boot_id: string | null;
  pid_ns: string | null;
  heartbeat: number | null;
  started: number;
}

/**
 * Whether a run's owner process still runs: `alive`, `gone`, or `unknown`. The pid is checked only
 * where it means something: the same host, boot and PID namespace (then a reused pid is told by its
 * start time). From anywhere else (another host on a shared file system, a container with its own
 * namespace) the owner is `unknown` until its heartbeat is {@link STALE_HEARTBEAT_MS} old, then `gone`.
 */
export function ownerState(o: OwnerRow, now = Date.now()): 'alive' | 'gone' | 'unknown' {
  if (o.pid === null) return 'gone';
  const me = currentOwner();
  const stale = now - (o.heartbeat ?? o.started) > STALE_HEARTBEAT_MS;
  if (o.host !== null && o.host !== me.host) return stale ? 'gone' : 'unknown';
  if (o.boot_id !== null && me.bootId !== null && o.boot_id !== me.bootId) return 'gone';
  if (o.pid_ns !== null && me.pidNs !== null && o.pid_ns !== me.pidNs) return stale ? 'gone' : 'unknown';
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
  }
  if (o.proc_start !== null) {
    const now = procStart(o.pid);
    if (now !== null && now !== o.proc_start) return 'gone';
  }
  return 'alive';
}

interface RunRow extends OwnerRow {
  id: number;
  command: string;
  status: string;
}

const OWNER_COLS = 'pid, host, proc_start, boot_id, pid_ns, heartbeat, started';

/** A run that will never finish, and what was removed of what it had written. */
export interface DeadRun {
  run: number;
  /** The command that owned it (`scan`, `collect`, `consume`): what is removed, and what to do, depend on it. */
  command: string;
  status: string;
  why: string;
  /** The inputs whose flows were removed (a scan's: all of its inputs; a consumer's: the segments it was still reading; a collector's: none). */
  inputs: string[];
  flows: number;
}

/** Runs that ended without closing: killed (owner gone), or marked abandoned or failed by their owner. */
export function deadRuns(db: Db): Array<RunRow & { why: string }> {
  const rows = db.prepare(`SELECT id, command, status, ${OWNER_COLS} FROM runs WHERE status IN ('running', 'abandoned', 'failed') ORDER BY id`).all() as RunRow[];
  const out: Array<RunRow & { why: string }> = [];
  for (const r of rows) {
    if (r.status === 'abandoned') out.push({ ...r, why: 'stopped by a second signal' });
    else if (r.status === 'failed') out.push({ ...r, why: 'the report could not be written' });
    else if (ownerState(r) === 'gone')
      out.push({
        ...r,
        why:
          r.pid === null
            ? 'no owner process recorded'
            : r.host !== currentOwner().host
              ? `its process ${r.pid} on ${r.host} has not been heard of for over ${STALE_HEARTBEAT_MS / 60_000} minutes`
              : `its process ${r.pid} is gone (killed?)`,
      });
  }
  return out;
}

/** One line for a dead run that a scan, merge, rescore or consumer removed from `report`, saying what to do for its command. */
export function describeDeadRun(report: string, d: DeadRun): string {
  const inputs = d.inputs.length ? ` (${d.inputs.slice(0, 5).join(', ')}${d.inputs.length > 5 ? ', …' : ''})` : '';
  const head = `${d.command} run ${d.run} in ${report} did not finish (${d.why})`;
  if (d.command === 'consume') return `${head}: removed the ${d.flows} flow(s) of the ${d.inputs.length} segment(s) it was still reading${inputs}; its complete segments stay, and the next consumer of the group reads those messages again from Kafka`;
  if (d.command === 'collect') return `${head}: the flows it wrote up to its last commit are kept; flows still open then are lost (live traffic is not read again)`;
  return `${head}: ${d.flows ? `removed the ${d.flows} flow(s) it wrote from ` : ''}${d.inputs.length} input(s)${inputs}; scan them again`;
}

/** Delete the rows of these inputs: their flows and evidence, anomalies and the input rows. */
export function deleteInputs(db: Db, inputIds: readonly number[]): void {
  const ev = db.prepare('DELETE FROM evidence WHERE flow_id IN (SELECT id FROM flows WHERE input_id = ?)');
  const fl = db.prepare('DELETE FROM flows WHERE input_id = ?');
  const an = db.prepare('DELETE FROM anomalies WHERE input_id = ?');
  const sa = db.prepare('DELETE FROM anomaly_samples WHERE input_id = ?');
  const inp = db.prepare('DELETE FROM inputs WHERE id = ?');
  for (const id of inputIds) {
    ev.run(id);
    fl.run(id);
    an.run(id);
    sa.run(id);
    inp.run(id);
  }
}

/**
 * Remove what dead scan runs wrote, in one transaction: their flows, evidence and anomalies go, their
 * inputs stay as `removed` (so readers can name them until they are scanned again) and the run is
 * marked `killed`. A dead `collect` run keeps its rows (live traffic cannot be read again): it is
 * only marked `killed`. Subscribers are rebuilt when anything was removed.
 */
export function reapDeadRuns(db: Db): DeadRun[] {
  const dead = deadRuns(db);
  if (!dead.length) return [];
  const out: DeadRun[] = [];
  db.transaction(() => {
    for (const r of dead) {
      const inputs = db.prepare('SELECT id, path, status FROM inputs WHERE run_id = ? ORDER BY id').all(r.id) as Array<{ id: number; path: string; status: string }>;
      const flows = (db.prepare('SELECT count(*) AS n FROM flows WHERE input_id IN (SELECT id FROM inputs WHERE run_id = ?)').get(r.id) as { n: number }).n;
      if (r.command === 'consume') {
        // A consumer's complete segments stay (their offsets may be committed); a segment it was
        // still reading goes, flows and all: its messages are read again from Kafka.
        const open = inputs.filter((i) => i.status !== 'complete');
        const delEv = db.prepare('DELETE FROM evidence WHERE flow_id IN (SELECT id FROM flows WHERE input_id = ?)');
        const delFl = db.prepare('DELETE FROM flows WHERE input_id = ?');
        let removed = 0;
        for (const { id } of open) {
          delEv.run(id);
          removed += delFl.run(id).changes;
        }
        db.prepare("UPDATE inputs SET status = 'removed', note = ? WHERE run_id = ? AND status != 'complete'").run(
          `the consumer (run ${r.id}) did not stop cleanly (${r.why}): this segment's flows were removed; its messages are read again from Kafka`,
          r.id,
        );
        db.prepare("UPDATE runs SET status = 'killed', finished = coalesce(finished, ?), flows = (SELECT count(*) FROM flows f JOIN inputs i ON f.input_id = i.id WHERE i.run_id = ?) WHERE id = ?").run(Date.now(), r.id, r.id);
        out.push({ run: r.id, command: r.command, status: r.status, why: r.why, inputs: open.map((i) => i.path), flows: removed });
        continue;
      }
      if (r.command === 'scan') {
        // Through the run's inputs (flows are indexed by input); a scan writes no flow without one.
        db.prepare('DELETE FROM evidence WHERE flow_id IN (SELECT f.id FROM flows f JOIN inputs i ON f.input_id = i.id WHERE i.run_id = ?)').run(r.id);
        db.prepare('DELETE FROM flows WHERE input_id IN (SELECT id FROM inputs WHERE run_id = ?)').run(r.id);
        db.prepare('DELETE FROM anomalies WHERE run_id = ?').run(r.id);
        db.prepare('DELETE FROM anomaly_samples WHERE run_id = ?').run(r.id);
        db.prepare(
          `UPDATE inputs SET status = 'removed', packets = 0, wire_bytes = 0, transport_packets = 0, non_ip = 0, ip_other = 0, fragments = 0,
           malformed = 0, records = 0, export_packets = 0, note = ? WHERE run_id = ?`,
        ).run(`run ${r.id} did not finish (${r.why}); the ${flows} flow(s) it wrote were removed: scan it again`, r.id);
        db.prepare("UPDATE runs SET status = 'killed', finished = coalesce(finished, ?), flows = 0, packets = 0, anomalies = 0 WHERE id = ?").run(Date.now(), r.id);
      } else {
        db.prepare("UPDATE runs SET status = 'killed', finished = coalesce(finished, ?) WHERE id = ?").run(Date.now(), r.id);
        db.prepare("UPDATE inputs SET status = 'interrupted', note = ? WHERE run_id = ? AND status IN ('reading', 'read')").run(
          `the collector (run ${r.id}) did not stop cleanly (${r.why}): flows written up to its last commit are kept, flows still open then are lost`,
          r.id,
        );
      }
      out.push({ run: r.id, command: r.command, status: r.status, why: r.why, inputs: r.command === 'scan' ? inputs.map((i) => i.path) : [], flows: r.command === 'scan' ? flows : 0 });
    }
    if (out.some((d) => d.flows > 0)) rebuildSubscribers(db);
    // Flows gone, or a collector's kept as its last commit left them: the next scan settles the whole report.
    clearSettled(db);
  }).immediate();
  return out;
}

/** An input whose rows are not the whole of it, for readers to name. */
export interface IncompleteInput {
  run: number;
  input: number;
  path: string;
  status: string;
  /** `running` while its run's process is alive; `killed` when it is gone and the run not yet cleaned. */
  runStatus: string;
  /** The command that owns the run (`scan`, `collect`). */
  command: string;
  note: string | null;
  error: string | null;
}

/** Every input of the report that is not complete, oldest first (empty for a report of version < 6). */
export function incompleteInputs(db: Db): IncompleteInput[] {
  const cols = db.prepare("SELECT name FROM pragma_table_info('inputs')").pluck().all() as string[];
  if (!cols.includes('status')) return [];
  const rows = db
    .prepare(
      `SELECT i.id AS input, i.run_id AS run, i.path, i.status, i.note, i.error, r.status AS run_status, r.command, r.pid, r.host, r.proc_start, r.boot_id, r.pid_ns, r.heartbeat, r.started
       FROM inputs i JOIN runs r ON r.id = i.run_id WHERE i.status != 'complete' ORDER BY i.id`,
    )
    .all() as Array<OwnerRow & { input: number; run: number; path: string; status: string; note: string | null; error: string | null; run_status: string; command: string }>;
  return rows.map((r) => {
    let runStatus = r.run_status;
    if (runStatus === 'running' && ownerState(r) === 'gone') runStatus = 'killed';
    return { run: r.run, input: r.input, path: r.path, status: r.status, runStatus, command: r.command, note: r.note, error: r.error };
  });
}

/** One line per incomplete input, for stderr, the summary and the HTML report. */
export function describeIncomplete(i: IncompleteInput): string {
  if (i.runStatus === 'running') return `${i.path}: being read by run ${i.run}, which is still running${i.command === 'collect' ? ' (a collector)' : ''}`;
  if (i.runStatus === 'killed' && i.command === 'collect' && (i.status === 'reading' || i.status === 'read'))
    return `${i.path}: the collector (run ${i.run}) did not stop cleanly: flows written up to its last commit are counted, flows open then are lost`;
  if (i.runStatus === 'killed' && (i.status === 'reading' || i.status === 'read'))
    return `${i.path}: run ${i.run} was killed while it held this input; what it wrote is incomplete and the next scan into the report removes it: scan it again`;
  if (i.status === 'failed') {
    // The reader's error names the file first; it is not said twice.
    const why = i.error?.startsWith(`${i.path}: `) ? i.error.slice(i.path.length + 2) : i.error;
    return `${i.path}: failed${why ? ` (${why})` : ''}; scan it again once it can be read`;
  }
  if (i.status === 'removed') return `${i.path}: ${i.note ?? `run ${i.run} did not finish; nothing of it is counted`}`;
  if (i.status === 'interrupted') return `${i.path}: interrupted in run ${i.run}${i.note ? ` (${i.note})` : ''}; only part of it is counted: scan it again to replace it`;
  return `${i.path}: ${i.status} (run ${i.run}, ${i.runStatus})`;
}

/**
 * Inputs other runs are reading now (their owner alive, or not checkable from here and heard of
 * recently): a scan does not read the same file again beside them.
 */
export function inputsBeingRead(db: Db): Array<{ run: number; path: string; sha256: string | null; host: string | null; pid: number | null }> {
  const rows = db
    .prepare(`SELECT i.path, i.sha256, r.id AS run, r.${OWNER_COLS.split(', ').join(', r.')} FROM inputs i JOIN runs r ON r.id = i.run_id WHERE r.status = 'running' AND i.status IN ('reading', 'read')`)
    .all() as Array<OwnerRow & { path: string; sha256: string | null; run: number }>;
  return rows.filter((r) => ownerState(r) !== 'gone').map((r) => ({ run: r.run, path: r.path, sha256: r.sha256, host: r.host, pid: r.pid }));
}
