/**
 * The report's name for a Kafka segment (src/consume.ts): an input whose path is
 * `kafka://TOPIC/PARTITION/FIRST-LAST`, the offsets of its first and last message.
 */

/** `kafka://TOPIC/PARTITION/FIRST-LAST`, the path of a segment's input. */
export function segmentPath(topic: string, partition: number, first: bigint, last: bigint): string {
  return `kafka://${topic}/${partition}/${first}-${last}`;
}

/** Parse a segment path; null when `path` is not one. */
export function parseSegmentPath(path: string): { topic: string; partition: number; first: bigint; last: bigint } | null {
  const m = /^kafka:\/\/(.+)\/(\d+)\/(\d+)-(\d+)$/.exec(path);
  return m ? { topic: m[1]!, partition: Number(m[2]), first: BigInt(m[3]!), last: BigInt(m[4]!) } : null;
}
