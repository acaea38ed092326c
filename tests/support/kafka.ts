/**
 * A real Apache Kafka for a test file: scripts/kafka-broker.sh (Kafka 4.1.1 jars from Maven
 * Central, KRaft, 127.0.0.1 on free ports) with its own state folder, so test files never share or
 * wipe each other's broker. Without Java 17+ or Maven the script exits 3 and the tests skip.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/kafka-broker.sh');

/** Hook timeout for {@link startBroker}: a first run fetches the jars; later starts take seconds. */
export const BROKER_START_TIMEOUT_MS = 240_000;

export interface Broker {
  bootstrap: string;
  /** Seconds the start took. */
  startSeconds: number;
  stop(): Promise<void>;
  /** Stop node `k` (1-based): cleanly, or with SIGKILL as a crash when `crash`. */
  stopNode?(k: number, crash?: boolean): Promise<void>;
}

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(SCRIPT, args, { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Start a broker (or `nodes` of them); `{ skip }` says why when Java or Maven is missing. */
export async function startBroker(opts: { nodes?: number } = {}): Promise<Broker | { skip: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-kafka-'));
  const env = { ...process.env, MINERWATCH_KAFKA_DIR: dir };
  const t0 = Date.now();
  const r = await run(['start', '--nodes', String(opts.nodes ?? 1)], env, BROKER_START_TIMEOUT_MS - 10_000);
  const stop = async (): Promise<void> => {
    await run(['stop'], env, 60_000);
    rmSync(dir, { recursive: true, force: true });
  };
  if (r.code === 3) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `Kafka broker not started: ${r.stderr.trim()} (Debian: openjdk-17-jre-headless maven)` };
  }
  if (r.code !== 0) {
    await stop();
    throw new Error(`scripts/kafka-broker.sh start failed (status ${r.code}):\n${r.stderr}`);
  }
  const bootstrap = r.stdout.trim().split('\n').pop()!;
  return {
    bootstrap,
    startSeconds: (Date.now() - t0) / 1000,
    stop,
    stopNode: async (k: number, crash = false) => {
      await run(['stop', '--node', String(k), ...(crash ? ['--kill'] : [])], env, 60_000);
    },
  };
}

/**
 * A broker (or `nodes` of them) for the describe block this is called in, started before its tests
 * and stopped after them, and a folder removed after them. CI installs Java and Maven: a broker that
 * cannot start fails the block with the reason instead of skipping it.
 */
export function brokerForSuite(prefix: string, opts: { nodes?: number } = {}): { dir: string; broker: () => Broker } {
  let started: Broker | null = null;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  beforeAll(async () => {
    const b = await startBroker(opts);
    if ('skip' in b) throw new Error(b.skip);
    started = b;
  }, BROKER_START_TIMEOUT_MS + 60_000);
  afterAll(async () => {
    await started?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
  return { dir, broker: () => started! };
}

/**
 * What the broker says of a consumer group, as one line for a failure message: its state, each
 * member's assignment, and per partition of `topic` the committed offset against the log's end
 * (a partition whose commit stays behind with no member reading it is where a test hangs).
 */
export async function describeGroup(bootstrap: string, group: string, topic: string, partitions: number): Promise<string> {
  const admin = new Admin({ clientId: 'minerwatch-test-describe', bootstrapBrokers: bootstrap.split(','), requestTimeout: 10_000, retries: 1 });
  try {
    const g = (await admin.describeGroups({ groups: [group] })).get(group);
    const members = g
      ? [...g.members.values()].map((m) => `${m.clientId}@${m.id.slice(-8)} [${[...(m.assignments?.values() ?? [])].flatMap((a) => a.partitions.map((p) => `${a.topic}/${p}`)).join(' ')}]`)
      : [];
    const parts = Array.from({ length: partitions }, (_, i) => i);
    const committed = (await admin.listConsumerGroupOffsets({ groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: parts }] }] }))[0]?.topics.find((t) => t.name === topic)?.partitions ?? [];
    const ends = (await admin.listOffsets({ topics: [{ name: topic, partitions: parts.map((partition) => ({ partitionIndex: partition, timestamp: -1n })) }] }))[0]?.partitions ?? [];
    const offsets = parts.map((p) => `${p}: ${committed.find((c) => c.partitionIndex === p)?.committedOffset ?? '?'}/${ends.find((e) => e.partitionIndex === p)?.offset ?? '?'}`);
    return `group ${group} ${g?.state ?? 'unknown'}, members ${members.join(', ') || 'none'}; ${topic} committed/end ${offsets.join(', ')}`;
  } catch (e) {
    return `group ${group}: not described (${e instanceof Error ? e.message : String(e)})`;
  } finally {
    await admin.close().catch(() => undefined);
  }
}
