/**
 * Resolver-log evidence end to end, on real bytes from real tools. Debian's unbound answers a dig
 * lookup of a test pool name (a CNAME chain to an address no list names) and logs it over dnstap to
 * fstrm_capture; pool sessions built to start after that answer are exported by softflowd into
 * nfcapd on 127.0.0.1 and printed with `nfdump -o csv`; the CLI scans the CSV with and without the
 * resolver log, rescores, and reads a Zeek dns.log of the same lookup and logs with malformed
 * records. What must happen comes from the test's own design (who asked, what was answered, when,
 * with which TTL) and from what README.md promises for `--dns-log` and `rescore`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LinkType, concatBytes, pcapFile, tcpSession, tlsApplicationData, tlsClientHello, tlsClientHelloSessionId, tlsServerHello, type SessionMessage, type TimedPacket } from '../support/builders.js';
import { lineStart } from '../support/lines.js';
import { mulberry32 } from '../support/random.js';
import { ROOT } from '../helpers.js';
import { exportToNfdumpCsv, missingFlowTools, readNfdumpCsv } from '../support/softflowd.js';
import { startUnbound, unboundSkipReason, type RunningUnbound } from '../support/unbound.js';
import { zeekDnsTsv } from '../support/zeek.js';

// nfdump prints times in the local zone; the scanner reads them as UTC (README: run it with TZ=UTC).
process.env.TZ = 'UTC';

const SKIP = [unboundSkipReason(true), missingFlowTools()].filter((r) => r !== null).join('; ') || null;
if (SKIP) console.warn(`resolver-log end-to-end tests skipped: ${SKIP}`);

const BIN = join(ROOT, 'bin', 'minerwatch');
const MINUTE = 60_000;

/** The pool name the test rules list, the CNAME it answers with, and the address behind it. */
const POOL_NAME = 'xmr.test-pool.example';
const POOL_EDGE = 'edge.test-pool.example';
const POOL_IP = '203.0.113.77';
/** TTL of the A record (s); the CNAME's TTL is longer on purpose: the address's TTL is the one that counts. */
const A_TTL = 300;
const CNAME_TTL = 3600;
/** README: the binding lasts from the answer for its TTL plus 30 minutes. */
const GRACE_MS = 30 * MINUTE;
/** A name nobody lists, answered with another address: its lookup must bind nothing. */
const WEB_NAME = 'www.test-hosting.example';
const WEB_IP = '203.0.113.80';
/** The subscriber that asked the resolver (dig from 127.0.0.1), and one that never asked. */
const ASKER = '127.0.0.1';
const OTHER = '100.64.9.9';
/** The resolver a Zeek sensor saw answering (the Zeek log names it; unbound answered from 127.0.0.1). */
const ZEEK_RESOLVER = '192.0.2.53';

const ZONE = `$ORIGIN test-pool.example.
@ 3600 IN SOA ns.test-pool.example. hostmaster.test-pool.example. 1 3600 600 86400 60
@ 3600 IN NS ns.test-pool.example.
ns 3600 IN A 127.0.0.1
xmr ${CNAME_TTL} IN CNAME edge
edge ${A_TTL} IN A ${POOL_IP}
`;

const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };

interface Conversation {
  name: 'A' | 'B' | 'C' | 'D';
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  start: number;
  end: number;
}

interface WatchRow {
  subscriber: string;
  confidence: string;
  servers: string[];
  evidence: string;
  flowIds: number[];
}

interface FlowLine {
  id: number;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  label: string;
  confidence: string;
  rules: string[] | string;
  reason: string;
}

interface FlowRow {
  id: number;
  client: string;
  client_port: number;
  server: string;
  server_port: number;
  first_seen: number;
  label: string;
  confidence: string;
  outcome: string | null;
  subscriber: string | null;
}

interface EvidenceRow {
  flow_id: number;
  rule_id: string;
  kind: string;
  matched: string;
  excerpt: string;
  time: number;
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): { stdout: string; stderr: string } {
  const r = cli(args);
  if (r.status !== 0) throw new Error(`minerwatch ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r;
}

/**
 * A miner's pool session over TLS without SNI (XMRig sends none) and with no plaintext: the
 * opening, login and first job, then the pool pushes a job every 20–90 s and the miner submits a
 * share every 10–60 s, each answered; a keepalive after 50 s of client silence. Packet times are
 * absolute: the builder takes gaps, so gaps are counted from how far its clock has run.
 */
function poolSession(c: Conversation, seed: number, rttMs: number): TimedPacket[] {
  const rand = mulberry32(seed);
  let seeds = seed * 1000;
  const between = (lo: number, hi: number): number => lo + (hi - lo) * rand();
  const tls = (total: number): Uint8Array => tlsApplicationData(++seeds, Math.max(1, Math.round(total) - 5));
  const hello = tlsClientHello(null, ++seeds);
  const events: Array<{ at: number; from: 'client' | 'server'; data: Uint8Array }> = [
    { at: c.start, from: 'client', data: hello },
    { at: c.start + 60, from: 'server', data: tlsServerHello(++seeds, tlsClientHelloSessionId(hello)) },
    { at: c.start + 120, from: 'client', data: concatBytes(tlsApplicationData(++seeds, 1), tls(74)) },
    { at: c.start + 250, from: 'client', data: tls(between(280, 340)) },
    { at: c.start + 330, from: 'server', data: tls(between(380, 420)) },
  ];
  let nextJob = c.start + between(20_000, 90_000);
  let nextShare = c.start + between(10_000, 60_000);
  let lastClient = c.start + 250;
  for (;;) {
    const keepalive = lastClient + 50_000;
    const at = Math.min(nextJob, nextShare, keepalive);
    if (at >= c.end) break;
    if (at === nextJob) {
      events.push({ at, from: 'server', data: tls(between(100, 400)) });
      nextJob = at + between(20_000, 90_000);
    } else {
      events.push({ at, from: 'client', data: tls(at === nextShare ? between(140, 160) : between(85, 95)) });
      events.push({ at: at + between(45, 90), from: 'server', data: tls(between(60, 80)) });
      lastClient = at;
      if (at === nextShare) nextShare = at + between(10_000, 60_000);
    }
  }
  events.sort((a, b) => a.at - b.at);
  let now = c.start + rttMs;
  const messages: SessionMessage[] = events.map((e) => {
    const gapMs = Math.max(2, e.at - now);
    now += gapMs + rttMs / 2;
    return { from: e.from, data: e.data, gapMs };
  });
  return tcpSession({ client: [c.client, c.clientPort], server: [c.server, c.serverPort], start: c.start, messages, rttMs, close: true });
}

/** A copy of the bundled rules plus a test endpoint file listing the pool by name only (no address). */
function rulesWithTestPool(dir: string): string {
  const rules = join(dir, 'rules');
  cpSync(join(ROOT, 'rules'), rules, { recursive: true });
  writeFileSync(
    join(rules, 'endpoints', 'test-pools.yaml'),
    [
      '# Resolver-log end-to-end test: a pool known by name only (documentation names and addresses).',
      'source: "minerwatch resolver-log end-to-end test (tests/flowlogs/dnslog-evidence.test.ts)"',
      // Dated the day of the run: the listing is fresh whenever the test runs.
      `added: ${new Date().toISOString().slice(0, 10)}`,
      'kind: pool',
      'entries:',
      `  - domain: "${POOL_NAME}"`,
      '    pool: "Test pool DNS"',
      '    coins: ["XMR"]',
      '',
    ].join('\n'),
  );
  return rules;
}

/** Zeek's TSV dns.log, one record per line of `records`. */
function zeekDnsLog(records: string[][]): string {
  return zeekDnsTsv(records, '2026-12-01-00-00-00');
}

/** One Zeek line for a lookup answered at `answerMs` after `rttS` seconds. */
function zeekLookupLine(answerMs: number, rttS: number, client: string, resolver: string, query: string, answers: string[], ttls: number[], uid: string): string[] {
  const ts = (answerMs / 1000 - rttS).toFixed(6);
  return [ts, uid, client, '53211', resolver, '53', 'udp', '4711', rttS.toFixed(6), query, '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', answers.join(','), ttls.map((t) => t.toFixed(6)).join(','), 'F'];
}

/** Frame Streams frames of a file (4-byte big-endian length; 0 escapes a control frame). */
function frames(b: Buffer): Array<{ offset: number; length: number; control: boolean }> {
  const out: Array<{ offset: number; length: number; control: boolean }> = [];
  let p = 0;
  while (p + 4 <= b.length) {
    const len = b.readUInt32BE(p);
    if (len === 0) {
      const clen = b.readUInt32BE(p + 4);
      out.push({ offset: p, length: 8 + clen, control: true });
      p += 8 + clen;
    } else {
      out.push({ offset: p, length: 4 + len, control: false });
      p += 4 + len;
    }
  }
  return out;
}

function dataFrame(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

function readReport(db: string): { flows: FlowRow[]; evidence: EvidenceRow[]; subscribers: Array<Record<string, unknown>> } {
  const d = new Database(db, { readonly: true });
  try {
    return {
      flows: d.prepare('SELECT id, client, client_port, server, server_port, first_seen, label, confidence, outcome, subscriber FROM flows ORDER BY id').all() as FlowRow[],
      evidence: d.prepare('SELECT flow_id, rule_id, kind, matched, excerpt, time FROM evidence ORDER BY flow_id, rule_id, kind, matched').all() as EvidenceRow[],
      subscribers: d.prepare('SELECT * FROM subscribers ORDER BY subscriber').all() as Array<Record<string, unknown>>,
    };
  } finally {
    d.close();
  }
}

/** Every row of the tables a re-decision writes, in a stable order (for comparing two reports). */
function decidedTables(db: string): { flows: unknown[]; evidence: unknown[]; subscribers: unknown[] } {
  const d = new Database(db, { readonly: true });
  try {
    return {
      flows: d.prepare('SELECT * FROM flows ORDER BY id').all(),
      evidence: d.prepare('SELECT * FROM evidence ORDER BY flow_id, rule_id, kind, side, matched, excerpt, time').all(),
      subscribers: d.prepare('SELECT * FROM subscribers ORDER BY subscriber').all(),
    };
  } finally {
    d.close();
  }
}

function watchlist(db: string, minConfidence = 'medium'): WatchRow[] {
  return JSON.parse(ok(['watchlist', '--db', db, '--format', 'json', '--min-confidence', minConfidence]).stdout) as WatchRow[];
}

function flowLines(db: string): FlowLine[] {
  return ok(['flows', '--db', db, '--all', '--format', 'jsonl'])
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as FlowLine);
}

describe.skipIf(SKIP !== null)('resolver-log evidence through the CLI: unbound dnstap → pool flows exported by softflowd/nfdump', () => {
  let ub: RunningUnbound | null = null;
  let work = '';
  let rules = '';
  let csv = '';
  let dnstap = '';
  let zeekLog = '';
  let tBefore = 0;
  let tAfter = 0;
  let digPool = '';
  let digWeb = '';
  const conv: Record<Conversation['name'], Conversation> = {} as Record<Conversation['name'], Conversation>;
  /** The flow row of each conversation in a report, found by its endpoints. */
  const flowOf = (rows: FlowRow[], c: Conversation): FlowRow | undefined => rows.find((r) => r.client === c.client && r.client_port === c.clientPort && r.server === c.server && r.server_port === c.serverPort);
  const evidenceOf = (ev: EvidenceRow[], flow: FlowRow | undefined): EvidenceRow[] => (flow ? ev.filter((e) => e.flow_id === flow.id) : []);

  beforeAll(async () => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    if (build.status !== 0) throw new Error(`npm run build exited ${build.status}: ${build.stdout}${build.stderr}`);
    work = mkdtempSync(join(tmpdir(), 'minerwatch-dnslog-e2e-'));
    rules = rulesWithTestPool(work);
    const check = cli(['rules', 'check', rules]);
    if (check.status !== 0) throw new Error(`test rules invalid: ${check.stdout}${check.stderr}`);

    // 1. The subscriber (127.0.0.1) asks the resolver; unbound logs its answers over dnstap.
    ub = await startUnbound({
      dnstap: true,
      identity: 'dnslog-e2e',
      localZones: [['test-hosting.example.', 'static']],
      localData: [`${WEB_NAME}. ${A_TTL} IN A ${WEB_IP}`],
      authZones: [{ name: 'test-pool.example.', zone: ZONE }],
    });
    tBefore = Date.now();
    digPool = await ub.dig(POOL_NAME, 'A');
    digWeb = await ub.dig(WEB_NAME, 'A');
    tAfter = Date.now();
    await ub.stop();
    dnstap = join(work, 'resolver.dnstap');
    copyFileSync(ub.dnstapFile!, dnstap);

    // 2. Flows that start after the answer. The window of the pool address ends, at the latest,
    // A_TTL + 30 min after tAfter.
    const start = tAfter + 5_000;
    conv.A = { name: 'A', client: ASKER, clientPort: 41234, server: POOL_IP, serverPort: 443, start, end: start + 32 * MINUTE };
    conv.B = { name: 'B', client: OTHER, clientPort: 42345, server: POOL_IP, serverPort: 443, start: start + 5_000, end: start + 32 * MINUTE };
    conv.D = { name: 'D', client: ASKER, clientPort: 44567, server: WEB_IP, serverPort: 443, start: start + 10_000, end: start + 32 * MINUTE };
    const windowEnd = tAfter + A_TTL * 1000 + GRACE_MS;
    conv.C = { name: 'C', client: ASKER, clientPort: 43456, server: POOL_IP, serverPort: 443, start: windowEnd + 5 * MINUTE, end: windowEnd + 17 * MINUTE };
    const packets = [poolSession(conv.A, 11, 42), poolSession(conv.B, 12, 57), poolSession(conv.C, 13, 44), poolSession(conv.D, 14, 35)].flat().sort((a, b) => a.ts - b.ts);
    const pcap = join(work, 'sessions.pcap');
    writeFileSync(pcap, pcapFile(LinkType.RAW, packets.map((p) => ({ ts: p.ts, data: p.ip })), { snaplen: 64 }));

    // 3. As an operator gets them: NetFlow v9 from softflowd, stored by nfcapd, printed by nfdump.
    csv = join(work, 'flows.csv');
    await exportToNfdumpCsv([pcap], csv, { version: 9, activeTimeoutS: 1800 });

    // 5. The same lookups as a Zeek sensor beside the resolver logs them (dns.log TSV).
    const rtt = 0.000412;
    zeekLog = join(work, 'dns.log');
    writeFileSync(
      zeekLog,
      zeekDnsLog([
        zeekLookupLine(tAfter, rtt, ASKER, ZEEK_RESOLVER, POOL_NAME, [POOL_EDGE, POOL_IP], [CNAME_TTL, A_TTL], 'CzPool1'),
        zeekLookupLine(tAfter, rtt, ASKER, ZEEK_RESOLVER, WEB_NAME, [WEB_IP], [A_TTL], 'CzWeb1'),
      ]),
    );
  }, 600_000);

  afterAll(() => {
    ub?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the resolver answered what it was given, and the export holds each conversation at its time (the harness works)', () => {
    expect(digPool).toMatch(/status: NOERROR/);
    expect(digPool).toMatch(new RegExp(`${POOL_NAME.replace(/\./g, '\\.')}\\.\\s+${CNAME_TTL}\\s+IN\\s+CNAME\\s+${POOL_EDGE.replace(/\./g, '\\.')}\\.`));
    expect(digPool).toMatch(new RegExp(`${POOL_EDGE.replace(/\./g, '\\.')}\\.\\s+${A_TTL}\\s+IN\\s+A\\s+${POOL_IP.replace(/\./g, '\\.')}`));
    expect(digWeb).toMatch(new RegExp(`${A_TTL}\\s+IN\\s+A\\s+${WEB_IP.replace(/\./g, '\\.')}`));
    const records = readNfdumpCsv(csv);
    for (const c of Object.values(conv)) {
      const up = records.filter((r) => r.srcAddr === c.client && r.srcPort === c.clientPort && r.dstAddr === c.server && r.dstPort === c.serverPort);
      const down = records.filter((r) => r.dstAddr === c.client && r.dstPort === c.clientPort && r.srcAddr === c.server && r.srcPort === c.serverPort);
      expect(up.length, `${c.name} client → server records`).toBeGreaterThan(0);
      expect(down.length, `${c.name} server → client records`).toBeGreaterThan(0);
      // nfdump prints whole seconds.
      const first = Math.min(...up.map((r) => r.first));
      expect(first, c.name).toBeGreaterThanOrEqual(c.start - 2_000);
      expect(first, c.name).toBeLessThan(c.start + 2_000);
    }
    // Every flow starts after the lookup was answered; C only after the pool address's window.
    expect(conv.A.start).toBeGreaterThan(tAfter);
    expect(conv.C.start).toBeGreaterThan(tAfter + A_TTL * 1000 + GRACE_MS);
  });

  describe('scan --dns-log with the dnstap file', () => {
    let db = '';
    let scanErr = '';
    beforeAll(() => {
      db = join(work, 'with-dnstap.sqlite');
      scanErr = ok(['scan', csv, '--db', db, '--rules', rules, '--dns-log', dnstap]).stderr;
    }, 180_000);

    it('says on stderr that it read the resolver log as dnstap with both answered lookups', () => {
      const line = scanErr.split('\n').find((l) => l.includes(dnstap));
      expect(line, scanErr).toBeDefined();
      expect(line).toMatch(/dnstap/);
      expect(line).toMatch(/\b2 answered lookup/);
      expect(line).not.toMatch(/anomal/);
    });

    it('lists the subscriber that looked the pool up (127.0.0.1), at medium or above, for its flow to the answered address', () => {
      const rows = watchlist(db);
      const row = rows.find((r) => r.subscriber === ASKER);
      expect(row, JSON.stringify(rows)).toBeDefined();
      expect(RANK[row!.confidence]).toBeGreaterThanOrEqual(RANK.medium!);
      expect(row!.servers.join(' ')).toContain(POOL_IP);
      const { flows } = readReport(db);
      const a = flowOf(flows, conv.A)!;
      expect(row!.flowIds).toContain(a.id);
      const lines = flowLines(db);
      const aLine = lines.find((l) => l.id === a.id)!;
      expect(aLine.label).toBe('mining');
      expect(RANK[aLine.confidence]).toBeGreaterThanOrEqual(RANK.medium!);
      expect(String(aLine.rules)).toContain('MW-DNS-LOG');
    });

    it("its flow's dns-log evidence names the lookup: time, query, chain, answered address, TTL, resolver and the log file", () => {
      const { flows, evidence } = readReport(db);
      const a = flowOf(flows, conv.A)!;
      expect(a.label).toBe('mining');
      expect(a.outcome ?? '').toMatch(/^pool name/);
      const own = evidenceOf(evidence, a).filter((e) => e.kind === 'dns-log');
      expect(own).toHaveLength(1);
      const e = own[0]!;
      expect(e.rule_id).toBe('MW-DNS-LOG');
      expect(e.matched).toContain(POOL_NAME);
      expect(e.matched).toContain(POOL_EDGE);
      expect(e.matched).toContain(POOL_IP);
      expect(e.matched).toMatch(new RegExp(`TTL\\D{0,3}${A_TTL}\\b`));
      // The resolver: unbound answered from 127.0.0.1 (the own-lookup text does not name the client).
      expect(e.matched).toContain('127.0.0.1');
      expect(`${e.matched} ${e.excerpt}`).toContain(basename(dnstap));
      // The answer's time: between just before and just after dig.
      expect(e.time).toBeGreaterThanOrEqual(tBefore - 1_000);
      expect(e.time).toBeLessThanOrEqual(tAfter + 1_000);
      const iso = e.matched.match(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g) ?? [];
      expect(iso.some((t) => Date.parse(t) >= tBefore - 1_000 && Date.parse(t) <= tAfter + 1_000), e.matched).toBe(true);
      // The window: the A record's TTL plus 30 minutes from the answer (not the CNAME's hour).
      const windowEnd = e.time + A_TTL * 1000 + GRACE_MS;
      expect(iso.some((t) => Math.abs(Date.parse(t) - windowEnd) < 1_000), `window end ${new Date(windowEnd).toISOString()} in: ${e.matched}`).toBe(true);
    });

    it('gives the other subscriber (100.64.9.9, who never asked) only dns-log-shared evidence, which alone does not list it', () => {
      const { flows, evidence, subscribers } = readReport(db);
      const b = flowOf(flows, conv.B);
      expect(b, 'flow B kept in the report').toBeDefined();
      const kinds = evidenceOf(evidence, b).map((e) => e.kind);
      expect(kinds).toContain('dns-log-shared');
      expect(kinds).not.toContain('dns-log');
      const shared = evidenceOf(evidence, b).find((e) => e.kind === 'dns-log-shared')!;
      expect(shared.matched).toContain(POOL_NAME);
      expect(shared.matched).toContain(POOL_IP);
      // README: a resolver's answer to another subscriber is pool-address evidence (pools share
      // hosting); an address never convicts alone, and subscribers are built from mining flows only.
      expect(b!.label).not.toBe('mining');
      expect(subscribers.map((s) => s.subscriber)).not.toContain(OTHER);
      expect(watchlist(db, 'low').map((r) => r.subscriber)).not.toContain(OTHER);
    });

    it('gives the flow that starts after the TTL plus 30 minutes no resolver-log evidence; it is mining only as a peer of the proven flow', () => {
      const { flows, evidence } = readReport(db);
      const a = flowOf(flows, conv.A)!;
      const c = flowOf(flows, conv.C);
      expect(c, 'flow C kept in the report').toBeDefined();
      const ev = evidenceOf(evidence, c);
      expect(ev.map((e) => e.kind)).not.toContain('dns-log');
      expect(ev.map((e) => e.kind)).not.toContain('dns-log-shared');
      // README (peer evidence): the same subscriber's other flows to a server proven by a pool name
      // inherit a peer fact; "peer of a proven pool session" is mining, medium.
      const peer = ev.filter((e) => e.kind === 'peer');
      expect(peer).toHaveLength(1);
      expect(peer[0]!.rule_id).toBe('MW-PEER');
      expect(peer[0]!.matched).toContain(`#${a.id}`);
      expect(c!.label).toBe('mining');
      expect(c!.confidence).toBe('medium');
    });

    it("the late flow's reason line says what decided it (mining as a peer), not the verdict it had before the peer fact", () => {
      const { flows } = readReport(db);
      const c = flowOf(flows, conv.C)!;
      const line = flowLines(db).find((l) => l.id === c.id)!;
      expect(line.label).toBe('mining');
      expect(line.reason).toContain('peer');
      // A suspect flow raised to mining by a peer fact says so at the head of its reason
      // (README: `reason`, one human line saying why).
      expect(line.reason).toMatch(/^mining\b/);
    });

    it('binds nothing for the lookup of a name no list names: the same subscriber\'s flow to that address has no resolver-log evidence', () => {
      const { flows, evidence } = readReport(db);
      const d = flowOf(flows, conv.D);
      expect(d, 'flow D kept in the report').toBeDefined();
      const kinds = evidenceOf(evidence, d).map((e) => e.kind);
      expect(kinds).not.toContain('dns-log');
      expect(kinds).not.toContain('dns-log-shared');
      expect(d!.label).not.toBe('mining');
    });
  });

  describe('the same flows scanned without the resolver log, then re-decided with it', () => {
    let plain = '';
    let rescored = '';
    let rescanned = '';
    let withLog = '';
    let first: ReturnType<typeof decidedTables>;
    let rescoreOut = '';
    let rescanOut = { stdout: '', stderr: '' };

    beforeAll(() => {
      plain = join(work, 'plain.sqlite');
      ok(['scan', csv, '--db', plain, '--rules', rules]);
      rescored = join(work, 'rescored.sqlite');
      rescanned = join(work, 'rescanned.sqlite');
      copyFileSync(plain, rescored);
      copyFileSync(plain, rescanned);
      rescoreOut = ok(['rescore', '--db', rescored, '--rules', rules, '--dns-log', dnstap]).stdout;
      first = decidedTables(rescored);
      ok(['rescore', '--db', rescored, '--rules', rules, '--dns-log', dnstap]);
      rescanOut = ok(['scan', csv, '--db', rescanned, '--rules', rules, '--dns-log', dnstap]);
      withLog = join(work, 'with-dnstap-fresh.sqlite');
      ok(['scan', csv, '--db', withLog, '--rules', rules, '--dns-log', dnstap]);
    }, 300_000);

    it('without --dns-log: 127.0.0.1 is not listed at any confidence, and no flow has resolver-log evidence', () => {
      expect(watchlist(plain, 'low').map((r) => r.subscriber)).not.toContain(ASKER);
      const { flows, evidence } = readReport(plain);
      expect(evidence.filter((e) => e.rule_id === 'MW-DNS-LOG')).toEqual([]);
      // The flows themselves are in the report (pool-like behaviour flags them), so a rescore has them to re-decide.
      for (const c of Object.values(conv)) expect(flowOf(flows, c), `flow ${c.name}`).toBeDefined();
      expect(flowOf(flows, conv.A)!.label).not.toBe('mining');
    });

    it('rescore --dns-log lists 127.0.0.1, with dns-log evidence on its pool flow and peer evidence on the late one', () => {
      expect(rescoreOut).toMatch(/re-decided with --dns-log/);
      const row = watchlist(rescored).find((r) => r.subscriber === ASKER);
      expect(row).toBeDefined();
      expect(RANK[row!.confidence]).toBeGreaterThanOrEqual(RANK.medium!);
      const { flows, evidence, subscribers } = readReport(rescored);
      const a = flowOf(flows, conv.A)!;
      expect(a.label).toBe('mining');
      expect(evidenceOf(evidence, a).filter((e) => e.kind === 'dns-log')).toHaveLength(1);
      expect(evidenceOf(evidence, flowOf(flows, conv.B)).map((e) => e.kind)).toContain('dns-log-shared');
      const c = flowOf(flows, conv.C)!;
      expect(evidenceOf(evidence, c).map((e) => e.kind)).not.toContain('dns-log');
      expect(evidenceOf(evidence, c).filter((e) => e.kind === 'peer')).toHaveLength(1);
      expect(c.label).toBe('mining');
      expect(subscribers.map((s) => s.subscriber)).not.toContain(OTHER);
    });

    it('rescore gives the same verdicts as scanning with --dns-log in the first place', () => {
      const fresh = readReport(withLog);
      const again = readReport(rescored);
      for (const c of Object.values(conv)) {
        const f = flowOf(fresh.flows, c)!;
        const r = flowOf(again.flows, c)!;
        expect({ label: r.label, confidence: r.confidence, outcome: r.outcome }, c.name).toEqual({ label: f.label, confidence: f.confidence, outcome: f.outcome });
        const kinds = (rows: EvidenceRow[], flow: FlowRow): string[] => [...new Set(evidenceOf(rows, flow).map((e) => e.kind))].sort();
        expect(kinds(again.evidence, r), c.name).toEqual(kinds(fresh.evidence, f));
      }
    });

    it('rescoring twice changes nothing: identical flows, evidence and subscribers, no doubled evidence rows', () => {
      const second = decidedTables(rescored);
      expect(second.flows).toEqual(first.flows);
      expect(second.subscribers).toEqual(first.subscribers);
      expect(second.evidence).toEqual(first.evidence);
      const { evidence } = readReport(rescored);
      const seen = new Map<string, number>();
      for (const e of evidence) {
        const key = `${e.flow_id}|${e.rule_id}|${e.kind}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
    });

    it('rescore with a resolver log that no longer binds the pool address withdraws the verdicts that rested on the lookup', () => {
      // Another day's log: the subscriber looked up only the unlisted name.
      const otherDay = join(work, 'other-day-dns.log');
      writeFileSync(otherDay, zeekDnsLog([zeekLookupLine(tAfter, 0.0004, ASKER, ZEEK_RESOLVER, WEB_NAME, [WEB_IP], [A_TTL], 'CzWeb2')]));
      const db = join(work, 'withdrawn.sqlite');
      copyFileSync(rescored, db);
      ok(['rescore', '--db', db, '--rules', rules, '--dns-log', otherDay]);
      const { flows, evidence, subscribers } = readReport(db);
      const a = flowOf(flows, conv.A)!;
      // README: resolver logs given now work out each stored flow's endpoint evidence again.
      expect(evidence.filter((e) => e.rule_id === 'MW-DNS-LOG')).toEqual([]);
      expect(a.label).not.toBe('mining');
      const c = flowOf(flows, conv.C)!;
      // The peer fact flow C inherited from flow A goes when A loses the pool-name evidence that
      // proved it (README: peer evidence is added up again on rescore, from flows proven now).
      expect({ label: c.label, peer: evidenceOf(evidence, c).filter((e) => e.kind === 'peer').length }).toEqual({ label: expect.not.stringMatching(/^mining$/), peer: 0 });
      expect(subscribers.map((s) => s.subscriber)).not.toContain(ASKER);
      expect(watchlist(db).map((r) => r.subscriber)).not.toContain(ASKER);
    });

    it('scan of the same CSV again with --dns-log finds the input already in the report and re-decides it as rescore does', () => {
      expect(rescanOut.stderr).toMatch(/already in/);
      expect(rescanOut.stdout).toMatch(/re-decided with --dns-log/);
      expect(watchlist(rescanned).map((r) => r.subscriber)).toContain(ASKER);
      const a = decidedTables(rescanned);
      expect(a.flows).toEqual(first.flows);
      expect(a.evidence).toEqual(first.evidence);
      expect(a.subscribers).toEqual(first.subscribers);
    });
  });

  describe('a Zeek dns.log of the same lookups', () => {
    let zeekDb = '';
    let dnstapDb = '';
    let err = '';
    beforeAll(() => {
      zeekDb = join(work, 'with-zeek.sqlite');
      err = ok(['scan', csv, '--db', zeekDb, '--rules', rules, '--dns-log', zeekLog]).stderr;
      dnstapDb = join(work, 'zeek-baseline-dnstap.sqlite');
      ok(['scan', csv, '--db', dnstapDb, '--rules', rules, '--dns-log', dnstap]);
    }, 180_000);

    it('is read as a Zeek TSV log with its two lookups', () => {
      const line = err.split('\n').find((l) => l.includes(zeekLog));
      expect(line, err).toBeDefined();
      expect(line).toMatch(/zeek/);
      expect(line).toMatch(/\b2 answered lookup/);
    });

    it('gives the same verdicts and evidence kinds as the dnstap file, naming the resolver the Zeek log names', () => {
      const z = readReport(zeekDb);
      const d = readReport(dnstapDb);
      for (const c of Object.values(conv)) {
        const zf = flowOf(z.flows, c)!;
        const df = flowOf(d.flows, c)!;
        expect({ label: zf.label, confidence: zf.confidence, outcome: zf.outcome }, c.name).toEqual({ label: df.label, confidence: df.confidence, outcome: df.outcome });
        const kinds = (rows: EvidenceRow[], flow: FlowRow): string[] => evidenceOf(rows, flow).map((e) => `${e.rule_id}/${e.kind}`).sort();
        expect(kinds(z.evidence, zf), c.name).toEqual(kinds(d.evidence, df));
      }
      const strip = (rows: WatchRow[]): unknown[] => rows.map((r) => ({ subscriber: r.subscriber, confidence: r.confidence, servers: r.servers }));
      expect(strip(watchlist(zeekDb))).toEqual(strip(watchlist(dnstapDb)));
      const own = evidenceOf(z.evidence, flowOf(z.flows, conv.A)).find((e) => e.kind === 'dns-log')!;
      expect(own.matched).toContain(ZEEK_RESOLVER);
      expect(own.matched).toContain(POOL_EDGE);
      expect(own.matched).toMatch(new RegExp(`TTL\\D{0,3}${A_TTL}\\b`));
      expect(`${own.matched} ${own.excerpt}`).toContain(basename(zeekLog));
    });
  });

  describe('resolver logs with malformed records', () => {
    it('dnstap: a frame that is not dnstap and a cut response frame are counted on stderr; the good lookup still lists 127.0.0.1; exit 0', () => {
      const bytes = readFileSync(dnstap);
      const all = frames(bytes);
      const data = all.filter((f) => !f.control);
      // The largest data frame is the pool lookup's response (question, CNAME and A).
      const biggest = data.reduce((m, f) => (f.length > m.length ? f : m));
      const cut = bytes.subarray(biggest.offset + 4, biggest.offset + 4 + Math.floor((biggest.length - 4) / 2));
      const garbage = Buffer.alloc(40, 0xff);
      const firstData = data[0]!.offset;
      const bad = Buffer.concat([bytes.subarray(0, firstData), dataFrame(garbage), dataFrame(cut), bytes.subarray(firstData)]);
      const path = join(work, 'malformed.dnstap');
      writeFileSync(path, bad);
      const db = join(work, 'malformed-dnstap.sqlite');
      const r = cli(['scan', csv, '--db', db, '--rules', rules, '--dns-log', path]);
      // README: exit 0 when every input was read; bad resolver-log records are counted and skipped.
      expect(r.status, r.stderr).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.includes(path));
      expect(line, r.stderr).toBeDefined();
      expect(line).toMatch(/\b2 answered lookup/);
      const counts = [...line!.matchAll(/\b(dnstap\.[a-z_]+|dns\.bad_message)=(\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
      expect(counts, line).toBe(2);
      // The first of them named with its byte in the file: the garbage frame, inserted at the first data frame's place.
      expect(r.stderr).toMatch(new RegExp(`minerwatch: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: first (dnstap\\.[a-z_]+|dns\\.bad_message) at byte ${firstData}: `));
      const row = watchlist(db).find((w) => w.subscriber === ASKER);
      expect(row).toBeDefined();
      const { flows, evidence } = readReport(db);
      expect(evidenceOf(evidence, flowOf(flows, conv.A)).filter((e) => e.kind === 'dns-log')).toHaveLength(1);
    });

    it('Zeek: a short line and a line with a bad client address are counted as zeek.bad_line; the good lookup still lists 127.0.0.1; exit 0', () => {
      const good = zeekLookupLine(tAfter, 0.0005, ASKER, ZEEK_RESOLVER, POOL_NAME, [POOL_EDGE, POOL_IP], [CNAME_TTL, A_TTL], 'CzPool2');
      const short = good.slice(0, 9);
      const badClient = [...good];
      badClient[2] = 'not-an-address';
      const path = join(work, 'malformed-dns.log');
      writeFileSync(path, zeekDnsLog([short, badClient, good]));
      const db = join(work, 'malformed-zeek.sqlite');
      const r = cli(['scan', csv, '--db', db, '--rules', rules, '--dns-log', path]);
      expect(r.status, r.stderr).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.includes(path));
      expect(line, r.stderr).toBeDefined();
      expect(line).toMatch(/\b1 answered lookup/);
      expect(line).toMatch(/zeek\.bad_line=2\b/);
      // The first bad line is named by the byte where it starts and its number in the file, with what was expected.
      const written = readFileSync(path);
      const shortAt = written.toString('utf8').split('\n').indexOf(short.join('\t')) + 1;
      expect(shortAt).toBeGreaterThan(1);
      expect(r.stderr).toContain(`minerwatch: ${path}: first zeek.bad_line at byte ${lineStart(written, shortAt)}: line ${shortAt}: `);
      expect(r.stderr.split('\n').filter((l) => l.includes('first zeek.bad_line'))).toHaveLength(1);
      expect(watchlist(db).map((w) => w.subscriber)).toContain(ASKER);
    });
  });
});
