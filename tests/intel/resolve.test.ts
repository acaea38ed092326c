/**
 * `minerwatch intel resolve` against a real DNS server: Debian's dnsmasq on 127.0.0.1 (random
 * port) answers for a small rule folder's pool names (plain names, a name shared by two entries'
 * address, a CNAME, a suffix apex, a name inside an excluded CDN range, an NXDOMAIN). The written
 * file is checked against what dnsmasq was told, then loaded by the project's validator and by
 * loadIntel. Only loopback traffic.
 */
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerIntel } from '../../src/cli/intel.js';
import { UsageError } from '../../src/errors.js';
import { parseResolverAddress } from '../../src/io/resolver.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { EndpointIndex } from '../../src/rules/endpoints.js';
import { loadIntel } from '../../src/rules/intel.js';
import { compileRules } from '../../src/rules/loader.js';
import { RULES_DIR } from '../helpers.js';
import { DNSMASQ, dnsmasqBaseArgs, startDnsmasq } from '../support/dnsmasq.js';
import { stopChild } from '../support/child.js';
import { freeUdpPort } from '../support/udp.js';

const SKIP = DNSMASQ ? false : 'dnsmasq not installed (Debian package dnsmasq-base): intel resolve tests skipped';
if (SKIP) console.warn(SKIP);

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-intel-'));
const rulesDir = join(tmp, 'rules');
process.env.MINERWATCH_NO_RULE_CACHE = '1';

/** The test's own pool list: what each name is, and (below) what dnsmasq answers for it. */
const POOLS = `source: "minerwatch intel test pools"
added: 2026-01-02
kind: pool
entries:
  - domain: "eu.alpha-pool.minerwatch.test"
    pool: "AlphaPool"
    coins: ["XMR"]
    ports: [3333]
  - domain: "fronted.minerwatch.test"
    pool: "DeltaPool"
    coins: ["ETC"]
  - domain: "gone.minerwatch.test"
    pool: "GonePool"
  - domain: "stratum.beta-pool.minerwatch.test"
    pool: "BetaPool"
    coins: ["BTC"]
    ports: [4444]
  - domain: "xmr.alpha-pool.minerwatch.test"
    pool: "AlphaPool"
    coins: ["XMR"]
    ports: [3333, 5555]
  - suffix: "gamma-pool.minerwatch.test"
    pool: "GammaPool"
    coins: ["RVN"]
`;
const lineOf = (needle: string): number => POOLS.split('\n').findIndex((l) => l.includes(needle)) + 1;

/** TTLs dnsmasq is told to give: local names 600 s unless a record says otherwise. */
const LOCAL_TTL = 600;
const dnsmasqArgs = (port: number): string[] => [
  ...dnsmasqBaseArgs(port),
  '--local=/minerwatch.test/',
  `--local-ttl=${LOCAL_TTL}`,
  '--host-record=xmr.alpha-pool.minerwatch.test,192.0.2.10,2001:db8::10,3600',
  '--host-record=eu.alpha-pool.minerwatch.test,192.0.2.10',
  '--host-record=edge.beta-host.minerwatch.test,198.51.100.20',
  '--cname=stratum.beta-pool.minerwatch.test,edge.beta-host.minerwatch.test,120',
  '--address=/gamma-pool.minerwatch.test/192.0.2.30',
  // 104.16.0.0/13 is a Cloudflare range in rules/endpoints/exclude.yaml.
  '--host-record=fronted.minerwatch.test,104.16.1.1',
];

async function runIntel(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  let code = 0;
  const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
  const program = new Command().exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  registerIntel(program, io, (c) => (code = c));
  await program.parseAsync(args, { from: 'user' });
  return { code, out, err };
}

describe.skipIf(SKIP)('minerwatch intel resolve with dnsmasq on 127.0.0.1', () => {
  let dnsmasq: { child: ChildProcess; port: number };
  beforeAll(async () => {
    mkdirSync(join(rulesDir, 'endpoints'), { recursive: true });
    for (const f of ['policy.yaml', 'agents.yaml', 'algorithms.yaml', 'signatures']) cpSync(join(RULES_DIR, f), join(rulesDir, f), { recursive: true });
    cpSync(join(RULES_DIR, 'endpoints', 'exclude.yaml'), join(rulesDir, 'endpoints', 'exclude.yaml'));
    writeFileSync(join(rulesDir, 'endpoints', 'test-pools.yaml'), POOLS);
    dnsmasq = await startDnsmasq(dnsmasqArgs);
  });
  afterAll(async () => {
    if (dnsmasq) await stopChild(dnsmasq.child);
  });

  it('writes one dated ip entry per address, merges names, follows the CNAME, leaves out excluded addresses and counts failures', async () => {
    const out = join(tmp, 'intel');
    const before = new Date();
    const r = await runIntel(['intel', 'resolve', '--resolver', `127.0.0.1:${dnsmasq.port}`, '--rules', rulesDir, '--out', out, '--timeout', '3']);
    const after = new Date();
    expect(r.code).toBe(0);
    const today = before.toISOString().slice(0, 10);
    const path = join(out, `resolved-${today}.yaml`);
    expect(readdirSync(out)).toEqual([`resolved-${today}.yaml`]);
    expect(r.out).toBe(`6 names tried, 5 resolved, 4 addresses written, 1 excluded, 1 failed; wrote ${path}\n`);
    expect(r.err).toContain('gone.minerwatch.test: NXDOMAIN');
    expect(r.err).toContain('104.16.1.1 (fronted.minerwatch.test)');

    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('104.16.1.1');
    const doc = parse(text) as { source: string; added: string; kind: string; entries: Array<Record<string, unknown>> };
    expect(doc.kind).toBe('pool');
    expect(doc.added).toBe(today);
    expect(doc.source).toContain(`via 127.0.0.1:${dnsmasq.port}`);
    expect(doc.entries.map((e) => e.ip)).toEqual(['192.0.2.10', '192.0.2.30', '198.51.100.20', '2001:db8::10']);
    const [alpha, gamma, beta, alpha6] = doc.entries as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    const via = `via 127.0.0.1:${dnsmasq.port} at (\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ)`;
    expect(alpha).toMatchObject({ pool: 'AlphaPool', coins: ['XMR'], ports: [3333, 5555] });
    expect(alpha.source).toMatch(
      new RegExp(
        `^resolved eu\\.alpha-pool\\.minerwatch\\.test ${via}, TTL ${LOCAL_TTL} s \\(rules endpoints/test-pools\\.yaml:${lineOf('eu.alpha-pool')}\\); ` +
          `resolved xmr\\.alpha-pool\\.minerwatch\\.test ${via}, TTL 3600 s \\(rules endpoints/test-pools\\.yaml:${lineOf('xmr.alpha-pool')}\\)$`,
      ),
    );
    for (const m of String(alpha.source).matchAll(/at (\S+Z),/g)) {
      const t = Date.parse(m[1]!);
      expect(t).toBeGreaterThanOrEqual(Math.floor(before.getTime() / 1000) * 1000);
      expect(t).toBeLessThanOrEqual(after.getTime());
    }
    expect(gamma).toMatchObject({ pool: 'GammaPool', coins: ['RVN'] });
    expect(gamma).not.toHaveProperty('ports');
    expect(gamma.source).toMatch(new RegExp(`^resolved gamma-pool\\.minerwatch\\.test ${via}, TTL ${LOCAL_TTL} s \\(rules endpoints/test-pools\\.yaml:${lineOf('gamma-pool')}\\)$`));
    expect(beta).toMatchObject({ pool: 'BetaPool', coins: ['BTC'], ports: [4444] });
    // The answer's lifetime is the shortest along the chain: the CNAME's 120 s.
    expect(beta.source).toMatch(
      new RegExp(`^resolved stratum\\.beta-pool\\.minerwatch\\.test → edge\\.beta-host\\.minerwatch\\.test ${via}, TTL 120 s \\(rules endpoints/test-pools\\.yaml:${lineOf('stratum.beta-pool')}\\)$`),
    );
    expect(alpha6).toMatchObject({ pool: 'AlphaPool', coins: ['XMR'], ports: [3333, 5555] });
    expect(alpha6.source).toMatch(new RegExp(`^resolved xmr\\.alpha-pool\\.minerwatch\\.test ${via}, TTL 3600 s `));
    // Strings double-quoted, as rules/endpoints/README.md asks.
    expect(text).toMatch(/^ {2}- ip: "192\.0\.2\.10"$/m);
    expect(text).toMatch(/^ {4}coins: \["XMR"\]$/m);

    // The project's validator takes the file as a rules/endpoints list.
    const check = join(tmp, 'rules-check');
    cpSync(rulesDir, check, { recursive: true });
    cpSync(path, join(check, 'endpoints', `resolved-${today}.yaml`));
    const rep = compileRules(readRuleFiles(check));
    expect(rep.errors.map((e) => e.message)).toEqual([]);
    expect(rep.ruleSet.endpoints.filter((e) => e.origin.file === `endpoints/resolved-${today}.yaml`).map((e) => e.match)).toEqual([
      { ip: '192.0.2.10', port: null },
      { ip: '192.0.2.30', port: null },
      { ip: '198.51.100.20', port: null },
      { ip: '2001:db8::10', port: null },
    ]);

    // And --intel loads it, each entry dated today with its own resolution as source.
    const index = new EndpointIndex(rep.ruleSet.endpoints);
    const intel = loadIntel([out], { exclude: (a) => index.excluded(a) });
    expect(intel.sources).toEqual([{ path: out, kind: 'folder', entries: 4, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), skipped: 0 }]);
    expect(intel.entries.map((e) => [e.match, e.added, e.pool, e.ports])).toEqual([
      [{ ip: '192.0.2.10', port: null }, today, 'AlphaPool', [3333, 5555]],
      [{ ip: '192.0.2.30', port: null }, today, 'GammaPool', []],
      [{ ip: '198.51.100.20', port: null }, today, 'BetaPool', [4444]],
      [{ ip: '2001:db8::10', port: null }, today, 'AlphaPool', [3333, 5555]],
    ]);
    expect(intel.entries[2]!.source).toBe(beta.source);
    expect(intel.entries[0]!.origin.file).toBe(join(out, `resolved-${today}.yaml`));
  });

  it('writes nothing and exits 1 when no name resolves (nothing listens on the port)', async () => {
    const closed = await freeUdpPort();
    const out = join(tmp, 'intel-none');
    const r = await runIntel(['intel', 'resolve', '--resolver', `127.0.0.1:${closed}`, '--rules', rulesDir, '--out', out, '--timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no name resolved via 127\.0\.0\.1:\d+; nothing written \(6 names tried, 0 resolved, 0 addresses written, 0 excluded, 6 failed\)/);
    expect(() => readdirSync(out)).toThrow();
  });

  it('counts a resolver that never answers as timeouts, within the time given', async () => {
    const silent = createSocket('udp4');
    let queries = 0;
    silent.on('message', () => queries++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    try {
      const out = join(tmp, 'intel-silent');
      const t0 = Date.now();
      const r = await runIntel(['intel', 'resolve', '--resolver', `127.0.0.1:${silent.address().port}`, '--rules', rulesDir, '--out', out, '--timeout', '1']);
      const took = Date.now() - t0;
      expect(r.code).toBe(1);
      expect(r.err).toContain('eu.alpha-pool.minerwatch.test: timeout');
      expect(r.err).toMatch(/\(6 names tried, 0 resolved, 0 addresses written, 0 excluded, 6 failed\)/);
      expect(queries).toBeGreaterThanOrEqual(6);
      // Six names at once, one second (plus the guard's second) each.
      expect(took).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });
});

describe('--resolver', () => {
  it('takes address literals with a port, or port 53 by default', () => {
    expect(parseResolverAddress('127.0.0.1:5353')).toBe('127.0.0.1:5353');
    expect(parseResolverAddress('192.0.2.53')).toBe('192.0.2.53:53');
    expect(parseResolverAddress('[2001:db8::53]:5353')).toBe('[2001:db8::53]:5353');
    expect(parseResolverAddress('2001:db8::53')).toBe('[2001:db8::53]:53');
  });
  it('refuses host names and bad ports', () => {
    expect(() => parseResolverAddress('dns.example:53')).toThrow(UsageError);
    expect(() => parseResolverAddress('127.0.0.1:70000')).toThrow(/--resolver expects an address and port/);
  });
});
