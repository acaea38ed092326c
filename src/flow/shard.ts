/**
 * Which worker of a sharded scan owns a flow. The owner is chosen from the flow's key alone, the
 * same way for both directions of a conversation and for every exporter's record of it: the
 * subscriber side's network (/24 for IPv4, /64 for IPv6), where the subscriber side is the end with
 * the higher port (clients take ephemeral ports, services listen on low ones), or end A of the key
 * when the ports are equal. So all of a client network's flows meet in one worker, as do both
 * halves of every flow.
 */

/** Which shards a table keeps: shard `index` of `count` (count 1: everything). */
export interface Shard {
  index: number;
  count: number;
}

/** Mix 32 bits (a murmur3-style finaliser), so nearby networks spread over the shards. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return x ^ (x >>> 16);
}

/**
 * The shard of a flow key as the flow table lays it out: addresses A in `k[0..3]` and B in
 * `k[4..7]` (IPv4 in `k[0]`/`k[4]`), ports `A << 16 | B` in `k[8]`, IP version in the low byte of `k[9]`.
 */
export function shardOfKey(k: Int32Array, count: number): number {
  const pa = k[8]! >>> 16;
  const pb = k[8]! & 0xffff;
  const o = pb > pa ? 4 : 0;
  const h = (k[9]! & 0xff) === 6 ? mix(k[o]! ^ mix(k[o + 1]!)) : mix(k[o]! >>> 8);
  return (h >>> 0) % count;
}
