/** Address text of decoded packets; the forms themselves are in src/ip.ts (one module for every path). */

import { formatIpv4, formatIpv6Words, parseIpv6Text } from '../ip.js';

export { formatIpv4, formatIpv6Words };

/** The source address of a decoded packet as text (the exporter of an export datagram). */
export function packetSource(v: { ipVersion: number; src4: number; src6: number }, buf: Uint8Array): string {
  // Remembered: an export datagram's exporter is one of a few, and its text is made per datagram.
  return v.ipVersion === 4 ? SOURCES.ipv4(v.src4) : SOURCES.ipv6(word(buf, v.src6), word(buf, v.src6 + 4), word(buf, v.src6 + 8), word(buf, v.src6 + 12));
}

function word(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/**
 * IPv6 text, as {@link parseIpv6Text} reads it, as four big-endian 32-bit words written to
 * `out[at..at+3]` (as int32), the flow table's key form. False, leaving `out` as it was, for
 * anything else. Allocates nothing.
 */
export function parseIpv6Words(text: string, out: Int32Array, at: number): boolean {
  const b = IPV6_BYTES;
  if (!parseIpv6Text(text, b)) return false;
  for (let w = 0; w < 4; w++) out[at + w] = (b[w * 4]! << 24) | (b[w * 4 + 1]! << 16) | (b[w * 4 + 2]! << 8) | b[w * 4 + 3]!;
  return true;
}

const IPV6_BYTES = new Uint8Array(16);

/**
 * Address text by value, remembered: flows of one host share one string instead of each formatting
 * its own. Direct-mapped on a hash of the address; a collision just formats again.
 */
export class AddressNames {
  private readonly v4Keys = new Int32Array(4096);
  private readonly v4Names: string[] = new Array<string>(4096).fill('');
  private readonly v6Keys = new Int32Array(4096 * 4);
  private readonly v6Names: string[] = new Array<string>(4096).fill('');

  /** Text of the IPv4 address `a` (any 32-bit number). */
  ipv4(a: number): string {
    const i = (Math.imul(a | 0, 0x9e3779b1) >>> 20) & 4095;
    const s = this.v4Names[i]!;
    if (s !== '' && this.v4Keys[i] === (a | 0)) return s;
    const t = formatIpv4(a >>> 0);
    this.v4Keys[i] = a | 0;
    this.v4Names[i] = t;
    return t;
  }

  /** Text of the IPv6 address in four big-endian words. */
  ipv6(w0: number, w1: number, w2: number, w3: number): string {
    const i = (Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 0x9e3779b1), 0x85ebca6b) >>> 20) & 4095;
    const k = this.v6Keys;
    const o = i * 4;
    const s = this.v6Names[i]!;
    if (s !== '' && k[o] === (w0 | 0) && k[o + 1] === (w1 | 0) && k[o + 2] === (w2 | 0) && k[o + 3] === (w3 | 0)) return s;
    const t = formatIpv6Words(w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0);
    k[o] = w0 | 0;
    k[o + 1] = w1 | 0;
    k[o + 2] = w2 | 0;
    k[o + 3] = w3 | 0;
    this.v6Names[i] = t;
    return t;
  }
}

/** The texts of packet sources (export datagrams' exporters). */
const SOURCES = new AddressNames();
