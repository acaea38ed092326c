/**
 * How the behaviour score does on flow exports: for every NetFlow/IPFIX export softflowd made from
 * the corpus captures (../shared/corpus/netflow/generated/{v5,v9,ipfix}/NAME.export.pcap), the mining
 * subscribers expected (clients of the labelled plaintext mining streams of NAME's capture), found,
 * and false, with the endpoint lists on and off.
 *
 *   npm run build && node dist/scripts/netflow-table.js [CORPUS_DIR]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readRuleFiles } from '../src/io/rulefiles.js';
import { compileRules } from '../src/rules/loader.js';
import type { RuleSet } from '../src/rules/schema.js';
import { scanInputs } from '../src/scan.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const CORPUS = resolve(process.argv[2] ?? join(ROOT, '..', 'shared', 'corpus'));
const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };

async function subscribers(file: string, rules: RuleSet): Promise<Set<string>> {
  const subs = new Set<string>();
  await scanInputs([file], rules, (f, v) => {
    if (f.source === 'export' && v.label === 'mining' && RANK[v.confidence]! >= 2) subs.add(f.client);
  });
  return subs;
}

async function main(): Promise<void> {
  if (!existsSync(join(CORPUS, 'README.md'))) {
    console.error(`no corpus at ${CORPUS}`);
    process.exitCode = 1;
    return;
  }
  const on = compileRules(readRuleFiles(join(ROOT, 'rules'))).ruleSet;
  const off: RuleSet = { ...on, endpoints: [] };
  const labels = readFileSync(join(CORPUS, 'labels/plaintext-mining-streams.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  // The miner is the side that is not the pool: the label's client, except where the label says the capture started mid-flow.
  const expectedFor = (name: string): Set<string> => {
    const rows = labels.filter((l) => l[0]!.endsWith(`/${name}.pcap`) || l[0]!.endsWith(`/${name}.pcapng`));
    return new Set(rows.map((l) => ((l[4] ?? '').includes('mid-flow') ? l[2]! : l[1]!).replace(/:\d+$/, '')));
  };
  console.log('| export | file | subscribers expected | found (lists on) | false (lists on) | found (lists off) | false (lists off) |');
  console.log('|---|---|---|---|---|---|---|');
  const totals = { expected: 0, foundOn: 0, falseOn: 0, foundOff: 0, falseOff: 0 };
  for (const v of ['v5', 'v9', 'ipfix']) {
    for (const f of readdirSync(join(CORPUS, 'netflow/generated', v)).filter((n) => n.endsWith('.export.pcap')).sort()) {
      const name = f.replace(/\.export\.pcap$/, '');
      const exp = expectedFor(name);
      const file = join(CORPUS, 'netflow/generated', v, f);
      const a = await subscribers(file, on);
      const b = await subscribers(file, off);
      const hit = (s: Set<string>) => [...s].filter((x) => exp.has(x)).length;
      const miss = (s: Set<string>) => [...s].filter((x) => !exp.has(x)).length;
      totals.expected += exp.size;
      totals.foundOn += hit(a);
      totals.falseOn += miss(a);
      totals.foundOff += hit(b);
      totals.falseOff += miss(b);
      console.log(`| ${v} | ${name} | ${exp.size} | ${hit(a)} | ${miss(a)} | ${hit(b)} | ${miss(b)} |`);
    }
  }
  console.log(`| all | | ${totals.expected} | ${totals.foundOn} | ${totals.falseOn} | ${totals.foundOff} | ${totals.falseOff} |`);
}

await main();
