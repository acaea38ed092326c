/** Compiles `rules/signatures/*.yaml`: one protocol family per file, each rule validated field by field. */
import { asList, COIN_RE, dateText, ID_RE, isDay, isObj, type FileContext } from './yamlfile.js';
import { VALUE_TYPES, type HandshakeMatch, type JsonPath, type MessageMatch, type PayloadRule, type ValueType } from './schema.js';

const RULE_KEYS = new Set(['id', 'rev', 'added', 'description', 'references', 'side', 'name', 'on', 'match', 'handshake', 'coin', 'extract', 'fixtures', 'falsepositives']);
const MATCH_KEYS = new Set(['method', 'has', 'types', 'equals', 'length', 'prefix']);
const ON = ['json', 'http', 'handshake'] as const;

function parsePath(s: string): JsonPath {
  return s.split('.');
}

type At = (...p: (string | number)[]) => (string | number)[];
type Where = (f: string) => string;

/** Compile one signature file; `seen` maps rule ids to where they were first defined. */
export function compileSignatureFile(ctx: FileContext, root: Record<string, unknown>, seen: Map<string, string>): { good: PayloadRule[]; bad: number } {
  const family = root.family;
  if (typeof family !== 'string' || !/^[a-z0-9-]+$/.test(family)) {
    ctx.err(['family'], 'family', `expected a lower-case family name like stratum-v1, got ${JSON.stringify(family)}`);
    return { good: [], bad: 0 };
  }
  for (const k of Object.keys(root)) if (!['family', 'references', 'rules', 'description'].includes(k)) ctx.err([k], k, 'unknown field; expected family, description, references, rules');
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
    const at: At = (...p) => ['rules', i, ...p];
    const where: Where = (f) => `rules[${i}].${f}`;
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
    const added = dateText(r.added);
    if (!isDay(added)) ctx.err(at('added'), where('added'), `expected a date YYYY-MM-DD, e.g. 2026-11-21, got ${JSON.stringify(r.added)}`);
    if (typeof r.description !== 'string' || r.description.length < 8) ctx.err(at('description'), where('description'), 'expected a sentence saying what the rule finds');
    if (r.side !== 'client' && r.side !== 'server') ctx.err(at('side'), where('side'), `expected client or server, got ${JSON.stringify(r.side)}`);
    const on = r.on === undefined ? 'json' : r.on;
    if (!ON.includes(on as (typeof ON)[number])) ctx.err(at('on'), where('on'), `expected one of ${ON.join(', ')}, got ${JSON.stringify(r.on)}`);
    let match: MessageMatch | null = null;
    let handshake: HandshakeMatch | null = null;
    if (on === 'handshake') {
      if (r.match !== undefined) ctx.err(at('match'), where('match'), 'a handshake rule takes handshake:, not match:');
      handshake = compileHandshake(ctx, r.handshake, at, where);
    } else {
      if (r.handshake !== undefined) ctx.err(at('handshake'), where('handshake'), 'handshake: belongs to rules with on: handshake');
      const m = r.match;
      if (!isObj(m)) ctx.err(at('match'), where('match'), 'expected a mapping, e.g. match: { method: mining.subscribe, types: { params: array } }');
      else match = compileMatch(ctx, m, at, where);
    }
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
    if (r.coin !== undefined && (typeof r.coin !== 'string' || !COIN_RE.test(r.coin))) ctx.err(at('coin'), where('coin'), `expected a ticker like XMR, got ${JSON.stringify(r.coin)}`);
    const fx = r.fixtures;
    const pos = isObj(fx) ? asList(fx.positive) : [];
    const neg = isObj(fx) ? asList(fx.negative) : [];
    if (!pos.length || !neg.length || ![...pos, ...neg].every((x) => typeof x === 'string'))
      ctx.err(at('fixtures'), where('fixtures'), 'expected fixtures: { positive: [fixtures/…], negative: [fixtures/…] } — every rule needs both');
    const refs = asList(r.references);
    if (!refs.every((x) => typeof x === 'string')) ctx.err(at('references'), where('references'), 'expected a list of URLs or document names');
    if (ctx.errors.length > before || (!match && !handshake)) {
      bad++;
      return;
    }
    const base = {
      id: id as string,
      rev: r.rev as number,
      added: added as string,
      family,
      description: r.description as string,
      references: [...fileRefs, ...(refs as string[])],
      side: r.side as 'client' | 'server',
      name: typeof r.name === 'string' ? r.name : (match?.methods?.[0] ?? (id as string)),
      coin: typeof r.coin === 'string' ? r.coin : null,
      extract: { agent, worker },
      fixtures: { positive: pos as string[], negative: neg as string[] },
      source: { file: ctx.file, line: ctx.line(at('id')) },
    };
    if (handshake) good.push({ ...base, on: 'handshake', handshake });
    else good.push({ ...base, on: on as 'json' | 'http', match: match! });
  });
  return { good, bad };
}

function compileHandshake(ctx: FileContext, h: unknown, at: At, where: Where): HandshakeMatch | null {
  const example = 'e.g. handshake: { client_first: [64], server_first: [234, 170], min_entropy: 5.0 }';
  if (!isObj(h)) {
    ctx.err(at('handshake'), where('handshake'), `expected a mapping, ${example}`);
    return null;
  }
  const before = ctx.errors.length;
  const sizes = (k: string): number[] => {
    const l = asList(h[k]);
    if (!l.length || !l.every((x) => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 65535)) {
      ctx.err(at('handshake', k), where(`handshake.${k}`), `expected a list of payload sizes in bytes, ${example}`);
      return [];
    }
    return l as number[];
  };
  const clientFirst = sizes('client_first');
  const serverFirst = sizes('server_first');
  const e = h.min_entropy;
  if (typeof e !== 'number' || e < 0 || e > 8) ctx.err(at('handshake', 'min_entropy'), where('handshake.min_entropy'), `expected bits per byte between 0 and 8, ${example}`);
  for (const k of Object.keys(h)) if (!['client_first', 'server_first', 'min_entropy'].includes(k)) ctx.err(at('handshake', k), where(`handshake.${k}`), `unknown field, ${example}`);
  return ctx.errors.length > before ? null : { clientFirst, serverFirst, minEntropy: e as number };
}

function compileMatch(ctx: FileContext, m: Record<string, unknown>, at: At, where: Where): MessageMatch | null {
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
        else prefix.push({ path: parsePath(p), values: (l as string[]).map((x) => x.toLowerCase()) });
      }
  }
  if (!methods && !has.length && !types.length && !equals.length && !prefix.length)
    ctx.err(at('match'), where('match'), 'a rule must constrain the message: give method, has, types, equals or prefix');
  return ctx.errors.length > before ? null : { methods, has, types, equals, lengths, prefix };
}
