import { describe, expect, it } from 'vitest';
import { measureSession, scoreSession, subscriberEvidence, type SessionFlow } from '../../src/aggregate/sessions.js';
import type { SessionConfig } from '../../src/rules/schema.js';
import { classesOf, decide } from '../../src/classify/policy.js';
import { projectRules } from '../helpers.js';

const T0 = Date.UTC(2026, 10, 10, 8);
const MIN = 60_000;

/** One exporter record of a connection: `minutes` long from `startMin`, `ppm` packets a minute each way split 1:1. */
function rec(id: number, startMin: number, minutes: number, o: Partial<SessionFlow> = {}): SessionFlow {
  const pkts = Math.round(minutes * 4);
  return {
    id,
    server: '203.0.113.10',
    serverPort: 3333,
    transport: 'tcp',
    firstSeen: T0 + startMin * MIN,
    lastSeen: T0 + (startMin + minutes) * MIN,
    packetsC2S: pkts,
    packetsS2C: pkts,
    bytesC2S: pkts * 120,
    bytesS2C: pkts * 180,
    flags: 0x18,
    records: 1,
    endpointWeight: 0,
    addressWeight: 0,
    ...o,
  };
}

const CFG: SessionConfig = {
  id: 'T-SESSION',
  rev: 1,
  chainGapMs: 10 * MIN,
  mediumAt: 6,
  traits: [
    { name: 'connected', metric: 'connected_min', min: 5, max: null, points: 2 },
    { name: 'chained', metric: 'chained_records', min: 3, max: null, points: 1 },
    { name: 'days', metric: 'days', min: 2, max: null, points: 1 },
    { name: 'steady', metric: 'rate_cv', min: null, max: 0.5, points: 1 },
    { name: 'endpoint', metric: 'listed_endpoint', min: 0.01, max: null, points: 4 },
  ],
};

describe('session history', () => {
  it('adds a connection cut into records back up: time connected is the union of spans, records chain across cuts', () => {
    // Six 30-minute records back to back (an exporter's active timeout), one parallel connection inside them.
    const flows = [0, 30, 60, 90, 120, 150].map((s, i) => rec(i + 1, s, 30));
    flows.push(rec(7, 10, 20));
    const m = measureSession(flows, new Set([3333]), CFG.chainGapMs);
    expect(m.values.connected_min).toBe(180);
    expect(m.values.chained_records).toBe(7);
    expect(m.values.days).toBe(1);
    expect(m.values.rate_cv).toBeCloseTo(0, 6);
    expect(m.values.packets_per_min).toBeCloseTo((6 * 240 + 160) / 180, 6);
    expect(m.values.bytes_per_packet).toBe(150);
    expect(m.values.mining_port).toBe(1);
    expect(m.values.listed_endpoint).toBeNull();
  });

  it('names an IPv6 pool endpoint in brackets, so its port is not read as the address\'s last group', () => {
    const flows = [0, 30, 60].map((s, i) => rec(i + 1, s, 30, { endpointWeight: 1, server: '2001:db8::3333', serverPort: 8008 }));
    const e = subscriberEvidence(flows, { sessions: CFG, endpoints: null, miningPorts: new Set() }).get(1)![0]!;
    expect(e.matched).toMatch(/^session to \[2001:db8::3333\]:8008\/tcp: 3 flow\(s\)/);
  });

  it('a reconnect after a gap longer than chain_gap starts a new chain; days count every UTC day touched', () => {
    const flows = [rec(1, 0, 30), rec(2, 30, 30), rec(3, 75, 30), rec(4, 16 * 60 + 5, 30)];
    const m = measureSession(flows, new Set(), CFG.chainGapMs);
    expect(m.values.chained_records).toBe(2);
    expect(m.values.days).toBe(2);
    expect(m.values.connected_min).toBe(120);
    expect(m.values.mining_port).toBe(0);
  });

  it('listing traits give their points times the listing weight; the score lists every trait', () => {
    const flows = [0, 30, 60].map((s, i) => rec(i + 1, s, 30, { endpointWeight: 0.5 }));
    const r = scoreSession(CFG, measureSession(flows, new Set(), CFG.chainGapMs));
    expect(r.scored.map((t) => [t.name, t.points])).toEqual([
      ['connected', 2],
      ['chained', 1],
      ['steady', 1],
      ['endpoint', 2],
    ]);
    expect(r.score).toBe(6);
  });

  it('gives every flow of a session at medium_at a session fact, and nothing below it', () => {
    const strong = [0, 30, 60].map((s, i) => rec(i + 1, s, 30, { endpointWeight: 1 }));
    const weak = [rec(10, 0, 30, { server: '198.51.100.5', serverPort: 6667 })];
    const out = subscriberEvidence([...strong, ...weak], { sessions: CFG, endpoints: null, miningPorts: new Set() });
    expect([...out.keys()].sort()).toEqual([1, 2, 3]);
    const e = out.get(2)![0]!;
    expect(e).toMatchObject({ ruleId: 'T-SESSION', kind: 'session' });
    expect(e.matched).toMatch(/^session to 203\.0\.113\.10:3333\/tcp: 3 flow\(s\), connected 90 min over 1 day\(s\), score 8 \(at 6\): connected 90 \+2, chained 3 \+1, steady 0 \+1, endpoint 1 \+4$/);
  });

  it('many listed endpoints: counted only where data went both ways, at the configured minimum', () => {
    const flows = [1, 2, 3].map((i) => rec(i, i, 0.5, { server: `203.0.113.${i}`, endpointWeight: 1 }));
    flows.push(rec(4, 5, 0.5, { server: '203.0.113.4', endpointWeight: 1, packetsS2C: 0, bytesS2C: 0 }));
    const cfg = { sessions: null, endpoints: { id: 'T-EP', rev: 1, min: 4 }, miningPorts: new Set<number>() };
    expect(subscriberEvidence(flows, cfg).size).toBe(0);
    const three = subscriberEvidence(flows, { ...cfg, endpoints: { id: 'T-EP', rev: 1, min: 3 } });
    expect([...three.keys()].sort()).toEqual([1, 2, 3]);
    expect(three.get(1)![0]!.matched).toMatch(/exchanged data with 3 distinct listed pool endpoints \(at 3\): 203\.0\.113\.1:3333, 203\.0\.113\.2:3333, 203\.0\.113\.3:3333/);
  });
});

describe('the project policy on flow-only evidence', () => {
  const policy = projectRules().policy;
  const verdict = (kinds: string[]) => decide(policy, classesOf(kinds.map((kind) => ({ kind: kind as never, side: 'server' as const }))));

  it('a session to an exact listed endpoint is mining medium, with a pool name high; a session without the exact listing is not listed', () => {
    expect(verdict(['session', 'endpoint-port'])).toMatchObject({ label: 'mining', confidence: 'medium' });
    expect(verdict(['session', 'dns-log'])).toMatchObject({ label: 'mining', confidence: 'high' });
    expect(verdict(['session', 'endpoint']).label).not.toBe('mining');
    expect(verdict(['session', 'dns-log-shared']).label).not.toBe('mining');
    expect(verdict(['session', 'port', 'behaviour']).label).not.toBe('mining');
  });

  it('an address alone, a port alone, or both on one flow never list anyone', () => {
    for (const k of [['endpoint'], ['endpoint-port'], ['port'], ['endpoint-port', 'port'], ['dns-log-shared', 'port'], ['behaviour', 'port']])
      expect(verdict(k).label, k.join('+')).not.toBe('mining');
  });

  it('many listed endpoints are mining medium; the subscriber\'s own resolver lookup is a pool name', () => {
    expect(verdict(['pool-endpoints'])).toMatchObject({ label: 'mining', confidence: 'medium' });
    expect(verdict(['pool-endpoints', 'dns-log'])).toMatchObject({ label: 'mining', confidence: 'high' });
    expect(verdict(['dns-log'])).toMatchObject({ label: 'mining', confidence: 'medium' });
  });
});
