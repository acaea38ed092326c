/**
 * A miner behind a SOCKS proxy: its pool protocol starts after the proxy's preamble, and the
 * CONNECT request names the pool. The framing step takes the preambles off both streams (turning
 * a port-guessed flow round when the preamble came from the "server"); the name matcher states the
 * destination asked for when it is listed.
 */
import { socksClientPreamble, socksServerPreamble } from '../../decode/socks.js';
import { endpointText } from '../../ip.js';
import { BUILTIN, describeEntry, nameEvidence } from '../evidence.js';
import { NEED, RETRAIT, type FlowFindings, type Matcher } from '../matcher.js';
import { reverseFlow } from '../reverse.js';

export const socksStreams: Matcher = {
  name: 'socks-streams',
  needs: NEED.TCP | NEED.PAYLOAD,
  excludes: 0,
  run(ctx: FlowFindings): number {
    const flow = ctx.flow;
    let socks = socksClientPreamble(flow.payloadC2S);
    let reversed = false;
    if (!socks && flow.orientation === 'port' && socksClientPreamble(flow.payloadS2C)) {
      reverseFlow(flow);
      reversed = true;
      socks = socksClientPreamble(flow.payloadC2S);
    }
    if (!socks) {
      if (!reversed) return 0;
      ctx.pc = flow.payloadC2S;
      ctx.ps = flow.payloadS2C;
      return RETRAIT;
    }
    ctx.socks = socks;
    ctx.pc = flow.payloadC2S.subarray(socks.length);
    ctx.ps = flow.payloadS2C.subarray(socksServerPreamble(flow.payloadS2C, socks.version));
    return NEED.SOCKS | RETRAIT;
  },
};

export const socksName: Matcher = {
  name: 'socks-name',
  needs: NEED.SOCKS,
  excludes: 0,
  run(ctx, env): number {
    const socks = ctx.socks!;
    ctx.attrs.serverName ??= socks.host;
    const e = env.index.domain(socks.host);
    if (e && e.kind !== 'exclude') {
      ctx.poolEntry ??= e;
      ctx.evidence.push({ ...nameEvidence('host', BUILTIN.socks, socks.host, e, ctx.flow.payloadTimeC2S), matched: `SOCKS${socks.version} CONNECT ${endpointText(socks.host, socks.port)} (${describeEntry(e)})` });
    }
    return 0;
  },
};
