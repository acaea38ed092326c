/**
 * The policy as the report applies it when evidence is added after a flow was first decided (peer
 * facts, merged reports, a rescore): evidence kinds and sides in, label, confidence and the name of
 * the deciding outcome out.
 */
import { classesOf, decide } from '../classify/policy.js';
import type { Policy } from '../rules/schema.js';
import type { Redecide } from './peers.js';

/** The report's {@link Redecide} for `policy` (src/classify/policy.ts decides; this only reshapes). */
export function policyRedecide(policy: Policy): Redecide {
  return (evidence) => {
    const d = decide(policy, classesOf(evidence));
    return { label: d.label, confidence: d.confidence, outcome: d.outcome?.name ?? null };
  };
}
