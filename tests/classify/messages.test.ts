/**
 * Splitting a payload prefix into JSON messages, held against a reference written here from the
 * rules the module states (a line is a message when, between blanks, it runs from `{` to `}` and
 * parses as a JSON object; at most 64 per prefix), on prefixes of JSON lines, binary noise, blanks
 * and cut lines, given as Buffers and as typed-array views into larger buffers at an offset.
 */
import { describe, expect, it } from 'vitest';
import { jsonMessages, MAX_MESSAGES, mayHoldJson, type JsonMessage } from '../../src/classify/messages.js';
import { mulberry32 } from '../support/random.js';

const BLANK = new Set([0x20, 0x09, 0x0d]);

function reference(p: Uint8Array): JsonMessage[] {
  const out: JsonMessage[] = [];
  const bytes = Buffer.from(p.buffer, p.byteOffset, p.length);
  let start = 0;
  while (start < p.length && out.length < MAX_MESSAGES) {
    let end = start;
    while (end < p.length && p[end] !== 0x0a) end++;
    let s = start;
    let e = end;
    while (s < e && BLANK.has(p[s]!)) s++;
    while (e > s && BLANK.has(p[e - 1]!)) e--;
    if (s < e && p[s] === 0x7b && p[e - 1] === 0x7d) {
      const text = bytes.toString('utf8', s, e);
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        v = null;
      }
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push({ value: v as Record<string, unknown>, offset: s, text });
    }
    start = end + 1;
  }
  return out;
}

const PIECES: Array<(r: () => number) => string | Uint8Array> = [
  (r) => `{"id":${Math.floor(r() * 100)},"method":"mining.submit","params":["w","j${Math.floor(r() * 1e6)}"]}`,
  () => '{"jsonrpc":"2.0","result":{"status":"OK"},"id":1}',
  () => '[1,2,3]',
  () => '{"cut":',
  () => '{not json}',
  () => '{}',
  () => '  \t{"blank":"around"} \r',
  () => '{"text":"caf\u00e9 \u2014 \u6c60"}',
  () => 'GET / HTTP/1.1\r',
  (r) => Uint8Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256)),
  (r) => Uint8Array.from({ length: 1 + Math.floor(r() * 40) }, () => [0x7b, 0x7d, 0x0a, 0x20, 0x0d, 0x22][Math.floor(r() * 6)]!),
];

function prefix(r: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  const n = Math.floor(r() * 90);
  for (let i = 0; i < n; i++) {
    const piece = PIECES[Math.floor(r() * PIECES.length)]!(r);
    parts.push(typeof piece === 'string' ? Buffer.from(piece) : piece);
    if (r() < 0.8) parts.push(Buffer.from(r() < 0.3 ? '\r\n' : '\n'));
  }
  const all = Buffer.concat(parts);
  // Cut where a prefix limit would.
  return all.subarray(0, Math.floor(r() * (all.length + 1)));
}

/** `p` as a view into a larger buffer whose bytes around it hold braces and newlines. */
function viewAt(p: Uint8Array, before: number): Uint8Array {
  const big = new Uint8Array(before + p.length + 7).fill(0x7b);
  for (let i = 0; i < before; i += 3) big[i] = 0x0a;
  big.set(p, before);
  return big.subarray(before, before + p.length);
}

describe('JSON messages of a payload prefix', () => {
  it('are the lines the stated rules make messages, for Buffers and offset views alike', () => {
    const r = mulberry32(20261206);
    let messages = 0;
    for (let i = 0; i < 3000; i++) {
      const p = prefix(r);
      const want = reference(p);
      messages += want.length;
      expect(jsonMessages(Buffer.from(p))).toEqual(want);
      const view = viewAt(p, 1 + Math.floor(r() * 50));
      expect(jsonMessages(view)).toEqual(want);
      expect(mayHoldJson(view)).toBe(p.includes(0x7b));
    }
    // Not vacuous: many messages found.
    expect(messages).toBeGreaterThan(10_000);
  });

  it('stop at the cap', () => {
    const p = Buffer.from(Array.from({ length: 100 }, (_, i) => `{"i":${i}}\n`).join(''));
    const got = jsonMessages(viewAt(p, 5));
    expect(got).toHaveLength(MAX_MESSAGES);
    expect(got).toEqual(reference(p));
    expect(got.at(-1)!.value).toEqual({ i: MAX_MESSAGES - 1 });
  });

  it('finds no brace outside a view, and none in an empty prefix', () => {
    const view = viewAt(Buffer.from('no braces here\n'), 9);
    expect(mayHoldJson(view)).toBe(false);
    expect(jsonMessages(view)).toEqual([]);
    expect(mayHoldJson(new Uint8Array(0))).toBe(false);
    expect(jsonMessages(viewAt(Buffer.from('\n{"a":1}'), 4))).toEqual([{ value: { a: 1 }, offset: 1, text: '{"a":1}' }]);
  });
});
