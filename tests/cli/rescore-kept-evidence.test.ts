/**
 * Rescore (and a scan whose inputs are all in the report) keeps the evidence of sources it is not
 * given again: resolver-log bindings without `--dns-log`, listings from an earlier `--intel` without
 * `--intel`; evidence whose source is given now is worked out again from it (README, `minerwatch
 * rescore`). Reports are built by scanning fixtures with a Zeek dns.log or an intel folder written
 * here; expectations come from what those inputs say.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/classify.js';
import { rescoreReport } from '../../src/report/rescore.js';
import { openReport } from '../../src/report/writer.js';
import { FIXTURES, projectRules, RULES_DIR, runMain } from '../helpers.js';
import { zeekDnsTsv } from '../support/zeek.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-rescore-kept-'));

async function ok(args: string[]): Promise<string> {
  const r = await runMain(args);
  expect(r.code, `${args.join(' ')}\n${r.err}`).toBe(0);
  return r.out;
}

interface Ev {
  flow_id: number;
  server: string;
  server_port: number;
  rule_id: string;
  kind: string;
  matched: string;
  excerpt: string;
}

/** Flows (verdicts, reasons), evidence rows (in row order) and the subscribers' verdicts. */
function tables(db: string): { flows: unknown[]; evidence: Ev[]; subscribers: Array<{ subscriber: string; confidence: string; servers: string }> } {
  const d = new Database(db, { readonly: true });
  try {
    return {
      flows: d.prepare('SELECT id, client, server, server_port, subscriber, label, confidence, outcome, reason, rules FROM flows ORDER BY id').all(),
      evidence: d
        .prepare('SELECT e.flow_id, f.server, f.server_port, e.rule_id, e.kind, e.matched, e.excerpt FROM evidence e JOIN flows f ON f.id = e.flow_id ORDER BY e.rowid')
        .all() as Ev[],
      subscribers: d.prepare('SELECT subscriber, confidence, servers FROM subscribers ORDER BY subscriber').all() as Array<{ subscriber: string; confidence: string; servers: string }>,
    };
  } finally {
    d.close();
  }
}

function copy(from: string, name: string): string {
  const to = join(tmp, name);
  copyFileSync(from, to);
  return to;
}

// --- Resolver logs ---------------------------------------------------------------------------

/** fixtures/demo: 100.64.0.13 asks 198.51.100.53 at 22:13:21 UTC, then connects to 203.0.113.44:443 (22:13:23) and 203.0.113.90:7000 (22:13:40). */
const ASKER = '100.64.0.13';
const LOOKUP_S = 1_700_000_001;

/** A Zeek TSV dns.log (README `--dns-log`) of one lookup by the demo's asker: `query` answered with `answer`, TTL 300 s. */
function zeekDnsLog(path: string, query: string, answer: string): string {
  const line = [`${LOOKUP_S}.000000`, 'CdemoA', ASKER, '53211', '198.51.100.53', '53', 'udp', '4711', '0.009000', query, '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', answer, '300.000000', 'F'];
  const text = zeekDnsTsv([line], '2023-11-14-22-00-00');
  writeFileSync(path, text);
  return path;
}

describe('rescore and resolver-log evidence', () => {
  const DEMO = join(FIXTURES, 'demo');
  const dnsLog = join(tmp, 'dns.log');
  const power = join(tmp, 'power.csv');
  let base = '';
  let scanned: ReturnType<typeof tables>;

  beforeAll(async () => {
    // asia1.ethermine.org is a listed pool name (rules/endpoints/pools.yaml).
    zeekDnsLog(dnsLog, 'asia1.ethermine.org', '203.0.113.44');
    writeFileSync(power, `subscriber,start,end,kwh\n${ASKER},2023-11-14,2023-11-15,1.5\n`);
    base = join(tmp, 'dns.sqlite');
    await ok(['scan', DEMO, '--db', base, '--dns-log', dnsLog]);
    scanned = tables(base);
  }, 120_000);

  const dnsRows = (t: ReturnType<typeof tables>): Ev[] => t.evidence.filter((e) => e.rule_id === 'MW-DNS-LOG');

  it('the scan with the log lists the asker for its flow to the answered address, on the lookup alone', () => {
    const rows = dnsRows(scanned);
    expect(rows.map((e) => [e.kind, `${e.server}:${e.server_port}`])).toEqual([['dns-log', '203.0.113.44:443']]);
    expect(rows[0]!.matched).toMatch(/^asia1\.ethermine\.org → 203\.0\.113\.44 at 2023-11-14T22:13:21/);
    expect(scanned.subscribers.find((s) => s.subscriber === ASKER)).toMatchObject({ confidence: 'medium', servers: '["203.0.113.44:443"]' });
  });

  it('rescore with no options keeps the resolver-log evidence as written: the report is unchanged', async () => {
    const db = copy(base, 'dns-bare.sqlite');
    await ok(['rescore', '--db', db]);
    expect(tables(db)).toEqual(scanned);
  });

  it('rescore --power keeps it too (only the power check is new)', async () => {
    const db = copy(base, 'dns-power.sqlite');
    await ok(['rescore', '--db', db, '--power', power]);
    expect(tables(db)).toEqual(scanned);
    const w = JSON.parse(await ok(['watchlist', '--db', db, '--format', 'json'])) as Array<{ subscriber: string }>;
    expect(w.map((r) => r.subscriber)).toContain(ASKER);
  });

  it('a scan whose inputs are all in the report, given --power, keeps it too', async () => {
    const db = copy(base, 'dns-rescan.sqlite');
    const out = await ok(['scan', DEMO, '--db', db, '--power', power]);
    expect(out).toMatch(/re-decided with --power/);
    expect(tables(db)).toEqual(scanned);
  });

  it('rescore --dns-log with another log works the bindings out again from it: the pool name now answered another address', async () => {
    const db = copy(base, 'dns-moved.sqlite');
    const moved = zeekDnsLog(join(tmp, 'dns-moved.log'), 'asia1.ethermine.org', '203.0.113.90');
    await ok(['rescore', '--db', db, '--dns-log', moved]);
    const t = tables(db);
    const rows = dnsRows(t);
    expect(rows.map((e) => [e.kind, `${e.server}:${e.server_port}`])).toEqual([['dns-log', '203.0.113.90:7000']]);
    expect(rows[0]!.excerpt).toContain('dns-moved.log');
    expect(t.subscribers.find((s) => s.subscriber === ASKER)).toMatchObject({ confidence: 'medium', servers: '["203.0.113.90:7000"]' });
  });

  it('rescore --dns-log with a log of no listed lookup withdraws the binding and the listing that rested on it', async () => {
    const db = copy(base, 'dns-none.sqlite');
    const unlisted = zeekDnsLog(join(tmp, 'dns-unlisted.log'), 'www.example.com', '203.0.113.44');
    await ok(['rescore', '--db', db, '--dns-log', unlisted]);
    const t = tables(db);
    expect(dnsRows(t)).toEqual([]);
    expect(t.subscribers.map((s) => s.subscriber)).not.toContain(ASKER);
  });
});

// --- Intelligence ----------------------------------------------------------------------------

/**
 * fixtures/flowlogs (README there): 100.64.10.1 holds 203.0.113.10:3333 for 3 h on 2026-11-10 (TLS
 * records without SNI: no payload evidence), listed nowhere in the bundled rules; 100.64.20.10
 * loads a web page once from 203.0.113.40:443.
 */
const MINER = '100.64.10.1';
const POOL = '203.0.113.10';

function intelFolder(name: string, ip: string, port: number | null, added: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'pools.yaml'),
    [`source: "test intel ${name}"`, `added: ${added}`, 'kind: pool', 'entries:', `  - ip: "${ip}"`, ...(port === null ? [] : [`    port: ${port}`]), `    pool: "Pool of ${name}"`, '    coins: ["XMR"]', ''].join('\n'),
  );
  return dir;
}

/** A copy of the bundled rules with one more endpoint file (and `policy` edited by `edit`). */
function rulesWith(name: string, endpoints: string | null, edit: (policy: string) => string = (p) => p): string {
  const dir = join(tmp, name);
  cpSync(RULES_DIR, dir, { recursive: true });
  if (endpoints !== null) writeFileSync(join(dir, 'endpoints', 'zz-test.yaml'), endpoints);
  writeFileSync(join(dir, 'policy.yaml'), edit(readFileSync(join(dir, 'policy.yaml'), 'utf8')));
  return dir;
}

describe('rescore and listings from --intel', () => {
  const P1 = join(FIXTURES, 'flowlogs', 'p1-miner-3h-listed-3333.pcap.gz');
  const WEB = join(FIXTURES, 'flowlogs', 'n-h-one-web-visit-to-listed-pool-address.pcap.gz');
  let intel = '';
  let base = '';
  let scanned: ReturnType<typeof tables>;

  beforeAll(async () => {
    intel = intelFolder('intel', POOL, 3333, '2026-11-09');
    base = join(tmp, 'intel.sqlite');
    await ok(['scan', P1, WEB, '--db', base, '--intel', intel]);
    scanned = tables(base);
  }, 120_000);

  const minerFlows = (t: ReturnType<typeof tables>): Set<number> => new Set(t.evidence.filter((e) => e.server === POOL).map((e) => e.flow_id));
  const listings = (t: ReturnType<typeof tables>): Ev[] => t.evidence.filter((e) => e.kind === 'endpoint' || e.kind === 'endpoint-port');

  it('the scan with the intel lists the miner for a sustained session to the listed IP:port, each flow naming the intel file', () => {
    expect(scanned.subscribers.map((s) => [s.subscriber, s.confidence, s.servers])).toEqual([[MINER, 'medium', `["${POOL}:3333"]`]]);
    const rows = listings(scanned);
    expect(rows.length).toBe(minerFlows(scanned).size);
    expect(rows.length).toBeGreaterThan(1);
    for (const e of rows) {
      expect(e.kind).toBe('endpoint-port');
      expect(e.excerpt).toBe(`${join(intel, 'pools.yaml')}:5; source test intel intel; added 2026-11-09`);
    }
    // The behaviour score counted the listing, and the session its weight (1: a day old).
    expect(scanned.evidence.find((e) => e.kind === 'behaviour')!.matched).toContain('listed pool address 1 +3');
    expect(scanned.evidence.find((e) => e.kind === 'session')!.matched).toContain('exact listed pool IP:port (times its weight) 1 +3');
  });

  it('rescore without --intel keeps the listings as written, and all that was worked out from them: the report is unchanged', async () => {
    const db = copy(base, 'intel-bare.sqlite');
    await ok(['rescore', '--db', db]);
    expect(tables(db)).toEqual(scanned);
  });

  it('a later scan of another capture without --intel keeps weighing the listing in the miner’s session', async () => {
    const db = copy(base, 'intel-later.sqlite');
    await ok(['scan', join(FIXTURES, 'flowlogs', 'n-i-short-flow-to-unlisted-3333.pcap.gz'), '--db', db]);
    const t = tables(db);
    const sessions = t.evidence.filter((e) => e.kind === 'session' && e.server === POOL);
    expect(sessions.length).toBe(minerFlows(scanned).size);
    for (const e of sessions) expect(e.matched).toContain('exact listed pool IP:port (times its weight) 1 +3');
    expect(t.subscribers.find((s) => s.subscriber === MINER)).toMatchObject({ confidence: 'medium' });
  });

  it('rescore --intel with a list that no longer names the pool works the listings out from it: the miner is not listed, the web visit is listed alone', async () => {
    const db = copy(base, 'intel-other.sqlite');
    const other = intelFolder('intel-other', '203.0.113.40', 443, '2026-11-09');
    await ok(['rescore', '--db', db, '--intel', other]);
    const t = tables(db);
    const rows = listings(t);
    expect(rows.map((e) => [e.kind, `${e.server}:${e.server_port}`, e.excerpt.split(';')[0]])).toEqual([['endpoint-port', '203.0.113.40:443', `${join(other, 'pools.yaml')}:5`]]);
    // An address alone on one short flow lists nobody; the miner's session names no listing now.
    expect(t.subscribers).toEqual([]);
    for (const e of t.evidence.filter((x) => x.kind === 'session')) expect(e.matched).not.toContain('listed');
  });

  it('rescore --intel with a folder that lists nothing withdraws every earlier intel listing: none is kept for want of one given', async () => {
    const db = copy(base, 'intel-empty.sqlite');
    const empty = join(tmp, 'intel-empty');
    mkdirSync(empty, { recursive: true });
    await ok(['rescore', '--db', db, '--intel', empty]);
    const t = tables(db);
    expect(listings(t)).toEqual([]);
    expect(t.subscribers).toEqual([]);
  });

  it('rescore --intel with the same endpoint observed a year earlier weighs the listing by that date', async () => {
    const db = copy(base, 'intel-older.sqlite');
    const older = intelFolder('intel-older', POOL, 3333, '2025-11-09');
    await ok(['rescore', '--db', db, '--intel', older]);
    const rows = listings(tables(db));
    expect(rows.length).toBe(minerFlows(scanned).size);
    // policy.yaml intel_age: full weight for 180 days, then halved every 180 days: ~366 days → 0.5^(186/180) ≈ 0.49.
    for (const e of rows) expect(e.matched).toMatch(/; observed 2025-11-09, 1 years before the flow, weight 0\.49\)$/);
  });

  it('without --intel, a rules listing as strong (IP:port) replaces the kept one; a weaker one (a network) does not', async () => {
    const same = rulesWith('rules-same', ['source: "rules listing"', 'added: 2026-11-01', 'kind: pool', 'entries:', `  - ip: "${POOL}"`, '    port: 3333', '    pool: "Rules pool"', ''].join('\n'));
    const db = copy(base, 'intel-rules-same.sqlite');
    await ok(['rescore', '--db', db, '--rules', same]);
    const rows = listings(tables(db));
    expect(rows.length).toBe(minerFlows(scanned).size);
    for (const e of rows) expect([e.kind, e.excerpt]).toEqual(['endpoint-port', 'endpoints/zz-test.yaml:5; source rules listing; added 2026-11-01']);

    const net = rulesWith('rules-net', ['source: "rules network"', 'added: 2026-11-01', 'kind: pool', 'entries:', '  - cidr: "203.0.113.0/24"', '    pool: "Rules net"', ''].join('\n'));
    const db2 = copy(base, 'intel-rules-net.sqlite');
    await ok(['rescore', '--db', db2, '--rules', net]);
    const t = tables(db2);
    // The network lists the web visit's address too; the miner's flows keep the intel's IP:port listing.
    expect(listings(t).filter((e) => e.server === POOL)).toEqual(listings(scanned));
    expect(t.subscribers.map((s) => [s.subscriber, s.confidence])).toEqual([[MINER, 'medium']]);
  });

  it('without --intel, the rules now excluding the address, or weighing the listing’s age below min_weight, drop the kept listing', async () => {
    const excl = rulesWith('rules-exclude', ['source: "test exclusion"', 'added: 2026-11-01', 'kind: exclude', 'entries:', `  - ip: "${POOL}"`, '    pool: "n/a"', ''].join('\n'));
    const db = copy(base, 'intel-excluded.sqlite');
    await ok(['rescore', '--db', db, '--rules', excl]);
    expect(listings(tables(db))).toEqual([]);
    expect(tables(db).subscribers).toEqual([]);

    // A day-old observation: 0.5^1.25 ≈ 0.42 with no full-weight days and a one-day half-life, below 0.9.
    const strict = rulesWith('rules-strict', null, (p) => p.replace('full_days: 180', 'full_days: 0').replace('half_life_days: 180', 'half_life_days: 1').replace('min_weight: 0.25', 'min_weight: 0.9'));
    const db2 = copy(base, 'intel-strict.sqlite');
    await ok(['rescore', '--db', db2, '--rules', strict]);
    expect(listings(tables(db2))).toEqual([]);
  });

  it('a caller that says intelligence was given (an --intel that listed nothing) has the earlier listings worked out again; one that says nothing keeps them', () => {
    const kept = copy(base, 'intel-api-kept.sqlite');
    let d = openReport(kept);
    try {
      rescoreReport(d, { classifier: new Classifier(projectRules()) });
    } finally {
      d.close();
    }
    expect(tables(kept)).toEqual(scanned);

    const redone = copy(base, 'intel-api-given.sqlite');
    d = openReport(redone);
    try {
      rescoreReport(d, { classifier: new Classifier(projectRules()), given: { dnsLogs: false, intel: true } });
    } finally {
      d.close();
    }
    expect(listings(tables(redone))).toEqual([]);
    expect(tables(redone).subscribers).toEqual([]);
  });
});
