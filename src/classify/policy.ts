/** Policy: turns evidence into a label and a confidence. The thresholds are data (rules/policy.yaml). */
import type { Policy, PolicyOutcome } from '../rules/schema.js';

/** Protocol confirmed by both sides → policy.twoSided; by one side → policy.oneSided; else none. */
export function decide(policy: Policy, clientSide: boolean, serverSide: boolean): PolicyOutcome {
  if (clientSide && serverSide) return policy.twoSided;
  if (clientSide || serverSide) return policy.oneSided;
  return { label: 'none', confidence: 'none' };
}

const RANK = { none: 0, low: 1, medium: 2, high: 3 } as const;

/** Order of confidence levels, for filters and rollups. */
export function confidenceRank(c: keyof typeof RANK): number {
  return RANK[c];
}
