/** Listed addresses: weak on their own (pools sit behind shared hosting and CDNs), and weaker with age. */
import { endpointText } from '../../ip.js';
import { addressWeight } from '../intelage.js';
import { BUILTIN, describeEntry, provenance } from '../evidence.js';
import type { FlowFacts, Matcher } from '../matcher.js';

export const listedAddress: Matcher<FlowFacts> = {
  name: 'listed-address',
  needs: 0,
  excludes: 0,
  run(ctx, env): number {
    const flow = ctx.flow;
    const policy = env.rules.policy;
    const addr = env.index.address(flow.server, flow.serverPort);
    if (!addr) return 0;
    const w = addressWeight(addr.entry, flow.firstSeen, policy.intelAge);
    if (!(w.weight >= policy.intelAge.minWeight && w.weight > 0)) return 0;
    ctx.listed = true;
    ctx.poolEntry ??= addr.entry;
    const exact = addr.how === 'ip:port' || addr.entry.ports.includes(flow.serverPort);
    ctx.evidence.push({
      ruleId: BUILTIN.address.id,
      rev: BUILTIN.address.rev,
      kind: exact ? 'endpoint-port' : 'endpoint',
      side: 'server',
      family: 'endpoint',
      matched: `${endpointText(flow.server, flow.serverPort)} listed (${addr.how}${exact && addr.how !== 'ip:port' ? ', documented port' : ''}; ${describeEntry(addr.entry)}; ${w.note})`,
      excerpt: provenance(addr.entry),
      offset: 0,
      time: flow.firstSeen,
    });
    return 0;
  },
};
