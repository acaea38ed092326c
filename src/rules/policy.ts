/** Compiles `rules/policy.yaml`: ordered outcomes over evidence classes, and the mining ports. */
import type { Confidence, Label } from '../types.js';
import { EVIDENCE_CLASSES, type EvidenceClass, type Policy, type PolicyRule } from './schema.js';
import { asList, ID_RE, isObj, type FileContext } from './yamlfile.js';

const LABELS: readonly Label[] = ['mining', 'suspect', 'none'];
const CONFIDENCES: readonly Confidence[] = ['high', 'medium', 'low', 'none'];

export function compilePolicy(ctx: FileContext, root: Record<string, unknown>): Policy | null {
  const id = root.id;
  const rev = root.rev;
  for (const k of Object.keys(root)) if (!['id', 'rev', 'description', 'outcomes', 'mining_ports'].includes(k)) ctx.err([k], k, 'unknown field; expected id, rev, description, outcomes, mining_ports');
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
  if (ctx.errors.length) return null;
  return { id: id as string, rev: rev as number, outcomes, miningPorts: new Set(ports as number[]) };
}
