/**
 * Keyed pseudonyms for subscribers, so watch lists and reports can leave the operator and still be
 * joined: the same subscriber id or address under the same key always gives the same pseudonym,
 * and without the key a pseudonym cannot be turned back into the address (HMAC-SHA256, RFC 2104).
 * Server addresses are not pseudonymised: they are pools, the evidence itself.
 */
import { createHmac } from 'node:crypto';
import { UsageError } from '../errors.js';

/** Shortest key accepted: a short key could be found by trying keys against one known address. */
export const PSEUDONYM_KEY_MIN = 16;

/** Characters that continue an address or id token (a match next to one is part of a longer token). */
const WORD = /[0-9A-Za-z_]/;

export class Pseudonymiser {
  private readonly key: Buffer;
  private readonly memo = new Map<string, string>();

  /** @throws UsageError when the key is shorter than {@link PSEUDONYM_KEY_MIN} bytes. */
  constructor(key: string) {
    this.key = Buffer.from(key, 'utf8');
    if (this.key.length < PSEUDONYM_KEY_MIN) throw new UsageError(`--pseudonymise: the key must be at least ${PSEUDONYM_KEY_MIN} bytes (got ${this.key.length}); e.g. --pseudonymise "$(cat region-key.txt)"`);
  }

  /** `p-` and the first 16 hex digits of HMAC-SHA256(key, id). */
  of(id: string): string {
    let p = this.memo.get(id);
    if (p === undefined) {
      p = `p-${createHmac('sha256', this.key).update(id, 'utf8').digest('hex').slice(0, 16)}`;
      // A watch list's ids are few; the bound only keeps a pathological report from growing it.
      if (this.memo.size < 100_000) this.memo.set(id, p);
    }
    return p;
  }

  /**
   * `text` with every whole occurrence of the given ids (subscriber ids, accounts, client
   * addresses) replaced by its pseudonym. An occurrence counts when it is not part of a longer
   * token: `100.64.0.1` is replaced in `100.64.0.1:3333` but not in `100.64.0.11`, `fd00::1` not in
   * `fd00::1:10`.
   */
  text(text: string, ids: Iterable<string>): string {
    const tokens = [...new Set([...ids].filter((t) => t.length > 0))].sort((a, b) => b.length - a.length);
    if (!tokens.length) return text;
    // One pass, left to right, longest token first at each place: a pseudonym written is never searched again.
    let out = '';
    let from = 0;
    for (let at = 0; at < text.length; at++) {
      const t = tokens.find((t) => text.startsWith(t, at) && !this.joined(text, at, t));
      if (t === undefined) continue;
      out += text.slice(from, at) + this.of(t);
      from = at + t.length;
      at = from - 1;
    }
    return out + text.slice(from);
  }

  private joined(text: string, at: number, t: string): boolean {
    const before = text[at - 1] ?? '';
    const after = text.slice(at + t.length, at + t.length + 2);
    return (
      WORD.test(before) ||
      before === '.' ||
      (before === ':' && t.includes(':')) ||
      WORD.test(after[0] ?? '') ||
      (after[0] === '.' && WORD.test(after[1] ?? '')) ||
      (t.includes(':') && after[0] === ':' && /[0-9A-Fa-f:]/.test(after[1] ?? ''))
    );
  }
}

/** A pseudonymiser for the option's value, or null when the option was not given. */
export function pseudonymiser(key: string | undefined): Pseudonymiser | null {
  return key === undefined ? null : new Pseudonymiser(key);
}
