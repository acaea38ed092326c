/**
 * Types shared by the pipeline stages (io → decode → flow → classify → aggregate → report).
 * Types only: no logic lives here.
 */

/** Transport protocol numbers the flow table keys on (IANA protocol numbers). */
export type Transport = 'tcp' | 'udp';

/** Side of a flow relative to its orientation. */
export type Side = 'client' | 'server';

/** Detected container format of an input. */
export type InputFormat = 'pcap' | 'pcapng' | 'nfdump-csv' | 'nfcapd' | 'ipfix' | 'json-flows';

/**
 * The canonical record between the flow stage and everything after it: one bidirectional
 * conversation, oriented client → server. Times are milliseconds since the Unix epoch (UTC).
 */
export interface FlowRecord {
  /** Client address in canonical text form (IPv4 dotted quad, IPv6 RFC 5952). */
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  transport: Transport;
  ipVersion: 4 | 6;
  /** How orientation was decided: a SYN was seen, the lower/well-known port was taken as server, or the protocol messages showed which side is which. */
  orientation: 'syn' | 'port' | 'payload';
  firstSeen: number;
  lastSeen: number;
  /** Packets and IP bytes (IP header included) client → server and server → client. */
  packetsC2S: number;
  packetsS2C: number;
  bytesC2S: number;
  bytesS2C: number;
  /** TCP flags ORed over the flow, per direction (0 for UDP). */
  tcpFlagsC2S: number;
  tcpFlagsS2C: number;
  /** Why the flow ended: idle timeout, active timeout, TCP close, table pressure, end of input. */
  endReason: 'idle' | 'active' | 'closed' | 'evicted' | 'eof';
  /**
   * First bytes of payload each way. TCP: in sequence order, contiguous from the first data byte.
   * UDP: datagrams in arrival order, each preceded by its length as 2 bytes big-endian.
   */
  payloadC2S: Uint8Array;
  payloadS2C: Uint8Array;
  /** Payload length of the first data-carrying packet each way (0 when none). */
  firstSegmentC2S: number;
  firstSegmentS2C: number;
  /** Time of the first payload byte each way (ms), or 0 when none was seen. */
  payloadTimeC2S: number;
  payloadTimeS2C: number;
  /** Index of the input the flow came from (into the run's input list). */
  inputIndex: number;
  /** Index of the input of its latest packet or record, when it ran on into a later input (else as inputIndex). */
  lastInputIndex?: number;
  /** Where the flow came from: packets seen, or flow-export records (NetFlow, IPFIX, nfdump CSV). */
  source: 'packets' | 'export';
  /** Export records merged into this flow (0 for packet flows). */
  records: number;
  /** Sampling interval the counters were scaled by (1: exact counts; more: estimates). */
  sampling: number;
  /** Shares counted over the whole connection (JSON-RPC mining sessions seen in packets only). */
  shares?: ShareCounts;
}

/**
 * Shares a miner submitted on one flow, read from its messages over the whole connection. With
 * replies seen (`answered`) the accepted shares count; without, the submitted ones.
 */
export interface ShareCounts {
  submitted: number;
  accepted: number;
  rejected: number;
  /** The pool's replies to submits were seen. */
  answered: boolean;
  /** Shares behind the work figures (accepted when answered, else submitted). */
  counted: number;
  /** Sum of the Stratum difficulty of the counted shares set by `mining.set_difficulty` (algorithm units). */
  difficulty: number;
  /** Sum of the expected hashes of the counted shares set by a target (algorithm-independent). */
  hashes: number;
  /** Counted shares submitted before any difficulty or target was seen. */
  unknownWork: number;
  /** The miner's own figure (`eth_submitHashrate`), H/s; null when not sent. */
  reportedHashrate: number | null;
  /** Algorithm named by the protocol (XMRig login `algo`, job `algo`, EthereumStratum/2.0.0 `mining.set`). */
  algorithm: string | null;
  /** Time of the first and last submit (ms), 0 when none. */
  firstShare: number;
  lastShare: number;
  /** Sequence gaps in the capture: counts may be short. */
  gaps: number;
}

/** One fact a matcher established about a flow. Matching states facts; policy assigns meaning. */
export interface Evidence {
  /** Rule id and revision, e.g. `MW-STRATUM-V1-SUBSCRIBE` rev 1. */
  ruleId: string;
  rev: number;
  /** What kind of matcher produced it. */
  kind:
    | 'payload'
    | 'http'
    | 'handshake'
    | 'sni'
    | 'host'
    | 'dns'
    | 'dns-query'
    | 'dns-log'
    | 'dns-log-shared'
    | 'endpoint'
    | 'endpoint-port'
    | 'port'
    | 'behaviour'
    | 'behaviour-weak'
    | 'peer'
    | 'session'
    | 'pool-endpoints';
  /** Which direction carried it. */
  side: Side;
  /** Protocol family the rule belongs to, e.g. `stratum-v1`. */
  family: string;
  /** The matched method or message shape, e.g. `mining.subscribe`. */
  matched: string;
  /** A short, bounded excerpt of the matched bytes (printable text). */
  excerpt: string;
  /** Byte offset of the matched message inside that direction's payload prefix. */
  offset: number;
  /** Time of the payload that carried it (ms since epoch). */
  time: number;
}

export type Label = 'mining' | 'suspect' | 'none';
export type Confidence = 'high' | 'medium' | 'low' | 'none';

/** What the classifier extracted from matched messages and endpoints (bounded strings). */
export interface Attributes {
  coin: string | null;
  /** The miner's agent string, verbatim (bounded). */
  agent: string | null;
  /** Miner software and version named from the agent, e.g. `XMRig 6.21.0`. */
  software: string | null;
  /** Worker or wallet names from logins, verbatim but bounded. */
  workers: string[];
  /** Pool named by the endpoint lists. */
  pool: string | null;
  /** Server name seen for the flow: TLS SNI, HTTP Host, or the DNS name its address was resolved from. */
  serverName: string | null;
}

/** Result of classifying one flow. */
export interface Verdict {
  label: Label;
  confidence: Confidence;
  evidence: Evidence[];
  attributes: Attributes;
  /** One human line saying why. */
  reason: string;
  /** The policy outcome that decided, e.g. `two-sided protocol`. */
  outcome: string | null;
}
