/**
 * Message hits count only from the side that sends them in their protocol. A flow whose
 * orientation was only guessed from ports is turned round first when more of its messages came
 * from the wrong side (a pool answering from a high port, a session caught mid-way).
 */
import type { RuleSet } from '../../rules/schema.js';
import type { Attributes } from '../../types.js';
import { nameSoftware } from '../../rules/agents.js';
import { NEED, RETRAIT, type Matcher } from '../matcher.js';
import { printable, type PayloadHit } from '../payload.js';
import { reverseFlow } from '../reverse.js';

const MAX_WORKERS = 8;
const WORKER_MAX_CHARS = 256;
const AGENT_MAX_CHARS = 128;

export const messageSides: Matcher = {
  name: 'message-sides',
  needs: NEED.STREAM,
  excludes: 0,
  run(ctx, env): number {
    // No hits: nothing to turn round, filter or add, and the attributes stay the empty ones the flow began with.
    if (ctx.hitsC.length === 0 && ctx.hitsS.length === 0) return 0;
    let found = 0;
    if (ctx.flow.orientation === 'port') {
      const agree = ctx.hitsC.filter((h) => h.rule.side === 'client').length + ctx.hitsS.filter((h) => h.rule.side === 'server').length;
      const disagree = ctx.hitsC.filter((h) => h.rule.side === 'server').length + ctx.hitsS.filter((h) => h.rule.side === 'client').length;
      if (disagree > agree) {
        reverseFlow(ctx.flow);
        [ctx.hitsC, ctx.hitsS] = [ctx.hitsS, ctx.hitsC];
        for (const h of ctx.hitsC) h.evidence.side = 'client';
        for (const h of ctx.hitsS) h.evidence.side = 'server';
        found |= RETRAIT;
      }
    }
    ctx.hitsC = ctx.hitsC.filter((h) => h.rule.side === 'client');
    ctx.hitsS = ctx.hitsS.filter((h) => h.rule.side === 'server');
    const hits = [...ctx.hitsC, ...ctx.hitsS];
    for (const h of hits) ctx.evidence.push(h.evidence);
    ctx.attrs = attributes(env.rules, hits);
    return hits.length > 0 ? found | NEED.PROTOCOL : found;
  },
};

/** Coin, agent, software and workers the hits' messages name (first of each, workers deduplicated). */
export function attributes(rules: RuleSet, hits: readonly PayloadHit[]): Attributes {
  let coin: string | null = null;
  let agent: string | null = null;
  const workers: string[] = [];
  for (const h of hits) {
    if (!coin && h.rule.coin) coin = h.rule.coin;
    const { agent: ap, worker: wp } = h.rule.extract;
    if (!agent && ap) {
      const a = pathString(h.message, ap);
      if (a) agent = printable(a, AGENT_MAX_CHARS);
    }
    if (wp && workers.length < MAX_WORKERS) {
      const w = pathString(h.message, wp);
      if (w) {
        const t = printable(w, WORKER_MAX_CHARS);
        if (!workers.includes(t)) workers.push(t);
      }
    }
  }
  let software: string | null = null;
  if (agent) {
    const s = nameSoftware(rules.agents, agent);
    if (s) {
      software = s.version ? `${s.software} ${s.version}` : s.software;
      if (!coin && s.coins.length === 1) coin = s.coins[0]!;
    }
  }
  return { coin, agent, software, workers, pool: null, serverName: null };
}

function pathString(msg: Record<string, unknown>, path: readonly string[]): string | null {
  let cur: unknown = msg;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return null;
    cur = Array.isArray(cur) ? cur[Number(seg)] : (cur as Record<string, unknown>)[seg];
  }
  return typeof cur === 'string' && cur.length > 0 ? cur : null;
}
