/**
 * Detection is data: every payload rule names a positive and a negative fixture in its YAML, and
 * this test holds each rule to them — the rule fires on a flow of every positive fixture and on no
 * flow of any negative one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRules, ROOT, scanFiles } from '../helpers.js';

const rules = projectRules().payload;

async function firedRules(fixture: string): Promise<Set<string>> {
  const { flows } = await scanFiles([join(ROOT, fixture)]);
  return new Set(flows.flatMap((f) => f.verdict.evidence.map((e) => e.ruleId)));
}

describe('every payload rule against its fixtures', () => {
  it('has rules of every family', () => {
    for (const f of ['stratum-v1', 'monero', 'ethproxy']) expect(rules.some((r) => r.family === f)).toBe(true);
  });

  const cases = rules.flatMap((r) => [
    ...r.fixtures.positive.map((f) => [r.id, 'fires on', f] as const),
    ...r.fixtures.negative.map((f) => [r.id, 'stays silent on', f] as const),
  ]);

  it.each(cases)('%s %s %s', async (id, how, fixture) => {
    expect(existsSync(join(ROOT, fixture)), `${fixture} exists`).toBe(true);
    const fired = await firedRules(fixture);
    expect(fired.has(id)).toBe(how === 'fires on');
  });

  it('negative fixtures produce no mining flow (at most a low suspect, e.g. for a mining port)', async () => {
    // A negative for one rule may be a real session of another variant (a Stratum V1 session is the
    // negative of the EthereumStratum rules): only fixtures that are no rule's positive must be clean.
    const positives = new Set(rules.flatMap((r) => r.fixtures.positive));
    const negatives = new Set(rules.flatMap((r) => r.fixtures.negative).filter((f) => !positives.has(f)));
    for (const f of negatives) {
      const { flows } = await scanFiles([join(ROOT, f)]);
      const flagged = flows.filter((x) => x.verdict.label === 'mining' || (x.verdict.label === 'suspect' && x.verdict.confidence !== 'low'));
      expect(flagged.map((x) => `${f}: ${x.verdict.reason}`)).toEqual([]);
    }
  });

  it('zabbix (JSON after a binary header) is not mining', async () => {
    const { flows } = await scanFiles([join(ROOT, 'fixtures/rules/zabbix.pcap')]);
    expect(flows.every((f) => f.verdict.label === 'none')).toBe(true);
  });
});
