/**
 * Validates and compiles the rule folder. Every problem is reported with file, line, field, what
 * was expected and an example; valid rules are kept so a lenient caller can still use them.
 */
import { createHash } from 'node:crypto';
import { RuleError } from '../errors.js';
import type { RuleFile } from '../io/rulefiles.js';
import { compileAgentsFile } from './agents.js';
import { compileAlgorithmsFile } from './algorithms.js';
import { compileEndpointFile } from './endpoints.js';
import { compilePolicy } from './policy.js';
import type { AgentRule, Algorithms, EndpointEntry, PayloadRule, Policy, RuleSet } from './schema.js';
import { compileSignatureFile } from './signatures.js';
import { FileContext, isObj } from './yamlfile.js';

export interface LoadReport {
  ruleSet: RuleSet;
  errors: RuleError[];
  /** Signature rules accepted and rejected; endpoint entries accepted and rejected; files read. */
  good: number;
  bad: number;
  endpoints: number;
  badEndpoints: number;
  files: number;
}

/**
 * The folder of a rules folder's endpoint lists, as the loader names its files (`endpoints/….yaml`):
 * an endpoint entry whose file starts so came from the rules, any other from intelligence.
 */
export const RULES_ENDPOINTS = 'endpoints/';

/** Used only when policy.yaml is missing or invalid and the caller is lenient. */
const FALLBACK_POLICY: Policy = {
  id: 'MW-POLICY-FALLBACK',
  rev: 1,
  outcomes: [
    { name: 'two-sided protocol', all: ['protocol-client', 'protocol-server'], any: [], label: 'mining', confidence: 'high' },
    { name: 'one-sided protocol', all: ['protocol'], any: [], label: 'mining', confidence: 'medium' },
  ],
  miningPorts: new Set(),
  behaviour: null,
  sessions: null,
  endpoints: null,
  intelAge: { fullDays: Infinity, halfLifeDays: Infinity, minWeight: 0, listedWeight: 1 },
};

/** Validate and compile every rule file. Never throws for bad content: errors are returned. */
export function compileRules(files: readonly RuleFile[]): LoadReport {
  const hash = createHash('sha256');
  const payload: PayloadRule[] = [];
  const endpoints: EndpointEntry[] = [];
  const agents: AgentRule[] = [];
  const errors: RuleError[] = [];
  let policy: Policy | null = null;
  let algorithms: Algorithms | null = null;
  let policySeen = false;
  let good = 0;
  let bad = 0;
  let badEndpoints = 0;
  const seen = new Map<string, string>();
  for (const f of files) {
    hash.update(f.path + '\0' + f.text + '\0');
    // Present, even when it does not parse: its own errors say what is wrong, not "missing".
    if (f.path === 'policy.yaml') policySeen = true;
    const ctx = new FileContext(f.path, f.text);
    if (ctx.errors.length) {
      errors.push(...ctx.errors);
      bad++;
      continue;
    }
    const root = ctx.value;
    if (!isObj(root)) {
      ctx.err([], '(file)', 'expected a mapping (signatures: family + rules; endpoints: source + entries; policy: id + outcomes; agents.yaml: agents)');
      errors.push(...ctx.errors);
      continue;
    }
    if (f.path === 'policy.yaml') {
      policy = compilePolicy(ctx, root);
    } else if (f.path === 'algorithms.yaml') {
      algorithms = compileAlgorithmsFile(ctx, root);
    } else if (f.path === 'agents.yaml') {
      agents.push(...compileAgentsFile(ctx, root));
    } else if (f.path.startsWith('signatures/')) {
      const r = compileSignatureFile(ctx, root, seen);
      good += r.good.length;
      bad += r.bad;
      payload.push(...r.good);
    } else if (f.path.startsWith(RULES_ENDPOINTS)) {
      const r = compileEndpointFile(ctx, root);
      endpoints.push(...r.good);
      badEndpoints += r.bad;
    } else {
      ctx.err([], '(file)', 'unknown rule file: expected signatures/*.yaml, endpoints/*.yaml, agents.yaml, algorithms.yaml or policy.yaml');
    }
    errors.push(...ctx.errors);
  }
  if (!policy && !policySeen) errors.push(new RuleError('policy.yaml', 1, '(file)', 'missing: the rule folder must hold policy.yaml'));
  return {
    ruleSet: { payload, algorithms, policy: policy ?? FALLBACK_POLICY, endpoints, agents, digest: hash.digest('hex'), files: files.map((f) => f.path) },
    errors,
    good,
    bad,
    endpoints: endpoints.length,
    badEndpoints,
    files: files.length,
  };
}
