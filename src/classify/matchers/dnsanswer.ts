/** Passive DNS: the server's address was given in a DNS answer for a pool name seen in the same data. */
import { BUILTIN, describeEntry, nameEvidence } from '../evidence.js';
import { NEED, type Matcher } from '../matcher.js';

export const dnsAnswerName: Matcher = {
  name: 'dns-answer',
  needs: NEED.DNS_BINDINGS,
  excludes: 0,
  run(ctx, env): number {
    const flow = ctx.flow;
    const bound = env.pdns.lookup(flow.server);
    if (!bound) return 0;
    ctx.attrs.serverName ??= bound.name;
    ctx.poolEntry ??= bound.entry;
    ctx.evidence.push({
      ...nameEvidence('dns', BUILTIN.dns, bound.name, bound.entry, bound.time),
      matched: `${flow.server} resolved from ${bound.name} (${describeEntry(bound.entry)})`,
    });
    return 0;
  },
};
