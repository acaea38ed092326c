/** Dated intelligence: what an endpoint file's dates mean, block-list subdomains, and a listing's weight by its age. */
import { describe, expect, it } from 'vitest';
import { addressWeight } from '../../src/classify/intelage.js';
import { EndpointIndex } from '../../src/rules/endpoints.js';
import { compileRules } from '../../src/rules/loader.js';
import type { IntelAge } from '../../src/rules/schema.js';

const POLICY = { path: 'policy.yaml', text: 'id: MW-POLICY\nrev: 1\noutcomes:\n  - { name: x, all: [protocol], label: mining, confidence: medium }\n' };
const load = (...files: Array<{ path: string; text: string }>) => compileRules([POLICY, ...files]);

const BLOCKLIST = {
  path: 'endpoints/blocklist.yaml',
  text: `source: "a block list without dates per line"
added: 2026-11-21
dates: listed
subdomains: true
entries:
  - { domain: coinminer.example, pool: unknown }
  - { ip: 198.51.100.7, port: 3333, pool: unknown }
`,
};
const CURATED = {
  path: 'endpoints/curated.yaml',
  text: `source: "curated"
added: 2026-11-21
entries:
  - { domain: xmr.pool.example, pool: ExamplePool, coins: [XMR] }
  - { ip: 198.51.100.8, port: 3333, pool: ExamplePool, added: 2025-01-01 }
`,
};

describe('endpoint files: dates and subdomains', () => {
  it('a block list covers the subdomains of its domain entries; a curated exact entry stays exact', () => {
    const rep = load(BLOCKLIST, CURATED);
    expect(rep.errors).toEqual([]);
    const idx = new EndpointIndex(rep.ruleSet.endpoints);
    expect(idx.domain('coinminer.example')?.origin.file).toBe('endpoints/blocklist.yaml');
    expect(idx.domain('ws1.eu.coinminer.example')?.origin.file).toBe('endpoints/blocklist.yaml');
    expect(idx.domain('notcoinminer.example')).toBeNull();
    expect(idx.domain('xmr.pool.example')?.pool).toBe('ExamplePool');
    expect(idx.domain('www.xmr.pool.example')).toBeNull();
  });

  it('entries carry what their dates mean', () => {
    const e = load(BLOCKLIST, CURATED).ruleSet.endpoints;
    expect(e.filter((x) => x.origin.file.includes('blocklist')).map((x) => x.dates)).toEqual(['listed', 'listed']);
    expect(e.filter((x) => x.origin.file.includes('curated')).map((x) => [x.dates, x.added])).toEqual([
      ['observed', '2026-11-21'],
      ['observed', '2025-01-01'],
    ]);
  });

  it('bad values are errors with file and line', () => {
    const rep = load({ path: 'endpoints/bad.yaml', text: 'source: "x"\nadded: 2026-11-21\ndates: yesterday\nsubdomains: "yes"\nentries: []\n' });
    expect(rep.errors.map((e) => `${e.file}:${e.line}: ${e.message}`)).toEqual([
      expect.stringMatching(/^endpoints\/bad\.yaml:3: .*dates.*expected observed .* or listed/),
      expect.stringMatching(/^endpoints\/bad\.yaml:4: .*subdomains.*expected true/),
    ]);
  });
});

describe('listing weight by age', () => {
  const AGE: IntelAge = { fullDays: 180, halfLifeDays: 180, minWeight: 0.25, listedWeight: 0.5 };
  const [listed, observed] = [load(BLOCKLIST).ruleSet.endpoints[1]!, load(CURATED).ruleSet.endpoints[1]!];
  const day = (iso: string) => Date.parse(`${iso}T12:00:00Z`);

  it('full weight within full_days of the observation, either side of it', () => {
    expect(addressWeight(observed, day('2025-03-01'), AGE).weight).toBe(1);
    expect(addressWeight(observed, day('2024-10-01'), AGE).weight).toBe(1);
  });

  it('halves every half_life_days beyond that', () => {
    // 2025-01-01 + 360.5 days: 180.5 days past full weight.
    expect(addressWeight(observed, day('2025-12-27'), AGE).weight).toBeCloseTo(0.5 ** (180.5 / 180), 6);
    // Eight years on it is no evidence (the caller drops weights below min_weight).
    expect(addressWeight(observed, day('2033-01-01'), AGE).weight).toBeLessThan(AGE.minWeight);
  });

  it('a list without observation dates weighs at most listed_weight, and also ages after the date it was taken', () => {
    expect(addressWeight(listed, day('2020-11-27'), AGE)).toMatchObject({ weight: 0.5, ageDays: null });
    expect(addressWeight(listed, day('2027-01-01'), AGE).weight).toBe(0.5);
    expect(addressWeight(listed, day('2028-11-21'), AGE).weight).toBeCloseTo(0.5 ** ((731 - 180 + 0.5) / 180), 3);
  });

  it('the note says the date, what it means, the age and the weight', () => {
    expect(addressWeight(observed, day('2025-01-21'), AGE).note).toBe('observed 2025-01-01, 21 days before the flow, weight 1');
    expect(addressWeight(observed, day('2023-01-01'), AGE).note).toBe('observed 2025-01-01, 2 years after the flow, weight 0.12');
    expect(addressWeight(listed, day('2026-01-01'), AGE).note).toBe('listed 2026-11-21 without an observation date, weight 0.5');
  });
});
