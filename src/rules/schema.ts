/**
 * The compiled form of the rules in `rules/`. Rule files are data: conditions are exact
 * comparisons on parsed JSON messages (no regular expressions, no code), so no rule can make
 * matching super-linear or execute anything.
 */
import type { Confidence, Label, Side } from '../types.js';

/** Value types a `types:` condition can require. `hex` is a string of hexadecimal digits. */
export type ValueType = 'string' | 'number' | 'array' | 'object' | 'hex' | 'null' | 'boolean';
export const VALUE_TYPES: readonly ValueType[] = ['string', 'number', 'array', 'object', 'hex', 'null', 'boolean'];

/** A dotted path into a JSON message, split: `params.0` → ['params', '0']. */
export type JsonPath = readonly string[];

export interface PayloadMatch {
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
  /** Each path must be a string starting with one of the given prefixes. */
  prefix: ReadonlyArray<{ path: JsonPath; values: readonly string[] }>;
}

export interface PayloadRule {
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
  match: PayloadMatch;
  /** Coin this message implies, when the protocol tells it. */
  coin: string | null;
  /** Attribute extraction: path of the miner agent, of the worker/wallet. */
  extract: { agent: JsonPath | null; worker: JsonPath | null };
  fixtures: { positive: readonly string[]; negative: readonly string[] };
  /** File and line the rule was defined at. */
  source: { file: string; line: number };
}

export interface PolicyOutcome {
  label: Label;
  confidence: Confidence;
}

export interface Policy {
  id: string;
  rev: number;
  /** Protocol messages seen from both client and server. */
  twoSided: PolicyOutcome;
  /** Protocol messages seen from one side only. */
  oneSided: PolicyOutcome;
}

export interface RuleSet {
  payload: readonly PayloadRule[];
  policy: Policy;
  /** sha256 over every rule file's path and bytes, in path order: names the exact rule set. */
  digest: string;
  files: readonly string[];
}
