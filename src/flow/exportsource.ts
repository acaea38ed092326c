/**
 * Export datagrams (NetFlow v5/v9, IPFIX) wherever they are found — UDP payloads inside captures,
 * IPFIX files, a live UDP socket — decoded by one stateful {@link FlowExportDecoder} and turned into
 * {@link ExportFlowInput} records for the assembler. Anomalies carry their stable code, the exporter
 * and the offset.
 */
import type { Anomalies } from '../anomalies.js';
import { FlowExportDecoder, looksLikeFlowExport, type ExportAnomaly, type ExportRecord, type NumericRecord } from '../decode/flowexport.js';
import type { ExportFlowInput } from './records.js';

/** Stricter than the header test: every set of a v9/IPFIX datagram must tile it (padding allowed). */
export function plausibleExportDatagram(buf: Uint8Array, off: number, len: number): boolean {
  const v = looksLikeFlowExport(buf, off, len);
  if (v === null) return false;
  if (v === 5) return true;
  const header = v === 9 ? 20 : 16;
  let p = off + header;
  const end = off + len;
  let sets = 0;
  while (p + 4 <= end) {
    const id = (buf[p]! << 8) | buf[p + 1]!;
    const sl = (buf[p + 2]! << 8) | buf[p + 3]!;
    if (sl === 0 && id === 0 && v === 9) {
      // Cisco/Palo Alto pad a v9 datagram with zeros.
      for (let q = p; q < end; q++) if (buf[q] !== 0) return false;
      return sets > 0;
    }
    if (sl < 4 || p + sl > end) return false;
    if (v === 10 ? id < 2 || (id > 3 && id < 256) : id > 1 && id < 256) return false;
    p += sl;
    sets++;
  }
  return sets > 0 && (p === end || (v === 9 && end - p < 4));
}

export function toFlowInput(r: ExportRecord): ExportFlowInput {
  return {
    ipVersion: r.ipVersion,
    srcAddr: r.srcAddr,
    dstAddr: r.dstAddr,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    protocol: r.protocol,
    tcpFlags: r.tcpFlags,
    packets: r.packets,
    bytes: r.bytes,
    reversePackets: r.reversePackets,
    reverseBytes: r.reverseBytes,
    firstMs: r.firstMs,
    lastMs: r.lastMs,
    sampling: r.samplingInterval > 1 ? r.samplingInterval : 1,
  };
}

/**
 * Where bytes `at` bytes into the datagram `decoder` is delivering from are, for input `file`: an
 * offset in it, or, for a data set held from an earlier input, -1 and a note naming that input and
 * the offset there.
 */
export function placeIn(decoder: FlowExportDecoder, file: string, at: number): { offset: number; note: string } {
  const offset = decoder.origin + at;
  if (decoder.input === file) return { offset, note: '' };
  return { offset: -1, note: ` (a data set held for its template from ${decoder.input}, at byte ${offset} of it)` };
}

/** Feeds datagrams to the decoder and records to a sink, counting anomalies per input. */
export class ExportDatagrams {
  readonly decoder: FlowExportDecoder;
  private file = '';
  private anomalies: Anomalies | null = null;
  private onRecord: (r: ExportFlowInput) => void = () => undefined;
  private onNumeric: ((r: NumericRecord) => void) | undefined = undefined;

  constructor(opts?: { maxTemplates?: number; maxPendingPerTemplate?: number }) {
    this.decoder = new FlowExportDecoder(opts);
  }

  /** Route the next datagrams' records and anomalies (per input). */
  bind(file: string, anomalies: Anomalies, onRecord: (r: ExportFlowInput) => void, onNumeric?: (r: NumericRecord) => void): void {
    this.file = file;
    this.anomalies = anomalies;
    this.onRecord = onRecord;
    this.onNumeric = onNumeric;
  }

  /** Decode one datagram from `exporter`; `fileOffset` locates it in the input for anomalies. */
  datagram(buf: Uint8Array, off: number, len: number, exporter: string, fileOffset: number): void {
    this.exporter = exporter;
    this.decoder.decode(buf, off, len, exporter, this.recordSink, this.anomalySink, this.onNumeric, fileOffset, this.file);
  }

  /**
   * Where the bytes `at` bytes into the datagram that carried the records being delivered now are
   * (that datagram: the one being decoded, or an earlier one whose data set waited for the template
   * this one brought): an offset in this input, or, when the set was held from an earlier input
   * (rotated files), -1 and a note naming that input and the offset there.
   */
  placeOf(at: number): { offset: number; note: string } {
    return placeIn(this.decoder, this.file, at);
  }

  /** Exporter of the datagram being decoded (for its anomalies). */
  private exporter = '';

  /** NAT events without a destination are not flows (they feed `--nat-ipfix`). */
  private readonly recordSink = (r: ExportRecord): void => {
    if (r.dstAddr !== '') this.onRecord(toFlowInput(r));
  };

  private readonly anomalySink = (a: ExportAnomaly): void => {
    const p = this.placeOf(a.offset);
    this.anomalies?.add(a.code, this.file, p.offset, `exporter ${this.exporter}: ${a.message}${p.note}`);
  };
}
