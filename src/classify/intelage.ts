/**
 * How much a listed address still says at the time of a flow. Pools move and cloud addresses are
 * handed to other customers, so an address observed years before (or after) a flow is weak
 * evidence of that flow; rules/policy.yaml `intel_age:` says how weak.
 */
import type { EndpointEntry, IntelAge } from '../rules/schema.js';

const DAY_MS = 86_400_000;

export interface AddressWeight {
  /** 0–1: the share of its points an address entry keeps at this flow's time. */
  weight: number;
  /** Days between the observation and the flow (null when the list gives no observation date). */
  ageDays: number | null;
  /** One line for the evidence: the date, its meaning, the age and the weight. */
  note: string;
}

/** The weight of `entry` for a flow at `flowMs`. */
export function addressWeight(entry: EndpointEntry, flowMs: number, age: IntelAge): AddressWeight {
  const date = Date.parse(`${entry.added}T00:00:00Z`);
  const days = (flowMs - date) / DAY_MS;
  const decay = (d: number): number => (d <= age.fullDays ? 1 : 0.5 ** ((d - age.fullDays) / age.halfLifeDays));
  if (entry.dates === 'listed') {
    // Only the date the list was taken is known: the fact was true at some time before it.
    const weight = Math.min(age.listedWeight, days > 0 ? decay(days) : 1);
    return { weight, ageDays: null, note: `listed ${entry.added} without an observation date, weight ${round(weight)}` };
  }
  const ageDays = Math.abs(days);
  const weight = decay(ageDays);
  return { weight, ageDays, note: `observed ${entry.added}, ${describeAge(days)} the flow, weight ${round(weight)}` };
}

function describeAge(days: number): string {
  const a = Math.abs(days);
  const text = a < 1 ? 'the day of' : a < 60 ? `${Math.round(a)} days` : `${round(a / 365.25)} years`;
  return a < 1 ? text : `${text} ${days >= 0 ? 'before' : 'after'}`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
