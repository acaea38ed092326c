/**
 * What `minerwatch probe` sends: one opening request per mining protocol, each a single JSON line
 * with a neutral identity, shaped as the protocols' own documents show a miner's first message.
 * @see https://braiins.com/stratum-v1/docs (mining.subscribe)
 * @see https://github.com/xmrig/xmrig/blob/master/doc/STRATUM.md (CryptoNote login)
 * @see https://github.com/sammy007/open-ethereum-pool/blob/master/docs/STRATUM.md (ETHPROXY eth_submitLogin, eth_getWork)
 * @see https://github.com/AndreaLanfranchi/EthereumStratum-2.0.0 (mining.hello)
 */
import { endpointText } from '../ip.js';

/** The protocols a probe speaks; the value is what the report's `probes.protocol` holds. */
export const PROBE_PROTOCOLS = ['stratum-v1', 'cryptonote', 'ethproxy', 'ethereumstratum-2'] as const;
export type ProbeProtocol = (typeof PROBE_PROTOCOLS)[number];

/** A server to probe: an IP literal (normalised) and a TCP port. */
export interface ProbeTarget {
  host: string;
  port: number;
}

/** Who the probe says it is: never a real wallet or worker. */
export interface ProbeIdentity {
  agent: string;
  login: string;
  password: string;
}

/** The identity every probe uses, `minerwatch-probe/<version>`. */
export function probeIdentity(version: string): ProbeIdentity {
  return { agent: `minerwatch-probe/${version}`, login: 'minerwatch-probe', password: 'x' };
}

/** One protocol's probe: the opening line and, for ETHPROXY, the one documented next step. */
export interface ProbeRequest {
  protocol: ProbeProtocol;
  /** The method of the opening request, for logs and intel sources. */
  method: string;
  /** The opening request, one JSON line ending in `\n`. */
  line: (target: ProbeTarget, id: ProbeIdentity) => string;
  /**
   * A second line sent on the same connection only when `after` holds for a reply message. ETHPROXY
   * pools answer `eth_submitLogin` with a bare `result: true` and hand out work only on `eth_getWork`,
   * so without it no ETHPROXY pool could ever be told from any JSON-RPC service that says "true".
   */
  followUp: { method: string; line: string; after: (message: Record<string, unknown>) => boolean } | null;
}

const line = (v: unknown): string => `${JSON.stringify(v)}\n`;

/** The four probes, in the order they are sent to each target. */
export const PROBE_REQUESTS: readonly ProbeRequest[] = [
  {
    protocol: 'stratum-v1',
    method: 'mining.subscribe',
    line: (_t, id) => line({ id: 1, method: 'mining.subscribe', params: [id.agent] }),
    followUp: null,
  },
  {
    protocol: 'cryptonote',
    method: 'login',
    line: (_t, id) => line({ id: 1, jsonrpc: '2.0', method: 'login', params: { login: id.login, pass: id.password, agent: id.agent } }),
    followUp: null,
  },
  {
    protocol: 'ethproxy',
    method: 'eth_submitLogin',
    line: (_t, id) => line({ id: 1, jsonrpc: '2.0', method: 'eth_submitLogin', params: [id.login, id.password] }),
    followUp: {
      method: 'eth_getWork',
      line: line({ id: 2, jsonrpc: '2.0', method: 'eth_getWork', params: [] }),
      after: (m) => m.id === 1 && m.result === true,
    },
  },
  {
    protocol: 'ethereumstratum-2',
    method: 'mining.hello',
    // EthereumStratum/2.0.0: host as the miner was told it, port as hexadecimal text.
    line: (t, id) => line({ id: 1, method: 'mining.hello', params: { agent: id.agent, host: t.host, port: t.port.toString(16), proto: 'EthereumStratum/2.0.0' } }),
    followUp: null,
  },
];

/** `host:port`, with IPv6 hosts in brackets. */
export function targetText(t: ProbeTarget): string {
  return endpointText(t.host, t.port);
}
