/**
 * Kafka segments into a report without a broker (the broker tests are tests/kafka): where segments
 * are cut, what each input row says, what is committed, and that a replayed offset is read once.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaShard, segmentPath, type StreamMessage } from '../../src/consume.js';
import { encodeGoflowMessage } from '../../src/decode/goflow2.js';
import { openReport, ReportWriter } from '../../src/report/writer.js';
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

function setup(segmentMessages: number) {
  const dir = mkdtempSync(join(tmpdir(), 'mw-seg-'));
  dirs.push(dir);
  const db = openReport(join(dir, 'r.sqlite'));
  const writer = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'x', rules: '', command: 'consume', options: {} });
  const shard = new KafkaShard(projectRules(), { format: 'goflow2-pb', segmentMessages, maxFlows: 1024, joinGapMs: 300_000 }, {
    open: (topic, partition, first) => writer.addInput(`kafka://${topic}/${partition}/${first}-`),
    flow: (f, v, id) => writer.addFlow(f, v, id, f.client),
    close: (id, s) => writer.completeInput(id, { path: segmentPath(s.topic, s.partition, s.first, s.last), format: 'kafka goflow2-pb', size: s.bytes, sha256: s.sha256, records: s.records, packets: s.messages }),
    discard: (id) => writer.dropInput(id),
  });
  return { db, writer, shard };
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
});
