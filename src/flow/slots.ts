/**
 * The flow table's core, shared by packets and export records: flow slots in typed arrays, a hash
 * index over the 5-tuple key (open addressing, linear probing, backward-shift deletion), LRU lists
 * for expiry and eviction, and the one place a finished flow becomes a {@link FlowRecord}. The
 * paths that fill slots are src/flow/packets.ts and src/flow/records.ts; src/flow/table.ts puts
 * them together. Memory is bounded by the capacities, never by input size.
 */
import type { FlowRecord } from '../types.js';
import type { Shard } from './shard.js';
import type { FlowPayload } from './prefix.js';
import type { ShareMeter } from './shares.js';
import { AddressNames } from './addr.js';

export interface FlowTableOptions {
  /** Most packet flows held at once (at least 16; 0: the table takes no packets); beyond it the least recently seen is finished early. */
  maxFlows: number;
  /** A flow with no packet for this long is finished (ms). */
  idleTimeoutMs: number;
  /** A flow older than this is cut and continues as a new record, like exporters do (ms). */
  activeTimeoutMs: number;
  /** After RST, or FIN both ways, the flow ends this long after its last packet (ms). */
  closeGraceMs: number;
  /** Bytes of payload kept per direction. */
  payloadBytes: number;
  /**
   * A finished flow's `payloadC2S`/`payloadS2C` are views of the table's working buffers, valid
   * only until `onFlow` returns (the buffers then go to the next flows): no copy per flow. Without
   * it each record gets its own copy, which stays valid for as long as the record is kept.
   */
  payloadViews?: boolean;
  /**
   * Flows built from flow-export records ({@link FlowTable.addRecord}): none unless given. They have
   * no payload and no TCP close tracking, are held apart from packet flows (a packet flow and an
   * export flow of one 5-tuple are two flows), and join records while each starts within
   * `joinGapMs` of the flow's last activity.
   */
  exports?: ExportJoinOptions | null;
  /** Ports services listen on ({@link servicePortSet}), for orienting flows whose handshake was not seen. */
  servicePorts?: Uint8Array | null;
  /**
   * Keep only the flows of this shard ({@link shardOfKey}); the others' packets and records still
   * move the clocks, so flows end exactly when they would in a table that holds every flow.
   */
  shard?: Shard | null;
}

/** How export records are joined into flows, and how many such flows are held. */
export interface ExportJoinOptions {
  /** A record starting within this long after a flow's last activity joins it (ms). */
  joinGapMs: number;
  /** Most export flows held at once (at least 1); beyond it the least recently joined is finished early. */
  maxFlows: number;
}

export const DEFAULT_FLOW_OPTIONS: FlowTableOptions = {
  maxFlows: 1 << 19,
  idleTimeoutMs: 300_000,
  activeTimeoutMs: 1_800_000,
  closeGraceMs: 10_000,
  payloadBytes: 4096,
};

// Key words: addrA[4], addrB[4], ports, source|proto|version. Int32 throughout (not Uint32): values
// above 2^31 would be heap numbers in V8 and cost an allocation per packet.
export const KW = 10;
export const SOURCE_PACKETS = 0;
export const SOURCE_EXPORT = 1;
/** LRU lists: open packet flows, closed packet flows (RST, or FIN both ways) waiting out their grace, export flows. */
export const LIST_OPEN = 0;
export const LIST_CLOSED = 1;
export const LIST_EXPORT = 2;

// A slot's state is two rows, not one array per field: a record or packet that finds its flow
// then touches a few cache lines instead of one per field (the table outgrows the caches long
// before it fills, so misses are its cost). The key, links and counters share one 128-byte row:
// the lines a flow's key and counters lie on are adjacent, which the hardware fetches together,
// instead of two lines far apart. `meta` and `num` are Int32 and Float64 views of the same rows.
// With a million flows held (an exporter's), lookups and updates over separate key and counter
// arrays took 1.5× as long (1.5 M lookups over 1 M and 1.5 M slots: 152-156 ms against 105-111
// ms); a whole export scan gains less, within the host's noise here.
/** Bytes per slot row: `meta`'s 16 words, then `num`'s 8 numbers. */
const ROW_BYTES = 128;
/** Int32 words per slot row in `meta`: the key (words 0-9), then these (words 16-31 are `num`'s). */
export const MW = ROW_BYTES / 4;
export const M_HASH = 10;
export const M_PREV = 11;
export const M_NEXT = 12;
/** The input of the flow's first packet or record, and of its latest (a flow may run on across rotated files). */
export const M_INPUT = 13;
export const M_LAST_INPUT = 14;
/** Export flows: records merged. */
export const M_RECS = 15;
/** Float64 numbers per slot row in `num`; the first 8 are `meta`'s words, the counters follow. */
export const NW = ROW_BYTES / 8;
export const N_FIRST = 8;
export const N_LAST = 9;
/** Packets side A, side B (+1). */
export const N_PKTS = 10;
/** Bytes side A, side B (+1). */
export const N_BYTES = 12;
/** Export flows: the arrival clock when a record last joined. */
export const N_ARRIVED = 14;
/** Export flows: the largest sampling interval of its records (0 until one above 1 is seen). */
export const N_SAMP = 15;
/** Bytes per slot in `bits` (8: a row is cleared as one Float64). */
export const BW = 8;
/** Bit 0: side A is the client; bit 1: that was decided by the handshake. */
export const B_ORIENT = 0;
export const ORIENT_CLIENT_A = 1;
export const ORIENT_BY_SYN = 2;
/** TCP close state (packets.ts). */
export const B_CLOSED = 1;
export const B_LIST = 2;
/** Share meter state: 0 undecided, 1 metered, 2 not JSON-RPC. */
export const B_METER = 3;
/** Side A, side B (+1): 1 once that direction's payload prefix is full (skips the prefix object, a likely cache miss). */
export const B_FULL = 4;
/** TCP flags seen, side A, side B (+1). */
export const B_FLAGS = 6;

type EndReason = FlowRecord['endReason'];

/** The numbers of a finished IPv4 export flow, for a prefilter (reused; read during the call). */
export type ExportFlowView = Pick<
  FlowRecord,
  'serverPort' | 'transport' | 'firstSeen' | 'lastSeen' | 'packetsC2S' | 'packetsS2C' | 'bytesC2S' | 'bytesS2C' | 'tcpFlagsC2S' | 'tcpFlagsS2C' | 'records'
> & { inputIndex: number; lastInputIndex: number; serverIp4: number };

const EMPTY = new Uint8Array(0);
/** The hash index's first size (buckets; it doubles as flows come). */
const MIN_BUCKETS = 1 << 12;

/**
 * Slot storage and its bookkeeping. Fields are the paths' working state (src/flow/packets.ts,
 * src/flow/records.ts), not an API: use {@link FlowTable}. Nothing is filled up front: slots are
 * handed out in order until the first is freed (typed arrays start as untouched zero pages), so a
 * table sized for a million flows costs nothing until it holds them.
 */
export class FlowSlots {
  readonly cap: number;
  readonly packetCap: number;
  readonly exportCap: number;
  /**
   * Hash index: per bucket, slot + 1 (0: empty) and the key's hash. It grows with the flows held
   * (load at most 1/2), not with the capacity: an index sized for the flows actually live stays in
   * cache, where one sized for a million would miss on every lookup.
   */
  buckets: Int32Array;
  mask: number;
  /** Most buckets the index grows to (twice the capacity, a power of two). */
  private readonly maxBuckets: number;
  readonly meta: Int32Array;
  readonly num: Float64Array;
  readonly bits: Uint8Array;
  /** `bits` seen as one 8-byte number per slot, to clear a row at once. */
  private readonly bitsRows: Float64Array;
  /** Per slot, grown as slots are first handed out: its payload prefixes and share meter, if any. */
  readonly payload: (FlowPayload | null)[] = [];
  readonly meters: (ShareMeter | null)[] = [];
  readonly pool: FlowPayload[] = [];
  /** Freed slots (a stack), and the first slot never handed out. */
  readonly free: Int32Array;
  freeTop = 0;
  fresh = 0;
  readonly head = new Int32Array([-1, -1, -1]);
  readonly tail = new Int32Array([-1, -1, -1]);
  readonly scratch = new Int32Array(KW);
  private readonly names = new AddressNames();
  /** Packet clock (newest packet time, ms) and when packet flows were last swept. */
  now = 0;
  lastSweep = 0;
  /** Export-record clock (newest record end, ms) and when export flows were last swept. */
  recordNow = 0;
  recordSweep = 0;
  /** Arrival time of the records being added (ms, a live collector's clock; 0 when reading files). */
  arrival = 0;
  /** The shard kept ({@link FlowTableOptions.shard}): count 1 keeps every flow. */
  readonly shardIndex: number;
  readonly shardCount: number;
  /** Export records that were not TCP or UDP (counted, not flows). */
  otherProtocol = 0;
  /** Packet flows and export flows held now. */
  activePackets = 0;
  activeExports = 0;
  /** Flows finished because the table was full. */
  evicted = 0;
  /** Flows emitted so far (including those the prefilter passed over). */
  emitted = 0;
  /** Share meters alive now, and flows left unmetered because the limit of live meters was reached. */
  liveMeters = 0;
  metersRefused = 0;
  /**
   * A test on a finished IPv4 export flow's numbers, before any record or string is made. When it
   * says the flow cannot carry evidence, the flow is counted (`skipped`) and not emitted.
   */
  prefilter: ((v: ExportFlowView) => boolean) | null = null;
  /** Flows the prefilter passed over. */
  skipped = 0;
  private readonly view: ExportFlowView = {
    inputIndex: 0,
    lastInputIndex: 0,
    serverIp4: 0,
    serverPort: 0,
    transport: 'tcp',
    firstSeen: 0,
    lastSeen: 0,
    packetsC2S: 0,
    packetsS2C: 0,
    bytesC2S: 0,
    bytesS2C: 0,
    tcpFlagsC2S: 0,
    tcpFlagsS2C: 0,
    records: 0,
  };

  constructor(
    readonly opts: FlowTableOptions,
    readonly onFlow: (f: FlowRecord) => void,
  ) {
    this.shardIndex = opts.shard?.index ?? 0;
    this.shardCount = opts.shard && opts.shard.count > 1 ? opts.shard.count : 1;
    this.packetCap = opts.maxFlows > 0 ? Math.max(16, opts.maxFlows | 0) : 0;
    this.exportCap = opts.exports ? Math.max(1, opts.exports.maxFlows | 0) : 0;
    const cap = Math.max(1, this.packetCap + this.exportCap);
    this.cap = cap;
    let nb = 1;
    while (nb < cap * 2) nb <<= 1;
    this.maxBuckets = nb;
    nb = Math.min(nb, MIN_BUCKETS);
    this.mask = nb - 1;
    this.buckets = new Int32Array(nb * 2);
    const rows = new ArrayBuffer(cap * ROW_BYTES);
    this.meta = new Int32Array(rows);
    this.num = new Float64Array(rows);
    this.bits = new Uint8Array(cap * BW);
    this.bitsRows = new Float64Array(this.bits.buffer);
    this.free = new Int32Array(cap);
  }

  /** Flows currently held. */
  get active(): number {
    return this.activePackets + this.activeExports;
  }

  lookup(k: Int32Array, h: number): number {
    const b = this.buckets;
    const m = this.meta;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const s1 = b[i * 2]!;
      if (s1 === 0) return -1;
      if (b[i * 2 + 1] !== h) continue;
      const o = (s1 - 1) * MW;
      if (
        m[o + 8] === k[8] &&
        m[o] === k[0] &&
        m[o + 4] === k[4] &&
        m[o + 9] === k[9] &&
        m[o + 1] === k[1] &&
        m[o + 2] === k[2] &&
        m[o + 3] === k[3] &&
        m[o + 5] === k[5] &&
        m[o + 6] === k[6] &&
        m[o + 7] === k[7]
      )
        return s1 - 1;
    }
  }

  /**
   * A new slot for key `k` (source from its word 9), finishing the least recent flow of that source
   * when its share is full. The caller writes the flow's first and last time (`num`): a time passed
   * as an argument would be boxed as a new heap number on every call, one per flow.
   */
  insert(k: Int32Array, h: number, inputIndex: number): number {
    const exported = k[9]! >> 16 === SOURCE_EXPORT;
    if (exported ? this.activeExports >= this.exportCap : this.activePackets >= this.packetCap) {
      // Closed flows go first: they are finished anyway.
      const victim = exported ? this.tail[LIST_EXPORT]! : this.tail[LIST_CLOSED]! >= 0 ? this.tail[LIST_CLOSED]! : this.tail[LIST_OPEN]!;
      if (victim < 0) throw new Error(exported ? 'this flow table takes no export records (options.exports not set)' : 'this flow table takes no packets (options.maxFlows is 0)');
      this.evicted++;
      this.finish(victim, 'evicted');
    }
    let s: number;
    if (this.freeTop > 0) s = this.free[--this.freeTop]!;
    else {
      s = this.fresh++;
      this.payload.push(null);
      this.meters.push(null);
    }
    const o = s * MW;
    const m = this.meta;
    // Word by word: TypedArray.prototype.set is a builtin call, dearer than ten stores.
    m[o] = k[0]!;
    m[o + 1] = k[1]!;
    m[o + 2] = k[2]!;
    m[o + 3] = k[3]!;
    m[o + 4] = k[4]!;
    m[o + 5] = k[5]!;
    m[o + 6] = k[6]!;
    m[o + 7] = k[7]!;
    m[o + 8] = k[8]!;
    m[o + 9] = k[9]!;
    m[o + M_HASH] = h;
    m[o + M_INPUT] = inputIndex;
    m[o + M_LAST_INPUT] = inputIndex;
    m[o + M_RECS] = 0;
    const n = s * NW;
    const num = this.num;
    num[n + N_PKTS] = num[n + N_PKTS + 1] = 0;
    num[n + N_BYTES] = num[n + N_BYTES + 1] = 0;
    num[n + N_ARRIVED] = 0;
    num[n + N_SAMP] = 0;
    // The 8-byte row (orientation, close state, list, meter state, prefixes full, flags) in one store.
    this.bitsRows[s] = 0;
    if ((this.activePackets + this.activeExports + 1) * 2 > this.mask + 1 && this.mask + 1 < this.maxBuckets) this.growIndex();
    const b = this.buckets;
    let i = h & this.mask;
    while (b[i * 2]! !== 0) i = (i + 1) & this.mask;
    b[i * 2] = s + 1;
    b[i * 2 + 1] = h;
    if (exported) {
      this.linkHead(s, LIST_EXPORT);
      this.activeExports++;
    } else {
      this.linkHead(s, LIST_OPEN);
      this.activePackets++;
    }
    return s;
  }

  /** Double the hash index and put every entry in its place in it. */
  private growIndex(): void {
    const old = this.buckets;
    const nb = (this.mask + 1) * 2;
    const b = new Int32Array(nb * 2);
    const mask = nb - 1;
    for (let j = 0; j < old.length; j += 2) {
      const s1 = old[j]!;
      if (s1 === 0) continue;
      const h = old[j + 1]!;
      let i = h & mask;
      while (b[i * 2]! !== 0) i = (i + 1) & mask;
      b[i * 2] = s1;
      b[i * 2 + 1] = h;
    }
    this.buckets = b;
    this.mask = mask;
  }

  /** Move slot `s` to the head of its list (most recently seen). */
  touch(s: number): void {
    const l = this.bits[s * BW + B_LIST]!;
    if (this.head[l] === s) return;
    this.unlink(s);
    this.linkHead(s, l);
  }

  /** {@link touch} for an export flow, whose list is known. */
  touchExport(s: number): void {
    if (this.head[LIST_EXPORT] === s) return;
    this.unlinkFrom(s, LIST_EXPORT);
    this.linkHead(s, LIST_EXPORT);
  }

  linkHead(s: number, l: number): void {
    this.bits[s * BW + B_LIST] = l;
    const m = this.meta;
    const h = this.head[l]!;
    m[s * MW + M_PREV] = -1;
    m[s * MW + M_NEXT] = h;
    if (h >= 0) m[h * MW + M_PREV] = s;
    else this.tail[l] = s;
    this.head[l] = s;
  }

  unlink(s: number): void {
    this.unlinkFrom(s, this.bits[s * BW + B_LIST]!);
  }

  private unlinkFrom(s: number, l: number): void {
    const m = this.meta;
    const p = m[s * MW + M_PREV]!;
    const n = m[s * MW + M_NEXT]!;
    if (p >= 0) m[p * MW + M_NEXT] = n;
    else this.head[l] = n;
    if (n >= 0) m[n * MW + M_PREV] = p;
    else this.tail[l] = p;
  }

  /** Finish the flows of list `l` whose last activity is more than `timeoutMs` before `now`. */
  expireList(l: number, now: number, timeoutMs: number, reason: EndReason): void {
    for (let s = this.tail[l]!; s >= 0 && now - this.num[s * NW + N_LAST]! > timeoutMs; s = this.tail[l]!) this.finish(s, reason);
  }

  /** Finish every flow of list `l`. */
  flushList(l: number, reason: EndReason): void {
    for (let s = this.tail[l]!; s >= 0; s = this.tail[l]!) this.finish(s, reason);
  }

  finish(s: number, reason: EndReason): void {
    const exported = this.bits[s * BW + B_LIST] === LIST_EXPORT;
    if (exported && this.prefilter !== null && this.canSkip(s)) {
      this.skipped++;
    } else this.onFlow(this.toRecord(s, reason, exported));
    this.emitted++;
    this.unlink(s);
    // Remove from the hash index with backward-shift deletion (no tombstones).
    const mask = this.mask;
    const b = this.buckets;
    let i = this.meta[s * MW + M_HASH]! & mask;
    while (b[i * 2] !== s + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const t1 = b[j * 2]!;
      if (t1 === 0) break;
      const home = b[j * 2 + 1]! & mask;
      // Move the entry at j back into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        b[i * 2] = t1;
        b[i * 2 + 1] = b[j * 2 + 1]!;
        i = j;
      }
    }
    b[i * 2] = 0;
    if (!exported) {
      // Export flows never hold a payload or a meter.
      const pay = this.payload[s];
      if (pay) {
        pay.reset();
        this.pool.push(pay);
        this.payload[s] = null;
      }
      if (this.meters[s] !== null) {
        this.meters[s] = null;
        this.liveMeters--;
      }
    }
    this.free[this.freeTop++] = s;
    if (exported) this.activeExports--;
    else this.activePackets--;
  }

  private canSkip(s: number): boolean {
    const o = s * MW;
    const k = this.meta;
    if ((k[o + 9]! & 0xff) !== 4) return false;
    const aIsClient = (this.bits[s * BW + B_ORIENT]! & ORIENT_CLIENT_A) !== 0;
    const ca = aIsClient ? 0 : 1;
    const n = s * NW;
    const num = this.num;
    const fl = s * BW + B_FLAGS;
    const v = this.view;
    v.serverIp4 = (aIsClient ? k[o + 4]! : k[o]!) >>> 0;
    v.serverPort = aIsClient ? k[o + 8]! & 0xffff : (k[o + 8]! >>> 16) & 0xffff;
    v.transport = ((k[o + 9]! >> 8) & 0xff) === 6 ? 'tcp' : 'udp';
    v.firstSeen = num[n + N_FIRST]!;
    v.lastSeen = num[n + N_LAST]!;
    v.packetsC2S = num[n + N_PKTS + ca]!;
    v.packetsS2C = num[n + N_PKTS + 1 - ca]!;
    v.bytesC2S = num[n + N_BYTES + ca]!;
    v.bytesS2C = num[n + N_BYTES + 1 - ca]!;
    v.tcpFlagsC2S = this.bits[fl + ca]!;
    v.tcpFlagsS2C = this.bits[fl + 1 - ca]!;
    v.records = k[o + M_RECS]!;
    v.inputIndex = k[o + M_INPUT]!;
    v.lastInputIndex = k[o + M_LAST_INPUT]!;
    return this.prefilter!(v);
  }

  /**
   * The finished flow as one record, built in one object literal (every record has one shape, so
   * the stages after see one hidden class). Addresses come from a cache of their text: the flows of
   * one host share its string.
   */
  private toRecord(s: number, endReason: EndReason, exported: boolean): FlowRecord {
    const o = s * MW;
    const k = this.meta;
    const v4 = (k[o + 9]! & 0xff) === 4;
    const names = this.names;
    const orient = this.bits[s * BW + B_ORIENT]!;
    const aIsClient = (orient & ORIENT_CLIENT_A) !== 0;
    const c = aIsClient ? o : o + 4;
    const sv = aIsClient ? o + 4 : o;
    const client = v4 ? names.ipv4(k[c]!) : names.ipv6(k[c]!, k[c + 1]!, k[c + 2]!, k[c + 3]!);
    const server = v4 ? names.ipv4(k[sv]!) : names.ipv6(k[sv]!, k[sv + 1]!, k[sv + 2]!, k[sv + 3]!);
    const portA = (k[o + 8]! >>> 16) & 0xffff;
    const portB = k[o + 8]! & 0xffff;
    const ca = aIsClient ? 0 : 1;
    const sa = 1 - ca;
    const n = s * NW;
    const num = this.num;
    const fl = s * BW + B_FLAGS;
    const pay = exported ? null : this.payload[s]!;
    const cp = pay ? (aIsClient ? pay.a : pay.b) : null;
    const sp = pay ? (aIsClient ? pay.b : pay.a) : null;
    const meter = exported ? null : this.meters[s]!;
    const samp = num[n + N_SAMP]!;
    const views = this.opts.payloadViews === true;
    return {
      client,
      clientPort: aIsClient ? portA : portB,
      server,
      serverPort: aIsClient ? portB : portA,
      transport: ((k[o + 9]! >> 8) & 0xff) === 6 ? 'tcp' : 'udp',
      ipVersion: v4 ? 4 : 6,
      orientation: orient & ORIENT_BY_SYN ? 'syn' : 'port',
      firstSeen: num[n + N_FIRST]!,
      lastSeen: num[n + N_LAST]!,
      packetsC2S: num[n + N_PKTS + ca]!,
      packetsS2C: num[n + N_PKTS + sa]!,
      bytesC2S: num[n + N_BYTES + ca]!,
      bytesS2C: num[n + N_BYTES + sa]!,
      tcpFlagsC2S: this.bits[fl + ca]!,
      tcpFlagsS2C: this.bits[fl + sa]!,
      endReason,
      payloadC2S: cp !== null ? (views ? cp.view() : cp.take()) : EMPTY,
      payloadS2C: sp !== null ? (views ? sp.view() : sp.take()) : EMPTY,
      payloadTimeC2S: cp ? cp.time : 0,
      payloadTimeS2C: sp ? sp.time : 0,
      firstSegmentC2S: cp ? cp.firstSegment : 0,
      firstSegmentS2C: sp ? sp.firstSegment : 0,
      inputIndex: k[o + M_INPUT]!,
      lastInputIndex: k[o + M_LAST_INPUT]!,
      source: exported ? 'export' : 'packets',
      records: exported ? k[o + M_RECS]! : 0,
      sampling: exported && samp > 1 ? samp : 1,
      shares: meter !== null ? (meter.end() ?? undefined) : undefined,
    };
  }
}

/** 32-bit mix of the key words (murmur3 finaliser per word). */
export function hashKey(k: Int32Array): number {
  let h = 0x9747b28c;
  if ((k[9]! & 0xff) === 4) {
    // IPv4: words 1-3 and 5-7 are always zero, so only the four that vary are mixed.
    h = mix(h, k[0]!);
    h = mix(h, k[4]!);
    h = mix(h, k[8]!);
    h = mix(h, k[9]!);
  } else for (let i = 0; i < KW; i++) h = mix(h, k[i]!);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  // Stay in int32: values above 2^31 would leave V8's small-integer range and box.
  return h | 0;
}

function mix(h: number, w: number): number {
  let x = Math.imul(w, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  h ^= Math.imul(x, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
