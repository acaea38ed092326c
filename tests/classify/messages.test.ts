/**
 * Splitting a payload prefix into JSON messages, held against a reference written here from the
 * rules the module states (a line is a message when, between blanks, it runs from `{` to `}` and
 * parses as a JSON object; at most 64 per prefix), on prefixes of JSON lines, binary noise, blanks
 * and cut lines, given as Buffers and as typed-array views into larger buffers at an offset.
 */
import { describe, expect, it } from 'vitest';
import { datagramJsonMessages, jsonMessages, MAX_MESSAGES, mayHoldJson, type JsonMessage } from '../../src/classify/messages.js';
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

describe('JSON messages of the datagrams a UDP payload prefix holds', () => {
  it('are those of each datagram the prefix frames (two-byte length, bytes), a cut last one left out', () => {
    const r = mulberry32(20261207);
    let messages = 0;
    let braceLengths = 0;
    for (let i = 0; i < 2000; i++) {
      const parts: Uint8Array[] = [];
      const want: JsonMessage[] = [];
      const n = Math.floor(r() * 8);
      for (let k = 0; k < n; k++) {
        // Some datagrams are 123 bytes or 0x7bXX long: a brace in the length field is not in a datagram.
        const d = r() < 0.15 ? Buffer.concat([Buffer.from('{"len":1}\n'), Buffer.alloc(123 - 10, 0x20)]) : prefix(r).subarray(0, r() < 0.1 ? 0x7b05 : 1400);
        if (d.length === 123 || d.length >> 8 === 0x7b) braceLengths++;
        parts.push(Uint8Array.of(d.length >> 8, d.length & 0xff), d);
        want.push(...reference(d));
      }
      const whole = Buffer.concat(parts);
      // The limit may cut the last datagram (its messages are then not counted) or its length field.
      const cut = r() < 0.3 && n > 0 ? whole.length - 1 - Math.floor(r() * (2 + parts.at(-1)!.length)) : whole.length;
      const p = whole.subarray(0, cut);
      const expected = cut < whole.length ? want.slice(0, want.length - reference(parts.at(-1)!).length) : want;
      messages += expected.length;
      expect(datagramJsonMessages(p)).toEqual(expected);
      expect(datagramJsonMessages(viewAt(p, 1 + Math.floor(r() * 50)))).toEqual(expected);
    }
    // Not vacuous: many messages found, and many lengths with a brace in them.
    expect(messages).toBeGreaterThan(5_000);
    expect(braceLengths).toBeGreaterThan(100);
  });

  it('finds a message in a datagram after ones without a brace, and none in an empty or cut prefix', () => {
    const frame = (t: string): Buffer => Buffer.concat([Buffer.from([0, Buffer.byteLength(t)]), Buffer.from(t)]);
    const p = Buffer.concat([frame('no brace'), frame('none here'), frame('{"id":7}')]);
    expect(datagramJsonMessages(p)).toEqual([{ value: { id: 7 }, offset: 0, text: '{"id":7}' }]);
    expect(datagramJsonMessages(new Uint8Array(0))).toEqual([]);
    expect(datagramJsonMessages(p.subarray(0, p.length - 1))).toEqual([]);
  });
});
