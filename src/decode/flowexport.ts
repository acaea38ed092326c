/**
 * Flow-export front end: the record type shared by the NetFlow v5, v9 and IPFIX decoders, a header
 * sniffer that tells export datagrams from other UDP payloads, and {@link FlowExportDecoder}, which
 * holds the per-exporter template cache and dispatches each datagram by its version field.
 *
 * @see netflow.ts (v5, v9), ipfix.ts (IPFIX), templates.ts (template cache, record decoding),
 *      ie.ts (information elements)
 * @see RFC 3954 §5.1, RFC 7011 §3.1 (headers sniffed here)
 */
import type { AnomalyCode } from '../anomalies.js';
import { decodeIpfix, IPFIX_HEADER } from './ipfix.js';
import { decodeV5, decodeV9, V5_HEADER, V5_MAX_COUNT, V5_RECORD, V9_HEADER } from './netflow.js';
import { Scratch } from './templates/compile.js';
import { newNumericRecord, type NumericRecord } from './templates/emit.js';
import { TemplateCache } from './templates/store.js';
import type { RecordContext } from './templates/walk.js';
export type { NumericRecord } from './templates/emit.js';

/** One flow record from an export datagram, whatever the protocol version. */
export interface ExportRecord {
  version: 5 | 9 | 10;
  /** Exporter address text as given by the caller. */
  exporter: string;
  /** v9 source id / IPFIX observation domain id (0 for v5). */
  domain: number;
  /** 0 for v5. */
  templateId: number;
  ipVersion: 4 | 6;
  /** IPv4 dotted quad or IPv6 RFC 5952 text. */
  srcAddr: string;
  /** Empty for a NAT event that has no destination (port-block allocation, address binding): not a flow. */
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  tcpFlags: number;
  /** As exported (raw, not multiplied by the sampling interval). deltaCount or totalCount. */
  packets: number;
  bytes: number;
  /** RFC 5103 biflow reverse counters (0 when absent). */
  reversePackets: number;
  reverseBytes: number;
  /** 1 when unsampled; from the v5 header, or v9/IPFIX sampling fields / options data. */
  samplingInterval: number;
  /** Absolute Unix ms; the export time for both when the record has no times. */
  firstMs: number;
  lastMs: number;
  /** flowDirection (IE 61) when present: 0 ingress, 1 egress. */
  direction: number | null;
  /** NAT translation (RFC 8158 / IANA IEs 225-228, 230, 281-282, 361-364), null when absent. */
  nat: null | {
    event: number | null;
    postSrcAddr: string | null;
    postDstAddr: string | null;
    postSrcPort: number | null;
    postDstPort: number | null;
    portRangeStart: number | null;
    portRangeEnd: number | null;
  };
}

/** A problem found in a datagram; `offset` is within the datagram. */
export interface ExportAnomaly {
  /** One of the export codes of {@link ANOMALY_CODES}: `netflow.*`, `v9.*`, `ipfix.*`, `export.unknown_version`. */
  code: AnomalyCode;
  offset: number;
  message: string;
}

/** Running counters of one decoder. */
export interface ExportStats {
  /** Datagrams decoded (version 5, 9 or 10). */
  datagrams: number;
  /** Records delivered: flows (with a source and destination address) and NAT events (a source and NAT elements). */
  records: number;
  /** Template and options template records accepted (a refresh counts again). */
  templates: number;
  /** Data sets that arrived before their template. */
  templateMisses: number;
  /** Data sets dropped because the pending buffer was full. */
  pendingDropped: number;
  /** Options data records decoded (sampling, system init time …). */
  optionsRecords: number;
}

/**
 * Whether `buf[off, off + len)` looks like a flow-export datagram, from the header alone: v5 with
 * count 1..30 and exactly 24 + 48 × count bytes; v9 with a count no larger than the bytes after the
 * header and a first FlowSet with a valid id (0, 1 or ≥ 256) and a length that fits; IPFIX with a
 * message length equal to `len` and a first set with id 2, 3 or ≥ 256 that fits.
 */
export function looksLikeFlowExport(buf: Uint8Array, off: number, len: number): 5 | 9 | 10 | null {
  if (off < 0 || len < 4 || off + len > buf.length) return null;
  const version = (buf[off]! << 8) | buf[off + 1]!;
  const second = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (version === 5) {
    if (second < 1 || second > V5_MAX_COUNT) return null;
    return len === V5_HEADER + V5_RECORD * second ? 5 : null;
  }
  if (version === 9) {
    if (len < V9_HEADER + 4 || second === 0 || second > len - V9_HEADER) return null;
    const id = (buf[off + V9_HEADER]! << 8) | buf[off + V9_HEADER + 1]!;
    const sl = (buf[off + V9_HEADER + 2]! << 8) | buf[off + V9_HEADER + 3]!;
    if ((id > 1 && id < 256) || sl < 4 || sl > len - V9_HEADER) return null;
    return 9;
  }
  if (version === 10) {
    if (second !== len || len < IPFIX_HEADER + 4) return null;
    const id = (buf[off + IPFIX_HEADER]! << 8) | buf[off + IPFIX_HEADER + 1]!;
    const sl = (buf[off + IPFIX_HEADER + 2]! << 8) | buf[off + IPFIX_HEADER + 3]!;
    if (id < 2 || (id > 3 && id < 256) || sl < 4 || sl > len - IPFIX_HEADER) return null;
    return 10;
  }
  return null;
}

function ignore(): void {}

/**
 * Stateful decoder of export datagrams from any number of exporters. Templates and sampling state
 * are kept per (exporter, observation domain); memory is bounded by `maxTemplates` templates and
 * `maxPendingPerTemplate` buffered data sets per template (see templates.ts for why data before
 * its template is buffered at all).
 */
export class FlowExportDecoder {
  private readonly scratch = new Scratch();
  private readonly numeric = newNumericRecord();
  readonly stats: ExportStats = { datagrams: 0, records: 0, templates: 0, templateMisses: 0, pendingDropped: 0, optionsRecords: 0 };
  private readonly cache: TemplateCache;

  constructor(opts?: { maxTemplates?: number; maxPendingPerTemplate?: number }) {
    const maxTemplates = Math.max(1, Math.floor(opts?.maxTemplates ?? 65536));
    const maxPending = Math.max(0, Math.floor(opts?.maxPendingPerTemplate ?? 64));
    this.cache = new TemplateCache(maxTemplates, maxPending, this.stats);
    this.ctx = { cache: this.cache, stats: this.stats, onRecord: ignore, onAnomaly: ignore, onNumeric: undefined, scratch: this.scratch, numeric: this.numeric, origin: 0, input: '' };
  }

  /**
   * The origin of the datagram whose records and anomalies are being delivered (read it from the
   * callbacks): the one given to {@link decode}, or that of the earlier datagram whose data set
   * waited for the template this one brought.
   */
  get origin(): number {
    return this.ctx.origin;
  }

  /** The input given with {@link origin}'s datagram. */
  get input(): string {
    return this.ctx.input;
  }

  /** One context for every datagram (its callbacks are set per call): a datagram allocates nothing for it. */
  private readonly ctx: RecordContext;

  /**
   * Decode one export datagram (v5, v9 or IPFIX message). Records and anomalies go to the
   * callbacks; never throws for bad bytes. Returns false when the bytes are not a NetFlow/IPFIX
   * datagram at all (fewer than 2 bytes, or a version other than 5, 9 or 10: anomaly
   * `export.unknown_version`). Not reentrant: the callbacks must not call `decode` on this decoder
   * (the message header and context are reused from call to call). `origin` and `input` are the
   * caller's names for the datagram (an offset and the input it is in), kept by a data set held for
   * its template ({@link origin}, {@link input}).
   */
  decode(
    buf: Uint8Array,
    off: number,
    len: number,
    exporter: string,
    onRecord: (r: ExportRecord) => void,
    onAnomaly: (a: ExportAnomaly) => void,
    onNumeric?: (r: NumericRecord) => void,
    origin = 0,
    input = '',
  ): boolean {
    const ctx = this.ctx;
    // First: every anomaly of this datagram, the early ones too, is said at it.
    ctx.origin = origin;
    ctx.input = input;
    const start = Math.max(0, Math.min(Math.floor(off) || 0, buf.length));
    const n = Math.max(0, Math.min(Math.floor(len) || 0, buf.length - start));
    if (n < 2) {
      onAnomaly({ code: 'export.unknown_version', offset: 0, message: `${n} bytes: no version field` });
      return false;
    }
    const version = (buf[start]! << 8) | buf[start + 1]!;
    ctx.onRecord = onRecord;
    ctx.onAnomaly = onAnomaly;
    ctx.onNumeric = onNumeric;
    switch (version) {
      case 5:
        this.stats.datagrams++;
        decodeV5(ctx, buf, start, n, exporter);
        return true;
      case 9:
        this.stats.datagrams++;
        decodeV9(ctx, buf, start, n, exporter);
        return true;
      case 10:
        this.stats.datagrams++;
        decodeIpfix(ctx, buf, start, n, exporter);
        return true;
      default:
        onAnomaly({ code: 'export.unknown_version', offset: 0, message: `version ${version} is not NetFlow v5, v9 or IPFIX` });
        return false;
    }
  }
}
