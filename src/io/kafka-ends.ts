/**
 * The end of each Kafka partition as a consumer sees it: the offset the next message produced will
 * get, up to which a `read_committed` consumer can read (the last stable offset; for producers that
 * do not use transactions, the high watermark). `consume` asks it before it cuts a segment other
 * than at a multiple of `--segment-messages` (src/cli/consume.ts says why).
 */
import { Admin, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import { KafkaError } from './kafka.js';

/** Time allowed for one ListOffsets request, connecting included. */
const ENDS_TIMEOUT_MS = 10_000;

/** Partition ends of one topic, over one admin connection kept for the reader's life. */
export class PartitionEnds {
  private readonly admin: Admin;

  constructor(
    private readonly brokers: string[],
    private readonly topic: string,
    clientId = 'minerwatch-ends',
  ) {
    this.admin = new Admin({ clientId, bootstrapBrokers: brokers, connectTimeout: ENDS_TIMEOUT_MS, requestTimeout: ENDS_TIMEOUT_MS, timeout: ENDS_TIMEOUT_MS, retries: 1, retryDelay: 250 });
  }

  /**
   * The end offset (next offset to be written, as a `read_committed` consumer sees it) of each of
   * `partitions`.
   * @throws KafkaError when the brokers do not answer within 10 s or refuse.
   */
  async ends(partitions: number[]): Promise<Map<number, bigint>> {
    if (partitions.length === 0) return new Map();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ENDS_TIMEOUT_MS / 1000} s`)), ENDS_TIMEOUT_MS);
    });
    try {
      const r = await Promise.race([
        this.admin.listOffsets({
          topics: [{ name: this.topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp: ListOffsetTimestamps.LATEST })) }],
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        }),
        late,
      ]);
      const out = new Map<number, bigint>();
      for (const t of r) if (t.name === this.topic) for (const p of t.partitions) out.set(p.partitionIndex, p.offset);
      return out;
    } catch (e) {
      throw new KafkaError(this.brokers.join(','), `reading the end offsets of topic ${this.topic}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.admin.close().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ENDS_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }
}
