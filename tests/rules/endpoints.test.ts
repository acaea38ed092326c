/** Endpoint lists: validation with file:line, and the index's lookups (exact, suffix, IP:port, CIDR, exclusions). */
import { describe, expect, it } from 'vitest';
import { EndpointIndex } from '../../src/rules/endpoints.js';
import { compileRules } from '../../src/rules/loader.js';
import { readRuleFiles } from '../../src/io/rulefiles.js';
import { RULES_DIR } from '../helpers.js';
import ipaddr from 'ipaddr.js';
import { mulberry32 } from '../support/random.js';

const POLICY = { path: 'policy.yaml', text: 'id: MW-POLICY\nrev: 1\noutcomes:\n  - { name: x, all: [protocol], label: mining, confidence: medium }\n' };

function load(text: string) {
  return compileRules([POLICY, { path: 'endpoints/test.yaml', text }]);
}

const LIST = `source: "test list"
added: 2026-11-21
entries:
  - { suffix: nanopool.org, pool: nanopool, coins: [XMR, ETC] }
  - { domain: btc.f2pool.com, pool: F2Pool, coins: [BTC], ports: [1314, 3333] }
  - { ip: 198.51.100.7, port: 3333, pool: ip-port-pool }
  - { ip: 198.51.100.7, pool: ip-pool, added: 2018-05-13 }
  - { cidr: 198.51.100.0/24, pool: net24 }
  - { cidr: 198.51.0.0/16, pool: net16 }
  - { cidr: "2001:db8:aa::/48", pool: net6 }
  - { ip: 203.0.113.9, pool: cdn-hosted }
  - { cidr: 203.0.113.0/28, pool: n/a, kind: exclude }
`;

describe('endpoint lists', () => {
  it('the bundled lists load without errors and every entry has provenance', () => {
    const rep = compileRules(readRuleFiles(RULES_DIR));
    expect(rep.errors.map((e) => e.message)).toEqual([]);
    expect(rep.endpoints).toBeGreaterThan(1000);
    for (const e of rep.ruleSet.endpoints) {
      expect(e.source.length).toBeGreaterThan(3);
      expect(e.added).toMatch(/^\d{4}-\d\d-\d\d$/);
    }
  });

  it('looks up names exactly and by suffix, never by substring', () => {
    const idx = new EndpointIndex(load(LIST).ruleSet.endpoints);
    expect(idx.domain('xmr-eu1.nanopool.org')?.pool).toBe('nanopool');
    expect(idx.domain('NANOPOOL.ORG.')?.pool).toBe('nanopool');
    expect(idx.domain('notnanopool.org')).toBeNull();
    expect(idx.domain('nanopool.org.evil.example')).toBeNull();
    expect(idx.domain('btc.f2pool.com')?.pool).toBe('F2Pool');
    expect(idx.domain('www.f2pool.com')).toBeNull();
  });

  it('finds names of every length: longer and shorter than the shortest listed name, by suffix and below a block-list name', () => {
    const rep = compileRules([
      POLICY,
      { path: 'endpoints/test.yaml', text: LIST },
      { path: 'endpoints/block.yaml', text: 'source: "block list"\nadded: 2026-11-21\nsubdomains: true\nentries:\n  - { domain: miner.bad.example.net, pool: unknown }\n' },
    ]);
    expect(rep.errors).toEqual([]);
    const idx = new EndpointIndex(rep.ruleSet.endpoints);
    // Fewer labels than any entry: no entry can match.
    expect(idx.domain('org')).toBeNull();
    expect(idx.domain('')).toBeNull();
    // The shortest entry itself, and names many labels below it.
    expect(idx.domain('nanopool.org')?.pool).toBe('nanopool');
    expect(idx.domain('a.b.c.d.xmr.nanopool.org')?.pool).toBe('nanopool');
    // Its last labels are those of a listed name, and still no entry: exact names are exact.
    expect(idx.domain('f2pool.com')).toBeNull();
    expect(idx.domain('eth.f2pool.com')).toBeNull();
    expect(idx.domain('BTC.F2POOL.COM.')?.pool).toBe('F2Pool');
    // A block-list name covers the names below it, not the ones above.
    expect(idx.domain('miner.bad.example.net')?.source).toBe('block list');
    expect(idx.domain('x.y.miner.bad.example.net')?.source).toBe('block list');
    expect(idx.domain('bad.example.net')).toBeNull();
    expect(idx.domain('example.net')).toBeNull();
  });

  it('prefers IP:port over IP over the longest CIDR, and honours exclusions', () => {
    const idx = new EndpointIndex(load(LIST).ruleSet.endpoints);
    expect(idx.address('198.51.100.7', 3333)).toMatchObject({ how: 'ip:port', entry: { pool: 'ip-port-pool' } });
    expect(idx.address('198.51.100.7', 443)).toMatchObject({ how: 'ip', entry: { pool: 'ip-pool', added: '2018-05-13' } });
    expect(idx.address('198.51.100.8', 443)).toMatchObject({ how: 'cidr', entry: { pool: 'net24' } });
    expect(idx.address('198.51.7.8', 443)).toMatchObject({ how: 'cidr', entry: { pool: 'net16' } });
    expect(idx.address('2001:db8:aa:1::5', 443)).toMatchObject({ how: 'cidr', entry: { pool: 'net6' } });
    expect(idx.address('2001:db8:ab::5', 443)).toBeNull();
    expect(idx.address('203.0.113.9', 443)).toBeNull();
    expect(idx.excluded('203.0.113.9')).toBe(true);
    expect(idx.excluded('203.0.113.99')).toBe(false);
  });

  it('reports bad entries with file, line and field', () => {
    const rep = load(`source: "x"
added: 2026-11-21
entries:
  - { domain: ok.example.org, pool: p }
  - { domain: "bad host!", pool: p }
  - { ip: 300.1.1.1, pool: p }
  - { suffix: a.example.org, port: 3333, pool: p }
  - { cidr: 10.0.0.0/33, pool: p }
  - { domain: b.example.org, ip: 1.2.3.4, pool: p }
  - { domain: c.example.org }
`);
    expect(rep.errors.map((e) => `${e.line}:${e.field}`)).toEqual([
      '5:entries[1].domain',
      '6:entries[2].ip',
      '7:entries[3].port',
      '8:entries[4].cidr',
      '9:entries[5]',
      '10:entries[6].pool',
    ]);
    expect(rep.endpoints).toBe(1);
    expect(rep.badEndpoints).toBe(6);
  });

  it('IPv6 servers: the longest listed network and the exclusions, as ipaddr matches them, for addresses in and around the networks', () => {
    const nets = ['2001:db8:aa::/48', '2001:db8:aa:100::/56', '2001:db8:f000::/36', '2a01:4f8::/29', '2a0e::/15', '2a1e::/12', 'fd00:1:2:3:4:5:6:0/112', '::ffff:0:0/96'];
    const excluded = ['2001:db8:aa:1::/64', '2a01:4f8:10::/44'];
    const text = [
      'source: "v6 list"',
      'added: 2026-11-21',
      'entries:',
      ...nets.map((c, i) => `  - { cidr: "${c}", pool: net${i} }`),
      ...excluded.map((c) => `  - { cidr: "${c}", pool: n/a, kind: exclude }`),
      '  - { ip: "2001:db8:aa::1", pool: one-ip }',
    ].join('\n');
    const rep = load(text);
    expect(rep.errors).toEqual([]);
    const idx = new EndpointIndex(rep.ruleSet.endpoints);
    const parsedNets = nets.map((c, i) => ({ net: ipaddr.parseCIDR(c), bits: Number(c.split('/')[1]), pool: `net${i}` }));
    const parsedEx = excluded.map((c) => ipaddr.parseCIDR(c));
    // What the lookup should say, from ipaddr's own CIDR match: exclusions first, then the exact IP, then the longest network.
    const reference = (ip: string): string | null => {
      const a = ipaddr.parse(ip);
      if (a.kind() !== 'ipv6' || (a as ipaddr.IPv6).isIPv4MappedAddress()) return null;
      if (parsedEx.some((n) => a.match(n))) return null;
      if (ip === '2001:db8:aa::1') return 'one-ip';
      const hits = parsedNets.filter((n) => a.match(n.net)).sort((x, y) => y.bits - x.bits);
      return hits[0]?.pool ?? null;
    };
    const rnd = mulberry32(42);
    const addrs: string[] = ['2001:db8:aa::1', '::ffff:192.0.2.1', '::ffff:c000:201', '::', '::1', 'fe80::1'];
    for (const [base, bits] of [...parsedNets.map((n) => n.net), ...parsedEx]) {
      for (let k = 0; k < 40; k++) {
        const b = base.toByteArray();
        // Vary the bits around the prefix boundary, inside and outside it.
        const flip = Math.max(0, Math.min(127, bits - 8 + Math.floor(rnd() * 24)));
        b[flip >> 3]! ^= 0x80 >> (flip & 7);
        for (let i = 15; i > (bits >> 3) + 1; i--) b[i] = Math.floor(rnd() * 256);
        addrs.push(ipaddr.fromByteArray(b).toString());
      }
    }
    for (let k = 0; k < 200; k++) addrs.push(ipaddr.fromByteArray(Array.from({ length: 16 }, () => Math.floor(rnd() * 256))).toString());
    let listed = 0;
    for (const ip of addrs) {
      const want = reference(ip);
      if (want) listed++;
      expect(idx.address(ip, 443)?.entry.pool ?? null, ip).toBe(want);
      expect(idx.excluded(ip), ip).toBe(ipaddr.parse(ip).kind() === 'ipv6' && !(ipaddr.parse(ip) as ipaddr.IPv6).isIPv4MappedAddress() && parsedEx.some((n) => ipaddr.parse(ip).match(n)));
    }
    // Both outcomes were exercised many times.
    expect(listed).toBeGreaterThan(100);
    expect(addrs.length - listed).toBeGreaterThan(200);
  });
});
