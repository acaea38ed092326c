/** TLS SNI: the server name in the client's ClientHello, evidence when it is a listed name. */
import { decodeClientHello, looksLikeTls } from '../../decode/tls.js';
import { DecodeError } from '../../errors.js';
import { BUILTIN, flowName, nameEvidence } from '../evidence.js';
import { NEED, type Matcher } from '../matcher.js';

export const tlsServerName: Matcher = {
  name: 'tls-sni',
  needs: NEED.TCP | NEED.CLIENT_STREAM,
  excludes: 0,
  run(ctx, env): number {
    const flow = ctx.flow;
    const p = ctx.pc;
    if (!looksLikeTls(p, 0, p.length)) return 0;
    let sni: string | null;
    try {
      sni = decodeClientHello(p, 0, p.length).sni;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      env.onDecodeError?.('tls.bad_client_hello', flow, `${flowName(flow)}: ClientHello in the client's first ${p.length} payload byte(s): ${e.code} at byte ${e.offset}: ${e.message}`);
      return 0;
    }
    if (!sni) return 0;
    ctx.attrs.serverName = sni;
    const e = env.index.domain(sni);
    if (e && e.kind !== 'exclude') {
      ctx.poolEntry = e;
      ctx.evidence.push(nameEvidence('sni', BUILTIN.sni, sni, e, flow.payloadTimeC2S));
    }
    return 0;
  },
};
