/**
 * Packed flow batches: a flow with no evidence, attributes, shares or NAT goes in as a plain row
 * (the verdict columns constants of its statement); every other flow binds every column. Each row
 * is checked against the values the test derives from the record and the verdict itself, column
 * by column, in a real report schema.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FlowBatch, insertFlows, prepareFlowStatements } from '../../src/report/writer-batch.js';
import { SCHEMA_SQL } from '../../src/report/schema.js';
import type { FlowRecord, Verdict } from '../../src/types.js';
import { flowRecord, noneVerdict } from '../support/records.js';

function flow(i: number, over: Partial<FlowRecord> = {}): FlowRecord {
  return flowRecord({
    client: `100.64.0.${i}`,
    clientPort: 40000 + i,
    server: `198.51.100.${i}`,
    firstSeen: 1_700_000_000_000 + i * 1000,
    lastSeen: 1_700_000_000_500 + i * 1000,
    packetsC2S: 3 + i,
    packetsS2C: 5 + i,
    bytesC2S: 300 + i,
    bytesS2C: 5000 + i,
    ...over,
  });
}

const NONE: Verdict = noneVerdict();

/** The row a flow should get, from the record and verdict (not from the batch code). */
function expected(f: FlowRecord, v: Verdict, input: number, subscriber: string | null, nat: string | null): Record<string, unknown> {
  return {
    run_id: 1,
    input_id: input,
    client: f.client,
    client_port: f.clientPort,
    server: f.server,
    server_port: f.serverPort,
    transport: f.transport,
    ip_version: f.ipVersion,
    orientation: f.orientation,
    first_seen: f.firstSeen,
    last_seen: f.lastSeen,
    packets_c2s: f.packetsC2S,
    packets_s2c: f.packetsS2C,
    bytes_c2s: f.bytesC2S,
    bytes_s2c: f.bytesS2C,
    flags_c2s: f.tcpFlagsC2S,
    flags_s2c: f.tcpFlagsS2C,
    end_reason: f.endReason,
    source: f.source,
    records: f.records,
    sampling: f.sampling,
    label: v.label,
    confidence: v.confidence,
    coin: v.attributes.coin,
    agent: v.attributes.agent,
    software: v.attributes.software,
    workers: JSON.stringify(v.attributes.workers),
    pool: v.attributes.pool,
    server_name: v.attributes.serverName,
    rules: [...new Set(v.evidence.map((e) => e.ruleId))].join(','),
    outcome: v.outcome,
    reason: v.reason,
    subscriber,
    nat,
    shares_submitted: null,
    shares_accepted: null,
    shares_rejected: null,
    shares: null,
    share_hashes: null,
    algorithm: null,
    reported_hs: null,
  };
}

describe('flow batches', () => {
  it('writes plain and full rows with the values of their records and verdicts', () => {
    const db = new Database(':memory:');
    db.exec(SCHEMA_SQL);
    db.prepare("INSERT INTO runs(id, started, tool_version, ruleset_digest, rules, options, status) VALUES (1, 0, 'test', '', '', '{}', 'running')").run();
    db.prepare("INSERT INTO inputs(id, run_id, path, format) VALUES (7, 1, 'x.pcap', 'pcap')").run();
    const cases: Array<{ f: FlowRecord; v: Verdict; sub: string | null; nat: string | null; plain: boolean }> = [
      // Plain: no directory (the subscriber is the client address), a named subscriber, none at all, IPv6, an export flow.
      { f: flow(1), v: NONE, sub: '100.64.0.1', nat: null, plain: true },
      { f: flow(2, { transport: 'udp', tcpFlagsC2S: 0, tcpFlagsS2C: 0, orientation: 'port', endReason: 'idle' }), v: NONE, sub: 'account-2', nat: null, plain: true },
      { f: flow(3), v: NONE, sub: null, nat: null, plain: true },
      { f: flow(4, { client: '2001:db8::4', server: '2001:db8:1::4', ipVersion: 6 }), v: NONE, sub: '2001:db8::4', nat: null, plain: true },
      { f: flow(5, { source: 'export', records: 3, sampling: 100, endReason: 'eof' }), v: NONE, sub: '100.64.0.5', nat: null, plain: true },
      // Not plain: a NAT mapping, a server name, a reason of its own, evidence.
      { f: flow(6), v: NONE, sub: '10.0.0.6', nat: '100.64.0.6:40006', plain: false },
      { f: flow(7), v: { ...NONE, attributes: { ...NONE.attributes, serverName: 'example.org' } }, sub: '100.64.0.7', nat: null, plain: false },
      { f: flow(8), v: { ...NONE, reason: 'something else' }, sub: '100.64.0.8', nat: null, plain: false },
      {
        f: flow(9),
        v: {
          label: 'suspect',
          confidence: 'low',
          evidence: [{ ruleId: 'BEH-1', rev: 2, kind: 'behaviour-weak', side: 'client', family: 'behaviour', matched: 'score 3', excerpt: '', offset: 0, time: 1_700_000_009_000 }],
          attributes: { coin: null, agent: null, software: null, workers: ['w1'], pool: 'somepool', serverName: null },
          reason: 'suspect with 198.51.100.9:443 — behaviour-weak: score 3',
          outcome: 'weak behaviour',
        },
        sub: '100.64.0.9',
        nat: null,
        plain: false,
      },
      // Plain again, right after a row with evidence.
      { f: flow(10), v: NONE, sub: '100.64.0.10', nat: null, plain: true },
    ];
    const batch = new FlowBatch(null);
    for (const c of cases) batch.add(c.f, c.v, 7, c.sub, c.nat);
    const packed = batch.take();
    // The plain rows are marked as such in the batch (the label column holds no string index).
    expect(cases.map((_c, i) => packed.strs[i * 20 + 6]! < -1)).toEqual(cases.map((c) => c.plain));
    const st = prepareFlowStatements(db);
    db.transaction(() => insertFlows(st, 1, packed))();
    const got = db.prepare('SELECT * FROM flows ORDER BY id').all() as Array<Record<string, unknown>>;
    expect(got).toHaveLength(cases.length);
    cases.forEach((c, i) => {
      const { id: _id, ...row } = got[i]!;
      expect(row, `case ${i + 1}`).toEqual(expected(c.f, c.v, 7, c.sub, c.nat));
    });
    // The evidence row belongs to the ninth flow.
    expect(db.prepare('SELECT f.client, e.rule_id, e.kind FROM evidence e JOIN flows f ON f.id = e.flow_id').all()).toEqual([{ client: '100.64.0.9', rule_id: 'BEH-1', kind: 'behaviour-weak' }]);
    db.close();
  });

  it('writes every evidence row of every flow, in order, with each of its values, past the first room for evidence', () => {
    const db = new Database(':memory:');
    db.exec(SCHEMA_SQL);
    db.prepare("INSERT INTO runs(id, started, tool_version, ruleset_digest, rules, options, status) VALUES (1, 0, 'test', '', '', '{}', 'running')").run();
    db.prepare("INSERT INTO inputs(id, run_id, path, format) VALUES (7, 1, 'x.pcap', 'pcap')").run();
    // 1,500 flows with evidence, every fifth one plain between them: 4,500 evidence rows, more than a batch first has room for (1,024), so its room doubles twice.
    const batch = new FlowBatch(null);
    const want: Array<{ client: string; rule_id: string; rev: number; kind: string; side: string; family: string; matched: string; excerpt: string; offset: number; time: number }> = [];
    for (let i = 0; i < 1875; i++) {
      const f = flow(i, { client: `100.64.${i >> 8}.${i & 255}` });
      if (i % 5 === 4) {
        batch.add(f, NONE, 7, f.client, null);
        continue;
      }
      const evidence: Verdict['evidence'] = [
        { ruleId: 'MW-PAYLOAD-1', rev: 3, kind: 'payload', side: 'client', family: 'stratum', matched: `mining.subscribe #${i}`, excerpt: `{"id":${i},"method":"mining.subscribe"}`, offset: i % 7, time: 1_700_000_000_000 + i * 1000.4 },
        { ruleId: 'MW-BEHAVIOUR', rev: 1, kind: 'behaviour-weak', side: 'server', family: 'behaviour', matched: `score ${i % 9}`, excerpt: '', offset: 0, time: 1_700_000_000_000 + i },
        { ruleId: i % 2 ? 'MW-PORT' : 'MW-ENDPOINT', rev: 1 + (i % 2), kind: i % 2 ? 'port' : 'endpoint', side: 'server', family: 'endpoint', matched: i % 2 ? 'pool port 3333' : `listed 198.51.100.${i & 255}`, excerpt: '', offset: 0, time: 0 },
      ];
      const v: Verdict = { label: 'mining', confidence: 'medium', evidence, attributes: { ...NONE.attributes }, reason: `mining #${i}`, outcome: 'protocol' };
      batch.add(f, v, 7, f.client, null);
      for (const e of evidence) want.push({ client: f.client, rule_id: e.ruleId, rev: e.rev, kind: e.kind, side: e.side, family: e.family, matched: e.matched, excerpt: e.excerpt, offset: e.offset, time: Math.round(e.time) });
    }
    const packed = batch.take();
    expect(packed.evidenceCount).toBe(4500);
    db.transaction(() => insertFlows(prepareFlowStatements(db), 1, packed))();
    const got = db.prepare('SELECT f.client, e.rule_id, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time FROM evidence e JOIN flows f ON f.id = e.flow_id ORDER BY e.rowid').all();
    expect(got).toEqual(want);
    expect(db.prepare("SELECT count(*) FROM flows WHERE label = 'none'").pluck().get()).toBe(375);
    // A batch taken after starts empty.
    expect(batch.take().evidenceCount).toBe(0);
    db.close();
  });
});
