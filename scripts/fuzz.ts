/**
 * `npm run fuzz`: seeded mutation fuzzing of every reader (tests/support/fuzz.ts), each target on a
 * worker thread with a per-case time limit: a case that runs longer is a hang, and the worker is
 * replaced so the run goes on. Prints cases, rate, anomalies by code, uncaught exceptions, hangs
 * and silent rejections per target; exits 1 when any of the last three is not 0.
 *
 *   MINERWATCH_FUZZ_CASES=100000 (per reader, default) MINERWATCH_FUZZ_RULE_CASES=10000
 *   MINERWATCH_FUZZ_DB_CASES (report files; default: as per reader) MINERWATCH_FUZZ_SEED=1
 *   MINERWATCH_FUZZ_CASE_MS=2000 MINERWATCH_FUZZ_WORKERS=2 MINERWATCH_FUZZ_TARGETS=pcap,dnstap
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fuzzTargets, mutate, runCase } from '../tests/support/fuzz.js';
import { mulberry32 } from '../tests/support/random.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/scripts -> repository root. */
const ROOT = resolve(HERE, '..', '..');
const CORPUS = resolve(ROOT, '..', 'shared', 'corpus');

interface Job {
  target: string;
  from: number;
  to: number;
  seed: number;
  /** [index of the case running, Date.now() when it started]; 0 start time: between cases. */
  clock: SharedArrayBuffer;
}

/** Progress a worker reports: the case it is on, so the parent can time it. */
type FromWorker =
  | { type: 'failure'; index: number; kind: 'uncaught' | 'silent'; what: string; message: string }
  | { type: 'done'; cases: number; rejected: number; anomalies: Record<string, number> };

function caseSeed(seed: number, target: string, index: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const c of `${target}#${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

async function worker(): Promise<void> {
  const job = workerData as Job;
  const t = (await fuzzTargets(ROOT, CORPUS)).find((x) => x.name === job.target)!;
  const anomalies: Record<string, number> = {};
  const clock = new Float64Array(job.clock);
  let rejected = 0;
  for (let i = job.from; i < job.to; i++) {
    // Each case is reproducible from (seed, target, index) alone.
    const rnd = mulberry32(caseSeed(job.seed, job.target, i));
    const seed = t.seeds[Math.floor(rnd() * t.seeds.length)]!;
    const m = i === job.from && job.from === 0 ? { bytes: seed, what: ['seed'] } : mutate(seed, rnd, t.text);
    clock[0] = i;
    clock[1] = Date.now();
    const r = await runCase(t, m.bytes);
    clock[1] = 0;
    if (r.kind === 'uncaught' || r.kind === 'silent') parentPort!.postMessage({ type: 'failure', index: i, kind: r.kind, what: m.what.join(' '), message: r.message.slice(0, 2000) } satisfies FromWorker);
    else if (r.kind === 'ok' || r.kind === 'rejected') {
      if (r.kind === 'rejected') rejected++;
      for (const [k, n] of r.anomalies) anomalies[k] = (anomalies[k] ?? 0) + n;
    }
  }
  parentPort!.postMessage({ type: 'done', cases: job.to - job.from, rejected, anomalies } satisfies FromWorker);
}

interface Totals {
  cases: number;
  rejected: number;
  uncaught: string[];
  silent: string[];
  hangs: string[];
  anomalies: Record<string, number>;
  ms: number;
}

/** Run cases [from, to) of a target; on a hang, record it and go on after the hung case. */
function runJob(job: Omit<Job, 'clock'>, caseMs: number, totals: Totals): Promise<void> {
  return new Promise((done) => {
    const clock = new SharedArrayBuffer(16);
    const view = new Float64Array(clock);
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { ...job, clock } satisfies Job });
    let finished = false;
    let doneCases = 0;
    const timer = setInterval(() => {
      const started = view[1]!;
      if (started > 0 && Date.now() - started > caseMs) {
        finished = true;
        clearInterval(timer);
        void w.terminate();
        const at = view[0]!;
        totals.hangs.push(`${job.target} #${at} (seed ${job.seed}): still running after ${Date.now() - started} ms`);
        totals.cases += at - job.from + 1;
        if (at + 1 < job.to) void runJob({ ...job, from: at + 1 }, caseMs, totals).then(done);
        else done();
      }
    }, 50);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'failure') {
        (m.kind === 'uncaught' ? totals.uncaught : totals.silent).push(`${job.target} #${m.index} (seed ${job.seed}) ${m.what}: ${m.message}`);
      } else {
        doneCases = m.cases;
        totals.cases += m.cases;
        totals.rejected += m.rejected;
        for (const [k, n] of Object.entries(m.anomalies)) totals.anomalies[k] = (totals.anomalies[k] ?? 0) + n;
      }
    });
    const end = (): void => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      done();
    };
    w.on('error', (e) => {
      totals.uncaught.push(`${job.target} worker from ${view[0]}: ${e.stack ?? String(e)}`);
      if (!doneCases) totals.cases += view[0]! - job.from;
      end();
    });
    w.on('exit', end);
  });
}

async function main(): Promise<number> {
  const env = process.env;
  const perTarget = Number(env.MINERWATCH_FUZZ_CASES ?? 100_000);
  // Rule files compile ~100 a second per core (the YAML parser and validators); fewer by default.
  const ruleCases = Number(env.MINERWATCH_FUZZ_RULE_CASES ?? 10_000);
  // A report case writes a file and runs three commands and a write-mode open (~10 ms).
  const dbCases = Number(env.MINERWATCH_FUZZ_DB_CASES ?? perTarget);
  const seed = Number(env.MINERWATCH_FUZZ_SEED ?? 1);
  const caseMs = Number(env.MINERWATCH_FUZZ_CASE_MS ?? 2_000);
  const workers = Number(env.MINERWATCH_FUZZ_WORKERS ?? Math.max(1, Math.min(availableParallelism(), 4)));
  const only = env.MINERWATCH_FUZZ_TARGETS?.split(',');
  const targets = (await fuzzTargets(ROOT, CORPUS)).filter((t) => !only || only.includes(t.name));
  console.log(`minerwatch fuzz: ${perTarget} cases per reader (${ruleCases} for rule files, ${dbCases} for report files), seed ${seed}, ${caseMs} ms per case, ${workers} worker(s)`);
  let bad = 0;
  const rows: string[] = [];
  for (const t of targets) {
    if (!t.seeds.length) {
      console.log(`${t.name}: skipped, no seeds (the NetFlow/IPFIX and nfdump CSV seeds come from ${CORPUS})`);
      continue;
    }
    const totals: Totals = { cases: 0, rejected: 0, uncaught: [], silent: [], hangs: [], anomalies: {}, ms: 0 };
    const start = Date.now();
    const n = t.name === 'rule-files' ? ruleCases : t.name === 'report-db' ? dbCases : perTarget;
    const slice = Math.ceil(n / workers);
    const jobs: Promise<void>[] = [];
    for (let k = 0; k < workers; k++) {
      const from = k * slice;
      const to = Math.min(n, from + slice);
      if (from < to) jobs.push(runJob({ target: t.name, from, to, seed }, caseMs, totals));
    }
    await Promise.all(jobs);
    totals.ms = Date.now() - start;
    const rate = totals.cases / (totals.ms / 1000);
    const top = Object.entries(totals.anomalies)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    rows.push(`| ${t.name} | ${t.seeds.length} | ${totals.cases} | ${rate.toFixed(0)}/s | ${totals.rejected} | ${totals.uncaught.length} | ${totals.hangs.length} | ${totals.silent.length} |`);
    console.log(`${t.name}: ${totals.cases} cases from ${t.seeds.length} seeds in ${(totals.ms / 1000).toFixed(1)} s (${rate.toFixed(0)}/s); rejected ${totals.rejected}; uncaught ${totals.uncaught.length}, hangs ${totals.hangs.length}, silent ${totals.silent.length}`);
    console.log(`  anomalies: ${top || 'none'}`);
    for (const f of [...totals.uncaught, ...totals.hangs, ...totals.silent].slice(0, 5)) console.log(`  FAIL ${f}`);
    bad += totals.uncaught.length + totals.hangs.length + totals.silent.length;
  }
  console.log('\n| target | seeds | cases | rate | rejected | uncaught | hangs | silent |\n|---|---|---|---|---|---|---|---|\n' + rows.join('\n'));
  return bad ? 1 : 0;
}

if (!isMainThread) await worker();
else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main();
