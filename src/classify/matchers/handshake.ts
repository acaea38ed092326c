/** Encrypted-handshake signatures (`on: handshake`, Stratum V2): first payload sizes and the client's entropy. */
import type { RuleSet } from '../../rules/schema.js';
import { matchHandshake } from '../handshake.js';
import { NEED, rulesOn, type Matcher } from '../matcher.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** The matcher for the rule set's handshake signatures, or null when it has none. */
export function handshakeSignatures(rules: RuleSet): Matcher | null {
  const handshakes = rulesOn(rules, 'handshake');
  if (!handshakes.length) return null;
  return {
    name: 'handshake-signatures',
    // Every rule names first payload sizes of at least one byte each way.
    needs: NEED.TCP | NEED.FIRST_SEGMENTS,
    excludes: 0,
    run(ctx): number {
      const flow = ctx.flow;
      for (const r of handshakes) {
        const m = matchHandshake(r.handshake, flow);
        if (m)
          ctx.evidence.push({
            ruleId: r.id,
            rev: r.rev,
            kind: 'handshake',
            side: 'client',
            family: r.family,
            matched: `first payloads ${flow.firstSegmentC2S}/${flow.firstSegmentS2C} bytes, client entropy ${m.entropy.toFixed(2)} bits/byte`,
            excerpt: hex(flow.payloadC2S.subarray(0, 24)),
            offset: 0,
            time: flow.payloadTimeC2S,
          });
      }
      return 0;
    },
  };
}
