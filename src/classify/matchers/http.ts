/** HTTP head signatures (`on: http`): getwork requests, miner User-Agents, X-Mining-Extensions. */
import type { RuleSet } from '../../rules/schema.js';
import { httpHeads } from '../http.js';
import { NEED, rulesOn, type Matcher } from '../matcher.js';
import { matchMessages } from '../payload.js';

/** The matcher for the rule set's HTTP signatures, or null when it has none. */
export function httpSignatures(rules: RuleSet): Matcher | null {
  const http = rulesOn(rules, 'http');
  if (!http.length) return null;
  return {
    name: 'http-signatures',
    needs: NEED.TCP | NEED.STREAM,
    excludes: 0,
    run(ctx): number {
      const f = ctx.flow;
      const heads = (ctx.headsC = httpHeads(ctx.pc));
      ctx.hitsC.push(...matchMessages(http, 'http', heads, 'client', f.payloadTimeC2S));
      ctx.hitsS.push(...matchMessages(http, 'http', httpHeads(ctx.ps), 'server', f.payloadTimeS2C));
      return 0;
    },
  };
}
