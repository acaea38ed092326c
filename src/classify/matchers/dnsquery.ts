/** DNS queries for pool names: the lookup itself, in the subscriber's flow to a resolver (port 53). */
import { datagramEnd, decodeDns, decodeDnsOverTcp, type DnsMessage } from '../../decode/dns.js';
import { DecodeError } from '../../errors.js';
import type { EndpointEntry } from '../../rules/schema.js';
import { BUILTIN, flowName, nameEvidence } from '../evidence.js';
import { NEED, type Matcher } from '../matcher.js';
import { plausibleDnsHeader } from '../pdns.js';

/** Distinct listed names asked for in one flow that are reported. */
const MAX_NAMES = 8;

export const dnsQueryNames: Matcher = {
  name: 'dns-query',
  needs: NEED.DNS_QUERY,
  excludes: 0,
  run(ctx, env): number {
    const flow = ctx.flow;
    const msgs: DnsMessage[] = [];
    const tryDecode = (what: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        env.onDecodeError?.('dns.bad_message', flow, `${flowName(flow)}: ${what}: ${e.code} at byte ${e.offset}: ${e.message}`);
      }
    };
    // One malformed datagram must not hide the queries in the others.
    if (flow.transport === 'udp') {
      const c = flow.payloadC2S;
      let n = 0;
      for (let pos = 0, end = datagramEnd(c, 0); end >= 0; pos = end, end = datagramEnd(c, end)) {
        n++;
        const len = end - pos - 2;
        // A view of the datagram (error offsets count from its start) only for one that may be DNS.
        if (plausibleDnsHeader(c, pos + 2, len, false)) tryDecode(`DNS query in client datagram ${n} (${len} bytes)`, () => msgs.push(decodeDns(new Uint8Array(c.buffer, c.byteOffset + pos + 2, len))));
      }
    } else tryDecode(`DNS over TCP in the client's first ${flow.payloadC2S.length} payload byte(s)`, () => msgs.push(...decodeDnsOverTcp(flow.payloadC2S)));
    const names = new Map<string, EndpointEntry>();
    for (const m of msgs)
      for (const q of m.questions) {
        const e = env.index.domain(q.name);
        if (e && e.kind !== 'exclude' && names.size < MAX_NAMES) names.set(q.name, e);
      }
    for (const [name, entry] of names) {
      ctx.evidence.push(nameEvidence('dns-query', BUILTIN.dnsQuery, name, entry, flow.payloadTimeC2S));
      ctx.attrs.serverName ??= name;
      ctx.poolEntry ??= entry;
    }
    return 0;
  },
};
