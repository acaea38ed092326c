/**
 * Evidence that adds up: a subscriber's flows to one server:port form a session history (time
 * connected in total, records chained across exporter cuts, days seen, how steady it is), scored
 * with the traits of rules/policy.yaml `sessions:`; and a subscriber that reached many distinct
 * listed pool endpoints (`endpoints:`) is judged on all of them together. Flow records carry no
 * payload, so one record of a miner says little; hours of them to one listed pool say a lot.
 * Pure: flows in, evidence out.
 */
import type { EndpointsConfig, SessionConfig, SessionMetric } from '../rules/schema.js';
import type { Evidence } from '../types.js';
import { endpointText } from '../ip.js';

/** What the scoring reads of one flow and of its own evidence. */
export interface SessionFlow {
  id: number;
  server: string;
  serverPort: number;
  transport: string;
  firstSeen: number;
  lastSeen: number;
  packetsC2S: number;
  packetsS2C: number;
  bytesC2S: number;
  bytesS2C: number;
  flags: number;
  records: number;
  /** Weight (0–1) of a listing of exactly this IP:port (or the IP with this port documented); 0 when none. */
  endpointWeight: number;
  /** Weight of any listing or resolver-log binding of the server address; 0 when none. */
  addressWeight: number;
}

const DAY_MS = 86_400_000;
const ACK_PSH = 0x18;
const MAX_NAMED = 10;

export interface SessionMeasure {
  flows: number;
  values: Record<SessionMetric, number | null>;
}

/** The metrics of one session (flows of one subscriber to one server:port and transport). */
export function measureSession(flows: readonly SessionFlow[], miningPorts: ReadonlySet<number>, chainGapMs: number): SessionMeasure {
  // Ties broken by the flows' own values, never by storage order (a sharded scan stores in another order).
  const sorted = [...flows].sort((a, b) => a.firstSeen - b.firstSeen || a.lastSeen - b.lastSeen || a.packetsC2S - b.packetsC2S || a.bytesC2S - b.bytesC2S);
  let connected = 0;
  let spanStart = -1;
  let spanEnd = -1;
  let chain = 0;
  let bestChain = 0;
  let chainEnd = -Infinity;
  const days = new Set<number>();
  let pkts = 0;
  let bytes = 0;
  let c2s = 0;
  let s2c = 0;
  let flags = 0;
  let endpoint = 0;
  let address = 0;
  const rates: number[] = [];
  for (const f of sorted) {
    // Union of the flows' spans (parallel connections do not add time).
    if (f.firstSeen > spanEnd) {
      if (spanEnd >= 0) connected += spanEnd - spanStart;
      spanStart = f.firstSeen;
      spanEnd = f.lastSeen;
    } else if (f.lastSeen > spanEnd) spanEnd = f.lastSeen;
    chain = f.firstSeen <= chainEnd + chainGapMs ? chain + Math.max(1, f.records) : Math.max(1, f.records);
    chainEnd = Math.max(f.firstSeen <= chainEnd + chainGapMs ? chainEnd : -Infinity, f.lastSeen);
    if (chain > bestChain) bestChain = chain;
    for (let d = Math.floor(f.firstSeen / DAY_MS); d <= Math.floor(f.lastSeen / DAY_MS) && days.size < 10_000; d++) days.add(d);
    pkts += f.packetsC2S + f.packetsS2C;
    bytes += f.bytesC2S + f.bytesS2C;
    c2s += f.packetsC2S;
    s2c += f.packetsS2C;
    flags |= f.flags;
    endpoint = Math.max(endpoint, f.endpointWeight);
    address = Math.max(address, f.addressWeight, f.endpointWeight);
    const min = (f.lastSeen - f.firstSeen) / 60_000;
    if (min >= 1) rates.push((f.packetsC2S + f.packetsS2C) / min);
  }
  if (spanEnd >= 0) connected += spanEnd - spanStart;
  const minutes = connected / 60_000;
  let cv: number | null = null;
  if (rates.length >= 3) {
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / rates.length);
    cv = mean > 0 ? sd / mean : null;
  }
  const first = sorted[0]!;
  return {
    flows: sorted.length,
    values: {
      connected_min: minutes,
      chained_records: bestChain,
      days: days.size,
      rate_cv: cv,
      packets_per_min: minutes >= 1 ? pkts / minutes : null,
      bytes_per_packet: pkts > 0 ? bytes / pkts : null,
      both_directions: c2s > 0 && s2c > 0 ? 1 : 0,
      flags_ack_psh: first.transport === 'tcp' ? ((flags & ACK_PSH) === ACK_PSH ? 1 : 0) : null,
      mining_port: miningPorts.has(first.serverPort) ? 1 : 0,
      listed_endpoint: endpoint > 0 ? endpoint : null,
      listed_address: address > 0 ? address : null,
    },
  };
}

/** Listing traits give their points in proportion to the listing's weight (its age). */
const WEIGHTED: ReadonlySet<SessionMetric> = new Set(['listed_endpoint', 'listed_address']);

/** Score one measured session; the evidence line names every trait that scored and the sum. */
export function scoreSession(cfg: SessionConfig, m: SessionMeasure): { score: number; scored: Array<{ name: string; value: number; points: number }> } {
  let score = 0;
  const scored: Array<{ name: string; value: number; points: number }> = [];
  for (const t of cfg.traits) {
    const v = m.values[t.metric];
    if (v === null) continue;
    if ((t.min === null || v >= t.min) && (t.max === null || v <= t.max)) {
      const points = WEIGHTED.has(t.metric) ? round(t.points * v) : t.points;
      score += points;
      scored.push({ name: t.name, value: round(v), points });
    }
  }
  return { score: round(score), scored };
}

/**
 * Session and many-endpoint evidence for one subscriber's flows. Returns evidence per flow id
 * (only for flows it applies to).
 */
export function subscriberEvidence(
  flows: readonly SessionFlow[],
  cfg: { sessions: SessionConfig | null; endpoints: EndpointsConfig | null; miningPorts: ReadonlySet<number> },
): Map<number, Evidence[]> {
  const out = new Map<number, Evidence[]>();
  const add = (id: number, e: Evidence): void => {
    const l = out.get(id);
    if (l) l.push(e);
    else out.set(id, [e]);
  };
  const groups = new Map<string, SessionFlow[]>();
  // Most subscribers a report holds have one flow with evidence: its group needs no key.
  if (flows.length === 1) groups.set('', [flows[0]!]);
  else {
    for (const f of flows) {
      const k = `${f.server}|${f.serverPort}|${f.transport}`;
      const g = groups.get(k);
      if (g) g.push(f);
      else groups.set(k, [f]);
    }
  }
  const s = cfg.sessions;
  if (s) {
    for (const g of groups.values()) {
      const m = measureSession(g, cfg.miningPorts, s.chainGapMs);
      const r = scoreSession(s, m);
      if (r.score < s.mediumAt) continue;
      const f0 = g[0]!;
      const first = Math.min(...g.map((f) => f.firstSeen));
      const ev: Evidence = {
        ruleId: s.id,
        rev: s.rev,
        kind: 'session',
        side: 'client',
        family: 'behaviour',
        matched: `session to ${endpointText(f0.server, f0.serverPort)}/${f0.transport}: ${m.flows} flow(s), connected ${Math.round(m.values.connected_min ?? 0)} min over ${m.values.days} day(s), score ${r.score} (at ${s.mediumAt}): ${r.scored.map((t) => `${t.name} ${t.value} +${t.points}`).join(', ')}`,
        excerpt: '',
        offset: 0,
        time: first,
      };
      for (const f of g) add(f.id, { ...ev });
    }
  }
  const e = cfg.endpoints;
  if (e) {
    // Distinct listed pool endpoints (exact IP:port) that answered: data both ways.
    const reached = new Map<string, SessionFlow[]>();
    for (const [k, g] of groups) {
      const live = g.filter((f) => f.endpointWeight > 0 && f.packetsC2S > 1 && f.packetsS2C > 1);
      if (live.length) reached.set(k, live);
    }
    if (reached.size >= e.min) {
      // In the order they were first reached (then by name): the same text whatever order the flows were stored in.
      const names = [...reached.values()]
        .map((g) => ({ name: endpointText(g[0]!.server, g[0]!.serverPort), first: Math.min(...g.map((f) => f.firstSeen)) }))
        .sort((x, y) => x.first - y.first || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
        .map((x) => x.name);
      const ev: Omit<Evidence, 'time'> = {
        ruleId: e.id,
        rev: e.rev,
        kind: 'pool-endpoints',
        side: 'client',
        family: 'endpoint',
        matched: `the subscriber exchanged data with ${reached.size} distinct listed pool endpoints (at ${e.min}): ${names.slice(0, MAX_NAMED).join(', ')}${names.length > MAX_NAMED ? `, … ${names.length - MAX_NAMED} more` : ''}`,
        excerpt: '',
        offset: 0,
      };
      for (const g of reached.values()) for (const f of g) add(f.id, { ...ev, time: f.firstSeen });
    }
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
