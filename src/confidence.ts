/** The one ordering of confidence levels, shared by the policy, the report and its readers. */
import type { Confidence } from './types.js';

/** Confidence levels, lowest first: a level's index is its rank. */
export const CONFIDENCE_LEVELS: readonly Confidence[] = ['none', 'low', 'medium', 'high'];

/** Rank of a level: 0 for none (and for text that is no level), 3 for high. */
export function confidenceRank(c: string): number {
  const i = CONFIDENCE_LEVELS.indexOf(c as Confidence);
  return i < 0 ? 0 : i;
}

/** The levels at or above `min`, lowest first; without `none` unless `withNone`. */
export function levelsAtLeast(min: string, withNone: boolean): Confidence[] {
  const r = confidenceRank(min);
  return CONFIDENCE_LEVELS.filter((l, i) => i >= r && (withNone || l !== 'none'));
}
