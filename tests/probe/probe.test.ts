/**
 * `minerwatch probe` against services this test starts on 127.0.0.1 (random ports): four pools
 * shaped from the protocols' documents, and services that are not pools.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../src/report/schema.js';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerProbe } from '../../src/cli/probe.js';
import { main } from '../../src/cli/main.js';
import { UsageError } from '../../src/errors.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { compileRules } from '../../src/rules/loader.js';
import { compileEndpointFile } from '../../src/rules/endpoints.js';
import { FileContext } from '../../src/rules/yamlfile.js';
import { openReport } from '../../src/report/writer.js';
import { ethernet, LinkType, pcapFile, tcpSession, type SessionMessage } from '../support/builders.js';
import { RULES_DIR, ROOT, dropVersion6 } from '../helpers.js';
import {
  closedPort,
  cryptonotePool,
  echoService,
  ethereumStratum2Pool,
  ethproxyPool,
  floodService,
  httpService,
  jsonRpcService,
  silentService,
  stratumPool,
  type Service,
} from './services.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-probe-'));

async function probe(args: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = '';
  let err = '';
  let code = 0;
  const program = new Command().exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerProbe(program, { out: (s) => (out += s), err: (s) => (err += s) }, (c) => (code = c));
  const t0 = Date.now();
  await program.parseAsync(['probe', ...args], { from: 'user' });
  return { code, out, err, ms: Date.now() - t0 };
}

interface ProbeRow {
  time: number;
  server: string;
  server_port: number;
  protocol: string;
  status: string;
  matched: string | null;
  rule_id: string | null;
  rev: number | null;
  excerpt: string | null;
  error: string | null;
}

function probeRows(db: string): ProbeRow[] {
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT time, server, server_port, protocol, status, matched, rule_id, rev, excerpt, error FROM probes ORDER BY id').all() as ProbeRow[];
  d.close();
  return rows;
}

function newReport(name: string): string {
  const path = join(tmp, name);
  openReport(path).close();
  return path;
}

const today = (): string => new Date().toISOString().slice(0, 10);

describe('minerwatch probe against local services', () => {
  const s: Record<string, Service> = {};
  let closed = 0;
  beforeAll(async () => {
    [s.stratum, s.cryptonote, s.ethproxy, s.estratum2, s.http, s.jsonrpc, s.echo, s.silent] = await Promise.all([
      stratumPool(),
      cryptonotePool(),
      ethproxyPool(),
      ethereumStratum2Pool(),
      httpService(),
      jsonRpcService(),
      echoService(),
      silentService(),
    ]);
    closed = await closedPort();
  });
  afterAll(async () => {
    await Promise.all(Object.values(s).map((x) => x.close()));
  });

  const target = (x: Service | number): string => `127.0.0.1:${typeof x === 'number' ? x : x.port}`;

  it('confirms each kind of pool by the rule its reply matched, and nothing else', async () => {
    const db = newReport('explicit.sqlite');
    const out = join(tmp, 'intel');
    const all = [s.stratum!, s.cryptonote!, s.ethproxy!, s.estratum2!, s.http!, s.jsonrpc!, s.echo!, s.silent!, closed];
    const r = await probe([...all.flatMap((x) => ['--target', target(x)]), '--db', db, '--out', out, '--timeout', '1.5', '--rate', '200', '--concurrency', '16']);
    expect(r.code).toBe(0);
    const rows = probeRows(db);
    expect(rows).toHaveLength(all.length * 4);
    const at = (x: Service | number, protocol: string): ProbeRow => rows.find((w) => w.server_port === (typeof x === 'number' ? x : x.port) && w.protocol === protocol)!;
    const statuses = (x: Service | number): string[] => ['stratum-v1', 'cryptonote', 'ethproxy', 'ethereumstratum-2'].map((p) => at(x, p).status);

    // Each pool is confirmed by its own protocol, with the rule of rules/signatures that fits its reply.
    expect(at(s.stratum!, 'stratum-v1')).toMatchObject({ status: 'pool', rule_id: 'MW-STRATUM-V1-SUBSCRIBE-RESULT', rev: 1, matched: 'mining.subscribe result' });
    expect(at(s.stratum!, 'stratum-v1').excerpt).toContain('"08000002"');
    expect(statuses(s.stratum!)).toEqual(['pool', 'not-pool', 'not-pool', 'not-pool']);
    expect(at(s.cryptonote!, 'cryptonote')).toMatchObject({ status: 'pool', rule_id: 'MW-XMR-LOGIN-RESULT', rev: 1, matched: 'login result with job' });
    expect(statuses(s.cryptonote!)).toEqual(['not-pool', 'pool', 'not-pool', 'not-pool']);
    expect(at(s.ethproxy!, 'ethproxy')).toMatchObject({ status: 'pool', rule_id: 'MW-ETHPROXY-WORK', rev: 1, matched: 'eth_getWork result' });
    expect(statuses(s.ethproxy!)).toEqual(['not-pool', 'not-pool', 'pool', 'not-pool']);
    expect(at(s.estratum2!, 'ethereumstratum-2')).toMatchObject({ status: 'pool', rule_id: 'MW-ETHSTRATUM-V2-HELLO-RESULT', rev: 1, matched: 'mining.hello result' });
    // It closes sessions that do not start with mining.hello: connected, nothing said.
    expect(statuses(s.estratum2!)).toEqual(['silent', 'silent', 'silent', 'pool']);

    // Services that are not pools.
    expect(statuses(s.http!)).toEqual(['not-pool', 'not-pool', 'not-pool', 'not-pool']);
    expect(at(s.http!, 'stratum-v1').excerpt).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(statuses(s.jsonrpc!)).toEqual(['not-pool', 'not-pool', 'not-pool', 'not-pool']);
    expect(at(s.jsonrpc!, 'cryptonote').excerpt).toContain('Method not found');
    expect(statuses(s.echo!)).toEqual(['not-pool', 'not-pool', 'not-pool', 'not-pool']);
    expect(statuses(s.silent!)).toEqual(['silent', 'silent', 'silent', 'silent']);
    expect(at(s.silent!, 'stratum-v1').error).toBe('no reply within 1500 ms');
    expect(statuses(closed)).toEqual(['refused', 'refused', 'refused', 'refused']);
    expect(at(closed, 'stratum-v1').error).toBe('ECONNREFUSED');
    for (const w of rows) if (w.status !== 'pool') expect([w.rule_id, w.rev, w.matched]).toEqual([null, null, null]);

    // What the pools received: one JSON line per connection (ETHPROXY: the login, then eth_getWork
    // after its "true"), with the neutral identity.
    const received = s.stratum!.connections.map((c) => c.map((l) => JSON.parse(l) as Record<string, unknown>));
    expect(received.map((c) => c.length)).toEqual([1, 1, 1, 1]);
    expect(received.map((c) => c[0]!.method).sort()).toEqual(['eth_submitLogin', 'login', 'mining.hello', 'mining.subscribe']);
    const byMethod = new Map(received.map((c) => [c[0]!.method, c[0]!]));
    expect(byMethod.get('mining.subscribe')!.params).toEqual([`minerwatch-probe/${VERSION}`]);
    expect(byMethod.get('login')!.params).toEqual({ login: 'minerwatch-probe', pass: 'x', agent: `minerwatch-probe/${VERSION}` });
    expect(byMethod.get('eth_submitLogin')!.params).toEqual(['minerwatch-probe', 'x']);
    expect(byMethod.get('mining.hello')!.params).toEqual({ agent: `minerwatch-probe/${VERSION}`, host: '127.0.0.1', port: s.stratum!.port.toString(16), proto: 'EthereumStratum/2.0.0' });
    const eth = s.ethproxy!.connections.map((c) => c.map((l) => (JSON.parse(l) as { method: string }).method));
    expect(eth.find((c) => c[0] === 'eth_submitLogin')).toEqual(['eth_submitLogin', 'eth_getWork']);
    // A server that does not say "true" to the login gets no second line.
    expect(s.jsonrpc!.connections.every((c) => c.length === 1)).toBe(true);

    // One line per target on stderr: time, target, status, protocol and rule.
    const lines = r.err.split('\n').filter((l) => /^\d{4}-\d\d-\d\dT/.test(l));
    expect(lines).toHaveLength(all.length);
    expect(lines.find((l) => l.includes(` ${target(s.stratum!)} `))).toMatch(/ pool stratum-v1 MW-STRATUM-V1-SUBSCRIBE-RESULT@1$/);
    expect(lines.find((l) => l.includes(` ${target(s.silent!)} `))).toMatch(/ silent \(stratum-v1 silent/);
    expect(lines.find((l) => l.includes(` ${target(closed)} `))).toMatch(/ refused \(/);
    expect(r.out).toMatch(/^9 target\(s\) probed: 4 pool, 3 not-pool, 1 silent, 1 refused, 0 timeout, 0 error; 36 probe\(s\) recorded in /);

    // The intel file: rules/endpoints schema, valid for the project's loader, the pools only, sorted.
    const file = join(out, `probe-${today()}.yaml`);
    const text = readFileSync(file, 'utf8');
    const ctx = new FileContext('endpoints/probe.yaml', text);
    const compiled = compileEndpointFile(ctx, ctx.doc.toJS() as Record<string, unknown>);
    expect(ctx.errors.map((e) => e.message)).toEqual([]);
    const pools = [s.stratum!, s.cryptonote!, s.ethproxy!, s.estratum2!].map((x) => x.port);
    expect(compiled.good.map((e) => e.match)).toEqual([...pools].sort((a, b) => a - b).map((port) => ({ ip: '127.0.0.1', port })));
    const entry = (port: number) => compiled.good.find((e) => 'port' in e.match && e.match.port === port)!;
    expect(compiled.good.every((e) => e.pool === 'unknown' && e.kind === 'pool' && e.added === today())).toBe(true);
    expect(entry(s.stratum!.port).coins).toEqual([]);
    expect(entry(s.cryptonote!.port).coins).toEqual(['XMR']);
    expect(entry(s.ethproxy!.port).coins).toEqual(['ETH']);
    expect(entry(s.estratum2!.port).coins).toEqual(['ETH']);
    expect(entry(s.stratum!.port).source).toMatch(
      /^minerwatch probe at \d{4}-\d\d-\d\dT[\d:.]+Z: answered mining\.subscribe result to stratum-v1 mining\.subscribe \(MW-STRATUM-V1-SUBSCRIBE-RESULT@1\): \{"id":1,"result":\[\[\["mining\.set_difficulty"/,
    );
    expect(entry(s.ethproxy!.port).source).toContain('answered eth_getWork result to ethproxy eth_submitLogin, eth_getWork (MW-ETHPROXY-WORK@1)');
    expect(text).toMatch(/^source: "minerwatch probe /m);
    expect(text).toMatch(new RegExp(`^added: ${today()}$`, 'm'));
    expect(text).toMatch(/^kind: pool$/m);

    // The whole rule folder with the file in endpoints/ still loads cleanly.
    const rules = join(tmp, 'rules-with-intel');
    cpSync(RULES_DIR, rules, { recursive: true });
    writeFileSync(join(rules, 'endpoints', `probe-${today()}.yaml`), text);
    const rep = compileRules(readRuleFiles(rules));
    expect(rep.errors.map((e) => e.message)).toEqual([]);
    expect(rep.ruleSet.endpoints.filter((e) => e.origin.file.includes('probe-')).length).toBe(4);
  });

  it('merges into an existing intel file without duplicates, keeping its entries sorted', async () => {
    const out = join(tmp, 'intel-merge');
    const file = join(out, `probe-${today()}.yaml`);
    expect((await probe(['--target', target(s.cryptonote!), '--out', out, '--timeout', '1', '--rate', '100'])).code).toBe(0);
    const first = readFileSync(file, 'utf8');
    // A hand-added entry and a second run that confirms the same server again and one more.
    writeFileSync(file, first.replace('entries:\n', 'entries:\n  - ip: "198.51.100.7"\n    port: 3333\n    pool: "example"\n    coins: ["BTC"]\n    added: 2026-01-02\n'));
    const r = await probe(['--target', target(s.stratum!), '--target', target(s.cryptonote!), '--out', out, '--timeout', '1', '--rate', '100']);
    expect(r.code).toBe(0);
    const text = readFileSync(file, 'utf8');
    const ctx = new FileContext('endpoints/probe.yaml', text);
    const compiled = compileEndpointFile(ctx, ctx.doc.toJS() as Record<string, unknown>);
    expect(ctx.errors).toEqual([]);
    const ports = [s.stratum!.port, s.cryptonote!.port].sort((a, b) => a - b);
    expect(compiled.good.map((e) => e.match)).toEqual([...ports.map((port) => ({ ip: '127.0.0.1', port })), { ip: '198.51.100.7', port: 3333 }]);
    expect(compiled.good[2]).toMatchObject({ pool: 'example', coins: ['BTC'], added: '2026-01-02' });
    // The entry from the first run is kept as it was (the date and evidence of the first confirmation).
    const firstSource = /source: ("minerwatch probe at [^\n]+)/.exec(first.split('entries:')[1]!)![1]!;
    expect(text).toContain(firstSource);
    expect(readdirSync(out)).toEqual([`probe-${today()}.yaml`]);
  });

  it('a silent server costs one timeout, not one per protocol; rate and concurrency hold', async () => {
    const r = await probe(['--target', target(s.silent!), '--timeout', '1', '--rate', '100']);
    expect(r.code).toBe(0);
    expect(r.ms).toBeGreaterThanOrEqual(1000);
    expect(r.ms).toBeLessThan(1000 + 1500);

    // 3 targets × 4 protocols = 12 connections at 10 per second: the last starts 1.1 s after the first.
    const svc = await silentService();
    try {
      const many = await probe(['--target', target(closed), '--target', target(s.jsonrpc!), '--target', target(s.echo!), '--rate', '10', '--concurrency', '16', '--timeout', '1']);
      expect(many.ms).toBeGreaterThanOrEqual(1100);
      // Concurrency 2 against a silent service: two connections, and the next two only when those
      // have timed out.
      const c = await probe(['--target', target(svc), '--concurrency', '2', '--rate', '1000', '--timeout', '0.5']);
      expect(c.code).toBe(0);
      expect(svc.connections).toHaveLength(4);
      const [a, b, c3, c4] = svc.opened.map((t) => t - svc.opened[0]!);
      expect(b!).toBeLessThan(400);
      expect(c3!).toBeGreaterThanOrEqual(450);
      expect(c4!).toBeGreaterThanOrEqual(450);
      expect(a).toBe(0);
      expect(c.ms).toBeGreaterThanOrEqual(1000);
    } finally {
      await svc.close();
    }
  });

  it('reads at most 8 KiB of a reply and keeps a bounded excerpt', async () => {
    const flood = await floodService();
    try {
      const db = newReport('flood.sqlite');
      const r = await probe(['--target', target(flood), '--db', db, '--timeout', '5', '--rate', '100']);
      expect(r.code).toBe(0);
      // Ended by the size bound, not by the 5 s timeout.
      expect(r.ms).toBeLessThan(3000);
      const rows = probeRows(db);
      expect(rows.map((w) => w.status)).toEqual(['not-pool', 'not-pool', 'not-pool', 'not-pool']);
      for (const w of rows) expect(w.excerpt).toBe(`${'A'.repeat(199)}…`);
    } finally {
      await flood.close();
    }
  });

  it('probes the servers a report suspects without protocol proof, with the thresholds', async () => {
    const proven = await stratumPool();
    const suspectA = await silentService();
    const suspectB = await stratumPool();
    try {
      // A capture: subscribers 100.64.0.21 and .22 talk to suspectA, .23 to suspectB, in bytes that
      // are no protocol (a port the policy below calls a pool port makes them suspect); .24 speaks
      // Stratum with `proven`, which its own messages prove.
      const opaque = (seed: number): string => `\u0017\u0003\u0003${String.fromCharCode(...Array.from({ length: 40 }, (_, i) => 33 + ((seed * 7 + i * 13) % 90)))}`;
      const session = (client: string, cport: number, port: number, messages: SessionMessage[], start: number) =>
        tcpSession({ client: [client, cport], server: ['127.0.0.1', port], start, messages });
      const opaqueTalk = (seed: number): SessionMessage[] => [
        { from: 'client', data: opaque(seed) },
        { from: 'server', data: opaque(seed + 1), gapMs: 30 },
      ];
      const stratumTalk: SessionMessage[] = [
        { from: 'client', data: '{"id":1,"method":"mining.subscribe","params":["cgminer/4.10.0"]}\n' },
        { from: 'server', gapMs: 30, data: '{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}\n' },
      ];
      const t0 = Date.UTC(2026, 10, 20, 10, 0, 0);
      const packets = [
        ...session('100.64.0.21', 50001, suspectA.port, opaqueTalk(1), t0),
        ...session('100.64.0.22', 50002, suspectA.port, opaqueTalk(2), t0 + 1000),
        ...session('100.64.0.23', 50003, suspectB.port, opaqueTalk(3), t0 + 2000),
        ...session('100.64.0.24', 50004, proven.port, stratumTalk, t0 + 3000),
        ...session('100.64.0.25', 50005, proven.port, opaqueTalk(4), t0 + 4000),
      ].sort((a, b) => a.ts - b.ts);
      const pcap = join(tmp, 'suspects.pcap');
      writeFileSync(pcap, pcapFile(LinkType.ETHERNET, packets.map((p) => ({ ts: p.ts, data: ethernet(p.ip) }))));
      const rules = join(tmp, 'rules-ports');
      cpSync(RULES_DIR, rules, { recursive: true });
      const policy = readFileSync(join(rules, 'policy.yaml'), 'utf8');
      writeFileSync(join(rules, 'policy.yaml'), policy.replace(/^mining_ports: \[/m, `mining_ports: [${suspectA.port}, ${suspectB.port}, ${proven.port}, `));
      const db = join(tmp, 'suspects.sqlite');
      const scan = await main(['scan', pcap, '--db', db, '--rules', rules], { out: () => undefined, err: () => undefined });
      expect(scan).toBe(0);
      const d = new Database(db, { readonly: true });
      const labels = d.prepare('SELECT server_port, label, COUNT(*) AS n FROM flows GROUP BY server_port, label ORDER BY server_port, label').all();
      d.close();
      expect(labels).toEqual(
        [
          { server_port: suspectA.port, label: 'suspect', n: 2 },
          { server_port: suspectB.port, label: 'suspect', n: 1 },
          { server_port: proven.port, label: 'mining', n: 1 },
          { server_port: proven.port, label: 'suspect', n: 1 },
        ].sort((a, b) => a.server_port - b.server_port || a.label.localeCompare(b.label)),
      );

      // Thresholds: two subscribers → suspectA only.
      const two = await probe(['--db', db, '--min-subscribers', '2', '--timeout', '0.5', '--rate', '100']);
      expect(two.code).toBe(0);
      expect(suspectA.connections).toHaveLength(4);
      expect(suspectB.connections).toHaveLength(0);
      expect(proven.connections).toHaveLength(0);
      // Default thresholds: both suspects, most subscribers first; the proven server never.
      const all = await probe(['--db', db, '--timeout', '0.5', '--rate', '100']);
      expect(all.code).toBe(0);
      expect(suspectA.connections).toHaveLength(8);
      expect(suspectB.connections).toHaveLength(4);
      expect(proven.connections).toHaveLength(0);
      const rows = probeRows(db);
      expect(rows.map((w) => `${w.server}:${w.server_port} ${w.protocol} ${w.status}`)).toEqual([
        ...['stratum-v1', 'cryptonote', 'ethproxy', 'ethereumstratum-2'].map((p) => `127.0.0.1:${suspectA.port} ${p} silent`),
        ...['stratum-v1', 'cryptonote', 'ethproxy', 'ethereumstratum-2'].map((p) => `127.0.0.1:${suspectA.port} ${p} silent`),
        `127.0.0.1:${suspectB.port} stratum-v1 pool`,
        ...['cryptonote', 'ethproxy', 'ethereumstratum-2'].map((p) => `127.0.0.1:${suspectB.port} ${p} not-pool`),
      ]);
      // --min-flows above every server's count: nothing to probe, said plainly.
      const none = await probe(['--db', db, '--min-flows', '3']);
      expect(none.code).toBe(0);
      expect(none.out).toMatch(/^no suspected servers without protocol proof in .*; nothing probed/);
      // --max-targets keeps the most telling server.
      const one = await probe(['--db', db, '--max-targets', '1', '--timeout', '0.5', '--rate', '100']);
      expect(one.err).toMatch(/more than 1 targets; probing the first 1 \(--max-targets\)/);
      expect(suspectA.connections).toHaveLength(12);
      expect(suspectB.connections).toHaveLength(4);
    } finally {
      await Promise.all([proven.close(), suspectA.close(), suspectB.close()]);
    }
  });

  it('upgrades a version 4 report in place and merge copies its probes once', async () => {
    const db = newReport('v4.sqlite');
    const d = new Database(db);
    // What version 4 lacked: the probes table (5) and the run owners and input states (6).
    d.exec('DROP TABLE probes');
    dropVersion6(d);
    d.exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
    d.close();
    const r = await probe(['--db', db, '--target', target(s.stratum!), '--timeout', '1', '--rate', '100']);
    expect(r.code).toBe(0);
    const u = new Database(db, { readonly: true });
    expect((u.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe(String(SCHEMA_VERSION));
    u.close();
    expect(probeRows(db).map((w) => w.status)).toEqual(['pool', 'not-pool', 'not-pool', 'not-pool']);

    const merged = join(tmp, 'merged.sqlite');
    const quiet = { out: () => undefined, err: () => undefined };
    expect(await main(['merge', db, '--db', merged], quiet)).toBe(0);
    expect(await main(['merge', db, '--db', merged], quiet)).toBe(0);
    expect(probeRows(merged)).toEqual(probeRows(db));
  });

  it('refuses bad usage with a clear message', async () => {
    const usage = async (args: string[]): Promise<string> => {
      try {
        await probe(args);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error(`no usage error for ${args.join(' ')}`);
    };
    expect(await usage([])).toMatch(/no targets; give --db REPORT/);
    expect(await usage(['--target', 'pool.example.org:3333'])).toMatch(/--target: expected an IP address and port, e\.g\. 203\.0\.113\.5:3333 .*got "pool\.example\.org:3333"/);
    expect(await usage(['--target', '203.0.113.5'])).toMatch(/--target: expected an IP address and port/);
    expect(await usage(['--target', '203.0.113.5:70000'])).toMatch(/--target: expected/);
    expect(await usage(['--target', '2001:db8::5:3333'])).toMatch(/--target: expected/);
    expect(await usage(['--target', '203.0.113.5:3333', '--rate', 'fast'])).toMatch(/--rate expects a number above 0 .*got "fast"/);
    expect(await usage(['--target', '203.0.113.5:3333', '--timeout', '0'])).toMatch(/--timeout expects seconds, a decimal number above 0/);
    expect(await usage(['--target', '203.0.113.5:3333', '--concurrency', '2.5'])).toMatch(/--concurrency expects a whole number/);
    expect(await usage(['--db', join(tmp, 'missing.sqlite')])).toMatch(/no report at .*missing\.sqlite/);
    const list = join(tmp, 'targets.txt');
    writeFileSync(list, '# suspects\n203.0.113.5:3333\n\nnot-a-target  # typo\n');
    expect(await usage(['--targets', list])).toMatch(/targets\.txt:4: expected an IP address and port.*got "not-a-target"/);
    writeFileSync(list, '# nothing yet\n');
    expect(await usage(['--targets', list])).toMatch(/lists no targets/);
  });

  it('--help says exactly what is sent and that probing third parties needs authority', async () => {
    let help = '';
    const program = new Command().exitOverride().configureOutput({ writeOut: (x) => (help += x) });
    registerProbe(program, { out: () => undefined, err: () => undefined }, () => undefined);
    await program.parseAsync(['probe', '--help'], { from: 'user' }).catch(() => undefined);
    // The lines a pool actually receives appear in the help verbatim (mining.hello up to the
    // target's own address, which the help shows as placeholders).
    const svc = await ethproxyPool();
    try {
      await probe(['--target', target(svc), '--timeout', '1', '--rate', '100']);
      const lines = svc.connections.flat();
      expect(lines).toHaveLength(5);
      for (const l of lines) expect(help).toContain(l.includes('mining.hello') ? l.slice(0, l.indexOf('"host"')) : l);
    } finally {
      await svc.close();
    }
    expect(help).toMatch(/only with the\s+authority/);
  });

  it('reads a targets file (comments, duplicates once)', async () => {
    const list = join(tmp, 'targets-ok.txt');
    writeFileSync(list, `# two pools\n${target(s.stratum!)}   # stratum\n\n${target(s.stratum!)}\n`);
    const db = newReport('targets-file.sqlite');
    const r = await probe(['--targets', list, '--db', db, '--timeout', '1', '--rate', '100']);
    expect(r.code).toBe(0);
    expect(probeRows(db)).toHaveLength(4);
  });

  it.skipIf(!existsSync(join(ROOT, 'dist', 'src', 'cli', 'probe.js')) || !readFileSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'utf8').includes('registerProbe'))(
    'the built CLI: node bin/minerwatch probe (needs npm run build with probe wired into main.ts)',
    async () => {
      const { execFile } = await import('node:child_process');
      const res = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'probe', '--target', target(s.cryptonote!), '--timeout', '2', '--rate', '50'], { timeout: 20_000 }, (e, out, err) =>
          resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
        );
      });
      expect(res.code).toBe(0);
      expect(res.err).toMatch(new RegExp(`127\\.0\\.0\\.1:${s.cryptonote!.port} pool cryptonote MW-XMR-LOGIN-RESULT@1`));
      expect(res.out).toMatch(/^1 target\(s\) probed: 1 pool/);
      const help = await new Promise<string>((resolve) => execFile(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'probe', '--help'], (_e, out) => resolve(out)));
      expect(help).toContain('mining.subscribe');
      expect(help).toContain('authority');
    },
  );
});
