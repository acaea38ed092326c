/** Address text of decoded packets; the forms themselves are in src/ip.ts (one module for every path). */

import { formatIpv4, formatIpv6Words, ipv4ToIntFrom } from '../ip.js';

export { formatIpv4, formatIpv6Words };

/** The source address of a decoded packet as text (the exporter of an export datagram). */
export function packetSource(v: { ipVersion: number; src4: number; src6: number }, buf: Uint8Array): string {
  return v.ipVersion === 4 ? formatIpv4(v.src4 >>> 0) : formatIpv6Words(word(buf, v.src6), word(buf, v.src6 + 4), word(buf, v.src6 + 8), word(buf, v.src6 + 12));
}

function word(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/**
 * Parse IPv6 text (RFC 4291 §2.2: hex groups, one `::`, an optional trailing dotted IPv4) into four
 * big-endian 32-bit words written to `out[at..at+3]` (as int32). Returns false, leaving `out` in an
 * unspecified state, for anything else (zone suffixes, stray characters, too many groups).
 * Allocates nothing.
 */
export function parseIpv6Words(text: string, out: Int32Array, at: number): boolean {
  const n = text.length;
  if (n < 2 || n > 45) return false;
  // Groups before `::` go to the front, groups after it are collected and moved to the back.
  let groups = 0;
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
    if (i === n) {
      out[at] = out[at + 1] = out[at + 2] = out[at + 3] = 0;
      return true;
    }
  }
  const g = GROUPS;
  for (;;) {
    if (groups >= 8) return false;
    // An IPv4 tail takes the last two groups.
    let dot = false;
    for (let j = i; j < n && j < i + 16; j++) {
      const c = text.charCodeAt(j);
      if (c === 58) break;
      if (c === 46) {
        dot = true;
        break;
      }
    }
    if (dot) {
      if (groups > 6) return false;
      const v4 = ipv4ToIntFrom(text, i);
      if (v4 < 0) return false;
      g[groups++] = v4 >>> 16;
      g[groups++] = v4 & 0xffff;
      break;
    }
    let v = 0;
    let digits = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      if (++digits > 4) return false;
      v = (v << 4) | d;
      i++;
    }
    if (digits === 0) return false;
    g[groups++] = v;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = groups;
      i++;
      if (i === n) break;
    } else if (i === n) return false;
  }
  if (gap < 0 ? groups !== 8 : groups > 7) return false;
  // Widen the `::` into the zero groups it stands for.
  if (gap >= 0) {
    const tail = groups - gap;
    for (let k = tail - 1; k >= 0; k--) g[8 - tail + k] = g[gap + k]!;
    for (let k = gap; k < 8 - tail; k++) g[k] = 0;
  }
  for (let w = 0; w < 4; w++) out[at + w] = (g[w * 2]! << 16) | g[w * 2 + 1]!;
  return true;
}

const GROUPS = new Int32Array(8);


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
