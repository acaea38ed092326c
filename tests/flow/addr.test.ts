/** One text form per address on every path: RFC 5952 IPv6, IPv4-mapped as plain IPv4. Checked against ipaddr.js. */
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { formatIpv6 as dnsFormat } from '../../src/decode/dns.js';
import { formatIpv6Words } from '../../src/flow/addr.js';
import { formatIpv6 } from '../../src/ip.js';
import { mulberry32 } from '../support/random.js';

/** What ipaddr.js says the text of these 16 bytes is (the IPv4 host for a mapped address). */
function oracle(bytes: number[]): string {
  const a = ipaddr.IPv6.parse(ipaddr.fromByteArray(bytes).toString());
  return a.isIPv4MappedAddress() ? a.toIPv4Address().toString() : a.toString();
}

const words = (b: number[]): [number, number, number, number] => [0, 4, 8, 12].map((p) => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0) as [number, number, number, number];

describe('address text', () => {
  it('packet, export and DNS paths write every address alike, IPv4-mapped as plain IPv4', () => {
    const rnd = mulberry32(5952);
    const cases: number[][] = [
      [...new Array(10).fill(0), 0xff, 0xff, 1, 2, 3, 4],
      [...new Array(10).fill(0), 0xff, 0xff, 100, 64, 0, 13],
      [...new Array(15).fill(0), 1],
      new Array(16).fill(0),
      [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1],
      // Not mapped: ::ffff:0:a.b.c.d (IPv4-translated) and ::a.b.c.d (compatible) stay IPv6.
      [...new Array(8).fill(0), 0xff, 0xff, 0, 0, 1, 2, 3, 4],
      [...new Array(12).fill(0), 1, 2, 3, 4],
    ];
    for (let i = 0; i < 3000; i++) {
      const b = Array.from({ length: 16 }, (_, k) => (rnd() < 0.4 && k < 12 ? 0 : Math.floor(rnd() * 256)));
      if (rnd() < 0.2) b.splice(0, 12, ...new Array(10).fill(0), 0xff, 0xff);
      cases.push(b);
    }
    for (const b of cases) {
      const want = oracle(b);
      expect(formatIpv6(Uint8Array.from(b)), want).toBe(want);
      expect(dnsFormat(Uint8Array.from(b)), want).toBe(want);
      expect(formatIpv6Words(...words(b)), want).toBe(want);
    }
  });
});
