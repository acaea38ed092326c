/**
 * Validates and compiles rule files. Every problem is reported with file, line, field, what was
 * expected and an example; a file with errors contributes its valid rules only when the caller
 * asks to be lenient.
 */
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { RuleError } from '../errors.js';
import type { RuleFile } from '../io/rulefiles.js';
import type { Confidence, Label } from '../types.js';
import { VALUE_TYPES, type JsonPath, type PayloadMatch, type PayloadRule, type Policy, type PolicyOutcome, type RuleSet, type ValueType } from './schema.js';

export interface LoadReport {
  ruleSet: RuleSet;
  errors: RuleError[];
  /** Rules accepted, rules rejected, files read. */
  good: number;
  bad: number;
  files: number;
}

const ID_RE = /^[A-Z0-9][A-Z0-9-]{2,63}$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const LABELS: readonly Label[] = ['mining', 'suspect', 'none'];
const CONFIDENCES: readonly Confidence[] = ['high', 'medium', 'low', 'none'];

class FileContext {
  readonly lc = new LineCounter();
  readonly doc: Document;
  readonly errors: RuleError[] = [];
  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lc, uniqueKeys: true, prettyErrors: false, strict: true });
    for (const e of this.doc.errors) {
      const line = this.lc.linePos(e.pos[0]).line;
      this.errors.push(new RuleError(file, line, '(yaml)', e.message.split('\n')[0] ?? 'invalid YAML'));
    }
  }
  line(path: (string | number)[]): number {
    for (let p = path; p.length >= 0; p = p.slice(0, -1)) {
      const node = (p.length === 0 ? this.doc.contents : this.doc.getIn(p, true)) as YamlNode | undefined;
      const r = node && (node as { range?: [number, number, number] }).range;
      if (r) return this.lc.linePos(r[0]).line;
      if (p.length === 0) return 1;
    }
    return 1;
  }
  err(path: (string | number)[], field: string, message: string): void {
    this.errors.push(new RuleError(this.file, this.line(path), field, message));
  }
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function asList(x: unknown): unknown[] {
  return Array.isArray(x) ? x : x === undefined ? [] : [x];
}

function parsePath(s: string): JsonPath {
  return s.split('.');
}

/** Validate and compile every rule file. Never throws for bad content: errors are returned. */
export function compileRules(files: readonly RuleFile[]): LoadReport {
  const hash = createHash('sha256');
  const payload: PayloadRule[] = [];
  const errors: RuleError[] = [];
  let policy: Policy | null = null;
  let policySeen = false;
  let good = 0;
  let bad = 0;
  const seen = new Map<string, string>();
  for (const f of files) {
    hash.update(f.path + '\0' + f.text + '\0');
    const ctx = new FileContext(f.path, f.text);
    if (ctx.errors.length) {
      errors.push(...ctx.errors);
      bad++;
      continue;
    }
    const root = ctx.doc.toJS() as unknown;
    if (!isObj(root)) {
      ctx.err([], '(file)', 'expected a mapping with `family:` and `rules:` (signatures) or `id:` and `protocol:` (policy)');
      errors.push(...ctx.errors);
      continue;
    }
    if (f.path === 'policy.yaml' || f.path.endsWith('/policy.yaml')) {
      policySeen = true;
      policy = compilePolicy(ctx, root);
      errors.push(...ctx.errors);
      continue;
    }
    if (f.path.startsWith('signatures/')) {
      const r = compileSignatureFile(ctx, root, seen);
      good += r.good.length;
      bad += r.bad;
      payload.push(...r.good);
      errors.push(...ctx.errors);
      continue;
    }
    // Other folders (endpoints/…) are read by their own compilers; unknown files are an error.
    if (!f.path.startsWith('endpoints/')) {
      ctx.err([], '(file)', 'unknown rule file: expected signatures/*.yaml, endpoints/*.yaml or policy.yaml');
      errors.push(...ctx.errors);
    }
  }
  if (!policy) {
    if (!policySeen) errors.push(new RuleError('policy.yaml', 1, '(file)', 'missing: the rule folder must hold policy.yaml'));
    policy = { id: 'MW-POLICY-DEFAULT', rev: 0, twoSided: { label: 'mining', confidence: 'high' }, oneSided: { label: 'mining', confidence: 'medium' } };
  }
  return { ruleSet: { payload, policy, digest: hash.digest('hex'), files: files.map((f) => f.path) }, errors, good, bad, files: files.length };
}

function compilePolicy(ctx: FileContext, root: Record<string, unknown>): Policy | null {
  const id = root.id;
  const rev = root.rev;
  if (typeof id !== 'string' || !ID_RE.test(id)) ctx.err(['id'], 'id', `expected an upper-case id like MW-POLICY, got ${JSON.stringify(id)}`);
  if (!Number.isInteger(rev) || (rev as number) < 1) ctx.err(['rev'], 'rev', `expected a positive integer revision, e.g. 1, got ${JSON.stringify(rev)}`);
  const proto = root.protocol;
  if (!isObj(proto)) {
    ctx.err(['protocol'], 'protocol', 'expected a mapping with two_sided and one_sided outcomes, e.g. two_sided: { label: mining, confidence: high }');
    return null;
  }
  const outcome = (key: string): PolicyOutcome => {
    const o = proto[key];
    const label = isObj(o) ? o.label : undefined;
    const conf = isObj(o) ? o.confidence : undefined;
    if (!LABELS.includes(label as Label)) ctx.err(['protocol', key, 'label'], `protocol.${key}.label`, `expected one of ${LABELS.join(', ')}, got ${JSON.stringify(label)}`);
    if (!CONFIDENCES.includes(conf as Confidence))
      ctx.err(['protocol', key, 'confidence'], `protocol.${key}.confidence`, `expected one of ${CONFIDENCES.join(', ')}, got ${JSON.stringify(conf)}`);
    return { label: label as Label, confidence: conf as Confidence };
  };
  const twoSided = outcome('two_sided');
  const oneSided = outcome('one_sided');
  if (ctx.errors.length) return null;
  return { id: id as string, rev: rev as number, twoSided, oneSided };
}

const RULE_KEYS = new Set(['id', 'rev', 'added', 'description', 'references', 'side', 'name', 'match', 'coin', 'extract', 'fixtures', 'falsepositives']);
const MATCH_KEYS = new Set(['method', 'has', 'types', 'equals', 'length', 'prefix']);

function compileSignatureFile(
  ctx: FileContext,
  root: Record<string, unknown>,
  seen: Map<string, string>,
): { good: PayloadRule[]; bad: number } {
  const family = root.family;
  if (typeof family !== 'string' || !/^[a-z0-9-]+$/.test(family)) {
    ctx.err(['family'], 'family', `expected a lower-case family name like stratum-v1, got ${JSON.stringify(family)}`);
    return { good: [], bad: 0 };
  }
  const fileRefs = asList(root.references).filter((x): x is string => typeof x === 'string');
  const rules = root.rules;
  if (!Array.isArray(rules)) {
    ctx.err(['rules'], 'rules', 'expected a list of rules, e.g. rules: [ { id: MW-STRATUM-V1-SUBSCRIBE, rev: 1, … } ]');
    return { good: [], bad: 0 };
  }
  const good: PayloadRule[] = [];
  let bad = 0;
  rules.forEach((r: unknown, i: number) => {
    const before = ctx.errors.length;
    const at = (...p: (string | number)[]): (string | number)[] => ['rules', i, ...p];
    const where = (f: string): string => `rules[${i}].${f}`;
    if (!isObj(r)) {
      ctx.err(at(), `rules[${i}]`, 'expected a mapping with id, rev, added, description, side, match');
      bad++;
      return;
    }
    for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) ctx.err(at(k), where(k), `unknown field; expected one of ${[...RULE_KEYS].join(', ')}`);
    const id = r.id;
    if (typeof id !== 'string' || !ID_RE.test(id)) ctx.err(at('id'), where('id'), `expected an upper-case id like MW-STRATUM-V1-SUBSCRIBE, got ${JSON.stringify(id)}`);
    else if (seen.has(id)) ctx.err(at('id'), where('id'), `duplicate id ${id} (first defined in ${seen.get(id)})`);
    else seen.set(id, `${ctx.file}:${ctx.line(at('id'))}`);
    if (!Number.isInteger(r.rev) || (r.rev as number) < 1) ctx.err(at('rev'), where('rev'), `expected a positive integer revision, e.g. 1, got ${JSON.stringify(r.rev)}`);
    const added = r.added instanceof Date ? r.added.toISOString().slice(0, 10) : r.added;
    if (typeof added !== 'string' || !DATE_RE.test(added)) ctx.err(at('added'), where('added'), `expected a date YYYY-MM-DD, e.g. 2026-11-21, got ${JSON.stringify(r.added)}`);
    if (typeof r.description !== 'string' || r.description.length < 8) ctx.err(at('description'), where('description'), 'expected a sentence saying what the rule finds');
    if (r.side !== 'client' && r.side !== 'server') ctx.err(at('side'), where('side'), `expected client or server, got ${JSON.stringify(r.side)}`);
    const m = r.match;
    let match: PayloadMatch | null = null;
    if (!isObj(m)) ctx.err(at('match'), where('match'), 'expected a mapping, e.g. match: { method: mining.subscribe, types: { params: array } }');
    else match = compileMatch(ctx, m, at, where);
    const ex = r.extract;
    let agent: JsonPath | null = null;
    let worker: JsonPath | null = null;
    if (ex !== undefined) {
      if (!isObj(ex)) ctx.err(at('extract'), where('extract'), 'expected a mapping like extract: { agent: params.agent, worker: params.login }');
      else
        for (const [k, v] of Object.entries(ex)) {
          if ((k !== 'agent' && k !== 'worker') || typeof v !== 'string') ctx.err(at('extract', k), where(`extract.${k}`), 'expected agent: PATH or worker: PATH, e.g. worker: params.0');
          else if (k === 'agent') agent = parsePath(v);
          else worker = parsePath(v);
        }
    }
    if (r.coin !== undefined && (typeof r.coin !== 'string' || !/^[A-Z0-9]{2,10}$/.test(r.coin)))
      ctx.err(at('coin'), where('coin'), `expected a ticker like XMR, got ${JSON.stringify(r.coin)}`);
    const fx = r.fixtures;
    const pos = isObj(fx) ? asList(fx.positive) : [];
    const neg = isObj(fx) ? asList(fx.negative) : [];
    if (!pos.length || !neg.length || ![...pos, ...neg].every((x) => typeof x === 'string'))
      ctx.err(at('fixtures'), where('fixtures'), 'expected fixtures: { positive: [fixtures/…], negative: [fixtures/…] } — every rule needs both');
    const refs = asList(r.references);
    if (!refs.every((x) => typeof x === 'string')) ctx.err(at('references'), where('references'), 'expected a list of URLs or document names');
    if (ctx.errors.length > before || !match) {
      bad++;
      return;
    }
    good.push({
      id: id as string,
      rev: r.rev as number,
      added: added as string,
      family,
      description: r.description as string,
      references: [...fileRefs, ...(refs as string[])],
      side: r.side as 'client' | 'server',
      name: typeof r.name === 'string' ? r.name : match.methods?.[0] ?? (id as string),
      match,
      coin: typeof r.coin === 'string' ? r.coin : null,
      extract: { agent, worker },
      fixtures: { positive: pos as string[], negative: neg as string[] },
      source: { file: ctx.file, line: ctx.line(at('id')) },
    });
  });
  return { good, bad };
}

function compileMatch(
  ctx: FileContext,
  m: Record<string, unknown>,
  at: (...p: (string | number)[]) => (string | number)[],
  where: (f: string) => string,
): PayloadMatch | null {
  const before = ctx.errors.length;
  for (const k of Object.keys(m)) if (!MATCH_KEYS.has(k)) ctx.err(at('match', k), where(`match.${k}`), `unknown condition; expected one of ${[...MATCH_KEYS].join(', ')}`);
  let methods: string[] | null = null;
  if (m.method !== undefined) {
    const l = asList(m.method);
    if (!l.length || !l.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 128))
      ctx.err(at('match', 'method'), where('match.method'), 'expected a method name or a list of them, e.g. method: [mining.submit]');
    else methods = l as string[];
  }
  const has: JsonPath[] = [];
  for (const p of asList(m.has)) {
    if (typeof p !== 'string' || !p) ctx.err(at('match', 'has'), where('match.has'), 'expected a list of dotted paths, e.g. has: [params.blob, params.job_id]');
    else has.push(parsePath(p));
  }
  const types: { path: JsonPath; type: ValueType }[] = [];
  if (m.types !== undefined) {
    if (!isObj(m.types)) ctx.err(at('match', 'types'), where('match.types'), 'expected a mapping of path to type, e.g. types: { params: array }');
    else
      for (const [p, t] of Object.entries(m.types)) {
        if (!VALUE_TYPES.includes(t as ValueType)) ctx.err(at('match', 'types', p), where(`match.types.${p}`), `expected one of ${VALUE_TYPES.join(', ')}, got ${JSON.stringify(t)}`);
        else types.push({ path: parsePath(p), type: t as ValueType });
      }
  }
  const equals: { path: JsonPath; values: (string | number | boolean | null)[] }[] = [];
  if (m.equals !== undefined) {
    if (!isObj(m.equals)) ctx.err(at('match', 'equals'), where('match.equals'), 'expected a mapping of path to value(s), e.g. equals: { jsonrpc: "2.0" }');
    else
      for (const [p, v] of Object.entries(m.equals)) {
        const l = asList(v);
        if (!l.length || !l.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x)))
          ctx.err(at('match', 'equals', p), where(`match.equals.${p}`), 'expected a scalar or a list of scalars');
        else equals.push({ path: parsePath(p), values: l as (string | number | boolean | null)[] });
      }
  }
  const lengths: { path: JsonPath; values: number[] }[] = [];
  if (m.length !== undefined) {
    if (!isObj(m.length)) ctx.err(at('match', 'length'), where('match.length'), 'expected a mapping of path to length(s), e.g. length: { result.0: 66 }');
    else
      for (const [p, v] of Object.entries(m.length)) {
        const l = asList(v);
        if (!l.length || !l.every((x) => Number.isInteger(x) && (x as number) >= 0)) ctx.err(at('match', 'length', p), where(`match.length.${p}`), 'expected a whole number or a list of them');
        else lengths.push({ path: parsePath(p), values: l as number[] });
      }
  }
  const prefix: { path: JsonPath; values: string[] }[] = [];
  if (m.prefix !== undefined) {
    if (!isObj(m.prefix)) ctx.err(at('match', 'prefix'), where('match.prefix'), 'expected a mapping of path to prefix(es), e.g. prefix: { params.agent: [XMRig/] }');
    else
      for (const [p, v] of Object.entries(m.prefix)) {
        const l = asList(v);
        if (!l.length || !l.every((x) => typeof x === 'string' && x.length > 0)) ctx.err(at('match', 'prefix', p), where(`match.prefix.${p}`), 'expected a string or a list of strings');
        else prefix.push({ path: parsePath(p), values: l as string[] });
      }
  }
  if (!methods && !has.length && !types.length && !equals.length)
    ctx.err(at('match'), where('match'), 'a rule must constrain the message: give method, has, types or equals');
  return ctx.errors.length > before ? null : { methods, has, types, equals, lengths, prefix };
}

