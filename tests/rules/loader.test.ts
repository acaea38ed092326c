/** Rule validation: every bad entry is reported with file, line, field, what was expected. */
import { describe, expect, it } from 'vitest';
import { compileRules } from '../../src/rules/loader.js';
import type { RuleFile } from '../../src/io/rulefiles.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { RULES_DIR } from '../helpers.js';

const POLICY: RuleFile = {
  path: 'policy.yaml',
  text: 'id: MW-POLICY\nrev: 1\noutcomes:\n  - { name: two-sided, all: [protocol-client, protocol-server], label: mining, confidence: high }\n  - { name: one-sided, all: [protocol], label: mining, confidence: medium }\n',
};

function sig(body: string): RuleFile {
  return { path: 'signatures/test.yaml', text: body };
}

const GOOD_RULE = `family: test
rules:
  - id: MW-TEST-ONE
    rev: 1
    added: 2026-11-21
    description: A test rule that matches mining.subscribe.
    side: client
    match: { method: mining.subscribe }
    fixtures: { positive: [a.pcap], negative: [b.pcap] }
`;

describe('rule loader', () => {
  it('a policy.yaml that does not parse is reported once, by its YAML error, not also as missing', () => {
    const rep = compileRules([{ path: 'policy.yaml', text: 'garbage: [\n' }, sig(GOOD_RULE)]);
    expect(rep.errors).toHaveLength(1);
    expect(rep.errors[0]!.file).toBe('policy.yaml');
    expect(rep.errors[0]!.field).toBe('(yaml)');
    expect(rep.errors.map((e) => e.message).join('\n')).not.toMatch(/missing/);
  });

  it('a policy.yaml that is not a mapping is reported once, as not a mapping', () => {
    const rep = compileRules([{ path: 'policy.yaml', text: '- just\n- a list\n' }, sig(GOOD_RULE)]);
    expect(rep.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^policy\.yaml:1: \(file\): expected a mapping/)]);
  });

  it('a rule folder without policy.yaml is still told it is missing', () => {
    const rep = compileRules([sig(GOOD_RULE)]);
    expect(rep.errors.map((e) => e.message)).toEqual(['policy.yaml:1: (file): missing: the rule folder must hold policy.yaml']);
  });

  it('the project rules are valid and every rule has provenance', () => {
    const rep = compileRules(readRuleFiles(RULES_DIR));
    expect(rep.errors.map((e) => e.message)).toEqual([]);
    expect(rep.good).toBeGreaterThanOrEqual(16);
    for (const r of rep.ruleSet.payload) {
      expect(r.id).toMatch(/^MW-/);
      expect(r.rev).toBeGreaterThanOrEqual(1);
      expect(r.added).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(r.references.length).toBeGreaterThan(0);
    }
    expect(rep.ruleSet.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('accepts a good rule and names its source line', () => {
    const rep = compileRules([POLICY, sig(GOOD_RULE)]);
    expect(rep.errors).toEqual([]);
    expect(rep.ruleSet.payload[0]).toMatchObject({ id: 'MW-TEST-ONE', source: { file: 'signatures/test.yaml', line: 3 } });
  });

  it('reports a wrong field with file, line, field and the expectation', () => {
    const rep = compileRules([POLICY, sig(GOOD_RULE.replace('side: client', 'side: miner'))]);
    expect(rep.errors).toHaveLength(1);
    const e = rep.errors[0]!;
    expect(e.file).toBe('signatures/test.yaml');
    expect(e.line).toBe(7);
    expect(e.field).toBe('rules[0].side');
    expect(e.message).toContain('expected client or server');
    expect(rep.bad).toBe(1);
    expect(rep.good).toBe(0);
  });

  it('rejects unknown conditions, bad types, missing fixtures, duplicate ids, bad dates', () => {
    const text = `family: test
rules:
  - id: MW-TEST-ONE
    rev: 1
    added: yesterday
    description: A test rule that matches mining.subscribe.
    side: client
    match: { method: mining.subscribe, regex: "(a+)+$", types: { params: list } }
  - id: MW-TEST-ONE
    rev: 1
    added: 2026-11-21
    description: Duplicate id.
    side: server
    match: { method: mining.notify }
`;
    const rep = compileRules([POLICY, sig(text)]);
    const fields = rep.errors.map((e) => `${e.line}:${e.field}`);
    expect(fields).toEqual(
      expect.arrayContaining(['5:rules[0].added', '8:rules[0].match.regex', '8:rules[0].match.types.params', '3:rules[0].fixtures', '9:rules[1].id', '9:rules[1].fixtures']),
    );
    expect(rep.good).toBe(0);
  });

  it('reports YAML syntax errors with a line, and YAML tags cannot construct code', () => {
    const rep = compileRules([POLICY, sig('family: test\nrules:\n  - id: [unclosed\n')]);
    expect(rep.errors[0]!.line).toBeGreaterThanOrEqual(3);
    const tagged = compileRules([POLICY, sig(GOOD_RULE.replace('side: client', 'side: !!js/function "function(){return 1}"'))]);
    expect(tagged.errors.length).toBeGreaterThan(0);
    expect(tagged.good).toBe(0);
  });

  it('requires a policy and validates it', () => {
    expect(compileRules([sig(GOOD_RULE)]).errors.map((e) => e.file)).toContain('policy.yaml');
    const bad = compileRules([{ path: 'policy.yaml', text: POLICY.text.replace('confidence: high', 'confidence: certain').replace('all: [protocol]', 'all: [protocl]') }, sig(GOOD_RULE)]);
    expect(bad.errors.map((e) => `${e.line}:${e.field}`)).toEqual(['4:outcomes[0].confidence', '5:outcomes[1].all']);
    expect(bad.errors[1]!.message).toMatch(/unknown evidence class "protocl"/);
  });

  it('refuses a behaviour trait whose bound is NaN or whose points are not positive numbers, naming the field', () => {
    const text = `${POLICY.text}behaviour:\n  id: MW-BEHAVIOUR\n  rev: 1\n  strong_at: 10\n  weak_at: 2\n  traits:\n    - { name: a, metric: both_directions, min: 1, points: 1 }\n    - { name: b, metric: duration_min, min: .nan, points: 5 }\n    - { name: c, metric: duration_min, max: 3, points: .nan }\n`;
    const rep = compileRules([{ path: 'policy.yaml', text }, sig(GOOD_RULE)]);
    expect(rep.errors.map((e) => `${e.line}:${e.field}`)).toEqual(['13:behaviour.traits[1].min', '14:behaviour.traits[2].points']);
  });

  it('the digest changes when a rule changes', () => {
    const a = compileRules([POLICY, sig(GOOD_RULE)]).ruleSet.digest;
    const b = compileRules([POLICY, sig(GOOD_RULE.replace('rev: 1', 'rev: 2'))]).ruleSet.digest;
    expect(a).not.toBe(b);
  });
});

describe('compiled rule cache', () => {
  it('a second load comes from the cache and equals the compiled rule set', async () => {
    const { mkdtempSync, readdirSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadRulesForScan } = await import('../../src/cli/rules.js');
    const prev = process.env.XDG_CACHE_HOME;
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-cache-'));
    process.env.XDG_CACHE_HOME = dir;
    try {
      const io = { out: () => undefined, err: () => undefined };
      const first = loadRulesForScan(RULES_DIR, false, io);
      expect(readdirSync(join(dir, 'minerwatch'))).toHaveLength(1);
      const second = loadRulesForScan(RULES_DIR, false, io);
      const plain = (r: typeof first) => JSON.stringify({ ...r.ruleSet, policy: { ...r.ruleSet.policy, miningPorts: [...r.ruleSet.policy.miningPorts] } });
      expect(plain(second)).toBe(plain(first));
      expect(second.ruleSet.policy.miningPorts.has(3333)).toBe(true);
    } finally {
      if (prev === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = prev;
    }
  });
});
