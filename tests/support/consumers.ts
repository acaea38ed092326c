/**
 * Members of a consumer group as tests run them: `minerwatch consume` child processes, what their
 * reports hold, waits that say where every message is when they give up, and the topic read back
 * into one scan (the watch list the members must give). Shared by the real-broker tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { GroupConsumer, type KafkaMessage } from '../../src/io/kafka.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT, runCli, waitFor } from '../helpers.js';
import { describeGroup } from './kafka.js';

export const BIN = join(ROOT, 'bin', 'minerwatch');
export const V9 = join(CORPUS, 'netflow', 'generated', 'v9');

export const cli = (args: string[], timeoutMs = 120_000): ReturnType<typeof runCli> => runCli(args, timeoutMs);

/** The watch list of a report, the operator's deliverable, without the flow ids (each report numbers its own flows). */
export function watchlist(db: string): Array<Record<string, unknown>> {
  const r = cli(['watchlist', '--db', db, '--format', 'json']);
  expect(r.code, r.err).toBe(0);
  const rows = JSON.parse(r.out) as Array<Record<string, unknown>>;
  for (const row of rows) delete row.flowIds;
  return rows.sort((a, b) => String(a.subscriber).localeCompare(String(b.subscriber)));
}

/** Every flow of a report as sorted lines of what identifies and measures it (ids and inputs left out). */
export function flowLines(db: string): string[] {
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
export function segmentMessages(db: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare("SELECT coalesce(sum(packets), 0) FROM inputs WHERE status = 'complete' AND path LIKE 'kafka://%'").pluck().get() as number;
  } finally {
    d.close();
  }
}

/** Start a consumer; its stderr is kept, and `messages` parses its periodic counter line. */
export function startConsumer(args: string[]): { child: ChildProcess; err: () => string; messages: () => number; exited: Promise<number> } {
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

export type Member = ReturnType<typeof startConsumer>;

/** Per partition, the complete segments of a report (count, and the offsets they cover) and the open ones. */
export function reportPartitions(db: string): string {
  let d: Database.Database | null = null;
  try {
    d = new Database(db, { readonly: true });
    const rows = d.prepare("SELECT path, status, packets FROM inputs WHERE path LIKE 'kafka://%'").all() as Array<{ path: string; status: string; packets: number }>;
    const byPart = new Map<string, { complete: number; messages: number; first: number; last: number; other: string[] }>();
    for (const r of rows) {
      const m = /^kafka:\/\/[^/]+\/(\d+)\/(\d+)-(\d*)$/.exec(r.path);
      if (!m) continue;
      let p = byPart.get(m[1]!);
      if (!p) byPart.set(m[1]!, (p = { complete: 0, messages: 0, first: Infinity, last: -1, other: [] }));
      if (r.status === 'complete') {
        p.complete++;
        p.messages += r.packets;
        p.first = Math.min(p.first, Number(m[2]));
        p.last = Math.max(p.last, Number(m[3]));
      } else p.other.push(`${m[2]}- ${r.status}`);
    }
    return (
      [...byPart.entries()]
        .sort((a, b) => Number(a[0]) - Number(b[0]))
        .map(([k, p]) => `${k}: ${p.complete ? `${p.complete} complete (${p.messages} messages, ${p.first}..${p.last})` : 'none complete'}${p.other.length ? `, ${p.other.join(', ')}` : ''}`)
        .join('; ') || 'no segments'
    );
  } catch (e) {
    return `not readable (${e instanceof Error ? e.message : String(e)})`;
  } finally {
    d?.close();
  }
}

/** Where the messages are when a wait for them fails: each member's assignments, counters and report, and the broker's view of the group. */
export async function whereMessagesAre(members: Member[], dbs: string[], group: GroupRef): Promise<string> {
  const lines = members.map((m, i) => {
    const err = m.err();
    const state = m.child.signalCode ? `ended by ${m.child.signalCode}` : m.child.exitCode !== null ? `exited ${m.child.exitCode}` : 'running';
    const assigned = [...err.matchAll(/^minerwatch: (assigned [^\n]*)$/gm)].map((x) => x[1]).join(' → ') || 'never assigned';
    const counters = [...err.matchAll(/^minerwatch: (messages \d+[^\n]*)$/gm)].pop()?.[1] ?? 'no counters';
    const other = err.split('\n').filter((l) => l.length > 0 && !/^minerwatch: (assigned|messages \d)/.test(l)).slice(-3).join(' | ');
    return `member ${i} (${state}): ${assigned}; last counters: ${counters}; report: ${reportPartitions(dbs[i]!)}${other ? `; other lines: ${other}` : ''}`;
  });
  return [...lines, await describeGroup(group.bootstrap, group.group, group.topic, group.partitions)].join('\n');
}

export type GroupRef = { bootstrap: string; group: string; topic: string; partitions: number };

/** {@link waitFor}, and when it gives up, where the messages are then (not as they were when it began). */
export async function waitForMembers(predicate: () => boolean, what: string, timeoutMs: number, members: Member[], dbs: string[], group: GroupRef): Promise<void> {
  try {
    await waitFor(predicate, { what, timeoutMs });
  } catch (e) {
    const running = (m: Member): boolean => m.child.exitCode === null && m.child.signalCode === null;
    const counts = members.map((x, i) => (running(x) ? `${x.messages()} read` : `${segmentMessages(dbs[i]!)} in its report`)).join(', ');
    throw new Error(`${(e as Error).message} (held ${counts}):\n${await whereMessagesAre(members, dbs, group)}`, { cause: e });
  }
}

/**
 * Stop members one at a time (SIGINT: open segments are completed and committed), each once the
 * others hold every message: a member leaving makes the group move its partitions, and the others
 * drop their open segments and read them again.
 */
export async function stopInTurn(members: Member[], dbs: string[], all: number, group: GroupRef): Promise<void> {
  const running = (m: Member): boolean => m.child.exitCode === null && m.child.signalCode === null;
  const held = (): number => members.reduce((n, m, i) => n + (running(m) ? m.messages() : segmentMessages(dbs[i]!)), 0);
  for (const m of members) {
    if (!running(m)) continue;
    await waitForMembers(() => held() >= all, `the members to hold all ${all} messages`, 120_000, members, dbs, group);
    m.child.kill('SIGINT');
    await m.exited;
  }
}

/**
 * The topic read back as it is (a reader independent of consume), written one JSON message per
 * line, scanned once: the watch list the members must give.
 */
export async function readTopicWith(bootstrap: string, dir: string, topic: string, count: number, name: string): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  const reader = new GroupConsumer({ brokers: bootstrap.split(','), group: `reader-${name}`, topic });
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

export const missing = ['java', 'mvn'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
export const skip = !HAVE_CORPUS ? CORPUS_SKIP_REASON : missing.length ? `${missing.join(' and ')} not installed (Debian: openjdk-17-jre-headless maven): no Kafka broker` : null;

