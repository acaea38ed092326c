/**
 * Behaviour score for flows without protocol evidence (flow exports, encrypted sessions): a sum
 * of points for published traits of pool sessions — long-lived, a low and steady packet rate, small
 * packets, both directions active, ACK/PSH traffic, a pool port, a listed pool address. Every trait
 * and threshold lives in rules/policy.yaml; every point scored is reported with its measured value.
 */
import type { BehaviourConfig, BehaviourMetric } from '../rules/schema.js';
import type { FlowRecord } from '../types.js';

export interface BehaviourFacts {
  miningPort: boolean;
  listedAddress: boolean;
}

/**
 * The four sets of facts, made once: a scan asks for a score for nearly every flow, and a new
 * object per call is garbage the young generation must sweep up (NetFlow v9 bench: one per flow).
 */
const FACTS: readonly Readonly<BehaviourFacts>[] = [
  Object.freeze({ miningPort: false, listedAddress: false }),
  Object.freeze({ miningPort: true, listedAddress: false }),
  Object.freeze({ miningPort: false, listedAddress: true }),
  Object.freeze({ miningPort: true, listedAddress: true }),
];

/** A set of facts as a number 0-3 (mining port: bit 0; listed address: bit 1): its place in {@link FACTS} and in the compiled traits. */
function factsIndex(miningPort: boolean, listedAddress: boolean): number {
  return (miningPort ? 1 : 0) | (listedAddress ? 2 : 0);
}

/** The shared {@link BehaviourFacts} object with these values (frozen: every caller shares it). */
export function behaviourFacts(miningPort: boolean, listedAddress: boolean): Readonly<BehaviourFacts> {
  return FACTS[factsIndex(miningPort, listedAddress)]!;
}

export interface BehaviourScore {
  score: number;
  /** Traits that scored, with the measured value. */
  scored: Array<{ name: string; value: number; points: number }>;
}

const ACK = 0x10;
const PSH = 0x08;

/** The measured value of a metric for a flow, or null when it cannot be measured. */
/** What the score reads of a flow (a FlowRecord, or a table's reused view of one). */
export type BehaviourInput = Pick<FlowRecord, 'packetsC2S' | 'packetsS2C' | 'bytesC2S' | 'bytesS2C' | 'firstSeen' | 'lastSeen' | 'transport' | 'tcpFlagsC2S' | 'tcpFlagsS2C' | 'records'>;

export function metric(f: BehaviourInput, m: BehaviourMetric, facts: BehaviourFacts): number | null {
  const packets = f.packetsC2S + f.packetsS2C;
  const bytes = f.bytesC2S + f.bytesS2C;
  const minutes = (f.lastSeen - f.firstSeen) / 60_000;
  switch (m) {
    case 'duration_min':
      return minutes;
    case 'packets_per_min':
      return minutes >= 1 ? packets / minutes : null;
    case 'bytes_per_packet':
      return packets > 0 ? bytes / packets : null;
    case 'byte_ratio_c2s_s2c':
      return f.bytesS2C > 0 && f.bytesC2S > 0 ? f.bytesC2S / f.bytesS2C : null;
    case 'both_directions':
      return f.packetsC2S > 0 && f.packetsS2C > 0 ? 1 : 0;
    case 'flags_ack_psh': {
      if (f.transport !== 'tcp') return null;
      const fl = f.tcpFlagsC2S | f.tcpFlagsS2C;
      return (fl & (ACK | PSH)) === (ACK | PSH) ? 1 : 0;
    }
    case 'records':
      return f.records;
    case 'mining_port':
      return facts.miningPort ? 1 : 0;
    case 'listed_address':
      return facts.listedAddress ? 1 : 0;
  }
}

export function scoreBehaviour(cfg: BehaviourConfig, f: BehaviourInput, facts: BehaviourFacts): BehaviourScore {
  const scored: BehaviourScore['scored'] = [];
  let score = 0;
  for (const t of cfg.traits) {
    const v = metric(f, t.metric, facts);
    if (v === null) continue;
    if ((t.min === null || v >= t.min) && (t.max === null || v <= t.max)) {
      score += t.points;
      scored.push({ name: t.name, value: Math.round(v * 100) / 100, points: t.points });
    }
  }
  return { score, scored };
}

const METRICS = ['duration_min', 'packets_per_min', 'bytes_per_packet', 'byte_ratio_c2s_s2c', 'both_directions', 'flags_ack_psh', 'records', 'mining_port', 'listed_address'] as const satisfies readonly BehaviourMetric[];
// Every metric has a code here (a metric added to the schema and not here fails to compile).
const EVERY_METRIC: Exclude<BehaviourMetric, (typeof METRICS)[number]> extends never ? true : never = true;
void EVERY_METRIC;

/**
 * A behaviour config's traits as numbers, {@link STRIDE} per trait: metric code, min, max (NaN for
 * none), points, then for each of the four sets of facts ({@link factsIndex}) the most the traits
 * from this one on can still add (their positive points; a fact's only when it holds):
 * {@link behaviourReaches} stops once even that is too little.
 */
const STRIDE = 8;
const REACH = 4;
/** Metric codes of the facts (mining_port, listed_address): known before any of the flow's numbers. */
const MINING_PORT = 7;
const LISTED_ADDRESS = 8;
/**
 * The early exit's margin, relative to the threshold: far above the rounding error of summing a
 * few points of that size, far below any step between scores.
 */
const ROUNDING = 1e-6;
const compiled = new WeakMap<BehaviourConfig, Float64Array>();
/** The config compiled last: a scan asks about one config for every flow, and an identity test is cheaper than a WeakMap lookup. */
let lastConfig: BehaviourConfig | null = null;
let lastCompiled: Float64Array = new Float64Array(0);

function compile(cfg: BehaviourConfig): Float64Array {
  if (cfg === lastConfig) return lastCompiled;
  let c = compiled.get(cfg);
  if (!c) {
    const n = cfg.traits.length;
    c = new Float64Array(n * STRIDE);
    cfg.traits.forEach((t, i) => {
      c![i * STRIDE] = (METRICS as readonly BehaviourMetric[]).indexOf(t.metric);
      c![i * STRIDE + 1] = t.min ?? NaN;
      c![i * STRIDE + 2] = t.max ?? NaN;
      c![i * STRIDE + 3] = t.points;
    });
    for (let k = 0; k < 4; k++) {
      for (let i = n - 1, reach = 0; i >= 0; i--) {
        const o = i * STRIDE;
        const code = c[o]!;
        const fact = code === MINING_PORT ? k & 1 : code === LISTED_ADDRESS ? (k >> 1) & 1 : -1;
        if (fact < 0 || inRange(c, o, fact)) reach += Math.max(0, c[o + 3]!);
        c[o + REACH + k] = reach;
      }
    }
    compiled.set(cfg, c);
  }
  lastConfig = cfg;
  lastCompiled = c;
  return c;
}

/**
 * Whether the score reaches `atLeast`, for prefilters: the same sum as {@link scoreBehaviour}'s,
 * with nothing allocated (the traits compiled to numbers once, the flow's totals computed once), and
 * stopping at the first trait from which even every point left could not reach it: most flows a
 * scan finishes (short web and DNS exchanges) are settled by their first traits.
 */
export function behaviourReaches(cfg: BehaviourConfig, f: BehaviourInput, facts: BehaviourFacts, atLeast: number): boolean {
  return sum(compile(cfg), f, facts, atLeast) >= atLeast;
}

/** The score, summed in the traits' order as {@link scoreBehaviour} sums it; once it can no longer reach `atLeast`, the sum so far. */
function sum(c: Float64Array, f: BehaviourInput, facts: BehaviourFacts, atLeast: number): number {
  const reach = REACH + factsIndex(facts.miningPort, facts.listedAddress);
  const margin = ROUNDING * Math.max(1, Math.abs(atLeast));
  const packets = f.packetsC2S + f.packetsS2C;
  const bytes = f.bytesC2S + f.bytesS2C;
  const minutes = (f.lastSeen - f.firstSeen) / 60_000;
  let score = 0;
  for (let i = 0; i < c.length; i += STRIDE) {
    // With a margin: points summed in another order may differ in their last bits.
    if (score + c[i + reach]! + margin < atLeast) return score;
    let v: number;
    switch (c[i]) {
      case 0:
        v = minutes;
        break;
      case 1:
        if (!(minutes >= 1)) continue;
        v = packets / minutes;
        break;
      case 2:
        if (!(packets > 0)) continue;
        v = bytes / packets;
        break;
      case 3:
        if (!(f.bytesS2C > 0 && f.bytesC2S > 0)) continue;
        v = f.bytesC2S / f.bytesS2C;
        break;
      case 4:
        v = f.packetsC2S > 0 && f.packetsS2C > 0 ? 1 : 0;
        break;
      case 5: {
        if (f.transport !== 'tcp') continue;
        const fl = f.tcpFlagsC2S | f.tcpFlagsS2C;
        v = (fl & (ACK | PSH)) === (ACK | PSH) ? 1 : 0;
        break;
      }
      case 6:
        v = f.records;
        break;
      case MINING_PORT:
        v = facts.miningPort ? 1 : 0;
        break;
      case LISTED_ADDRESS:
        v = facts.listedAddress ? 1 : 0;
        break;
      default:
        continue;
    }
    if (inRange(c, i, v)) score += c[i + 3]!;
  }
  return score;
}

/** Whether `v` lies within the bounds of the trait at `i`. */
function inRange(c: Float64Array, i: number, v: number): boolean {
  const min = c[i + 1]!;
  const max = c[i + 2]!;
  return (min !== min || v >= min) && (max !== max || v <= max);
}
