/** JSON-RPC signatures (`on: json`): Stratum, CryptoNote, ETHPROXY and getwork bodies, one message per line. */
import type { RuleSet } from '../../rules/schema.js';
import type { FlowRecord } from '../../types.js';
import { NEED, rulesOn, type Matcher } from '../matcher.js';
import { datagramJsonMessages, jsonMessages, type JsonMessage } from '../messages.js';
import { matchMessages } from '../payload.js';

/** JSON messages of one direction; UDP datagrams are split first. */
function messagesOf(f: FlowRecord, p: Uint8Array): JsonMessage[] {
  return f.transport === 'tcp' ? jsonMessages(p) : datagramJsonMessages(p);
}

/** The matcher for the rule set's JSON signatures, or null when it has none. */
export function jsonSignatures(rules: RuleSet): Matcher | null {
  const json = rulesOn(rules, 'json');
  if (!json.length) return null;
  return {
    name: 'json-signatures',
    needs: NEED.STREAM,
    excludes: 0,
    run(ctx): number {
      const f = ctx.flow;
      ctx.hitsC.push(...matchMessages(json, 'json', messagesOf(f, ctx.pc), 'client', f.payloadTimeC2S));
      ctx.hitsS.push(...matchMessages(json, 'json', messagesOf(f, ctx.ps), 'server', f.payloadTimeS2C));
      return 0;
    },
  };
}
