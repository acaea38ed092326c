/**
 * `minerwatch consume` against a real Apache Kafka broker (KRaft, 127.0.0.1; scripts/kafka-broker.sh):
 * - three members of one group over a 6-partition topic, merged, give the watch list of one
 *   `scan` of the same messages written to a file;
 * - a member killed (SIGKILL) mid-stream loses and doubles nothing: the merged shards hold every
 *   message exactly once, and the same flows as one member reading the whole topic alone;
 * - flagged flows and subscriber rows reach the output topic.
 * The messages are the corpus's softflowd NetFlow v9 exports, published by `minerwatch produce`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupConsumer, type KafkaMessage } from '../../src/io/kafka.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT, waitFor } from '../helpers.js';
import { BROKER_START_TIMEOUT_MS, startBroker, type Broker } from '../support/kafka.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const V9 = join(CORPUS, 'netflow', 'generated', 'v9');

function cli(args: string[], timeoutMs = 120_000): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The watch list of a report, the operator's deliverable, without the flow ids (each report numbers its own flows). */
function watchlist(db: string): Array<Record<string, unknown>> {
  const r = cli(['watchlist', '--db', db, '--format', 'json']);
  expect(r.code, r.err).toBe(0);
  const rows = JSON.parse(r.out) as Array<Record<string, unknown>>;
  for (const row of rows) delete row.flowIds;
  return rows.sort((a, b) => String(a.subscriber).localeCompare(String(b.subscriber)));
}

/** Every flow of a report as sorted lines of what identifies and measures it (ids and inputs left out). */
function flowLines(db: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (
      d
        .prepare(
          'SELECT client, client_port, server, server_port, transport, first_seen, last_seen, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, label, confidence, subscriber FROM flows',
        )
        .raw()
        .all() as unknown[][]
    )
      .map((r) => JSON.stringify(r))
      .sort();
  } finally {
    d.close();
  }
}

/** Messages held by the complete Kafka segments of a report. */
function segmentMessages(db: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare("SELECT coalesce(sum(packets), 0) FROM inputs WHERE status = 'complete' AND path LIKE 'kafka://%'").pluck().get() as number;
  } finally {
    d.close();
  }
}

/** Start a consumer; its stderr is kept, and `messages` parses its periodic counter line. */
function startConsumer(args: string[]): { child: ChildProcess; err: () => string; messages: () => number; exited: Promise<number> } {
  const child = spawn(process.execPath, [BIN, 'consume', ...args, '--stats-interval', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
  return {
    child,
    err: () => err,
    // Messages held: read, less those of segments left to other members in a rebalance.
    messages: () => {
      const all = [...err.matchAll(/messages (\d+) \(replayed, skipped \d+; in segments left to other members (\d+)\)/g)];
      const last = all[all.length - 1];
      return last ? Number(last[1]) - Number(last[2]) : 0;
    },
    exited,
  };
}

type Member = ReturnType<typeof startConsumer>;

/**
 * Stop members one at a time (SIGINT: open segments are completed and committed), each once the
 * others hold every message: a member leaving makes the group move its partitions, and the others
 * drop their open segments and read them again.
 */
async function stopInTurn(members: Member[], dbs: string[], all: number): Promise<void> {
  const running = (m: Member): boolean => m.child.exitCode === null && m.child.signalCode === null;
  const held = (): number => members.reduce((n, m, i) => n + (running(m) ? m.messages() : segmentMessages(dbs[i]!)), 0);
  for (const m of members) {
    if (!running(m)) continue;
    await waitFor(() => held() >= all, {
      what: `the members to hold all ${all} messages (held ${members.map((x, i) => (running(x) ? `${x.messages()} read` : `${segmentMessages(dbs[i]!)} in its report`)).join(', ')}; last lines: ${members.map((x) => x.err().trim().split('\n').filter((l) => !l.startsWith('minerwatch: messages')).slice(-6).join(' | ') + ' | ' + x.err().trim().split('\n').slice(-1)[0]).join(' || ')})`,
      timeoutMs: 120_000,
    });
    m.child.kill('SIGINT');
    await m.exited;
  }
}

/**
 * The topic read back as it is (a reader independent of consume), written one JSON message per
 * line, scanned once: the watch list the members must give.
 */
async function readTopicWith(bootstrap: string, dir: string, topic: string, count: number, name: string): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  const reader = new GroupConsumer({ brokers: [bootstrap], group: `reader-${name}`, topic });
  const done = reader.run({
    batch: (msgs: KafkaMessage[]) => {
      for (const m of msgs) lines.push(Buffer.from(m.value).toString('utf8').trim());
    },
  });
  await waitFor(() => lines.length >= count, { what: `${count} messages of ${topic} to be read back`, timeoutMs: 60_000 });
  await reader.close();
  await done.catch(() => undefined);
  expect(lines).toHaveLength(count);
  const file = join(dir, `${name}.jsonl`);
  writeFileSync(file, lines.join('\n') + '\n');
  const s = cli(['scan', file, '--db', join(dir, `${name}.sqlite`)]);
  expect(s.code, s.err).toBe(0);
  return watchlist(join(dir, `${name}.sqlite`));
}

const missing = ['java', 'mvn'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const skip = !HAVE_CORPUS ? CORPUS_SKIP_REASON : missing.length ? `${missing.join(' and ')} not installed (Debian: openjdk-17-jre-headless maven): no Kafka broker` : null;

describe.skipIf(skip !== null)(`consume from a real Kafka broker${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let broker: Broker | null = null;
  let bootstrap = '';
  const dir = mkdtempSync(join(tmpdir(), 'mw-consume-'));
  const inputs = readdirSync(V9)
    .filter((f) => f.endsWith('.export.pcap'))
    .map((f) => join(V9, f));
  const topic = 'flows';
  let total = 0;
  const readTopic = (t: string, count: number, name: string): Promise<Array<Record<string, unknown>>> => readTopicWith(bootstrap, dir, t, count, name);

  beforeAll(async () => {
    const b = await startBroker();
    if ('skip' in b) throw new Error(b.skip);
    broker = b;
    bootstrap = b.bootstrap;
    const p = cli(['produce', '--brokers', bootstrap, '--topic', topic, '--partitions', '6', '--format', 'goflow2-json', ...inputs]);
    expect(p.code, p.err).toBe(0);
    total = Number(/produced (\d+) messages/.exec(p.err)?.[1] ?? -1);
    expect(total).toBeGreaterThan(100);
  }, BROKER_START_TIMEOUT_MS + 180_000);

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('three members over six partitions give the watch list of one scan of the same messages', async () => {
    // The members join first, so the topic's partitions are shared before any message comes.
    const t3 = 'flows3';
    const made = cli(['produce', '--brokers', bootstrap, '--topic', t3, '--partitions', '6', '--format', 'goflow2-json', join(V9, 'ndpi__dns.export.pcap')]);
    expect(made.code, made.err).toBe(0);
    const before = Number(/produced (\d+) messages/.exec(made.err)?.[1]);
    const members = [0, 1, 2].map((i) => startConsumer(['--brokers', bootstrap, '--topic', t3, '--group', 'g3', '--format', 'goflow2-json', '--db', join(dir, `shard-${i}.sqlite`), '--session-timeout', '30']));
    await waitFor(() => members.every((m) => /assigned \S+\/\d/.test(m.err())) && members.reduce((n, m) => n + m.messages(), 0) >= before, { what: 'three members assigned', timeoutMs: 120_000 });
    // Settled: every member holds two partitions (each printed its last assignment).
    await waitFor(() => members.every((m) => (/assigned ([^\n]*)\n(?![\s\S]*assigned)/.exec(m.err())?.[1] ?? '').split(' ').length === 2), { what: 'two partitions each', timeoutMs: 120_000 });
    const p = cli(['produce', '--brokers', bootstrap, '--topic', t3, '--format', 'goflow2-json', ...inputs]);
    expect(p.code, p.err).toBe(0);
    const all = before + Number(/produced (\d+) messages/.exec(p.err)?.[1]);
    await waitFor(() => members.reduce((n, m) => n + m.messages(), 0) >= all, {
      what: `the three members to read ${all} messages (they hold ${members.map((m) => m.messages()).join(' + ')}; their last lines: ${members.map((m) => m.err().trim().split('\n').slice(-4).join(' | ')).join(' || ')})`,
      timeoutMs: 240_000,
    });
    // Each member read a share; none read everything.
    for (const m of members) expect(m.messages()).toBeLessThan(all);
    await stopInTurn(members, [0, 1, 2].map((i) => join(dir, `shard-${i}.sqlite`)), all);
    const codes = await Promise.all(members.map((m) => m.exited));
    expect(codes, members.map((m) => m.err()).join('\n')).toEqual([0, 0, 0]);
    const merged = join(dir, 'merged3.sqlite');
    const r = cli(['merge', ...[0, 1, 2].map((i) => join(dir, `shard-${i}.sqlite`)), '--db', merged]);
    expect(r.code, r.err).toBe(0);
    expect(segmentMessages(merged)).toBe(all);
    const one = await readTopic(t3, all, 'file-3');
    // The comparison means something only if the scan found someone.
    expect(one.length).toBeGreaterThan(0);
    expect(watchlist(merged)).toEqual(one);
  }, 600_000);

  it('a member killed mid-stream loses and doubles nothing', async () => {
    // Small segments, so the killed member has committed some and is inside another.
    const seg = ['--segment-messages', '40'];
    const alone = startConsumer(['--brokers', bootstrap, '--topic', topic, '--group', 'g-alone', '--format', 'goflow2-json', '--db', join(dir, 'alone.sqlite'), ...seg]);
    await waitFor(() => alone.messages() >= total, { what: `one member to read ${total} messages`, timeoutMs: 120_000 });
    alone.child.kill('SIGINT');
    expect(await alone.exited, alone.err()).toBe(0);

    const args = (i: number): string[] => ['--brokers', bootstrap, '--topic', topic, '--group', 'g-kill', '--format', 'goflow2-json', '--db', join(dir, `kill-${i}.sqlite`), '--session-timeout', '6', ...seg];
    const members: Member[] = [];
    for (const i of [0, 1, 2]) {
      const m = startConsumer(args(i));
      members.push(m);
      await waitFor(() => /assigned /.test(m.err()), { what: `member ${i} to join the group`, timeoutMs: 180_000 });
    }
    // The group settled (no new assignment for 3 s), so the kill is not lost in a rebalance under way.
    let seen = '';
    let since = Date.now();
    await waitFor(
      () => {
        const now = members.map((m) => (m.err().match(/assigned /g) ?? []).length).join(',');
        if (now !== seen) {
          seen = now;
          since = Date.now();
        }
        return Date.now() - since >= 3000;
      },
      { what: 'the group to settle', timeoutMs: 120_000 },
    );
    // Killed once it has made a segment durable, while it reads on.
    await waitFor(() => segmentMessages(join(dir, 'kill-0.sqlite')) >= 40, { what: `the first member to complete a segment (its stderr: ${members[0]!.err().slice(-600)})`, timeoutMs: 120_000 });
    members[0]!.child.kill('SIGKILL');
    await members[0]!.exited;
    // The others take over its partitions once the group notices, from its last committed offsets.
    await stopInTurn(members, [0, 1, 2].map((i) => join(dir, `kill-${i}.sqlite`)), total);
    const codes = await Promise.all(members.slice(1).map((m) => m.exited));
    expect(codes, members.map((m) => m.err()).join('\n')).toEqual([0, 0]);
    const merged = join(dir, 'merged-kill.sqlite');
    const r = cli(['merge', ...[0, 1, 2].map((i) => join(dir, `kill-${i}.sqlite`)), '--db', merged]);
    expect(r.code, r.err).toBe(0);
    expect(segmentMessages(merged)).toBe(total);
    expect(flowLines(merged)).toEqual(flowLines(join(dir, 'alone.sqlite')));
    expect(watchlist(merged)).toEqual(watchlist(join(dir, 'alone.sqlite')));
  }, 300_000);

  it('produces flagged flows and subscriber rows to the output topic', async () => {
    const c = startConsumer(['--brokers', bootstrap, '--topic', topic, '--group', 'g-out', '--format', 'goflow2-json', '--db', join(dir, 'out.sqlite'), '--output-topic', 'verdicts']);
    await waitFor(() => c.messages() >= total, { what: `the member to read ${total} messages`, timeoutMs: 120_000 });
    c.child.kill('SIGINT');
    expect(await c.exited, c.err()).toBe(0);
    const rows: Array<Record<string, unknown>> = [];
    const reader = new GroupConsumer({ brokers: [bootstrap], group: 'out-reader', topic: 'verdicts' });
    const d = new Database(join(dir, 'out.sqlite'), { readonly: true });
    const flagged = d.prepare("SELECT count(*) FROM flows WHERE label != 'none'").pluck().get() as number;
    const subscribers = d.prepare('SELECT subscriber FROM subscribers ORDER BY subscriber').pluck().all() as string[];
    d.close();
    const done = reader.run({ batch: (msgs: KafkaMessage[]) => void rows.push(...msgs.map((m) => JSON.parse(Buffer.from(m.value).toString('utf8')) as Record<string, unknown>)) });
    await waitFor(() => rows.length >= flagged + subscribers.length, { what: 'the output rows', timeoutMs: 60_000 });
    await reader.close();
    await done.catch(() => undefined);
    expect(flagged).toBeGreaterThan(0);
    expect(rows.filter((r) => r.kind === 'flow')).toHaveLength(flagged);
    expect(rows.filter((r) => r.kind === 'subscriber').map((r) => r.subscriber)).toEqual(subscribers);
    for (const r of rows.filter((x) => x.kind === 'flow')) expect(String(r.segment)).toMatch(/^kafka:\/\/flows\/\d+\/\d+-\d+$/);
  }, 240_000);
});
