/** rules/algorithms.yaml validation: each problem at file:line with what was expected. */
import { describe, expect, it } from 'vitest';
import { compileRules } from '../../src/rules/loader.js';
import type { RuleFile } from '../../src/io/rulefiles.js';

const POLICY: RuleFile = { path: 'policy.yaml', text: 'id: MW-POLICY\nrev: 1\noutcomes:\n  - { name: one-sided, all: [protocol], label: mining, confidence: medium }\n' };
const alg = (text: string): RuleFile[] => [POLICY, { path: 'algorithms.yaml', text }];

describe('algorithms.yaml', () => {
  it('compiles coins with date bounds, names, units, difficulty and efficiency with sources', () => {
    const rep = compileRules(
      alg(`id: MW-ALGORITHMS
rev: 2
date: 2026-11-22
algorithms:
  - id: randomx
    coins: [{ coin: XMR, from: 2019-11-30 }]
    names: [RX/0]
    efficiency: { low: 0.004, high: 0.015, low_hardware: a CPU, high_hardware: another CPU }
    sources: [a benchmark]
  - id: sha256d
    coins: [BTC]
    difficulty_one: 4294967296
`),
    );
    expect(rep.errors).toEqual([]);
    const t = rep.ruleSet.algorithms!;
    expect(t).toMatchObject({ id: 'MW-ALGORITHMS', rev: 2, date: '2026-11-22' });
    expect(t.algorithms[0]).toMatchObject({ id: 'randomx', names: ['rx/0'], unit: 'H/s', difficultyOne: null, efficiencyLow: 0.004, efficiencyHigh: 0.015, line: 5 });
    expect(t.algorithms[0]!.coins).toEqual([{ coin: 'XMR', from: Date.parse('2019-11-30'), until: null }]);
    expect(t.algorithms[1]).toMatchObject({ id: 'sha256d', difficultyOne: 2 ** 32, efficiencyLow: null });
  });

  it('reports each bad entry with its line, and keeps the good ones', () => {
    const rep = compileRules(
      alg(`id: MW-ALGORITHMS
rev: 1
date: 2026-11-22
algorithms:
  - id: Bad Id
  - id: scrypt
    coins: [ltc]
  - id: x11
    efficiency: { low: 2, high: 1 }
    sources: [s]
  - id: ethash
    efficiency: { low: 1.0e-7, high: 1.0e-6 }
  - id: kawpow
    difficulty_one: -1
  - id: equihash
    unit: Sol/s
    colour: red
  - id: autolykos2
    coins: [ERG]
`),
    );
    const got = rep.errors.map((e) => `${e.line} ${e.field}`);
    expect(got).toEqual([
      '5 algorithms[0]',
      '7 algorithms[1].coins[0]',
      '9 algorithms[2].efficiency',
      '11 algorithms[3].sources',
      '14 algorithms[4].difficulty_one',
      '17 algorithms[5].colour',
    ]);
    expect(rep.errors[2]!.message).toMatch(/0 < low <= high/);
    expect(rep.errors[3]!.message).toMatch(/an efficiency needs its sources/);
    expect(rep.ruleSet.algorithms!.algorithms.map((a) => a.id)).toEqual(['autolykos2']);
  });
});
