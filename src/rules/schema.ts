/**
 * The compiled form of the rules in `rules/`. Rule files are data: conditions are exact
 * comparisons on parsed messages (no regular expressions, no code), so no rule can make matching
 * super-linear or execute anything.
 */
import type { Confidence, Label, Side } from '../types.js';

/** Value types a `types:` condition can require. `hex` is a string of hexadecimal digits. */
export type ValueType = 'string' | 'number' | 'array' | 'object' | 'hex' | 'null' | 'boolean';
export const VALUE_TYPES: readonly ValueType[] = ['string', 'number', 'array', 'object', 'hex', 'null', 'boolean'];

/** A dotted path into a message, split: `params.0` → ['params', '0']. */
export type JsonPath = readonly string[];

/** Conditions on one message (a JSON-RPC line, or an HTTP head as an object). All must hold. */
export interface MessageMatch {
  /** The message's `method` must be one of these (exact). */
  methods: readonly string[] | null;
  /** Each path must exist. */
  has: readonly JsonPath[];
  /** Each path must hold a value of the given type. */
  types: ReadonlyArray<{ path: JsonPath; type: ValueType }>;
  /** Each path must equal one of the given scalar values. */
  equals: ReadonlyArray<{ path: JsonPath; values: readonly (string | number | boolean | null)[] }>;
  /** Each path must be a string or array of one of the given lengths. */
  lengths: ReadonlyArray<{ path: JsonPath; values: readonly number[] }>;
  /** Each path must be a string starting with one of the given prefixes (case-insensitive). */
  prefix: ReadonlyArray<{ path: JsonPath; values: readonly string[] }>;
}

/** Stratum V2-style encrypted handshake: sizes of the first payload each way and the client's entropy. */
export interface HandshakeMatch {
  clientFirst: readonly number[];
  serverFirst: readonly number[];
  /** Minimum Shannon entropy of the client's first payload, bits per byte. */
  minEntropy: number;
}

interface RuleBase {
  id: string;
  rev: number;
  added: string;
  family: string;
  description: string;
  references: readonly string[];
  /** Which side sends this message. */
  side: Side;
  /** A short name of what matched, for evidence (defaults to the method). */
  name: string;
  /** Coin this message implies, when the protocol tells it. */
  coin: string | null;
  /** Attribute extraction: path of the miner agent, of the worker/wallet. */
  extract: { agent: JsonPath | null; worker: JsonPath | null };
  fixtures: { positive: readonly string[]; negative: readonly string[] };
  /** File and line the rule was defined at. */
  source: { file: string; line: number };
}

/**
 * A signature rule. `json`: one JSON message per line (Stratum, CryptoNote, ETHPROXY, HTTP bodies);
 * `http`: the head of an HTTP request/response as `{ method, path, version, status, headers: { lower-case name: value } }`;
 * `handshake`: sizes and entropy of the first payloads.
 */
export type PayloadRule =
  | (RuleBase & { on: 'json'; match: MessageMatch })
  | (RuleBase & { on: 'http'; match: MessageMatch })
  | (RuleBase & { on: 'handshake'; handshake: HandshakeMatch });

/** Evidence classes the policy reasons about. */
export const EVIDENCE_CLASSES = [
  'protocol-client',
  'protocol-server',
  'protocol',
  'pool-name',
  'pool-address',
  'dns-query',
  'handshake',
  'behaviour',
  'behaviour-weak',
  'port',
  'peer',
  'pool-endpoint',
  'session',
  'pool-endpoints',
] as const;
export type EvidenceClass = (typeof EVIDENCE_CLASSES)[number];

export interface PolicyOutcome {
  label: Label;
  confidence: Confidence;
}

export interface PolicyRule extends PolicyOutcome {
  name: string;
  /** Every class must be present. */
  all: readonly EvidenceClass[];
  /** At least one must be present (when given). */
  any: readonly EvidenceClass[];
}

export const BEHAVIOUR_METRICS = [
  'duration_min',
  'packets_per_min',
  'bytes_per_packet',
  'byte_ratio_c2s_s2c',
  'both_directions',
  'flags_ack_psh',
  'records',
  'mining_port',
  'listed_address',
] as const;
export type BehaviourMetric = (typeof BEHAVIOUR_METRICS)[number];

/** The behaviour score's traits and thresholds (rules/policy.yaml `behaviour:`). */
export interface BehaviourConfig {
  id: string;
  rev: number;
  traits: ReadonlyArray<{ name: string; metric: BehaviourMetric; min: number | null; max: number | null; points: number }>;
  /** Score at or above which the flow gets class `behaviour`; at or above `weakAt`, `behaviour-weak`. */
  strongAt: number;
  weakAt: number;
}

export const SESSION_METRICS = [
  'connected_min',
  'chained_records',
  'days',
  'rate_cv',
  'packets_per_min',
  'bytes_per_packet',
  'both_directions',
  'flags_ack_psh',
  'mining_port',
  'listed_endpoint',
  'listed_address',
] as const;
export type SessionMetric = (typeof SESSION_METRICS)[number];

/**
 * Session history (rules/policy.yaml `sessions:`): the flows of one subscriber to one server:port
 * over the whole report, scored as one. At or above `mediumAt` the flows get class `session`.
 */
export interface SessionConfig {
  id: string;
  rev: number;
  /** A flow starting at most this long after the previous one ended continues its chain (ms). */
  chainGapMs: number;
  traits: ReadonlyArray<{ name: string; metric: SessionMetric; min: number | null; max: number | null; points: number }>;
  mediumAt: number;
}

/** Many listed pool endpoints from one subscriber (rules/policy.yaml `endpoints:`). */
export interface EndpointsConfig {
  id: string;
  rev: number;
  /** Distinct listed pool endpoints (IP:port) with data both ways, within their validity, that give class `pool-endpoints`. */
  min: number;
}

/**
 * How much a listed address still says at the time of a flow (rules/policy.yaml `intel_age:`):
 * full weight within `fullDays` of its observation, then halving every `halfLifeDays`; below
 * `minWeight` it is no evidence. Entries of lists that give no observation date weigh at most
 * `listedWeight`.
 */
export interface IntelAge {
  fullDays: number;
  halfLifeDays: number;
  minWeight: number;
  listedWeight: number;
}

export interface Policy {
  id: string;
  rev: number;
  behaviour: BehaviourConfig | null;
  sessions: SessionConfig | null;
  endpoints: EndpointsConfig | null;
  intelAge: IntelAge;
  /** Ordered: the first rule whose conditions hold decides. */
  outcomes: readonly PolicyRule[];
  /** Server ports typical of pools: the weakest evidence, on established flows only. */
  miningPorts: ReadonlySet<number>;
}

export type EndpointKind = 'pool' | 'browser-mining' | 'proxy' | 'exclude';

/** One known endpoint with its provenance. */
export interface EndpointEntry {
  match: { domain: string } | { suffix: string } | { ip: string; port: number | null } | { cidr: string };
  pool: string;
  coins: readonly string[];
  ports: readonly number[];
  kind: EndpointKind;
  source: string;
  added: string;
  reference: string | null;
  /**
   * What `added` means: `observed`, the date the fact was seen true (a resolution, a probe, a proven
   * flow); `listed`, only the date the list was taken (a block list without dates per line).
   */
  dates: 'observed' | 'listed';
  /** A `domain` entry from a block list also covers the names below it. */
  subdomains: boolean;
  /** Where the entry is defined. */
  origin: { file: string; line: number };
}

/** Normalises miner agent strings to software names. */
export interface AgentRule {
  software: string;
  /** Case-insensitive prefixes of the agent string. */
  prefixes: readonly string[];
  coins: readonly string[];
}

/** One mining algorithm: coins that use it, Stratum difficulty units, efficiency (rules/algorithms.yaml). */
export interface AlgorithmRule {
  id: string;
  /** Coins mined with it; `from`/`until` (ms, UTC) bound a mapping that changed (Monero moved to RandomX). */
  coins: ReadonlyArray<{ coin: string; from: number | null; until: number | null }>;
  /** Names protocols give it (lower case), e.g. `rx/0`. */
  names: readonly string[];
  unit: 'H/s' | 'Sol/s';
  /** Hashes one share of Stratum difficulty 1 is worth; null when its pools set targets, not difficulty. */
  difficultyOne: number | null;
  /** Joules per hash: the most and least efficient hardware in use; null when not documented. */
  efficiencyLow: number | null;
  efficiencyHigh: number | null;
  hardwareLow: string | null;
  hardwareHigh: string | null;
  sources: readonly string[];
  line: number;
}

export interface Algorithms {
  id: string;
  rev: number;
  /** When the figures were last checked (YYYY-MM-DD). */
  date: string;
  algorithms: readonly AlgorithmRule[];
}

export interface RuleSet {
  payload: readonly PayloadRule[];
  /** rules/algorithms.yaml; null when the folder has none (hashrate then stays in shares). */
  algorithms: Algorithms | null;
  policy: Policy;
  endpoints: readonly EndpointEntry[];
  agents: readonly AgentRule[];
  /** sha256 over every rule file's path and bytes, in path order: names the exact rule set. */
  digest: string;
  files: readonly string[];
}
