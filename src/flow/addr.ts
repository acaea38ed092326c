/** Address text of decoded packets; the forms themselves are in src/ip.ts (one module for every path). */

import { formatIpv4, formatIpv6Words } from '../ip.js';

export { formatIpv4, formatIpv6Words };

/** The source address of a decoded packet as text (the exporter of an export datagram). */
export function packetSource(v: { ipVersion: number; src4: number; src6: number }, buf: Uint8Array): string {
  return v.ipVersion === 4 ? formatIpv4(v.src4 >>> 0) : formatIpv6Words(word(buf, v.src6), word(buf, v.src6 + 4), word(buf, v.src6 + 8), word(buf, v.src6 + 12));
}

function word(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}
