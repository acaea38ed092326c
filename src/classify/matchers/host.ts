/** HTTP Host: the name in the client's first request head, evidence when it is a listed name. */
import { BUILTIN, nameEvidence } from '../evidence.js';
import { httpHeads } from '../http.js';
import { NEED, type Matcher } from '../matcher.js';

const PORT_SUFFIX = /:\d+$/;

export const httpHostName: Matcher = {
  name: 'http-host',
  needs: NEED.TCP | NEED.CLIENT_STREAM,
  excludes: 0,
  run(ctx, env): number {
    const heads = ctx.headsC ?? httpHeads(ctx.pc);
    const h = (heads[0]?.value.headers as Record<string, string> | undefined)?.host;
    const host = h ? h.replace(PORT_SUFFIX, '').toLowerCase() : null;
    if (!host) return 0;
    ctx.attrs.serverName ??= host;
    const e = env.index.domain(host);
    if (e && e.kind !== 'exclude') {
      ctx.poolEntry ??= e;
      ctx.evidence.push(nameEvidence('host', BUILTIN.host, host, e, ctx.flow.payloadTimeC2S));
    }
    return 0;
  },
};
