/**
 * Times as the tool keeps them: milliseconds since 1970, UTC. The one bound every reader applies
 * before a time reaches a flow or a lookup, so a report never holds a time it cannot write as a date.
 */

/** The largest time a JavaScript Date holds either side of 1970 (ECMAScript: 8.64e15 ms, the year 275760). */
export const MAX_DATE_MS = 8.64e15;

/**
 * A time a Date holds: within {@link MAX_DATE_MS} of 1970, either side (false for NaN). Times before
 * 1970 stay: an exporter whose clock was never set sends them, and its flows are still flows.
 */
export function isDateMs(ms: number): boolean {
  return ms >= -MAX_DATE_MS && ms <= MAX_DATE_MS;
}
