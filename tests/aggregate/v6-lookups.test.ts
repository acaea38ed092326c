/**
 * Address lookups that read IPv6 (and dotted-quad) text without ipaddr: subscriber nets, the
 * subscriber directory and RADIUS-held prefixes answer, for addresses in and around every network's
 * boundary, IPv4-mapped forms included, what ipaddr's own CIDR match says they should.
 */
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { SubscriberDirectory } from '../../src/aggregate/directory.js';
import { parseRadiusCsv, RadiusIndex, radiusSessionsFromEvents } from '../../src/aggregate/radius.js';
import { parseSubscriberNets, SubscriberMap } from '../../src/aggregate/subscriber.js';
import { mulberry32 } from '../support/random.js';

/** Addresses near each network's prefix boundary (one bit flipped around it, the rest random), mapped forms and random ones. */
function around(cidrs: readonly string[], seed: number): string[] {
  const rnd = mulberry32(seed);
  // Dotted tails as well: ipaddr reads `::1.2.3.4` as the mapped `::ffff:1.2.3.4`, RFC 4291 as `::102:304`.
  const out = ['::ffff:192.0.2.1', '::ffff:c000:201', '::ffff:100.64.1.2', '::100.64.1.2', '::0.0.0.1', '0::1.2.3.4', '::0:100.64.1.2', '2001:db8:aa::1.2.3.4', '::', '::1', 'fe80::1', '100.64.1.2', '198.51.100.7'];
  for (const c of cidrs) {
    const [base, bits] = ipaddr.parseCIDR(c);
    for (let k = 0; k < 40; k++) {
      const b = base.toByteArray();
      const width = b.length * 8;
      const flip = Math.max(0, Math.min(width - 1, bits - 8 + Math.floor(rnd() * 24)));
      b[flip >> 3]! ^= 0x80 >> (flip & 7);
      for (let i = b.length - 1; i > (bits >> 3) + 1; i--) b[i] = Math.floor(rnd() * 256);
      out.push(ipaddr.fromByteArray(b).toString());
    }
  }
  for (let k = 0; k < 100; k++) out.push(ipaddr.fromByteArray(Array.from({ length: 16 }, () => Math.floor(rnd() * 256))).toString());
  return out;
}

const V6_NETS = ['2001:db8:ff::7/128', '2001:db8:aa::/48', '2001:db8:aa:100::/56', '2a0e::/15', '2a1e::/12', 'fd00:1:2:3:4:5:6:0/112', '::ffff:0:0/96'];

describe('IPv6 lookups without ipaddr', () => {
  it('subscriber nets: the longest net holding the client or server, as ipaddr.parse and match say (a mapped address stays IPv6)', () => {
    const cidrs = ['100.64.0.0/10', '100.64.1.0/24', '0.0.0.0/0', ...V6_NETS];
    const map = new SubscriberMap(parseSubscriberNets(cidrs));
    const nets = cidrs.map((c) => ipaddr.parseCIDR(c));
    const best = (ip: string): number => {
      // The subscriber nets took an address ipaddr cannot parse as in none.
      let a: ipaddr.IPv4 | ipaddr.IPv6;
      try {
        a = ipaddr.parse(ip);
      } catch {
        return -1;
      }
      return Math.max(-1, ...nets.filter(([n, b]) => n.kind() === a.kind() && (a as ipaddr.IPv4).match(n as ipaddr.IPv4, b)).map(([, b]) => b));
    };
    // Leading zeros: ipaddr reads `010` as octal and refuses `08`.
    const addrs = [...around(cidrs.filter((c) => c !== '0.0.0.0/0'), 7), '100.064.1.2', '198.51.100.7', '0100.64.1.2', '198.51.100.8', '08.1.2.3', '10.0.0.1', '100.64.01.2', '0.0.0.0'];
    let inNets = 0;
    for (let i = 0; i + 1 < addrs.length; i += 2) {
      const client = addrs[i]!;
      const server = addrs[i + 1]!;
      const c = best(client);
      const s = best(server);
      const want = c < 0 && s < 0 ? null : c >= s ? client : server;
      if (want !== null) inNets++;
      expect(map.subscriberOf(client, server), `${client} ${server}`).toBe(want);
    }
    expect(inNets).toBeGreaterThan(100);
    // A leading zero is octal to ipaddr: 100.064.1.2 is 100.52.1.2, outside 100.64.0.0/10.
    const cgnat = new SubscriberMap(parseSubscriberNets(['100.64.0.0/10']));
    expect(cgnat.subscriberOf('100.064.1.2', '203.0.113.1')).toBeNull();
    expect(cgnat.subscriberOf('100.64.1.2', '203.0.113.1')).toBe('100.64.1.2');
    expect(cgnat.subscriberOf('08.1.2.3', '100.64.0.9')).toBe('100.64.0.9');
  });

  it('the subscriber directory: the longest IPv6 prefix, and a mapped address looked up as its IPv4 address', () => {
    const lines = ['prefix,subscriber', '100.64.1.0/24,V4-NET', ...V6_NETS.filter((c) => !c.startsWith('::ffff')).map((c, i) => `${c},NET-${i}`)];
    const { directory, errors } = SubscriberDirectory.parse(`${lines.join('\n')}\n`);
    expect(errors).toEqual([]);
    const entries = lines.slice(1).map((l) => {
      const [c, sub] = l.split(',');
      return { net: ipaddr.parseCIDR(c!), sub: sub! };
    });
    const want = (ip: string): string | null => {
      const a = ipaddr.process(ip);
      const hits = entries.filter((e) => e.net[0].kind() === a.kind() && (a as ipaddr.IPv4).match(e.net as [ipaddr.IPv4, number])).sort((x, y) => y.net[1] - x.net[1]);
      return hits[0]?.sub ?? null;
    };
    let found = 0;
    for (const ip of around(V6_NETS, 11)) {
      const w = want(ip);
      if (w) found++;
      expect(directory!.lookup(ip)?.subscriber ?? null, ip).toBe(w);
    }
    expect(found).toBeGreaterThan(100);
    expect(directory!.lookup('::ffff:100.64.1.9')?.subscriber).toBe('V4-NET');
  });

  it('RADIUS: the session that held the IPv6 prefix at the time, and a mapped address looked up as its IPv4 address', () => {
    const held = ['2001:db8:aa::/48', '2a0e:8000::/17', 'fd00:1:2:3:4:5:6:0/112', '2001:db8:ff::7/128', '100.64.1.2/32'];
    const csv = ['time,event,account,session,address', ...held.map((p, i) => `1796428800,start,acct-${i},S${i},${p}`), ...held.map((p, i) => `1796432400,stop,acct-${i},S${i},${p}`)].join('\n');
    const parsed = parseRadiusCsv(`${csv}\n`, 'sessions.csv');
    expect(parsed.errors).toEqual([]);
    const idx = new RadiusIndex(radiusSessionsFromEvents(parsed.events).sessions);
    const nets = held.map((p, i) => ({ net: ipaddr.parseCIDR(p), account: `acct-${i}` }));
    const at = 1796428800_000 + 600_000;
    let mapped = 0;
    for (const ip of [...around(held, 13), '::ffff:100.64.1.2', '2001:db8:ff::7']) {
      const a = ipaddr.process(ip);
      const hit = nets.find((n) => n.net[0].kind() === a.kind() && (a as ipaddr.IPv4).match(n.net as [ipaddr.IPv4, number]));
      const r = idx.lookup(ip, at);
      if (hit) {
        mapped++;
        expect(r?.status, ip).toBe('mapped');
        expect(r?.status === 'mapped' ? r.session.account : null, ip).toBe(hit.account);
      } else expect(r, ip).toBeNull();
    }
    expect(mapped).toBeGreaterThan(60);
  });
});
