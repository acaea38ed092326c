/**
 * Apache Kafka, through @platformatic/kafka: a keyed producer, a consumer-group member that hands
 * out bounded per-partition batches and commits only when told, and topic creation. Every call is
 * bounded in time, and every failure becomes a {@link KafkaError} that names the bootstrap address
 * and what was being done.
 */
import {
  Admin,
  compatibilityPartitioner,
  Consumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  UserError,
  type Message,
  type MessagesStream,
} from '@platformatic/kafka';
import { InputError, UsageError } from '../errors.js';

/** One record read from a partition. */
export interface KafkaMessage {
  topic: string;
  partition: number;
  offset: bigint;
  key: Uint8Array | null;
  value: Uint8Array;
}

export interface PartitionRef {
  topic: string;
  partition: number;
}

/** What a {@link GroupConsumer} calls while it runs. */
export interface GroupHandlers {
  /** Messages of ONE partition in offset order (a bounded batch). Resolve when processed; nothing is committed by the wrapper. */
  batch(msgs: KafkaMessage[]): Promise<void> | void;
  /** Partitions given to this member. */
  assigned?(parts: PartitionRef[]): Promise<void> | void;
  /**
   * Partitions about to be taken away. Called once before each new assignment: when the broker
   * announces a rebalance (before the new assignment is known), or else as the new assignment
   * arrives. The client rejoins meanwhile, so a commit made here can be refused as stale (its
   * messages are then delivered again to the next owner: at-least-once). Nothing fetched before it
   * is handed out after it.
   */
  revoked?(parts: PartitionRef[]): Promise<void> | void;
}

/** A broker that could not be reached or refused a request: exit status 1, as an unreadable input. */
export class KafkaError extends InputError {
  constructor(bootstrap: string, message: string) {
    super(`kafka ${bootstrap}`, 0, message);
    this.message = `kafka ${bootstrap}: ${message}`;
  }
}

/** Time allowed to connect and get metadata, to join a group, and for one send to be acknowledged. */
export const KAFKA_TIMEOUTS = { requestMs: 15_000, joinMs: 60_000, sendMs: 60_000, closeMs: 15_000 };

/** `host:port` entries, checked; the text as given for messages. */
export function parseBrokers(list: string[] | string): string[] {
  const items = (Array.isArray(list) ? list : [list]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError('--brokers expects host:port[,host:port…], got nothing');
  for (const b of items) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--brokers: ${JSON.stringify(b)} is not host:port (e.g. 127.0.0.1:9092)`);
  }
  return items;
}

/** The library's errors carry their causes in `errors[]` (PLT_KFK_MULTIPLE): say the innermost ones. */
function describe(e: unknown): string {
  const seen = new Set<string>();
  const walk = (x: unknown, depth: number): void => {
    if (depth > 4 || x === null || typeof x !== 'object') {
      if (x !== undefined && x !== null && typeof x !== 'object') seen.add(String(x));
      return;
    }
    const err = x as { message?: string; errors?: unknown[]; cause?: unknown; code?: string };
    const inner = [...(Array.isArray(err.errors) ? err.errors : []), ...(err.cause ? [err.cause] : [])];
    if (inner.length === 0 || depth === 4) seen.add(err.message ?? String(x));
    for (const i of inner) walk(i, depth + 1);
  };
  walk(e, 0);
  return [...seen].slice(0, 3).join('; ') || 'unknown error';
}

function fail(brokers: string[], doing: string, e: unknown): KafkaError {
  if (e instanceof KafkaError) return e;
  // The client's own error stays reachable (what a failed send had written yet: `produced`).
  return Object.assign(new KafkaError(brokers.join(','), `${doing}: ${describe(e)}`), { cause: e });
}

/**
 * A failure of the cluster's reachability, not of the request: a broker gone (refused, reset,
 * closed), no answer in time, leadership or the group coordinator moving. Worth trying again over
 * fresh metadata while another broker can take over.
 */
export function transientKafkaError(e: unknown): boolean {
  const raw = (e as { cause?: unknown } | null)?.cause ?? e;
  const g = raw as { findBy?: (property: string, value: unknown) => unknown } | null;
  if (g && typeof g.findBy === 'function')
    return Boolean(g.findBy('code', 'PLT_KFK_NETWORK') ?? g.findBy('code', 'PLT_KFK_TIMEOUT') ?? g.findBy('hasStaleMetadata', true));
  return e instanceof KafkaError && /no answer within|ECONNREFUSED|ECONNRESET|Connection closed/.test(e.message);
}

/** `p`, or a {@link KafkaError} after `ms`. */
async function within<T>(p: Promise<T>, ms: number, brokers: string[], doing: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KafkaError(brokers.join(','), `${doing}: no answer within ${Math.round(ms / 1000)} s (is a Kafka broker listening there?)`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } catch (e) {
    throw fail(brokers, doing, e);
  } finally {
    clearTimeout(timer);
  }
}

function asBuffer(v: Uint8Array | string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

const baseOptions = (brokers: string[], clientId: string) => ({
  clientId,
  bootstrapBrokers: brokers,
  connectTimeout: 10_000,
  requestTimeout: KAFKA_TIMEOUTS.requestMs,
  timeout: KAFKA_TIMEOUTS.requestMs,
  retries: 3,
  retryDelay: 500,
});

/**
 * Create `topic` with `partitions` partitions (replication: up to 3, never more than the brokers),
 * unless it exists; either way, wait until it has a leader for every partition.
 * @throws KafkaError when the brokers cannot be reached or refuse; UsageError when it exists with fewer partitions.
 */
export async function ensureTopic(brokers: string[], topic: string, partitions: number): Promise<void> {
  const admin = new Admin(baseOptions(brokers, 'minerwatch-admin'));
  try {
    const meta = await within(admin.metadata({ topics: [] }), KAFKA_TIMEOUTS.requestMs, brokers, 'connecting');
    const replicas = Math.min(3, meta.brokers.size);
    try {
      await within(admin.createTopics({ topics: [topic], partitions, replicas }), KAFKA_TIMEOUTS.requestMs, brokers, `creating topic ${topic}`);
    } catch (e) {
      if (!/already exists/i.test((e as Error).message)) throw e;
    }
    const deadline = Date.now() + KAFKA_TIMEOUTS.requestMs;
    for (;;) {
      let t;
      try {
        t = (await within(admin.metadata({ topics: [topic], forceUpdate: true }), KAFKA_TIMEOUTS.requestMs, brokers, `reading topic ${topic}`)).topics.get(topic);
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
      if (t && t.partitionsCount < partitions)
        throw new UsageError(`kafka ${brokers.join(',')}: topic ${topic} exists with ${t.partitionsCount} partition(s), fewer than the ${partitions} asked for`);
      if (t && t.partitions.every((p) => p.leader >= 0)) return;
      if (Date.now() > deadline) throw new KafkaError(brokers.join(','), `topic ${topic}: partitions without a leader after ${KAFKA_TIMEOUTS.requestMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/**
 * Bytes of keys and values in one produce request: under a broker's default `message.max.bytes`
 * (1 MiB) with room for the record batch's own overhead.
 */
export const KAFKA_REQUEST_BYTES = 900 * 1024;

/** A message's share of a request: key, value and a record's framing (varints, headers count). */
function recordBytes(m: { key: Buffer | undefined; value: Buffer }): number {
  return (m.key?.length ?? 0) + m.value.length + 32;
}

/**
 * A keyed producer: acks from all in-sync replicas, keys placed by Java's murmur2 partitioner.
 * Idempotent (the broker drops a batch it already wrote when it comes again), so a send that failed
 * part-way (a broker gone, leadership moving) is sent again, for the partitions not yet
 * acknowledged, over fresh metadata, until {@link KAFKA_TIMEOUTS.sendMs} has passed: nothing is
 * lost and nothing written twice when a broker of the cluster fails.
 */
export class KafkaProducer {
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  private readonly brokers: string[];
  private readonly compression: 'none' | 'gzip' | 'snappy' | 'lz4';
  /** Partitions per topic, as the metadata said when first asked. */
  private readonly partitions = new Map<string, number>();
  /** Messages without a key go round the partitions. */
  private roundRobin = 0;

  constructor(opts: { brokers: string[]; clientId?: string; compression?: 'none' | 'gzip' | 'snappy' | 'lz4' }) {
    this.brokers = opts.brokers;
    this.compression = opts.compression ?? 'none';
    this.producer = new Producer({
      ...baseOptions(opts.brokers, opts.clientId ?? 'minerwatch'),
      acks: ProduceAcks.ALL,
      idempotent: true,
      autocreateTopics: false,
      // The library's default partitioner takes murmur2 >>> 0; Java's masks the sign bit (& 0x7fffffff),
      // which puts a key on another partition whenever the hash is negative.
      partitioner: compatibilityPartitioner,
    });
  }

  /**
   * Send keyed messages, in order; resolves when the broker acknowledged them all. They go in
   * requests of at most {@link KAFKA_REQUEST_BYTES} of keys and values (a broker refuses a record
   * batch above its `message.max.bytes`, 1 MiB by default), each one request per partition leader;
   * a request is sent once the one before it was acknowledged, so a partition's messages keep
   * their order. A single message above the limit goes alone, and the broker's refusal names it.
   */
  async send(topic: string, msgs: Array<{ key: Uint8Array | string | null; value: Uint8Array | string }>): Promise<void> {
    if (msgs.length === 0) return;
    let count = this.partitions.get(topic);
    if (count === undefined) {
      const meta = await within(this.producer.metadata({ topics: [topic] }), KAFKA_TIMEOUTS.requestMs, this.brokers, `reading the metadata of topic ${topic}`);
      count = Math.max(1, meta.topics.get(topic)?.partitionsCount ?? 1);
      this.partitions.set(topic, count);
    }
    // Each message's partition is fixed here, so a message sent again goes where it went first.
    const all = msgs.map((m) => {
      const key = m.key === null ? undefined : asBuffer(m.key);
      const partition = (key ? compatibilityPartitioner(undefined as never, key) : this.roundRobin++) % count;
      return { topic, key, value: asBuffer(m.value), partition };
    });
    for (let from = 0; from < all.length; ) {
      let to = from;
      for (let bytes = 0; to < all.length && (to === from || bytes + recordBytes(all[to]!) <= KAFKA_REQUEST_BYTES); to++) bytes += recordBytes(all[to]!);
      await this.request(topic, all.slice(from, to), from, all.length);
      from = to;
    }
  }

  /** One produce request, sent again (the partitions not yet written) until acknowledged or the send timeout. */
  private async request(topic: string, part: Array<{ topic: string; key: Buffer | undefined; value: Buffer; partition: number }>, at: number, total: number): Promise<void> {
    const doing = `sending ${total > part.length ? `messages ${at + 1}-${at + part.length} of ${total}` : `${total} message(s)`} to topic ${topic}`;
    const deadline = Date.now() + KAFKA_TIMEOUTS.sendMs;
    let pending = part;
    for (;;) {
      try {
        await within(
          this.producer.send({ messages: pending, ...(this.compression === 'none' ? {} : { compression: this.compression }) }),
          Math.max(1_000, deadline - Date.now()),
          this.brokers,
          doing,
        );
        return;
      } catch (e) {
        const raw = (e as { cause?: unknown }).cause ?? e;
        if (Date.now() >= deadline || raw instanceof UserError) throw fail(this.brokers, doing, e);
        const written = new Set(((raw as { produced?: { offsets?: Array<{ partition: number }> } }).produced?.offsets ?? []).map((o) => o.partition));
        pending = pending.filter((m) => !written.has(m.partition));
        this.producer.clearMetadata();
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async close(): Promise<void> {
    await within(this.producer.close(), KAFKA_TIMEOUTS.closeMs, this.brokers, 'closing the producer').catch(() => undefined);
  }
}

/**
 * One member of a consumer group on one topic. Messages are prefetched in small amounts
 * (`maxBatchMessages`, `maxBytes`) and handed out per partition in offset order. After a rebalance the
 * client reads every assigned partition again from its committed offset (the earliest where none),
 * so messages delivered but not committed come again: deduplicate by (partition, offset) where it
 * matters.
 */
export class GroupConsumer {
  private readonly consumer: Consumer<Buffer, Buffer, Buffer, Buffer>;
  private readonly opts: { brokers: string[]; group: string; topic: string; maxBatchMessages: number };
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null;
  private readonly epochs = new Map<number, number>();
  private owned: PartitionRef[] = [];
  private closing = false;
  private readonly sessionTimeoutMs: number;
  private stopRun: (() => void) | null = null;
  private running: Promise<void> = Promise.resolve();
  private inHandler = false;
  /** Removes the process hook {@link run} sets for the client's lost-coordinator failure. */
  private unhook: (() => void) | null = null;
  private readonly retiring = new Set<Promise<unknown>>();

  constructor(opts: { brokers: string[]; group: string; topic: string; clientId?: string; maxBatchMessages?: number; maxBytes?: number; sessionTimeoutMs?: number }) {
    const maxBatchMessages = opts.maxBatchMessages ?? 500;
    const maxBytes = opts.maxBytes ?? 1 << 20;
    const sessionTimeout = opts.sessionTimeoutMs ?? 10_000;
    this.sessionTimeoutMs = sessionTimeout;
    this.opts = { brokers: opts.brokers, group: opts.group, topic: opts.topic, maxBatchMessages };
    this.consumer = new Consumer({
      ...baseOptions(opts.brokers, opts.clientId ?? 'minerwatch'),
      groupId: opts.group,
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 3)),
      rebalanceTimeout: KAFKA_TIMEOUTS.joinMs,
      maxWaitTime: 500,
      maxBytes,
      maxBytesPerPartition: maxBytes,
      highWaterMark: maxBatchMessages,
    });
  }

  /** Join the group and deliver batches until {@link close}; from the committed offsets, or the earliest when none. */
  async run(h: GroupHandlers): Promise<void> {
    const { brokers, topic, group, maxBatchMessages } = this.opts;
    const c = this.consumer;
    const pending = new Map<number, KafkaMessage[]>();
    let buffered = 0;
    let failure: unknown = null;
    let chain = Promise.resolve();
    // Handler calls run one at a time, in order; the first failure ends the run.
    const enqueue = (fn: () => unknown): void => {
      chain = chain
        .then(async () => {
          if (failure !== null) return;
          this.inHandler = true;
          try {
            await fn();
          } finally {
            this.inHandler = false;
          }
        })
        .catch((e: unknown) => {
          failure ??= e;
          this.stopRun?.();
        });
      this.running = chain;
    };
    const stopped = new Promise<void>((resolve) => (this.stopRun = resolve));
    // Messages are handed out only from the stream of the current assignment: `current` names it,
    // and anything a stream fetched before a rebalance was announced is dropped (its partitions'
    // open work is revoked, and they are read again from the commit).
    let generation = 0;
    let current = 0;
    let revokedSinceJoin = false;
    const dropPending = (): void => {
      pending.clear();
      buffered = 0;
    };
    const flush = (): void => {
      if (buffered === 0) return;
      const batches = [...pending.values()];
      dropPending();
      const s = this.stream!;
      s.pause();
      for (const b of batches) enqueue(() => h.batch(b));
      enqueue(() => {
        if (!this.closing && s === this.stream && !s.destroyed) s.resume();
      });
    };
    const revoke = (): void => {
      revokedSinceJoin = true;
      current = -1;
      dropPending();
      const parts = this.owned;
      if (parts.length) enqueue(() => h.revoked?.(parts));
    };
    type Stream = MessagesStream<Buffer, Buffer, Buffer, Buffer>;
    // A stream's error listener goes on as it is made: one made as the client closes fails at once,
    // and an error nobody listens to would end the process.
    const open = (doing: string): Promise<Stream> =>
      within(
        new Promise<Stream>((resolve, reject) => {
          c.consume({ topics: [topic], autocommit: false, mode: MessagesStreamModes.COMMITTED, fallbackMode: MessagesStreamFallbackModes.EARLIEST }, (e, s) => {
            if (e || !s) {
              reject(e ?? new Error('no stream'));
              return;
            }
            s.on('error', (err: unknown) => {
              const error = fail(brokers, `consuming topic ${topic} in group ${group}`, err);
              // Errors of a stream that no longer delivers are not the run's; one not yet delivering is checked as it starts.
              if (s !== this.stream) {
                earlyErrors.set(s, error);
                return;
              }
              // A broker of the cluster gone: read on through the others.
              if (transientKafkaError(err) && !this.closing) {
                recover(s, error);
                return;
              }
              failure ??= error;
              this.stopRun?.();
            });
            resolve(s);
          });
        }),
        KAFKA_TIMEOUTS.joinMs,
        brokers,
        doing,
      );
    const earlyErrors = new WeakMap<Stream, KafkaError>();
    // A stream that failed because a broker went away is replaced, over fresh metadata, by one that
    // starts from the commits: what it had fetched but not handed out is dropped and the open work
    // of its partitions revoked (read again from the commit), then the same partitions are assigned
    // again. Given up (the run fails) when no new stream could start for a join timeout.
    const broken = new WeakSet<Stream>();
    let brokenSince = 0;
    const recover = (s: Stream, error: KafkaError): void => {
      broken.add(s);
      if (brokenSince === 0) brokenSince = Date.now();
      if (Date.now() - brokenSince > KAFKA_TIMEOUTS.joinMs) {
        failure ??= error;
        this.stopRun?.();
        return;
      }
      revoke();
      const gen = ++generation;
      c.clearMetadata();
      setTimeout(() => {
        if (this.closing || gen !== generation) return;
        open(`reading topic ${topic} in group ${group} again after a broker failure`).then(
          (n) => {
            if (gen !== generation || this.closing) {
              this.retire(n);
              return;
            }
            const old = this.stream;
            this.stream = n;
            current = gen;
            brokenSince = 0;
            revokedSinceJoin = false;
            const parts = this.owned;
            enqueue(() => h.assigned?.(parts));
            attach(n, gen);
            this.retire(old);
          },
          (e: unknown) => {
            if (this.closing || gen !== generation) return;
            recover(s, fail(brokers, `consuming topic ${topic} in group ${group}`, e));
          },
        );
      }, 1_000).unref();
    };
    const attach = (s: Stream, gen: number): void => {
      s.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
        if (this.closing || gen !== current) return;
        this.epochs.set(m.partition, (m as { leaderEpoch?: number }).leaderEpoch ?? -1);
        let list = pending.get(m.partition);
        if (!list) pending.set(m.partition, (list = []));
        list.push({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key && m.key.length ? m.key : null, value: m.value ?? Buffer.alloc(0) });
        if (++buffered >= maxBatchMessages) flush();
      });
      s.once('close', () => {
        if (s === this.stream && !broken.has(s)) this.stopRun?.();
      });
      if (s.destroyed && !this.closing) {
        failure ??= earlyErrors.get(s) ?? new KafkaError(brokers.join(','), `consuming topic ${topic} in group ${group}: the stream ended as it started`);
        this.stopRun?.();
      }
    };
    c.on('consumer:group:join', (p: { assignments?: Array<{ topic: string; partitions: number[] }> }) => {
      // A rejoin the broker did not announce (an unknown member, a stale generation, the watchdog's)
      // takes partitions away too: their open work is revoked as in an announced rebalance.
      if (this.stream && !revokedSinceJoin) revoke();
      revokedSinceJoin = false;
      this.owned = (p.assignments ?? []).filter((a) => a.topic === topic).flatMap((a) => a.partitions.map((partition) => ({ topic, partition })));
      dropPending();
      const parts = this.owned;
      enqueue(() => h.assigned?.(parts));
      if (!this.stream || this.closing) return;
      // @platformatic/kafka 1.35.0's stream, after a rebalance, takes the committed offset of each
      // assigned partition, but the earliest (the fallback) only for partitions it never read: a
      // partition without a commit that comes back to this member is read on from where this member
      // stopped, and the messages between (dropped with their open segment when it was revoked)
      // would never be read by anyone. A stream made for this assignment starts from the commit,
      // or the earliest, for every partition.
      const gen = ++generation;
      const old = this.stream;
      open(`reading topic ${topic} in group ${group} after a rebalance`).then(
        (s) => {
          if (gen !== generation || this.closing) {
            this.retire(s);
            return;
          }
          this.stream = s;
          current = gen;
          attach(s, gen);
          this.retire(old);
        },
        (e: unknown) => {
          if (this.closing || gen !== generation) return;
          failure ??= e;
          this.stopRun?.();
        },
      );
    });
    // @platformatic/kafka 1.35.0 stops heartbeating after a heartbeat error that does not ask for a
    // rejoin (its #heartbeat cancels the timer, then refreshes the cancelled one): the broker then
    // drops the member at its session timeout while it goes on as if it owned its partitions, and
    // partitions of a dead member are never handed out. Rejoining restarts the heartbeats.
    // The same happens in other paths; a watchdog rejoins whenever no heartbeat has been answered
    // for a session timeout.
    let lastBeat = Date.now();
    const rejoin = (): void => {
      if (this.closing) return;
      lastBeat = Date.now();
      c.joinGroup({}).catch(() => undefined);
    };
    c.on('consumer:heartbeat:error', rejoin);
    // The library emits 'error' when its rejoin after a heartbeat failed for good; unheard, Node
    // would throw it out of the process. The watchdog rejoins.
    c.on('error', () => undefined);
    c.on('consumer:heartbeat:end', () => (lastBeat = Date.now()));
    c.on('consumer:group:join', () => (lastBeat = Date.now()));
    const watchdog = setInterval(() => {
      if (Date.now() - lastBeat > this.sessionTimeoutMs) rejoin();
    }, Math.max(500, Math.floor(this.sessionTimeoutMs / 2)));
    watchdog.unref();
    c.on('consumer:group:rebalance', () => {
      if (this.stream && !revokedSinceJoin) revoke();
    });
    // 1.35.0 never looks the group coordinator up again: once its broker is gone from the metadata,
    // a group request dereferences the missing broker and throws out of a callback. That is this
    // member's end, said as one (the run fails with a KafkaError), not a crash of the process.
    const lost = (e: unknown): void => {
      if (!(e instanceof TypeError) || !/@platformatic[\\/]kafka/.test(e.stack ?? '')) {
        // Not ours: as if nobody had listened (the process ends with it).
        process.off('uncaughtException', lost);
        process.nextTick(() => {
          throw e;
        });
        return;
      }
      failure ??= new KafkaError(brokers.join(','), `group ${group}: the group's coordinator (a broker of the cluster) went away, and this client cannot look up the new one (${e.message}); start this member again`);
      this.stopRun?.();
    };
    // Kept until the client is closed: leaving the group goes to the lost coordinator too.
    process.on('uncaughtException', lost);
    this.unhook = () => process.off('uncaughtException', lost);
    const first = await open(`joining consumer group ${group} on topic ${topic}`);
    this.stream = first;
    current = generation;
    attach(first, generation);
    const timer = setInterval(flush, 200);
    try {
      if (this.closing) this.stopRun?.();
      await stopped;
    } finally {
      clearInterval(timer);
      clearInterval(watchdog);
    }
    await chain;
    if (failure !== null) {
      await this.close();
      throw failure;
    }
  }

  /** Close a stream that no longer delivers; {@link close} waits for it. */
  private retire(s: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null): void {
    if (!s || s === this.stream) return;
    const done = within(s.close(), KAFKA_TIMEOUTS.closeMs, this.opts.brokers, 'closing a consumer stream').catch(() => undefined);
    this.retiring.add(done);
    void done.then(() => this.retiring.delete(done));
  }

  /** Commit: `offset` is the NEXT offset to read (last processed + 1). */
  async commit(offsets: Array<PartitionRef & { offset: bigint }>): Promise<void> {
    if (offsets.length === 0) return;
    // A coordinator that went away (its broker failed) is looked up again while another takes over.
    const deadline = Date.now() + KAFKA_TIMEOUTS.joinMs;
    for (;;) {
      try {
        await within(
          this.consumer.commit({ offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: this.epochs.get(o.partition) ?? -1 })) }),
          KAFKA_TIMEOUTS.requestMs,
          this.opts.brokers,
          `committing offsets of group ${this.opts.group}`,
        );
        return;
      } catch (e) {
        if (this.closing || Date.now() >= deadline || !transientKafkaError(e)) throw e;
        this.consumer.clearMetadata();
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  /** The group's committed offsets (next offset to read) for `partitions`; -1 where none. */
  async committed(partitions: number[]): Promise<Map<number, bigint>> {
    const r = await within(
      this.consumer.listCommittedOffsets({ topics: [{ topic: this.opts.topic, partitions }] }),
      KAFKA_TIMEOUTS.requestMs,
      this.opts.brokers,
      `reading committed offsets of group ${this.opts.group}`,
    );
    const list = r.get(this.opts.topic) ?? [];
    return new Map(partitions.map((p, i) => [p, list[i] ?? -1n]));
  }

  /** Leave the group cleanly: batches being processed finish first; batches not yet handed out are dropped. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stopRun?.();
    // Called from a handler, its own call is still on the chain: waiting for it would never end.
    if (!this.inHandler) await this.running;
    const brokers = this.opts.brokers;
    if (this.stream) await within(this.stream.close(), KAFKA_TIMEOUTS.closeMs, brokers, 'closing the consumer stream').catch(() => undefined);
    await Promise.all([...this.retiring]);
    await within(this.consumer.close(), KAFKA_TIMEOUTS.closeMs, brokers, `leaving consumer group ${this.opts.group}`).catch(
      () => new Promise<void>((resolve) => this.consumer.close(true, () => resolve())),
    );
    this.unhook?.();
  }
}
