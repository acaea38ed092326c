/** Address helpers shared by the stages (no allocation on the paths that run per record). */

/** Dotted-quad IPv4 to an unsigned 32-bit number, or -1 when it is not one (no allocation). */
export function ipv4ToInt(s: string): number {
  return ipv4ToIntFrom(s, 0);
}

/** The dotted-quad IPv4 that ends `s` from index `from` (the tail of `::ffff:a.b.c.d`), as {@link ipv4ToInt}. */
export function ipv4ToIntFrom(s: string, from: number): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}


/** Dotted-quad text of an unsigned 32-bit IPv4 address. */
export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * IPv6 text from four big-endian 32-bit words, per RFC 5952 §4 (lower case, no leading zeros, the
 * first longest run of two or more zero groups as `::`). An IPv4-mapped address (`::ffff:a.b.c.d`,
 * RFC 4291 §2.5.5.2) is the IPv4 host it maps and is written as plain IPv4, so one host has one
 * text form whichever path (packets, flow exports, DNS answers, logs) saw it.
 */
export function formatIpv6Words(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return formatIpv4(w3 >>> 0);
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** IPv6 text of the 16 bytes at `off` (missing bytes read as 0), as {@link formatIpv6Words}. */
export function formatIpv6(bytes: Uint8Array, off = 0): string {
  const w = (p: number): number => (((bytes[p] ?? 0) << 24) | ((bytes[p + 1] ?? 0) << 16) | ((bytes[p + 2] ?? 0) << 8) | (bytes[p + 3] ?? 0)) >>> 0;
  return formatIpv6Words(w(off), w(off + 4), w(off + 8), w(off + 12));
}
