/**
 * `minerwatch explain` on reports made by scanning real captures with the built CLI: what it prints
 * for each subscriber is checked against SQL over the report's tables (queries written here), and
 * every rule id@rev against the YAML rule files.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, FIXTURES, HAVE_CORPUS, RULES_DIR, runCli } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-explain-'));

/** Every `id` with a `rev` anywhere in the rule files (signatures, policy), read here from the YAML. */
function ruleRevisions(): Map<string, number> {
  const revs = new Map<string, number>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.id === 'string' && typeof o.rev === 'number') revs.set(o.id, o.rev);
      Object.values(o).forEach(visit);
    }
  };
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.yaml')) for (const doc of parseAllDocuments(readFileSync(p, 'utf8'))) visit(doc.toJS());
    }
  };
  walk(join(RULES_DIR, 'signatures'));
  visit(parseAllDocuments(readFileSync(join(RULES_DIR, 'policy.yaml'), 'utf8')).map((d) => d.toJS()));
  return revs;
}

interface EvidenceRow {
  rule_id: string;
  rev: number;
  kind: string;
  side: string;
  family: string;
  matched: string;
  excerpt: string;
  offset: number;
  time: number;
}

function query<T>(db: string, sql: string, ...args: unknown[]): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...args) as T[];
  } finally {
    d.close();
  }
}

/** The subject's flows explain lists (mining and suspect), as SQL gives them. */
function mainFlows(db: string, subscriber: string): Array<{ id: number; nat: string | null; first_seen: number }> {
  return query(db, "SELECT id, nat, first_seen FROM flows WHERE subscriber = ? AND label IN ('mining', 'suspect') ORDER BY first_seen, id", subscriber);
}

function evidenceOf(db: string, flow: number): EvidenceRow[] {
  return query(db, 'SELECT rule_id, rev, kind, side, family, matched, excerpt, offset, time FROM evidence WHERE flow_id = ? ORDER BY rowid', flow);
}

interface ExplainJson {
  subscriber?: string;
  matched: string;
  verdict: { confidence: string; miningFlows: number } | null;
  flows: Array<{ id: number; client: string; firstSeen: string; evidence: Array<Omit<EvidenceRow, 'rule_id' | 'time'> & { ruleId: string; time: string }>; attributionSteps: string[]; attribution: Record<string, unknown> }>;
  hashrate: Array<{ coin: string | null; hashes: number; seconds: number; shares: number; rateHs: number | null; relErr: number | null; hashrateHs: number | null }>;
  attribution: { directory: Record<string, unknown> | null; addresses: Array<{ address: string }> };
}

function explainJson(args: string[]): ExplainJson {
  const r = runCli(['explain', ...args, '--format', 'json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as ExplainJson;
}

/** Everything printed about a report's subscriber agrees with SQL over the report and with the rule files. */
function checkSubscriber(db: string, subscriber: string, revs: Map<string, number>): void {
  const json = explainJson([subscriber, '--db', db]);
  const flows = mainFlows(db, subscriber);
  expect(json.subscriber).toBe(subscriber);
  expect(json.flows.map((f) => f.id)).toEqual(flows.map((f) => f.id));
  const sub = query<{ confidence: string; mining_flows: number }>(db, 'SELECT confidence, mining_flows FROM subscribers WHERE subscriber = ?', subscriber)[0];
  expect(json.verdict?.confidence).toBe(sub?.confidence);
  expect(json.verdict?.miningFlows).toBe(sub?.mining_flows);

  const text = runCli(['explain', subscriber, '--db', db]);
  expect(text.code, text.err).toBe(0);
  let inYaml = 0;
  for (const [i, f] of flows.entries()) {
    const rows = evidenceOf(db, f.id);
    expect(rows.length).toBeGreaterThan(0);
    // JSON: every row, in order, as stored.
    expect(json.flows[i]!.evidence).toEqual(rows.map(({ rule_id, time, ...rest }) => ({ ruleId: rule_id, ...rest, time: new Date(time).toISOString() })));
    // Text: the flow's block names each rule with its revision, what matched, and the first excerpt of each run of like rows.
    const block = text.out.slice(text.out.indexOf(`Flow ${f.id}:`), text.out.indexOf('\n\n', text.out.indexOf(`Flow ${f.id}:`)));
    expect(block.length).toBeGreaterThan(0);
    for (const e of rows) {
      expect(block).toContain(`${e.rule_id}@${e.rev}  ${e.kind}, ${e.side} side, ${e.family}`);
      expect(block).toContain(`: ${e.matched}\n`);
      const yamlRev = revs.get(e.rule_id);
      if (yamlRev !== undefined) {
        inYaml++;
        expect(`${e.rule_id}@${e.rev}`).toBe(`${e.rule_id}@${yamlRev}`);
      }
    }
    for (const e of rows.filter((e, k) => k === 0 || rows[k - 1]!.rule_id !== e.rule_id || rows[k - 1]!.matched !== e.matched)) if (e.excerpt) expect(block).toContain(e.excerpt);
    // The attribution chain: the stored NAT/accounting steps, in order, then the subscriber.
    for (const step of f.nat ? f.nat.split('; ') : []) expect(block).toContain(step);
    expect(block).toContain(`→ subscriber ${subscriber}`);
  }
  expect(inYaml, 'evidence from rules in the YAML files').toBeGreaterThan(0);

  // Hashrate: the stored hashes and time, and the rate and error worked out from them here.
  const hr = query<{ coin: string | null; hashes: number; seconds: number; shares: number; hashrate_hs: number | null }>(db, 'SELECT coin, hashes, seconds, shares, hashrate_hs FROM subscriber_hashrate WHERE subscriber = ? ORDER BY coin, algorithm', subscriber);
  expect(json.hashrate.map((h) => h.coin)).toEqual(hr.map((h) => h.coin));
  for (const [i, h] of hr.entries()) {
    const j = json.hashrate[i]!;
    if (h.shares > 0) {
      expect(j.rateHs).toBeCloseTo(h.hashes / h.seconds, 6);
      expect(j.relErr).toBeCloseTo(1 / Math.sqrt(h.shares), 9);
      if (h.hashrate_hs !== null) expect(j.rateHs! / h.hashrate_hs).toBeCloseTo(1, 9);
      expect(text.out).toContain(`${h.hashes} expected hashes ÷ ${h.seconds} s mined`);
      expect(text.out).toContain(`1/√${h.shares} shares = ±${Math.round(100 / Math.sqrt(h.shares))}%`);
    }
  }
  // Client addresses: those SQL finds for the subscriber.
  const clients = query<{ client: string }>(db, 'SELECT client FROM flows WHERE subscriber = ? GROUP BY client ORDER BY min(first_seen), client', subscriber).map((r) => r.client);
  expect(json.attribution.addresses.map((a) => a.address)).toEqual(clients);
}

describe.skipIf(!HAVE_CORPUS)('explain on a report of real mining captures (corpus)', () => {
  const db = join(tmp, 'corpus.sqlite');
  const inputs = ['ndpi__mining.pcapng', 'nesfit__xmr.suprnova.cc.pcapng'].map((f) => join(CORPUS, 'pcap', 'mining', f));

  beforeAll(() => {
    const r = runCli(['scan', ...inputs, '--db', db]);
    expect(r.code, r.err).toBe(0);
  }, 120_000);

  it('every subscriber with mining evidence: flows, evidence, rule revisions, hashrate and addresses as the report holds them', () => {
    const revs = ruleRevisions();
    const subs = query<{ subscriber: string }>(db, 'SELECT subscriber FROM subscribers ORDER BY subscriber');
    expect(subs.length).toBeGreaterThan(0);
    for (const s of subs) checkSubscriber(db, s.subscriber, revs);
  }, 120_000);

  it('endpoint evidence shows the entry with its file:line and source', () => {
    const rows = query<{ subscriber: string; flow_id: number; excerpt: string }>(
      db,
      "SELECT f.subscriber, e.flow_id, e.excerpt FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE e.family = 'endpoint' AND f.label = 'mining' ORDER BY e.flow_id",
    );
    expect(rows.length, 'the corpus captures reach listed pool endpoints').toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.excerpt).toMatch(/^endpoints\/[^:]+\.yaml:\d+; source /);
      const out = runCli(['explain', r.subscriber, '--db', db]).out;
      expect(out).toContain(`endpoint entry: ${r.excerpt}`);
    }
  }, 60_000);

  it('--tz writes every time in the zone, worked out here from the stored epochs', () => {
    const [s] = query<{ subscriber: string }>(db, 'SELECT subscriber FROM subscribers ORDER BY subscriber LIMIT 1');
    const json = explainJson([s!.subscriber, '--db', db, '--tz', 'Asia/Shanghai']);
    const shanghai = (ms: number): string => `${new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ')} +08:00`;
    const flows = mainFlows(db, s!.subscriber);
    expect(json.flows.map((f) => f.firstSeen)).toEqual(flows.map((f) => shanghai(f.first_seen)));
    const t = runCli(['explain', s!.subscriber, '--db', db, '--tz', '+08:00']);
    expect(t.out).toContain(`, ${shanghai(flows[0]!.first_seen)} – `);
    expect(runCli(['explain', s!.subscriber, '--db', db, '--tz', 'CST']).code).toBe(2);
  }, 60_000);

  it('a pseudonym finds its subscriber with the key; the output names no subscriber address', () => {
    const key = 'explain-test-key-0123456789';
    const [s] = query<{ subscriber: string }>(db, 'SELECT subscriber FROM subscribers ORDER BY subscriber LIMIT 1');
    const pseudonym = `p-${createHmac('sha256', key).update(s!.subscriber).digest('hex').slice(0, 16)}`;
    const json = runCli(['explain', pseudonym, '--db', db, '--pseudonymise', key, '--format', 'json']);
    expect(json.code, json.err).toBe(0);
    expect((JSON.parse(json.out) as ExplainJson).subscriber).toBe(pseudonym);
    expect(json.out).not.toContain(s!.subscriber);
    const text = runCli(['explain', s!.subscriber, '--db', db, '--pseudonymise', key]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`subscriber ${pseudonym}`);
    expect(text.out).not.toContain(s!.subscriber);
    // Without the key a pseudonym cannot match: bad usage, said before the report is read.
    const nokey = runCli(['explain', pseudonym, '--db', db]);
    expect(nokey.code).toBe(2);
    expect(nokey.err).toContain('--pseudonymise');
  }, 60_000);

  it('flows --subscriber and --id list exactly the rows SQL selects', () => {
    const [s] = query<{ subscriber: string }>(db, 'SELECT subscriber FROM subscribers ORDER BY subscriber LIMIT 1');
    const r = runCli(['flows', '--db', db, '--subscriber', s!.subscriber, '--all', '--format', 'jsonl']);
    expect(r.code, r.err).toBe(0);
    const ids = r.out.trim().split('\n').map((l) => (JSON.parse(l) as { id: number }).id);
    expect(ids).toEqual(query<{ id: number }>(db, 'SELECT id FROM flows WHERE subscriber = ? ORDER BY first_seen, id', s!.subscriber).map((x) => x.id));
    const two = query<{ id: number }>(db, 'SELECT id FROM flows ORDER BY id DESC LIMIT 2').map((x) => x.id);
    const byId = runCli(['flows', '--db', db, ...two.flatMap((i) => ['--id', String(i)]), '--format', 'jsonl']);
    expect(byId.code, byId.err).toBe(0);
    expect(byId.out.trim().split('\n').map((l) => (JSON.parse(l) as { id: number }).id).sort()).toEqual([...two].sort());
    const none = runCli(['flows', '--db', db, '--id', '999999']);
    expect(none.code).toBe(1);
    expect(none.err).toContain(db);
  }, 60_000);
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);

describe('explain on the generated demo capture, behind a NAT and a subscriber directory', () => {
  const db = join(tmp, 'demo.sqlite');
  const dir = join(tmp, 'directory.csv');

  beforeAll(() => {
    // Two subscribers share one account, so the account names both; the clients are NAT public addresses.
    writeFileSync(dir, 'prefix,subscriber,account,type,region\n10.0.1.0/25,alice,FAMILY-7,residential,east\n10.0.1.128/25,bob,FAMILY-7,residential,west\nfd00::1:10/128,carol,C-3,university,north\n');
    const r = runCli(['scan', join(FIXTURES, 'demo'), '--db', db, '--subscribers', dir, '--nat-deterministic', '10.0.0.0/23=100.64.0.0/28:1024-65535/2016']);
    expect(r.code, r.err).toBe(0);
  }, 120_000);

  it('every subscriber: flows, evidence, NAT steps and directory entry as the report holds them', () => {
    const revs = ruleRevisions();
    const subs = query<{ subscriber: string }>(db, 'SELECT subscriber FROM subscribers ORDER BY subscriber');
    expect(subs.length).toBeGreaterThan(0);
    const natted = query<{ n: number }>(db, "SELECT count(*) AS n FROM flows WHERE label = 'mining' AND nat LIKE 'mapped: %'")[0]!.n;
    expect(natted, 'some mining flows are mapped back through the NAT').toBeGreaterThan(0);
    for (const s of subs) {
      checkSubscriber(db, s.subscriber, revs);
      const info = query<{ subscriber: string; account: string; prefixes: string; source: string }>(db, 'SELECT subscriber, account, prefixes, source FROM subscriber_info WHERE subscriber = ?', s.subscriber)[0];
      const out = runCli(['explain', s.subscriber, '--db', db]).out;
      if (info) expect(out).toContain(`directory entry (${info.source}): ${(JSON.parse(info.prefixes) as string[]).join(', ')} → subscriber ${info.subscriber}; account ${info.account}`);
    }
  }, 120_000);

  it('a client address finds the subscriber its flows were mapped to', () => {
    const [row] = query<{ client: string; subscriber: string }>(db, "SELECT client, subscriber FROM flows WHERE label = 'mining' AND nat LIKE 'mapped: %' ORDER BY id LIMIT 1");
    const others = query<{ n: number }>(db, 'SELECT count(DISTINCT subscriber) AS n FROM flows WHERE client = ?', row!.client)[0]!.n;
    expect(others).toBe(1);
    const json = explainJson([row!.client, '--db', db]);
    expect(json.subscriber).toBe(row!.subscriber);
    expect(json.matched).toBe('client address');
    // The same parts written in octal: ipaddr.js read them as this address; they name none.
    expect(row!.client).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const octal = row!.client.split('.').map((p) => `0${Number(p).toString(8)}`).join('.');
    const r = runCli(['explain', octal, '--db', db]);
    expect(r.code, octal).toBe(1);
    expect(r.err).toContain(`"${octal}" is no subscriber id, account or client address in the report`);
  }, 60_000);

  it('an account held by two subscribers is ambiguous: both are listed, exit 1', () => {
    const holders = query<{ subscriber: string }>(db, "SELECT subscriber FROM subscriber_info WHERE account = 'FAMILY-7' ORDER BY subscriber").map((r) => r.subscriber);
    expect(holders.length).toBe(2);
    const r = runCli(['explain', 'FAMILY-7', '--db', db]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(db);
    for (const h of holders) expect(r.err).toContain(`subscriber ${h}: matched as account`);
  }, 60_000);

  it('a subscriber or address the report does not hold: exit 1 naming the report', () => {
    for (const arg of ['203.0.113.250', 'nobody']) {
      const r = runCli(['explain', arg, '--db', db]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`${db}: "${arg}" is no subscriber id, account or client address in the report`);
      expect(r.out).toBe('');
    }
  }, 60_000);

  it('a subscriber without mining flows is explained as not mining', () => {
    const quiet = query<{ subscriber: string }>(db, "SELECT subscriber FROM flows WHERE subscriber IS NOT NULL GROUP BY subscriber HAVING sum(label = 'mining') = 0 ORDER BY subscriber LIMIT 1")[0];
    expect(quiet).toBeDefined();
    const r = runCli(['explain', quiet!.subscriber, '--db', db, '--all']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('Verdict: not mining');
    for (const f of query<{ id: number }>(db, 'SELECT id FROM flows WHERE subscriber = ?', quiet!.subscriber)) expect(r.out).toContain(`Flow ${f.id}:`);
  }, 60_000);

  it('the chain through a NAT log, a RADIUS accounting session and the directory; with a key it names no subscriber, account or address', () => {
    const chainDb = join(tmp, 'chain.sqlite');
    const natLog = join(tmp, 'nat.csv');
    const radius = join(tmp, 'radius.csv');
    const directory = join(tmp, 'accounts.csv');
    // The public address 100.64.0.11 was 10.0.1.5's all day; 10.0.1.5 was dora@isp's from 20:00 to 23:00.
    writeFileSync(natLog, 'start,end,private_ip,public_ip,port_start,port_end\n2023-11-14T00:00:00Z,2023-11-15T00:00:00Z,10.0.1.5,100.64.0.11,1024,65535\n');
    writeFileSync(radius, 'time,event,account,session,address\n2023-11-14T20:00:00Z,start,dora@isp,S-1,10.0.1.5\n2023-11-14T23:00:00Z,stop,dora@isp,S-1,10.0.1.5\n');
    writeFileSync(directory, 'prefix,subscriber,account,type,region\n10.0.2.0/24,dora,dora@isp,residential,east\n');
    const scan = runCli(['scan', join(FIXTURES, 'demo', 'home-miners.pcapng'), '--db', chainDb, '--subscribers', directory, '--nat-log', natLog, '--radius', radius]);
    expect(scan.code, scan.err).toBe(0);
    const [row] = query<{ subscriber: string; nat: string; client: string }>(chainDb, "SELECT subscriber, nat, client FROM flows WHERE client = '100.64.0.11' AND label = 'mining'");
    expect(row!.subscriber).toBe('dora');
    expect(row!.nat).toContain('radius mapped');
    checkSubscriber(chainDb, row!.subscriber, ruleRevisions());
    const plain = runCli(['explain', row!.subscriber, '--db', chainDb]);
    // Each step on its own line, in the order the report holds them, then the subscriber.
    const steps = row!.nat.split(/; (?=radius |directory line )/);
    expect(steps.length).toBe(3);
    expect(plain.out).toContain(steps.map((x) => `    → ${x}\n`).join('') + `    → subscriber ${row!.subscriber}\n`);
    const key = 'explain-test-key-0123456789';
    for (const format of ['text', 'json']) {
      const r = runCli(['explain', row!.subscriber, '--db', chainDb, '--pseudonymise', key, '--format', format]);
      expect(r.code, r.err).toBe(0);
      for (const secret of ['dora', '10.0.1.5', row!.client]) expect(r.out, `${format} output names ${secret}`).not.toContain(secret);
      for (const held of ['10.0.1.5', 'dora@isp']) expect(r.out).toContain(`p-${createHmac('sha256', key).update(held).digest('hex').slice(0, 16)}`);
    }
  }, 60_000);

  it('an empty watch list says so in a table, in English or Chinese; CSV keeps its header', () => {
    // A JSON-RPC echo service: a lookalike that is not mining.
    const dbEmpty = join(tmp, 'echo.sqlite');
    expect(runCli(['scan', join(FIXTURES, 'rules', 'jsonrpc-echo.pcap'), '--db', dbEmpty]).code).toBe(0);
    expect(query<{ n: number }>(dbEmpty, "SELECT count(*) AS n FROM subscribers WHERE confidence IN ('medium', 'high')")[0]!.n).toBe(0);
    const table = runCli(['watchlist', '--db', dbEmpty]);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toBe(`no subscriber at ≥ medium in ${dbEmpty}\n`);
    // In Chinese for Chinese readers, as the table's headers are.
    const zh = runCli(['watchlist', '--db', dbEmpty, '--lang', 'zh-CN']);
    expect(zh.code, zh.err).toBe(0);
    expect(zh.out).toBe(`${dbEmpty} 中没有置信度 ≥ 中 的用户\n`);
    const zhHigh = runCli(['watchlist', '--db', db, '--min-confidence', 'high', '--coin', 'DOGE', '--lang', 'zh-CN']);
    expect(zhHigh.out).toBe(`${db} 中没有置信度 ≥ 高且符合 --coin DOGE 的用户\n`);
    // Filters that leave nothing of a list that has rows are named too.
    const high = runCli(['watchlist', '--db', db, '--min-confidence', 'high', '--coin', 'DOGE']);
    expect(high.code, high.err).toBe(0);
    expect(high.out).toBe(`no subscriber at ≥ high matching --coin DOGE in ${db}\n`);
    const csv = runCli(['watchlist', '--db', dbEmpty, '--format', 'csv', '--lang', 'en']);
    expect(csv.out.split('\r\n')[0]).toMatch(/^subscriber,/);
    expect(csv.out.split('\r\n').filter(Boolean)).toHaveLength(1);
  }, 60_000);
});
