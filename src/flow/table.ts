/**
 * The one flow table: bidirectional flows keyed by the 5-tuple, from packets (src/flow/packets.ts)
 * and from flow-export records, IPv4 and IPv6 (src/flow/records.ts), over slots in typed arrays
 * (src/flow/slots.ts). Packet flows and export flows are held apart (the source is part of the key)
 * and each has its own bound, its own clock and its own timeouts. Memory is bounded by the
 * capacities, never by input size; a packet or an IPv4 record touches no allocation (a finished flow
 * becomes one {@link FlowRecord}).
 */
import type { FlowRecord } from '../types.js';
import type { PacketView } from '../decode/packet.js';
import { addPacket, expirePackets } from './packets.js';
import { addRecord4, addRecord6, expireArrivedBefore, expireRecords, type ExportCounters, type NumericExportRecord } from './records.js';
import { FlowSlots, LIST_CLOSED, LIST_EXPORT, LIST_OPEN, type FlowTableOptions } from './slots.js';

export { DEFAULT_FLOW_OPTIONS, type ExportFlowView, type ExportJoinOptions, type FlowTableOptions } from './slots.js';
export { DEFAULT_EXPORT_OPTIONS, type ExportCounters, type ExportFlowInput, type NumericExportRecord } from './records.js';

export class FlowTable extends FlowSlots {
  /** `onFlow` gets every finished flow, once, as it finishes (its payload borrowed for the call only with `payloadViews`). */
  constructor(opts: FlowTableOptions, onFlow: (f: FlowRecord) => void) {
    super(opts, onFlow);
  }

  /** Account one decoded TCP/UDP packet (the view must have status Transport) at its time `v.time`. */
  add(v: PacketView, buf: Uint8Array, inputIndex: number): void {
    addPacket(this, v, buf, inputIndex);
  }

  /**
   * Merge one IPv4 flow-export record. Both directions of a conversation and the records an
   * exporter's active timeout cut from one connection land in one flow while each starts within
   * the join gap of the flow's last activity. Counters are scaled by `sampling`. A record that is not
   * TCP or UDP is counted in {@link otherProtocol}.
   * @throws Error when the table was made without `exports` options.
   */
  addRecord(r: NumericExportRecord, inputIndex: number): void {
    addRecord4(this, r, inputIndex);
  }

  /** As {@link addRecord}, for IPv6: source address in `words[0..3]`, destination in `words[4..7]` (big-endian words). */
  addRecord6(r: ExportCounters, words: Int32Array, inputIndex: number): void {
    addRecord6(this, r, words, inputIndex);
  }

  /** Finish every packet flow idle for longer than its timeout at time `now` (ms). */
  expire(now: number): void {
    expirePackets(this, now);
  }

  /** Finish export flows no record joined for the join gap, by the newest record end seen. */
  expireExports(): void {
    if (this.opts.exports) expireRecords(this, this.recordNow);
  }

  /**
   * Finish export flows no record joined since `limitMs` by the arrival clock: set
   * {@link arrival} before adding records, then call this with arrival time minus the join gap.
   */
  expireArrivedBefore(limitMs: number): void {
    expireArrivedBefore(this, limitMs);
  }

  /** Finish every flow (end of input): packet flows first, then export flows. */
  flush(): void {
    this.flushList(LIST_CLOSED, 'closed');
    this.flushList(LIST_OPEN, 'eof');
    this.flushList(LIST_EXPORT, 'eof');
  }
}
