/**
 * Cisco NetFlow version 5 and version 9 export datagrams. Pure apart from the template cache the
 * caller passes in; every length and count read from the wire is checked against the bytes of the
 * datagram before use, every loop is bounded by the bytes it walks, and nothing is thrown: bad
 * bytes become {@link ExportAnomaly} values and decoding resumes with the next FlowSet.
 *
 * Anomaly codes: `netflow.truncated` (v5 datagram shorter than its count says, or a header cut
 * short), `netflow.bad_count` (v5 count 0 or over 30), `v9.bad_template` (template or options
 * template record that does not fit its FlowSet, declares no fields, or has zero-length fields),
 * `v9.template_missing` (data FlowSet before its template; held, see templates.ts),
 * `v9.bad_set_length` (FlowSet length below 4 or past the datagram, or a set too short for one
 * record).
 *
 * @see Cisco, "NetFlow Export Datagram Format", version 5 header and record layout
 * @see RFC 3954 §5.1 (v9 packet header), §5.2 (template FlowSet), §5.3 (data FlowSet),
 *      §6.1 (options template FlowSet), §8 (field types)
 */
import type { ExportRecord } from './flowexport.js';
import { formatIpv4At, newNumericRecord } from './templates/emit.js';
import { MAX_TEMPLATE_FIELDS, VARLEN, makeTemplate, type FieldSpec, type MessageHeader, type Template } from './templates/store.js';
import { handleDataSet, messageHeader, storeTemplate, type RecordContext } from './templates/walk.js';
import { u16, u32 } from '../bytes.js';
import { uptimeAgeMs } from './uptime.js';

/** v5 header length. */
export const V5_HEADER = 24;
/** v5 record length. */
export const V5_RECORD = 48;
/** Largest v5 count (Cisco: at most 30 records per datagram). */
export const V5_MAX_COUNT = 30;
/** v9 header length. @see RFC 3954 §5.1 */
export const V9_HEADER = 20;


/**
 * Decode a NetFlow v5 datagram `buf[off, off + len)`. A count over 30 (or 0) is `netflow.bad_count`
 * and nothing is decoded, since the records cannot be trusted; a datagram shorter than
 * 24 + 48 × count is `netflow.truncated` and the whole records it does hold are decoded. Times are
 * converted with the header's unix_secs/unix_nsecs and sysUptime.
 */
export function decodeV5(ctx: RecordContext, buf: Uint8Array, off: number, len: number, exporter: string): void {
  if (len < V5_HEADER) {
    ctx.onAnomaly({ code: 'netflow.truncated', offset: 0, message: `v5 header needs ${V5_HEADER} bytes, ${len} available` });
    return;
  }
  const count = u16(buf, off + 2);
  if (count === 0 || count > V5_MAX_COUNT) {
    ctx.onAnomaly({ code: 'netflow.bad_count', offset: 2, message: `v5 count ${count} outside 1..${V5_MAX_COUNT}` });
    return;
  }
  const sysUptime = u32(buf, off + 4);
  const unixSecs = u32(buf, off + 8);
  const unixNsecs = u32(buf, off + 12);
  const sampling = u16(buf, off + 22) & 0x3fff;
  const exportMs = unixSecs * 1000 + Math.floor(unixNsecs / 1e6);
  const fit = Math.floor((len - V5_HEADER) / V5_RECORD);
  if (fit < count) {
    ctx.onAnomaly({
      code: 'netflow.truncated',
      offset: V5_HEADER + fit * V5_RECORD,
      message: `v5 count ${count} needs ${V5_HEADER + count * V5_RECORD} bytes, datagram has ${len}`,
    });
  }
  const n = Math.min(fit, count);
  for (let i = 0; i < n; i++) {
    const p = off + V5_HEADER + i * V5_RECORD;
    const first = u32(buf, p + 24);
    const last = u32(buf, p + 28);
    if (ctx.onNumeric) {
      const r = ctx.numeric ?? (ctx.numeric = newNumericRecord());
      r.exporter = exporter;
      r.src4 = u32(buf, p);
      r.dst4 = u32(buf, p + 4);
      r.srcPort = u16(buf, p + 32);
      r.dstPort = u16(buf, p + 34);
      r.protocol = buf[p + 38]!;
      r.tcpFlags = buf[p + 37]!;
      r.packets = u32(buf, p + 16);
      r.bytes = u32(buf, p + 20);
      r.reversePackets = 0;
      r.reverseBytes = 0;
      r.sampling = sampling === 0 ? 1 : sampling;
      r.firstMs = exportMs - uptimeAgeMs(sysUptime, first);
      r.lastMs = exportMs - uptimeAgeMs(sysUptime, last);
      ctx.stats.records++;
      ctx.onNumeric(r);
      continue;
    }
    const r: ExportRecord = {
      version: 5,
      exporter,
      domain: 0,
      templateId: 0,
      ipVersion: 4,
      srcAddr: formatIpv4At(buf, p),
      dstAddr: formatIpv4At(buf, p + 4),
      srcPort: u16(buf, p + 32),
      dstPort: u16(buf, p + 34),
      protocol: buf[p + 38]!,
      tcpFlags: buf[p + 37]!,
      packets: u32(buf, p + 16),
      bytes: u32(buf, p + 20),
      reversePackets: 0,
      reverseBytes: 0,
      samplingInterval: sampling === 0 ? 1 : sampling,
      firstMs: exportMs - uptimeAgeMs(sysUptime, first),
      lastMs: exportMs - uptimeAgeMs(sysUptime, last),
      direction: null,
      nat: null,
    };
    ctx.stats.records++;
    ctx.onRecord(r);
  }
}

/**
 * Decode a NetFlow v9 datagram `buf[off, off + len)`: FlowSet 0 (templates), 1 (options
 * templates) and data FlowSets (id ≥ 256) in order. The header count is not trusted (exporters
 * disagree on what it counts); the FlowSet lengths are. A FlowSet whose length is below 4 or runs
 * past the datagram ends the datagram (the next set cannot be found); a bad template record skips
 * the rest of its FlowSet only. Fewer than 4 bytes left after the last FlowSet are padding.
 */
export function decodeV9(ctx: RecordContext, buf: Uint8Array, off: number, len: number, exporter: string): void {
  if (len < V9_HEADER) {
    ctx.onAnomaly({ code: 'netflow.truncated', offset: 0, message: `v9 header needs ${V9_HEADER} bytes, ${len} available` });
    return;
  }
  const hdr = messageHeader(ctx);
  hdr.version = 9;
  hdr.exporter = exporter;
  hdr.domain = u32(buf, off + 16);
  hdr.exportMs = u32(buf, off + 8) * 1000;
  hdr.sysUptime = u32(buf, off + 4);
  const end = off + len;
  let p = off + V9_HEADER;
  while (end - p >= 4) {
    const setId = u16(buf, p);
    const setLen = u16(buf, p + 2);
    if (setLen < 4 || setLen > end - p) {
      // Some exporters (Cisco ACI, Palo Alto) pad the datagram itself with zero bytes.
      if (setId === 0 && setLen === 0 && allZero(buf, p, end)) return;
      ctx.onAnomaly({
        code: 'v9.bad_set_length',
        offset: p + 2 - off,
        message: `FlowSet ${setId} length ${setLen} ${setLen < 4 ? 'below 4' : `runs past the datagram (${end - p} bytes left)`}`,
      });
      return;
    }
    const body = p + 4;
    const setEnd = p + setLen;
    if (setId === 0) templateSet(ctx, hdr, buf, body, setEnd, off);
    else if (setId === 1) optionsTemplateSet(ctx, hdr, buf, body, setEnd, off);
    else if (setId >= 256) handleDataSet(ctx, hdr, setId, buf, body, setEnd, off);
    // Ids 2..255 are reserved: skipped by length.
    p = setEnd;
  }
}

function allZero(buf: Uint8Array, p: number, end: number): boolean {
  for (let i = p; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

function badTemplate(ctx: RecordContext, at: number, off: number, message: string): void {
  ctx.onAnomaly({ code: 'v9.bad_template', offset: at - off, message });
}

/** Template FlowSet: records of template id, field count and (type, length) pairs. @see RFC 3954 §5.2 */
function templateSet(ctx: RecordContext, hdr: MessageHeader, buf: Uint8Array, p: number, end: number, off: number): void {
  // Each template takes at least 4 bytes, so the loop is bounded by the set length.
  while (end - p >= 4) {
    const id = u16(buf, p);
    const count = u16(buf, p + 2);
    if (id === 0 && count === 0) return; // padding
    if (id < 256) return badTemplate(ctx, p, off, `template id ${id} below 256`);
    if (count === 0) return badTemplate(ctx, p + 2, off, `template ${id} has no fields`);
    if (count > MAX_TEMPLATE_FIELDS) return badTemplate(ctx, p + 2, off, `template ${id} declares ${count} fields, more than ${MAX_TEMPLATE_FIELDS}`);
    if (count * 4 > end - p - 4) {
      return badTemplate(ctx, p + 2, off, `template ${id} declares ${count} fields (${count * 4} bytes), FlowSet has ${end - p - 4} left`);
    }
    const stored = ctx.cache.get(9, hdr.exporter, hdr.domain, id);
    if (stored !== undefined && !stored.options && sameV9Fields(stored, buf, p + 4, count)) {
      // The periodic refresh of a template already held (most template FlowSets): nothing to build.
      ctx.cache.refresh(stored);
      p += 4 + count * 4;
      continue;
    }
    const fields = readV9Fields(buf, p + 4, count);
    const t = checkedV9Template(ctx, id, false, 0, fields, p, off);
    p += 4 + count * 4;
    if (t === undefined) return;
    storeTemplate(ctx, hdr, t);
  }
}

/** Options template FlowSet: id, scope length, option length, then scope and option fields. @see RFC 3954 §6.1 */
function optionsTemplateSet(ctx: RecordContext, hdr: MessageHeader, buf: Uint8Array, p: number, end: number, off: number): void {
  while (end - p >= 6) {
    const id = u16(buf, p);
    const scopeLen = u16(buf, p + 2);
    const optLen = u16(buf, p + 4);
    if (id === 0 && scopeLen === 0 && optLen === 0) return; // padding
    if (id < 256) return badTemplate(ctx, p, off, `options template id ${id} below 256`);
    if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || scopeLen + optLen === 0) {
      return badTemplate(ctx, p + 2, off, `options template ${id}: scope length ${scopeLen} / option length ${optLen} not whole non-empty field lists`);
    }
    if (scopeLen + optLen > end - p - 6) {
      return badTemplate(ctx, p + 2, off, `options template ${id} needs ${scopeLen + optLen} bytes of fields, FlowSet has ${end - p - 6} left`);
    }
    const scopeCount = scopeLen / 4;
    if (scopeCount + optLen / 4 > MAX_TEMPLATE_FIELDS) return badTemplate(ctx, p + 2, off, `options template ${id} declares ${scopeCount + optLen / 4} fields, more than ${MAX_TEMPLATE_FIELDS}`);
    const fields = readV9Fields(buf, p + 6, scopeCount + optLen / 4);
    const t = checkedV9Template(ctx, id, true, scopeCount, fields, p, off);
    p += 6 + scopeLen + optLen;
    if (t === undefined) return;
    storeTemplate(ctx, hdr, t);
    // RFC 3954 §6.1: the options template record is padded to a 4-byte boundary.
    while (p < end && (p - off) % 4 !== 0 && buf[p] === 0) p++;
  }
}

/**
 * Whether the `count` (type, length) pairs at `buf[p]` are exactly the fields of `t`, none of
 * length 0 (a template with one is rebuilt, so its anomaly is reported on every refresh).
 */
function sameV9Fields(t: Template, buf: Uint8Array, p: number, count: number): boolean {
  const fields = t.fields;
  if (fields.length !== count) return false;
  for (let i = 0; i < count; i++) {
    const f = fields[i]!;
    const length = u16(buf, p + 4 * i + 2);
    if (length === 0 || f.length !== length || f.id !== u16(buf, p + 4 * i)) return false;
  }
  return true;
}

function readV9Fields(buf: Uint8Array, p: number, count: number): FieldSpec[] {
  const fields: FieldSpec[] = [];
  for (let i = 0; i < count; i++) fields.push({ id: u16(buf, p + 4 * i), enterprise: 0, length: u16(buf, p + 4 * i + 2) });
  return fields;
}

/**
 * Check a v9 template. Zero-length fields carry nothing and occupy nothing: they are reported
 * (`v9.bad_template`) but the template is kept when its other fields have bytes (real exporters,
 * e.g. the logstash `nf9_0length_fields` sample, send them). A template with no bytes at all, or
 * one whose record cannot fit in any FlowSet, is refused.
 */
function checkedV9Template(
  ctx: RecordContext,
  id: number,
  options: boolean,
  scopeCount: number,
  fields: FieldSpec[],
  at: number,
  off: number,
): Template | undefined {
  const zero = fields.filter((f) => f.length === 0).length;
  const t = makeTemplate(9, id, options, scopeCount, fields);
  if (t === null) {
    badTemplate(ctx, at, off, `template ${id}: every field has length 0`);
    return undefined;
  }
  if (t.minLength > 65535 - 4 - V9_HEADER || fields.some((f) => f.length === VARLEN)) {
    badTemplate(ctx, at, off, `template ${id}: record length ${t.minLength} cannot fit in a FlowSet`);
    return undefined;
  }
  if (zero > 0) badTemplate(ctx, at, off, `template ${id}: ${zero} field(s) of length 0 ignored`);
  return t;
}
