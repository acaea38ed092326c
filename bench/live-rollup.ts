/**
 * What one commit's subscriber rollup costs a live collector (`collect`) as its report grows:
 * a report of N export flows (flagged ones only, as `collect` keeps them) over S subscribers is
 * written through the real writer, then a commit of C more flows is written and settled the way
 * `collect` settles it (src/report/live-rollup.ts: peer evidence and evidence added up over the
 * commit's subscribers, then their rows), beside the whole-report settle and rebuild the close does. Verdicts
 * come from the project's policy over endpoint, port and resolver-log evidence, the kinds export
 * flows carry. Deterministic (seeded).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/live-rollup.js [flows] [subscribers] [commit]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Classifier } from '../src/classify/classify.js';
import { classesOf, decide } from '../src/classify/policy.js';
import { readRuleFiles } from '../src/io/rulefiles.js';
import { applyPeerEvidence } from '../src/report/peers.js';
import { LiveRollup } from '../src/report/live-rollup.js';
import { policyRedecide } from '../src/report/policy-redecide.js';
import { redecideReport } from '../src/report/redecide.js';
import { rebuildSubscribers } from '../src/report/subscribers.js';
import { openReport, ReportWriter } from '../src/report/writer.js';
import { compileRules } from '../src/rules/loader.js';
import type { Evidence, FlowRecord, Verdict } from '../src/types.js';
import { mulberry32 } from '../tests/support/random.js';

const EMPTY = new Uint8Array(0);

export function liveRollupCase(dataDir: string, flows: number, subscribers: number, commit: number): string {
  const rnd = mulberry32(20261205);
  const db = join(dataDir, 'live-rollup-bench.sqlite');
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const rules = compileRules(readRuleFiles(join(process.cwd(), 'rules'))).ruleSet;
  const classifier = new Classifier(rules);
  const w = new ReportWriter(openReport(db), { toolVersion: 'bench', rulesetDigest: rules.digest, rules: '', options: {}, command: 'collect', algorithms: rules.algorithms });
  const input = w.addInput('udp://bench');
  const t0 = Date.UTC(2026, 10, 1);
  const touched = new Set<string>();
  let live: LiveRollup | null = null;
  const add = (i: number): void => {
    const sub = Math.floor(rnd() * subscribers);
    const client = `100.${64 + (sub >> 16)}.${(sub >> 8) & 255}.${sub & 255}`;
    const first = t0 + Math.floor(rnd() * 86_400_000);
    // A few pools per subscriber, so peer evidence has pairs to join.
    const server = `198.51.${(sub * 7 + (i % 3)) & 255}.${(sub * 13 + (i % 3)) & 255}`;
    const f: FlowRecord = {
      client, clientPort: 1024 + (i % 60000), server, serverPort: 3333, transport: 'tcp', ipVersion: 4, orientation: 'syn',
      firstSeen: first, lastSeen: first + 600_000, packetsC2S: 120, packetsS2C: 140, bytesC2S: 12_000, bytesS2C: 30_000, tcpFlagsC2S: 0x1a, tcpFlagsS2C: 0x1a, endReason: 'idle',
      payloadC2S: EMPTY, payloadS2C: EMPTY, payloadTimeC2S: first, payloadTimeS2C: first, firstSegmentC2S: 0, firstSegmentS2C: 0, inputIndex: 0, source: 'export', records: 2, sampling: 1,
    };
    const kind = i % 10 === 0 ? 'dns-log' : i % 3 === 0 ? 'port' : 'endpoint';
    const evidence: Evidence[] = [{ ruleId: kind === 'port' ? 'MW-PORT' : kind === 'dns-log' ? 'MW-DNS-LOG' : 'MW-ENDPOINT', rev: 1, kind, side: 'server', family: kind === 'port' ? 'port' : 'endpoint', matched: server, excerpt: '', offset: 0, time: first } as Evidence];
    if (i % 2 === 0) evidence.push({ ruleId: 'MW-BEHAVIOUR', rev: 1, kind: 'behaviour', side: 'client', family: 'behaviour', matched: 'steady upstream', excerpt: '', offset: 0, time: first } as Evidence);
    const d = decide(rules.policy, classesOf(evidence));
    const v: Verdict = { label: d.label, confidence: d.confidence, outcome: d.outcome?.name ?? null, reason: `${d.label} — ${kind}`, evidence, attributes: { coin: 'XMR', agent: null, software: null, workers: [], pool: null, serverName: null } };
    w.addFlow(f, v, input, client);
    touched.add(client);
    live?.saw(client);
  };
  const seconds = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e9;
  // CPU time as well as wall time: on a loaded machine the wall time is mostly waiting for a core.
  const cpuMs = (c: NodeJS.CpuUsage): string => {
    const d = process.cpuUsage(c);
    return `${((d.user + d.system) / 1000).toFixed(0)} ms CPU`;
  };
  let t = process.hrtime.bigint();
  for (let i = 0; i < flows; i++) add(i);
  w.flush();
  const write = seconds(t);
  const settle = {
    redecide: policyRedecide(rules.policy),
    decideAgain: (d: typeof w.db, subscribers?: ReadonlySet<string>) => void redecideReport(d, classifier, { recompute: false, subscribers }),
  };
  // Every flow so far waits for the first rollup: it settles every subscriber once, one at a time.
  live = new LiveRollup(w.db, settle);
  for (const s of touched) live.saw(s);
  t = process.hrtime.bigint();
  live.commit();
  const first = seconds(t);
  const lines = [`live rollup: ${flows} flows over ${subscribers} subscribers written in ${write.toFixed(2)} s; first settle ${first.toFixed(2)} s`];
  for (let round = 0; round < 4; round++) {
    touched.clear();
    for (let i = 0; i < commit; i++) add(flows + round * commit + i);
    w.flush();
    const parts: string[] = [];
    let c = process.cpuUsage();
    const r = live.commit();
    parts.push(`commit of ${commit} flows (${r.subscribers} subscribers): live rollup ${r.ms.toFixed(0)} ms, ${cpuMs(c)} (${r.settled ? 'settled' : 'not settled'})`);
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    applyPeerEvidence(w.db, settle.redecide, touched);
    parts.push(`repeated apart: peer evidence over its subscribers ${(seconds(t) * 1000).toFixed(0)} ms, ${cpuMs(c)}`);
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    redecideReport(w.db, classifier, { recompute: false, subscribers: touched });
    parts.push(`evidence added up over its subscribers ${(seconds(t) * 1000).toFixed(0)} ms, ${cpuMs(c)}`);
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    applyPeerEvidence(w.db, settle.redecide);
    parts.push(`(over the whole report instead: peer evidence ${(seconds(t) * 1000).toFixed(0)} ms, ${cpuMs(c)}`);
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    redecideReport(w.db, classifier, { recompute: false });
    parts.push(`evidence added up ${(seconds(t) * 1000).toFixed(0)} ms, ${cpuMs(c)})`);
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    rebuildSubscribers(w.db, touched);
    parts.push(`rows of its subscribers ${(seconds(t) * 1000).toFixed(0)} ms, ${cpuMs(c)}`);
    t = process.hrtime.bigint();
    c = process.cpuUsage();
    rebuildSubscribers(w.db);
    parts.push(`(whole-report rebuild instead ${(seconds(t) * 1000).toFixed(0)} ms, ${cpuMs(c)})`);
    lines.push(parts.join(', '));
  }
  w.finish({ packets: 0, anomalies: 0, interrupted: false });
  w.db.close();
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  return lines.join('\n');
}

if (process.argv[1] && /live-rollup\.js$/.test(process.argv[1])) {
  const [flows, subs, commit] = process.argv.slice(2).map(Number);
  console.log(liveRollupCase(join(process.cwd(), 'bench', 'data'), flows || 100_000, subs || 10_000, commit || 1_000));
}
