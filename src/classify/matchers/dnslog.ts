/** Resolver logs (`--dns-log`): the subscriber's own lookup of a listed name that returned the server, else anyone's (weaker). */
import { BUILTIN, describeEntry, provenance } from '../evidence.js';
import { NEED, type FlowFacts, type Matcher } from '../matcher.js';
import { printable } from '../payload.js';

export const resolverLogBinding: Matcher<FlowFacts> = {
  name: 'resolver-log',
  needs: NEED.RESOLVER_LOG,
  excludes: 0,
  run(ctx, env): number {
    const r = env.resolver!;
    const flow = ctx.flow;
    const own = r.ownBinding(flow.client, flow.server, flow.firstSeen);
    const b = own ?? r.sharedBinding(flow.server, flow.firstSeen);
    if (!b) return 0;
    ctx.poolEntry ??= b.entry;
    ctx.loggedName ??= b.name;
    ctx.evidence.push({
      ruleId: BUILTIN.dnsLog.id,
      rev: BUILTIN.dnsLog.rev,
      kind: own ? 'dns-log' : 'dns-log-shared',
      side: 'server',
      family: 'endpoint',
      matched: `${own ? '' : `another subscriber (${b.client}) was told: `}${b.chain} → ${b.address} at ${new Date(b.time).toISOString()}${b.resolver ? ` by ${b.resolver}` : ''}, TTL ${b.ttl} s, window to ${new Date(b.until).toISOString()} (${describeEntry(b.entry)})`,
      excerpt: printable(`${r.logs[b.log] ?? 'resolver log'}; ${provenance(b.entry)}`, 200),
      offset: 0,
      time: b.time,
    });
    return 0;
  },
};
