/**
 * Decides a report's flows again, subscriber by subscriber, in one transaction: session histories
 * and many-endpoint evidence are added up over every flow the report holds for a subscriber
 * (src/aggregate/sessions.ts), and with `recompute` the evidence a flow's counters and endpoints
 * give (listed addresses and their age, resolver-log bindings, pool ports, behaviour) is worked out
 * again from the stored flow with the intelligence given now, and peer facts are dropped for the
 * caller to add again where a proof still stands. Evidence that came from payload (protocol
 * messages, TLS SNI, HTTP Host, DNS in the same data, handshakes) stays as it was written. A flow's verdict is whatever the policy makes of its evidence now.
 */
import type Database from 'better-sqlite3';
import { subscriberEvidence, type SessionFlow } from '../aggregate/sessions.js';
import type { Classifier } from '../classify/classify.js';
import { addressWeight } from '../classify/intelage.js';
import { classesOf, decide } from '../classify/policy.js';
import type { Evidence } from '../types.js';

/** Evidence kinds worked out from the flow's counters and endpoints (recomputed with `recompute`). */
const FLOW_KINDS = new Set<Evidence['kind']>(['endpoint', 'endpoint-port', 'port', 'behaviour', 'behaviour-weak', 'dns-log', 'dns-log-shared']);
/** Evidence kinds added up over the report (always worked out again). */
const REPORT_KINDS = new Set<Evidence['kind']>(['session', 'pool-endpoints']);
const PROTOCOL_KINDS = new Set<Evidence['kind']>(['payload', 'http']);

interface FlowRow {
  id: number;
  client: string;
  server: string;
  server_port: number;
  transport: 'tcp' | 'udp';
  first_seen: number;
  last_seen: number;
  packets_c2s: number;
  packets_s2c: number;
  bytes_c2s: number;
  bytes_s2c: number;
  flags_c2s: number;
  flags_s2c: number;
  source: 'packets' | 'export';
  records: number;
  label: string;
  confidence: string;
  outcome: string | null;
  reason: string;
  rules: string;
  pool: string | null;
  server_name: string | null;
}

type EvidenceRow = Evidence & { flow_id: number };

export interface RedecideResult {
  /** Flows looked at, flows whose verdict changed, flows given session or many-endpoint evidence. */
  flows: number;
  changed: number;
  sessions: number;
  endpoints: number;
}

export function redecideReport(db: Database.Database, classifier: Classifier, opts: { recompute: boolean }): RedecideResult {
  const policy = classifier.rules.policy;
  const res: RedecideResult = { flows: 0, changed: 0, sessions: 0, endpoints: 0 };
  // Only flows with evidence can add up, unless the evidence itself is worked out again.
  const subscribers = db
    .prepare(`SELECT DISTINCT subscriber FROM flows WHERE subscriber IS NOT NULL${opts.recompute ? '' : " AND rules != ''"}`)
    .pluck()
    .all() as string[];
  const flowsOf = db.prepare(
    `SELECT id, client, server, server_port, transport, first_seen, last_seen, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, flags_c2s, flags_s2c,
            source, records, label, confidence, outcome, reason, rules, pool, server_name
     FROM flows WHERE subscriber = ?${opts.recompute ? '' : " AND rules != ''"}`,
  );
  const evidenceOf = db.prepare(
    `SELECT e.flow_id, e.rule_id AS ruleId, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time
     FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE f.subscriber = ?${opts.recompute ? '' : " AND f.rules != ''"}`,
  );
  const delEvidence = db.prepare('DELETE FROM evidence WHERE flow_id = ?');
  const addEvidence = db.prepare('INSERT INTO evidence(flow_id, rule_id, rev, kind, side, family, matched, excerpt, offset, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE flows SET label = ?, confidence = ?, outcome = ?, reason = ?, rules = ?, pool = coalesce(pool, ?), server_name = coalesce(server_name, ?) WHERE id = ?');
  db.transaction(() => {
    for (const sub of subscribers) {
      const rows = flowsOf.all(sub) as FlowRow[];
      const stored = new Map<number, EvidenceRow[]>();
      for (const e of evidenceOf.all(sub) as EvidenceRow[]) {
        const l = stored.get(e.flow_id);
        if (l) l.push(e);
        else stored.set(e.flow_id, [e]);
      }
      const base = new Map<number, Evidence[]>();
      const found = new Map<number, { pool: string | null; name: string | null }>();
      const sessionFlows: SessionFlow[] = [];
      for (const r of rows) {
        res.flows++;
        const own = stored.get(r.id) ?? [];
        let kept: Evidence[] = own.filter((e) => !REPORT_KINDS.has(e.kind));
        if (opts.recompute) {
          // Peer facts are worked out again after this pass (src/report/peers.ts): their proof may be gone.
          kept = kept.filter((e) => !FLOW_KINDS.has(e.kind) && e.kind !== 'peer');
          const fo = classifier.flowEvidence(
            {
              client: r.client,
              server: r.server,
              serverPort: r.server_port,
              firstSeen: r.first_seen,
              lastSeen: r.last_seen,
              source: r.source,
              packetsC2S: r.packets_c2s,
              packetsS2C: r.packets_s2c,
              bytesC2S: r.bytes_c2s,
              bytesS2C: r.bytes_s2c,
              tcpFlagsC2S: r.flags_c2s,
              tcpFlagsS2C: r.flags_s2c,
              transport: r.transport,
              records: r.records,
            },
            !kept.some((e) => PROTOCOL_KINDS.has(e.kind)),
            // A stored flow keeps no payload: data both ways is judged from its counters.
            r.packets_c2s > 1 && r.packets_s2c > 1,
          );
          kept.push(...fo.evidence);
          found.set(r.id, { pool: fo.poolEntry && fo.poolEntry.pool !== 'unknown' ? fo.poolEntry.pool : null, name: fo.serverName });
        }
        base.set(r.id, kept);
        const w = listingWeights(classifier, r, kept);
        sessionFlows.push({
          id: r.id,
          server: r.server,
          serverPort: r.server_port,
          transport: r.transport,
          firstSeen: r.first_seen,
          lastSeen: r.last_seen,
          packetsC2S: r.packets_c2s,
          packetsS2C: r.packets_s2c,
          bytesC2S: r.bytes_c2s,
          bytesS2C: r.bytes_s2c,
          flags: r.flags_c2s | r.flags_s2c,
          records: r.records,
          endpointWeight: w.endpoint,
          addressWeight: w.address,
        });
      }
      const added = subscriberEvidence(sessionFlows, { sessions: policy.sessions, endpoints: policy.endpoints, miningPorts: policy.miningPorts });
      for (const r of rows) {
        const extra = added.get(r.id) ?? [];
        if (extra.some((e) => e.kind === 'session')) res.sessions++;
        if (extra.some((e) => e.kind === 'pool-endpoints')) res.endpoints++;
        const evidence = [...base.get(r.id)!, ...extra];
        const before = stored.get(r.id) ?? [];
        const d = decide(policy, classesOf(evidence));
        const outcome = d.outcome?.name ?? null;
        const same = d.label === r.label && d.confidence === r.confidence && outcome === r.outcome && sameEvidence(before, evidence);
        if (same) continue;
        if (d.label !== r.label || d.confidence !== r.confidence) res.changed++;
        delEvidence.run(r.id);
        for (const e of evidence) addEvidence.run(r.id, e.ruleId, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time);
        const rules = [...new Set(evidence.map((e) => e.ruleId))].join(',');
        const f = found.get(r.id);
        update.run(d.label, d.confidence, outcome, reasonOf(r, d.label, outcome, evidence), rules, f?.pool ?? null, f?.name ?? null, r.id);
      }
    }
  })();
  return res;
}

/** The weights of the listings behind a flow's evidence (its age counts: src/classify/intelage.ts). */
function listingWeights(c: Classifier, r: FlowRow, evidence: readonly Evidence[]): { endpoint: number; address: number } {
  let endpoint = 0;
  let address = 0;
  if (evidence.some((e) => e.kind === 'endpoint' || e.kind === 'endpoint-port')) {
    const hit = c.index.address(r.server, r.server_port);
    if (hit) {
      const w = addressWeight(hit.entry, r.first_seen, c.rules.policy.intelAge).weight;
      address = w;
      if (hit.how === 'ip:port' || hit.entry.ports.includes(r.server_port)) endpoint = w;
    }
  }
  // A resolver told someone this address for a listed name: as good as a fresh listing of the address.
  if (evidence.some((e) => e.kind === 'dns-log' || e.kind === 'dns-log-shared')) address = Math.max(address, 1);
  return { endpoint, address };
}

function sameEvidence(a: readonly Evidence[], b: readonly Evidence[]): boolean {
  if (a.length !== b.length) return false;
  const key = (e: Evidence): string => `${e.ruleId}|${e.kind}|${e.side}|${e.matched}|${e.time}`;
  const s = new Set(a.map(key));
  return b.every((e) => s.has(key(e)));
}

function reasonOf(r: FlowRow, label: string, outcome: string | null, evidence: readonly Evidence[]): string {
  if (!evidence.length) return 'no mining evidence';
  const parts = evidence.map((e) => (e.kind === 'payload' || e.kind === 'http' ? `${e.side} sent ${e.matched}` : `${e.kind}: ${e.matched}`));
  return `${label}${outcome ? ` (${outcome})` : ''} with ${r.server}:${r.server_port} — ${[...new Set(parts)].join('; ')}`;
}
