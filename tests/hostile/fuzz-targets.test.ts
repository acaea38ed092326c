/**
 * A small seeded sample of every `npm run fuzz` target (tests/support/fuzz.ts): each reader reads
 * mutated inputs to the end or rejects them with an error naming the input; never anything else,
 * never a case slower than the per-case limit.
 */
import { describe, expect, it } from 'vitest';
import { fuzzTargets, mutate, runCase, type FuzzTarget } from '../support/fuzz.js';
import { missingNfdump } from '../support/nfcapd.js';
import { mulberry32 } from '../support/random.js';
import { CORPUS, HAVE_CORPUS, ROOT } from '../helpers.js';

const CASES = 150;
/** Fewer for the slow ones: a rule-file case compiles the rules, a report case runs three commands and a write-mode open. */
const FEWER: Record<string, number> = { 'rule-files': 40, 'report-db': 40 };
const CASE_BUDGET_MS = 2_000;
const CORPUS_TARGETS = new Set(['netflow-in-captures', 'ipfix-file', 'nfcapd', 'nfdump-csv']);
/** The nfcapd target's seeds are written by Debian's nfcapd. */
const NFDUMP_MISSING = missingNfdump();
const targets: FuzzTarget[] = await fuzzTargets(ROOT, CORPUS);

describe('fuzz targets: a seeded sample of each', () => {
  it('has every reader', () => {
    expect(targets.map((t) => t.name)).toEqual(['pcap', 'pcapng', 'netflow-in-captures', 'ipfix-file', 'nfcapd', 'nfdump-csv', 'json-flows', 'dnstap', 'zeek-dns-tsv', 'zeek-dns-json', 'rule-files', 'subscribers-csv', 'nat-log-csv', 'nat-deterministic', 'power-csv', 'radius-detail', 'radius-csv', 'report-db']);
  });

  for (const t of targets) {
    const why = CORPUS_TARGETS.has(t.name) && !HAVE_CORPUS ? 'its seeds come from the shared corpus, which is not there' : t.name === 'nfcapd' && NFDUMP_MISSING ? `its seeds are written by nfcapd: ${NFDUMP_MISSING}` : null;
    it.skipIf(why !== null)(`${t.name}: ${FEWER[t.name] ?? CASES} mutations, no uncaught exception, no silent rejection, no hang${why ? ` (skipped: ${why})` : ''}`, async () => {
      expect(t.seeds.length, 'seeds').toBeGreaterThan(0);
      // Seeds are read (fixtures/bad captures among the pcap seeds are rejected on purpose).
      const read: string[] = [];
      for (const s of t.seeds.slice(0, 8)) read.push((await runCase(t, s)).kind);
      expect(read, t.name).toContain('ok');
      const rnd = mulberry32(0xf022 ^ t.name.length);
      const failures: string[] = [];
      let anomalies = 0;
      const codes = new Set<string>();
      for (let i = 0; i < (FEWER[t.name] ?? CASES); i++) {
        const m = mutate(t.seeds[Math.floor(rnd() * t.seeds.length)]!, rnd, t.text);
        const start = performance.now();
        const r = await runCase(t, m.bytes);
        const ms = performance.now() - start;
        if (!('anomalies' in r)) failures.push(`#${i} ${m.what.join(' ')}: ${r.kind}: ${r.message}`);
        else
          for (const [code, n] of r.anomalies) {
            anomalies += n;
            codes.add(code);
          }
        if (ms > CASE_BUDGET_MS) failures.push(`#${i} ${m.what.join(' ')}: took ${ms.toFixed(0)} ms`);
      }
      expect(failures.slice(0, 5)).toEqual([]);
      // The mutations reach the readers' checks, not only the format sniffing.
      expect(anomalies).toBeGreaterThan(0);
      // A report case counts reads as well as refusals: some mutation must be refused.
      if (t.name === 'report-db') expect([...codes].some((c) => c.includes('.refused.')), [...codes].join(' ')).toBe(true);
    }, 60_000);
  }
});

describe('fuzz findings, kept as regressions', () => {
  it('dnstap: a data frame whose message field decodes to null is skipped, not a TypeError (npm run fuzz, seed 1, dnstap #9744)', async () => {
    const bytes = Buffer.from(
      '008700000000002200000002000000010000001670726f74156275663a646e737461702e446e73746170000000560a036e73317a4d080622046440000a30c0b8026080e2cfaa0672394d01818000010001000000000467756c660b6d6f6e65726f6f6365616e0673747265616d0000010001c00c0079ffffff7f012c0004cb00714d7801000000000000000400000003',
      'hex',
    );
    const t = targets.find((x) => x.name === 'dnstap')!;
    const r = await runCase(t, new Uint8Array(bytes));
    expect(r.kind === 'ok' || r.kind === 'rejected', JSON.stringify(r)).toBe(true);
  });
});
