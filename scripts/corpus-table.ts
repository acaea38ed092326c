/**
 * The corpus table for notes and reviews: per capture in ../shared/corpus/pcap, the plaintext mining
 * streams labelled, how many minerwatch finds at >= medium, the extra flows it flags (and why), and
 * Debian's ndpiReader on the same file (flows, flows it calls Mining) when it is installed.
 *
 *   npm run build && node dist/scripts/corpus-table.js [CORPUS_DIR]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readRuleFiles } from '../src/io/rulefiles.js';
import { compileRules } from '../src/rules/loader.js';
import { scanInputs } from '../src/scan.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const CORPUS = resolve(process.argv[2] ?? join(ROOT, '..', 'shared', 'corpus'));
const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };

function ndpi(file: string): { flows: number; mining: number } | null {
  try {
    const out = execFileSync('ndpiReader', ['-i', file, '-v', '2'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 120_000 });
    const flows = out.split('\n').filter((l) => /^\s+\d+\s+(TCP|UDP|ICMP|IGMP|ICMPV6)/.test(l));
    return { flows: flows.length, mining: flows.filter((l) => /Mining/.test(l)).length };
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(CORPUS, 'README.md'))) {
    console.error(`no corpus at ${CORPUS}`);
    process.exitCode = 1;
    return;
  }
  const rules = compileRules(readRuleFiles(join(ROOT, 'rules'))).ruleSet;
  const labels = readFileSync(join(CORPUS, 'labels/plaintext-mining-streams.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  const rows: string[] = [];
  rows.push('| file | streams labelled | found (>= medium) | extra flows flagged (label/confidence: why) | mining subscribers | ndpiReader flows / Mining |');
  rows.push('|---|---|---|---|---|---|');
  for (const dir of ['mining', 'crypto-nonmining', 'benign']) {
    for (const name of readdirSync(join(CORPUS, 'pcap', dir)).sort()) {
      const rel = `pcap/${dir}/${name}`;
      const file = join(CORPUS, rel);
      const want = new Set(labels.filter((l) => l[0] === rel).map((l) => [l[1], l[2]].sort().join(' ')));
      const found = new Set<string>();
      const extra = new Map<string, number>();
      const subs = new Set<string>();
      // Read as the scan command reads: records borrow the payload buffers during this call.
      await scanInputs([file], rules, (f, v) => {
        const key = [`${f.client}:${f.clientPort}`, `${f.server}:${f.serverPort}`].sort().join(' ');
        const strong = v.label === 'mining' && RANK[v.confidence]! >= 2;
        if (strong) subs.add(f.client);
        if (want.has(key) && strong) found.add(key);
        else if (v.label !== 'none') {
          const why = `${v.label}/${v.confidence}: ${v.outcome ?? ''}`;
          extra.set(why, (extra.get(why) ?? 0) + 1);
        }
      }, { flow: { payloadViews: true }, prefaultWorkBuffers: true });
      const n = ndpi(file);
      const ex = [...extra].map(([w, c]) => `${c}× ${w}`).join('; ') || '0';
      rows.push(`| ${rel} | ${want.size} | ${found.size} | ${ex} | ${subs.size} | ${n ? `${n.flows} / ${n.mining}` : 'n/a'} |`);
    }
  }
  console.log(rows.join('\n'));
}

await main();
