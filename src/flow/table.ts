/**
 * Bidirectional flow table keyed by the 5-tuple, in typed arrays: open addressing with linear
 * probing and backward-shift deletion, an LRU list for idle expiry and eviction, and pooled
 * payload prefixes. Memory is bounded by `maxFlows`, never by input size; a packet touches no
 * allocation (flows allocate their payload prefix from a pool, and a finished flow becomes one
 * {@link FlowRecord}).
 */
import type { FlowRecord } from '../types.js';
import { PacketView } from '../decode/packet.js';
import type { NumericRecord } from '../decode/templates.js';
import { FlowPayload } from './prefix.js';
import { ShareMeter } from './shares.js';
import { formatIpv4, formatIpv6Words } from './addr.js';
import { dstIsServer } from './orient.js';

export interface FlowTableOptions {
  /** Most flows held at once; beyond it the least recently seen flow is finished early. */
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
   * The table holds flows built from flow-export records ({@link FlowTable.addRecord}): no payload,
   * no TCP close tracking, flows joined while records keep arriving within `idleTimeoutMs`.
   */
  exportRecords?: boolean;
  /** Ports services listen on ({@link servicePortSet}), for orienting flows whose handshake was not seen. */
  servicePorts?: Uint8Array | null;
}

export const DEFAULT_FLOW_OPTIONS: FlowTableOptions = {
  maxFlows: 1 << 19,
  idleTimeoutMs: 300_000,
  activeTimeoutMs: 1_800_000,
  closeGraceMs: 10_000,
  payloadBytes: 4096,
};

// Key words: addrA[4], addrB[4], ports, proto|version. Int32 throughout (not Uint32): values above
// 2^31 would be heap numbers in V8 and cost an allocation per packet.
const KW = 10;
const SWEEP_EVERY_MS = 1000;
/** Most share meters alive at once (each holds a few KiB while its flow lasts). */
const MAX_METERS = 65536;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;
const CLOSED_FIN_A = 1;
const CLOSED_FIN_B = 2;
const CLOSED_RST = 4;

type EndReason = FlowRecord['endReason'];

export class FlowTable {
  private readonly cap: number;
  private readonly mask: number;
  private readonly buckets: Int32Array;
  private readonly keys: Int32Array;
  private readonly hashes: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly first: Float64Array;
  private readonly last: Float64Array;
  private readonly pkts: Float64Array;
  private readonly bytes: Float64Array;
  private readonly flags: Uint8Array;
  private readonly clientIsA: Uint8Array;
  private readonly bySyn: Uint8Array;
  private readonly closed: Uint8Array;
  private readonly input: Int32Array;
  /** The input of the flow's latest packet or record (a flow may run on across rotated files). */
  private readonly lastInput: Int32Array;
  /** Export mode: records merged and the largest sampling interval per flow. */
  private readonly recs: Float64Array | null;
  private readonly samp: Float64Array | null;
  /** Per slot and direction: 1 once that direction's payload prefix is full (skips the prefix object, a likely cache miss). */
  private readonly prefixFull: Uint8Array;
  private readonly payload: (FlowPayload | null)[];
  /** Per slot: share meter state (0 undecided, 1 metered, 2 not JSON-RPC) and the meter. */
  private readonly meterState: Uint8Array;
  private readonly meters: (ShareMeter | null)[];
  private readonly pool: FlowPayload[] = [];
  private readonly free: Int32Array;
  private freeTop: number;
  /** LRU lists: [0] open flows, [1] closed flows (RST, or FIN both ways) waiting out their grace. */
  private readonly head = new Int32Array([-1, -1]);
  private readonly tail = new Int32Array([-1, -1]);
  private readonly list: Uint8Array;
  private readonly scratch = new Int32Array(KW);
  private now = 0;
  private lastSweep = 0;
  /** Flows currently held. */
  active = 0;
  /** Flows finished because the table was full. */
  evicted = 0;
  /** Flows emitted so far. */
  emitted = 0;

  constructor(
    private readonly opts: FlowTableOptions,
    private readonly onFlow: (f: FlowRecord) => void,
  ) {
    const cap = Math.max(16, opts.maxFlows | 0);
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
    this.recs = opts.exportRecords ? new Float64Array(cap) : null;
    this.samp = opts.exportRecords ? new Float64Array(cap) : null;
    this.prefixFull = new Uint8Array(cap * 2);
    this.payload = new Array<FlowPayload | null>(cap).fill(null);
    this.meterState = new Uint8Array(cap);
    this.meters = new Array<ShareMeter | null>(cap).fill(null);
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  /** Account one decoded TCP/UDP packet (the view must have status Transport). */
  add(v: PacketView, buf: Uint8Array, ts: number, inputIndex: number): void {
    if (ts > this.now) {
      this.now = ts;
      if (ts - this.lastSweep >= SWEEP_EVERY_MS) {
        this.lastSweep = ts;
        this.expire(ts);
      }
    }
    const k = this.scratch;
    const fromA = this.buildKey(v, buf, k);
    const h = hashKey(k);
    let slot = this.lookup(k, h);
    const flags = v.tcpFlags;
    const isTcp = v.proto === 6;
    if (slot >= 0) {
      const c = this.closed[slot]!;
      const synOnly = isTcp && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
      if (ts - this.last[slot]! > this.opts.idleTimeoutMs) {
        // Idle longer than the timeout: the sweep may not have run yet, so end it here.
        this.finish(slot, c !== 0 ? 'closed' : 'idle');
        slot = this.insert(k, h, ts, inputIndex);
        this.orient(slot, fromA, flags, v);
      } else if (ts - this.first[slot]! > this.opts.activeTimeoutMs || (synOnly && c !== 0)) {
        const clientIsA = this.clientIsA[slot]!;
        const bySyn = this.bySyn[slot]!;
        const meter = this.meters[slot]!;
        const meterState = this.meterState[slot]!;
        this.finish(slot, synOnly ? 'closed' : 'active');
        slot = this.insert(k, h, ts, inputIndex);
        if (synOnly) this.orient(slot, fromA, flags, v);
        else {
          this.clientIsA[slot] = clientIsA;
          this.bySyn[slot] = bySyn;
          // The connection goes on: so does its share meter (the pool's difficulty stays known).
          this.meterState[slot] = meterState;
          if (meter !== null) {
            meter.restart();
            this.meters[slot] = meter;
            this.liveMeters++;
          }
        }
      } else {
        this.touch(slot);
      }
    } else {
      slot = this.insert(k, h, ts, inputIndex);
      this.orient(slot, fromA, flags, v);
    }
    const d = slot * 2 + (fromA ? 0 : 1);
    this.pkts[d]! += 1;
    this.bytes[d]! += v.ipLength;
    this.flags[d]! |= flags;
    this.last[slot] = ts > this.last[slot]! ? ts : this.last[slot]!;
    this.lastInput[slot] = inputIndex;
    if (isTcp && flags & (TCP_RST | TCP_FIN)) {
      const c = (this.closed[slot]! |= flags & TCP_RST ? CLOSED_RST : fromA ? CLOSED_FIN_A : CLOSED_FIN_B);
      if (this.list[slot] === 0 && (c & CLOSED_RST || c === (CLOSED_FIN_A | CLOSED_FIN_B))) {
        this.unlink(slot);
        this.linkHead(slot, 1);
      }
    }
    const plen = v.payloadLength;
    const synSeen = isTcp && (flags & TCP_SYN) !== 0;
    if ((plen > 0 && this.prefixFull[d] === 0) || synSeen) {
      let p = this.payload[slot]!;
      if (!p) {
        p = this.pool.pop() ?? new FlowPayload(this.opts.payloadBytes);
        this.payload[slot] = p;
      }
      const dir = fromA ? p.a : p.b;
      if (isTcp) {
        if (synSeen) dir.syn(v.tcpSeq);
        if (plen > 0 && !dir.full) dir.tcp(synSeen ? (v.tcpSeq + 1) | 0 : v.tcpSeq, buf, v.payloadOffset, plen, ts);
      } else if (!dir.full) {
        dir.datagram(buf, v.payloadOffset, plen, ts);
      }
      if (dir.full) this.prefixFull[d] = 1;
    }
    if (isTcp && plen > 0 && this.meterState[slot] !== 2) this.meter(slot, fromA, synSeen, v, buf, ts);
  }

  /** Feed a JSON-RPC-looking TCP flow's segment to its share meter (created on its first payload). */
  private meter(slot: number, fromA: boolean, synSeen: boolean, v: PacketView, buf: Uint8Array, ts: number): void {
    let m = this.meters[slot]!;
    if (m === null) {
      // Bounded in total too: beyond MAX_METERS live meters, new flows go unmetered (counted).
      if (!looksJson(buf, v.payloadOffset, v.payloadLength) || this.liveMeters >= MAX_METERS) {
        if (this.liveMeters >= MAX_METERS) this.metersRefused++;
        this.meterState[slot] = 2;
        return;
      }
      m = new ShareMeter();
      // Data start where the payload prefixes say (their SYN + 1 when the handshake was seen).
      const pay = this.payload[slot];
      if (pay) {
        if (pay.a.baseSet) m.expect(0, pay.a.base);
        if (pay.b.baseSet) m.expect(1, pay.b.base);
      }
      this.meters[slot] = m;
      this.meterState[slot] = 1;
      this.liveMeters++;
    }
    try {
      m.segment(fromA ? 0 : 1, synSeen ? (v.tcpSeq + 1) | 0 : v.tcpSeq, buf, v.payloadOffset, v.payloadLength, ts);
    } catch {
      // The meter reads hostile bytes; whatever it did not foresee ends metering, never the scan.
      m.dead = true;
    }
    if (m.dead) this.dropMeter(slot);
  }

  private dropMeter(slot: number): void {
    if (this.meters[slot] !== null) this.liveMeters--;
    this.meters[slot] = null;
    this.meterState[slot] = 2;
  }

  /** Share meters alive now, and flows left unmetered because {@link MAX_METERS} were. */
  liveMeters = 0;
  metersRefused = 0;

  /** Finish every flow idle for longer than its timeout at time `now` (ms). */
  expire(now: number): void {
    for (let s = this.tail[1]!; s >= 0 && now - this.last[s]! > this.opts.closeGraceMs; s = this.tail[1]!) this.finish(s, 'closed');
    for (let s = this.tail[0]!; s >= 0 && now - this.last[s]! > this.opts.idleTimeoutMs; s = this.tail[0]!) this.finish(s, 'idle');
  }

  /** Finish every flow (end of input). */
  flush(): void {
    for (let s = this.tail[1]!; s >= 0; s = this.tail[1]!) this.finish(s, 'closed');
    for (let s = this.tail[0]!; s >= 0; s = this.tail[0]!) this.finish(s, 'eof');
  }

  /**
   * Merge one IPv4 flow-export record (export mode). Both directions of a conversation and the
   * records an exporter's active timeout cut from one connection land in one flow while each starts
   * within `idleTimeoutMs` of the flow's last activity. Counters are scaled by `sampling`. Nothing
   * is allocated unless a flow finishes.
   */
  addRecord(r: NumericExportRecord, inputIndex: number): void {
    let first = r.firstMs;
    let last = r.lastMs;
    // Some exporters get start and end the wrong way round.
    if (last < first) [first, last] = [last, first];
    if (last > this.now) {
      this.now = last;
      if (last - this.lastSweep >= SWEEP_EVERY_MS) {
        this.lastSweep = last;
        this.expire(last);
      }
    }
    const v = this.recordView;
    v.ipVersion = 4;
    v.src4 = r.src4 | 0;
    v.dst4 = r.dst4 | 0;
    v.srcPort = r.srcPort;
    v.dstPort = r.dstPort;
    v.proto = r.protocol;
    v.tcpFlags = 0;
    const k = this.scratch;
    const fromA = this.buildKey(v, EMPTY, k);
    const h = hashKey(k);
    let slot = this.lookup(k, h);
    if (slot >= 0 && first > this.last[slot]! + this.opts.idleTimeoutMs) {
      this.finish(slot, 'idle');
      slot = -1;
    }
    if (slot < 0) {
      slot = this.insert(k, h, first, inputIndex);
      this.orient(slot, fromA, 0, v);
    } else {
      this.touch(slot);
      if (first < this.first[slot]!) this.first[slot] = first;
    }
    const kk = r.sampling > 1 ? r.sampling : 1;
    const d = slot * 2 + (fromA ? 0 : 1);
    const o = slot * 2 + (fromA ? 1 : 0);
    this.pkts[d]! += r.packets * kk;
    this.bytes[d]! += r.bytes * kk;
    this.flags[d]! |= r.tcpFlags;
    this.pkts[o]! += r.reversePackets * kk;
    this.bytes[o]! += r.reverseBytes * kk;
    if (last > this.last[slot]!) this.last[slot] = last;
    this.lastInput[slot] = inputIndex;
    this.recs![slot]! += 1;
    if (kk > this.samp![slot]!) this.samp![slot] = kk;
  }

  private readonly recordView = new PacketView();

  private orient(slot: number, fromA: boolean, flags: number, v: PacketView): void {
    if (v.proto === 6 && flags & TCP_SYN) {
      // SYN alone comes from the client; SYN+ACK from the server.
      const senderIsClient = (flags & TCP_ACK) === 0;
      this.clientIsA[slot] = fromA === senderIsClient ? 1 : 0;
      this.bySyn[slot] = 1;
      return;
    }
    this.bySyn[slot] = 0;
    // No handshake seen: the ports decide (src/flow/orient.ts). The packet goes src → dst; side A is the sender when fromA.
    this.clientIsA[slot] = fromA === dstIsServer(v.srcPort, v.dstPort, this.opts.servicePorts) ? 1 : 0;
  }

  /** Fill `k` with the canonical key; returns whether the packet's source is side A. */
  private buildKey(v: PacketView, buf: Uint8Array, k: Int32Array): boolean {
    let srcFirst: boolean;
    if (v.ipVersion === 4) {
      const s = v.src4;
      const d = v.dst4;
      srcFirst = s < d || (s === d && v.srcPort <= v.dstPort);
      k[0] = srcFirst ? s : d;
      k[4] = srcFirst ? d : s;
      k[1] = k[2] = k[3] = k[5] = k[6] = k[7] = 0;
    } else {
      let cmp = 0;
      for (let i = 0; i < 16 && cmp === 0; i++) cmp = buf[v.src6 + i]! - buf[v.dst6 + i]!;
      srcFirst = cmp < 0 || (cmp === 0 && v.srcPort <= v.dstPort);
      const a = srcFirst ? v.src6 : v.dst6;
      const b = srcFirst ? v.dst6 : v.src6;
      for (let w = 0; w < 4; w++) {
        const p = a + w * 4;
        const q = b + w * 4;
        k[w] = (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
        k[4 + w] = (buf[q]! << 24) | (buf[q + 1]! << 16) | (buf[q + 2]! << 8) | buf[q + 3]!;
      }
    }
    k[8] = srcFirst ? (v.srcPort << 16) | v.dstPort : (v.dstPort << 16) | v.srcPort;
    k[9] = (v.proto << 8) | v.ipVersion;
    return srcFirst;
  }

  private lookup(k: Int32Array, h: number): number {
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

  private insert(k: Int32Array, h: number, ts: number, inputIndex: number): number {
    if (this.freeTop === 0) {
      this.evicted++;
      // Closed flows go first: they are finished anyway.
      const victim = this.tail[1]! >= 0 ? this.tail[1]! : this.tail[0]!;
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
    if (this.recs) {
      this.recs[s] = 0;
      this.samp![s] = 1;
    }
    this.payload[s] = null;
    this.meterState[s] = 0;
    this.meters[s] = null;
    this.linkHead(s, 0);
    this.active++;
    return s;
  }

  private touch(s: number): void {
    if (this.head[this.list[s]!] === s) return;
    const l = this.list[s]!;
    this.unlink(s);
    this.linkHead(s, l);
  }

  private linkHead(s: number, l: number): void {
    this.list[s] = l;
    const h = this.head[l]!;
    this.prev[s] = -1;
    this.next[s] = h;
    if (h >= 0) this.prev[h] = s;
    else this.tail[l] = s;
    this.head[l] = s;
  }

  private unlink(s: number): void {
    const l = this.list[s]!;
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p >= 0) this.next[p] = n;
    else this.head[l] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[l] = p;
  }

  /**
   * Export mode: a test on the finished flow's numbers, before any record or string is made. When it
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

  private finish(s: number, reason: EndReason): void {
    if (this.prefilter !== null && this.canSkip(s)) {
      this.skipped++;
    } else this.onFlow(this.toRecord(s, reason));
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
    this.active--;
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
    v.transport = k[o + 9]! >> 8 === 6 ? 'tcp' : 'udp';
    v.firstSeen = this.first[s]!;
    v.lastSeen = this.last[s]!;
    v.packetsC2S = this.pkts[s * 2 + ca]!;
    v.packetsS2C = this.pkts[s * 2 + 1 - ca]!;
    v.bytesC2S = this.bytes[s * 2 + ca]!;
    v.bytesS2C = this.bytes[s * 2 + 1 - ca]!;
    v.tcpFlagsC2S = this.flags[s * 2 + ca]!;
    v.tcpFlagsS2C = this.flags[s * 2 + 1 - ca]!;
    v.records = this.recs ? this.recs[s]! : 0;
    v.inputIndex = this.input[s]!;
    v.lastInputIndex = this.lastInput[s]!;
    return this.prefilter!(v);
  }

  private toRecord(s: number, endReason: EndReason): FlowRecord {
    const o = s * KW;
    const k = this.keys;
    const v4 = (k[o + 9]! & 0xff) === 4;
    const proto = k[o + 9]! >> 8;
    const addrA = v4 ? formatIpv4(k[o]! >>> 0) : formatIpv6Words(k[o]! >>> 0, k[o + 1]! >>> 0, k[o + 2]! >>> 0, k[o + 3]! >>> 0);
    const addrB = v4 ? formatIpv4(k[o + 4]! >>> 0) : formatIpv6Words(k[o + 4]! >>> 0, k[o + 5]! >>> 0, k[o + 6]! >>> 0, k[o + 7]! >>> 0);
    const portA = (k[o + 8]! >>> 16) & 0xffff;
    const portB = k[o + 8]! & 0xffff;
    const aIsClient = this.clientIsA[s] === 1;
    const ca = aIsClient ? 0 : 1;
    const sa = 1 - ca;
    const pay = this.payload[s];
    const cp = pay ? (aIsClient ? pay.a : pay.b) : null;
    const sp = pay ? (aIsClient ? pay.b : pay.a) : null;
    const meter = this.meters[s];
    const rec: FlowRecord = {
      client: aIsClient ? addrA : addrB,
      clientPort: aIsClient ? portA : portB,
      server: aIsClient ? addrB : addrA,
      serverPort: aIsClient ? portB : portA,
      transport: proto === 6 ? 'tcp' : 'udp',
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
      payloadC2S: cp ? cp.buf.slice(0, cp.length) : EMPTY,
      payloadS2C: sp ? sp.buf.slice(0, sp.length) : EMPTY,
      payloadTimeC2S: cp ? cp.time : 0,
      payloadTimeS2C: sp ? sp.time : 0,
      firstSegmentC2S: cp ? cp.firstSegment : 0,
      firstSegmentS2C: sp ? sp.firstSegment : 0,
      inputIndex: this.input[s]!,
      lastInputIndex: this.lastInput[s]!,
      source: this.recs ? 'export' : 'packets',
      records: this.recs ? this.recs[s]! : 0,
      sampling: this.samp ? this.samp[s]! : 1,
    };
    const shares = meter ? meter.end() : null;
    if (shares) rec.shares = shares;
    return rec;
  }
}

/** A segment that starts a JSON-RPC line: `{` first, or right after the first newline (capture began mid-line). */
function looksJson(buf: Uint8Array, off: number, len: number): boolean {
  if (buf[off] === 0x7b) return true;
  const end = off + (len < 512 ? len : 512);
  for (let p = off; p < end - 1; p++) if (buf[p] === 0x0a) return buf[p + 1] === 0x7b;
  return false;
}

const EMPTY = new Uint8Array(0);

/** The numbers of a finished IPv4 export flow, for a prefilter (reused; read during the call). */
export type ExportFlowView = Pick<
  FlowRecord,
  'serverPort' | 'transport' | 'firstSeen' | 'lastSeen' | 'packetsC2S' | 'packetsS2C' | 'bytesC2S' | 'bytesS2C' | 'tcpFlagsC2S' | 'tcpFlagsS2C' | 'records'
> & { inputIndex: number; lastInputIndex: number; serverIp4: number };

/** An IPv4 flow-export record with numeric addresses (the decoder's, without the exporter). */
export type NumericExportRecord = Omit<NumericRecord, 'exporter'>;

/** 32-bit mix of the key words (murmur3 finaliser per word). */
function hashKey(k: Int32Array): number {
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
