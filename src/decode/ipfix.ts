/**
 * IPFIX messages (NetFlow "version 10") and IPFIX files. Pure apart from the template cache the
 * caller passes in; every length read from the wire is checked against the bytes of the message
 * before use, loops are bounded by the bytes they walk, and nothing is thrown: bad bytes become
 * {@link ExportAnomaly} values and decoding resumes with the next set.
 *
 * Anomaly codes: `ipfix.bad_length` (message length below 16, or not the datagram length),
 * `ipfix.bad_template` (template or options template record that does not fit its set, has a
 * reserved id, a bad scope count, or zero-length fields), `ipfix.template_missing` (data set
 * before its template; held, see templates.ts), `ipfix.bad_set_length` (set length below 4 or past
 * the message, or a variable-length record running past its set).
 *
 * @see RFC 7011 §3.1 (message header), §3.3 (set header), §3.4.1 (template record),
 *      §3.4.2 (options template record), §7 (variable-length encoding), §8.1 (withdrawal),
 *      §6.2 (reduced-size encoding)
 * @see RFC 5655 §7.3 (an IPFIX file is a sequence of messages)
 * @see RFC 5103 (biflow reverse elements, PEN 29305)
 */
import { MAX_TEMPLATE_FIELDS, makeTemplate, type FieldSpec, type MessageHeader, type Template } from './templates/store.js';
import { handleDataSet, messageHeader, storeTemplate, type RecordContext } from './templates/walk.js';
import { u16, u32 } from '../bytes.js';

/** IPFIX message header length. @see RFC 7011 §3.1 */
export const IPFIX_HEADER = 16;
/** Set ids. @see RFC 7011 §3.3.2 */
export const SET_TEMPLATE = 2;
export const SET_OPTIONS_TEMPLATE = 3;


/**
 * Split an IPFIX file (RFC 5655: IPFIX messages back to back) into messages: yields the offset and
 * length of each. Stops, without throwing, at a message whose version is not 10, whose length is
 * below 16, or that runs past the end of the buffer.
 */
export function* ipfixMessages(buf: Uint8Array): Generator<{ off: number; len: number }> {
  let p = 0;
  // Every message is at least 16 bytes, so this runs at most buf.length / 16 times.
  while (buf.length - p >= IPFIX_HEADER) {
    if (u16(buf, p) !== 10) return;
    const len = u16(buf, p + 2);
    if (len < IPFIX_HEADER || len > buf.length - p) return;
    yield { off: p, len };
    p += len;
  }
}

/**
 * Decode one IPFIX message `buf[off, off + len)`. A message length above the bytes given is
 * `ipfix.bad_length` and the whole sets that are there are decoded; bytes after a shorter message
 * length are reported the same way and ignored.
 */
export function decodeIpfix(ctx: RecordContext, buf: Uint8Array, off: number, len: number, exporter: string): void {
  if (len < IPFIX_HEADER) {
    ctx.onAnomaly({ code: 'ipfix.bad_length', offset: 0, message: `IPFIX header needs ${IPFIX_HEADER} bytes, ${len} available` });
    return;
  }
  const msgLen = u16(buf, off + 2);
  if (msgLen < IPFIX_HEADER) {
    ctx.onAnomaly({ code: 'ipfix.bad_length', offset: 2, message: `message length ${msgLen} below ${IPFIX_HEADER}` });
    return;
  }
  if (msgLen !== len) {
    ctx.onAnomaly({
      code: 'ipfix.bad_length',
      offset: 2,
      message: msgLen > len ? `message length ${msgLen}, only ${len} bytes available` : `message length ${msgLen}, ${len - msgLen} bytes after it ignored`,
    });
  }
  const hdr = messageHeader(ctx);
  hdr.version = 10;
  hdr.exporter = exporter;
  hdr.domain = u32(buf, off + 12);
  hdr.exportMs = u32(buf, off + 4) * 1000;
  hdr.sysUptime = null;
  const end = off + Math.min(len, msgLen);
  let p = off + IPFIX_HEADER;
  while (end - p >= 4) {
    const setId = u16(buf, p);
    const setLen = u16(buf, p + 2);
    if (setLen < 4 || setLen > end - p) {
      ctx.onAnomaly({
        code: 'ipfix.bad_set_length',
        offset: p + 2 - off,
        message: `set ${setId} length ${setLen} ${setLen < 4 ? 'below 4' : `runs past the message (${end - p} bytes left)`}`,
      });
      return;
    }
    const body = p + 4;
    const setEnd = p + setLen;
    if (setId === SET_TEMPLATE || setId === SET_OPTIONS_TEMPLATE) templateSet(ctx, hdr, setId, buf, body, setEnd, off);
    else if (setId >= 256) handleDataSet(ctx, hdr, setId, buf, body, setEnd, off);
    // Ids 0, 1 (NetFlow v9 leftovers) and 4..255 are reserved: skipped by length.
    p = setEnd;
  }
  if (p < end) {
    ctx.onAnomaly({ code: 'ipfix.bad_set_length', offset: p - off, message: `${end - p} bytes after the last set` });
  }
}

/**
 * When the field specifiers at `buf[q, end)` are exactly the fields of `t` (count, ids, enterprise
 * numbers and lengths), none of length 0, the offset after them; otherwise -1.
 */
function sameIpfixFields(t: Template, buf: Uint8Array, q: number, end: number): number {
  const fields = t.fields;
  for (let i = 0; i < fields.length; i++) {
    if (end - q < 4) return -1;
    const f = fields[i]!;
    const raw = u16(buf, q);
    const length = u16(buf, q + 2);
    q += 4;
    let enterprise = 0;
    if (raw & 0x8000) {
      if (end - q < 4) return -1;
      enterprise = u32(buf, q);
      q += 4;
    }
    if (length === 0 || f.length !== length || f.id !== (raw & 0x7fff) || f.enterprise !== enterprise) return -1;
  }
  return q;
}

function bad(ctx: RecordContext, at: number, off: number, message: string): void {
  ctx.onAnomaly({ code: 'ipfix.bad_template', offset: at - off, message });
}

/**
 * Template set (id 2) or options template set (id 3). A record with field count 0 is a
 * withdrawal: of one template, or of all templates of the set's kind when its id equals the set id
 * (RFC 7011 §8.1). A bad record ends the set (the next record cannot be found).
 */
function templateSet(
  ctx: RecordContext,
  hdr: MessageHeader,
  setId: number,
  buf: Uint8Array,
  p: number,
  end: number,
  off: number,
): void {
  const options = setId === SET_OPTIONS_TEMPLATE;
  // Each record takes at least 4 bytes: bounded by the set length.
  while (end - p >= 4) {
    const id = u16(buf, p);
    const count = u16(buf, p + 2);
    if (count === 0) {
      if (id === setId) {
        ctx.cache.withdrawAll(10, hdr.exporter, hdr.domain, options);
      } else if (id >= 256) {
        ctx.cache.withdraw(10, hdr.exporter, hdr.domain, id);
      } else if (id === 0) {
        return; // padding
      } else {
        return bad(ctx, p, off, `withdrawal of reserved template id ${id}`);
      }
      p += 4;
      continue;
    }
    if (id < 256) return bad(ctx, p, off, `template id ${id} below 256`);
    if (count > MAX_TEMPLATE_FIELDS) return bad(ctx, p + 2, off, `template ${id} declares ${count} fields, more than ${MAX_TEMPLATE_FIELDS}`);
    let q = p + 4;
    let scopeCount = 0;
    if (options) {
      if (end - q < 2) return bad(ctx, p, off, `options template ${id} cut short before its scope count`);
      scopeCount = u16(buf, q);
      q += 2;
      if (scopeCount === 0 || scopeCount > count) {
        return bad(ctx, p + 4, off, `options template ${id}: scope field count ${scopeCount} outside 1..${count}`);
      }
    }
    // Each field specifier is at least 4 bytes: refuse a count the set cannot hold before reading.
    if (count * 4 > end - q) {
      return bad(ctx, p + 2, off, `template ${id} declares ${count} fields (≥ ${count * 4} bytes), set has ${end - q} left`);
    }
    const stored = ctx.cache.get(10, hdr.exporter, hdr.domain, id);
    if (stored !== undefined && stored.fields.length === count && stored.options === options && stored.scopeCount === scopeCount) {
      const next = sameIpfixFields(stored, buf, q, end);
      if (next >= 0) {
        // The periodic refresh of a template already held (most template sets): nothing to build.
        ctx.cache.refresh(stored);
        p = next;
        continue;
      }
    }
    const fields: FieldSpec[] = [];
    let zero = 0;
    for (let i = 0; i < count; i++) {
      if (end - q < 4) return bad(ctx, q, off, `template ${id}: field ${i + 1} of ${count} cut short`);
      const raw = u16(buf, q);
      const length = u16(buf, q + 2);
      q += 4;
      let enterprise = 0;
      if (raw & 0x8000) {
        if (end - q < 4) return bad(ctx, q, off, `template ${id}: enterprise number of field ${i + 1} cut short`);
        enterprise = u32(buf, q);
        q += 4;
      }
      if (length === 0) zero++;
      fields.push({ id: raw & 0x7fff, enterprise, length });
    }
    const t = makeTemplate(10, id, options, scopeCount, fields);
    if (t === null) return bad(ctx, p, off, `template ${id}: every field has length 0`);
    if (t.minLength > 65535 - IPFIX_HEADER - 4) return bad(ctx, p, off, `template ${id}: record length ${t.minLength} cannot fit in a message`);
    if (zero > 0) bad(ctx, p, off, `template ${id}: ${zero} field(s) of length 0 ignored`);
    storeTemplate(ctx, hdr, t);
    p = q;
  }
}
