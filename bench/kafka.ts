/**
 * The kafka case of `npm run bench` (BENCH_CASES=kafka): a real Apache Kafka broker
 * (scripts/kafka-broker.sh, 127.0.0.1). The exports case's 5 M NetFlow v9 records
 * (bench/data/exports-v9.pcap, made by BENCH_CASES=exports; about 1.95 M conversations of 963,622
 * subscribers), or BENCH_KAFKA_INPUT when set, or else the flows case's capture, are published by
 * `minerwatch produce` as GoFlow2 protobuf messages keyed by subscriber on a 6-partition topic, then
 * read by `minerwatch consume` groups of 1, 2 and 3 members, each member in its own process with
 * its own shard report and `--segment-seconds 2`. A topic of millions of messages takes one member
 * long enough that the others' joining (seconds) does not decide the result. Reported per group,
 * side by side:
 * - messages per second for the whole group, from the members' start until they hold every message
 *   (their counter lines), and from the moment the last member was assigned its partitions (joining
 *   costs seconds: Kafka's initial rebalance delay, then a rebalance per member);
 * - each member's share and its peak resident memory (VmHWM of /proc/PID/status, sampled every
 *   100 ms until it exits);
 * - once the group is caught up and committed, a small batch holding mining flows (the corpus's
 *   nDPI mining capture as NetFlow v9, BENCH_KAFKA_MINING) is produced, and timed: from the start of
 *   `produce` (a process start included) and from its acknowledged end to the first mining verdict
 *   of the batch on the output topic, and to the group's commit past the batch.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { GroupConsumer, type KafkaMessage } from '../src/io/kafka.js';

const PARTITIONS = 6;
const TOPIC = 'flows';

interface Member {
  child: ChildProcess;
  err: () => string;
  /** Peak resident set in KiB seen so far (VmHWM). */
  hwm: number;
  /** When each `assigned` line came (ms, performance clock). */
  assignedAt: number[];
  exited: Promise<void>;
}

/** VmHWM of a live process in KiB; 0 when it is gone. */
function vmHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Messages a member holds: read, less those of segments it left to other members. */
function held(m: Member): number {
  const all = [...m.err().matchAll(/messages (\d+) \(replayed, skipped \d+; in segments left to other members (\d+)\)/g)];
  const last = all[all.length - 1];
  return last ? Number(last[1]) - Number(last[2]) : 0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(test: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await test()) return true;
    await sleep(50);
  }
  return false;
}

/** Committed offsets of `group` and end offsets of the topic, per partition. */
async function offsets(admin: Admin, group: string): Promise<{ committed: bigint[]; ends: bigint[] }> {
  const parts = Array.from({ length: PARTITIONS }, (_, i) => i);
  const c = (await admin.listConsumerGroupOffsets({ groups: [{ groupId: group, topics: [{ name: TOPIC, partitionIndexes: parts }] }] }))[0]?.topics.find((t) => t.name === TOPIC)?.partitions ?? [];
  const e = (await admin.listOffsets({ topics: [{ name: TOPIC, partitions: parts.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }] }))[0]?.partitions ?? [];
  return {
    committed: parts.map((p) => c.find((x) => x.partitionIndex === p)?.committedOffset ?? -1n),
    ends: parts.map((p) => e.find((x) => x.partitionIndex === p)?.offset ?? -1n),
  };
}

interface GroupResult {
  members: number;
  seconds: number;
  done: boolean;
  rate: number;
  /** Messages/s after the last assignment; null when the last member joined after the end. */
  steady: number | null;
  shares: number[];
  rssMiB: number[];
  latency: { verdictFromStart: number; verdictFromAck: number; commitFromStart: number } | null;
  note: string;
}

export async function kafkaCase(root: string, input: string, members: number[] = [1, 2, 3]): Promise<void> {
  const exportsV9 = join(dirname(input), 'exports-v9.pcap');
  const inputs = [process.env.BENCH_KAFKA_INPUT === undefined && existsSync(exportsV9) ? exportsV9 : input];
  if (!existsSync(inputs[0]!)) {
    console.log(`\nkafka: ${input} not found (BENCH_CASES=exports makes bench/data/exports-v9.pcap, BENCH_CASES=flows BENCH_BYTES=400000000 the capture, or set BENCH_KAFKA_INPUT); case skipped`);
    return;
  }
  const mining = process.env.BENCH_KAFKA_MINING ?? join(root, '..', 'shared', 'corpus', 'netflow', 'generated', 'v9', 'ndpi__mining.export.pcap');
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
  const admin = new Admin({ clientId: 'minerwatch-bench', bootstrapBrokers: [bootstrap], requestTimeout: 15_000, retries: 2 });
  const results: GroupResult[] = [];
  try {
    const t0 = process.hrtime.bigint();
    const p = spawnSync(process.execPath, [bin, 'produce', '--brokers', bootstrap, '--topic', TOPIC, '--partitions', String(PARTITIONS), '--format', 'goflow2-pb', '--compression', 'lz4', ...inputs], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`produce failed: ${p.stderr}`);
    let total = Number(/produced (\d+) messages/.exec(p.stderr)?.[1]);
    console.log(
      `\nkafka: ${inputs.map((i) => i.split('/').pop()).join(' + ')}: ${p.stderr.trim().split('\n').pop()!.replace(/^minerwatch: /, '')} (${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s with reading)`,
    );
    if (!existsSync(mining)) console.log(`kafka: ${mining} not found (the shared corpus, or BENCH_KAFKA_MINING): no latency figures`);
    for (const n of members) {
      const group = `bench-${n}`;
      const out = `verdicts-${n}`;
      const procs: Member[] = Array.from({ length: n }, (_, i) => {
        const child = spawn(
          process.execPath,
          [bin, 'consume', '--brokers', bootstrap, '--topic', TOPIC, '--group', group, '--db', join(dir, `g${n}-${i}.sqlite`), '--stats-interval', '1', '--segment-seconds', '2', '--output-topic', out],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let err = '';
        const m: Member = { child, err: () => err, hwm: 0, assignedAt: [], exited: new Promise((r) => child.on('exit', () => r())) };
        child.stderr!.on('data', (b: Buffer) => {
          const s = b.toString();
          err += s;
          if (/assigned /.test(s)) m.assignedAt.push(performance.now());
        });
        return m;
      });
      const sampler = setInterval(() => {
        for (const m of procs) if (m.child.pid && m.child.exitCode === null) m.hwm = Math.max(m.hwm, vmHwm(m.child.pid));
      }, 100);
      const samples: Array<{ t: number; held: number }> = [];
      const sum = (): number => procs.reduce((a, m) => a + held(m), 0);
      const s0 = performance.now();
      const deadline = s0 + 300_000;
      const gone = (): Member | undefined => procs.find((m) => m.child.exitCode !== null || m.child.signalCode !== null);
      while (sum() < total && performance.now() < deadline && !gone()) {
        samples.push({ t: performance.now(), held: sum() });
        await sleep(100);
      }
      const tEnd = performance.now();
      const seconds = (tEnd - s0) / 1000;
      const shares = procs.map(held);
      const read = total;
      const done = shares.reduce((a, b) => a + b, 0) >= read;
      // Steady state: from the last assignment on (every member has its partitions), if before the end.
      const lastAssigned = Math.max(...procs.map((m) => m.assignedAt.at(-1) ?? Infinity));
      let steady: number | null = null;
      if (done && lastAssigned < tEnd - 500) {
        const at = samples.filter((x) => x.t <= lastAssigned).at(-1)?.held ?? 0;
        steady = (read - at) / ((tEnd - lastAssigned) / 1000);
      }
      let latency: GroupResult['latency'] = null;
      const died = gone();
      let note = done ? '' : died ? `a member exited: ${died.err().trim().split('\n').pop()}; ` : 'timed out; ';
      if (done && existsSync(mining)) {
        const rows: Array<{ at: number; row: Record<string, unknown> }> = [];
        const reader = new GroupConsumer({ brokers: [bootstrap], group: `bench-reader-${n}`, topic: out });
        const reading = reader.run({
          batch: (msgs: KafkaMessage[]) => void rows.push(...msgs.map((m) => ({ at: performance.now(), row: JSON.parse(Buffer.from(m.value).toString('utf8')) as Record<string, unknown> }))),
        });
        try {
          // Caught up: every partition committed to its end (its last segment cut by time).
          const caught = await until(async () => {
            const o = await offsets(admin, group);
            return o.committed.every((c, i) => c === o.ends[i]);
          }, 60_000);
          if (!caught) note = 'not committed to the end within 60 s; ';
          const before = (await offsets(admin, group)).ends;
          const l0 = performance.now();
          const prod = spawn(process.execPath, [bin, 'produce', '--brokers', bootstrap, '--topic', TOPIC, '--format', 'goflow2-pb', mining], { stdio: ['ignore', 'ignore', 'pipe'] });
          let perr = '';
          prod.stderr!.on('data', (b: Buffer) => (perr += b.toString()));
          const acked = await new Promise<number>((r) => prod.on('exit', (code) => r(code === 0 ? performance.now() : NaN)));
          if (Number.isNaN(acked)) throw new Error(`produce of ${mining} failed: ${perr}`);
          total += Number(/produced (\d+) messages/.exec(perr)?.[1] ?? 0);
          const after = (await offsets(admin, group)).ends;
          const ofBatch = (r: Record<string, unknown>): boolean => {
            const m = /^kafka:\/\/[^/]+\/(\d+)\/(\d+)-/.exec(String(r.segment));
            return r.kind === 'flow' && r.label === 'mining' && m !== null && BigInt(m[2]!) >= before[Number(m[1])]!;
          };
          let verdict = NaN;
          await until(() => {
            const hit = rows.find((x) => ofBatch(x.row));
            if (hit) verdict = hit.at;
            return hit !== undefined;
          }, 60_000);
          let committedAt = NaN;
          await until(async () => {
            const o = await offsets(admin, group);
            const ok = o.committed.every((c, i) => c >= after[i]!);
            if (ok) committedAt = performance.now();
            return ok;
          }, 60_000);
          latency = { verdictFromStart: (verdict - l0) / 1000, verdictFromAck: (verdict - acked) / 1000, commitFromStart: (committedAt - l0) / 1000 };
        } finally {
          await reader.close();
          await reading.catch(() => undefined);
        }
      }
      for (const x of procs) x.child.kill('SIGINT');
      await Promise.all(procs.map((x) => x.exited));
      clearInterval(sampler);
      results.push({ members: n, seconds, done, rate: read / seconds, steady, shares, rssMiB: procs.map((m) => m.hwm / 1024), latency, note });
    }
    const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
    console.log('members  seconds  msgs/s(start)  msgs/s(all joined)  shares (messages per member)   max RSS MiB per member   produce→verdict s  acked→verdict s  produce→commit s');
    for (const r of results) {
      console.log(
        [
          String(r.members).padStart(7),
          f(r.seconds, 2).padStart(8),
          (r.done ? r.rate.toFixed(0) : 'not done').padStart(14),
          (r.steady === null ? 'n/a' : r.steady.toFixed(0)).padStart(19),
          r.shares.join(' / ').padEnd(30),
          r.rssMiB.map((x) => x.toFixed(0)).join(' / ').padEnd(24),
          (r.latency ? f(r.latency.verdictFromStart, 2) : 'n/a').padStart(17),
          (r.latency ? f(r.latency.verdictFromAck, 2) : 'n/a').padStart(16),
          (r.latency ? f(r.latency.commitFromStart, 2) : 'n/a').padStart(17),
          r.note,
        ].join('  '),
      );
    }
  } finally {
    await admin.close().catch(() => undefined);
    spawnSync(script, ['stop'], { env });
    rmSync(dir, { recursive: true, force: true });
  }
}
