/**
 * The packet path into the flow table: one decoded TCP/UDP packet updates its flow's counters, TCP
 * close state, payload prefixes and share meter. Flows are oriented by the handshake when it is
 * seen, else by ports (src/flow/orient.ts). Nothing is allocated per packet (a flow takes a payload
 * prefix from a pool; a JSON-RPC flow gets one share meter), except the view Node's Buffer#copy
 * makes when a packet's payload is copied into a prefix that is not yet full (src/flow/prefix.ts).
 */
import type { PacketView } from '../decode/packet.js';
import { shardOfKey } from './shard.js';
import { FlowPayload } from './prefix.js';
import { ShareMeter } from './shares.js';
import { dstIsServer } from './orient.js';
import { B_CLOSED, B_FLAGS, B_FULL, B_LIST, B_METER, B_ORIENT, BW, hashKey, LIST_CLOSED, LIST_OPEN, M_LAST_INPUT, MW, N_BYTES, N_FIRST, N_LAST, N_PKTS, NW, ORIENT_BY_SYN, ORIENT_CLIENT_A, type FlowSlots } from './slots.js';

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

/** Account one decoded TCP/UDP packet (the view must have status Transport) at its time `v.time`. */
export function addPacket(t: FlowSlots, v: PacketView, buf: Uint8Array, inputIndex: number): void {
  const ts = v.time;
  if (ts > t.now) {
    t.now = ts;
    if (ts - t.lastSweep >= SWEEP_EVERY_MS) {
      t.lastSweep = ts;
      expirePackets(t, ts);
    }
  }
  const k = t.scratch;
  const fromA = packetKey(v, buf, k);
  if (t.shardCount > 1 && shardOfKey(k, t.shardCount) !== t.shardIndex) return;
  const h = hashKey(k);
  let slot = t.lookup(k, h);
  const flags = v.tcpFlags;
  const isTcp = v.proto === 6;
  const opts = t.opts;
  const bits = t.bits;
  const num = t.num;
  if (slot >= 0) {
    const c = bits[slot * BW + B_CLOSED]!;
    const synOnly = isTcp && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (ts - num[slot * NW + N_LAST]! > opts.idleTimeoutMs) {
      // Idle longer than the timeout: the sweep may not have run yet, so end it here.
      t.finish(slot, c !== 0 ? 'closed' : 'idle');
      slot = t.insert(k, h, inputIndex);
      num[slot * NW + N_FIRST] = num[slot * NW + N_LAST] = ts;
      orient(t, slot, fromA, flags, v);
    } else if (ts - num[slot * NW + N_FIRST]! > opts.activeTimeoutMs || (synOnly && c !== 0)) {
      const orientation = bits[slot * BW + B_ORIENT]!;
      const meter = t.meters[slot]!;
      const meterState = bits[slot * BW + B_METER]!;
      t.finish(slot, synOnly ? 'closed' : 'active');
      slot = t.insert(k, h, inputIndex);
      num[slot * NW + N_FIRST] = num[slot * NW + N_LAST] = ts;
      if (synOnly) orient(t, slot, fromA, flags, v);
      else {
        bits[slot * BW + B_ORIENT] = orientation;
        // The connection goes on: so does its share meter (the pool's difficulty stays known).
        bits[slot * BW + B_METER] = meterState;
        if (meter !== null) {
          meter.restart();
          t.meters[slot] = meter;
          t.liveMeters++;
        }
      }
    } else {
      t.touch(slot);
    }
  } else {
    slot = t.insert(k, h, inputIndex);
    num[slot * NW + N_FIRST] = num[slot * NW + N_LAST] = ts;
    orient(t, slot, fromA, flags, v);
  }
  const d = fromA ? 0 : 1;
  const n = slot * NW;
  const b = slot * BW;
  num[n + N_PKTS + d]! += 1;
  num[n + N_BYTES + d]! += v.ipLength;
  if (ts > num[n + N_LAST]!) num[n + N_LAST] = ts;
  bits[b + B_FLAGS + d]! |= flags;
  t.meta[slot * MW + M_LAST_INPUT] = inputIndex;
  if (isTcp && flags & (TCP_RST | TCP_FIN)) {
    const c = (bits[b + B_CLOSED]! |= flags & TCP_RST ? CLOSED_RST : fromA ? CLOSED_FIN_A : CLOSED_FIN_B);
    if (bits[b + B_LIST] === LIST_OPEN && (c & CLOSED_RST || c === (CLOSED_FIN_A | CLOSED_FIN_B))) {
      t.unlink(slot);
      t.linkHead(slot, LIST_CLOSED);
    }
  }
  const plen = v.payloadLength;
  const synSeen = isTcp && (flags & TCP_SYN) !== 0;
  if ((plen > 0 && bits[b + B_FULL + d] === 0) || synSeen) {
    let p = t.payload[slot]!;
    if (!p) {
      p = t.pool.pop() ?? new FlowPayload(opts.payloadBytes);
      t.payload[slot] = p;
    }
    const dir = fromA ? p.a : p.b;
    if (isTcp) {
      if (synSeen) dir.syn(v.tcpSeq);
      if (plen > 0 && !dir.full) dir.tcp(synSeen ? (v.tcpSeq + 1) | 0 : v.tcpSeq, buf, v.payloadOffset, plen, v);
    } else if (!dir.full) {
      dir.datagram(buf, v.payloadOffset, plen, v);
    }
    if (dir.full) bits[b + B_FULL + d] = 1;
  }
  if (isTcp && plen > 0 && bits[b + B_METER] !== 2) meter(t, slot, fromA, synSeen, v, buf);
}

/** Finish every packet flow idle for longer than its timeout at time `now` (ms). */
export function expirePackets(t: FlowSlots, now: number): void {
  t.expireList(LIST_CLOSED, now, t.opts.closeGraceMs, 'closed');
  t.expireList(LIST_OPEN, now, t.opts.idleTimeoutMs, 'idle');
}

/** Feed a JSON-RPC-looking TCP flow's segment to its share meter (created on its first payload). */
function meter(t: FlowSlots, slot: number, fromA: boolean, synSeen: boolean, v: PacketView, buf: Uint8Array): void {
  let m = t.meters[slot]!;
  if (m === null) {
    // Bounded in total too: beyond MAX_METERS live meters, new flows go unmetered (counted).
    if (!looksJson(buf, v.payloadOffset, v.payloadLength) || t.liveMeters >= MAX_METERS) {
      if (t.liveMeters >= MAX_METERS) t.metersRefused++;
      t.bits[slot * BW + B_METER] = 2;
      return;
    }
    m = new ShareMeter();
    // Data start where the payload prefixes say (their SYN + 1 when the handshake was seen).
    const pay = t.payload[slot];
    if (pay) {
      if (pay.a.baseSet) m.expect(0, pay.a.base);
      if (pay.b.baseSet) m.expect(1, pay.b.base);
    }
    t.meters[slot] = m;
    t.bits[slot * BW + B_METER] = 1;
    t.liveMeters++;
  }
  try {
    m.segment(fromA ? 0 : 1, synSeen ? (v.tcpSeq + 1) | 0 : v.tcpSeq, buf, v.payloadOffset, v.payloadLength, v.time);
  } catch {
    // The meter reads hostile bytes; whatever it did not foresee ends metering, never the scan.
    m.dead = true;
  }
  if (m.dead) {
    if (t.meters[slot] !== null) t.liveMeters--;
    t.meters[slot] = null;
    t.bits[slot * BW + B_METER] = 2;
  }
}

function orient(t: FlowSlots, slot: number, fromA: boolean, flags: number, v: PacketView): void {
  if (v.proto === 6 && flags & TCP_SYN) {
    // SYN alone comes from the client; SYN+ACK from the server.
    const senderIsClient = (flags & TCP_ACK) === 0;
    t.bits[slot * BW + B_ORIENT] = ORIENT_BY_SYN | (fromA === senderIsClient ? ORIENT_CLIENT_A : 0);
    return;
  }
  // No handshake seen: the ports decide (src/flow/orient.ts). The packet goes src → dst; side A is the sender when fromA.
  t.bits[slot * BW + B_ORIENT] = fromA === dstIsServer(v.srcPort, v.dstPort, t.opts.servicePorts) ? ORIENT_CLIENT_A : 0;
}

/** Fill `k` with the packet's canonical key; returns whether the packet's source is side A. */
function packetKey(v: PacketView, buf: Uint8Array, k: Int32Array): boolean {
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
  // Source 0 (packets) in the top half.
  k[9] = (v.proto << 8) | v.ipVersion;
  return srcFirst;
}

/** A segment that starts a JSON-RPC line: `{` first, or right after the first newline (capture began mid-line). */
function looksJson(buf: Uint8Array, off: number, len: number): boolean {
  if (buf[off] === 0x7b) return true;
  const end = off + (len < 512 ? len : 512);
  for (let p = off; p < end - 1; p++) if (buf[p] === 0x0a) return buf[p + 1] === 0x7b;
  return false;
}
