/**
 * `minerwatch produce` and the Kafka client layer against a real Apache Kafka 4.1.1 broker
 * (KRaft, 127.0.0.1; scripts/kafka-broker.sh):
 * - captures produced to a 3-partition topic come back as GoFlow2 messages whose count, packets and
 *   bytes are those of the flows `minerwatch scan --keep-flows all` writes for the same files;
 *   every subscriber's messages sit in one partition, the one Kafka's own Java partitioner picks;
 * - two members of a group with manual commits, one leaving mid-stream: every offset is processed
 *   at least once and the committed offsets cover the whole topic;
 * - an unreachable broker is a clear error naming the address, not a hang.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { decodeGoflowJson, decodeGoflowMessages } from '../../src/decode/goflow2.js';
import { ensureTopic, GroupConsumer, KAFKA_REQUEST_BYTES, KafkaProducer, type KafkaMessage, type PartitionRef } from '../../src/io/kafka.js';
import { CORPUS, FIXTURES, HAVE_CORPUS, waitFor } from '../helpers.js';
import { BROKER_START_TIMEOUT_MS, startBroker, type Broker } from '../support/kafka.js';

let broker: Broker | null = null;
let skip = '';
const work = mkdtempSync(join(tmpdir(), 'minerwatch-produce-'));

beforeAll(async () => {
  const b = await startBroker();
  if ('skip' in b) skip = b.skip;
  else broker = b;
}, BROKER_START_TIMEOUT_MS);

afterAll(async () => {
  await broker?.stop();
  rmSync(work, { recursive: true, force: true });
}, 90_000);

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** Read the whole topic with one group member; messages by (partition, offset), each once. */
async function readAll(bootstrap: string, topic: string, expected: number): Promise<Map<string, KafkaMessage>> {
  const seen = new Map<string, KafkaMessage>();
  const c = new GroupConsumer({ brokers: [bootstrap], group: `read-${topic}`, topic, maxBatchMessages: 500 });
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  const run = c.run({
    batch: (msgs) => {
      for (const m of msgs) seen.set(`${m.partition}:${m.offset}`, m);
      if (seen.size >= expected) done();
    },
  });
  await Promise.race([all, new Promise((r) => setTimeout(r, 60_000)), run]);
  await c.close();
  await run;
  return seen;
}

/** Partition of each key by Kafka's own Java code (Utils.murmur2, toPositive, modulo). */
function javaPartitions(keys: string[], partitions: number): Map<string, number> | null {
  const cache = process.env.MINERWATCH_KAFKA_CACHE ?? join(homedir(), '.cache', 'minerwatch', 'kafka');
  const libs = existsSync(cache) ? readdirSync(cache).map((d) => join(cache, d)).find((d) => existsSync(join(d, 'kafka-clients-4.1.1.jar'))) : undefined;
  if (!libs) return null;
  const src = join(work, 'Part.java');
  writeFileSync(
    src,
    `import org.apache.kafka.common.utils.Utils;
public class Part { public static void main(String[] a) throws Exception {
  int n = Integer.parseInt(a[0]);
  java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, "UTF-8"));
  for (String k; (k = in.readLine()) != null; ) System.out.println(k + "\\t" + (Utils.toPositive(Utils.murmur2(k.getBytes("UTF-8"))) % n));
} }
`,
  );
  const out = execFileSync('java', ['-cp', join(libs, '*'), src, String(partitions)], { input: keys.join('\n') + '\n', encoding: 'utf8', timeout: 60_000 });
  return new Map(out.trim().split('\n').map((l) => l.split('\t') as [string, string]).map(([k, p]) => [k, Number(p)]));
}

describe('minerwatch produce', () => {
  it('publishes both directions of every flow scan finds, keyed by subscriber, Java-partitioned', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const inputs = [join(FIXTURES, 'demo', 'home-miners.pcapng'), join(FIXTURES, 'demo', 'office.pcap')];
    const corpusFile = join(CORPUS, 'pcap', 'mining', 'ndpi__mining.pcapng');
    if (HAVE_CORPUS && existsSync(corpusFile)) inputs.push(corpusFile);

    // Expected values: the flows an ordinary scan writes.
    const db = join(work, 'scan.sqlite');
    const scan = await cli(['scan', ...inputs, '--db', db, '--keep-flows', 'all']);
    expect(scan.code, scan.err).toBe(0);
    const d = new Database(db, { readonly: true });
    const flows = d.prepare('SELECT client, packets_c2s AS pc, packets_s2c AS ps, bytes_c2s AS bc, bytes_s2c AS bs FROM flows').all() as Array<{ client: string; pc: number; ps: number; bc: number; bs: number }>;
    d.close();
    expect(flows.length).toBeGreaterThan(10);
    const expectedMessages = flows.reduce((n, f) => n + (f.pc > 0 ? 1 : 0) + (f.ps > 0 ? 1 : 0), 0);
    const expectedPackets = flows.reduce((n, f) => n + f.pc + f.ps, 0);
    const expectedBytes = flows.reduce((n, f) => n + f.bc + f.bs, 0);

    const topic = 'flows-pb';
    const r = await cli(['produce', '--brokers', broker!.bootstrap, '--topic', topic, '--partitions', '3', '--compression', 'lz4', '--batch', '100', ...inputs]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`produced ${expectedMessages} messages \\(${flows.length} flows\\) to ${topic} in [0-9.]+ s, [0-9]+ messages/s`));

    const got = await readAll(broker!.bootstrap, topic, expectedMessages);
    expect(got.size).toBe(expectedMessages);
    let packets = 0;
    let bytes = 0;
    let bad = 0;
    const partitionOf = new Map<string, Set<number>>();
    for (const m of got.values()) {
      const key = Buffer.from(m.key!).toString('utf8');
      (partitionOf.get(key) ?? partitionOf.set(key, new Set()).get(key)!).add(m.partition);
      const n = decodeGoflowMessages(
        m.value,
        'delimited',
        (rec) => {
          packets += rec.packets;
          bytes += rec.bytes;
          // The key is the subscriber: the flow's client, source of one direction, destination of the other.
          expect([rec.srcAddr, rec.dstAddr]).toContain(key);
        },
        () => bad++,
      );
      expect(n).toBe(1);
    }
    expect(bad).toBe(0);
    expect(packets).toBe(expectedPackets);
    expect(bytes).toBe(expectedBytes);
    expect(new Set(flows.map((f) => f.client))).toEqual(new Set(partitionOf.keys()));
    for (const [key, parts] of partitionOf) expect(parts.size, key).toBe(1);
    expect(new Set([...partitionOf.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);

    const java = javaPartitions([...partitionOf.keys()], 3);
    if (java) for (const [key, parts] of partitionOf) expect([...parts][0], key).toBe(java.get(key));
  }, 180_000);

  it('--format goflow2-json: one GoFlow2 JSON object per message, same totals as scan', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const input = join(FIXTURES, 'demo', 'office.pcap');
    const db = join(work, 'scan-json.sqlite');
    expect((await cli(['scan', input, '--db', db, '--keep-flows', 'all'])).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const t = d.prepare('SELECT sum((packets_c2s > 0) + (packets_s2c > 0)) AS m, sum(packets_c2s + packets_s2c) AS p, sum(bytes_c2s + bytes_s2c) AS b FROM flows').get() as { m: number; p: number; b: number };
    d.close();
    const r = await cli(['produce', '--brokers', broker!.bootstrap, '--topic', 'flows-json', '--partitions', '2', '--format', 'goflow2-json', '--compression', 'gzip', input]);
    expect(r.code, r.err).toBe(0);
    const got = await readAll(broker!.bootstrap, 'flows-json', t.m);
    expect(got.size).toBe(t.m);
    let packets = 0;
    let bytes = 0;
    let bad = 0;
    for (const m of got.values()) {
      expect(JSON.parse(Buffer.from(m.value).toString('utf8'))).toHaveProperty('time_flow_start_ns');
      decodeGoflowJson(m.value, (rec) => void ((packets += rec.packets), (bytes += rec.bytes)), () => bad++);
    }
    expect(bad).toBe(0);
    expect(packets).toBe(t.p);
    expect(bytes).toBe(t.b);
  }, 120_000);

  it('says which broker it could not reach, within the timeout', async () => {
    // A port just released on 127.0.0.1: nothing listens there.
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const t0 = Date.now();
    const r = await cli(['produce', '--brokers', `127.0.0.1:${port}`, '--topic', 't', '--partitions', '1', join(FIXTURES, 'demo', 'office.pcap')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`kafka 127.0.0.1:${port}`);
    expect(r.err).toMatch(/ECONNREFUSED|no answer/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 60_000);
});

describe('GroupConsumer', () => {
  it('two members, manual commits, one leaves mid-stream: every offset processed, commits cover the topic', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const brokers = [broker!.bootstrap];
    const topic = 'group-4';
    const N = 4000;
    await ensureTopic(brokers, topic, 4);
    const group = 'g-leave';
    const processed = new Set<string>();
    let leftAt = -1;
    const members = [0, 1].map((i) => new GroupConsumer({ brokers, group, topic, clientId: `m${i}`, maxBatchMessages: 50 }));
    const seenBy = [0, 0];
    // Each member's latest assignment (the partitions it was last given, none after a revocation).
    const owns: PartitionRef[][] = [[], []];
    const runs = members.map((c, i) =>
      c.run({
        assigned: (parts) => {
          owns[i] = parts;
        },
        revoked: () => {
          owns[i] = [];
        },
        batch: async (msgs) => {
          for (const m of msgs) processed.add(`${m.partition}:${m.offset}`);
          seenBy[i]! += msgs.length;
          const last = msgs.at(-1)!;
          // Member 1 leaves after some work, its last batch processed but not committed.
          if (i === 1 && leftAt < 0 && seenBy[1]! >= 300) {
            leftAt = processed.size;
            void c.close();
            return;
          }
          await c.commit([{ topic, partition: last.partition, offset: last.offset + 1n }]);
        },
      }),
    );
    // Both members in the group, the topic's partitions shared between them, before the messages arrive.
    await waitFor(() => owns[0]!.length > 0 && owns[1]!.length > 0 && new Set(owns.flat().map((p) => p.partition)).size === 4, {
      what: 'both members to be given partitions of the topic',
    });
    const producer = new KafkaProducer({ brokers });
    for (let b = 0; b < N; b += 200)
      await producer.send(
        topic,
        Array.from({ length: 200 }, (_, k) => ({ key: `sub-${(b + k) % 101}`, value: String(b + k) })),
      );
    await producer.close();
    const end = Date.now() + 90_000;
    const committedSum = async (): Promise<bigint> => [...(await members[0]!.committed([0, 1, 2, 3])).values()].reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
    while (Date.now() < end && (processed.size < N || (await committedSum()) < BigInt(N))) await new Promise((r) => setTimeout(r, 250));
    // It left mid-stream, and the other member took its partitions over.
    expect(leftAt).toBeGreaterThan(0);
    expect(leftAt).toBeLessThan(N);
    expect(seenBy[0]).toBeGreaterThan(N - leftAt);
    expect(processed.size).toBe(N);
    expect(await committedSum()).toBe(BigInt(N));
    await Promise.all(members.map((c) => c.close()));
    await Promise.all(runs);
  }, 180_000);

  it("one send of more than a broker takes in a request (message.max.bytes, 1 MiB): delivered whole and in order", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const brokers = [broker!.bootstrap];
    const topic = 'big-send';
    await ensureTopic(brokers, topic, 1);
    // 4.5 MB for one partition: four times the broker's default limit for one record batch.
    const N = 3000;
    const value = (i: number): string => `${String(i).padStart(6, '0')}:${'x'.repeat(1500)}`;
    expect(N * 1507).toBeGreaterThan(4 * KAFKA_REQUEST_BYTES);
    const producer = new KafkaProducer({ brokers });
    await producer.send(topic, Array.from({ length: N }, (_, i) => ({ key: 'one-subscriber', value: value(i) })));
    await producer.close();
    const got = await readAll(brokers[0]!, topic, N);
    expect(got.size).toBe(N);
    const inOrder = [...got.values()].sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((m) => Buffer.from(m.value).toString().slice(0, 6));
    expect(inOrder).toEqual(Array.from({ length: N }, (_, i) => String(i).padStart(6, '0')));
  }, 180_000);
});
