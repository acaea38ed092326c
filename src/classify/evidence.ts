/** Evidence built the same way by several matchers: names of listed endpoints, their provenance, flow names. */
import { endpointText } from '../ip.js';
import type { EndpointEntry } from '../rules/schema.js';
import type { Evidence, FlowRecord } from '../types.js';
import { printable } from './payload.js';

/** Ids of the built-in matchers (their data lives in rules/endpoints and rules/policy.yaml). */
export const BUILTIN = {
  sni: { id: 'MW-NAME-SNI', rev: 1 },
  host: { id: 'MW-NAME-HTTP-HOST', rev: 1 },
  dns: { id: 'MW-NAME-DNS-ANSWER', rev: 1 },
  dnsQuery: { id: 'MW-DNS-QUERY', rev: 1 },
  address: { id: 'MW-ENDPOINT-ADDRESS', rev: 1 },
  port: { id: 'MW-PORT', rev: 1 },
  peer: { id: 'MW-PEER', rev: 1 },
  dnsLog: { id: 'MW-DNS-LOG', rev: 1 },
  socks: { id: 'MW-NAME-SOCKS', rev: 1 },
} as const;

/** Evidence that a name the flow used (or resolved) is a listed endpoint. */
export function nameEvidence(kind: 'sni' | 'host' | 'dns' | 'dns-query', id: { id: string; rev: number }, name: string, e: EndpointEntry, time: number): Evidence {
  return {
    ruleId: id.id,
    rev: id.rev,
    kind,
    side: kind === 'dns' ? 'server' : 'client',
    family: 'endpoint',
    matched: `${name} (${describeEntry(e)})`,
    excerpt: provenance(e),
    offset: 0,
    time,
  };
}

/** `tcp 10.0.0.1:50000 → 192.0.2.1:443, first packet 2024-…Z`: enough to find the flow in the capture. */
export function flowName(f: FlowRecord): string {
  const at = Number.isFinite(f.firstSeen) ? new Date(f.firstSeen).toISOString() : String(f.firstSeen);
  return `${f.transport} ${endpointText(f.client, f.clientPort)} → ${endpointText(f.server, f.serverPort)}, first packet ${at}`;
}

/** `pool nanopool ETH; domain eth-eu1.nanopool.org`: what an endpoint entry is and what it matches. */
export function describeEntry(e: EndpointEntry): string {
  const m = e.match;
  const what = 'domain' in m ? `domain ${m.domain}` : 'suffix' in m ? `*.${m.suffix}` : 'ip' in m ? `ip ${m.port ? endpointText(m.ip, m.port) : m.ip}` : `cidr ${m.cidr}`;
  return `${e.kind} ${e.pool}${e.coins.length ? ` ${e.coins.join('/')}` : ''}; ${what}`;
}

/** Where an endpoint entry is defined and where its fact came from, as an evidence excerpt. */
export function provenance(e: EndpointEntry): string {
  return printable(`${e.origin.file}:${e.origin.line}; source ${e.source}; added ${e.added}`, 200);
}
