/**
 * The data-set walker: runs a compiled template over the records of one data set, field by field,
 * into the per-record scratch, and hands each record to the emitter (or, for options data, to the
 * domain state). Fixed IPv4 templates with a {@link FlowLayout}, when the caller takes numeric
 * records, skip the walk: the layout's reader (src/decode/templates/reader.ts) reads each value from
 * its offset straight into the reused numeric record.
 * Every length is checked against the set before it is read; each record consumes at least one
 * byte, so every loop is bounded by the bytes it walks.
 *
 * @see RFC 7011 §3.3.1 (set padding), §6.1 (data types), §7 (variable-length encoding)
 * @see RFC 3954 §5.3 (data FlowSet and padding)
 */
import {
  K_DST4,
  K_DST6,
  K_END_NTP,
  K_END_SECONDS,
  K_POST_DST4,
  K_POST_DST6,
  K_POST_SRC4,
  K_POST_SRC6,
  K_SRC4,
  K_SRC6,
  K_START_NTP,
  K_START_SECONDS,
  N_STORE,
  S_DST4,
  S_DST6_AT,
  S_END_MS,
  S_POST_DST_AT,
  S_POST_DST_LEN,
  S_POST_SRC_AT,
  S_POST_SRC_LEN,
  S_SRC4,
  S_SRC6_AT,
  S_START_MS,
  S_V4_ZERO,
  S_V6_ZERO,
  Scratch,
  compileTemplate,
  opTakes,
  type FlowLayout,
} from './compile.js';
import { applyOptions, emitNumeric, emitRecord, newNumericRecord, type NumericRecord } from './emit.js';
import { VARLEN, type DomainState, type MessageHeader, type Template, type TemplateCache } from './store.js';
import type { ExportAnomaly, ExportRecord, ExportStats } from '../flowexport.js';
import { layoutReader, storeNtp, storeUint } from './reader.js';

/**
 * Big-endian view of the bytes being decoded: DataView reads of 2, 4 and 8 bytes are about twice
 * as fast as assembling them byte by byte. One view is kept for the last buffer seen (a reader's
 * window, or a held data set), so a new one is made only when the buffer changes.
 */
let viewBuf: Uint8Array | null = null;
let viewLength = 0;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewBuf || buf.byteLength !== viewLength) {
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewBuf = buf;
    viewLength = buf.byteLength;
  }
  return view;
}

/** Apply special op `k` (≥ N_SLOTS) to the `len` bytes at `buf[p]`; the length is one {@link opTakes} accepts. */
function applySpecial(v: Float64Array, k: number, dv: DataView, buf: Uint8Array, p: number, len: number): void {
  switch (k) {
    case K_SRC4: {
      const a = dv.getUint32(p);
      v[S_SRC4] = a;
      if (a !== 0) v[S_V4_ZERO] = 0;
      return;
    }
    case K_DST4: {
      const a = dv.getUint32(p);
      v[S_DST4] = a;
      if (a !== 0) v[S_V4_ZERO] = 0;
      return;
    }
    case K_SRC6:
      v[S_SRC6_AT] = p;
      if (!zero16(buf, p)) v[S_V6_ZERO] = 0;
      return;
    case K_DST6:
      v[S_DST6_AT] = p;
      if (!zero16(buf, p)) v[S_V6_ZERO] = 0;
      return;
    case K_POST_SRC4:
    case K_POST_SRC6:
      v[S_POST_SRC_AT] = p;
      v[S_POST_SRC_LEN] = len;
      return;
    case K_POST_DST4:
    case K_POST_DST6:
      v[S_POST_DST_AT] = p;
      v[S_POST_DST_LEN] = len;
      return;
    case K_START_SECONDS:
      if (v[S_START_MS] !== v[S_START_MS]) {
        storeUint(v, S_START_MS, dv, buf, p, len);
        v[S_START_MS] = v[S_START_MS]! * 1000;
      }
      return;
    case K_END_SECONDS:
      if (v[S_END_MS] !== v[S_END_MS]) {
        storeUint(v, S_END_MS, dv, buf, p, len);
        v[S_END_MS] = v[S_END_MS]! * 1000;
      }
      return;
    case K_START_NTP:
      storeNtp(v, S_START_MS, dv, p);
      return;
    case K_END_NTP:
      storeNtp(v, S_END_MS, dv, p);
      return;
    default:
      return;
  }
}

function zero16(b: Uint8Array, p: number): boolean {
  for (let i = 0; i < 16; i++) if (b[p + i] !== 0) return false;
  return true;
}

/** Where the decoded records and anomalies go, and the counters. */
export interface RecordContext {
  cache: TemplateCache;
  stats: ExportStats;
  onRecord: (r: ExportRecord) => void;
  onAnomaly: (a: ExportAnomaly) => void;
  /**
   * When given, IPv4 records go here instead of `onRecord`, as one reused object with numeric
   * addresses: no strings and no object per record (the scanner's fast path).
   */
  onNumeric?: ((r: NumericRecord) => void) | undefined;
  /** Reused per-record state. */
  scratch?: Scratch;
  numeric?: NumericRecord;
  /**
   * Reused message header: the decoders fill it per message, so a data set held for its template
   * keeps a copy.
   */
  header?: MessageHeader;
  /**
   * Where the datagram whose sets are being decoded came from, as its caller named it (an input and
   * an offset in it): the datagram's own, or, while a held data set is decoded, the one that carried
   * that set (a template may come in a later input: rotated files).
   */
  origin: number;
  input: string;
}

/**
 * The records of a fixed IPv4 template with a {@link FlowLayout}, `buf[start, end)`, each read
 * straight into the reused numeric record: the same values {@link emitNumeric} gives after the op
 * walk, without the walk. Returns where the whole records end.
 */
function decodeLaidOutRecords(
  ctx: RecordContext,
  hdr: MessageHeader,
  dom: DomainState,
  layout: FlowLayout,
  dv: DataView,
  buf: Uint8Array,
  start: number,
  end: number,
  min: number,
  onNumeric: (r: NumericRecord) => void,
): number {
  const n = ctx.numeric ?? (ctx.numeric = newNumericRecord());
  const stats = ctx.stats;
  const exporter = hdr.exporter;
  // No options record can come between the records of one data set: the domain's state holds.
  const d = dom.sampling;
  const interval = d !== null && d >= 1 ? d : 1;
  const upBase = hdr.sysUptime === null && dom.sysInitMs !== null ? dom.sysInitMs : NaN;
  const read = layoutReader(layout);
  let p = start;
  while (end - p >= min) {
    read(dv, buf, p, n, hdr, upBase);
    stats.records++;
    n.exporter = exporter;
    n.sampling = interval;
    onNumeric(n);
    p += min;
  }
  return p;
}

/** The context's reused message header (made on first use). */
export function messageHeader(ctx: RecordContext): MessageHeader {
  return ctx.header ?? (ctx.header = { version: 9, exporter: '', domain: 0, exportMs: 0, sysUptime: null });
}

/**
 * Decode the records of one data set `buf[start, end)` with template `t`. `base` is the offset of
 * `buf[0]` within the datagram (for anomaly offsets). Trailing bytes shorter than the template's
 * minimum record length are padding (RFC 3954 §5.3, RFC 7011 §3.3.1); a variable-length record
 * that runs past the set end is an anomaly and ends the set.
 */
export function decodeDataSet(
  ctx: RecordContext,
  hdr: MessageHeader,
  t: Template,
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
): void {
  const c = t.compiled ?? (t.compiled = compileTemplate(t));
  const dom = ctx.cache.domain(hdr.version, hdr.exporter, hdr.domain);
  const s = ctx.scratch ?? (ctx.scratch = new Scratch());
  const v = s.v;
  const dv = viewOf(buf);
  const ops = c.ops;
  const min = t.minLength;
  let p = start;
  if (!t.varlen && c.layout !== null && ctx.onNumeric !== undefined) {
    p = decodeLaidOutRecords(ctx, hdr, dom, c.layout, dv, buf, start, end, min, ctx.onNumeric);
  } else if (!t.varlen) {
    // Every record is exactly minLength (> 0) bytes and every op lies inside it. A slot that no op
    // of this template writes keeps its reset value for the whole set; the ops write theirs in
    // every record, except the all-zero flags and the seconds fallbacks, reset per record.
    s.reset();
    const n = ops.length;
    const plan = c.plan;
    const onNumeric = ctx.onNumeric;
    while (end - p >= min) {
      v[S_V4_ZERO] = 1;
      v[S_V6_ZERO] = 1;
      if (c.resetStart) v[S_START_MS] = NaN;
      if (c.resetEnd) v[S_END_MS] = NaN;
      for (let i = 0; i < n; i += 3) {
        const k = ops[i]!;
        if (k < N_STORE) storeUint(v, k, dv, buf, p + ops[i + 1]!, ops[i + 2]!);
        else applySpecial(v, k, dv, buf, p + ops[i + 1]!, ops[i + 2]!);
      }
      if (t.options) {
        ctx.stats.optionsRecords++;
        applyOptions(dom, v);
      } else if (plan !== null && onNumeric !== undefined) {
        emitNumeric(ctx, hdr, dom, v, plan, onNumeric);
      } else {
        emitRecord(ctx, hdr, t, dom, v, buf);
      }
      p += min;
    }
  } else {
    // Each record consumes at least minLength (> 0) bytes, so the loop runs at most (end-start) times.
    while (end - p >= min) {
      s.reset();
      let q = p;
      let ok = true;
      for (let i = 0; i < ops.length; i += 2) {
        const k = ops[i]!;
        let len = ops[i + 1]!;
        if (len === VARLEN) {
          if (q + 1 > end) {
            ok = false;
            break;
          }
          len = buf[q]!;
          q += 1;
          if (len === 255) {
            if (q + 2 > end) {
              ok = false;
              break;
            }
            len = (buf[q]! << 8) | buf[q + 1]!;
            q += 2;
          }
        }
        if (q + len > end) {
          ok = false;
          break;
        }
        if (opTakes(k, len)) {
          if (k < N_STORE) storeUint(v, k, dv, buf, q, len);
          else applySpecial(v, k, dv, buf, q, len);
        }
        q += len;
      }
      if (!ok) {
        // A fixed-length template cannot get here (end - p >= minLength); only varlen records.
        ctx.onAnomaly({ code: hdr.version === 9 ? 'v9.bad_set_length' : 'ipfix.bad_set_length', offset: base + p, message: `record of template ${t.id} runs past the end of its set` });
        return;
      }
      if (q === p) return; // cannot happen (minLength > 0); keeps the loop provably finite
      if (t.options) {
        ctx.stats.optionsRecords++;
        applyOptions(dom, v);
      } else {
        emitRecord(ctx, hdr, t, dom, v, buf);
      }
      p = q;
    }
  }
  if (p === start && end - start >= 4) {
    ctx.onAnomaly({
      code: hdr.version === 9 ? 'v9.bad_set_length' : 'ipfix.bad_set_length',
      offset: base + start,
      message: `set of ${end - start} bytes holds no whole record of template ${t.id} (${t.minLength} bytes at least)`,
    });
  }
}

/**
 * Decode a data set (id ≥ 256) at `buf[start, end)` of a datagram starting at `dgram`, or buffer
 * it when its template is unknown (counted in `templateMisses`, anomaly `missCode`).
 */
export function handleDataSet(
  ctx: RecordContext,
  hdr: MessageHeader,
  setId: number,
  buf: Uint8Array,
  start: number,
  end: number,
  dgram: number,
): void {
  const t = ctx.cache.get(hdr.version, hdr.exporter, hdr.domain, setId);
  if (t) {
    decodeDataSet(ctx, hdr, t, buf, start, end, -dgram);
    return;
  }
  ctx.stats.templateMisses++;
  const held = ctx.cache.hold(hdr.exporter, hdr.domain, {
    header: { ...hdr },
    templateId: setId,
    body: buf.slice(start, end),
    offset: start - dgram,
    origin: ctx.origin,
    input: ctx.input,
  });
  ctx.onAnomaly({
    code: hdr.version === 9 ? 'v9.template_missing' : 'ipfix.template_missing',
    offset: start - 4 - dgram,
    message: `data set for template ${setId} (domain ${hdr.domain}) before its template; ${held ? 'held until the template arrives' : 'dropped: pending buffer full'}`,
  });
}

/** Store a template and decode the data sets that were waiting for it. */
export function storeTemplate(ctx: RecordContext, hdr: MessageHeader, t: Template): void {
  const waiting = ctx.cache.set(hdr.exporter, hdr.domain, t);
  if (!waiting.length) return;
  // Its records and anomalies are said where the set was read, not where its template came.
  const origin = ctx.origin;
  const input = ctx.input;
  try {
    for (const w of waiting) {
      ctx.origin = w.origin;
      ctx.input = w.input;
      decodeDataSet(ctx, w.header, t, w.body, 0, w.body.length, w.offset);
    }
  } finally {
    ctx.origin = origin;
    ctx.input = input;
  }
}
