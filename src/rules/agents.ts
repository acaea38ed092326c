/** Compiles `rules/agents.yaml` and names miner software from agent strings. */
import { asList, COIN_RE, isObj, type FileContext } from './yamlfile.js';
import type { AgentRule } from './schema.js';

export function compileAgentsFile(ctx: FileContext, root: Record<string, unknown>): AgentRule[] {
  const list = root.agents;
  if (!Array.isArray(list)) {
    ctx.err(['agents'], 'agents', 'expected a list, e.g. agents: [ { software: XMRig, prefixes: [xmrig/], coins: [XMR] } ]');
    return [];
  }
  const out: AgentRule[] = [];
  list.forEach((a: unknown, i: number) => {
    const at = (...p: (string | number)[]): (string | number)[] => ['agents', i, ...p];
    if (!isObj(a) || typeof a.software !== 'string' || !a.software) {
      ctx.err(at(), `agents[${i}]`, 'expected { software: NAME, prefixes: [...] }');
      return;
    }
    const prefixes = asList(a.prefixes);
    if (!prefixes.length || !prefixes.every((p) => typeof p === 'string' && p.length > 0)) {
      ctx.err(at('prefixes'), `agents[${i}].prefixes`, 'expected a list of agent-string prefixes, e.g. [xmrig/]');
      return;
    }
    const coins = asList(a.coins);
    if (!coins.every((c) => typeof c === 'string' && COIN_RE.test(c))) {
      ctx.err(at('coins'), `agents[${i}].coins`, 'expected tickers like [XMR]');
      return;
    }
    for (const k of Object.keys(a)) if (!['software', 'prefixes', 'coins', 'reference'].includes(k)) ctx.err(at(k), `agents[${i}].${k}`, 'unknown field; expected software, prefixes, coins, reference');
    out.push({ software: a.software, prefixes: (prefixes as string[]).map((p) => p.toLowerCase()), coins: coins as string[] });
  });
  return out;
}

/** `XMRig/6.21.0 (Linux x86_64)` → { software: 'XMRig', version: '6.21.0' }; null when unknown. */
export function nameSoftware(agents: readonly AgentRule[], agent: string): { software: string; version: string | null; coins: readonly string[] } | null {
  const low = agent.toLowerCase();
  for (const a of agents) {
    for (const p of a.prefixes) {
      if (!low.startsWith(p)) continue;
      const m = /^[\s/v-]*([0-9]+(?:\.[0-9A-Za-z]+){0,3})/.exec(agent.slice(p.length));
      return { software: a.software, version: m ? m[1]! : null, coins: a.coins };
    }
  }
  return null;
}
