/** Address text forms: IPv4 dotted quad, IPv6 per RFC 5952 (lower case, longest zero run compressed). */

export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** IPv6 from four big-endian 32-bit words. @see RFC 5952 section 4 */
export function formatIpv6Words(w0: number, w1: number, w2: number, w3: number): string {
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  // IPv4-mapped addresses keep the dotted form.
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return `::ffff:${formatIpv4(w3 >>> 0)}`;
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
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/** The source address of a decoded packet as text (the exporter of an export datagram). */
export function packetSource(v: { ipVersion: number; src4: number; src6: number }, buf: Uint8Array): string {
  return v.ipVersion === 4 ? formatIpv4(v.src4 >>> 0) : formatIpv6Words(word(buf, v.src6), word(buf, v.src6 + 4), word(buf, v.src6 + 8), word(buf, v.src6 + 12));
}

function word(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}
