/**
 * The kafka case of `npm run bench` (BENCH_CASES=kafka): a real Apache Kafka broker
 * (scripts/kafka-broker.sh, 127.0.0.1), the exports case's NetFlow v9 records published by
 * `minerwatch produce` as GoFlow2 protobuf messages keyed by subscriber on a 6-partition topic, then
 * read by `minerwatch consume` groups of 1, 2 and 3 members, each member in its own process with
 * its own shard report. Reported: messages per second for the whole group, from the members' start
 * until they hold every message (their counter lines), and each member's share.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function kafkaCase(root: string, input: string, members: number[] = [1, 2, 3]): Promise<void> {
  if (!existsSync(input)) {
    console.log(`\nkafka: ${input} not found (BENCH_CASES=flows BENCH_BYTES=400000000 makes it, or set BENCH_KAFKA_INPUT); case skipped`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-kafka-'));
  const env = { ...process.env, MINERWATCH_KAFKA_DIR: join(dir, 'broker') };
  const script = join(root, 'scripts', 'kafka-broker.sh');
  const start = spawnSync(script, ['start'], { env, encoding: 'utf8' });
  if (start.status !== 0) {
    console.log(`\nkafka: no broker (${start.stderr.trim().split('\n').pop()}); case skipped`);
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  const bootstrap = start.stdout.trim().split('\n').pop()!;
  const bin = join(root, 'bin', 'minerwatch');
  try {
    const t0 = process.hrtime.bigint();
    const p = spawnSync(process.execPath, [bin, 'produce', '--brokers', bootstrap, '--topic', 'flows', '--partitions', '6', '--format', 'goflow2-pb', '--compression', 'lz4', input], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`produce failed: ${p.stderr}`);
    const total = Number(/produced (\d+) messages/.exec(p.stderr)?.[1]);
    console.log(`\nkafka: ${p.stderr.trim().split('\n').pop()!.replace(/^minerwatch: /, '')} (${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s with reading)`);
    console.log('members   seconds   messages/s   shares (messages per member)');
    for (const n of members) {
      const procs = Array.from({ length: n }, (_, i) => {
        const child = spawn(process.execPath, [bin, 'consume', '--brokers', bootstrap, '--topic', 'flows', '--group', `bench-${n}`, '--db', join(dir, `g${n}-${i}.sqlite`), '--stats-interval', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (b: Buffer) => (err += b.toString()));
        return { child, err: () => err };
      });
      const held = (): number[] =>
        procs.map((x) => {
          const all = [...x.err().matchAll(/messages (\d+) \(replayed, skipped \d+; in segments left to other members (\d+)\)/g)];
          const last = all[all.length - 1];
          return last ? Number(last[1]) - Number(last[2]) : 0;
        });
      const s0 = process.hrtime.bigint();
      const deadline = Date.now() + 600_000;
      while (held().reduce((a, b) => a + b, 0) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const seconds = Number(process.hrtime.bigint() - s0) / 1e9;
      const shares = held();
      for (const x of procs) x.child.kill('SIGINT');
      await Promise.all(procs.map((x) => new Promise((r) => x.child.on('exit', r))));
      const done = shares.reduce((a, b) => a + b, 0) >= total;
      console.log(`${String(n).padStart(7)} ${seconds.toFixed(2).padStart(9)} ${done ? (total / seconds).toFixed(0).padStart(12) : '   timed out'}   ${shares.join(' / ')}`);
    }
  } finally {
    spawnSync(script, ['stop'], { env });
    rmSync(dir, { recursive: true, force: true });
  }
}
