/**
 * Flow-export records (NetFlow v5/v9, IPFIX, nfdump CSV) → the canonical {@link FlowRecord}.
 * Unidirectional records of one conversation are paired into a biflow (same 5-tuple reversed), and
 * records that an exporter's active timeout cut from one long connection are joined back, as long
 * as each starts within `joinGapMs` of the flow's last activity. Sampled counters are scaled by
 * the sampling interval and the flow says so (`sampling` > 1: estimates). Memory is bounded by
 * `maxFlows`; the oldest idle flow is finished when it is reached.
 */
import type { FlowRecord } from '../types.js';
import type { NumericExportRecord } from './table.js';
import { dstIsServer } from './orient.js';

/**
 * One export record, normalised (whatever format it came from), with addresses as text (IPv6, or
 * a source that gives text). Counters are as exported; `sampling` is 1 when unsampled, and the
 * reverse counters are RFC 5103's (0 for unidirectional records).
 */
export type ExportFlowInput = Omit<NumericExportRecord, 'src4' | 'dst4'> & {
  ipVersion: 4 | 6;
  srcAddr: string;
  dstAddr: string;
};

export interface ExportAssemblerOptions {
  /** A record starting within this long after a flow's last activity joins it (ms). */
  joinGapMs: number;
  maxFlows: number;
  /** Ports services listen on ({@link servicePortSet}), for orienting records. */
  servicePorts?: Uint8Array | null;
}

export const DEFAULT_EXPORT_OPTIONS: ExportAssemblerOptions = { joinGapMs: 300_000, maxFlows: 1 << 20 };

interface Agg {
  rec: FlowRecord;
  /** Canonical side A (the lower endpoint) is the client. */
  clientIsA: boolean;
  /** {@link ExportFlowAssembler.arrival} when a record last joined (a live collector's clock). */
  touched: number;
}

const EMPTY = new Uint8Array(0);

function endpointKey(addr: string, port: number): string {
  return `${addr}#${port}`;
}

export class ExportFlowAssembler {
  private readonly flows = new Map<string, Agg>();
  private watermark = 0;
  emitted = 0;
  evicted = 0;
  /** Records that were not TCP or UDP (counted, not flows). */
  otherProtocol = 0;
  /** Arrival time of the records being added (ms, the collector's clock; 0 when reading files). */
  arrival = 0;

  constructor(
    private readonly opts: ExportAssemblerOptions,
    private readonly onFlow: (f: FlowRecord) => void,
  ) {}

  add(r: ExportFlowInput, inputIndex: number): void {
    if (r.protocol !== 6 && r.protocol !== 17) {
      this.otherProtocol++;
      return;
    }
    // Some exporters get start and end the wrong way round (seen: softflowd IPFIX through nfdump).
    if (r.lastMs < r.firstMs) r = { ...r, firstMs: r.lastMs, lastMs: r.firstMs };
    const src = endpointKey(r.srcAddr, r.srcPort);
    const dst = endpointKey(r.dstAddr, r.dstPort);
    const srcIsA = src <= dst;
    const key = `${r.protocol}|${srcIsA ? src : dst}|${srcIsA ? dst : src}`;
    if (r.lastMs > this.watermark) this.watermark = r.lastMs;
    let agg = this.flows.get(key);
    if (agg && r.firstMs > agg.rec.lastSeen + this.opts.joinGapMs) {
      this.finish(key, agg, 'idle');
      agg = undefined;
    }
    if (!agg) {
      if (this.flows.size >= this.opts.maxFlows) this.evictOldest();
      agg = this.start(r, srcIsA, inputIndex);
    } else {
      // Move to the end: Map order is least recently updated first.
      this.flows.delete(key);
    }
    this.flows.set(key, agg);
    agg.touched = this.arrival;
    agg.rec.lastInputIndex = inputIndex;
    this.merge(agg, r, srcIsA);
  }

  /** Finish flows with no record for longer than the join gap, relative to the newest record seen. */
  expire(): void {
    const limit = this.watermark - this.opts.joinGapMs;
    for (const [key, agg] of this.flows) {
      if (agg.rec.lastSeen >= limit) break;
      this.finish(key, agg, 'idle');
    }
  }

  /** Finish flows no record joined since `limitMs` by the collector's clock (see {@link arrival}). */
  expireBefore(limitMs: number): void {
    // Map order is least recently touched first, so the scan stops at the first recent flow.
    for (const [key, agg] of this.flows) {
      if (agg.touched >= limitMs) break;
      this.finish(key, agg, 'idle');
    }
  }

  flush(): void {
    for (const [key, agg] of this.flows) this.finish(key, agg, 'eof');
  }

  get joinGapMs(): number {
    return this.opts.joinGapMs;
  }

  get active(): number {
    return this.flows.size;
  }

  private evictOldest(): void {
    const first = this.flows.entries().next();
    if (first.done) return;
    this.evicted++;
    this.finish(first.value[0], first.value[1], 'evicted');
  }

  private start(r: ExportFlowInput, srcIsA: boolean, inputIndex: number): Agg {
    // No handshake in an export: the ports decide (src/flow/orient.ts).
    const clientIsA = srcIsA === dstIsServer(r.srcPort, r.dstPort, this.opts.servicePorts);
    const aAddr = srcIsA ? r.srcAddr : r.dstAddr;
    const aPort = srcIsA ? r.srcPort : r.dstPort;
    const bAddr = srcIsA ? r.dstAddr : r.srcAddr;
    const bPort = srcIsA ? r.dstPort : r.srcPort;
    const rec: FlowRecord = {
      client: clientIsA ? aAddr : bAddr,
      clientPort: clientIsA ? aPort : bPort,
      server: clientIsA ? bAddr : aAddr,
      serverPort: clientIsA ? bPort : aPort,
      transport: r.protocol === 6 ? 'tcp' : 'udp',
      ipVersion: r.ipVersion,
      orientation: 'port',
      firstSeen: r.firstMs,
      lastSeen: r.lastMs,
      packetsC2S: 0,
      packetsS2C: 0,
      bytesC2S: 0,
      bytesS2C: 0,
      tcpFlagsC2S: 0,
      tcpFlagsS2C: 0,
      endReason: 'eof',
      payloadC2S: EMPTY,
      payloadS2C: EMPTY,
      payloadTimeC2S: 0,
      payloadTimeS2C: 0,
      firstSegmentC2S: 0,
      firstSegmentS2C: 0,
      inputIndex,
      lastInputIndex: inputIndex,
      source: 'export',
      records: 0,
      sampling: 1,
    };
    return { rec, clientIsA, touched: this.arrival };
  }

  private merge(agg: Agg, r: ExportFlowInput, srcIsA: boolean): void {
    const f = agg.rec;
    const k = r.sampling > 1 ? r.sampling : 1;
    const fromClient = srcIsA === agg.clientIsA;
    if (fromClient) {
      f.packetsC2S += r.packets * k;
      f.bytesC2S += r.bytes * k;
      f.tcpFlagsC2S |= r.tcpFlags;
      f.packetsS2C += r.reversePackets * k;
      f.bytesS2C += r.reverseBytes * k;
    } else {
      f.packetsS2C += r.packets * k;
      f.bytesS2C += r.bytes * k;
      f.tcpFlagsS2C |= r.tcpFlags;
      f.packetsC2S += r.reversePackets * k;
      f.bytesC2S += r.reverseBytes * k;
    }
    if (r.firstMs < f.firstSeen) f.firstSeen = r.firstMs;
    if (r.lastMs > f.lastSeen) f.lastSeen = r.lastMs;
    if (k > f.sampling) f.sampling = k;
    f.records++;
  }

  private finish(key: string, agg: Agg, reason: FlowRecord['endReason']): void {
    this.flows.delete(key);
    agg.rec.endReason = reason;
    this.emitted++;
    this.onFlow(agg.rec);
  }
}
