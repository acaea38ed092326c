/**
 * Which end of a conversation is the server when its handshake was not seen (flow-export records,
 * captures that start mid-session). A well-known port (below 1024) is a server; else a port that a
 * service is known to listen on (the policy's pool ports: a pool on 45700 answers a miner whose own
 * ephemeral port, say 40012, is lower); else the lower port.
 */

/** A 65,536-entry bitmap of service ports, built once per rule set. */
export function servicePortSet(ports: Iterable<number>): Uint8Array {
  const set = new Uint8Array(65536);
  for (const p of ports) if (Number.isInteger(p) && p > 0 && p < 65536) set[p] = 1;
  return set;
}

/** True when the destination of a packet or record from `srcPort` to `dstPort` is the server. */
export function dstIsServer(srcPort: number, dstPort: number, service: Uint8Array | null | undefined): boolean {
  if (srcPort < 1024 !== dstPort < 1024) return dstPort < 1024;
  if (service) {
    const s = service[srcPort]!;
    const d = service[dstPort]!;
    if (s !== d) return d === 1;
  }
  return dstPort <= srcPort;
}
