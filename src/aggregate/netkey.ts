/** Keys of an address's network at a prefix length, for the longest-prefix maps of the directory and the RADIUS index. */
import ipaddr from 'ipaddr.js';

/** IPv4 netmasks by prefix length (0..32), as signed 32-bit numbers to `&` with an address. */
export const IPV4_MASKS: Int32Array = Int32Array.from({ length: 33 }, (_, b) => (b === 0 ? 0 : (-1 << (32 - b)) | 0));

/** The network of an IPv6 address at a prefix length: its bytes past the prefix cleared, dot-joined. */
export function ipv6NetKey(a: ipaddr.IPv6, bits: number): string {
  const b = a.toByteArray();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    b[i] = b[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return b.join('.');
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
