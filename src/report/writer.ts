/**
 * Writes the report. Flows are inserted in batched transactions as they finish (by a writer thread
 * while the scan reads on; see writer-main.ts), so a run that is interrupted keeps everything
 * committed up to the last batch; subscribers are rebuilt from all flows in the file at the end of
 * every run, so adding inputs to an existing report stays exact.
 */
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Anomalies } from '../anomalies.js';
import { ReportError, UsageError } from '../errors.js';
import type { InputInfo } from '../io/input.js';
import type { PacketCounts } from '../flow/ingest.js';
import type { FlowRecord, Verdict } from '../types.js';
import { MIGRATIONS, SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';
import { applyPeerEvidence, type Redecide } from './peers.js';
import { rebuildSubscribers } from './subscribers.js';
import type { Algorithms } from '../rules/schema.js';
import { currentOwner, deleteInputs, HEARTBEAT_MS } from './runs.js';
import { FlowBatch, insertFlows, prepareFlowStatements, runRowWrites, type PackedFlows, type RowWrite } from './writer-batch.js';
import { startWriterThread, type WriterThread } from './writer-main.js';
import { helperNice } from '../priority.js';
import { withMappedReads } from './mapped.js';
import { clearSettled, closeScope, markSettled } from './settle.js';
import { EvidenceLedger, isWholeReport, type LedgerSummary } from './ledger.js';
import type { Policy } from '../rules/schema.js';

export interface RunInfo {
  toolVersion: string;
  rulesetDigest: string;
  /** Rule ids with revisions, `ID@rev`, comma-separated. */
  rules: string;
  options: Record<string, unknown>;
  /** rules/algorithms.yaml: values shares as hashes and hashrate as power. */
  algorithms?: Algorithms | null;
  /** The command that owns the run (`scan` by default); a killed `scan` run's rows are removed by the next scan, a `collect` run's kept. */
  command?: 'scan' | 'collect' | 'consume';
  /** A scan's policy: its close then settles only the subscribers a ledger of its flows says it may change (src/report/ledger.ts). */
  policy?: Policy;
}

/** How a run closes: the state of its inputs and the earlier rows they replace. */
export interface RunClose {
  /** This run's inputs (ids) that are not the whole of them, with why; the others that were read are complete. */
  interrupted?: ReadonlyMap<number, string>;
  /** For an input of this run (id), the other inputs of this run it shares a flow with. */
  tied?: ReadonlyMap<number, readonly number[]>;
  /** For an input of this run (id), earlier incomplete inputs it is known to hold whole (standard input whose first bytes hash as an interrupted read did). */
  supersedes?: ReadonlyMap<number, readonly number[]>;
  /**
   * A scan's: what its settle depends on besides the flows ({@link settleContext}), so that it may
   * settle only its own subscribers (src/report/settle.ts); and whether every subscriber row is
   * rebuilt anyway (the run wrote a directory or power readings). Without it the whole report is
   * settled and the report is no longer known settled.
   */
  settle?: { context: string | null; allRows: boolean };
}

/** An input of this run whose content was already complete in the report: its rows were taken out again. */
export interface RolledBack {
  input: number;
  path: string;
  sha256: string;
  /** The input that already held this content. */
  sameAs: string;
}

type Db = Database.Database;

/** The 16 bytes every SQLite 3 database file starts with. */
const SQLITE_MAGIC = 'SQLite format 3\0';
/**
 * A batch goes to a writer thread with nothing to do, ahead of a full batch, once it holds this many
 * flows or has been filling for this long (ms). Flows that come slowly (the flagged flows of a
 * flow-export scan, a few thousand a second) are written as they come, not all when the input ends;
 * flows that come fast go in batches of at least 1,024 (a transaction of a few hundred flows costs
 * SQLite about twice as much a flow as one of 5,000). Without the size rule a thread idle while an
 * export input's last flagged flows came in fast wrote them only after the input's end (NetFlow v9
 * bench case: the scan waited for it 144-166 ms after its last record, against 118-131 ms with it).
 */
const IDLE_BATCH_FLOWS = 1024;
const IDLE_BATCH_MS = 100;
/** How often (in flows added) a filling batch checks whether to go early (a power of two). */
const IDLE_CHECK_EVERY = 256;
const FINISH_INPUT_SQL = `UPDATE inputs SET format = ?, compression = ?, size = ?, sha256 = ?, packets = ?, wire_bytes = ?, transport_packets = ?,
  non_ip = ?, ip_other = ?, fragments = ?, malformed = ?, records = ?, export_packets = ?, error = ?, status = ? WHERE id = ? AND status = 'reading'`;
const INSERT_ANOMALY_SQL = 'INSERT INTO anomalies(run_id, input_id, code, count) VALUES (?, ?, ?, ?)';
const INSERT_ANOMALY_SAMPLE_SQL = 'INSERT INTO anomaly_samples(run_id, input_id, code, offset, message) VALUES (?, ?, ?, ?, ?)';
/** Largest report read into memory when its folder is read-only and SQLite cannot open it in place. */
const MAX_IMAGE_BYTES = 1 << 30;

/**
 * Open (or create) a report database and check its schema version. A file that is not SQLite, or a
 * SQLite database another program made (tables, no minerwatch `meta`), is refused before anything
 * is written to it. A new report is created with mode 0600 (less if the umask says so).
 * @throws UsageError naming the file and what is wrong with it.
 */
export function openReport(path: string, opts: { readonly?: boolean } = {}): Db {
  try {
    return openReportFile(path, opts);
  } catch (e) {
    // SQLite quotes a damaged schema over several lines: the refusal stays one bounded line.
    if (e instanceof UsageError && /[\r\n]|.{600}/.test(e.message)) throw new UsageError(e.message.replace(/\s+/g, ' ').slice(0, 600));
    throw e;
  }
}

/** How long a report's switch to WAL is tried again while another connection holds a lock SQLite will not wait for (ms). */
const WAL_SWITCH_MS = 120_000;

/**
 * Put the report in WAL mode (already so: nothing to do). Two scans that make a new report at once
 * both switch it: in rollback mode each then holds a shared lock while it asks for the exclusive
 * one, and SQLite answers one of them SQLITE_BUSY at once, a deadlock its busy handler cannot wait
 * out (so do a connection that reads while another is part-way through a write). The other side
 * finishes in moments, after which the switch goes through or finds WAL set; so a busy answer is
 * tried again, every 20 ms, for as long as the busy timeout would have waited.
 */
function toWal(db: Db): void {
  const started = Date.now();
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() - started > WAL_SWITCH_MS) throw e;
      Atomics.wait(nap, 0, 0, 20);
    }
  }
}

function openReportFile(path: string, opts: { readonly?: boolean }): Db {
  const readonly = opts.readonly ?? false;
  checkSqliteHeader(path);
  // A reader never creates the file; SQLite's own word for a missing one is "unable to open database file".
  if (readonly && !existsSync(path)) throw new UsageError(`report ${path} does not exist: name the report with --db FILE, or run minerwatch scan first to make one`);
  if (!readonly && !existsSync(path)) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UsageError(`cannot create report ${path}: ${(e as Error).message}`);
    }
  }
  let db: Db;
  try {
    // A second writer (two scans, or a scan beside a collector) waits for the other's batch or close.
    db = new Database(path, { readonly, fileMustExist: true, timeout: 120_000 });
  } catch (e) {
    throw new UsageError(`cannot open report ${path}: ${(e as Error).message}`);
  }
  if (readonly) {
    let v: number | null;
    try {
      v = readVersion(db);
    } catch (e) {
      db.close();
      if (isDamaged(e)) throw reportReadError(path, e);
      // A WAL report in a read-only folder without its -shm file cannot be opened in place.
      db = readImage(path, e as Error);
      try {
        v = readVersion(db);
      } catch (e2) {
        db.close();
        throw reportReadError(path, e2);
      }
    }
    if (v === null) throw new UsageError(`${path} is not a minerwatch report (no meta table); run minerwatch scan first`);
    if (v !== SCHEMA_VERSION)
      throw new UsageError(
        `${path} has report schema version ${v}; this minerwatch reads version ${SCHEMA_VERSION}${v < SCHEMA_VERSION && MIGRATIONS[v] !== undefined ? ' (any minerwatch scan or merge into it upgrades it in place)' : ''}`,
      );
    return db;
  }
  const readOnly = (e: Error) =>
    new UsageError(`cannot write report ${path}: ${e.message} (a read-only file, folder or file system? summary, watchlist and flows can still read it)`);
  try {
    accessSync(path, fsConstants.W_OK);
    accessSync(dirname(resolve(path)), fsConstants.W_OK);
  } catch (e) {
    db.close();
    throw readOnly(e as Error);
  }
  // Nothing is written before the file is known to be empty or a minerwatch report.
  let v: number | null;
  try {
    v = readVersion(db);
    if (v === null) {
      const foreign = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() as { n: number };
      if (foreign.n > 0) {
        db.close();
        throw new UsageError(`${path} is a SQLite database but not a minerwatch report (it has ${foreign.n} table(s) or index(es) and no minerwatch meta table); it was not changed`);
      }
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    db.close();
    throw new UsageError(`cannot read report ${path}: ${(e as Error).message}`);
  }
  try {
    toWal(db);
  } catch (e) {
    db.close();
    throw readOnly(e as Error);
  }
  db.pragma('synchronous = NORMAL');
  // Flow rows arrive in time order but their index entries (label, subscriber) land all over the
  // index b-trees: a 64 MiB page cache keeps those pages in memory (bench: report case).
  db.pragma('cache_size = -65536');
  if (v !== null && v !== SCHEMA_VERSION) {
    // Upgrade in place, one version at a time, in one transaction (all or nothing).
    if (v < SCHEMA_VERSION && [...Array(SCHEMA_VERSION - v).keys()].every((i) => MIGRATIONS[v! + i] !== undefined)) {
      const from = v;
      try {
        db.transaction(() => {
          for (; v! < SCHEMA_VERSION; v!++) db.exec(MIGRATIONS[v!]!);
          db.exec(SCHEMA_SQL);
          db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
          // The subscriber figures of the new version, from the flows already there.
          rebuildSubscribers(db);
        }).immediate();
      } catch (e) {
        db.close();
        throw new UsageError(`cannot upgrade ${path} from report schema version ${from} to ${SCHEMA_VERSION} (nothing was changed): ${(e as Error).message}`);
      }
    } else {
      db.close();
      throw new UsageError(`${path} has report schema version ${v}; this minerwatch writes version ${SCHEMA_VERSION}`);
    }
  }
  try {
    // One transaction: a disk that fills up while a new report is laid out leaves it empty, not half made.
    // IMMEDIATE: it reads the schema, then writes; deferred, it would fail at once (SQLITE_BUSY)
    // when a scan writing into the same report committed in between, instead of waiting.
    db.transaction(() => {
      db.exec(SCHEMA_SQL);
      db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
    }).immediate();
  } catch (e) {
    db.close();
    throw new UsageError(`cannot write report ${path}: ${(e as Error).message}; it was not changed`);
  }
  return db;
}

/** Store metered energy readings (replacing readings of the same subscriber and period). */
type DirectoryRows = ReadonlyArray<{ subscriber: string; account: string | null; type: string | null; region: string | null; prefix: string }>;

/** The subscriber directory as given (one row per id, with its prefixes and the file). */
export function writeDirectory(db: Db, entries: DirectoryRows, source: string): void {
  const byId = new Map<string, { account: string | null; type: string | null; region: string | null; prefixes: string[] }>();
  for (const e of entries) {
    const cur = byId.get(e.subscriber);
    if (cur) cur.prefixes.push(e.prefix);
    else byId.set(e.subscriber, { account: e.account, type: e.type, region: e.region, prefixes: [e.prefix] });
  }
  const up = db.prepare('INSERT OR REPLACE INTO subscriber_info(subscriber, account, type, region, prefixes, source) VALUES (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const [id, v] of byId) up.run(id, v.account, v.type, v.region, JSON.stringify(v.prefixes.slice(0, 64)), source);
  })();
}

export function writePowerReadings(db: Db, readings: ReadonlyArray<{ subscriber: string; start: number; end: number; kwh: number }>, source: string): void {
  const up = db.prepare('INSERT OR REPLACE INTO power_readings(subscriber, period_start, period_end, kwh, source) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const r of readings) up.run(r.subscriber, r.start, r.end, r.kwh, source);
  })();
}

/** SQLite says the file is not a whole database (cut, overwritten, not SQLite past its header). */
function isDamaged(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB|FORMAT|RANGE)/.test(code);
}

/**
 * What a reader (summary, watchlist, flows, report) says when SQLite fails part-way through a
 * report: one line naming the file (exit 2), never an internal error. Other errors pass through.
 */
export function reportReadError(path: string, e: unknown): Error {
  if (e instanceof UsageError) return e;
  const code = (e as { code?: unknown }).code;
  // SQLite's messages may quote a damaged schema over several lines: one line, bounded.
  const said = (e as Error).message?.replace(/\s+/g, ' ').slice(0, 300) ?? String(e);
  if (typeof code === 'string' && code.startsWith('SQLITE_'))
    return new UsageError(`cannot read report ${path}: ${said}${isDamaged(e) ? ' (the file is damaged or is not a whole minerwatch report)' : ''}`);
  // A stored value minerwatch wrote as JSON or as a time that no longer parses: the file was changed.
  if (e instanceof SyntaxError || (e instanceof RangeError && /time value|Invalid/.test(said)))
    return new UsageError(`cannot read report ${path}: a value in it is not what minerwatch writes (${said}); the file is damaged`);
  return e as Error;
}

/** The schema version, or null when there is no minerwatch meta table; other errors propagate. */
function readVersion(db: Db): number | null {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return null;
  let row: { value: string } | undefined;
  try {
    row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  } catch {
    return null;
  }
  return row ? Number(row.value) : null;
}

/** Refuse a file that exists, is not empty and does not start as SQLite does. */
function checkSqliteHeader(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new UsageError(`cannot open report ${path}: ${(e as Error).message}`);
  }
  try {
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    if (n === 0) return;
    if (n < 16 || head.toString('latin1') !== SQLITE_MAGIC) throw new UsageError(`${path} is not a SQLite database (a minerwatch report starts with "SQLite format 3"); it was not changed`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read report ${path}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * SQLite cannot open a WAL database in place when its folder is read-only and no -shm file exists;
 * a report that was closed cleanly has no WAL content, so its bytes read as a plain database.
 */
function readImage(path: string, cause: Error): Db {
  try {
    if (statSync(path).size > MAX_IMAGE_BYTES || existsSync(`${path}-wal`)) throw cause;
    const image = readFileSync(path);
    // File format bytes 18-19: 2 = WAL, 1 = rollback journal; an in-memory image cannot use WAL.
    if (image[18] === 2 && image[19] === 2) image[18] = image[19] = 1;
    return new Database(image, { readonly: true });
  } catch {
    throw new UsageError(`cannot read report ${path}: ${cause.message} (copy it to a writable folder to read it)`);
  }
}

export class ReportWriter {
  readonly runId: number;
  private batch: FlowBatch;
  /** When the batch being filled took its first flow (performance.now()). */
  private batchStarted = 0;
  /** The statements of the rows written on this thread ({@link writeRows}), prepared once each. */
  private readonly rowStatements = new Map<string, Database.Statement>();
  /** The writer thread once started, or null while batches are inserted on this thread. */
  private thread: WriterThread | null = null;
  private threadTried = false;
  private readonly flushTx: Database.Transaction<(b: PackedFlows) => void>;
  flows = 0;
  /** Flows whose verdict peer evidence raised in this run. */
  peerChanges = 0;
  /** Inputs rolled back at the close because their content was already in the report. */
  rolledBack: RolledBack[] = [];
  /** Earlier incomplete inputs whose rows this run's inputs replaced. */
  replaced = 0;
  /**
   * A scan's ledger of its flows with evidence (src/report/ledger.ts), kept here while batches are
   * inserted here, then by the writer thread; null for a live run's. `ledgerLost` once rows of the
   * run were taken out while it ran.
   */
  private ledger: EvidenceLedger | null;
  private ledgerLost = false;
  /** Subscribers the close settled one by one (null: the whole report), once closed. */
  settledSubscribers: number | null = null;
  private packetsRolledBack = 0;
  private readonly beat: Database.Statement;
  private readonly runStatus: Database.Statement;
  private heartbeat: NodeJS.Timeout | null;
  /** How much the writer thread lowers its priority: a scan's by {@link helperNice}, a live collector's not at all. */
  private readonly threadNice: number;

  /**
   * Start a run in the report. Once a run has filled a first batch, its batches are inserted by a
   * writer thread with its own connection when the report is a file (the scan's thread only packs
   * them); a small run, an in-memory report or `MINERWATCH_WRITER_THREAD=0` in the environment
   * inserts on this thread. A scan's writer thread runs at a lower CPU priority than the scan
   * (src/priority.ts); a collector's or consumer's, whose writes keep pace with arriving records,
   * at the same.
   */
  constructor(
    readonly db: Db,
    run: RunInfo,
  ) {
    const owner = currentOwner();
    const r = db
      .prepare('INSERT INTO runs(started, tool_version, ruleset_digest, rules, options, command, pid, host, proc_start, boot_id, pid_ns, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(Date.now(), run.toolVersion, run.rulesetDigest, run.rules, JSON.stringify(run.options), run.command ?? 'scan', owner.pid, owner.host, owner.procStart, owner.bootId, owner.pidNs, Date.now());
    this.runId = Number(r.lastInsertRowid);
    this.threadNice = (run.command ?? 'scan') === 'scan' ? helperNice() : 0;
    this.ledger = (run.command ?? 'scan') === 'scan' && run.policy ? new EvidenceLedger(run.policy) : null;
    this.beat = db.prepare("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'");
    this.runStatus = db.prepare('SELECT status FROM runs WHERE id = ?').pluck();
    const algorithms = run.algorithms ?? null;
    if (algorithms) {
      const up = db.prepare('INSERT OR REPLACE INTO algorithms(id, unit, j_per_h_low, j_per_h_high, hardware, sources, rules) VALUES (?, ?, ?, ?, ?, ?, ?)');
      const t = algorithms;
      db.transaction(() => {
        for (const a of t.algorithms)
          up.run(a.id, a.unit, a.efficiencyLow, a.efficiencyHigh, [a.hardwareLow, a.hardwareHigh].filter(Boolean).join(' … ') || null, JSON.stringify(a.sources), `${t.id}@${t.rev} (${t.date}), algorithms.yaml:${a.line}`);
      })();
    }
    this.batch = new FlowBatch(algorithms);
    // Between batches too (a long read with few finished flows), so a scan elsewhere does not take it for dead.
    this.heartbeat = setInterval(() => {
      try {
        this.beat.run(Date.now(), this.runId);
      } catch {
        // A busy or full report: the next batch says so.
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    const st = prepareFlowStatements(db);
    this.flushTx = db.transaction((b: PackedFlows) => {
      this.stillMine();
      this.beat.run(Date.now(), this.runId);
      insertFlows(st, this.runId, b);
    });
  }

  /** Store the subscriber directory's entries (id → account, type, region), replacing older ones. */
  writeDirectory(entries: DirectoryRows, source: string): void {
    writeDirectory(this.db, entries, source);
  }

  /** Record an input (before reading it); returns its id. */
  addInput(path: string): number {
    return Number(this.db.prepare("INSERT INTO inputs(run_id, path, status) VALUES (?, ?, 'reading')").run(this.runId, path).lastInsertRowid);
  }

  /**
   * Fill in what was learned about an input after reading it (or the error that stopped it). With a
   * writer thread the row goes to it after the input's flows, and nothing waits here: the scan reads
   * on (the run's close waits for every row, and a run that dies before it is removed whole).
   */
  finishInput(id: number, info: InputInfo | null, counts: PacketCounts | null, error: string | null): void {
    const args = [
      info?.format ?? null,
      info?.compression ?? null,
      info?.size ?? null,
      info?.sha256 ?? null,
      counts?.packets ?? 0,
      counts?.wireBytes ?? 0,
      counts?.transportPackets ?? 0,
      counts?.nonIp ?? 0,
      counts?.ipOther ?? 0,
      counts?.fragments ?? 0,
      counts?.malformed ?? 0,
      counts?.records ?? 0,
      counts?.exportPackets ?? 0,
      error,
      error ? 'failed' : 'read',
      id,
    ];
    this.writeRows([{ sql: FINISH_INPUT_SQL, args }]);
  }

  /**
   * Make an input whole while the run goes on (a `consume` segment): its queued flows are written
   * and committed, then its row is filled in and marked complete in one transaction. A process
   * killed before that leaves the input incomplete, and its flows are removed as a dead run's are.
   */
  completeInput(id: number, fields: { path: string; format: string; size: number; sha256: string; records: number; packets: number }): void {
    this.flush();
    this.db
      .transaction(() => {
        this.stillMine();
        this.db
          .prepare("UPDATE inputs SET path = ?, format = ?, size = ?, sha256 = ?, records = ?, packets = ?, status = 'complete' WHERE id = ? AND run_id = ? AND status = 'reading'")
          .run(fields.path, fields.format, fields.size, fields.sha256, fields.records, fields.packets, id, this.runId);
        this.beat.run(Date.now(), this.runId);
      })
      .immediate();
  }

  /**
   * Take an input out while the run goes on (a `consume` segment whose partition went to another
   * member before it was complete): its flows are written first, then deleted with the input's row,
   * in one transaction; the partition's next owner reads the segment whole.
   */
  dropInput(id: number): void {
    this.flush();
    this.db
      .transaction(() => {
        this.stillMine();
        this.flows -= this.db.prepare('SELECT count(*) FROM flows WHERE input_id = ?').pluck().get(id) as number;
        deleteInputs(this.db, [id]);
        this.ledgerLost = true;
      })
      .immediate();
  }

  /** Record the anomalies counted for one input (with a writer thread, after the input's flows, without waiting). */
  writeAnomalies(inputId: number | null, a: Anomalies): void {
    const rows: RowWrite[] = [];
    for (const [code, n] of a.counts) rows.push({ sql: INSERT_ANOMALY_SQL, args: [this.runId, inputId, code, n] });
    for (const x of a.samples) rows.push({ sql: INSERT_ANOMALY_SAMPLE_SQL, args: [this.runId, inputId, x.code, x.offset, x.message] });
    if (rows.length > 0) this.writeRows(rows);
  }

  /**
   * Rows to write after the flows queued so far, in one transaction: handed to the writer thread
   * when there is one (with the queued flows before them), else written here once those are.
   */
  private writeRows(rows: readonly RowWrite[]): void {
    if (this.thread !== null) {
      if (this.batch.count) this.send();
      this.thread.write(rows);
      return;
    }
    this.flush();
    this.db.transaction(() => runRowWrites(this.db, this.rowStatements, rows))();
  }

  /**
   * Queue one classified flow; written in batches. With a writer thread, a batch that failed there
   * throws here (or at the next call that waits for it) with the error it failed with.
   */
  addFlow(f: FlowRecord, v: Verdict, inputId: number | null, subscriber: string | null, nat: string | null = null): void {
    const batch = this.batch;
    if (batch.count === 0) this.batchStarted = performance.now();
    batch.add(f, v, inputId, subscriber, nat);
    this.flows++;
    if (batch.full) {
      this.useThread();
      this.send();
    } else if (this.thread !== null && (batch.count & (IDLE_CHECK_EVERY - 1)) === 0 && this.thread.idle && (batch.count >= IDLE_BATCH_FLOWS || performance.now() - this.batchStarted >= IDLE_BATCH_MS)) this.send();
  }

  /** Queue a batch packed elsewhere (a scan worker's, its input indexes already made ids: {@link remapInputs}). */
  addPacked(b: PackedFlows): void {
    if (b.count === 0) return;
    if (this.batch.count) this.send();
    this.flows += b.count;
    this.useThread();
    this.insert(b);
  }

  /**
   * Null when the writer thread is few enough batches behind for the caller to go on (read another
   * chunk, hand over another batch); otherwise a promise settled once it is. For a thread that must
   * stay free to hear signals while it hands flows over.
   */
  room(): Promise<void> | null {
    return this.thread?.room() ?? null;
  }

  /** A run with a batch to write and more flows likely to come: worth a thread (it beats the heartbeat from now on). */
  private useThread(): void {
    if (this.threadTried || this.heartbeat === null) return;
    this.threadTried = true;
    this.thread = startWriterThread(this.db, this.runId, this.threadNice, this.ledger?.handOver() ?? null);
    if (this.thread) {
      // The thread keeps it from here.
      this.ledger = null;
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }

  /**
   * Hand the queued flows over and wait, without blocking this thread, until the writer thread has
   * committed everything posted (null when nothing is owed, or flows are written on this thread). A
   * caller that must hear a second SIGINT while the last batches are written (another process may
   * hold the report meanwhile) waits here before {@link finish}, whose own wait blocks. A failure is
   * thrown by the next call that waits (here it only ends the wait).
   */
  drained(): Promise<void> | null {
    if (this.batch.count) this.send();
    return this.thread?.settled() ?? null;
  }

  /** Write every queued flow (in batches of one transaction each) and wait until they are committed. */
  flush(): void {
    if (this.batch.count) this.send();
    this.thread?.drain();
  }

  private send(): void {
    this.insert(this.batch.take());
  }

  /** A batch to the writer thread, or inserted here (and gathered into the ledger here). */
  private insert(b: PackedFlows): void {
    if (this.thread) return this.thread.post(b);
    // IMMEDIATE: the batch reads the run's state and then writes; a deferred transaction would fail
    // at once (SQLITE_BUSY) instead of waiting when another scan committed in between.
    this.flushTx.immediate(b);
    this.ledger?.add(b);
  }

  /**
   * Close the run, in one transaction: inputs whose content the report already held completely are
   * rolled back (standard input, a concurrent scan of the same file), every input gets its final
   * state, the earlier incomplete rows of the same content or path are deleted (replaced by this
   * run's), then peer evidence, `decideAgain` (evidence added up over the report, or over the given
   * subscribers' flows), totals and the subscriber rollup. With `close.settle` those settle only the
   * run's subscribers when the report is known settled otherwise (src/report/settle.ts). A process
   * killed before the commit leaves the report as it was, plus rows of a run the next scan removes.
   * @throws ReportError when another process took this run for dead and removed it meanwhile.
   */
  finish(
    totals: { packets: number; anomalies: number; interrupted: boolean },
    redecide: Redecide | null = null,
    decideAgain?: (db: Db, subscribers?: readonly string[], known?: LedgerSummary) => { newProofs: number } | void,
    close: RunClose = {},
  ): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.flush();
    this.thread?.close();
    const closeRun = this.db.transaction(() => {
      this.stillMine();
      // Before any of the run's rows are rolled back: their subscribers are settled too.
      let scope = close.settle ? closeScope(this.db, this.runId, close.settle.context) : null;
      const mark = this.db.prepare("UPDATE inputs SET status = 'interrupted', note = ? WHERE id = ? AND run_id = ? AND status IN ('read', 'reading', 'complete')");
      const note = this.db.prepare("UPDATE inputs SET note = ? WHERE id = ? AND status = 'failed'");
      for (const [id, why] of close.interrupted ?? []) {
        mark.run(why, id, this.runId);
        note.run(why, id);
      }
      for (const id of this.rollBackKnownContent()) {
        // What shared a flow with rolled-back rows is not whole without them: read again on rerun.
        for (const other of close.tied?.get(id) ?? []) mark.run('shared a flow with an input whose content was already in the report (rolled back)', other, this.runId);
      }
      // Read to the end and not tied to a cut input: complete. Still marked reading: cut.
      this.db.prepare("UPDATE inputs SET status = 'complete' WHERE run_id = ? AND status = 'read'").run(this.runId);
      this.db.prepare("UPDATE inputs SET status = 'interrupted', note = coalesce(note, 'the run stopped while reading it') WHERE run_id = ? AND status = 'reading'").run(this.runId);
      this.replaceEarlier(close.supersedes);
      // Earlier rows deleted: their subscribers' other flows are settled again, with every other.
      if (this.replaced > 0) scope = null;
      this.settledSubscribers = scope === null ? null : scope.length;
      // Before peer evidence is added: the report's flows with evidence may then be the run's alone.
      const ledger = this.ledgerSummary();
      const known = ledger && isWholeReport(this.db, ledger, this.rolledBack.length === 0) ? ledger : undefined;
      if (redecide) this.peerChanges = applyPeerEvidence(this.db, redecide, scope ?? undefined);
      const added = decideAgain?.(this.db, scope ?? undefined, known);
      this.db
        .prepare('UPDATE runs SET finished = ?, status = ?, packets = ?, flows = ?, anomalies = ?, heartbeat = ? WHERE id = ?')
        .run(Date.now(), totals.interrupted ? 'interrupted' : 'complete', totals.packets - this.packetsRolledBack, this.flows, totals.anomalies, Date.now(), this.runId);
      rebuildSubscribers(this.db, scope === null || close.settle?.allRows ? undefined : scope);
      if (close.settle && redecide && added) markSettled(this.db, this.runId, close.settle.context, added.newProofs);
      else clearSettled(this.db);
    });
    // The pass reads the run's flows and evidence, which the writer thread's connection wrote.
    withMappedReads(this.db, () => closeRun.immediate());
  }

  /** What the ledger says (the writer thread's, once it is closed); null when there is none, or it does not hold the whole run. */
  private ledgerSummary(): LedgerSummary | null {
    if (this.ledgerLost) return null;
    return this.thread ? this.thread.ledger : (this.ledger?.summary() ?? null);
  }

  /** Stop the heartbeat of a run that ends without closing (an error, a second signal). */
  abandon(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.thread?.stop();
  }

  /** The run is still this process's: another scan that took it for dead would have removed it. */
  private stillMine(): void {
    const st = this.runStatus.get(this.runId) as string | undefined;
    if (st !== 'running')
      throw new ReportError(
        `run ${this.runId} was taken for dead and removed by another minerwatch process while it ran (its status is now ${st ?? 'gone'}); nothing more of it is written: run the same command again`,
      );
  }

  /**
   * Earlier rows that this run's inputs stand for are deleted: other runs' interrupted, failed or
   * removed inputs of the same content (sha256) or the same file path, once this run read the input
   * (whole or in part); and earlier failures of a path that again could not be read at all.
   */
  private replaceEarlier(supersedes?: ReadonlyMap<number, readonly number[]>): void {
    const mine = this.db.prepare('SELECT id, path, sha256, status, packets + records AS n FROM inputs WHERE run_id = ?').all(this.runId) as Array<{ id: number; path: string; sha256: string | null; status: string; n: number }>;
    const same = this.db.prepare(
      "SELECT id FROM inputs WHERE run_id != ? AND status IN ('interrupted', 'failed', 'removed') AND ((? IS NOT NULL AND sha256 = ?) OR (? != '-' AND path = ?))",
    );
    const sameFailure = this.db.prepare("SELECT id FROM inputs WHERE run_id != ? AND status IN ('failed', 'removed') AND packets + records = 0 AND path = ?");
    const del = new Set<number>();
    for (const m of mine) {
      const ids = m.status === 'failed' && m.n === 0 ? sameFailure.pluck().all(this.runId, m.path) : m.status === 'complete' || m.n > 0 ? same.pluck().all(this.runId, m.sha256, m.sha256, m.path, m.path) : [];
      for (const id of ids as number[]) del.add(id);
    }
    const stillPartial = this.db.prepare("SELECT 1 FROM inputs WHERE id = ? AND run_id != ? AND status IN ('interrupted', 'failed', 'removed')").pluck();
    for (const [id, olds] of supersedes ?? []) {
      if (!mine.some((m) => m.id === id)) continue; // rolled back: what it held stays
      for (const o of olds) if (stillPartial.get(o, this.runId) !== undefined) del.add(o);
    }
    deleteInputs(this.db, [...del]);
    this.replaced = del.size;
  }

  /**
   * An input of this run whose sha256 a complete input already has (another run's, or an earlier one
   * of this run) is taken out again: its flows, evidence, anomalies and row. That covers standard
   * input (hashed as it is read), a cut read of a file another scan has since completed, and two
   * concurrent scans of one file. Returns the ids taken out.
   */
  private rollBackKnownContent(): number[] {
    const mine = this.db
      .prepare("SELECT id, path, sha256 FROM inputs WHERE run_id = ? AND status IN ('read', 'reading', 'interrupted') AND sha256 IS NOT NULL ORDER BY id")
      .all(this.runId) as Array<{ id: number; path: string; sha256: string }>;
    if (!mine.length) return [];
    const other = this.db.prepare("SELECT path FROM inputs WHERE sha256 = ? AND id != ? AND (status = 'complete' OR (run_id = ? AND status = 'read' AND id < ?)) ORDER BY id LIMIT 1");
    const out: number[] = [];
    for (const m of mine) {
      const first = other.pluck().get(m.sha256, m.id, this.runId, m.id) as string | undefined;
      if (first === undefined) continue;
      out.push(m.id);
      this.rolledBack.push({ input: m.id, path: m.path, sha256: m.sha256, sameAs: first });
    }
    if (!out.length) return [];
    const list = out.map(() => '?').join(',');
    this.packetsRolledBack = this.db.prepare(`SELECT coalesce(sum(packets), 0) FROM inputs WHERE id IN (${list})`).pluck().get(...out) as number;
    this.flows -= this.db.prepare(`SELECT count(*) FROM flows WHERE input_id IN (${list})`).pluck().get(...out) as number;
    deleteInputs(this.db, out);
    return out;
  }
}
