/** Keys of an address's network at a prefix length, for the longest-prefix maps of the directory and the RADIUS index. */
import ipaddr from '../ipaddr.js';
import { formatIpv4, parseIpv6Text } from '../ip.js';

/** IPv4 netmasks by prefix length (0..32), as signed 32-bit numbers to `&` with an address. */
export const IPV4_MASKS: Int32Array = Int32Array.from({ length: 33 }, (_, b) => (b === 0 ? 0 : (-1 << (32 - b)) | 0));

/** The network of an IPv6 address at a prefix length: its bytes past the prefix cleared, dot-joined. */
export function ipv6NetKey(a: ipaddr.IPv6, bits: number): string {
  return ipv6BytesKey(a.toByteArray(), bits);
}

/** {@link ipv6NetKey} of an address given as its 16 bytes. */
export function ipv6BytesKey(b: ArrayLike<number>, bits: number): string {
  let out = '';
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out += `${i ? '.' : ''}${b[i]! & ((0xff << (8 - keep)) & 0xff)}`;
  }
  return out;
}

/**
 * IPv6 text read for a lookup into `out` (16 bytes) without ipaddr's regular expressions: 1 for an
 * IPv6 address, 0 for an IPv4-mapped one (its IPv4 address in `out[12..16)`; ipaddr.process makes
 * it IPv4), -1 for text to parse with ipaddr as before: a zone index, and any dotted IPv4 tail
 * (ipaddr reads `::1.2.3.4` as `::ffff:1.2.3.4`, RFC 4291's reading is `::102:304`). Addresses a
 * flow carries are canonical text, which has neither.
 */
export function parseLookupV6(ip: string, out: Uint8Array): number {
  if (ip.indexOf('.') >= 0 || !parseIpv6Text(ip, out)) return -1;
  for (let i = 0; i < 10; i++) if (out[i] !== 0) return 1;
  return out[10] === 0xff && out[11] === 0xff ? 0 : 1;
}

/** The dotted-quad text of the IPv4 address in an IPv4-mapped address's bytes (`b[12..16)`). */
export function mappedIpv4Text(b: Uint8Array): string {
  return formatIpv4(((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0);
}

/** Does `b` (16 bytes) lie in the IPv6 network `net` (16 bytes) of `bits` prefix bits? */
export function inIpv6Net(b: ArrayLike<number>, net: ArrayLike<number>, bits: number): boolean {
  for (let i = 0; i < 16 && bits > i * 8; i++) {
    const keep = Math.min(8, bits - i * 8);
    const m = (0xff << (8 - keep)) & 0xff;
    if ((b[i]! & m) !== (net[i]! & m)) return false;
  }
  return true;
}

/**
 * A flow's address text that is not a dotted quad, parsed (an IPv4-mapped IPv6 address becomes its
 * IPv4 address), or null when it is not an address: such a flow matches no entry.
 */
export function parseLookupAddress(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(ip);
  } catch {
    return null;
  }
}
