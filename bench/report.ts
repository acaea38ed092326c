/**
 * The report and NAT case of `npm run bench` (BENCH_CASES=report): a report of 1 M flows and
 * 100 k subscribers written through the real writer (peer evidence and subscriber rollup included),
 * then the watch list, the summary and the HTML rendered from it; and 1 M NAT lookups against 1 M
 * port-block records. Deterministic (seeded); everything in memory or under bench/data.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { NatMapper, type NatRecord } from '../src/aggregate/nat.js';
import { classesOf, decide } from '../src/classify/policy.js';
import { readRuleFiles } from '../src/io/rulefiles.js';
import { renderHtml } from '../src/report/html.js';
import { queryWatchlist } from '../src/report/queries.js';
import { summarize } from '../src/report/summary.js';
import { openReport, ReportWriter } from '../src/report/writer.js';
import { compileRules } from '../src/rules/loader.js';
import { mulberry32 } from '../tests/support/random.js';
import type { FlowRecord, Verdict } from '../src/types.js';

const EMPTY = new Uint8Array(0);

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function reportCase(dataDir: string, flows = 1_000_000, subscribers = 100_000): void {
  const rnd = mulberry32(20261122);
  const db = join(dataDir, 'report-bench.sqlite');
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const rules = compileRules(readRuleFiles(join(process.cwd(), 'rules'))).ruleSet;
  const w = new ReportWriter(openReport(db), { toolVersion: 'bench', rulesetDigest: rules.digest, rules: '', options: {}, algorithms: rules.algorithms });
  const input = w.addInput('synthetic');
  const t0 = Date.UTC(2026, 10, 1);
  const coins = ['XMR', 'BTC', 'ETC', 'LTC', null];
  let t = process.hrtime.bigint();
  for (let i = 0; i < flows; i++) {
    const sub = Math.floor(rnd() * subscribers);
    const mining = i % 10 === 0;
    const client = `100.${64 + (sub >> 16)}.${(sub >> 8) & 255}.${sub & 255}`;
    const first = t0 + Math.floor(rnd() * 86_400_000);
    const f: FlowRecord = {
      client, clientPort: 1024 + (i % 60000), server: `198.51.${(i >> 8) & 255}.${i & 255}`, serverPort: mining ? 3333 : 443, transport: 'tcp', ipVersion: 4, orientation: 'syn',
      firstSeen: first, lastSeen: first + 600_000, packetsC2S: 120, packetsS2C: 140, bytesC2S: 12_000, bytesS2C: 30_000, tcpFlagsC2S: 0x1a, tcpFlagsS2C: 0x1a, endReason: 'idle',
      payloadC2S: EMPTY, payloadS2C: EMPTY, payloadTimeC2S: first, payloadTimeS2C: first, firstSegmentC2S: 0, firstSegmentS2C: 0, inputIndex: 0, source: 'packets', records: 0, sampling: 1,
    };
    // Mining flows carry shares (difficulty-valued, as Stratum V1 pools set them), so the rollup computes hashrate and power.
    if (mining) {
      const n = 5 + (i % 40);
      // CryptoNote pools set targets (hashes), Stratum V1 pools difficulty.
      const xmr = (i / 10) % coins.length === 0;
      f.shares = { submitted: n, accepted: n, rejected: 0, answered: true, counted: n, difficulty: xmr ? 0 : n * 1024, hashes: xmr ? n * 10_000 : 0, unknownWork: 0, reportedHashrate: null, algorithm: null, firstShare: first, lastShare: first + 590_000, gaps: 0 };
    }
    const v: Verdict = mining
      ? {
          label: 'mining', confidence: 'high', outcome: 'two-sided protocol', reason: 'mining: stratum-v1 confirmed both ways',
          evidence: [{ ruleId: 'MW-STRATUM-V1-SUBSCRIBE', rev: 1, kind: 'payload', side: 'client', family: 'stratum-v1', matched: 'mining.subscribe', excerpt: '{"method":"mining.subscribe"}', offset: 0, time: first }],
          attributes: { coin: coins[(i / 10) % coins.length]!, agent: 'cgminer/4.10.0', software: 'cgminer 4.10.0', workers: [`w${sub}`], pool: null, serverName: null },
        }
      : { label: 'none', confidence: 'none', outcome: null, reason: 'no mining evidence', evidence: [], attributes: { coin: null, agent: null, software: null, workers: [], pool: null, serverName: null } };
    w.addFlow(f, v, input, client);
  }
  w.flush();
  const write = seconds(t);
  t = process.hrtime.bigint();
  const policy = rules.policy;
  w.finish({ packets: 0, anomalies: 0, interrupted: false }, (ev) => {
    const d = decide(policy, classesOf(ev));
    return { label: d.label, confidence: d.confidence, outcome: d.outcome?.name ?? null };
  });
  const finish = seconds(t);
  t = process.hrtime.bigint();
  const measured = (w.db.prepare('SELECT count(*) AS n FROM subscriber_hashrate WHERE hashrate_hs IS NOT NULL').get() as { n: number }).n;
  const list = queryWatchlist(w.db, { minConfidence: 'medium' });
  const watch = seconds(t);
  t = process.hrtime.bigint();
  const s = summarize(w.db, { minConfidence: 'medium' });
  const sum = seconds(t);
  t = process.hrtime.bigint();
  const h = renderHtml(w.db, { minConfidence: 'medium', lang: 'en', tz: 'Asia/Shanghai', title: 'bench' });
  const html = seconds(t);
  w.db.close();
  console.log(`report: ${flows} flows (${flows / 10} mining) written in ${write.toFixed(2)} s (${(flows / write / 1e3).toFixed(0)} k flows/s); peer evidence + subscriber rollup (${measured} hashrate rows) ${finish.toFixed(2)} s; watch list of ${list.length} subscribers ${watch.toFixed(2)} s; summary (${s.miningSubscribers} subscribers) ${sum.toFixed(2)} s; HTML (${(h.html.length / 1e6).toFixed(1)} MB) ${html.toFixed(2)} s`);

  // NAT: 1 M port blocks (1000 public addresses × 1000 blocks of 64 ports, reassigned over the day) and 1 M lookups.
  const recs: NatRecord[] = [];
  let line = 1;
  for (let a = 0; a < 1000; a++)
    for (let b = 0; b < 1000; b++) {
      const start = t0 + (b % 2) * 43_200_000;
      recs.push({ start, end: start + 43_200_000 - 1, privateIp: `100.64.${a % 256}.${b % 256}`, publicIp: `203.0.${a >> 8}.${a & 255}`, portStart: 1024 + (b >> 1) * 64, portEnd: 1024 + (b >> 1) * 64 + 63, line: ++line });
    }
  t = process.hrtime.bigint();
  const nat = new NatMapper();
  nat.addRecords(recs);
  const load = seconds(t);
  t = process.hrtime.bigint();
  let mapped = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const a = Math.floor(rnd() * 1000);
    const r = nat.map(`203.0.${a >> 8}.${a & 255}`, 1024 + Math.floor(rnd() * 32000), t0 + Math.floor(rnd() * 86_400_000));
    if (r && r.status === 'mapped') mapped++;
  }
  const look = seconds(t);
  console.log(`NAT: ${recs.length} port-block records indexed in ${load.toFixed(2)} s; 1000000 lookups in ${look.toFixed(2)} s (${(1e6 / look / 1e6).toFixed(2)} M/s), ${mapped} mapped`);
}
