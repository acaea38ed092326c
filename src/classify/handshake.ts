/**
 * Encrypted-handshake fingerprints (Stratum V2's Noise NX): the client's first payload has an exact
 * size and looks random, the server's first answer has an exact size.
 * @see https://stratumprotocol.org/specification (Protocol Security: Noise handshake)
 */
import type { HandshakeMatch } from '../rules/schema.js';
import type { FlowRecord } from '../types.js';

/** Shannon entropy of the bytes, in bits per byte. */
export function entropy(b: Uint8Array): number {
  if (b.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < b.length; i++) counts[b[i]!]!++;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c) {
      const p = c / b.length;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/** Does the flow open with this handshake? Returns the measured values when it does. */
export function matchHandshake(h: HandshakeMatch, f: FlowRecord): { entropy: number } | null {
  if (f.transport !== 'tcp') return null;
  if (!h.clientFirst.includes(f.firstSegmentC2S) || !h.serverFirst.includes(f.firstSegmentS2C)) return null;
  const first = f.payloadC2S.subarray(0, f.firstSegmentC2S);
  const e = entropy(first);
  return e >= h.minEntropy ? { entropy: e } : null;
}
