/**
 * What a matcher needs of a flow, as bits (after nDPI's selection bitmask): the classifier works
 * out a flow's traits once and runs only the matchers whose `needs` are all present and whose
 * `excludes` are all absent, so an export record (no payload) never reaches a payload matcher and a
 * flow that spoke a mining protocol never reaches the behaviour score, without either being tested.
 */
import type { SocksTarget } from '../decode/socks.js';
import type { EndpointIndex } from '../rules/endpoints.js';
import type { EndpointEntry, PayloadRule, RuleSet } from '../rules/schema.js';
import type { Attributes, Evidence, FlowRecord } from '../types.js';
import type { JsonMessage } from './messages.js';
import type { PayloadHit } from './payload.js';
import type { PassiveDns } from './pdns.js';
import type { ResolverBindings } from './resolverlog.js';

/** Traits of a flow that matchers select on. */
export const NEED = {
  TCP: 1 << 0,
  UDP: 1 << 1,
  /** The client's payload (after any SOCKS preamble) is not empty. */
  CLIENT_STREAM: 1 << 2,
  /** The server's payload (after any SOCKS preamble) is not empty. */
  SERVER_STREAM: 1 << 3,
  /** Either stream is not empty. */
  STREAM: 1 << 4,
  /** Either direction carried payload (before any SOCKS preamble is taken off). */
  PAYLOAD: 1 << 5,
  /** A first payload segment was seen each way (packet flows only; exports have none). */
  FIRST_SEGMENTS: 1 << 6,
  /** Server port 53 with client payload: queries to read. */
  DNS_QUERY: 1 << 7,
  /** DNS answers seen in the data have bound some address to a pool name. */
  DNS_BINDINGS: 1 << 8,
  /** Resolver logs (`--dns-log`) were read. */
  RESOLVER_LOG: 1 << 9,
  /** The server port is one of the policy's pool ports. */
  MINING_PORT: 1 << 10,
  /** Data both ways: payload seen each way for packet flows, more than one packet each way for exports. */
  ESTABLISHED: 1 << 11,
  /** Found while classifying: a mining protocol message counted from its sending side. */
  PROTOCOL: 1 << 12,
  /** Found while classifying: the client opened with a SOCKS preamble. */
  SOCKS: 1 << 13,
} as const;

/** Bits found while classifying (kept when the flow's own traits are worked out again). */
export const FOUND = NEED.PROTOCOL | NEED.SOCKS;
/** Returned by a matcher that turned the flow round or re-framed its streams: traits are worked out again. */
export const RETRAIT = 1 << 30;

/** What {@link Classifier.flowEvidence} reads of a flow (a flow being classified, or one stored in a report). */
export type FlowEvidenceInput = Pick<
  FlowRecord,
  'client' | 'server' | 'serverPort' | 'firstSeen' | 'lastSeen' | 'source' | 'packetsC2S' | 'packetsS2C' | 'bytesC2S' | 'bytesS2C' | 'tcpFlagsC2S' | 'tcpFlagsS2C' | 'transport' | 'records'
>;

/**
 * Told of a flow payload that looked like a protocol message a matcher reads but did not decode:
 * `tls.bad_client_hello` (the client's first bytes), `dns.bad_message` (a query to port 53).
 * `message` names the flow, where in its payload the decoder stopped, and what it expected.
 */
export type DecodeErrorSink = (code: 'tls.bad_client_hello' | 'dns.bad_message', flow: FlowRecord, message: string) => void;

/** What matchers read besides the flow: the rules and the name and address bindings seen so far. */
export interface MatchEnv {
  readonly rules: RuleSet;
  readonly index: EndpointIndex;
  readonly pdns: PassiveDns;
  readonly resolver: ResolverBindings | null;
  readonly onDecodeError: DecodeErrorSink | null;
}

/** The facts of a flow's counters and endpoints, as the flow-level matchers gather them. */
export interface FlowFacts {
  readonly flow: FlowEvidenceInput;
  evidence: Evidence[];
  /** The first listed endpoint entry the evidence names (names first, then logs, then addresses). */
  poolEntry: EndpointEntry | null;
  /** The name a resolver log bound the server to. */
  loggedName: string | null;
  /** The server address is listed, with weight enough to count. */
  listed: boolean;
}

/** Everything gathered while classifying one flow. */
export interface FlowFindings extends FlowFacts {
  readonly flow: FlowRecord;
  /** The client's and server's streams: the payload prefixes after any SOCKS preamble. */
  pc: Uint8Array;
  ps: Uint8Array;
  socks: SocksTarget | null;
  /** Message hits from each direction (before, and after, the side filter). */
  hitsC: PayloadHit[];
  hitsS: PayloadHit[];
  /** The client stream's HTTP heads, once parsed. */
  headsC: JsonMessage[] | null;
  attrs: Attributes;
}

/** A fresh {@link FlowFindings} for a flow: its streams are its payload prefixes until a matcher frames them. */
export function findingsOf(flow: FlowRecord): FlowFindings {
  return {
    flow,
    evidence: [],
    poolEntry: null,
    loggedName: null,
    listed: false,
    pc: flow.payloadC2S,
    ps: flow.payloadS2C,
    socks: null,
    hitsC: [],
    hitsS: [],
    headsC: null,
    attrs: { coin: null, agent: null, software: null, workers: [], pool: null, serverName: null },
  };
}

/** One matcher: the traits it needs and excludes, and what it adds. */
export interface Matcher<C extends FlowFacts = FlowFindings> {
  readonly name: string;
  readonly needs: number;
  readonly excludes: number;
  /**
   * Add evidence and attributes to `ctx`. `traits` are the flow's traits as selected on. Returns
   * bits of {@link NEED} found, and {@link RETRAIT} after turning the flow round or re-framing its streams.
   */
  run(ctx: C, env: MatchEnv, traits: number): number;
}

/** Does a flow with these traits get this matcher? */
export function selects(m: Matcher<never>, traits: number): boolean {
  return (traits & m.needs) === m.needs && (traits & m.excludes) === 0;
}

/** Traits from a flow's counters and endpoints (what {@link FlowFacts} matchers select on). */
export function factTraits(flow: FlowEvidenceInput, env: MatchEnv, established: boolean): number {
  let t = flow.transport === 'tcp' ? NEED.TCP : NEED.UDP;
  if (established) t |= NEED.ESTABLISHED;
  if (env.resolver) t |= NEED.RESOLVER_LOG;
  if (env.rules.policy.miningPorts.has(flow.serverPort)) t |= NEED.MINING_PORT;
  return t;
}

/** All traits of a flow being classified, with its streams as framed so far. */
export function flowTraits(ctx: FlowFindings, env: MatchEnv): number {
  const f = ctx.flow;
  const established = f.source === 'export' ? f.packetsC2S > 1 && f.packetsS2C > 1 : f.payloadC2S.length > 0 && f.payloadS2C.length > 0;
  let t = factTraits(f, env, established);
  if (f.payloadC2S.length > 0 || f.payloadS2C.length > 0) t |= NEED.PAYLOAD;
  if (ctx.pc.length > 0) t |= NEED.CLIENT_STREAM | NEED.STREAM;
  if (ctx.ps.length > 0) t |= NEED.SERVER_STREAM | NEED.STREAM;
  if (f.firstSegmentC2S > 0 && f.firstSegmentS2C > 0) t |= NEED.FIRST_SEGMENTS;
  if (f.serverPort === 53 && f.payloadC2S.length > 0) t |= NEED.DNS_QUERY;
  if (env.pdns.size > 0) t |= NEED.DNS_BINDINGS;
  return t;
}

/** The signature rules of one kind, in rule-set order. */
export function rulesOn<K extends PayloadRule['on']>(rules: RuleSet, on: K): Array<Extract<PayloadRule, { on: K }>> {
  return rules.payload.filter((r): r is Extract<PayloadRule, { on: K }> => r.on === on);
}
