/**
 * HTTP/1.x heads from a payload prefix, as plain objects for message rules:
 * `{ method, path, version, headers: { 'user-agent': … } }` for requests and
 * `{ status, version, headers }` for responses. Bounded: at most 8 heads, 64 headers each.
 * @see RFC 9112 section 2 (message format)
 */
import type { JsonMessage } from './messages.js';

const MAX_HEADS = 8;
const MAX_HEADERS = 64;
const METHODS = new Set(['GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'PATCH', 'DELETE', 'CONNECT']);
const REQUEST_LINE = /^([A-Z]{3,8}) (\S{1,2048}) (HTTP\/1\.[01])$/;
const STATUS_LINE = /^(HTTP\/1\.[01]) (\d{3})/;

export function looksLikeHttp(p: Uint8Array): boolean {
  if (p.length < 8) return false;
  // "HTTP/" or an upper-case method followed by a space.
  if (p[0] === 0x48 && p[1] === 0x54 && p[2] === 0x54 && p[3] === 0x50 && p[4] === 0x2f) return true;
  let i = 0;
  while (i < 8 && p[i]! >= 0x41 && p[i]! <= 0x5a) i++;
  return i >= 3 && p[i] === 0x20;
}

export function httpHeads(p: Uint8Array): JsonMessage[] {
  const out: JsonMessage[] = [];
  if (!looksLikeHttp(p)) return out;
  const text = Buffer.from(p.buffer, p.byteOffset, p.length).toString('latin1');
  let pos = 0;
  while (pos < text.length && out.length < MAX_HEADS) {
    const end = text.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const lines = text.slice(pos, end).split('\r\n');
    const first = lines[0] ?? '';
    const value: Record<string, unknown> = {};
    const req = REQUEST_LINE.exec(first);
    const res = STATUS_LINE.exec(first);
    if (req && METHODS.has(req[1]!)) Object.assign(value, { method: req[1], path: req[2], version: req[3] });
    else if (res) Object.assign(value, { version: res[1], status: Number(res[2]) });
    else break;
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1, 1 + MAX_HEADERS)) {
      const c = l.indexOf(':');
      if (c <= 0) continue;
      const name = l.slice(0, c).trim().toLowerCase();
      if (!(name in headers)) headers[name] = l.slice(c + 1).trim();
    }
    value.headers = headers;
    out.push({ value, offset: pos, text: lines.slice(0, 12).join(' | ') });
    // Skip the body when its length is declared, so pipelined heads are found too.
    const cl = Number(headers['content-length'] ?? 0);
    pos = end + 4 + (Number.isFinite(cl) && cl > 0 ? cl : 0);
  }
  return out;
}
