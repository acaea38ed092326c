/**
 * `npm run bench`: generates (once, deterministically) a ≥1 GiB mixed capture under bench/data,
 * runs `minerwatch scan` on it end to end (SQLite report included) in a child process, and reports
 * MB/s, packets/s and peak memory; runs Debian's ndpiReader on the same file when installed.
 *
 * Options via environment: BENCH_BYTES (default 1 GiB), BENCH_RUNS (default 3).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateBenchCapture } from './gen-capture.js';

const ROOT = process.cwd();
const DATA = join(ROOT, 'bench', 'data');
const BYTES = Number(process.env.BENCH_BYTES ?? 1 << 30);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const capture = join(DATA, `mixed-${BYTES}.pcap`);
const meta = `${capture}.json`;

mkdirSync(DATA, { recursive: true });
if (!existsSync(capture) || !existsSync(meta)) {
  const t0 = process.hrtime.bigint();
  const stats = generateBenchCapture(capture, BYTES);
  writeFileSync(meta, JSON.stringify({ ...stats, miningClients: stats.miningClients.length }));
  console.log(`generated ${capture}: ${stats.bytes} bytes, ${stats.packets} packets, ${stats.sessions} sessions (${stats.miningSessions} mining) in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
}
const gen = JSON.parse(readFileSync(meta, 'utf8')) as { bytes: number; packets: number; miningSessions: number; miningClients: number };
const size = statSync(capture).size;

function timed(cmd: string, args: string[]): { seconds: number; maxRssKb: number | null; stdout: string } {
  const haveTime = existsSync('/usr/bin/time');
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const m = /MAXRSS (\d+)/.exec(r.stderr ?? '');
  return { seconds, maxRssKb: m ? Number(m[1]) : null, stdout: r.stdout };
}

const mb = size / 1e6;
const results: Array<{ tool: string; seconds: number; mbps: number; pps: number; rssMb: number | null }> = [];
for (let i = 0; i < RUNS; i++) {
  const db = join(DATA, 'bench.sqlite');
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const r = timed(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', capture, '--db', db, '--json']);
  const j = JSON.parse(r.stdout) as { flows: number; miningFlows: number; subscribers: number; inputs: Array<{ packets: number }> };
  if (j.inputs[0]!.packets !== gen.packets) throw new Error(`scan read ${j.inputs[0]!.packets} packets, generator wrote ${gen.packets}`);
  if (j.subscribers !== gen.miningClients) console.warn(`warning: ${j.subscribers} mining subscribers found, generator made ${gen.miningClients}`);
  results.push({ tool: 'minerwatch scan', seconds: r.seconds, mbps: mb / r.seconds, pps: gen.packets / r.seconds, rssMb: r.maxRssKb && r.maxRssKb / 1024 });
  console.log(`minerwatch scan run ${i + 1}: ${r.seconds.toFixed(2)} s, ${(mb / r.seconds).toFixed(0)} MB/s, ${(gen.packets / r.seconds / 1e6).toFixed(2)} Mpackets/s, ${j.flows} flows, ${j.miningFlows} mining, ${j.subscribers} subscribers, max RSS ${r.maxRssKb ? (r.maxRssKb / 1024).toFixed(0) + ' MiB' : 'n/a'}`);
}

let ndpi: string | null = null;
try {
  ndpi = execFileSync('sh', ['-c', 'command -v ndpiReader'], { encoding: 'utf8' }).trim() || null;
} catch {
  ndpi = null;
}
if (ndpi) {
  for (let i = 0; i < Math.min(RUNS, 2); i++) {
    const r = timed(ndpi, ['-i', capture, '-q']);
    results.push({ tool: 'ndpiReader -i -q', seconds: r.seconds, mbps: mb / r.seconds, pps: gen.packets / r.seconds, rssMb: r.maxRssKb && r.maxRssKb / 1024 });
    console.log(`ndpiReader run ${i + 1}: ${r.seconds.toFixed(2)} s, ${(mb / r.seconds).toFixed(0)} MB/s`);
  }
} else {
  console.log('ndpiReader not installed (Debian package libndpi-bin): no comparison');
}

const best = (tool: string) => results.filter((r) => r.tool === tool).sort((a, b) => a.seconds - b.seconds)[0];
console.log(`\ncapture: ${(size / 2 ** 30).toFixed(2)} GiB, ${gen.packets} packets, ${gen.miningSessions} mining sessions`);
console.log('tool                 best s   MB/s   Mpkt/s   max RSS MiB');
for (const tool of ['minerwatch scan', 'ndpiReader -i -q']) {
  const b = best(tool);
  if (b) console.log(`${tool.padEnd(20)} ${b.seconds.toFixed(2).padStart(6)} ${b.mbps.toFixed(0).padStart(6)} ${(b.pps / 1e6).toFixed(2).padStart(8)} ${b.rssMb ? b.rssMb.toFixed(0).padStart(12) : '         n/a'}`);
}
const a = best('minerwatch scan');
const n = best('ndpiReader -i -q');
if (a && n) console.log(`minerwatch / ndpiReader throughput: ${(n.seconds / a.seconds).toFixed(2)}x`);
