/**
 * The export-record path into the flow table: NetFlow v5/v9, IPFIX, nfdump CSV and JSON flow
 * records, IPv4 and IPv6, become flows. Unidirectional records of one conversation are paired into
 * a biflow (same 5-tuple reversed), and records that an exporter's active timeout cut from one long
 * connection are joined back while each starts within `joinGapMs` of the flow's last activity.
 * Sampled counters are scaled by the sampling interval and the flow says so (`sampling` > 1:
 * estimates). Flows are oriented by ports (src/flow/orient.ts): an export has no handshake.
 *
 * Two clocks end export flows: the records' own (a flow no record joined for the join gap, counted
 * from the newest record end seen) and, for a live collector, the arrival clock (a flow no record
 * joined for the join gap by the collector's clock), so a quiet exporter cannot hold flows.
 */
import type { NumericRecord } from '../decode/templates.js';
import { shardOfKey } from './shard.js';
import { dstIsServer } from './orient.js';
import { B_FLAGS, B_ORIENT, BW, hashKey, LIST_EXPORT, M_LAST_INPUT, M_RECS, MW, N_ARRIVED, N_BYTES, N_FIRST, N_LAST, N_PKTS, N_SAMP, NW, ORIENT_CLIENT_A, SOURCE_EXPORT, type ExportJoinOptions, type FlowSlots } from './slots.js';

/** An IPv4 flow-export record with numeric addresses (the decoder's, without the exporter). */
export type NumericExportRecord = Omit<NumericRecord, 'exporter'>;

/** An export record's numbers without its addresses (the IPv6 path carries them as words). */
export type ExportCounters = Omit<NumericExportRecord, 'src4' | 'dst4'>;

/**
 * One export record, normalised (whatever format it came from), with addresses as text (IPv6, or
 * a source that gives text). Counters are as exported; `sampling` is 1 when unsampled, and the
 * reverse counters are RFC 5103's (0 for unidirectional records).
 */
export type ExportFlowInput = ExportCounters & {
  ipVersion: 4 | 6;
  srcAddr: string;
  dstAddr: string;
};

/** Joining as a file scan does it: a 5-minute gap, and room for a million export flows. */
export const DEFAULT_EXPORT_OPTIONS: ExportJoinOptions = { joinGapMs: 300_000, maxFlows: 1 << 20 };

const SWEEP_EVERY_MS = 1000;

/** Merge one IPv4 export record (numeric addresses; nothing is allocated unless a flow finishes). */
export function addRecord4(t: FlowSlots, r: NumericExportRecord, inputIndex: number): void {
  const k = t.scratch;
  const s = r.src4 | 0;
  const d = r.dst4 | 0;
  const srcFirst = s < d || (s === d && r.srcPort <= r.dstPort);
  k[0] = srcFirst ? s : d;
  k[4] = srcFirst ? d : s;
  k[1] = k[2] = k[3] = k[5] = k[6] = k[7] = 0;
  merge(t, r, srcFirst, 4, inputIndex);
}

/**
 * Merge one IPv6 export record whose addresses are the big-endian words `words[0..3]` (source) and
 * `words[4..7]` (destination), as {@link parseIpv6Words} writes them.
 */
export function addRecord6(t: FlowSlots, r: ExportCounters, words: Int32Array, inputIndex: number): void {
  const k = t.scratch;
  let cmp = 0;
  for (let i = 0; i < 4 && cmp === 0; i++) {
    const a = words[i]! >>> 0;
    const b = words[4 + i]! >>> 0;
    cmp = a < b ? -1 : a > b ? 1 : 0;
  }
  const srcFirst = cmp < 0 || (cmp === 0 && r.srcPort <= r.dstPort);
  const a = srcFirst ? 0 : 4;
  const b = srcFirst ? 4 : 0;
  for (let w = 0; w < 4; w++) {
    k[w] = words[a + w]!;
    k[4 + w] = words[b + w]!;
  }
  merge(t, r, srcFirst, 6, inputIndex);
}

/** Finish export flows no record joined for the join gap, by the records' clock. */
export function expireRecords(t: FlowSlots, now: number): void {
  t.expireList(LIST_EXPORT, now, t.opts.exports!.joinGapMs, 'idle');
}

/** Finish export flows no record joined since `limitMs` by the arrival clock ({@link FlowSlots.arrival}). */
export function expireArrivedBefore(t: FlowSlots, limitMs: number): void {
  // The list is least recently joined last, and arrival times only grow, so the walk stops at the first recent flow.
  for (let s = t.tail[LIST_EXPORT]!; s >= 0 && t.num[s * NW + N_ARRIVED]! < limitMs; s = t.tail[LIST_EXPORT]!) t.finish(s, 'idle');
}

/** The key's addresses are in `t.scratch[0..7]`; the rest of the key, then the flow, from the record. */
function merge(t: FlowSlots, r: ExportCounters, fromA: boolean, ipVersion: 4 | 6, inputIndex: number): void {
  if (r.protocol !== 6 && r.protocol !== 17) {
    t.otherProtocol++;
    return;
  }
  let first = r.firstMs;
  let last = r.lastMs;
  // Some exporters get start and end the wrong way round (seen: softflowd IPFIX through nfdump).
  if (last < first) {
    const x = first;
    first = last;
    last = x;
  }
  const gap = t.opts.exports!.joinGapMs;
  if (last > t.recordNow) {
    t.recordNow = last;
    if (last - t.recordSweep >= SWEEP_EVERY_MS) {
      t.recordSweep = last;
      t.expireList(LIST_EXPORT, last, gap, 'idle');
    }
  }
  const k = t.scratch;
  k[8] = fromA ? (r.srcPort << 16) | r.dstPort : (r.dstPort << 16) | r.srcPort;
  k[9] = (SOURCE_EXPORT << 16) | (r.protocol << 8) | ipVersion;
  if (t.shardCount > 1 && shardOfKey(k, t.shardCount) !== t.shardIndex) return;
  const h = hashKey(k);
  let slot = t.lookup(k, h);
  const num = t.num;
  if (slot >= 0 && first > num[slot * NW + N_LAST]! + gap) {
    t.finish(slot, 'idle');
    slot = -1;
  }
  if (slot < 0) {
    slot = t.insert(k, h, inputIndex);
    num[slot * NW + N_FIRST] = num[slot * NW + N_LAST] = first;
    // The record goes src → dst; side A is the sender when fromA.
    t.bits[slot * BW + B_ORIENT] = fromA === dstIsServer(r.srcPort, r.dstPort, t.opts.servicePorts) ? ORIENT_CLIENT_A : 0;
  } else {
    t.touchExport(slot);
    if (first < num[slot * NW + N_FIRST]!) num[slot * NW + N_FIRST] = first;
  }
  const kk = r.sampling > 1 ? r.sampling : 1;
  const n = slot * NW;
  const d = fromA ? 0 : 1;
  num[n + N_PKTS + d]! += r.packets * kk;
  num[n + N_BYTES + d]! += r.bytes * kk;
  num[n + N_PKTS + 1 - d]! += r.reversePackets * kk;
  num[n + N_BYTES + 1 - d]! += r.reverseBytes * kk;
  if (last > num[n + N_LAST]!) num[n + N_LAST] = last;
  if (kk > 1 && kk > num[n + N_SAMP]!) num[n + N_SAMP] = kk;
  num[n + N_ARRIVED] = t.arrival;
  t.bits[slot * BW + B_FLAGS + d]! |= r.tcpFlags;
  const m = slot * MW;
  t.meta[m + M_LAST_INPUT] = inputIndex;
  t.meta[m + M_RECS]! += 1;
}
