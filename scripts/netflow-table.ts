/**
 * How the behaviour score does on flow exports: for every NetFlow/IPFIX export softflowd made from
 * the corpus captures (../shared/corpus/netflow/generated/{v5,v9,ipfix}/NAME.export.pcap), the mining
 * subscribers expected (clients of the labelled plaintext mining streams of NAME's capture), found,
 * and false, with the endpoint lists on and off.
 *
 *   npm run build && node dist/scripts/netflow-table.js [CORPUS_DIR]
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { runScan, type ScanCliOptions } from '../src/cli/scan.js';
import { Anomalies } from '../src/anomalies.js';
import { writeZeekDnsLog } from './corpus-dnslog.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const CORPUS = resolve(process.argv[2] ?? join(ROOT, '..', 'shared', 'corpus'));
const quiet = { out: () => {}, err: () => {} };

/** Subscribers at medium or above after a real scan (with the report's evidence added up), with the given rules, resolver log and intel. */
async function subscribers(file: string, rules: string, dnsLog: string | null): Promise<Set<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'mw-nf-'));
  try {
    const db = join(dir, 'r.sqlite');
    const o: ScanCliOptions = {
      db, subscriberNet: [], natLog: [], natDeterministic: [], rules, idleTimeout: 300, activeTimeout: 1800, maxFlows: 1 << 16,
      collectorPort: [], exports: true, joinGap: 300, keepFlows: 'auto', dnsLog: dnsLog ? [dnsLog] : [],
    };
    await runScan([file], o, quiet);
    const r = new Database(db, { readonly: true });
    const subs = r.prepare("SELECT subscriber FROM subscribers WHERE confidence IN ('medium', 'high')").pluck().all() as string[];
    r.close();
    return new Set(subs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A copy of the rules without endpoint lists (what behaviour alone finds). */
function rulesWithoutLists(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mw-rules-'));
  cpSync(join(ROOT, 'rules'), dir, { recursive: true, filter: (src) => !src.includes(`${join('rules', 'endpoints')}`) });
  return dir;
}

/** A Zeek dns.log of a capture's DNS answers, as scripts/corpus-dnslog.ts writes it. */
async function zeekLogOf(capture: string): Promise<string> {
  let text = '';
  await writeZeekDnsLog(capture, (t) => (text += t), new Anomalies());
  return text;
}

async function main(): Promise<void> {
  if (!existsSync(join(CORPUS, 'README.md'))) {
    console.error(`no corpus at ${CORPUS}`);
    process.exitCode = 1;
    return;
  }
  const on = join(ROOT, 'rules');
  const off = rulesWithoutLists();
  const labels = readFileSync(join(CORPUS, 'labels/plaintext-mining-streams.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  // The miner is the side that is not the pool: the label's client, except where the label says the capture started mid-flow.
  const expectedFor = (name: string): Set<string> => {
    const rows = labels.filter((l) => l[0]!.endsWith(`/${name}.pcap`) || l[0]!.endsWith(`/${name}.pcapng`));
    return new Set(rows.map((l) => ((l[4] ?? '').includes('mid-flow') ? l[2]! : l[1]!).replace(/:\d+$/, '')));
  };
  const captureOf = (name: string): string | null => {
    for (const d of ['mining', 'benign', 'crypto-nonmining'])
      for (const ext of ['pcap', 'pcapng']) {
        const p = join(CORPUS, 'pcap', d, `${name}.${ext}`);
        if (existsSync(p)) return p;
      }
    return null;
  };
  const dnsLogDir = mkdtempSync(join(tmpdir(), 'mw-dnslog-'));
  console.log('| export | file | subscribers expected | found (lists on) | false (lists on) | found (lists off) | false (lists off) | found (lists on + resolver log) | false (lists on + resolver log) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const totals = { expected: 0, foundOn: 0, falseOn: 0, foundOff: 0, falseOff: 0, foundDns: 0, falseDns: 0 };
  for (const v of ['v5', 'v9', 'ipfix']) {
    for (const f of readdirSync(join(CORPUS, 'netflow/generated', v)).filter((n) => n.endsWith('.export.pcap')).sort()) {
      const name = f.replace(/\.export\.pcap$/, '');
      const exp = expectedFor(name);
      const file = join(CORPUS, 'netflow/generated', v, f);
      const a = await subscribers(file, on, null);
      const b = await subscribers(file, off, null);
      // The resolver log of the same period: a Zeek dns.log written from the capture's own DNS (scripts/corpus-dnslog.ts).
      const cap = captureOf(name);
      let log: string | null = null;
      if (cap) {
        log = join(dnsLogDir, `${name}.dns.log`);
        if (!existsSync(log)) writeFileSync(log, await zeekLogOf(cap));
      }
      const c = await subscribers(file, on, log);
      const hit = (s: Set<string>) => [...s].filter((x) => exp.has(x)).length;
      const miss = (s: Set<string>) => [...s].filter((x) => !exp.has(x)).length;
      totals.expected += exp.size;
      totals.foundOn += hit(a);
      totals.falseOn += miss(a);
      totals.foundOff += hit(b);
      totals.falseOff += miss(b);
      totals.foundDns += hit(c);
      totals.falseDns += miss(c);
      console.log(`| ${v} | ${name} | ${exp.size} | ${hit(a)} | ${miss(a)} | ${hit(b)} | ${miss(b)} | ${hit(c)} | ${miss(c)} |`);
    }
  }
  console.log(`| all | | ${totals.expected} | ${totals.foundOn} | ${totals.falseOn} | ${totals.foundOff} | ${totals.falseOff} | ${totals.foundDns} | ${totals.falseDns} |`);
  rmSync(off, { recursive: true, force: true });
  rmSync(dnsLogDir, { recursive: true, force: true });
}

await main();
