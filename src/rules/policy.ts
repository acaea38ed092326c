/** Compiles `rules/policy.yaml`: ordered outcomes over evidence classes, and the mining ports. */
import { CONFIDENCE_LEVELS } from '../confidence.js';
import type { Confidence, Label } from '../types.js';
import { BEHAVIOUR_METRICS, EVIDENCE_CLASSES, SESSION_METRICS, type BehaviourConfig, type BehaviourMetric, type EndpointsConfig, type EvidenceClass, type IntelAge, type Policy, type PolicyRule, type SessionConfig } from './schema.js';
import { asList, ID_RE, isObj, type FileContext } from './yamlfile.js';

const LABELS: readonly Label[] = ['mining', 'suspect', 'none'];
// Named highest first in error messages.
const CONFIDENCES: readonly Confidence[] = [...CONFIDENCE_LEVELS].reverse();

export function compilePolicy(ctx: FileContext, root: Record<string, unknown>): Policy | null {
  const id = root.id;
  const rev = root.rev;
  const KEYS = ['id', 'rev', 'description', 'outcomes', 'mining_ports', 'behaviour', 'sessions', 'endpoints', 'intel_age'];
  for (const k of Object.keys(root)) if (!KEYS.includes(k)) ctx.err([k], k, `unknown field; expected ${KEYS.join(', ')}`);
  if (typeof id !== 'string' || !ID_RE.test(id)) ctx.err(['id'], 'id', `expected an upper-case id like MW-POLICY, got ${JSON.stringify(id)}`);
  if (!Number.isInteger(rev) || (rev as number) < 1) ctx.err(['rev'], 'rev', `expected a positive integer revision, e.g. 1, got ${JSON.stringify(rev)}`);
  const ports = asList(root.mining_ports);
  if (!ports.every((p) => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536)) ctx.err(['mining_ports'], 'mining_ports', 'expected a list of port numbers, e.g. [3333, 4444]');
  const list = root.outcomes;
  const outcomes: PolicyRule[] = [];
  if (!Array.isArray(list) || !list.length) {
    ctx.err(['outcomes'], 'outcomes', 'expected an ordered list, e.g. outcomes: [ { name: two-sided protocol, all: [protocol-client, protocol-server], label: mining, confidence: high } ]');
    return null;
  }
  list.forEach((o: unknown, i: number) => {
    const at = (...p: (string | number)[]): (string | number)[] => ['outcomes', i, ...p];
    const f = (k: string): string => `outcomes[${i}].${k}`;
    if (!isObj(o)) {
      ctx.err(at(), `outcomes[${i}]`, 'expected a mapping with name, all/any, label, confidence');
      return;
    }
    for (const k of Object.keys(o)) if (!['name', 'all', 'any', 'label', 'confidence'].includes(k)) ctx.err(at(k), f(k), 'unknown field; expected name, all, any, label, confidence');
    const classes = (k: 'all' | 'any'): EvidenceClass[] => {
      const l = asList(o[k]);
      const bad = l.filter((c) => !EVIDENCE_CLASSES.includes(c as EvidenceClass));
      if (bad.length) ctx.err(at(k), f(k), `unknown evidence class ${JSON.stringify(bad[0])}; expected any of ${EVIDENCE_CLASSES.join(', ')}`);
      return l as EvidenceClass[];
    };
    const all = classes('all');
    const any = classes('any');
    if (!all.length && !any.length) ctx.err(at(), `outcomes[${i}]`, 'give all: [...] and/or any: [...] evidence classes');
    if (typeof o.name !== 'string' || !o.name) ctx.err(at('name'), f('name'), 'expected a short name for the outcome, shown in reasons');
    if (!LABELS.includes(o.label as Label)) ctx.err(at('label'), f('label'), `expected one of ${LABELS.join(', ')}, got ${JSON.stringify(o.label)}`);
    if (!CONFIDENCES.includes(o.confidence as Confidence)) ctx.err(at('confidence'), f('confidence'), `expected one of ${CONFIDENCES.join(', ')}, got ${JSON.stringify(o.confidence)}`);
    outcomes.push({ name: o.name as string, all, any, label: o.label as Label, confidence: o.confidence as Confidence });
  });
  const behaviour = root.behaviour === undefined ? null : compileBehaviour(ctx, root.behaviour);
  const sessions = root.sessions === undefined ? null : compileSessions(ctx, root.sessions);
  const endpoints = root.endpoints === undefined ? null : compileEndpoints(ctx, root.endpoints);
  const intelAge = compileIntelAge(ctx, root.intel_age);
  if (ctx.errors.length) return null;
  return { id: id as string, rev: rev as number, outcomes, miningPorts: new Set(ports as number[]), behaviour, sessions, endpoints, intelAge };
}

/** Without `intel_age:` every dated address weighs in full. */
const NO_AGEING: IntelAge = { fullDays: Infinity, halfLifeDays: Infinity, minWeight: 0, listedWeight: 1 };

function compileIntelAge(ctx: FileContext, a: unknown): IntelAge {
  if (a === undefined) return NO_AGEING;
  const example = 'e.g. intel_age: { full_days: 180, half_life_days: 180, min_weight: 0.25, listed_weight: 0.5 }';
  if (!isObj(a)) {
    ctx.err(['intel_age'], 'intel_age', `expected a mapping, ${example}`);
    return NO_AGEING;
  }
  for (const k of Object.keys(a)) if (!['full_days', 'half_life_days', 'min_weight', 'listed_weight'].includes(k)) ctx.err(['intel_age', k], `intel_age.${k}`, `unknown field, ${example}`);
  const num = (k: string, max: number): number => {
    const v = a[k];
    if (typeof v !== 'number' || !(v >= 0) || v > max) ctx.err(['intel_age', k], `intel_age.${k}`, `expected a number from 0 to ${max}, ${example}`);
    return typeof v === 'number' ? v : 0;
  };
  return { fullDays: num('full_days', 36500), halfLifeDays: num('half_life_days', 36500) || Infinity, minWeight: num('min_weight', 1), listedWeight: num('listed_weight', 1) };
}

function compileEndpoints(ctx: FileContext, e: unknown): EndpointsConfig | null {
  if (!isObj(e) || typeof e.id !== 'string' || !ID_RE.test(e.id) || !Number.isInteger(e.rev) || !Number.isInteger(e.min) || (e.min as number) < 2) {
    ctx.err(['endpoints'], 'endpoints', 'expected { id: MW-ENDPOINTS, rev: 1, min: 3 } (min: distinct listed pool endpoints, at least 2)');
    return null;
  }
  for (const k of Object.keys(e)) if (!['id', 'rev', 'min'].includes(k)) ctx.err(['endpoints', k], `endpoints.${k}`, 'unknown field; expected id, rev, min');
  return { id: e.id, rev: e.rev as number, min: e.min as number };
}

function compileSessions(ctx: FileContext, b: unknown): SessionConfig | null {
  const example = 'e.g. sessions: { id: MW-SESSION, rev: 1, chain_gap_min: 10, medium_at: 8, traits: [ { name: connected in total, metric: connected_min, min: 20, points: 2 } ] }';
  if (!isObj(b)) {
    ctx.err(['sessions'], 'sessions', `expected a mapping, ${example}`);
    return null;
  }
  const before = ctx.errors.length;
  for (const k of Object.keys(b)) if (!['id', 'rev', 'chain_gap_min', 'medium_at', 'traits'].includes(k)) ctx.err(['sessions', k], `sessions.${k}`, `unknown field, ${example}`);
  if (typeof b.id !== 'string' || !ID_RE.test(b.id)) ctx.err(['sessions', 'id'], 'sessions.id', 'expected an upper-case id like MW-SESSION');
  if (!Number.isInteger(b.rev) || (b.rev as number) < 1) ctx.err(['sessions', 'rev'], 'sessions.rev', 'expected a positive integer revision');
  for (const k of ['chain_gap_min', 'medium_at']) if (typeof b[k] !== 'number' || !((b[k] as number) > 0)) ctx.err(['sessions', k], `sessions.${k}`, `expected a positive number, ${example}`);
  const traits = compileTraits(ctx, 'sessions', b.traits, SESSION_METRICS);
  if (ctx.errors.length > before) return null;
  return { id: b.id as string, rev: b.rev as number, chainGapMs: (b.chain_gap_min as number) * 60_000, mediumAt: b.medium_at as number, traits };
}

/** A list of `{ name, metric, min?, max?, points }` traits over the given metrics. */
function compileTraits<M extends string>(ctx: FileContext, at0: string, v: unknown, metrics: readonly M[]): Array<{ name: string; metric: M; min: number | null; max: number | null; points: number }> {
  const traits: Array<{ name: string; metric: M; min: number | null; max: number | null; points: number }> = [];
  const list = asList(v);
  if (!list.length) ctx.err([at0, 'traits'], `${at0}.traits`, 'expected a list of traits { name, metric, min?, max?, points }');
  list.forEach((t, i) => {
    const at = [at0, 'traits', i];
    const f = `${at0}.traits[${i}]`;
    if (!isObj(t)) return ctx.err(at, f, `expected { name, metric, min?, max?, points }`);
    if (typeof t.name !== 'string' || !t.name) ctx.err([...at, 'name'], `${f}.name`, 'expected a short name shown in evidence');
    if (!metrics.includes(t.metric as M)) ctx.err([...at, 'metric'], `${f}.metric`, `expected one of ${metrics.join(', ')}, got ${JSON.stringify(t.metric)}`);
    // NaN (YAML `.nan`) is a number that no value is at least or at most: refused, not a silent never.
    for (const k of ['min', 'max']) if (t[k] !== undefined && (typeof t[k] !== 'number' || Number.isNaN(t[k]))) ctx.err([...at, k], `${f}.${k}`, 'expected a number');
    if (t.min === undefined && t.max === undefined) ctx.err(at, f, 'give min and/or max');
    if (typeof t.points !== 'number' || !(t.points > 0)) ctx.err([...at, 'points'], `${f}.points`, 'expected positive points');
    for (const k of Object.keys(t)) if (!['name', 'metric', 'min', 'max', 'points', 'note'].includes(k)) ctx.err([...at, k], `${f}.${k}`, 'unknown field; expected name, metric, min, max, points, note');
    traits.push({ name: t.name as string, metric: t.metric as M, min: (t.min as number | undefined) ?? null, max: (t.max as number | undefined) ?? null, points: t.points as number });
  });
  return traits;
}

function compileBehaviour(ctx: FileContext, b: unknown): BehaviourConfig | null {
  const example = 'e.g. behaviour: { id: MW-BEHAVIOUR, rev: 1, strong_at: 10, weak_at: 6, traits: [ { name: long-lived, metric: duration_min, min: 3, points: 2 } ] }';
  if (!isObj(b)) {
    ctx.err(['behaviour'], 'behaviour', `expected a mapping, ${example}`);
    return null;
  }
  const before = ctx.errors.length;
  if (typeof b.id !== 'string' || !ID_RE.test(b.id)) ctx.err(['behaviour', 'id'], 'behaviour.id', 'expected an upper-case id like MW-BEHAVIOUR');
  if (!Number.isInteger(b.rev) || (b.rev as number) < 1) ctx.err(['behaviour', 'rev'], 'behaviour.rev', 'expected a positive integer revision');
  for (const k of ['strong_at', 'weak_at']) if (typeof b[k] !== 'number') ctx.err(['behaviour', k], `behaviour.${k}`, `expected a score, ${example}`);
  const traits = compileTraits<BehaviourMetric>(ctx, 'behaviour', b.traits, BEHAVIOUR_METRICS);
  if (ctx.errors.length > before) return null;
  return { id: b.id as string, rev: b.rev as number, traits, strongAt: b.strong_at as number, weakAt: b.weak_at as number };
}
