/**
 * Peer evidence: once a (subscriber, server) pair is proven by a flow's own evidence (protocol
 * messages or a pool name), the subscriber's other flows to that server address in the same report
 * inherit a `peer` fact, and the policy decides again. Runs at each scan's close, over the whole
 * report or over the run's subscribers (src/report/settle.ts), because a flow can finish before the
 * flow that proves its server; a live collector runs it over the subscribers of each commit (a
 * pair's proof and candidates are all flows of one subscriber, so settling subscriber by subscriber
 * gives what the whole report gives).
 */
import { confidenceRank } from '../confidence.js';
import type Database from 'better-sqlite3';
import type { Confidence, Evidence, Label } from '../types.js';
import { PROOF_KINDS as PROOF_KIND_SET } from './settle.js';
import { sqlList } from './queries.js';

/** The policy, as the report needs it: evidence kinds and sides in, outcome out. */
export type Redecide = (evidence: ReadonlyArray<Pick<Evidence, 'kind' | 'side'>>) => { label: Label; confidence: Confidence; outcome: string | null };

export const PEER_RULE = { id: 'MW-PEER', rev: 1 } as const;

const PROOF_KINDS = `(${sqlList(PROOF_KIND_SET)})`;

/**
 * Add peer evidence where it applies; returns how many flows changed label or confidence.
 * @param subscribers only these subscribers' flows (read by the subscriber index); all when absent.
 */
export function applyPeerEvidence(db: Database.Database, redecide: Redecide, subscribers?: Iterable<string>): number {
  const only = subscribers === undefined ? null : JSON.stringify([...subscribers]);
  // With a list the label is not indexed (`+`): the planner reads the subscriber index instead.
  const which = only === null ? "f.label = 'mining' AND f.subscriber IS NOT NULL" : "f.subscriber IN (SELECT value FROM json_each(?)) AND +f.label = 'mining'";
  const proofs = db
    .prepare(
      // The proof named is the pair's earliest proven flow (by its times and ports, not by storage
      // order, so a scan with several workers names the same flow).
      `SELECT subscriber, server, proof FROM (
         SELECT f.subscriber AS subscriber, f.server AS server, f.id AS proof,
                row_number() OVER (PARTITION BY f.subscriber, f.server ORDER BY f.first_seen, f.last_seen, f.client_port, f.server_port, f.id) AS n
         FROM flows f
         WHERE ${which} AND f.confidence IN ('medium', 'high')
           AND EXISTS (SELECT 1 FROM evidence e WHERE e.flow_id = f.id AND e.kind IN ${PROOF_KINDS}))
       WHERE n = 1`,
    )
    .all(...(only === null ? [] : [only])) as Array<{ subscriber: string; server: string; proof: number }>;
  if (!proofs.length) return 0;
  // Scoped by the proofs: only the proven pairs' subscribers are read.
  const candidates = db.prepare(
    `SELECT f.id, f.first_seen, f.reason, f.rules, f.label, f.confidence FROM flows f
     WHERE f.subscriber = ? AND f.server = ? AND f.packets_c2s > 0 AND f.packets_s2c > 0
       AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.flow_id = f.id AND (e.kind = 'peer' OR e.kind IN ${PROOF_KINDS}))`,
  );
  const evidenceOf = db.prepare('SELECT kind, side FROM evidence WHERE flow_id = ?');
  const addEvidence = db.prepare('INSERT INTO evidence(flow_id, rule_id, rev, kind, side, family, matched, excerpt, offset, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const update = db.prepare('UPDATE flows SET label = ?, confidence = ?, outcome = ?, reason = ?, rules = ? WHERE id = ?');
  let changed = 0;
  db.transaction(() => {
    for (const p of proofs) {
      for (const c of candidates.all(p.subscriber, p.server) as Array<{ id: number; first_seen: number; reason: string; rules: string; label: string; confidence: string }>) {
        const ev = evidenceOf.all(c.id) as Array<Pick<Evidence, 'kind' | 'side'>>;
        const matched = `same subscriber and server as proven flow #${p.proof}`;
        addEvidence.run(c.id, PEER_RULE.id, PEER_RULE.rev, 'peer', 'server', 'peer', matched, '', 0, c.first_seen);
        const d = redecide([...ev, { kind: 'peer', side: 'server' }]);
        // Peer evidence may raise a verdict, never lower one.
        if (confidenceRank(d.confidence) < confidenceRank(c.confidence) || (d.label !== 'mining' && c.label === 'mining')) continue;
        const rules = c.rules ? `${c.rules},${PEER_RULE.id}` : PEER_RULE.id;
        // The head of the reason names the verdict: it is the new one, the facts before stay.
        const cut = c.reason.indexOf(' — ');
        const facts = c.label === 'none' || cut < 0 ? '' : `${c.reason.slice(cut + 3)}; `;
        const reason = `${d.label} (${d.outcome ?? 'peer'}) — ${facts}peer: ${matched}`;
        update.run(d.label, d.confidence, d.outcome, reason, rules, c.id);
        if (d.label !== c.label || d.confidence !== c.confidence) changed++;
      }
    }
  })();
  return changed;
}
