/** `minerwatch scan`: inputs → report. */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { loadRunContext, type LoadNote, type RunContext } from '../aggregate/load.js';
import { parseSubscriberNets, SubscriberMap } from '../aggregate/subscriber.js';
import { Classifier } from '../classify/classify.js';
import { ReportError, UsageError } from '../errors.js';
import { hashFileInWorker, startHashThread } from '../io/hash.js';
import { policyRedecide } from '../report/policy-redecide.js';
import { completeInputs, lastRunNets, markRun, partialInputs, runMiningFlows, subscriberCount } from '../report/queries.js';
import { redecideReport, type RedecideResult } from '../report/redecide.js';
import { settleContext } from '../report/settle.js';
import { rescoreReport } from '../report/rescore.js';
import { describeDeadRun, describeIncomplete, incompleteInputs, inputsBeingRead, reapDeadRuns, type DeadRun } from '../report/runs.js';
import { openReport, ReportWriter, writePowerReadings } from '../report/writer.js';
import { loadResolverLogs, scanInputs, type DnsLogSummary, type ScanHooks, type ScanOptions } from '../scan.js';
import { SCAN_PROGRESS } from '../pipeline.js';
import { remapInputs } from '../report/writer-batch.js';
import { scanInWorkers, scanWorkers } from './scan-workers.js';
import { stopOnSignals, type Io } from './main.js';
import { startProgress, type ProgressSample } from './progress.js';
import { toolVersion } from './paths.js';
import { loadRulesForScan } from './rules.js';

export interface ScanCliOptions {
  db: string;
  subscriberNet: string[];
  subscribers?: string;
  power?: string;
  natLog: string[];
  natDeterministic: string[];
  natIpfix?: string[];
  /** RADIUS accounting (`--radius`): FreeRADIUS detail files or the RADIUS CSV. */
  radius?: string[];
  rules: string;
  lenientRules?: boolean;
  json?: boolean;
  idleTimeout: number;
  activeTimeout: number;
  maxFlows: number;
  collectorPort: number[];
  exports: boolean;
  joinGap: number;
  keepFlows: 'auto' | 'all' | 'flagged';
  dnsLog?: string[];
  intel?: string[];
  /** Worker threads (`--workers`); unset: {@link scanWorkers} decides. */
  workers?: number;
  /** `--quiet`: no progress line. */
  quiet?: boolean;
  /**
   * Not an option of the command line: this scan's (or worker's) progress counters
   * ({@link ScanOptions.progress}), shared with the scan's thread when it runs in a worker.
   */
  progress?: Float64Array;
}

/**
 * Which flows the report keeps. `auto`: every flow seen in packets, and only flagged (mining or
 * suspect) flows from flow exports, whose volumes (billions of records a day at an operator) would
 * otherwise fill the report with rows that carry no evidence; every input still counts all its flows.
 */
export function keepFlow(mode: ScanCliOptions['keepFlows'], source: 'packets' | 'export', label: string): boolean {
  if (mode === 'all' || label !== 'none') return true;
  return mode === 'auto' && source === 'packets';
}

/** How the scan's options read inputs and hold flows (the same in every worker of a scan). */
export function scanOptionsOf(o: ScanCliOptions, signal: AbortSignal): ScanOptions {
  return {
    // The consumers of a scan (the report batch, the subscriber map) read a record's payload only
    // while they are called: records borrow the flow table's buffers instead of copying them.
    flow: { idleTimeoutMs: o.idleTimeout * 1000, activeTimeoutMs: o.activeTimeout * 1000, maxFlows: o.maxFlows, payloadViews: true },
    exports: { joinGapMs: o.joinGap * 1000, maxFlows: o.maxFlows * 2 },
    readExports: o.exports,
    // MINERWATCH_PREFAULT=0 leaves the page faults of payload buffers on the reading thread.
    prefaultWorkBuffers: process.env.MINERWATCH_PREFAULT !== '0',
    skipQuietExports: o.keepFlows !== 'all',
    collectorPorts: o.collectorPort,
    signal,
    dnsLogs: o.dnsLog ?? [],
    progress: o.progress,
  };
}

/** Folders expand to the files below them (sorted, hidden files skipped); `-` stays stdin. */
export function expandInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(p); // reported as unreadable by the reader, with the file named
      return;
    }
    if (!st.isDirectory()) {
      out.push(p);
      return;
    }
    for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(join(p, name));
  };
  for (const i of inputs) if (i === '-') out.push(i);
  else walk(i);
  return out;
}

/**
 * The inputs with each file once: a file named twice (or reached through a link or a folder) is
 * read once and said so. Sizes are returned for the content check (null for stdin and unreadable
 * paths, which the reader reports).
 */
export function distinctInputs(paths: readonly string[], io: Io): Array<{ path: string; size: number | null }> {
  const out: Array<{ path: string; size: number | null }> = [];
  const byReal = new Map<string, string>();
  for (const p of paths) {
    if (p === '-') {
      out.push({ path: p, size: null });
      continue;
    }
    let real: string;
    let size: number | null;
    try {
      real = realpathSync(p);
      const st = statSync(real);
      // A pipe or device has no size to compare (and is refused when read: src/io/input.ts).
      size = st.isFile() ? st.size : null;
    } catch {
      out.push({ path: p, size: null });
      continue;
    }
    const first = byReal.get(real);
    if (first !== undefined) {
      io.err(`minerwatch: ${p}: the same file as ${first}, read once\n`);
      continue;
    }
    byReal.set(real, p);
    out.push({ path: p, size });
  }
  return out;
}

/** Progress lines of loading (src/aggregate/load.ts) on stderr, as the program's own. */
export function stderrNote(io: Io): LoadNote {
  return (line) => io.err(`minerwatch: ${line}\n`);
}

/** Per resolver log, one line on stderr (and the run stops being quiet about a log it could not read). */
function reportDnsLogs(logs: readonly DnsLogSummary[], io: Io): number {
  let failed = 0;
  for (const l of logs) {
    if (l.error) {
      failed++;
      io.err(`minerwatch: --dns-log ${l.error}\n`);
      continue;
    }
    const an = Object.entries(l.anomalies).map(([k, n]) => `${k}=${n}`).join(' ');
    io.err(`minerwatch: ${l.path}: ${l.format} resolver log, ${l.lookups} answered lookup(s)${an ? `, anomalies: ${an}` : ''}\n`);
    // The first of each code, where it is and what was expected (Zeek's messages name their line).
    const said = new Set<string>();
    for (const x of l.samples) {
      if (said.has(x.code)) continue;
      said.add(x.code);
      io.err(`minerwatch: ${l.path}: first ${x.code} at byte ${x.offset}: ${x.message}\n`);
    }
  }
  return failed;
}

export async function runScan(inputs: string[], o: ScanCliOptions, io: Io): Promise<number> {
  // Files are hashed on a thread of their own: started now, it is ready by the time the first file
  // is read. Scan workers hash their inputs on their own threads: when --workers leaves the count to
  // the inputs' size and that comes to several, this one hashes only the inputs hashed before the scan.
  if ((o.workers === undefined || o.workers <= 1) && inputs.some((p) => p !== '-')) startHashThread();
  const loaded = loadRulesForScan(o.rules, o.lenientRules ?? false, io);
  // The whole directory and every NAT log are checked before anything is opened or written.
  const ctx = await loadRunContext(loaded.ruleSet, o, stderrNote(io));
  const { ruleSet, directory, nat, radius, power, nets } = ctx;
  const db = openReport(o.db);
  let removedRuns: DeadRun[];
  try {
    removedRuns = reapDeadRuns(db);
  } catch (e) {
    db.close();
    if (!isWriteFailure(e)) throw e;
    throw writeFailed(o.db, e, 'removing what a killed run wrote');
  }
  for (const r of removedRuns)
    io.err(`minerwatch: ${describeDeadRun(o.db, r)}\n`);
  // Daily operation: an input already complete in the report (same sha256) is not scanned again; an
  // input the report holds only in part (interrupted, failed, removed) is scanned again and its new
  // rows replace the old ones when the run closes.
  const { bySha: known, sizes: knownSizes } = completeInputs(db);
  const partial = partialInputs(db);
  // Earlier interrupted reads of standard input: this read hashes its first bytes to as many, to tell whether it holds them.
  const stdinParts = partial.filter((r) => r.path === '-' && r.sha256 !== null && (r.size ?? 0) > 0);
  const supersedes = new Map<number, number[]>();
  // Another live scan reading the same file: not read beside it (the two would count it twice).
  const elsewhere = inputsBeingRead(db);
  const paths: string[] = [];
  let alreadyIn = 0;
  let skippedBusy = 0;
  const named = distinctInputs(expandInputs(inputs), io);
  // Identical content has the same size: only inputs that share a size with another one named, or
  // with an input the report holds complete, are hashed before the scan (any, when the report holds
  // inputs in part). A new capture of a size the report has not seen is read at once, not hashed
  // first: its sha256 is taken as it is read, on the other core, as into a new report.
  const sizes = new Map<number, number>();
  for (const x of named) if (x.size !== null) sizes.set(x.size, (sizes.get(x.size) ?? 0) + 1);
  const seen = new Map<string, string>();
  for (const { path: p, size } of named) {
    let sha: string | null = null;
    if (p !== '-' && size !== null && (knownSizes === null || knownSizes.has(size) || partial.length > 0 || (sizes.get(size) ?? 0) > 1)) {
      const h = await hashFileInWorker(p).catch(() => null);
      sha = h?.sha256 ?? null;
      if (sha && known.has(sha)) {
        alreadyIn++;
        io.err(`minerwatch: ${p}: already in ${o.db} (sha256 ${sha.slice(0, 16)}…), not scanned again\n`);
        continue;
      }
      const twin = sha ? seen.get(sha) : undefined;
      if (twin !== undefined) {
        io.err(`minerwatch: ${p}: same content as ${twin} (sha256 ${sha!.slice(0, 16)}…), read once\n`);
        continue;
      }
      if (sha) seen.set(sha, p);
    }
    const busy = p === '-' ? undefined : elsewhere.find((r) => (sha !== null && r.sha256 === sha) || r.path === p);
    if (busy) {
      io.err(`minerwatch: ${p}: run ${busy.run} (process ${busy.pid ?? '?'} on ${busy.host ?? '?'}) is reading it into ${o.db} now; not scanned beside it: run the command again once that run ends\n`);
      skippedBusy++;
      continue;
    }
    const olds = p === '-' ? [] : partial.filter((r) => (sha !== null && r.sha256 === sha) || r.path === p);
    if (olds.length) io.err(`minerwatch: ${p}: ${o.db} holds it only in part; scanning it again (its earlier rows are replaced when this run closes)\n`);
    paths.push(p);
  }
  if (paths.length === 0 && skippedBusy > 0 && alreadyIn === 0) {
    db.close();
    return 1;
  }
  if (paths.length === 0 && alreadyIn > 0) {
    // Nothing new to scan: evidence, mappings and readings given now re-decide the report.
    const given = rescoreGiven(o);
    if (!given.length) {
      // The documented totals, as for a run: this run's flows (none), the report's subscribers.
      const subscribers = subscriberCount(db);
      const json = o.json ? nothingNewJson(db, o.db, alreadyIn, removedRuns) : null;
      db.close();
      io.out(json ? JSON.stringify({ ...json, subscribers }, null, 2) + '\n' : `all ${alreadyIn} input(s) already in ${o.db}: nothing to do\n`);
      return skippedBusy > 0 ? 1 : 0;
    }
    try {
      return await rescoreOpenReport(db, o, ctx, io, alreadyIn, removedRuns);
    } finally {
      db.close();
    }
  }
  const subs = new SubscriberMap(nets, directory, nat, radius);
  let writer: ReportWriter;
  try {
    writer = new ReportWriter(db, {
      toolVersion: toolVersion(),
      rulesetDigest: ruleSet.digest,
      rules: ruleSet.payload.map((r) => `${r.id}@${r.rev}`).join(','),
      algorithms: ruleSet.algorithms,
      policy: ruleSet.policy,
      options: {
        subscriberNets: o.subscriberNet,
        idleTimeout: o.idleTimeout,
        activeTimeout: o.activeTimeout,
        maxFlows: o.maxFlows,
        lenientRules: !!o.lenientRules,
        collectorPorts: o.collectorPort,
        exports: o.exports,
        joinGap: o.joinGap,
        keepFlows: o.keepFlows,
        dnsLogs: o.dnsLog ?? [],
        intel: ctx.intel.map((x) => ({ path: x.path, kind: x.kind, entries: x.entries, sha256: x.sha256 ?? null })),
      },
    });
    if (directory && o.subscribers) writer.writeDirectory(directory.entries, o.subscribers);
    if (power && o.power) writePowerReadings(db, power, o.power);
  } catch (e) {
    db.close();
    if (!isWriteFailure(e)) throw e;
    throw writeFailed(o.db, e, 'starting the run');
  }
  const inputIds: number[] = [];
  let failed = 0;
  let anomalies = 0;
  const sizeOf = new Map(named.map((x) => [x.path, x.size]));
  const workers = scanWorkers(o.workers, paths.map((p) => ({ path: p, size: sizeOf.get(p) ?? null })));
  const inputSizes = paths.map((p) => sizeOf.get(p) ?? null);
  const total = inputSizes.every((x) => x !== null) ? inputSizes.reduce<number>((a, b) => a + b!, 0) : null;
  let stage: string | null = null;
  // Per worker (one without workers), the counters of src/pipeline.ts; set only when the line is shown.
  let counters: Float64Array | undefined;
  const line = await startProgress(io, {
    label: 'scan',
    quiet: o.quiet,
    sample: () => scanProgress(counters, workers, paths.length, total, stage),
  });
  if (line.shown) counters = new Float64Array(new SharedArrayBuffer(workers * SCAN_PROGRESS.slots * Float64Array.BYTES_PER_ELEMENT));
  io = line.io;
  // SIGINT/SIGTERM: stop reading, classify and write what was read, close the run cleanly; a second
  // signal quits at once, the run marked abandoned so the next scan removes what it wrote.
  const stop = stopOnSignals({
    first: (sig) => io.err(`minerwatch: ${sig}: finishing the flows read so far (again to quit at once)\n`),
    lastWords: () => markRun(db, writer.runId, 'abandoned'),
  });
  try {
    const hooks: ScanHooks = {
        beginInput: (idx, path) => {
          inputIds[idx] = writer.addInput(path);
        },
        endInput: (idx, info, counts, a, error) => {
          writer.finishInput(inputIds[idx]!, info, counts, error);
          const prefix = info?.prefixSha256;
          if (prefix) {
            const held = stdinParts.filter((r) => prefix[r.size!] === r.sha256).map((r) => r.id);
            if (held.length) {
              supersedes.set(inputIds[idx]!, held);
              io.err(`minerwatch: standard input: begins with the ${held.length} interrupted read(s) of standard input ${o.db} holds; their rows are replaced when this run closes\n`);
            }
          }
          writer.writeAnomalies(inputIds[idx]!, a);
          anomalies += a.total;
          if (error) {
            failed++;
            io.err(`minerwatch: ${error}\n`);
          }
        },
        decodeAnomalies: (idx, a) => {
          writer.writeAnomalies(inputIds[idx]!, a);
          anomalies += a.total;
        },
    };
    if (o.workers !== undefined && o.workers > 1 && paths.includes('-')) io.err('minerwatch: --workers: standard input is read by one worker\n');
    const summary =
      workers > 1
        ? await scanInWorkers({
            paths,
            o,
            workers,
            signal: stop.signal,
            hooks,
            progress: counters,
            batch: (b) => {
              remapInputs(b, inputIds);
              writer.addPacked(b);
            },
            room: () => writer.room(),
          }).then((s) => ({
            ...s,
            // The workers decided each flow; after the run this thread adds up evidence over the
            // report with the same rules. That pass reads the evidence the workers stored and never
            // looks a lookup up, so the resolver logs (each worker's, read in full) are not read here.
            classifier: new Classifier(ruleSet),
          }))
        : await scanInputs(
            paths,
            ruleSet,
            (f, v, idx) => {
              if (!keepFlow(o.keepFlows, f.source, v.label)) return;
              const who = subs.resolve(f);
              writer.addFlow(f, v, inputIds[idx] ?? null, who.subscriber, who.nat);
            },
            // Between chunks the scan waits (without blocking) for the writer's room, so a signal is heard.
            { ...scanOptionsOf(o, stop.signal), stdinPrefixes: stdinParts.map((r) => r.size!), progress: counters, pace: () => writer.room() },
            hooks,
          );
    failed += reportDnsLogs(summary.dnsLogs, io);
    stage = 'writing the report';
    line.draw();
    // The last batches are committed before the close, waited for so that a second signal meanwhile
    // quits at once (the run abandoned) instead of being heard once the run has closed.
    await writer.drained();
    let added: RedecideResult | null = null;
    const tied = new Map<number, number[]>();
    for (const group of summary.ties) {
      const ids = group.map((i) => inputIds[i]!).filter((x) => x !== undefined);
      for (const id of ids) tied.set(id, ids.filter((x) => x !== id));
    }
    writer.finish(
      { packets: summary.packets, anomalies, interrupted: summary.interrupted },
      policyRedecide(ruleSet.policy),
      (d, subscribers, known) => (added = redecideReport(d, summary.classifier, { recompute: false, subscribers, known })),
      {
        interrupted: new Map(summary.incomplete.map((x) => [inputIds[x.index]!, x.note])),
        tied,
        supersedes,
        settle: { context: settleContext(toolVersion(), ruleSet.digest, ctx.intel), allRows: !!(directory && o.subscribers) || !!(power && o.power) },
      },
    );
    line.stop();
    for (const r of writer.rolledBack) {
      alreadyIn++;
      io.err(`minerwatch: ${r.path === '-' ? 'standard input' : r.path}: already in ${o.db} (sha256 ${r.sha256.slice(0, 16)}…, as ${r.sameAs}): its rows were rolled back\n`);
    }
    const incomplete = incompleteInputs(db);
    // This run's own failures and interruption are said above and in its last line; others' here.
    const older = incomplete.filter((x) => x.run !== writer.runId);
    if (older.length) {
      io.err(`minerwatch: warning: ${o.db} also holds ${older.length} incomplete input(s) from earlier runs:\n`);
      for (const x of older.slice(0, 20)) io.err(`  ${describeIncomplete(x)}\n`);
      if (older.length > 20) io.err(`  … and ${older.length - 20} more\n`);
    }
    const subscribers = subscriberCount(db);
    // As the report holds them after the close (adding up may have raised flows), not as first classified.
    const miningFlows = runMiningFlows(db, writer.runId);
    if (o.json) {
      io.out(
        JSON.stringify(
          {
            db: o.db,
            run: writer.runId,
            rulesetDigest: ruleSet.digest,
            inputs: summary.inputs,
            flows: summary.flows,
            miningFlows,
            evictedFlows: summary.evictedFlows,
            subscribers,
            alreadyInReport: alreadyIn,
            exportStats: summary.exportStats,
            peerChanges: writer.peerChanges,
            dnsBindings: summary.dnsBindings,
            dnsLogs: summary.dnsLogs,
            resolverLog: summary.resolverStats,
            addedUp: added,
            settledSubscribers: writer.settledSubscribers,
            interrupted: summary.interrupted,
            rolledBack: writer.rolledBack.map((r) => ({ path: r.path, sha256: r.sha256, sameAs: r.sameAs })),
            replacedInputs: writer.replaced,
            removedRuns,
            incompleteInputs: incomplete.map((x) => ({ run: x.run, path: x.path, status: x.status, runStatus: x.runStatus, note: x.note, error: x.error })),
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      for (const i of summary.inputs) {
        const an = Object.entries(i.anomalies).map(([k, n]) => `${k}=${n}`).join(' ');
        io.out(
          i.error
            ? `${i.path}: not read (${notReadWhy(i.path, i.error)})\n`
            : `${i.path}: ${i.format ?? "stopped before its format was recognised"}, ${readText(i)}, ${i.flows} flows${an ? `, anomalies: ${an}` : ''}\n`,
        );
      }
      io.out(`${summary.flows} flows, ${miningFlows} mining; ${subscribers} subscriber(s) with mining evidence in ${o.db}${summary.interrupted ? ' (interrupted: inputs read in part)' : ''}\n`);
    }
  } catch (e) {
    if (!isWriteFailure(e)) throw e;
    try {
      markRun(db, writer.runId, 'failed');
    } catch {
      // Not even that fits: the next scan finds the run's process gone and removes it all the same.
    }
    throw writeFailed(o.db, e, `writing run ${writer.runId}`);
  } finally {
    line.stop();
    writer.abandon();
    await stop.release();
    db.close();
  }
  return failed > 0 || skippedBusy > 0 || stop.signal.aborted ? 1 : 0;
}

/**
 * What the progress line of a scan shows, from each worker's counters (src/pipeline.ts): every
 * worker reads every input, so the slowest one says how much is read; each keeps its own flows.
 */
function scanProgress(counters: Float64Array | undefined, workers: number, inputs: number, total: number | null, stage: string | null): ProgressSample {
  const S = SCAN_PROGRESS;
  let bytes = Infinity;
  let records = Infinity;
  let done = Infinity;
  let flows = 0;
  let mining = 0;
  for (let k = 0; k < workers; k++) {
    const at = k * S.slots;
    bytes = Math.min(bytes, counters?.[at + S.bytes] ?? 0);
    records = Math.min(records, counters?.[at + S.records] ?? 0);
    done = Math.min(done, counters?.[at + S.inputsDone] ?? 0);
    flows += counters?.[at + S.flows] ?? 0;
    mining += counters?.[at + S.miningFlows] ?? 0;
  }
  return {
    done: bytes,
    // Standard input's size is known once it is read.
    total: total ?? (stage !== null ? bytes : null),
    unit: 'bytes',
    stage: stage ?? (inputs > 1 ? `input ${Math.min(done + 1, inputs)} of ${inputs}` : undefined),
    found: [`${records} packets/records`, `${flows} flows`, `${mining} mining`],
  };
}

/** SQLite could not write the report file (full, I/O, made read-only, locked for too long). */
function isWriteFailure(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|CORRUPT|NOTADB)/.test(code);
}

/** The clear error for a report that could not be written part-way. */
function writeFailed(db: string, e: unknown, doing: string): ReportError {
  const code = String((e as { code?: unknown }).code ?? '');
  if (/^SQLITE_(BUSY|LOCKED)/.test(code))
    return new ReportError(
      `cannot write report ${db} (${doing}): another process held it locked for over two minutes (${(e as Error).message}). What was committed before stays consistent; this run is marked failed and the next scan into ${db} removes what it wrote: run the same command again`,
    );
  return new ReportError(
    `cannot write report ${db} (${doing}): ${(e as Error).message}. What was committed before stays consistent; this run is marked failed and the next scan into ${db} removes what it wrote: free space (or fix the file system) and run the same command again`,
  );
}

/** The options that re-decide a report whose inputs are all in it already. */
function rescoreGiven(o: Partial<ScanCliOptions>): string[] {
  const given: string[] = [];
  if (o.dnsLog?.length) given.push('--dns-log');
  if (o.intel?.length) given.push('--intel');
  if (o.subscribers) given.push('--subscribers');
  if (o.natLog?.length || o.natDeterministic?.length || o.natIpfix?.length) given.push('--nat-*');
  if (o.radius?.length) given.push('--radius');
  if (o.power) given.push('--power');
  return given;
}

/**
 * `scan --json`'s documented keys when no input was new: this run read nothing (no run, no flows,
 * nothing rolled back, replaced or added up), and the report's incomplete inputs and the dead runs
 * removed at the start are said as after any scan.
 */
function nothingNewJson(db: Database.Database, path: string, alreadyIn: number, removedRuns: readonly DeadRun[]): Record<string, unknown> {
  return {
    db: path,
    run: null,
    alreadyInReport: alreadyIn,
    inputs: [],
    flows: 0,
    miningFlows: 0,
    evictedFlows: 0,
    addedUp: null,
    settledSubscribers: null,
    interrupted: false,
    rolledBack: [],
    replacedInputs: 0,
    removedRuns,
    incompleteInputs: incompleteInputs(db).map((x) => ({ run: x.run, path: x.path, status: x.status, runStatus: x.runStatus, note: x.note, error: x.error })),
  };
}

/** An input's error without the path it starts with, for a line that names the path first. */
function notReadWhy(path: string, error: string): string {
  return error.startsWith(`${path}: `) ? error.slice(path.length + 2) : error;
}

async function rescoreOpenReport(db: Database.Database, o: Partial<ScanCliOptions> & { db: string }, src: RunContext, io: Io, alreadyIn: number, removedRuns: readonly DeadRun[] = []): Promise<number> {
  const classifier = new Classifier(src.ruleSet);
  const logs = await loadResolverLogs(classifier, o.dnsLog ?? []);
  const failed = reportDnsLogs(logs, io);
  const remap = src.directory || src.nat || src.radius;
  const nets = remap && !o.subscriberNet?.length ? parseSubscriberNets(lastRunNets(db)) : src.nets;
  const r = rescoreReport(db, {
    classifier,
    // Given now, even when they bound or listed nothing: their evidence is worked out again from them alone.
    given: { dnsLogs: (o.dnsLog?.length ?? 0) > 0, intel: (o.intel?.length ?? 0) > 0 },
    subscribers: remap ? new SubscriberMap(nets, src.directory, src.nat, src.radius) : null,
    directory: src.directory && o.subscribers ? { entries: src.directory.entries, source: o.subscribers } : null,
    power: src.power && o.power ? { readings: src.power, source: o.power } : null,
  });
  const subscribers = subscriberCount(db);
  const what = rescoreGiven(o).join(', ');
  if (o.json)
    io.out(JSON.stringify({ ...nothingNewJson(db, o.db, alreadyIn, removedRuns), subscribers, rescored: { given: what, ...r, subscribers, dnsLogs: logs, resolverLog: classifier.resolver?.stats ?? null } }, null, 2) + '\n');
  else
    io.out(
      `${alreadyIn ? `all ${alreadyIn} input(s) already in ${o.db}; ` : ''}re-decided with ${what || 'the rules alone'}: ${r.flows} flow(s) looked at, ${r.changed} changed verdict, ${r.remapped} mapped to another subscriber; ${subscribers} subscriber(s) with mining evidence\n`,
    );
  return failed ? 1 : 0;
}

/** What `minerwatch rescore` takes: the scan's evidence, mapping and reading options, no inputs. */
export type RescoreCliOptions = Pick<
  ScanCliOptions,
  'db' | 'rules' | 'lenientRules' | 'json' | 'subscriberNet' | 'subscribers' | 'power' | 'natLog' | 'natDeterministic' | 'natIpfix' | 'radius' | 'dnsLog' | 'intel'
>;

/** `minerwatch rescore`: re-decide an existing report with the evidence, mappings and readings given now. */
export async function runRescore(o: RescoreCliOptions, io: Io): Promise<number> {
  if (!existsSync(o.db)) throw new UsageError(`no report at ${o.db}; run minerwatch scan first`);
  const loaded = loadRulesForScan(o.rules, o.lenientRules ?? false, io);
  const ctx = await loadRunContext(loaded.ruleSet, o, stderrNote(io));
  const db = openReport(o.db);
  try {
    // What a killed scan wrote is not evidence: removed before anything is decided again.
    const removed = reapDeadRuns(db);
    for (const r of removed) io.err(`minerwatch: ${describeDeadRun(o.db, r)}\n`);
    return await rescoreOpenReport(db, o, ctx, io, 0, removed);
  } finally {
    db.close();
  }
}

/** What an input yielded, in its own units: packets for captures, records for flow exports, both for captures of export datagrams. */
function readText(i: { packets: number; records: number; exportPackets: number }): string {
  if (i.records === 0) return `${i.packets} packets`;
  if (i.packets === 0) return `${i.records} records`;
  return `${i.packets} packets (${i.exportPackets} carrying flow exports: ${i.records} records)`;
}
