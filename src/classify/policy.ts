/**
 * Policy: turns evidence into a label and a confidence. Evidence is first reduced to classes
 * (protocol from the client, pool name, …); the ordered outcomes in rules/policy.yaml then decide,
 * first match wins. Nothing here knows about bytes.
 */
import type { EvidenceClass, Policy, PolicyRule } from '../rules/schema.js';
import type { Confidence, Evidence, Label } from '../types.js';

/** The classes a set of evidence establishes. */
export function classesOf(evidence: readonly Pick<Evidence, 'kind' | 'side'>[]): Set<EvidenceClass> {
  const c = new Set<EvidenceClass>();
  for (const e of evidence) {
    switch (e.kind) {
      case 'payload':
      case 'http':
        c.add('protocol');
        c.add(e.side === 'client' ? 'protocol-client' : 'protocol-server');
        break;
      case 'sni':
      case 'dns':
      case 'host':
      case 'dns-log':
        c.add('pool-name');
        break;
      case 'dns-log-shared':
        c.add('pool-address');
        break;
      case 'endpoint-port':
        c.add('pool-endpoint');
        c.add('pool-address');
        break;
      case 'session':
        c.add('session');
        break;
      case 'pool-endpoints':
        c.add('pool-endpoints');
        break;
      case 'dns-query':
        c.add('dns-query');
        break;
      case 'endpoint':
        c.add('pool-address');
        break;
      case 'handshake':
        c.add('handshake');
        break;
      case 'port':
        c.add('port');
        break;
      case 'behaviour':
        c.add('behaviour');
        c.add('behaviour-weak');
        break;
      case 'behaviour-weak':
        c.add('behaviour-weak');
        break;
      case 'peer':
        c.add('peer');
        break;
    }
  }
  return c;
}

/** A verdict's reason when no evidence was found (the report writes such rows with it as a constant). */
export const NO_EVIDENCE_REASON = 'no mining evidence';

export interface Decision {
  label: Label;
  confidence: Confidence;
  /** The outcome that decided, or null for no evidence. */
  outcome: PolicyRule | null;
}

/** The decision for no evidence at all (shared: nothing changes it). */
export const NO_EVIDENCE_DECISION: Readonly<Decision> = Object.freeze({ label: 'none', confidence: 'none', outcome: null });

export function decide(policy: Policy, classes: ReadonlySet<EvidenceClass>): Decision {
  if (classes.size === 0) return NO_EVIDENCE_DECISION;
  for (const o of policy.outcomes) {
    if (o.all.every((c) => classes.has(c)) && (o.any.length === 0 || o.any.some((c) => classes.has(c)))) return { label: o.label, confidence: o.confidence, outcome: o };
  }
  return { label: 'none', confidence: 'none', outcome: null };
}

/** Order of confidence levels, for filters and rollups (one ordering: src/confidence.ts). */
export { confidenceRank } from '../confidence.js';
