/**
 * Resolver-log reading speed: generates the bench/gen-dnslog.ts files when missing, then reads
 * each with readDnsLog in its own process (so the peak RSS is that format's) and prints lookups/s
 * and max RSS. The callback only counts, so the figure is the reader's cost alone.
 *
 *   npm run build && node dist/bench/dnslog.js [N]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Anomalies } from '../src/anomalies.js';
import { readDnsLog } from '../src/io/dnslog.js';
import { generateDnsLogBench } from './gen-dnslog.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

async function readOne(path: string): Promise<void> {
  const anomalies = new Anomalies();
  let answers = 0;
  const t0 = process.hrtime.bigint();
  const info = await readDnsLog(path, (l) => (answers += l.answers.length), anomalies);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    JSON.stringify({
      path,
      format: info.format,
      bytes: info.size,
      lookups: info.lookups,
      answers,
      anomalies: anomalies.total,
      seconds: Number(seconds.toFixed(2)),
      lookupsPerS: Math.round(info.lookups / seconds),
      maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--read') return readOne(args[1]!);
  const n = args[0] ? Number(args[0]) : 10_000_000;
  const dir = join(ROOT, 'bench', 'data');
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, `dnslog-${n}.fstrm`), join(dir, `dnslog-${n}.dns.log`)];
  if (!files.every((f) => existsSync(f))) {
    const t0 = Date.now();
    const stats = generateDnsLogBench(dir, n, 'both', 20261101, join(ROOT, 'rules'));
    console.log(JSON.stringify({ generated: stats, seconds: (Date.now() - t0) / 1000 }));
  }
  for (const f of files) {
    process.stdout.write(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--read', f], { encoding: 'utf8', maxBuffer: 1 << 20 }));
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
