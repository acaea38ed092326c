/**
 * `minerwatch consume` against a real Apache Kafka broker (KRaft, 127.0.0.1; scripts/kafka-broker.sh):
 * - three members of one group over a 6-partition topic, merged, give the watch list of one
 *   `scan` of the same messages written to a file;
 * - a member killed (SIGKILL) mid-stream loses and doubles nothing: the merged shards hold every
 *   message exactly once, and the same flows as one member reading the whole topic alone;
 * - flagged flows and subscriber rows reach the output topic.
 * The messages are the corpus's softflowd NetFlow v9 exports, published by `minerwatch produce`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTopic, GroupConsumer, KafkaProducer, type KafkaMessage } from '../../src/io/kafka.js';
import { waitFor } from '../helpers.js';
import { cli, flowLines, readTopicWith, segmentMessages, skip, startConsumer, stopInTurn, V9, waitForMembers, watchlist, type GroupRef, type Member } from '../support/consumers.js';
import { brokerForSuite } from '../support/kafka.js';

describe.skipIf(skip !== null)(`consume from a real Kafka broker${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const { dir, broker } = brokerForSuite('mw-consume-');
  let bootstrap = '';
  const inputs = readdirSync(V9)
    .filter((f) => f.endsWith('.export.pcap'))
    .map((f) => join(V9, f));
  const topic = 'flows';
  let total = 0;
  const readTopic = (t: string, count: number, name: string): Promise<Array<Record<string, unknown>>> => readTopicWith(bootstrap, dir, t, count, name);

  beforeAll(async () => {
    bootstrap = broker().bootstrap;
    const p = cli(['produce', '--brokers', bootstrap, '--topic', topic, '--partitions', '6', '--format', 'goflow2-json', ...inputs]);
    expect(p.code, p.err).toBe(0);
    total = Number(/produced (\d+) messages/.exec(p.err)?.[1] ?? -1);
    expect(total).toBeGreaterThan(100);
  }, 180_000);

  it('three members over six partitions give the watch list of one scan of the same messages', async () => {
    // The members join first, so the topic's partitions are shared before any message comes.
    const t3 = 'flows3';
    const made = cli(['produce', '--brokers', bootstrap, '--topic', t3, '--partitions', '6', '--format', 'goflow2-json', join(V9, 'ndpi__dns.export.pcap')]);
    expect(made.code, made.err).toBe(0);
    const before = Number(/produced (\d+) messages/.exec(made.err)?.[1]);
    const members = [0, 1, 2].map((i) => startConsumer(['--brokers', bootstrap, '--topic', t3, '--group', 'g3', '--format', 'goflow2-json', '--db', join(dir, `shard-${i}.sqlite`), '--session-timeout', '30']));
    const dbs = [0, 1, 2].map((i) => join(dir, `shard-${i}.sqlite`));
    const g3: GroupRef = { bootstrap, group: 'g3', topic: t3, partitions: 6 };
    await waitForMembers(() => members.every((m) => /assigned \S+\/\d/.test(m.err())) && members.reduce((n, m) => n + m.messages(), 0) >= before, `three members assigned, holding the ${before} messages`, 120_000, members, dbs, g3);
    // Settled: every member holds two partitions (each printed its last assignment).
    await waitForMembers(() => members.every((m) => (/assigned ([^\n]*)\n(?![\s\S]*assigned)/.exec(m.err())?.[1] ?? '').split(' ').length === 2), 'two partitions each', 120_000, members, dbs, g3);
    const p = cli(['produce', '--brokers', bootstrap, '--topic', t3, '--format', 'goflow2-json', ...inputs]);
    expect(p.code, p.err).toBe(0);
    const all = before + Number(/produced (\d+) messages/.exec(p.err)?.[1]);
    await waitForMembers(() => members.reduce((n, m) => n + m.messages(), 0) >= all, `the three members to read ${all} messages`, 240_000, members, dbs, g3);
    // Each member read a share; none read everything.
    for (const m of members) expect(m.messages()).toBeLessThan(all);
    await stopInTurn(members, dbs, all, g3);
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

  it('a partition that comes back to a member with nothing committed is read again from its start', async () => {
    // What the killed-member case needs of the client: a member that read a partition, lost it
    // (its open work dropped, nothing committed) and got it back must read it from the earliest
    // offset again, not on from where it had stopped.
    const t = 'regain';
    await ensureTopic([bootstrap], t, 2);
    const producer = new KafkaProducer({ brokers: [bootstrap] });
    const values = Array.from({ length: 40 }, (_, i) => `message ${i}`);
    await producer.send(t, values.map((v, i) => ({ key: `key-${i}`, value: v })));
    await producer.close();
    // Each message is tagged with the number of assignments made before it (handlers run in order).
    const seen: Array<{ after: number; partition: number; offset: bigint; value: string }> = [];
    const assignments: number[][] = [];
    const member = new GroupConsumer({ brokers: [bootstrap], group: 'g-regain', topic: t, sessionTimeoutMs: 6000, maxBatchMessages: 5 });
    const done = member.run({
      batch: (msgs: KafkaMessage[]) => void seen.push(...msgs.map((m) => ({ after: assignments.length, partition: m.partition, offset: m.offset, value: Buffer.from(m.value).toString('utf8') }))),
      assigned: (parts) => void assignments.push(parts.map((p) => p.partition)),
    });
    const other = new GroupConsumer({ brokers: [bootstrap], group: 'g-regain', topic: t, sessionTimeoutMs: 6000 });
    let otherDone: Promise<void> | null = null;
    try {
      await waitFor(() => seen.length >= values.length, { what: `the member alone to read ${values.length} messages`, timeoutMs: 60_000 });
      // Both partitions hold messages, so whichever one the member loses has some to read again.
      expect(new Set(seen.map((m) => m.partition)).size).toBe(2);
      otherDone = other.run({ batch: () => undefined });
      await waitFor(() => assignments.at(-1)?.length === 1, { what: `the member to keep one partition when another joins`, timeoutMs: 60_000 });
      await other.close();
      await waitFor(() => assignments.at(-1)?.length === 2, { what: `the member to get both partitions back`, timeoutMs: 60_000 });
      const last = assignments.length;
      // Nothing was committed: after the last rebalance every message comes again, once, in offset order per partition.
      const again = (): typeof seen => seen.filter((m) => m.after === last);
      await waitFor(() => again().length >= values.length, { what: `all ${values.length} messages again after the partitions came back`, timeoutMs: 60_000 });
      expect(again().map((m) => m.value).sort()).toEqual([...values].sort());
      for (const p of [0, 1]) {
        const offsets = again().filter((m) => m.partition === p).map((m) => Number(m.offset));
        expect(offsets).toEqual(offsets.map((_, i) => i));
      }
    } finally {
      await other.close();
      await otherDone?.catch(() => undefined);
      await member.close();
      await done.catch(() => undefined);
    }
  }, 240_000);

  it('a member killed mid-stream loses and doubles nothing', async () => {
    // Small segments, so the killed member has committed some and is inside another.
    const seg = ['--segment-messages', '40'];
    const alone = startConsumer(['--brokers', bootstrap, '--topic', topic, '--group', 'g-alone', '--format', 'goflow2-json', '--db', join(dir, 'alone.sqlite'), ...seg]);
    await waitFor(() => alone.messages() >= total, { what: `one member to read ${total} messages`, timeoutMs: 120_000 });
    alone.child.kill('SIGINT');
    expect(await alone.exited, alone.err()).toBe(0);

    const args = (i: number): string[] => ['--brokers', bootstrap, '--topic', topic, '--group', 'g-kill', '--format', 'goflow2-json', '--db', join(dir, `kill-${i}.sqlite`), '--session-timeout', '6', ...seg];
    const members: Member[] = [];
    const dbs = [0, 1, 2].map((i) => join(dir, `kill-${i}.sqlite`));
    const gKill: GroupRef = { bootstrap, group: 'g-kill', topic, partitions: 6 };
    for (const i of [0, 1, 2]) {
      const m = startConsumer(args(i));
      members.push(m);
      await waitForMembers(() => /assigned /.test(m.err()), `member ${i} to join the group`, 180_000, members, dbs, gKill);
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
    await waitForMembers(() => segmentMessages(dbs[0]!) >= 40, 'the first member to complete a segment', 120_000, members, dbs, gKill);
    members[0]!.child.kill('SIGKILL');
    await members[0]!.exited;
    // The others take over its partitions once the group notices, from its last committed offsets.
    await stopInTurn(members, dbs, total, gKill);
    const codes = await Promise.all(members.slice(1).map((m) => m.exited));
    expect(codes, members.map((m) => m.err()).join('\n')).toEqual([0, 0]);
    const merged = join(dir, 'merged-kill.sqlite');
    const r = cli(['merge', ...[0, 1, 2].map((i) => join(dir, `kill-${i}.sqlite`)), '--db', merged]);
    expect(r.code, r.err).toBe(0);
    expect(segmentMessages(merged)).toBe(total);
    expect(flowLines(merged)).toEqual(flowLines(join(dir, 'alone.sqlite')));
    expect(watchlist(merged)).toEqual(watchlist(join(dir, 'alone.sqlite')));
  }, 300_000);

  it('a member killed mid-segment and started again on its own report removes what it left half-read, and reads each segment once', async () => {
    const db = join(dir, 'restart.sqlite');
    // Segments are cut at 40 messages only (not after a time): a partition's last, partial segment
    // stays open once the member has read every message, until it is stopped.
    const args = ['--brokers', bootstrap, '--topic', topic, '--group', 'g-restart', '--format', 'goflow2-json', '--db', db, '--segment-messages', '40', '--segment-seconds', '3600'];
    const left = (): { running: number; reading: number } => {
      const d = new Database(db, { readonly: true });
      try {
        return {
          running: d.prepare("SELECT count(*) FROM runs WHERE status = 'running'").pluck().get() as number,
          reading: d.prepare("SELECT count(*) FROM inputs WHERE status = 'reading'").pluck().get() as number,
        };
      } finally {
        d.close();
      }
    };
    const first = startConsumer(args);
    // Killed once it has made a segment durable and holds one half-read (an input opens with a
    // segment's first message): after every message, so none completes between the look and the kill.
    await waitFor(() => first.messages() >= total && segmentMessages(db) >= 40 && left().reading > 0, { what: 'the member to read every message, with a segment complete and one open', timeoutMs: 120_000 });
    first.child.kill('SIGKILL');
    await first.exited;
    // The kill left its run running and a segment half-read.
    expect(left().running).toBe(1);
    expect(left().reading).toBeGreaterThan(0);
    // It resumes after the last segment the report holds complete.
    const held = segmentMessages(db);
    const again = startConsumer(args);
    await waitFor(() => /assigned /.test(again.err()), { what: 'the member to join again', timeoutMs: 120_000 });
    expect(again.err()).toMatch(/consume run 1 in .*restart\.sqlite did not finish \(its process \d+ is gone \(killed\?\)\): removed the \d+ flow\(s\) of the [1-9]\d* segment\(s\) it was still reading \(kafka:\/\/.+\); its complete segments stay/);
    await waitFor(() => again.messages() >= total - held, { what: `the member to read the ${total - held} messages after the complete segments`, timeoutMs: 120_000 });
    again.child.kill('SIGINT');
    expect(await again.exited, again.err()).toBe(0);
    expect(left()).toEqual({ running: 0, reading: 0 });
    // Nothing lost, nothing read twice: the report holds what one member reading every message made.
    expect(segmentMessages(db)).toBe(total);
    expect(flowLines(db)).toEqual(flowLines(join(dir, 'alone.sqlite')));
    expect(watchlist(db)).toEqual(watchlist(join(dir, 'alone.sqlite')));
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
