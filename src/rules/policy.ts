/** Compiles `rules/policy.yaml`: ordered outcomes over evidence classes, and the mining ports. */
import type { Confidence, Label } from '../types.js';
import { BEHAVIOUR_METRICS, EVIDENCE_CLASSES, type BehaviourConfig, type BehaviourMetric, type EvidenceClass, type Policy, type PolicyRule } from './schema.js';
import { asList, ID_RE, isObj, type FileContext } from './yamlfile.js';

const LABELS: readonly Label[] = ['mining', 'suspect', 'none'];
const CONFIDENCES: readonly Confidence[] = ['high', 'medium', 'low', 'none'];

export function compilePolicy(ctx: FileContext, root: Record<string, unknown>): Policy | null {
  const id = root.id;
  const rev = root.rev;
  for (const k of Object.keys(root)) if (!['id', 'rev', 'description', 'outcomes', 'mining_ports', 'behaviour'].includes(k)) ctx.err([k], k, 'unknown field; expected id, rev, description, outcomes, mining_ports, behaviour');
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
  if (ctx.errors.length) return null;
  return { id: id as string, rev: rev as number, outcomes, miningPorts: new Set(ports as number[]), behaviour };
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
  const traits: BehaviourConfig['traits'][number][] = [];
  const list = asList(b.traits);
  if (!list.length) ctx.err(['behaviour', 'traits'], 'behaviour.traits', `expected a list of traits, ${example}`);
  list.forEach((t, i) => {
    const at = ['behaviour', 'traits', i];
    const f = `behaviour.traits[${i}]`;
    if (!isObj(t)) return ctx.err(at, f, `expected { name, metric, min?, max?, points }`);
    if (typeof t.name !== 'string' || !t.name) ctx.err([...at, 'name'], `${f}.name`, 'expected a short name shown in evidence');
    if (!BEHAVIOUR_METRICS.includes(t.metric as BehaviourMetric)) ctx.err([...at, 'metric'], `${f}.metric`, `expected one of ${BEHAVIOUR_METRICS.join(', ')}, got ${JSON.stringify(t.metric)}`);
    for (const k of ['min', 'max']) if (t[k] !== undefined && typeof t[k] !== 'number') ctx.err([...at, k], `${f}.${k}`, 'expected a number');
    if (t.min === undefined && t.max === undefined) ctx.err(at, f, 'give min and/or max');
    if (typeof t.points !== 'number' || t.points <= 0) ctx.err([...at, 'points'], `${f}.points`, 'expected positive points');
    for (const k of Object.keys(t)) if (!['name', 'metric', 'min', 'max', 'points', 'note'].includes(k)) ctx.err([...at, k], `${f}.${k}`, 'unknown field; expected name, metric, min, max, points, note');
    traits.push({ name: t.name as string, metric: t.metric as BehaviourMetric, min: (t.min as number | undefined) ?? null, max: (t.max as number | undefined) ?? null, points: t.points as number });
  });
  if (ctx.errors.length > before) return null;
  return { id: b.id as string, rev: b.rev as number, traits, strongAt: b.strong_at as number, weakAt: b.weak_at as number };
}
