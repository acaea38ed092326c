/** Address helpers shared by the stages (no allocation on the paths that run per record). */

/** Dotted-quad IPv4 to an unsigned 32-bit number, or -1 when it is not one (no allocation). */
export function ipv4ToInt(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
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

/**
 * {@link ipv4ToInt} of a dotted quad written without leading zeros, else -1: the form every reader
 * takes the same way (ipaddr.js reads `010.1.1.1` as octal, 8.1.1.1).
 */
export function canonicalIpv4ToInt(s: string): number {
  const n = ipv4ToInt(s);
  if (n < 0) return -1;
  for (let i = 0; i + 1 < s.length; i++) {
    if (s.charCodeAt(i) === 0x30 && (i === 0 || s.charCodeAt(i - 1) === 0x2e) && s.charCodeAt(i + 1) !== 0x2e) return -1;
  }
  return n;
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

/**
 * Parse IPv6 text (RFC 4291 §2.2: groups of up to four hex digits, one `::`, an optional dotted
 * IPv4 tail) into `out[0, 16)`. No regular expressions, no allocation; false when it is not one.
 */
export function parseIpv6Text(s: string, out: Uint8Array): boolean {
  const len = s.length;
  if (len < 2 || len > 45) return false;
  let groups = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === len) {
      out.fill(0, 0, 16);
      return true;
    }
  }
  while (i < len) {
    if (groups === 8) return false;
    // A dotted IPv4 tail takes the last two groups.
    let j = i;
    let value = 0;
    let digits = 0;
    let dotted = false;
    for (; j < len; j++) {
      const c = s.charCodeAt(j);
      const h = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c === 0x2e ? -2 : -1;
      if (h === -2) {
        dotted = true;
        break;
      }
      if (h < 0) break;
      value = value * 16 + h;
      if (++digits > 4) return false;
    }
    if (dotted) {
      if (groups > 6) return false;
      let part = 0;
      let partDigits = 0;
      let dots = 0;
      let p = groups * 2;
      for (j = i; j < len; j++) {
        const c = s.charCodeAt(j);
        if (c === 0x2e) {
          if (partDigits === 0 || ++dots > 3) return false;
          out[p++] = part;
          part = 0;
          partDigits = 0;
        } else if (c >= 0x30 && c <= 0x39) {
          part = part * 10 + c - 0x30;
          if (++partDigits > 3 || part > 255) return false;
        } else return false;
      }
      if (dots !== 3 || partDigits === 0) return false;
      out[p] = part;
      groups += 2;
      break;
    }
    if (digits === 0) return false;
    out[groups * 2] = value >> 8;
    out[groups * 2 + 1] = value & 255;
    groups++;
    if (j === len) break;
    if (s.charCodeAt(j) !== 0x3a) return false;
    if (j + 1 < len && s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return false;
      gap = groups;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === len) return false;
    }
  }
  if (gap < 0) return groups === 8;
  if (groups > 7) return false;
  // Move the groups after the gap to the end and zero the gap.
  const tail = (groups - gap) * 2;
  out.copyWithin(16 - tail, gap * 2, groups * 2);
  out.fill(0, gap * 2, 16 - tail);
  return true;
}

/** The address forms {@link canonicalAddress} reads, for messages that say what was expected. */
export const ADDRESS_FORMS = 'an IPv4 address as four decimal parts without leading zeros (198.51.100.7) or an IPv6 address (2001:db8::1, no zone index)';

const TEXT_BYTES = new Uint8Array(16);

/**
 * The 16 bytes of address text into `out` (IPv4 as its IPv4-mapped IPv6 form, RFC 4291 §2.5.5.2):
 * 4 for IPv4, 6 for IPv6, 0 when it is not an address in a form every reader takes the same way.
 * IPv4 is four decimal parts without leading zeros (ipaddr.js and inet_aton read `010.1.1.1` as
 * octal, 8.1.1.1, and `1.2.3` as 1.2.0.3); IPv6 is RFC 4291 §2.2 text, a dotted tail read as
 * RFC 4291 reads it (`::1.2.3.4` is ::102:304, not ::ffff:1.2.3.4) and no zone index (no flow,
 * export record or DNS answer carries one).
 */
export function parseAddressBytes(s: string, out: Uint8Array): 0 | 4 | 6 {
  const n = canonicalIpv4ToInt(s);
  if (n >= 0) {
    out.fill(0, 0, 10);
    out[10] = out[11] = 0xff;
    out[12] = n >>> 24;
    out[13] = (n >>> 16) & 255;
    out[14] = (n >>> 8) & 255;
    out[15] = n & 255;
    return 4;
  }
  return s.includes(':') && parseIpv6Text(s, out) ? 6 : 0;
}

/**
 * Address text in the one form every path writes (dotted quad; RFC 5952 IPv6; an IPv4-mapped
 * address as its IPv4 host), or null when `s` is not one in the forms {@link parseAddressBytes}
 * reads. Every file, list and argument that names an address is read through this or
 * src/io/csv.ts readAddress, so the same text is the same host on every path.
 */
export function canonicalAddress(s: string): string | null {
  return parseAddressBytes(s, TEXT_BYTES) === 0 ? null : formatIpv6(TEXT_BYTES);
}

/**
 * `addr:port` for an endpoint, with an IPv6 address in brackets (`[2001:db8::1]:8008`, RFC 3986
 * §3.2.2) so the port cannot be read as the last group. Every verdict, report column and explain
 * line that names an endpoint writes it this way.
 */
export function endpointText(addr: string, port: number | string): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}
