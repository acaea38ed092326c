/**
 * Kafka segments into a report without a broker (the broker tests are tests/kafka): where segments
 * are cut, what each input row says, what is committed, that a replayed offset is read once, and
 * that a segment cut by time is cut only where its partition is read to the end, and merges with
 * the longer segment another member read from the same offset without counting a message twice.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { main } from '../../src/cli/main.js';
import { KafkaShard, segmentPath, type StreamMessage } from '../../src/consume.js';
import { encodeGoflowMessage } from '../../src/decode/goflow2.js';
import { openReport, ReportWriter } from '../../src/report/writer.js';
import { describeDeadRun, reapDeadRuns } from '../../src/report/runs.js';
import { projectRules } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Message `i` of a partition: one direction of a TCP flow from subscriber 10.0.0.(i % 7) to a server. */
function message(partition: number, i: number): StreamMessage {
  const t0 = 1_700_000_000_000n + BigInt(i) * 1000n;
  const value = encodeGoflowMessage({
    type: 'NETFLOW_V9',
    timeReceivedNs: (t0 + 5000n) * 1_000_000n,
    srcAddr: `10.0.${partition}.${i % 7}`,
    dstAddr: '192.0.2.80',
    srcPort: 40000 + (i % 7),
    dstPort: 443,
    proto: 6,
    bytes: 1000 + i,
    packets: 3,
    tcpFlags: 0x18,
    timeFlowStartNs: t0 * 1_000_000n,
    timeFlowEndNs: (t0 + 500n) * 1_000_000n,
  });
  return { topic: 't', partition, offset: BigInt(i), key: Buffer.from(`10.0.${partition}.${i % 7}`), value };
}

/** sha256 of a segment as the README's schema section defines it, computed here from that text. */
function segmentSha(msgs: StreamMessage[]): string {
  const h = createHash('sha256');
  h.update(`${msgs[0]!.topic}\0${msgs[0]!.partition}\0`);
  for (const m of msgs) {
    const off = Buffer.alloc(8);
    off.writeBigInt64BE(m.offset);
    const lens = Buffer.alloc(8);
    lens.writeUInt32BE(m.key ? m.key.length : 0xffffffff, 0);
    lens.writeUInt32BE(m.value.length, 4);
    h.update(off);
    h.update(lens);
    if (m.key) h.update(m.key);
    h.update(m.value);
  }
  return h.digest('hex');
}

function setup(segmentMessages: number, time?: { segmentMs: number; clock: () => number }) {
  const dir = mkdtempSync(join(tmpdir(), 'mw-seg-'));
  dirs.push(dir);
  const path = join(dir, 'r.sqlite');
  const db = openReport(path);
  const writer = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'x', rules: '', command: 'consume', options: {} });
  const shard = new KafkaShard(projectRules(), { format: 'goflow2-pb', segmentMessages, maxFlows: 1024, joinGapMs: 300_000, ...time }, {
    open: (topic, partition, first) => writer.addInput(`kafka://${topic}/${partition}/${first}-`),
    flow: (f, v, id) => writer.addFlow(f, v, id, f.client),
    close: (id, s) => writer.completeInput(id, { path: segmentPath(s.topic, s.partition, s.first, s.last), format: 'kafka goflow2-pb', size: s.bytes, sha256: s.sha256, records: s.records, packets: s.messages }),
    discard: (id) => writer.dropInput(id),
  });
  return { db, writer, shard, path };
}

/** Complete Kafka segments of a report: [path, messages] in offset order. */
function completeSegments(path: string): Array<[string, number]> {
  const d = new Database(path, { readonly: true });
  try {
    return (d.prepare("SELECT path, packets FROM inputs WHERE status = 'complete' AND path LIKE 'kafka://%'").raw().all() as Array<[string, number]>).sort(
      (a, b) => Number(/\/(\d+)-/.exec(a[0])![1]) - Number(/\/(\d+)-/.exec(b[0])![1]),
    );
  } finally {
    d.close();
  }
}

/** Every flow of a report as sorted lines of what identifies and measures it. */
function flowLines(path: string): string[] {
  const d = new Database(path, { readonly: true });
  try {
    return (d.prepare('SELECT client, client_port, server, server_port, first_seen, last_seen, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, label FROM flows').raw().all() as unknown[][])
      .map((r) => JSON.stringify(r))
      .sort();
  } finally {
    d.close();
  }
}

describe('Kafka segments', () => {
  it('cuts at multiples of the segment size, completes each input before its offsets are committed, and names it by its messages', () => {
    const { db, writer, shard } = setup(40);
    const msgs = Array.from({ length: 100 }, (_, i) => message(0, i));
    const commits: bigint[] = [];
    for (const m of msgs) {
      shard.message(m);
      for (const c of shard.takeCommits()) {
        commits.push(c.offset);
        // By the time an offset may be committed, its segment is complete in the report.
        const done = db.prepare("SELECT count(*) FROM inputs WHERE status = 'complete' AND path = ?").pluck().get(segmentPath('t', 0, c.offset - 40n, c.offset - 1n));
        expect(done).toBe(1);
      }
    }
    expect(commits).toEqual([40n, 80n]);
    expect(shard.closeAll()).toHaveLength(1);
    expect(shard.takeCommits()).toEqual([{ topic: 't', partition: 0, offset: 100n }]);
    const rows = db.prepare("SELECT path, status, packets, records, sha256 FROM inputs ORDER BY id").all() as Array<{ path: string; status: string; packets: number; records: number; sha256: string }>;
    expect(rows.map((r) => [r.path, r.status, r.packets, r.records])).toEqual([
      ['kafka://t/0/0-39', 'complete', 40, 40],
      ['kafka://t/0/40-79', 'complete', 40, 40],
      ['kafka://t/0/80-99', 'complete', 20, 20],
    ]);
    expect(rows.map((r) => r.sha256)).toEqual([segmentSha(msgs.slice(0, 40)), segmentSha(msgs.slice(40, 80)), segmentSha(msgs.slice(80))]);
    // Flows are cut at segment ends: each of the 7 subscribers has one flow per segment.
    writer.flush();
    expect(db.prepare('SELECT i.path, count(*) FROM flows f JOIN inputs i ON f.input_id = i.id GROUP BY i.path ORDER BY i.path').raw().all()).toEqual([
      ['kafka://t/0/0-39', 7],
      ['kafka://t/0/40-79', 7],
      ['kafka://t/0/80-99', 7],
    ]);
    writer.finish({ packets: 100, anomalies: 0, interrupted: false });
    db.close();
  });

  it('reads a replayed offset once, and resumes after the segments a report already holds', () => {
    const { db, writer, shard } = setup(40);
    shard.resumeAfter('t', 1, 39n);
    for (let i = 0; i < 60; i++) shard.message(message(1, i));
    // A rebalance delivers some again.
    for (let i = 50; i < 60; i++) shard.message(message(1, i));
    expect(shard.replayed).toBe(40 + 10);
    expect(shard.messages).toBe(20);
    shard.closeAll();
    const paths = db.prepare('SELECT path FROM inputs ORDER BY id').pluck().all();
    expect(paths).toEqual(['kafka://t/1/40-59']);
    writer.finish({ packets: 20, anomalies: 0, interrupted: false });
    db.close();
  });

  it('drops the open segment of a partition taken away, flows and all, and commits nothing for it', () => {
    const { db, writer, shard } = setup(40);
    for (let i = 0; i < 60; i++) shard.message(message(3, i));
    expect(shard.takeCommits()).toEqual([{ topic: 't', partition: 3, offset: 40n }]);
    shard.discardPartition('t', 3);
    expect(shard.takeCommits()).toEqual([]);
    writer.flush();
    expect(db.prepare('SELECT path, status FROM inputs ORDER BY id').raw().all()).toEqual([['kafka://t/3/0-39', 'complete']]);
    expect(db.prepare('SELECT count(*) FROM flows f JOIN inputs i ON f.input_id = i.id').pluck().get()).toBe(db.prepare('SELECT count(*) FROM flows').pluck().get());
    writer.finish({ packets: 60, anomalies: 0, interrupted: false });
    db.close();
  });

  it('counts a value that is not a FlowMessage and goes on', () => {
    const { db, writer, shard } = setup(10);
    shard.message({ topic: 't', partition: 2, offset: 0n, key: null, value: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]) });
    shard.message(message(2, 1));
    const [s] = shard.closeAll();
    expect(s!.anomalies.counts.get('kafka.bad_message')).toBe(1);
    expect(s!.records).toBe(1);
    expect(s!.anomalies.samples[0]!.message).toMatch(/^offset 0, byte 0 of the value: expected /);
    writer.finish({ packets: 2, anomalies: 1, interrupted: false });
    db.close();
  });

  it('cuts a segment open long enough at its last message only where its partition is read to the end; the next one runs to the next cut point', () => {
    let now = 1_000_000;
    const { db, writer, shard } = setup(40, { segmentMs: 2000, clock: () => now });
    for (let i = 0; i < 5; i++) shard.message(message(0, i));
    now += 1999;
    expect(shard.aged()).toEqual([]);
    now += 1;
    expect(shard.aged()).toEqual([{ topic: 't', partition: 0, first: 0n, last: 4n }]);
    // Offset 5 is in the log but not read yet: no cut (a replay from offset 0 could not cut before it either).
    expect(shard.cutAt('t', 0, 0n, 6n)).toBeNull();
    // A segment that is not the one named (another start) is not cut.
    expect(shard.cutAt('t', 0, 1n, 5n)).toBeNull();
    expect(shard.cutAt('t', 0, 0n, 5n)?.last).toBe(4n);
    expect(shard.takeCommits()).toEqual([{ topic: 't', partition: 0, offset: 5n }]);
    expect(shard.open).toBe(0);
    // The next segment starts at the next offset and ends at the next multiple of 40.
    for (let i = 5; i < 45; i++) shard.message(message(0, i));
    expect(shard.takeCommits()).toEqual([{ topic: 't', partition: 0, offset: 40n }]);
    shard.closeAll();
    expect(db.prepare("SELECT path, packets FROM inputs WHERE status = 'complete' ORDER BY id").raw().all()).toEqual([
      ['kafka://t/0/0-4', 5],
      ['kafka://t/0/5-39', 35],
      ['kafka://t/0/40-44', 5],
    ]);
    writer.finish({ packets: 45, anomalies: 0, interrupted: false });
    db.close();
  });

  it('a member that cut a segment by time and died before its commit, and the next owner reading on from the same offset, merge with each message once', async () => {
    // Member A: offsets 0-4 were the partition's end when its segment had been open 2 s; it cut
    // there, completed the segment in its report, and died before committing offset 5.
    let now = 0;
    const a = setup(40, { segmentMs: 2000, clock: () => now });
    for (let i = 0; i < 5; i++) a.shard.message(message(0, i));
    now += 2000;
    expect(a.shard.cutAt('t', 0, 0n, 5n)).not.toBeNull();
    a.writer.flush();
    a.db.close();
    // Member B, the next owner, reads from the last commit (offset 0) on: by then 60 messages.
    const b = setup(40);
    for (let i = 0; i < 60; i++) b.shard.message(message(0, i));
    b.shard.closeAll();
    b.writer.finish({ packets: 60, anomalies: 0, interrupted: false });
    b.db.close();
    expect(completeSegments(a.path)).toEqual([['kafka://t/0/0-4', 5]]);
    expect(completeSegments(b.path)).toEqual([
      ['kafka://t/0/0-39', 40],
      ['kafka://t/0/40-59', 20],
    ]);
    for (const order of [
      [a.path, b.path],
      [b.path, a.path],
    ]) {
      const merged = join(dirs[dirs.length - 1]!, `merged-${order[0] === a.path ? 'ab' : 'ba'}.sqlite`);
      expect(await main(['merge', ...order, '--db', merged], { out: () => undefined, err: () => undefined })).toBe(0);
      // The longer segment is kept: offsets 0-59 once each, and B's flows exactly (A's short segment's flows went with it).
      expect(completeSegments(merged)).toEqual([
        ['kafka://t/0/0-39', 40],
        ['kafka://t/0/40-59', 20],
      ]);
      expect(flowLines(merged)).toEqual(flowLines(b.path));
    }
  });
});

describe('a dead run, as the next scan, merge or consumer removes it', () => {
  it("a consumer's: only the segment it was still reading goes, and the line says Kafka reads it again, not to scan it again", () => {
    const { db, writer, shard, path } = setup(10);
    for (let i = 0; i < 25; i++) shard.message(message(0, i));
    writer.flush();
    // Its owner is gone (no process recorded: the same as one killed on this host).
    db.prepare('UPDATE runs SET pid = NULL').run();
    const dead = reapDeadRuns(db);
    expect(dead.map((d) => [d.command, d.inputs])).toEqual([['consume', ['kafka://t/0/20-']]]);
    const line = describeDeadRun('r.sqlite', dead[0]!);
    expect(line).toMatch(/^consume run 1 in r\.sqlite did not finish \(no owner process recorded\): removed the \d+ flow\(s\) of the 1 segment\(s\) it was still reading \(kafka:\/\/t\/0\/20-\); its complete segments stay, and the next consumer of the group reads those messages again from Kafka$/);
    expect(line).not.toMatch(/scan/);
    expect(completeSegments(path).map(([, n]) => n)).toEqual([10, 10]);
    db.close();
  });

  it("a collector's: its flows stay, and the line says so; a scan's names its inputs and says to scan them again", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-dead-'));
    dirs.push(dir);
    const db = openReport(join(dir, 'r.sqlite'));
    const collect = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'x', rules: '', command: 'collect', options: {} });
    collect.addInput('udp://127.0.0.1:2055');
    const scan = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'x', rules: '', command: 'scan', options: {} });
    scan.addInput('/data/a.pcap');
    db.prepare('UPDATE runs SET pid = NULL').run();
    const lines = reapDeadRuns(db).map((d) => describeDeadRun('r.sqlite', d));
    expect(lines).toEqual([
      'collect run 1 in r.sqlite did not finish (no owner process recorded): the flows it wrote up to its last commit are kept; flows still open then are lost (live traffic is not read again)',
      'scan run 2 in r.sqlite did not finish (no owner process recorded): 1 input(s) (/data/a.pcap); scan them again',
    ]);
    db.close();
  });
});
