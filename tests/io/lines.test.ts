/** src/io/lines.ts: the lines of a text cut from a window fed in pieces, against a plain split of the whole text. */
import { describe, expect, it } from 'vitest';
import { ByteWindow } from '../../src/io/joiner.js';
import { LineCutter } from '../../src/io/lines.js';
import { mulberry32 } from '../support/random.js';

interface Cut {
  lines: Array<[number, string]>;
  overlong: Array<[number, number]>;
}

/** Feed `text` in pieces of 1..`piece` bytes, as a stream reader does, and collect what the cutter hands out. */
function cutAll(text: string, max: number, piece: number, seed: number): Cut {
  const bytes = Buffer.from(text, 'latin1');
  const rnd = mulberry32(seed);
  const win = new ByteWindow(16);
  const cut = new LineCutter(max);
  const out: Cut = { lines: [], overlong: [] };
  const overlong = (from: number): void => {
    out.overlong.push([cut.line, win.offsetOf(from)]);
  };
  const drain = (final: boolean): void => {
    for (let nl = cut.next(win, final, overlong); nl >= 0; nl = cut.next(win, final, overlong)) out.lines.push([cut.line, Buffer.from(win.buf.subarray(cut.from, nl)).toString('latin1')]);
  };
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(rnd() * piece));
    win.makeRoom(n);
    win.append(bytes.subarray(at, at + n));
    at += n;
    drain(false);
  }
  drain(true);
  return out;
}

/** The same from the whole text: numbered lines, the long ones reported at their first byte instead. */
function expected(text: string, max: number): Cut {
  const parts = text.split('\n');
  // A final newline ends the last line; it does not start another.
  if (parts.at(-1) === '') parts.pop();
  const out: Cut = { lines: [], overlong: [] };
  let at = 0;
  parts.forEach((p, i) => {
    // A line without its newline is cut when its bytes exceed the limit; with it, when they do too.
    if (p.length > max) out.overlong.push([i + 1, at]);
    else out.lines.push([i + 1, p]);
    at += p.length + 1;
  });
  return out;
}

describe('LineCutter', () => {
  it('hands out every line, numbered, whatever pieces the bytes come in; a long line once, at its start', () => {
    const rnd = mulberry32(7);
    for (let round = 0; round < 200; round++) {
      const lines: string[] = [];
      const count = Math.floor(rnd() * 12);
      for (let i = 0; i < count; i++) {
        const len = rnd() < 0.2 ? 20 + Math.floor(rnd() * 40) : Math.floor(rnd() * 12);
        lines.push(Array.from({ length: len }, () => String.fromCharCode(32 + Math.floor(rnd() * 90))).join(''));
      }
      const text = lines.join('\n') + (rnd() < 0.5 ? '\n' : '');
      for (const piece of [1, 3, 64]) expect(cutAll(text, 16, piece, round), `${JSON.stringify(text)} in pieces up to ${piece}`).toEqual(expected(text, 16));
    }
  });

  it('a long last line without a newline is still counted once; an empty input has no line', () => {
    expect(cutAll('ok\n' + 'x'.repeat(40), 16, 5, 1)).toEqual({ lines: [[1, 'ok']], overlong: [[2, 3]] });
    expect(cutAll('', 16, 5, 1)).toEqual({ lines: [], overlong: [] });
    expect(cutAll('\n\n', 16, 1, 1)).toEqual({ lines: [[1, ''], [2, '']], overlong: [] });
  });
});
