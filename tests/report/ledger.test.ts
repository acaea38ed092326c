/**
 * The ledger's question (src/report/ledger.ts `mayChange`): may the close's pass, reading a
 * subscriber's flows with evidence, change anything for it? Flows written by hand, weighed with the
 * project's rules/policy.yaml: its session traits (medium at 9) and outcomes. Then the ledger on
 * report batches packed as the writer packs them: what it counts, marks and holds, its bounds, and
 * its state handed to the writer thread.
 */
import { describe, expect, it } from 'vitest';
import { EvidenceLedger, mayChange, type LedgerFact, type LedgerFlow } from '../../src/report/ledger.js';
import { FlowBatch } from '../../src/report/writer-batch.js';
import type { Evidence, FlowRecord, Verdict } from '../../src/types.js';
import { projectRules } from '../helpers.js';
import { flowRecord, noneVerdict } from '../support/records.js';

const policy = projectRules().policy;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 2, 8);

/** A flow of `minutes` to 192.0.2.1:`port`, 10 packets a minute each way of 100 bytes, as the scan decided it. */
function flow(minutes: number, at: number, facts: LedgerFact[], verdict: [string, string, string | null], port = 3333): LedgerFlow {
  const packets = 10 * minutes;
  return {
    server: '192.0.2.1',
    server_port: port,
    transport: 'tcp',
    first_seen: at,
    last_seen: at + minutes * 60_000,
    packets_c2s: packets,
    packets_s2c: packets,
    bytes_c2s: packets * 100,
    bytes_s2c: packets * 100,
    flags_c2s: 0x18,
    flags_s2c: 0x18,
    records: 1,
    label: verdict[0],
    confidence: verdict[1],
    outcome: verdict[2],
    facts,
  };
}

const WEAK: LedgerFact[] = [{ kind: 'behaviour-weak', side: 'client' }];
const WEAK_VERDICT: [string, string, string] = ['suspect', 'low', 'weak pool-like behaviour'];
/** An exact listing observed the day before (full weight), as src/classify/matchers/address.ts writes it. */
const LISTED: LedgerFact[] = [{ kind: 'endpoint-port', side: 'server', matched: '192.0.2.1:3333 listed (ip:port; test pool, pools.yaml:3; observed 2026-11-01, 1 day before the flow, weight 1)' }];
const LISTED_VERDICT: [string, string, string] = ['suspect', 'low', 'listed pool address'];

describe('mayChange', () => {
  it('no: one short flow decided as its evidence says, that no session trait lifts to medium', () => {
    // Connected 2 minutes (no connected trait), port 443: low rate, small packets, both ways = 3 points.
    expect(mayChange(policy, [flow(2, T0, WEAK, WEAK_VERDICT, 443)])).toBe(false);
    // An exact listing, one short flow: 3 (listing) + 1 (address) + 1 (port) + 3 = 8, below 9.
    expect(mayChange(policy, [flow(2, T0, LISTED, LISTED_VERDICT)])).toBe(false);
  });

  it('yes: a flow whose verdict is not what its evidence gives now', () => {
    expect(mayChange(policy, [flow(2, T0, WEAK, ['mining', 'medium', 'weak pool-like behaviour'], 443)])).toBe(true);
    expect(mayChange(policy, [flow(2, T0, WEAK, ['suspect', 'low', 'listed pool address'], 443)])).toBe(true);
  });

  it('yes: a flow that proves its server (peer evidence may have lifted the others)', () => {
    expect(mayChange(policy, [flow(2, T0, [{ kind: 'payload', side: 'client' }], ['mining', 'medium', 'one-sided protocol'])])).toBe(true);
  });

  it('yes: a listing whose date its text does not give (the pass weighs it by the lists)', () => {
    const undated: LedgerFact[] = [{ kind: 'endpoint-port', side: 'server', matched: '192.0.2.1:3333 listed (ip:port; test pool)' }];
    expect(mayChange(policy, [flow(2, T0, undated, LISTED_VERDICT)])).toBe(true);
  });

  it('yes: flows that add up to a session at medium, or a flow holding evidence added up before', () => {
    // Three of the short listed flows of the first case, over two days: connected 6 min (+2), two
    // days (+1), a steady rate (+1), low rate, small packets, both ways, pool port (+4), listing (+4).
    const flows = [flow(2, T0, LISTED, LISTED_VERDICT), flow(2, T0 + 3_600_000, LISTED, LISTED_VERDICT), flow(2, T0 + DAY, LISTED, LISTED_VERDICT)];
    expect(mayChange(policy, flows)).toBe(true);
    expect(mayChange(policy, [flow(2, T0, [...WEAK, { kind: 'session', side: 'client' }], WEAK_VERDICT, 443)])).toBe(true);
  });
});

/** {@link flow}'s flow as the scan hands it to the writer, with its verdict. */
function record(f: LedgerFlow, client: string): [FlowRecord, Verdict] {
  const evidence: Evidence[] = f.facts.map((e) => ({ ruleId: `MW-TEST-${e.kind.toUpperCase()}`, rev: 1, kind: e.kind, side: e.side, family: 'behaviour', matched: e.matched ?? 'test', excerpt: '', offset: 0, time: f.first_seen }));
  const r = flowRecord({
    client,
    server: f.server,
    serverPort: f.server_port,
    transport: f.transport,
    firstSeen: f.first_seen,
    lastSeen: f.last_seen,
    packetsC2S: f.packets_c2s,
    packetsS2C: f.packets_s2c,
    bytesC2S: f.bytes_c2s,
    bytesS2C: f.bytes_s2c,
    tcpFlagsC2S: f.flags_c2s,
    tcpFlagsS2C: f.flags_s2c,
    source: 'export',
    records: f.records,
  });
  // A flow without evidence keeps the plain verdict's reason: the batch packs it as a plain row.
  const none = noneVerdict();
  const v: Verdict = { ...none, label: f.label as Verdict['label'], confidence: f.confidence as Verdict['confidence'], evidence, reason: evidence.length ? 'test' : none.reason, outcome: f.outcome };
  return [r, v];
}

/** A batch of these flows, each with its subscriber (null: none), packed as the writer packs it. */
function batch(flows: Array<[LedgerFlow, string | null]>): ReturnType<FlowBatch['take']> {
  const b = new FlowBatch(null);
  flows.forEach(([f, sub], i) => {
    const [r, v] = record(f, sub ?? `198.51.100.${i}`);
    b.add(r, v, 1, sub, null);
  });
  return b.take();
}

const listedOverTwoDays = (): LedgerFlow[] => [flow(2, T0, LISTED, LISTED_VERDICT), flow(2, T0 + 3_600_000, LISTED, LISTED_VERDICT), flow(2, T0 + DAY, LISTED, LISTED_VERDICT)];

describe('the ledger on report batches', () => {
  it('counts the flows with evidence and a subscriber, marks those the pass may change, holds the others', () => {
    const l = new EvidenceLedger(policy);
    const plain = flow(2, T0, [], ['none', 'none', null], 443);
    const [b1, b2, b3] = listedOverTwoDays();
    l.add(batch([[flow(2, T0, WEAK, WEAK_VERDICT, 443), '100.64.0.1'], [b1!, '100.64.0.2'], [plain, '100.64.0.3'], [flow(2, T0, WEAK, WEAK_VERDICT, 443), null]]));
    // One listed flow of the second subscriber so far: nothing adds up yet.
    expect(l.summary()).toEqual({ flows: 2, marked: [], unmarkedFlows: 2 });
    l.add(batch([[b2!, '100.64.0.2'], [b3!, '100.64.0.2']]));
    expect(l.summary()).toEqual({ flows: 4, marked: ['100.64.0.2'], unmarkedFlows: 1 });
  });

  it('goes on from the state it hands to the writer thread', () => {
    const [b1, b2, b3] = listedOverTwoDays();
    const here = new EvidenceLedger(policy);
    here.add(batch([[b1!, '100.64.0.2']]));
    // As it crosses to the writer thread (a structured clone).
    const handed = structuredClone(here.handOver());
    const thread = new EvidenceLedger(handed.policy, handed.state);
    thread.add(batch([[b2!, '100.64.0.2'], [b3!, '100.64.0.2']]));
    expect(thread.summary()).toEqual({ flows: 3, marked: ['100.64.0.2'], unmarkedFlows: 0 });
  });

  it('marks a subscriber with more than 64 flows with evidence without asking', () => {
    const l = new EvidenceLedger(policy);
    l.add(batch(Array.from({ length: 64 }, (_, i) => [flow(2, T0 + i * DAY, WEAK, WEAK_VERDICT, 443), '100.64.0.9'] as [LedgerFlow, string])));
    expect(l.summary().marked).toEqual([]);
    l.add(batch([[flow(2, T0 + 64 * DAY, WEAK, WEAK_VERDICT, 443), '100.64.0.9']]));
    expect(l.summary()).toEqual({ flows: 65, marked: ['100.64.0.9'], unmarkedFlows: 0 });
  });

  it('gives up past its bound of flows held, or of subscribers marked', () => {
    const held = new EvidenceLedger(policy, undefined, 2);
    held.add(batch([1, 2, 3].map((i) => [flow(2, T0, WEAK, WEAK_VERDICT, 443), `100.64.0.${i}`])));
    expect(held.summary().flows).toBe(-1);
    // One flow a batch, each marked at once (decided otherwise than its evidence says): none held.
    const marked = new EvidenceLedger(policy, undefined, 2);
    for (const i of [1, 2]) marked.add(batch([[flow(2, T0, WEAK, ['mining', 'medium', 'weak pool-like behaviour'], 443), `100.64.0.${i}`]]));
    expect(marked.summary()).toEqual({ flows: 2, marked: ['100.64.0.1', '100.64.0.2'], unmarkedFlows: 0 });
    marked.add(batch([[flow(2, T0, WEAK, ['mining', 'medium', 'weak pool-like behaviour'], 443), '100.64.0.3']]));
    expect(marked.summary().flows).toBe(-1);
    // Once given up, it stays so.
    marked.add(batch([[flow(2, T0, WEAK, WEAK_VERDICT, 443), '100.64.0.9']]));
    expect(marked.summary().flows).toBe(-1);
  });
});
