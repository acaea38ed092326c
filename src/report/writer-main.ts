/**
 * The scan's side of the report writer thread: posts packed flow batches (copied: see
 * PackedFlows) and an input's rows after them, keeps at most sixteen batches in flight, and waits
 * synchronously (Atomics.wait on a shared cell, replies read with receiveMessageOnPort) when the
 * caller needs them committed, so the writer's calls stay synchronous. A caller that must not
 * block (the scan's thread, which has to hear SIGINT) paces itself on {@link WriterThread.room},
 * which says when three are in flight and waits without blocking. A batch's failure is thrown on
 * this thread as the error it was: a ReportError, or SQLite's error with its code.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ReportError } from '../errors.js';
import type { PackedFlows, RowWrite } from './writer-batch.js';
import type { WriterThreadData, WriterThreadMessage, WriterThreadReply } from './writer-thread.js';
import type { LedgerSummary } from './ledger.js';

/** Atomics.waitAsync (ES2024, in Node since 16), typed here: the project's lib is ES2022. */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> } }).waitAsync.bind(Atomics);

/**
 * Batches posted and not yet committed beyond which {@link WriterThread.room} says to wait: a reader
 * that paces itself between chunks on it keeps the writer this far behind at most.
 */
const MAX_IN_FLIGHT = 3;
/**
 * Batches posted and not yet committed beyond which {@link WriterThread.post} itself waits (blocking):
 * what one 4 MiB chunk of input finishes (at most a flow a packet, a dozen batches) stays below it,
 * so a reader that paces itself never blocks inside a chunk, while the flows still open at the end,
 * and callers that do not pace, go to the thread this many at a time. Bounds memory (a batch of
 * 5,000 flows is about 1.5 MB).
 */
const MAX_QUEUED = 16;
/** Longest wait for the writer thread without a reply; SQLite's own busy timeout (2 minutes) ends a locked batch well before. */
const MAX_WAIT_MS = 10 * 60_000;

export class WriterThread {
  private readonly worker: Worker;
  private readonly replies: MessagePort;
  private readonly done: Int32Array;
  private sent = 0;
  private error: Error | null = null;
  private closed = false;
  /** Once closed, what the thread's ledger says (when it kept one). */
  ledger: LedgerSummary | null = null;

  constructor(path: string, runId: number, script: URL, nice: number, ledger: WriterThreadData['ledger']) {
    const shared = new SharedArrayBuffer(4);
    this.done = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.replies = port1;
    const data: WriterThreadData = { path, runId, done: shared, reply: port2, nice, ledger };
    this.worker = new Worker(script, { workerData: data, transferList: [port2] });
    // Every batch is waited for before the run closes; a process that ends without closing the run
    // (an error) does not wait for the thread either.
    this.worker.unref();
    // A thread that dies (out of memory, a crash in the driver) ends the wait with what it said.
    this.worker.on('error', (e) => {
      this.error ??= e;
      this.wake();
    });
    this.worker.on('exit', () => {
      if (!this.closed) this.error ??= new Error('the report writer thread stopped');
      this.wake();
    });
  }

  /** Hand a batch to the thread (a copy of it: see {@link PackedFlows}); throws an earlier batch's failure. */
  post(b: PackedFlows): void {
    this.check();
    this.message({ seq: ++this.sent, batch: b });
    this.waitFor(this.sent - MAX_QUEUED);
  }

  /**
   * Hand rows to write after every batch posted so far, in one transaction of their own (an input's
   * end and its anomalies). It never waits: they are few, one message per input.
   */
  write(rows: readonly RowWrite[]): void {
    this.check();
    this.message({ seq: ++this.sent, rows });
  }

  /**
   * Null when fewer than {@link MAX_IN_FLIGHT} messages (batches, an input's rows) wait to be
   * committed, so a reader that paces itself on it may read on; otherwise a promise settled once
   * that is so (or once the thread failed: the next post then throws). It waits without blocking
   * this thread.
   */
  room(): Promise<void> | null {
    return this.until(this.sent - MAX_IN_FLIGHT + 1);
  }

  /** Every message posted is committed (or failed): the thread has nothing to do. */
  get idle(): boolean {
    return Atomics.load(this.done, 0) >= this.sent;
  }

  /** Null when every message posted is committed (or the thread failed); otherwise a promise of it, waited for without blocking this thread. */
  settled(): Promise<void> | null {
    return this.until(this.sent);
  }

  /** Wait until every batch posted is committed; throws the first failure. */
  drain(): void {
    this.waitFor(this.sent);
  }

  /** Commit what is posted, close the thread's connection and let it end. */
  close(): void {
    this.drain();
    this.message({ seq: ++this.sent, close: true });
    this.waitFor(this.sent);
    this.closed = true;
  }

  /** End the thread without waiting (the run is abandoned; an unfinished batch is rolled back). */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    void this.worker.terminate();
    this.worker.unref();
  }

  private message(m: WriterThreadMessage): void {
    if (this.closed) throw new ReportError('the report writer was closed');
    this.worker.postMessage(m);
  }

  private wake(): void {
    Atomics.store(this.done, 0, -1);
    Atomics.notify(this.done, 0);
  }

  /** Null when `seq` batches are done (or the thread failed); otherwise a promise of it, rejected after {@link MAX_WAIT_MS} without a reply. */
  private until(seq: number): Promise<void> | null {
    const reached = (at: number): boolean => at >= seq || at < 0;
    if (reached(Atomics.load(this.done, 0))) return null;
    return (async () => {
      const started = Date.now();
      // Atomics.waitAsync holds no handle of the event loop: the timer keeps the process up meanwhile.
      const alive = setInterval(() => undefined, 60_000);
      try {
        for (let at = Atomics.load(this.done, 0); !reached(at); at = Atomics.load(this.done, 0)) {
          if (Date.now() - started > MAX_WAIT_MS) throw new ReportError(`the report writer thread did not answer for ${MAX_WAIT_MS / 60_000} minutes`);
          const w = waitAsync(this.done, 0, at, 1000);
          if (w.async) await w.value;
        }
      } finally {
        clearInterval(alive);
      }
    })();
  }

  private waitFor(seq: number): void {
    const started = Date.now();
    for (;;) {
      this.check();
      const at = Atomics.load(this.done, 0);
      if (at >= seq || at < 0) break;
      if (Date.now() - started > MAX_WAIT_MS) throw new ReportError(`the report writer thread did not answer for ${MAX_WAIT_MS / 60_000} minutes`);
      Atomics.wait(this.done, 0, at, 1000);
    }
    this.check();
  }

  /** Read the replies that came in; throw the first failure (again on every later call). */
  private check(): void {
    for (let m = receiveMessageOnPort(this.replies); m !== undefined; m = receiveMessageOnPort(this.replies)) {
      const r = m.message as WriterThreadReply;
      if (r.error && !this.error) this.error = replyError(r.error);
      if (r.ledger) this.ledger = r.ledger;
    }
    if (this.error) throw this.error;
  }
}

function replyError(e: NonNullable<WriterThreadReply['error']>): Error {
  if (e.name === 'ReportError') return new ReportError(e.message);
  if (e.code !== undefined) return new Database.SqliteError(e.message, e.code);
  return new Error(e.message);
}

/**
 * A writer thread for `db`'s run `runId`, or null when flows are better written on this thread: an
 * in-memory or read-only database, `MINERWATCH_WRITER_THREAD=0`, or no compiled thread script
 * beside this module (running from the TypeScript sources). The thread raises its nice value by
 * `nice` (src/priority.ts): a file scan's writer works behind the reading thread. With `ledger` it
 * keeps the ledger of the flows with evidence it inserts (src/report/ledger.ts), from that state,
 * and says what it found at the close.
 */
export function startWriterThread(db: Database.Database, runId: number, nice = 0, ledger: WriterThreadData['ledger'] = null): WriterThread | null {
  if (process.env.MINERWATCH_WRITER_THREAD === '0' || db.memory || db.readonly) return null;
  const script = new URL('./writer-thread.js', import.meta.url);
  if (script.protocol !== 'file:' || !existsSync(fileURLToPath(script))) return null;
  return new WriterThread(db.name, runId, script, nice, ledger);
}
