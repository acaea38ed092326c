/** The behaviour score: every trait measured on the flow, points summed, thresholds from policy.yaml. */
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/classify.js';
import { behaviourReaches, scoreBehaviour } from '../../src/classify/behaviour.js';
import type { BehaviourConfig } from '../../src/rules/schema.js';
import { mulberry32 } from '../support/random.js';
import type { FlowRecord } from '../../src/types.js';
import { projectRules } from '../helpers.js';
import { flowRecord } from '../support/records.js';

function exportFlow(p: Partial<FlowRecord>): FlowRecord {
  const t0 = Date.UTC(2026, 10, 21);
  return flowRecord({
    serverPort: 3333,
    orientation: 'port',
    firstSeen: t0,
    lastSeen: t0 + 45 * 60_000,
    packetsC2S: 600,
    packetsS2C: 700,
    bytesC2S: 600 * 90,
    bytesS2C: 700 * 160,
    tcpFlagsC2S: 0x18,
    tcpFlagsS2C: 0x18,
    endReason: 'eof',
    source: 'export',
    records: 3,
    ...p,
  });
}

describe('behaviour score', () => {
  const rules = projectRules();
  const cfg = rules.policy.behaviour!;

  it('scores a long, low-rate, small-packet session on a pool port as strong, with each trait and value', () => {
    const s = scoreBehaviour(cfg, exportFlow({}), { miningPort: true, listedAddress: false });
    expect(s.scored.map((t) => t.name)).toEqual([
      'long-lived',
      'very long-lived',
      'low steady packet rate (per minute)',
      'small packets (bytes)',
      'both directions active (bytes c2s/s2c)',
      'ACK and PSH flags',
      'pool port',
    ]);
    expect(s.score).toBe(11);
    expect(s.scored.find((t) => t.name.startsWith('low steady'))!.value).toBeCloseTo(1300 / 45, 1);
  });

  it('the same session on an ordinary port cannot reach the strong threshold (chat and SSH look alike)', () => {
    const s = scoreBehaviour(cfg, exportFlow({ serverPort: 6667 }), { miningPort: false, listedAddress: false });
    expect(s.score).toBe(9);
    expect(s.score).toBeLessThan(cfg.strongAt);
  });

  it('through the classifier: strong behaviour on a pool port alone is only suspect (a Redis session on 4444 looks the same); at a listed address it is mining medium, never high; bulk transfer scores nothing', () => {
    const c = new Classifier(rules);
    const v = c.classify(exportFlow({}));
    expect(v).toMatchObject({ label: 'suspect', confidence: 'low', outcome: 'weak pool-like behaviour' });
    expect(v.evidence.find((e) => e.kind === 'behaviour')!.matched).toMatch(/^score 11 \(strong/);
    // The same session to a listed pool address observed a month before the flow.
    const listed = new Classifier({
      ...rules,
      endpoints: [
        ...rules.endpoints,
        { match: { ip: '198.51.100.200', port: null }, pool: 'Test pool', coins: ['XMR'], ports: [], kind: 'pool', source: 'test', added: '2026-10-21', reference: null, dates: 'observed', subdomains: false, origin: { file: 'test', line: 1 } },
      ],
    });
    const lv = listed.classify(exportFlow({}));
    expect(lv).toMatchObject({ label: 'mining', confidence: 'medium', outcome: 'pool-like behaviour at a listed address' });
    expect(lv.evidence.find((e) => e.kind === 'endpoint')!.matched).toMatch(/observed 2026-10-21, 31 days before the flow, weight 1/);
    const bulk = c.classify(exportFlow({ serverPort: 443, lastSeen: exportFlow({}).firstSeen + 20_000, packetsS2C: 9000, bytesS2C: 9000 * 1400 }));
    expect(bulk.label).toBe('none');
    const irc = c.classify(exportFlow({ serverPort: 6667 }));
    expect(irc).toMatchObject({ label: 'suspect', confidence: 'low' });
  });
});

describe('behaviourReaches (the prefilter test)', () => {
  // The project's traits, and the same metrics with fractional and negative points and bounded facts.
  const project = projectRules().policy.behaviour!;
  const odd: BehaviourConfig = {
    ...project,
    traits: [
      { name: 'a fact first', metric: 'listed_address', min: 1, max: null, points: 2.5 },
      { name: 'short', metric: 'duration_min', min: null, max: 1, points: -1.25 },
      ...project.traits.map((t, i) => ({ ...t, points: i % 3 === 0 ? t.points + 0.1 : i % 3 === 1 ? -t.points : t.points })),
      { name: 'no pool port', metric: 'mining_port', min: null, max: 0, points: 0.7 },
      { name: 'many records', metric: 'records', min: 10, max: null, points: 1.3 },
    ],
  };

  it('says whether the score reaches a threshold, as scoreBehaviour sums it, on 20,000 seeded flows of every shape', () => {
    const rnd = mulberry32(20261122);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const n = (): number => pick([0, 0, 1, 2, 5, 30, 200, 5000, Math.floor(rnd() * 1e6)]);
    let reached = 0;
    let missed = 0;
    for (let i = 0; i < 20_000; i++) {
      const first = 1.7e12 + Math.floor(rnd() * 1e9);
      const f = {
        packetsC2S: n(), packetsS2C: n(), bytesC2S: n() * 60, bytesS2C: n() * 60,
        firstSeen: first, lastSeen: first + pick([0, 1000, 59_999, 60_000, 600_000, 3_600_000, Math.floor(rnd() * 1e8)]),
        transport: pick(['tcp', 'udp'] as const), tcpFlagsC2S: pick([0, 0x10, 0x18, 0x1a, 0x02]), tcpFlagsS2C: pick([0, 0x10, 0x18, 0x12]), records: pick([0, 1, 2, 10, 50]),
      };
      const facts = { miningPort: rnd() < 0.3, listedAddress: rnd() < 0.2 };
      const cfg = i % 2 === 0 ? project : odd;
      const score = scoreBehaviour(cfg, f, facts).score;
      // The thresholds the policy uses, the score itself and its neighbours (the boundary), and others.
      for (const t of [cfg.weakAt, cfg.strongAt, score, score - 0.05, score + 0.05, -3, 0, pick([1, 2.5, 4, 6, 8, 9, 11, 14, 20])]) {
        const want = score >= t;
        expect(behaviourReaches(cfg, f, facts, t), JSON.stringify({ f, facts, t, score, odd: cfg === odd })).toBe(want);
        if (want) reached++;
        else missed++;
      }
    }
    // Both answers are exercised often.
    expect(reached).toBeGreaterThan(20_000);
    expect(missed).toBeGreaterThan(20_000);
  });

  it('answers as the sum does where points are too large to add up exactly in any order', () => {
    // 1 + 1 + 1e16 is 1e16 + 2 added in the traits' order, but 1e16 added up from the end.
    const huge: BehaviourConfig = {
      ...project,
      weakAt: 1e16 + 2,
      traits: [
        { name: 'a', metric: 'records', min: 1, max: null, points: 1 },
        { name: 'b', metric: 'records', min: 1, max: null, points: 1 },
        { name: 'c', metric: 'records', min: 1, max: null, points: 1e16 },
      ],
    };
    const t0 = 1.7e12;
    const f = { packetsC2S: 5, packetsS2C: 5, bytesC2S: 500, bytesS2C: 500, firstSeen: t0, lastSeen: t0 + 600_000, transport: 'tcp' as const, tcpFlagsC2S: 0x18, tcpFlagsS2C: 0x18, records: 3 };
    const facts = { miningPort: false, listedAddress: false };
    const score = scoreBehaviour(huge, f, facts).score;
    expect(score).toBe(1e16 + 2);
    for (const t of [huge.weakAt, score, 1e16, 1e16 + 4, 3e16]) expect(behaviourReaches(huge, f, facts, t), String(t)).toBe(score >= t);
  });
});
