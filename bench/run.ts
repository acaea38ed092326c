/**
 * `npm run bench`: cases chosen with BENCH_CASES=capture,exports,report (default capture,exports).
 *
 * - capture: generates (once, deterministically) a ≥1 GiB mixed capture under bench/data, runs
 *   `minerwatch scan` on it end to end (SQLite report included) in a child process, and reports
 *   MB/s, packets/s and peak memory; runs Debian's ndpiReader on the same file when installed.
 * - flows: the same on a capture with a subscriber link's flow counts (more than 80,000 flows per
 *   GB: short DNS/UDP exchanges, TCP sessions of a few packets), where per-flow costs dominate.
 * - exports: generates (once) the same ≥5 M flow records as NetFlow v9 and IPFIX datagrams in
 *   captures and as nfdump CSV (bench/gen-exports.ts), scans each end to end and reports records/s
 *   against the targets (2 M records/s for the binary formats, 500 k rows/s for CSV).
 * - decode: the same files read and decoded only (no flow table, classifier or report; see
 *   bench/decode.ts), to tell the input side of the exports case from the rest.
 * - table: the NetFlow v9 file's records, decoded once into memory, given to the flow table alone
 *   (no decoder, classifier or report in the timed part; bench/table.ts).
 *
 * - files: the exports case's NetFlow v9 capture cut into BENCH_FILES files (default 288, a day of
 *   five-minute rotations), scanned as a folder against the one file, in alternating runs: what
 *   each input costs beyond its records (bench/files.ts).
 * - rotated: the same parts scanned one run each into one growing report, side by side with a report
 *   whose every close settles the whole report; the two reports compared (bench/rotated.ts).
 *   BENCH_ROTATED_FILES takes only the first parts.
 * - nfcapd: the exports case's NetFlow v9 datagrams replayed into Debian's nfcapd (LZ4) once, then
 *   nfdump's own read of that file (`nfdump -r FILE -q -o null`, `-o csv`) and `minerwatch scan FILE` side by
 *   side, records/s and max RSS (bench/nfcapd.ts).
 * - kafka: a real Kafka broker; a capture's flows published as GoFlow2 messages, then read by
 *   consumer groups of 1, 2 and 3 members (bench/kafka.ts).
 * Options via environment: BENCH_CASES, BENCH_BYTES (default 1 GiB), BENCH_RUNS (default 3),
 * BENCH_EXPORT_RECORDS (default 5 000 000), BENCH_WORKERS (worker counts of the capture and export
 * cases' scans, default 1 and the number of cores).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { generateBenchCapture, type CaptureProfile } from './gen-capture.js';
import { reportCase } from './report.js';
import { decodeOnly } from './decode.js';
import { tableOnly } from './table.js';
import { kafkaCase } from './kafka.js';
import { nfcapdCase } from './nfcapd.js';
import { splitFolder } from './files.js';
import { rotatedCase } from './rotated.js';
import { EXPORT_BENCH_VERSION, generateExportBench, type ExportBenchStats } from './gen-exports.js';
import { generateDnsLogBench } from './gen-dnslog.js';

const ROOT = process.cwd();
const DATA = join(ROOT, 'bench', 'data');
const BYTES = Number(process.env.BENCH_BYTES ?? 1 << 30);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const EXPORT_RECORDS = Number(process.env.BENCH_EXPORT_RECORDS ?? 5_000_000);
const EXPORT_SEED = 20261101;
const CASES = new Set((process.env.BENCH_CASES ?? 'capture,exports').split(',').map((c) => c.trim()).filter(Boolean));
for (const c of CASES) if (!['capture', 'flows', 'exports', 'files', 'rotated', 'report', 'decode', 'table', 'dnslog', 'kafka', 'nfcapd'].includes(c)) throw new Error(`BENCH_CASES: unknown case ${c} (capture, flows, exports, files, rotated, decode, table, report, dnslog, kafka, nfcapd)`);
/** What the kafka case publishes (BENCH_KAFKA_INPUT): by default the flows case's capture of 400 MB. */
const KAFKA_INPUT = process.env.BENCH_KAFKA_INPUT ?? join(DATA, 'subscriber-400000000.pcap');
const DNSLOG_LOOKUPS = Number(process.env.BENCH_DNSLOG_LOOKUPS ?? 10_000_000);

/** Worker counts the capture and export cases run `scan` with (BENCH_WORKERS, default: 1 and the cores). */
const WORKERS = [...new Set((process.env.BENCH_WORKERS ?? `1,${availableParallelism()}`).split(',').map((w) => Math.max(1, Number(w) | 0)))];
const scanTool = (w: number): string => `minerwatch scan (${w} worker${w > 1 ? 's' : ''})`;

mkdirSync(DATA, { recursive: true });

function timed(cmd: string, args: string[]): { seconds: number; maxRssKb: number | null; cpuSeconds: number | null; stdout: string } {
  const haveTime = existsSync('/usr/bin/time');
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M CPU %U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const m = /MAXRSS (\d+)/.exec(r.stderr ?? '');
  const c = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr ?? '');
  return { seconds, maxRssKb: m ? Number(m[1]) : null, cpuSeconds: c ? Number(c[1]) + Number(c[2]) : null, stdout: r.stdout };
}

/**
 * Read a file once, untimed, before its timed runs: each run (whichever tool goes first in the first
 * round) then reads it from the page cache, as every later run does, and not from the disk.
 */
function warm(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

function captureCase(profile: CaptureProfile = 'bulk'): void {
  const capture = join(DATA, profile === 'bulk' ? `mixed-${BYTES}.pcap` : `subscriber-${BYTES}.pcap`);
  const meta = `${capture}.json`;
  if (!existsSync(capture) || !existsSync(meta)) {
    const t0 = process.hrtime.bigint();
    const stats = generateBenchCapture(capture, BYTES, undefined, profile);
    writeFileSync(meta, JSON.stringify({ ...stats, miningClients: stats.miningClients.length }));
    console.log(`generated ${capture}: ${stats.bytes} bytes, ${stats.packets} packets, ${stats.sessions} sessions (${stats.miningSessions} mining) in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
  }
  const gen = JSON.parse(readFileSync(meta, 'utf8')) as { bytes: number; packets: number; sessions: number; miningSessions: number; miningClients: number };
  const size = statSync(capture).size;

  const mb = size / 1e6;
  // CPU seconds (user + system, all threads) beside wall time: on a shared machine the wall time says how busy it was as much as how fast the tool is.
  const results: Array<{ tool: string; seconds: number; mbps: number; pps: number; rssMb: number | null; cpu: number | null }> = [];
  const tools = WORKERS.map((w) => ({ w, tool: scanTool(w) }));
  let ndpi: string | null;
  try {
    ndpi = execFileSync('sh', ['-c', 'command -v ndpiReader'], { encoding: 'utf8' }).trim() || null;
  } catch {
    ndpi = null;
  }
  if (!ndpi) console.log('ndpiReader not installed (Debian package libndpi-bin): no comparison');
  // Rounds alternate the tools (each minerwatch run, then ndpiReader): a shared machine's speed drifts
  // over minutes, and the ratio within a round compares the two under the same conditions.
  const paired: number[] = [];
  warm(capture);
  for (let i = 0; i < RUNS; i++) {
    let oneWorker: number | null = null;
    for (const { w, tool } of tools) {
      const db = join(DATA, 'bench.sqlite');
      for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
      const r = timed(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', capture, '--db', db, '--json', '--workers', String(w)]);
      const j = JSON.parse(r.stdout) as { flows: number; miningFlows: number; subscribers: number; inputs: Array<{ packets: number }> };
      if (j.inputs[0]!.packets !== gen.packets) throw new Error(`scan read ${j.inputs[0]!.packets} packets, generator wrote ${gen.packets}`);
      if (j.subscribers !== gen.miningClients) console.warn(`warning: ${j.subscribers} mining subscribers found, generator made ${gen.miningClients}`);
      results.push({ tool, seconds: r.seconds, mbps: mb / r.seconds, pps: gen.packets / r.seconds, rssMb: r.maxRssKb && r.maxRssKb / 1024, cpu: r.cpuSeconds });
      if (w === 1) oneWorker = r.seconds;
      console.log(`${tool} run ${i + 1}: ${r.seconds.toFixed(2)} s (CPU ${r.cpuSeconds?.toFixed(2) ?? 'n/a'} s), ${(mb / r.seconds).toFixed(0)} MB/s, ${(gen.packets / r.seconds / 1e6).toFixed(2)} Mpackets/s, ${j.flows} flows, ${j.miningFlows} mining, ${j.subscribers} subscribers, max RSS ${r.maxRssKb ? (r.maxRssKb / 1024).toFixed(0) + ' MiB' : 'n/a'}`);
    }
    if (ndpi) {
      const r = timed(ndpi, ['-i', capture, '-q']);
      results.push({ tool: 'ndpiReader -i -q', seconds: r.seconds, mbps: mb / r.seconds, pps: gen.packets / r.seconds, rssMb: r.maxRssKb && r.maxRssKb / 1024, cpu: r.cpuSeconds });
      console.log(`ndpiReader run ${i + 1}: ${r.seconds.toFixed(2)} s (CPU ${r.cpuSeconds?.toFixed(2) ?? 'n/a'} s), ${(mb / r.seconds).toFixed(0)} MB/s`);
      if (oneWorker !== null) paired.push(r.seconds / oneWorker);
    }
  }

  const best = (tool: string) => results.filter((r) => r.tool === tool).sort((a, b) => a.seconds - b.seconds)[0];
  console.log(`\ncapture (${profile}): ${(size / 2 ** 30).toFixed(2)} GiB, ${gen.packets} packets, ${gen.sessions} sessions (${Math.round(gen.sessions / (size / 2 ** 30))} per GiB), ${gen.miningSessions} mining sessions`);
  console.log('tool                           best s   MB/s   Mpkt/s   max RSS MiB   CPU s');
  for (const tool of [...tools.map((t) => t.tool), 'ndpiReader -i -q']) {
    const b = best(tool);
    if (b) console.log(`${tool.padEnd(30)} ${b.seconds.toFixed(2).padStart(6)} ${b.mbps.toFixed(0).padStart(6)} ${(b.pps / 1e6).toFixed(2).padStart(8)} ${b.rssMb ? b.rssMb.toFixed(0).padStart(12) : '         n/a'} ${b.cpu !== null ? b.cpu.toFixed(2).padStart(7) : '    n/a'}`);
  }
  const n = best('ndpiReader -i -q');
  const one = best(scanTool(1));
  for (const { w, tool } of tools) {
    const a = best(tool);
    if (a && n) console.log(`${tool} / ndpiReader throughput: ${(n.seconds / a.seconds).toFixed(2)}x (best of each)${w > 1 && one ? `; speed-up over 1 worker: ${(one.seconds / a.seconds).toFixed(2)}x on ${availableParallelism()} cores` : ''}`);
  }
  if (paired.length) {
    const sorted = [...paired].sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    console.log(`${scanTool(1)} / ndpiReader within each round: ${paired.map((x) => `${x.toFixed(2)}x`).join(', ')}; median ${median.toFixed(2)}x`);
  }
}

interface ExportFiles {
  stats: ExportBenchStats;
  files: Array<{ label: string; path: string; kind: 'binary' | 'csv' }>;
}

/** Generate the export files once; reuse them while their meta file matches size, seed and generator version. */
function exportFiles(): ExportFiles {
  const files: ExportFiles['files'] = [
    { label: 'NetFlow v9 pcap', path: join(DATA, 'exports-v9.pcap'), kind: 'binary' },
    { label: 'IPFIX pcap', path: join(DATA, 'exports-ipfix.pcap'), kind: 'binary' },
    { label: 'nfdump CSV', path: join(DATA, 'exports.csv'), kind: 'csv' },
  ];
  const meta = join(DATA, 'exports.json');
  type Meta = ExportBenchStats & { target: number };
  let m: Meta | null = null;
  try {
    m = JSON.parse(readFileSync(meta, 'utf8')) as Meta;
  } catch {
    m = null;
  }
  const sizesMatch = (x: Meta): boolean =>
    files.every((f) => existsSync(f.path)) &&
    statSync(files[0]!.path).size === x.v9Bytes &&
    statSync(files[1]!.path).size === x.ipfixBytes &&
    statSync(files[2]!.path).size === x.csvBytes;
  if (!m || m.target !== EXPORT_RECORDS || m.seed !== EXPORT_SEED || m.version !== EXPORT_BENCH_VERSION || !sizesMatch(m)) {
    rmSync(meta, { force: true });
    const t0 = process.hrtime.bigint();
    const stats = generateExportBench(DATA, EXPORT_RECORDS, EXPORT_SEED);
    m = { ...stats, target: EXPORT_RECORDS };
    writeFileSync(meta, JSON.stringify(m, null, 1));
    console.log(
      `generated exports: ${stats.records} records (${stats.conversations} conversations, ${stats.subscribers} subscribers, ${stats.servers} servers, ` +
        `${stats.miningSessions} mining sessions from ${stats.miningClients} clients, ${stats.miningRecords} mining records); ` +
        `v9 ${stats.v9Datagrams} datagrams ${(stats.v9Bytes / 1e6).toFixed(0)} MB, IPFIX ${stats.ipfixDatagrams} datagrams ${(stats.ipfixBytes / 1e6).toFixed(0)} MB, ` +
        `CSV ${(stats.csvBytes / 1e6).toFixed(0)} MB in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`,
    );
  }
  // The 40 pool servers, as an operator's intel would list them (minerwatch intel resolve of the
  // pools' names the day before): dated IP:port entries in an intel folder scans load with --intel.
  mkdirSync(INTEL, { recursive: true });
  const entries = m.miningServers
    .flatMap((ip) => m!.miningPorts.map((port) => ({ ip, port })))
    .sort((a, b) => ipNumber(a.ip) - ipNumber(b.ip) || a.port - b.port)
    .map((e) => `  - { ip: "${e.ip}", port: ${e.port}, pool: "bench pool" }`);
  writeFileSync(
    join(INTEL, 'bench-pools.yaml'),
    `source: "bench/gen-exports.ts: the pool servers of the generated mining sessions"\nadded: ${new Date(m.firstMs - 86_400_000).toISOString().slice(0, 10)}\nkind: pool\nentries:\n${entries.join('\n')}\n`,
  );
  return { stats: m, files };
}

const INTEL = join(DATA, 'intel');

function ipNumber(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

interface ExportResult {
  label: string;
  workers: number;
  kind: 'binary' | 'csv';
  records: number;
  seconds: number;
  cpuSeconds: number | null;
  rssMb: number | null;
  flows: number;
  miningFlows: number;
  subscribers: number;
}

/** Records/s end to end on one core: NetFlow v9/IPFIX as issue 11 asks; nfdump CSV as its own issue asked. */
const TARGET = { binary: 2_000_000, csv: 500_000 } as const;

function exportsCase(): ExportResult[] {
  const { stats, files } = exportFiles();
  const span = (stats.lastMs - stats.firstMs) / 3.6e6;
  console.log(
    `\nexports: ${stats.records} records over ${span.toFixed(1)} h, ${stats.subscribers} subscribers, ${stats.miningSessions} mining sessions (${stats.miningClients} clients); ` +
      `v9 ${(stats.v9Bytes / 1e6).toFixed(0)} MB, IPFIX ${(stats.ipfixBytes / 1e6).toFixed(0)} MB, CSV ${(stats.csvBytes / 1e6).toFixed(0)} MB`,
  );
  const db = join(DATA, 'exports.sqlite');
  const best: ExportResult[] = [];
  for (const f of files.flatMap((x) => WORKERS.map((w) => ({ ...x, w, label: w > 1 ? `${x.label}, ${w} workers` : x.label })))) {
    let b: ExportResult | null = null;
    warm(f.path);
    for (let i = 0; i < RUNS; i++) {
      for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
      const r = timed(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', f.path, '--intel', INTEL, '--db', db, '--json', '--workers', String(f.w)]);
      const j = JSON.parse(r.stdout) as { flows: number; miningFlows: number; subscribers: number; inputs: Array<{ records: number; anomalies: Record<string, number> }> };
      const input = j.inputs[0]!;
      if (input.records !== stats.records) console.warn(`warning: ${f.label}: scan read ${input.records} records, generator wrote ${stats.records}`);
      const anomalies = Object.entries(input.anomalies ?? {});
      if (anomalies.length) console.warn(`warning: ${f.label}: anomalies ${anomalies.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      if (j.subscribers !== stats.miningClients) console.warn(`warning: ${f.label}: ${j.subscribers} mining subscribers found, generator made ${stats.miningClients} mining clients`);
      const res: ExportResult = {
        label: f.label,
        workers: f.w,
        kind: f.kind,
        records: input.records,
        seconds: r.seconds,
        cpuSeconds: r.cpuSeconds,
        rssMb: r.maxRssKb && r.maxRssKb / 1024,
        flows: j.flows,
        miningFlows: j.miningFlows,
        subscribers: j.subscribers,
      };
      console.log(
        `${f.label} run ${i + 1}: ${r.seconds.toFixed(2)} s (CPU ${r.cpuSeconds?.toFixed(2) ?? 'n/a'} s), ${(input.records / r.seconds / 1e6).toFixed(2)} M records/s, ` +
          `${j.flows} flows, ${j.miningFlows} mining, ${j.subscribers} subscribers, max RSS ${res.rssMb ? res.rssMb.toFixed(0) + ' MiB' : 'n/a'}`,
      );
      if (!b || res.seconds < b.seconds) b = res;
    }
    if (b) best.push(b);
  }
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });

  // nfdump reads nfcapd files only: its own read of these records is the nfcapd case's (the same
  // NetFlow v9 datagrams replayed into nfcapd, then nfdump and minerwatch on its file side by side).
  console.log(
    CASES.has('nfcapd')
      ? "nfdump's own read of these records: the nfcapd case, below"
      : "nfdump's own read of these records: BENCH_CASES=nfcapd (the NetFlow v9 datagrams replayed into nfcapd, then nfdump -r and minerwatch scan of its file side by side)",
  );
  console.log('\ncase                          records   best s   CPU s   records/s   max RSS MiB   target (one core) or speed-up');
  for (const r of best) {
    const rate = r.records / r.seconds;
    const target = TARGET[r.kind];
    const alone = best.find((x) => x.workers === 1 && x.kind === r.kind && r.label.startsWith(x.label));
    console.log(
      `${r.label.padEnd(27)} ${String(r.records).padStart(9)} ${r.seconds.toFixed(2).padStart(8)} ${(r.cpuSeconds?.toFixed(2) ?? 'n/a').padStart(7)} ` +
        `${(rate / 1e6).toFixed(2).padStart(9)} M ${(r.rssMb ? r.rssMb.toFixed(0) : 'n/a').padStart(13)}   ` +
        (r.workers === 1
          ? `${rate >= target ? 'met' : 'NOT met'} (≥ ${target / 1e6} M/s, ${((100 * rate) / target).toFixed(0)} %)`
          : `${alone ? (alone.seconds / r.seconds).toFixed(2) : '?'}x over 1 worker on ${availableParallelism()} cores`),
    );
  }
  return best;
}

/** One file against the same records cut into many (bench/files.ts), alternating, 1 worker. */
function filesCase(): void {
  const { stats, files } = exportFiles();
  const parts = Math.max(2, Number(process.env.BENCH_FILES ?? 288) | 0);
  const folder = splitFolder(files[0]!.path, join(DATA, `exports-v9-${parts}`), parts);
  console.log(`\nfiles: the NetFlow v9 capture (${stats.records} records) as one file and cut into about ${parts} files`);
  const db = join(DATA, 'files.sqlite');
  const times: Record<'one' | 'many', number[]> = { one: [], many: [] };
  let made = parts;
  for (let i = 0; i < RUNS; i++) {
    for (const [k, input] of [['one', files[0]!.path], ['many', folder]] as const) {
      for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
      const r = timed(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', input, '--intel', INTEL, '--db', db, '--json', '--workers', '1']);
      const j = JSON.parse(r.stdout) as { inputs: Array<{ records: number }>; subscribers: number };
      const records = j.inputs.reduce((a, x) => a + x.records, 0);
      if (records !== stats.records) console.warn(`warning: ${k}: scan read ${records} records, generator wrote ${stats.records}`);
      times[k].push(r.seconds);
      if (k === 'many') made = j.inputs.length;
      console.log(`${k === 'one' ? 'one file' : `${j.inputs.length} files`} run ${i + 1}: ${r.seconds.toFixed(2)} s (CPU ${r.cpuSeconds?.toFixed(2) ?? 'n/a'} s), ${(records / r.seconds / 1e6).toFixed(2)} M records/s, ${j.subscribers} subscribers`);
    }
  }
  // The report of the last run holds the whole folder: scanning it again reads nothing new (a daily
  // scan of a collector's folder finds yesterday's files in the report).
  const again = timed(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', folder, '--intel', INTEL, '--db', db, '--json', '--workers', '1']);
  const aj = JSON.parse(again.stdout) as { inputs: unknown[] };
  console.log(`${made} files again, into the same report: ${again.seconds.toFixed(2)} s (CPU ${again.cpuSeconds?.toFixed(2) ?? 'n/a'} s), ${aj.inputs.length} input(s) read`);
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const one = Math.min(...times.one);
  const many = Math.min(...times.many);
  console.log(`best: one file ${one.toFixed(2)} s, ${made} files ${many.toFixed(2)} s: ${(((many - one) / Math.max(1, made - 1)) * 1000).toFixed(1)} ms per extra input; again ${again.seconds.toFixed(2)} s`);
}

async function decodeCase(): Promise<void> {
  const { stats, files } = exportFiles();
  console.log('\ndecode only (readers and decoders, records counted; no flow table, classifier or report)');
  console.log('case               records   best s   records/s   sha256 alone s');
  for (const f of files) {
    let best: Awaited<ReturnType<typeof decodeOnly>> | null = null;
    for (let i = 0; i < RUNS; i++) {
      const r = await decodeOnly(f.label, f.path);
      if (r.records !== stats.records) console.warn(`warning: ${f.label}: decoded ${r.records} records, generator wrote ${stats.records}`);
      if (!best || r.seconds < best.seconds) best = r;
    }
    if (best) console.log(`${f.label.padEnd(16)} ${String(best.records).padStart(9)} ${best.seconds.toFixed(2).padStart(8)} ${(best.records / best.seconds / 1e6).toFixed(2).padStart(9)} M ${best.hashSeconds.toFixed(2).padStart(16)}`);
  }
}

/** The flow table alone on the NetFlow v9 file's records (bench/table.ts). */
async function tableCase(): Promise<void> {
  const { stats, files } = exportFiles();
  const r = await tableOnly(files[0]!.path, Math.max(1, RUNS));
  if (r.records !== stats.records) console.warn(`warning: table: decoded ${r.records} records, generator wrote ${stats.records}`);
  if (r.flows !== stats.conversations) console.warn(`warning: table: ${r.flows} flows, generator made ${stats.conversations} conversations`);
  const best = Math.min(...r.seconds);
  console.log('\nflow table alone (NetFlow v9 records decoded beforehand; no decoder, classifier or report)');
  console.log(
    `${r.records} records, ${r.flows} flows (${r.passedOver} passed over by the prefilter): best ${best.toFixed(2)} s, ${(r.records / best / 1e6).toFixed(2)} M records/s (runs: ${r.seconds.map((x) => x.toFixed(2)).join(', ')} s)`,
  );
}

/**
 * The NetFlow v9 export case with a resolver log of the same size as a city's day beside it
 * (bench/gen-dnslog.ts: 10 M lookups in dnstap, 0.5 % of them pool names): the log alone, the
 * exports alone and both in one scan, side by side in one run, with max RSS.
 */
function dnslogCase(): void {
  const { stats, files } = exportFiles();
  const v9 = files[0]!;
  const meta = join(DATA, `dnslog-${DNSLOG_LOOKUPS}.json`);
  type Generated = { lookups: number; poolLookups: number; dnstapBytes: number; dnstapPath: string | null };
  let g: Generated | null;
  try {
    g = JSON.parse(readFileSync(meta, 'utf8')) as Generated;
  } catch {
    g = null;
  }
  if (!g?.dnstapPath || !existsSync(g.dnstapPath) || statSync(g.dnstapPath).size !== g.dnstapBytes) {
    const t0 = process.hrtime.bigint();
    g = generateDnsLogBench(DATA, DNSLOG_LOOKUPS, 'dnstap', 20261101, join(ROOT, 'rules'));
    writeFileSync(meta, JSON.stringify(g));
    console.log(`generated ${g.dnstapPath}: ${g.lookups} lookups (${g.poolLookups} of pool names), ${(g.dnstapBytes / 1e6).toFixed(0)} MB in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
  }
  const dnstap = g.dnstapPath!;

  // A one-record NetFlow file stands in for "no exports", so the log's own cost is measured through the same command.
  const empty = join(DATA, 'dnslog-empty.csv');
  writeFileSync(empty, 'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\n');
  const db = join(DATA, 'dnslog.sqlite');
  const runs: Array<{ label: string; args: string[] }> = [
    { label: 'resolver log only', args: [empty, '--intel', INTEL, '--dns-log', dnstap] },
    { label: 'exports only', args: [v9.path, '--intel', INTEL] },
    { label: 'exports + log', args: [v9.path, '--intel', INTEL, '--dns-log', dnstap] },
  ];
  console.log(`\ndnslog: ${g.lookups} lookups (${g.poolLookups} of listed pool names), ${(g.dnstapBytes / 1e6).toFixed(0)} MB dnstap, beside ${stats.records} NetFlow v9 records`);
  const best = new Map<string, { seconds: number; rssMb: number | null; bindings: number | null }>();
  for (let i = 0; i < RUNS; i++) {
    for (const r of runs) {
      for (const x of ['', '-wal', '-shm']) rmSync(db + x, { force: true });
      const t = timed(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', ...r.args, '--db', db, '--json']);
      const j = JSON.parse(t.stdout) as { resolverLog: { bindings: number; listed: number; lookups: number } | null; subscribers: number };
      const rssMb = t.maxRssKb && t.maxRssKb / 1024;
      console.log(`${r.label} run ${i + 1}: ${t.seconds.toFixed(2)} s, max RSS ${rssMb ? rssMb.toFixed(0) : 'n/a'} MiB${j.resolverLog ? `, ${j.resolverLog.lookups} lookups, ${j.resolverLog.listed} of listed names, ${j.resolverLog.bindings} bindings` : ''}, ${j.subscribers} subscribers`);
      const b = best.get(r.label);
      if (!b || t.seconds < b.seconds) best.set(r.label, { seconds: t.seconds, rssMb, bindings: j.resolverLog?.bindings ?? null });
    }
  }
  for (const x of ['', '-wal', '-shm']) rmSync(db + x, { force: true });
  const log = best.get('resolver log only')!;
  const alone = best.get('exports only')!;
  const both = best.get('exports + log')!;
  console.log('\ncase                 best s   max RSS MiB   rate');
  console.log(`${'resolver log only'.padEnd(20)} ${log.seconds.toFixed(2).padStart(6)} ${String(log.rssMb?.toFixed(0) ?? 'n/a').padStart(13)}   ${(g.lookups / log.seconds / 1e6).toFixed(2)} M lookups/s`);
  console.log(`${'exports only'.padEnd(20)} ${alone.seconds.toFixed(2).padStart(6)} ${String(alone.rssMb?.toFixed(0) ?? 'n/a').padStart(13)}   ${(stats.records / alone.seconds / 1e6).toFixed(2)} M records/s`);
  const rate = stats.records / (both.seconds - log.seconds);
  console.log(
    `${'exports + log'.padEnd(20)} ${both.seconds.toFixed(2).padStart(6)} ${String(both.rssMb?.toFixed(0) ?? 'n/a').padStart(13)}   ${(stats.records / both.seconds / 1e6).toFixed(2)} M records/s over the whole run; ` +
      `${(rate / 1e6).toFixed(2)} M records/s once the log is read (target ≥ 1 M/s: ${rate >= 1e6 ? 'met' : 'NOT met'})`,
  );
}

if (CASES.has('capture')) captureCase();
if (CASES.has('flows')) captureCase('subscriber');
if (CASES.has('exports')) exportsCase();
if (CASES.has('files')) filesCase();
if (CASES.has('rotated')) {
  const { files } = exportFiles();
  const parts = Math.max(2, Number(process.env.BENCH_FILES ?? 288) | 0);
  const folder = splitFolder(files[0]!.path, join(DATA, `exports-v9-${parts}`), parts);
  rotatedCase({ root: ROOT, folder, intel: INTEL, data: DATA, files: Number(process.env.BENCH_ROTATED_FILES ?? parts) | 0 });
}
if (CASES.has('decode')) await decodeCase();
if (CASES.has('table')) await tableCase();
if (CASES.has('report')) reportCase(DATA);
if (CASES.has('dnslog')) dnslogCase();
if (CASES.has('kafka')) await kafkaCase(ROOT, KAFKA_INPUT);
if (CASES.has('nfcapd')) {
  const { stats, files } = exportFiles();
  await nfcapdCase({ root: ROOT, data: DATA, v9Pcap: files[0]!.path, records: stats.records, miningClients: stats.miningClients, intel: INTEL, runs: RUNS });
}
