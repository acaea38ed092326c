/**
 * Times as the tool keeps them: milliseconds since 1970, UTC. The one bound every reader applies
 * before a time reaches a flow, so a report never holds a time it cannot write as a date.
 */

/** The largest time a JavaScript Date holds (ECMAScript: 8.64e15 ms, in the year 275760). */
export const MAX_DATE_MS = 8.64e15;

/** A time a flow may carry: from 1970 to {@link MAX_DATE_MS} (false for NaN). */
export function isFlowTime(ms: number): boolean {
  return ms >= 0 && ms <= MAX_DATE_MS;
}
