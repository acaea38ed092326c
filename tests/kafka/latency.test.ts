/**
 * `minerwatch consume --segment-seconds` against a real Apache Kafka broker (KRaft, 127.0.0.1;
 * scripts/kafka-broker.sh): on a quiet partition, a few messages holding a mining flow are in a
 * complete segment, committed, and their verdicts on the output topic within a bound, while the
 * member runs on (a segment of 100,000 offsets would otherwise hold them until it stops); the next
 * messages make the next segment, from the next offset; SIGINT afterwards still exits 0.
 * The messages are the corpus's nDPI mining capture as softflowd NetFlow v9, published by
 * `minerwatch produce`; what counts as a mining flow is what `scan` finds in the same file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTopic, GroupConsumer, type KafkaMessage } from '../../src/io/kafka.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT, reportCount, waitFor } from '../helpers.js';
import { brokerForSuite } from '../support/kafka.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const MINING = join(CORPUS, 'netflow', 'generated', 'v9', 'ndpi__mining.export.pcap');
/** From a produce's end to the verdicts on the output topic: 2 s of segment, 1 s of timer, the rest for a loaded machine. */
const BOUND_MS = 20_000;

function cli(args: string[], timeoutMs = 120_000): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The group's committed offset of `topic`/0 (-1 when none). */
async function committed(bootstrap: string, group: string, topic: string): Promise<bigint> {
  const admin = new Admin({ clientId: 'minerwatch-test-latency', bootstrapBrokers: [bootstrap], requestTimeout: 10_000, retries: 1 });
  try {
    const r = await admin.listConsumerGroupOffsets({ groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: [0] }] }] });
    return r[0]?.topics.find((t) => t.name === topic)?.partitions.find((p) => p.partitionIndex === 0)?.committedOffset ?? -1n;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

const missing = ['java', 'mvn'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip = !HAVE_CORPUS ? CORPUS_SKIP_REASON : missing.length ? `${missing.join(' and ')} not installed (Debian: openjdk-17-jre-headless maven): no Kafka broker` : null;

describe.skipIf(skip !== null)(`consume --segment-seconds on a real Kafka broker${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const { dir, broker } = brokerForSuite('mw-latency-');
  let bootstrap = '';
  /** Mining flows in the capture, as one `scan` of it finds them. */
  let miningFlows = 0;

  beforeAll(async () => {
    const s = cli(['scan', MINING, '--db', join(dir, 'scan.sqlite')]);
    expect(s.code, s.err).toBe(0);
    miningFlows = reportCount(join(dir, 'scan.sqlite'), "SELECT count(*) FROM flows WHERE label = 'mining'");
    bootstrap = broker().bootstrap;
  }, 60_000);

  it('commits a quiet partition\'s segment and sends its verdicts within the bound, without being stopped; SIGINT still exits 0', async () => {
    // The test means something only if the capture holds mining flows.
    expect(miningFlows).toBeGreaterThan(0);
    const topic = 'quiet';
    const db = join(dir, 'member.sqlite');
    // The member joins before any message comes, so the messages find it caught up and waiting.
    await ensureTopic([bootstrap], topic, 1);
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, 'consume', '--brokers', bootstrap, '--topic', topic, '--group', 'g-latency', '--format', 'goflow2-json', '--db', db, '--output-topic', 'verdicts', '--segment-seconds', '2', '--segment-messages', '100000', '--stats-interval', '1'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
    const running = (): boolean => child.exitCode === null && child.signalCode === null;
    const rows: Array<Record<string, unknown>> = [];
    const reader = new GroupConsumer({ brokers: [bootstrap], group: 'g-latency-reader', topic: 'verdicts' });
    let readerDone: Promise<void> | null = null;
    const segments = (): number => reportCount(db, "SELECT coalesce(sum(packets), 0) FROM inputs WHERE status = 'complete' AND path LIKE 'kafka://quiet/%'");
    const miningRows = (): number => rows.filter((r) => r.kind === 'flow' && r.label === 'mining').length;
    try {
      await waitFor(() => /assigned quiet\/0/.test(err) || !running(), { what: 'the member to be assigned quiet/0', timeoutMs: 120_000 });
      expect(running(), err).toBe(true);
      readerDone = reader.run({ batch: (msgs: KafkaMessage[]) => void rows.push(...msgs.map((m) => JSON.parse(Buffer.from(m.value).toString('utf8')) as Record<string, unknown>)) });

      let expected = 0;
      for (const round of [1, 2]) {
        const p = cli(['produce', '--brokers', bootstrap, '--topic', topic, '--format', 'goflow2-json', MINING]);
        expect(p.code, p.err).toBe(0);
        const produced = Number(/produced (\d+) messages/.exec(p.err)?.[1]);
        expect(produced).toBeGreaterThan(0);
        // Far fewer than a segment of offsets: only the time cut can complete them.
        expect(produced).toBeLessThan(1000);
        const from = expected;
        expected += produced;
        const t0 = Date.now();
        await waitFor(() => segments() >= expected && miningRows() >= round * miningFlows, {
          what: `round ${round}: ${expected} messages in complete segments and ${round * miningFlows} mining verdicts on the output topic (member: ${err.split('\n').slice(-3).join(' | ')})`,
          timeoutMs: BOUND_MS,
        });
        const took = Date.now() - t0;
        expect(running(), err).toBe(true);
        await waitFor(async () => (await committed(bootstrap, 'g-latency', topic)) === BigInt(expected), { what: `round ${round}: offset ${expected} committed`, timeoutMs: 10_000 });
        // This round's messages make one segment of their own, from the next offset on.
        const paths = reportCount(db, `SELECT count(*) FROM inputs WHERE status = 'complete' AND path = 'kafka://quiet/0/${from}-${expected - 1}'`);
        expect(paths, `round ${round}: segment kafka://quiet/0/${from}-${expected - 1} (took ${took} ms)`).toBe(1);
        const sent = rows.filter((r) => r.kind === 'flow' && r.label === 'mining' && r.segment === `kafka://quiet/0/${from}-${expected - 1}`).length;
        expect(sent).toBe(miningFlows);
      }
      expect(segments()).toBe(expected);
      child.kill('SIGINT');
      expect(await exited, err).toBe(0);
      // Nothing was open, so nothing more: each message once.
      expect(segments()).toBe(expected);
      expect(reportCount(db, "SELECT count(*) FROM flows WHERE label = 'mining'")).toBe(2 * miningFlows);
    } finally {
      if (running()) child.kill('SIGKILL');
      await reader.close();
      await readerDone?.catch(() => undefined);
    }
  }, 300_000);
});
