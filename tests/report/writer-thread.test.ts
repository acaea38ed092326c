/**
 * The report writer's thread: a scan whose flow rows are inserted by the writer thread writes the
 * same report as one that inserts them on its own thread (MINERWATCH_WRITER_THREAD=0), every packet
 * the generator wrote is counted in the flow rows, and a batch that fails on the thread fails the
 * writer's call with the error it was (a ReportError for a run taken for dead, SQLite's error and
 * code otherwise). Real CLI in child processes and the built writer, on a generated capture.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBenchCapture, type GenStats } from '../../bench/gen-capture.js';
import { holdWriteLock, reportCount, ROOT, waitFor, withWriteLock } from '../helpers.js';
import { reportSnapshot } from '../support/report-snapshot.js';
import type { FlowRecord, Verdict } from '../../src/types.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const DIST_WRITER = join(ROOT, 'dist', 'src', 'report', 'writer.js');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'report', 'writer-thread.js')) && existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js')) && existsSync(join(ROOT, 'dist', 'cli', 'writer-thread.js'));
if (!BUILT) console.warn('skipping the writer-thread tests: dist/ is not built (npm run build)');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-writer-thread-'));
const capture = join(tmp, 'subscriber.pcap');
let gen: GenStats;

beforeAll(() => {
  // A subscriber link's mix: many short flows, so the run writes several batches.
  gen = generateBenchCapture(capture, 6_000_000, 20261205, 'subscriber');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The demo capture has miners (evidence rows); the generated one has many short flows (several batches). */
const DEMO = join(ROOT, 'fixtures', 'demo', 'home-miners.pcapng');

function scan(db: string, thread: '0' | '1'): { flows: number } {
  const r = spawnSync(process.execPath, [BIN, 'scan', capture, DEMO, '--db', db, '--json'], { encoding: 'utf8', env: { ...process.env, MINERWATCH_WRITER_THREAD: thread } });
  expect(r.stderr).not.toMatch(/Error|at .*\.js/);
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { flows: number };
}

/** A report's flows, evidence and subscriber rows (without row ids, sorted) and the packets its flow rows count. */
function rows(path: string): { flows: string[]; evidence: string[]; subscribers: string[]; packets: number } {
  const { flows, evidence, subscribers } = reportSnapshot(path) as { flows: string[]; evidence: string[]; subscribers: string[] };
  return { flows, evidence, subscribers, packets: reportCount(path, 'SELECT sum(packets_c2s + packets_s2c) FROM flows') };
}

describe.skipIf(!BUILT)('report writer thread', () => {
  it('writes the same report as writing on the scan thread, with every generated packet in a flow row', () => {
    const a = join(tmp, 'thread.sqlite');
    const b = join(tmp, 'inline.sqlite');
    const ja = scan(a, '1');
    const jb = scan(b, '0');
    const ra = rows(a);
    const rb = rows(b);
    expect(ja.flows).toBeGreaterThan(5000);
    expect(ra.flows.length).toBe(ja.flows);
    const demoPackets = new Database(a, { readonly: true }).prepare("SELECT transport_packets FROM inputs WHERE path LIKE '%home-miners%'").pluck().get() as number;
    expect(ra.packets).toBe(gen.packets + demoPackets);
    expect(ra.evidence.length).toBeGreaterThan(0);
    expect(jb.flows).toBe(ja.flows);
    expect(ra.flows).toEqual(rb.flows);
    expect(ra.evidence).toEqual(rb.evidence);
    expect(ra.subscribers).toEqual(rb.subscribers);
  }, 240_000);

  /** A writer from the built code on a new report, with `n` plain flows queued. */
  async function writerWith(path: string, n: number) {
    const { openReport, ReportWriter } = (await import(DIST_WRITER)) as typeof import('../../src/report/writer.js');
    const db = openReport(path);
    const w = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'test', rules: '', options: {} });
    writerAdd(w, n, w.addInput('/generated'));
    return { w, db };
  }

  /**
   * A writer on a new report whose first full batch has started its thread and been committed, and
   * `count(sql)`: a number read beside it from another connection (closed with `close()`).
   */
  async function threadStarted(path: string) {
    const { w, db } = await writerWith(path, 5000);
    const reader = new Database(path, { readonly: true, timeout: 10_000 });
    const count = (sql: string): number => reader.prepare(sql).pluck().get() as number;
    await waitFor(() => count('SELECT count(*) FROM flows') === 5000, { what: 'the first batch to be committed', timeoutMs: 60_000 });
    const close = (): void => {
      reader.close();
      w.abandon();
      db.close();
    };
    return { w, db, reader, count, close };
  }

  /** A writer thread from the built code on a new report's run, and `packed(n)`: a batch of `n` plain flows, packed as a writer packs them. */
  async function threadWith(path: string) {
    const { w, db } = await writerWith(path, 0);
    const { startWriterThread } = (await import(join(ROOT, 'dist', 'src', 'report', 'writer-main.js'))) as typeof import('../../src/report/writer-main.js');
    const { FlowBatch } = (await import(join(ROOT, 'dist', 'src', 'report', 'writer-batch.js'))) as typeof import('../../src/report/writer-batch.js');
    const thread = startWriterThread(db, w.runId);
    expect(thread).not.toBeNull();
    const batch = new FlowBatch(null);
    const queued = { addFlow: (f: FlowRecord, v: Verdict) => batch.add(f, v, null, null, null) } as unknown as import('../../src/report/writer.js').ReportWriter;
    const packed = (n: number) => {
      writerAdd(queued, n, null);
      return batch.take();
    };
    return { w, db, thread: thread!, packed };
  }

  it('commits every queued flow at flush, and a run another process took for dead fails the next batch with a ReportError', async () => {
    const path = join(tmp, 'dead.sqlite');
    const { w, db } = await writerWith(path, 12_000);
    w.flush();
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(12_000);
    // Another process removes the run as dead (as runs.ts does for a run whose owner is gone).
    const other = new Database(path, { timeout: 10_000 });
    other.prepare("UPDATE runs SET status = 'abandoned' WHERE id = ?").run(w.runId);
    other.close();
    const { ReportError } = (await import(join(ROOT, 'dist', 'src', 'errors.js'))) as typeof import('../../src/errors.js');
    let thrown: unknown = null;
    try {
      // 5000 more fill a batch; the flush waits for it.
      writerAdd(w, 5000, null);
      w.flush();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ReportError);
    expect(String((thrown as Error).message)).toMatch(/taken for dead/);
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(12_000);
    w.abandon();
    db.close();
  }, 120_000);

  it('a batch goes to a thread with nothing to do once it holds 1,024 flows or has been filling for 100 ms; a smaller one that fills fast waits', async () => {
    const { w, count, close } = await threadStarted(join(tmp, 'slow.sqlite'));
    const committed = (): number => count('SELECT count(*) FROM flows');
    // Fast and small: 500 flows at once are under 1,024 and younger than 100 ms: they stay queued.
    writerAdd(w, 500, null);
    await new Promise((r) => setTimeout(r, 300));
    expect(committed()).toBe(5000);
    // Slow: the batch has been filling for over 100 ms now; at its next check (every 256 flows, here 512) it goes.
    writerAdd(w, 12, null);
    await waitFor(() => committed() === 5512, { what: 'the slowly filled batch to be committed without a flush', timeoutMs: 30_000 });
    // Seen committed is not yet answered: the thread is idle again once it has said so.
    await w.drained();
    // Fast and large enough: 1,024 flows at once go to the idle thread at once, twice over.
    for (const n of [6536, 7560]) {
      writerAdd(w, 1024, null);
      await waitFor(() => committed() === n, { what: 'a batch of 1,024 flows to be committed without a flush', timeoutMs: 30_000 });
      await w.drained();
    }
    // Busy: another process holds the report, so the thread is still on the next batch when more come: they wait.
    const { exited } = await holdWriteLock(join(tmp, 'slow.sqlite'), 1500, 'ROLLBACK');
    writerAdd(w, 1024, null);
    writerAdd(w, 2048, null);
    await exited;
    await waitFor(() => committed() === 8584, { what: 'the batch of 1,024 to be committed once the lock is gone', timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(committed()).toBe(8584);
    w.flush();
    expect(committed()).toBe(10_632);
    close();
  }, 120_000);

  it("an input's end and anomalies go to the writer thread after its flows: the scan's thread does not wait for them while another process holds the report", async () => {
    const path = join(tmp, 'input-end.sqlite');
    // The first batch started the thread; 300 flows more are queued behind it.
    const { w, db, reader, count, close } = await threadStarted(path);
    const input = db.prepare('SELECT id FROM inputs').pluck().get() as number;
    writerAdd(w, 300, input);
    // Another process holds the report's write lock for 3 s (as a concurrent scan closing its run would).
    const { exited } = await holdWriteLock(path, 3000, 'ROLLBACK');
    const { Anomalies } = (await import(join(ROOT, 'dist', 'src', 'anomalies.js'))) as typeof import('../../src/anomalies.js');
    const a = new Anomalies();
    a.add('pcap.record_too_long', '/generated', 1234, 'a record claims 70000 bytes (expected at most the snapshot length, 65535)');
    const started = Date.now();
    w.finishInput(input, { path: '/generated', format: 'pcap', compression: 'none', size: 99, parsedBytes: 99, sha256: 'ab'.repeat(32), packets: 5300 }, { packets: 5300, wireBytes: 0, transportPackets: 5300, nonIp: 0, ipOther: 0, fragments: 0, malformed: 0, records: 0, exportPackets: 0 }, null);
    w.writeAnomalies(input, a);
    const took = Date.now() - started;
    // Handed over, not written: the lock is still held for most of its 3 s.
    expect(took).toBeLessThan(1000);
    expect(count("SELECT status FROM inputs WHERE id = " + input)).toBe('reading');
    await exited;
    w.flush();
    expect(count('SELECT count(*) FROM flows')).toBe(5300);
    expect(reader.prepare('SELECT status, packets, sha256 FROM inputs WHERE id = ?').get(input)).toEqual({ status: 'read', packets: 5300, sha256: 'ab'.repeat(32) });
    expect(reader.prepare('SELECT code, count FROM anomalies WHERE input_id = ?').all(input)).toEqual([{ code: 'pcap.record_too_long', count: 1 }]);
    expect(count('SELECT count(*) FROM anomaly_samples WHERE input_id = ' + input)).toBe(1);
    close();
  }, 120_000);

  it('a batch handed to the thread is copied: its buffers stay whole on the scanning thread (a transfer would detach them, see PackedFlows)', async () => {
    const { w, db, thread, packed } = await threadWith(join(tmp, 'copied.sqlite'));
    const b = packed(100);
    const lengths = [b.nums.byteLength, b.strs.byteLength, b.evNums.byteLength, b.evStrs.byteLength];
    expect(Math.min(...lengths)).toBeGreaterThan(0);
    thread.post(b);
    thread.drain();
    // A detached buffer has length 0.
    expect([b.nums.byteLength, b.strs.byteLength, b.evNums.byteLength, b.evStrs.byteLength]).toEqual(lengths);
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(100);
    thread.close();
    w.abandon();
    db.close();
  }, 120_000);

  it('room waits without blocking: while another connection holds the report, the thread takes three batches, then says when it has room', async () => {
    const path = join(tmp, 'room.sqlite');
    const { w, db, thread, packed } = await threadWith(path);
    expect(thread.room()).toBeNull();
    // Handed out in an object: a promise returned from `during` would be waited for under the lock.
    const { room } = await withWriteLock(path, async () => {
      for (let i = 0; i < 3; i++) thread.post(packed(10));
      const r = thread.room();
      expect(r).not.toBeNull();
      // This thread is free meanwhile: a timer fires while the batches wait for the lock.
      let state = 'waiting';
      void r!.then(() => (state = 'room'));
      await new Promise((t) => setTimeout(t, 200));
      expect(state).toBe('waiting');
      return { room: r };
    });
    await room;
    thread.drain();
    expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(30);
    thread.close();
    w.abandon();
    db.close();
  }, 120_000);

  it("a batch SQLite refuses fails the writer's call with SQLite's error and code", async () => {
    const path = join(tmp, 'refused.sqlite');
    const { w, db } = await writerWith(path, 0);
    db.exec("CREATE TRIGGER refuse BEFORE INSERT ON flows BEGIN SELECT RAISE(ABORT, 'no room for flows'); END");
    let thrown: unknown = null;
    try {
      // More than a batch: the first goes to the writer thread.
      writerAdd(w, 6000, null);
      w.flush();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Database.SqliteError);
    expect((thrown as { code: string }).code).toMatch(/^SQLITE_CONSTRAINT/);
    expect((thrown as Error).message).toMatch(/no room for flows/);
    w.abandon();
    db.close();
  }, 120_000);
});

/** Queue `n` plain flows (DNS exchanges of one client) on a writer. */
function writerAdd(w: import('../../src/report/writer.js').ReportWriter, n: number, input: number | null): void {
  const verdict = { label: 'unknown', confidence: 'none', evidence: [], attributes: { coin: null, agent: null, software: null, workers: [], pool: null, serverName: null }, reason: 'no evidence', outcome: null } as unknown as Verdict;
  for (let i = 0; i < n; i++)
    w.addFlow(
      {
        client: '10.1.0.1', clientPort: 1024 + (i % 60000), server: '192.0.2.53', serverPort: 53, transport: 'udp', ipVersion: 4, orientation: 'port', firstSeen: 1_700_000_100_000 + i, lastSeen: 1_700_000_100_010 + i,
        packetsC2S: 1, packetsS2C: 1, bytesC2S: 70, bytesS2C: 120, tcpFlagsC2S: 0, tcpFlagsS2C: 0, endReason: 'eof', payloadC2S: new Uint8Array(0), payloadS2C: new Uint8Array(0),
        firstSegmentC2S: 0, firstSegmentS2C: 0, payloadTimeC2S: 0, payloadTimeS2C: 0, inputIndex: 0, source: 'packets', records: 0, sampling: 1,
      } as FlowRecord,
      verdict,
      input,
      null,
    );
}
