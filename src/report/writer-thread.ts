/**
 * The report writer's thread: inserts the flow batches a scan posts, and the rows it posts after
 * them (an input's end and anomalies), each message in one IMMEDIATE transaction that first checks
 * the run is still this process's and beats its heartbeat, and beats between messages too. Each
 * message is answered on the reply port, then counted in the shared `done` cell, which the scan's
 * thread waits on when it needs everything committed.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { lowerThreadPriority } from '../priority.js';
import { HEARTBEAT_MS } from './runs.js';
import { insertFlows, prepareFlowStatements, runRowWrites, type FlowStatements, type PackedFlows, type RowWrite } from './writer-batch.js';
import { EvidenceLedger, type LedgerHandOver, type LedgerSummary } from './ledger.js';

/** What the scan's thread hands the writer thread when it starts it. */
export interface WriterThreadData {
  path: string;
  runId: number;
  /** Int32Array over a SharedArrayBuffer: [0] = the sequence number of the last message handled. */
  done: SharedArrayBuffer;
  reply: MessagePort;
  /** How much the thread raises its nice value ({@link lowerThreadPriority}); 0 for none. */
  nice: number;
  /** A scan's: keep the ledger of the flows with evidence it inserts (src/report/ledger.ts) from this state, and answer the close with its summary. */
  ledger: LedgerHandOver | null;
}

/**
 * A message to the writer thread: a batch of flows; rows to write after the flows posted before them
 * (an input's end and its anomalies, in one transaction); or the close.
 */
export type WriterThreadMessage = { seq: number; batch: PackedFlows } | { seq: number; rows: readonly RowWrite[] } | { seq: number; close: true };

/** The writer thread's answer to one message; `error` when it failed. */
export interface WriterThreadReply {
  seq: number;
  error?: { name: string; message: string; code?: string };
  /** The close's answer, when the thread keeps a ledger. */
  ledger?: LedgerSummary;
}

function run(): void {
  const { path, runId, done, reply, nice, ledger } = workerData as WriterThreadData;
  lowerThreadPriority(nice);
  const doneCell = new Int32Array(done);
  const kept = ledger ? new EvidenceLedger(ledger.policy, ledger.state) : null;
  const answer = (seq: number, error?: unknown, summary?: LedgerSummary): void => {
    const r: WriterThreadReply = { seq };
    if (error !== undefined) {
      const err = error as { name?: unknown; message?: unknown; code?: unknown };
      r.error = { name: String(err.name ?? 'Error'), message: String(err.message ?? error), ...(typeof err.code === 'string' ? { code: err.code } : {}) };
    }
    if (summary) r.ledger = summary;
    reply.postMessage(r);
    Atomics.store(doneCell, 0, seq);
    Atomics.notify(doneCell, 0);
  };
  let db: Database.Database;
  let st: FlowStatements;
  let beat: Database.Statement;
  let runStatus: Database.Statement;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 120_000 });
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -65536');
    st = prepareFlowStatements(db);
    beat = db.prepare("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'");
    runStatus = db.prepare('SELECT status FROM runs WHERE id = ?').pluck();
  } catch (e) {
    // Each batch is answered with the error (the scan's thread throws it at its next call) and nothing is written.
    parentPort!.on('message', (m: WriterThreadMessage) => {
      if (!('close' in m)) return answer(m.seq, e);
      answer(m.seq);
      parentPort!.close();
    });
    return;
  }
  let batch: PackedFlows | null = null;
  let rows: readonly RowWrite[] | null = null;
  const statements = new Map<string, Database.Statement>();
  const write = db.transaction(() => {
    const status = runStatus.get(runId) as string | undefined;
    if (status !== 'running') {
      const e = new Error(
        `run ${runId} was taken for dead and removed by another minerwatch process while it ran (its status is now ${status ?? 'gone'}); nothing more of it is written: run the same command again`,
      );
      e.name = 'ReportError';
      throw e;
    }
    beat.run(Date.now(), runId);
    if (batch !== null) insertFlows(st, runId, batch);
    if (rows !== null) runRowWrites(db, statements, rows);
  });
  const heartbeat = setInterval(() => {
    try {
      beat.run(Date.now(), runId);
    } catch {
      // A busy or full report: the next batch says so.
    }
  }, HEARTBEAT_MS);
  let failed = false;
  parentPort!.on('message', (m: WriterThreadMessage) => {
    if ('close' in m) {
      clearInterval(heartbeat);
      try {
        db.close();
      } catch {
        // Closing a connection that failed says nothing new.
      }
      answer(m.seq, undefined, failed ? undefined : kept?.summary());
      parentPort!.close();
      return;
    }
    // After a failure nothing more is written: the scan's thread throws at its next call and stops.
    if (failed) return answer(m.seq, { name: 'Error', message: 'an earlier batch failed' });
    if ('batch' in m) batch = m.batch;
    else rows = m.rows;
    try {
      write.immediate();
      if ('batch' in m) kept?.add(m.batch);
      answer(m.seq);
    } catch (e) {
      failed = true;
      answer(m.seq, e);
    } finally {
      batch = null;
      rows = null;
    }
  });
}

run();
