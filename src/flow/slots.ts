/**
 * The flow table's core, shared by packets and export records: flow slots in typed arrays, a hash
 * index over the 5-tuple key (open addressing, linear probing, backward-shift deletion), LRU lists
 * for expiry and eviction, and the one place a finished flow becomes a {@link FlowRecord}. The
 * paths that fill slots are src/flow/packets.ts and src/flow/records.ts; src/flow/table.ts puts
 * them together. Memory is bounded by the capacities, never by input size.
 */
import type { FlowRecord } from '../types.js';
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
   * Flows built from flow-export records ({@link FlowTable.addRecord}): none unless given. They have
   * no payload and no TCP close tracking, are held apart from packet flows (a packet flow and an
   * export flow of one 5-tuple are two flows), and join records while each starts within
   * `joinGapMs` of the flow's last activity.
   */
  exports?: ExportJoinOptions | null;
  /** Ports services listen on ({@link servicePortSet}), for orienting flows whose handshake was not seen. */
  servicePorts?: Uint8Array | null;
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

type EndReason = FlowRecord['endReason'];

/** The numbers of a finished IPv4 export flow, for a prefilter (reused; read during the call). */
export type ExportFlowView = Pick<
  FlowRecord,
  'serverPort' | 'transport' | 'firstSeen' | 'lastSeen' | 'packetsC2S' | 'packetsS2C' | 'bytesC2S' | 'bytesS2C' | 'tcpFlagsC2S' | 'tcpFlagsS2C' | 'records'
> & { inputIndex: number; lastInputIndex: number; serverIp4: number };

const EMPTY = new Uint8Array(0);

/**
 * Slot storage and its bookkeeping. Fields are the paths' working state (src/flow/packets.ts,
 * src/flow/records.ts), not an API: use {@link FlowTable}.
 */
export class FlowSlots {
  readonly cap: number;
  readonly packetCap: number;
  readonly exportCap: number;
  readonly mask: number;
  readonly buckets: Int32Array;
  readonly keys: Int32Array;
  readonly hashes: Int32Array;
  readonly prev: Int32Array;
  readonly next: Int32Array;
  readonly first: Float64Array;
  readonly last: Float64Array;
  readonly pkts: Float64Array;
  readonly bytes: Float64Array;
  readonly flags: Uint8Array;
  readonly clientIsA: Uint8Array;
  readonly bySyn: Uint8Array;
  readonly closed: Uint8Array;
  readonly input: Int32Array;
  /** The input of the flow's latest packet or record (a flow may run on across rotated files). */
  readonly lastInput: Int32Array;
  /** Export flows: records merged, the largest sampling interval, and the arrival clock when a record last joined. */
  readonly recs: Float64Array;
  readonly samp: Float64Array;
  readonly arrived: Float64Array;
  /** Per slot and direction: 1 once that direction's payload prefix is full (skips the prefix object, a likely cache miss). */
  readonly prefixFull: Uint8Array;
  readonly payload: (FlowPayload | null)[];
  /** Per slot: share meter state (0 undecided, 1 metered, 2 not JSON-RPC) and the meter. */
  readonly meterState: Uint8Array;
  readonly meters: (ShareMeter | null)[];
  readonly pool: FlowPayload[] = [];
  readonly free: Int32Array;
  freeTop: number;
  readonly head = new Int32Array([-1, -1, -1]);
  readonly tail = new Int32Array([-1, -1, -1]);
  readonly list: Uint8Array;
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
    this.packetCap = opts.maxFlows > 0 ? Math.max(16, opts.maxFlows | 0) : 0;
    this.exportCap = opts.exports ? Math.max(1, opts.exports.maxFlows | 0) : 0;
    const cap = Math.max(1, this.packetCap + this.exportCap);
    this.cap = cap;
    let nb = 1;
    while (nb < cap * 2) nb <<= 1;
    this.mask = nb - 1;
    this.buckets = new Int32Array(nb).fill(-1);
    this.keys = new Int32Array(cap * KW);
    this.hashes = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.first = new Float64Array(cap);
    this.last = new Float64Array(cap);
    this.pkts = new Float64Array(cap * 2);
    this.bytes = new Float64Array(cap * 2);
    this.flags = new Uint8Array(cap * 2);
    this.clientIsA = new Uint8Array(cap);
    this.bySyn = new Uint8Array(cap);
    this.closed = new Uint8Array(cap);
    this.list = new Uint8Array(cap);
    this.input = new Int32Array(cap);
    this.lastInput = new Int32Array(cap);
    const ex = this.exportCap > 0 ? cap : 0;
    this.recs = new Float64Array(ex);
    this.samp = new Float64Array(ex);
    this.arrived = new Float64Array(ex);
    this.prefixFull = new Uint8Array(cap * 2);
    this.payload = new Array<FlowPayload | null>(cap).fill(null);
    this.meterState = new Uint8Array(cap);
    this.meters = new Array<ShareMeter | null>(cap).fill(null);
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  /** Flows currently held. */
  get active(): number {
    return this.activePackets + this.activeExports;
  }

  lookup(k: Int32Array, h: number): number {
    const keys = this.keys;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const s = this.buckets[i]!;
      if (s < 0) return -1;
      if (this.hashes[s] !== h) continue;
      const o = s * KW;
      if (
        keys[o + 8] === k[8] &&
        keys[o] === k[0] &&
        keys[o + 4] === k[4] &&
        keys[o + 9] === k[9] &&
        keys[o + 1] === k[1] &&
        keys[o + 2] === k[2] &&
        keys[o + 3] === k[3] &&
        keys[o + 5] === k[5] &&
        keys[o + 6] === k[6] &&
        keys[o + 7] === k[7]
      )
        return s;
    }
  }

  /** A new slot for key `k` (source from its word 9), finishing the least recent flow of that source when its share is full. */
  insert(k: Int32Array, h: number, ts: number, inputIndex: number): number {
    const exported = k[9]! >> 16 === SOURCE_EXPORT;
    if (exported ? this.activeExports >= this.exportCap : this.activePackets >= this.packetCap) {
      // Closed flows go first: they are finished anyway.
      const victim = exported ? this.tail[LIST_EXPORT]! : this.tail[LIST_CLOSED]! >= 0 ? this.tail[LIST_CLOSED]! : this.tail[LIST_OPEN]!;
      if (victim < 0) throw new Error(exported ? 'this flow table takes no export records (options.exports not set)' : 'this flow table takes no packets (options.maxFlows is 0)');
      this.evicted++;
      this.finish(victim, 'evicted');
    }
    const s = this.free[--this.freeTop]!;
    this.keys.set(k, s * KW);
    this.hashes[s] = h;
    let i = h & this.mask;
    while (this.buckets[i]! >= 0) i = (i + 1) & this.mask;
    this.buckets[i] = s;
    this.first[s] = ts;
    this.last[s] = ts;
    this.pkts[s * 2] = this.pkts[s * 2 + 1] = 0;
    this.bytes[s * 2] = this.bytes[s * 2 + 1] = 0;
    this.flags[s * 2] = this.flags[s * 2 + 1] = 0;
    this.prefixFull[s * 2] = this.prefixFull[s * 2 + 1] = 0;
    this.closed[s] = 0;
    this.input[s] = inputIndex;
    this.lastInput[s] = inputIndex;
    this.payload[s] = null;
    this.meterState[s] = 0;
    this.meters[s] = null;
    if (exported) {
      this.recs[s] = 0;
      this.samp[s] = 1;
      this.linkHead(s, LIST_EXPORT);
      this.activeExports++;
    } else {
      this.linkHead(s, LIST_OPEN);
      this.activePackets++;
    }
    return s;
  }

  touch(s: number): void {
    if (this.head[this.list[s]!] === s) return;
    const l = this.list[s]!;
    this.unlink(s);
    this.linkHead(s, l);
  }

  linkHead(s: number, l: number): void {
    this.list[s] = l;
    const h = this.head[l]!;
    this.prev[s] = -1;
    this.next[s] = h;
    if (h >= 0) this.prev[h] = s;
    else this.tail[l] = s;
    this.head[l] = s;
  }

  unlink(s: number): void {
    const l = this.list[s]!;
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p >= 0) this.next[p] = n;
    else this.head[l] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[l] = p;
  }

  /** Finish the flows of list `l` whose last activity is more than `timeoutMs` before `now`. */
  expireList(l: number, now: number, timeoutMs: number, reason: EndReason): void {
    for (let s = this.tail[l]!; s >= 0 && now - this.last[s]! > timeoutMs; s = this.tail[l]!) this.finish(s, reason);
  }

  /** Finish every flow of list `l`. */
  flushList(l: number, reason: EndReason): void {
    for (let s = this.tail[l]!; s >= 0; s = this.tail[l]!) this.finish(s, reason);
  }

  finish(s: number, reason: EndReason): void {
    const exported = this.list[s] === LIST_EXPORT;
    if (exported && this.prefilter !== null && this.canSkip(s)) {
      this.skipped++;
    } else this.onFlow(this.toRecord(s, reason, exported));
    this.emitted++;
    this.unlink(s);
    // Remove from the hash index with backward-shift deletion (no tombstones).
    const mask = this.mask;
    let i = this.hashes[s]! & mask;
    while (this.buckets[i] !== s) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const t = this.buckets[j]!;
      if (t < 0) break;
      const home = this.hashes[t]! & mask;
      // Move t back into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.buckets[i] = t;
        i = j;
      }
    }
    this.buckets[i] = -1;
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
    this.free[this.freeTop++] = s;
    if (exported) this.activeExports--;
    else this.activePackets--;
  }

  private canSkip(s: number): boolean {
    const o = s * KW;
    const k = this.keys;
    if ((k[o + 9]! & 0xff) !== 4) return false;
    const aIsClient = this.clientIsA[s] === 1;
    const ca = aIsClient ? 0 : 1;
    const v = this.view;
    v.serverIp4 = (aIsClient ? k[o + 4]! : k[o]!) >>> 0;
    v.serverPort = aIsClient ? k[o + 8]! & 0xffff : (k[o + 8]! >>> 16) & 0xffff;
    v.transport = ((k[o + 9]! >> 8) & 0xff) === 6 ? 'tcp' : 'udp';
    v.firstSeen = this.first[s]!;
    v.lastSeen = this.last[s]!;
    v.packetsC2S = this.pkts[s * 2 + ca]!;
    v.packetsS2C = this.pkts[s * 2 + 1 - ca]!;
    v.bytesC2S = this.bytes[s * 2 + ca]!;
    v.bytesS2C = this.bytes[s * 2 + 1 - ca]!;
    v.tcpFlagsC2S = this.flags[s * 2 + ca]!;
    v.tcpFlagsS2C = this.flags[s * 2 + 1 - ca]!;
    v.records = this.recs[s]!;
    v.inputIndex = this.input[s]!;
    v.lastInputIndex = this.lastInput[s]!;
    return this.prefilter!(v);
  }

  /**
   * The finished flow as one record, built in one object literal (every record has one shape, so
   * the stages after see one hidden class). Addresses come from a cache of their text: the flows of
   * one host share its string.
   */
  private toRecord(s: number, endReason: EndReason, exported: boolean): FlowRecord {
    const o = s * KW;
    const k = this.keys;
    const v4 = (k[o + 9]! & 0xff) === 4;
    const names = this.names;
    const aIsClient = this.clientIsA[s] === 1;
    const c = aIsClient ? o : o + 4;
    const sv = aIsClient ? o + 4 : o;
    const client = v4 ? names.ipv4(k[c]!) : names.ipv6(k[c]!, k[c + 1]!, k[c + 2]!, k[c + 3]!);
    const server = v4 ? names.ipv4(k[sv]!) : names.ipv6(k[sv]!, k[sv + 1]!, k[sv + 2]!, k[sv + 3]!);
    const portA = (k[o + 8]! >>> 16) & 0xffff;
    const portB = k[o + 8]! & 0xffff;
    const ca = aIsClient ? 0 : 1;
    const sa = 1 - ca;
    const pay = this.payload[s];
    const cp = pay ? (aIsClient ? pay.a : pay.b) : null;
    const sp = pay ? (aIsClient ? pay.b : pay.a) : null;
    const meter = this.meters[s]!;
    return {
      client,
      clientPort: aIsClient ? portA : portB,
      server,
      serverPort: aIsClient ? portB : portA,
      transport: ((k[o + 9]! >> 8) & 0xff) === 6 ? 'tcp' : 'udp',
      ipVersion: v4 ? 4 : 6,
      orientation: this.bySyn[s] ? 'syn' : 'port',
      firstSeen: this.first[s]!,
      lastSeen: this.last[s]!,
      packetsC2S: this.pkts[s * 2 + ca]!,
      packetsS2C: this.pkts[s * 2 + sa]!,
      bytesC2S: this.bytes[s * 2 + ca]!,
      bytesS2C: this.bytes[s * 2 + sa]!,
      tcpFlagsC2S: this.flags[s * 2 + ca]!,
      tcpFlagsS2C: this.flags[s * 2 + sa]!,
      endReason,
      payloadC2S: cp !== null ? cp.take() : EMPTY,
      payloadS2C: sp !== null ? sp.take() : EMPTY,
      payloadTimeC2S: cp ? cp.time : 0,
      payloadTimeS2C: sp ? sp.time : 0,
      firstSegmentC2S: cp ? cp.firstSegment : 0,
      firstSegmentS2C: sp ? sp.firstSegment : 0,
      inputIndex: this.input[s]!,
      lastInputIndex: this.lastInput[s]!,
      source: exported ? 'export' : 'packets',
      records: exported ? this.recs[s]! : 0,
      sampling: exported ? this.samp[s]! : 1,
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
