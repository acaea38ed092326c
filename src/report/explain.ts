/**
 * What a report holds about one subscriber or address, for `minerwatch explain`: who it is (found by
 * id, account, client address or keyed pseudonym), its verdict, its flows with every piece of
 * evidence, its hashrate rows with the figures they come from, and how its flows were attributed
 * to it (directory entry, NAT mapping, and any attribution column a later report adds to `flows`).
 * Flows and their evidence are read one statement step at a time, so memory does not grow with
 * the subscriber's traffic.
 */
import type Database from 'better-sqlite3';
import { canonicalAddress } from '../ip.js';
import type { Pseudonymiser } from './pseudonym.js';
import { flowAttributes, flowEndpoints } from './queries.js';
import type { HashrateRow } from '../aggregate/hashrate.js';
import type { Attributes } from '../types.js';

/** Who an argument of `explain` names: a subscriber, or a client address whose flows have none. */
export type ExplainSubject = { kind: 'subscriber'; subscriber: string } | { kind: 'client'; client: string };

/** One subject an argument matched, with what it matched and the flows behind it. */
export interface ExplainCandidate {
  subject: ExplainSubject;
  /** How the argument matched: `subscriber id`, `account`, `client address`, `pseudonym of …`. */
  matched: string;
  flows: number;
  firstSeen: number;
  lastSeen: number;
}

/** A pseudonym as {@link Pseudonymiser.of} writes it. */
const PSEUDONYM = /^p-[0-9a-f]{16}$/;

interface Stats {
  subscriber: string | null;
  flows: number;
  first: number;
  last: number;
}

/** The textual forms of an address a report may hold (as given, and RFC 5952 / dotted quad). */
function addressForms(arg: string): string[] {
  const a = canonicalAddress(arg);
  return a === null ? [] : [...new Set([arg, a])];
}

/**
 * Every subject `arg` can mean in the report: a subscriber id, a directory account, a client
 * address (one candidate per subscriber its flows were mapped to, or the address itself when they
 * had none), or, with the key, a pseudonym of any of these. Matching is done on the stored values,
 * as `watchlist --prefix` matches addresses before they are pseudonymised.
 */
export function findExplainCandidates(db: Database.Database, arg: string, pseudonymise: Pseudonymiser | null): ExplainCandidate[] {
  const found = new Map<string, ExplainCandidate>();
  const add = (s: Stats, matched: string, client?: string): void => {
    const subject: ExplainSubject = s.subscriber !== null ? { kind: 'subscriber', subscriber: s.subscriber } : { kind: 'client', client: client! };
    const key = subject.kind === 'subscriber' ? `s:${subject.subscriber}` : `c:${subject.client}`;
    if (!found.has(key)) found.set(key, { subject, matched, flows: s.flows, firstSeen: s.first, lastSeen: s.last });
  };
  const bySubscriber = db.prepare('SELECT subscriber, count(*) AS flows, min(first_seen) AS first, max(last_seen) AS last FROM flows WHERE subscriber = ? GROUP BY subscriber');
  const byClient = db.prepare('SELECT subscriber, count(*) AS flows, min(first_seen) AS first, max(last_seen) AS last FROM flows WHERE client = ? GROUP BY subscriber ORDER BY first');
  const subscriber = (id: string, matched: string): void => {
    const s = bySubscriber.get(id) as Stats | undefined;
    if (s) add(s, matched);
  };
  const account = (acc: string, matched: string): void => {
    for (const id of db.prepare('SELECT subscriber FROM subscriber_info WHERE account = ? UNION SELECT subscriber FROM subscribers WHERE account = ?').pluck().all(acc, acc) as string[]) subscriber(id, matched);
  };
  const client = (addr: string, matched: string): void => {
    for (const s of byClient.all(addr) as Stats[]) add(s, matched, addr);
  };

  subscriber(arg, 'subscriber id');
  account(arg, 'account');
  for (const a of addressForms(arg)) client(a, 'client address');
  if (pseudonymise && PSEUDONYM.test(arg)) {
    // Pseudonyms cannot be turned back: compute the pseudonym of every stored id, account and client address.
    for (const id of db.prepare('SELECT DISTINCT subscriber FROM flows WHERE subscriber IS NOT NULL').pluck().iterate() as IterableIterator<string>)
      if (pseudonymise.of(id) === arg) subscriber(id, 'pseudonym of a subscriber id');
    for (const acc of db.prepare('SELECT account FROM subscriber_info WHERE account IS NOT NULL UNION SELECT account FROM subscribers WHERE account IS NOT NULL').pluck().iterate() as IterableIterator<string>)
      if (pseudonymise.of(acc) === arg) account(acc, 'pseudonym of an account');
    for (const c of db.prepare('SELECT DISTINCT client FROM flows').pluck().iterate() as IterableIterator<string>) if (pseudonymise.of(c) === arg) client(c, 'pseudonym of a client address');
  }
  return [...found.values()].sort((a, b) => a.firstSeen - b.firstSeen);
}

/** The subscribers row (the watch-list rollup), or null when the subject has no mining evidence. */
export interface ExplainVerdict {
  confidence: string;
  miningFlows: number;
  firstSeen: number;
  lastSeen: number;
  evidence: string;
  servers: string[];
  pools: string[];
  coins: string[];
  agents: string[];
  workers: string[];
  account: string | null;
  type: string | null;
  region: string | null;
  powerCheck: string | null;
  powerNote: string | null;
}

/** Flows of the subject by label, confidence and the policy outcome that decided them. */
export interface ExplainTally {
  label: string;
  confidence: string;
  outcome: string | null;
  flows: number;
}

const where = (s: ExplainSubject): [string, string] => (s.kind === 'subscriber' ? ['subscriber = ?', s.subscriber] : ['client = ? AND subscriber IS NULL', s.client]);

/** The subject's rollup row, when it has one (only subscribers with mining flows do). */
export function explainVerdict(db: Database.Database, s: ExplainSubject): ExplainVerdict | null {
  if (s.kind !== 'subscriber') return null;
  const r = db.prepare('SELECT * FROM subscribers WHERE subscriber = ?').get(s.subscriber) as Record<string, unknown> | undefined;
  if (!r) return null;
  const list = (v: unknown): string[] => (typeof v === 'string' ? (JSON.parse(v) as string[]) : []);
  return {
    confidence: r.confidence as string,
    miningFlows: r.mining_flows as number,
    firstSeen: r.first_seen as number,
    lastSeen: r.last_seen as number,
    evidence: r.evidence as string,
    servers: list(r.servers),
    pools: list(r.pools),
    coins: list(r.coins),
    agents: list(r.agents),
    workers: list(r.workers),
    account: (r.account as string | null) ?? null,
    type: (r.type as string | null) ?? null,
    region: (r.region as string | null) ?? null,
    powerCheck: (r.power_check as string | null) ?? null,
    powerNote: (r.power_note as string | null) ?? null,
  };
}

/** The subject's flows counted by label, confidence and outcome, strongest first. */
export function explainTally(db: Database.Database, s: ExplainSubject): ExplainTally[] {
  const [w, v] = where(s);
  return db
    .prepare(
      `SELECT label, confidence, outcome, count(*) AS flows FROM flows WHERE ${w} GROUP BY label, confidence, outcome
       ORDER BY CASE label WHEN 'mining' THEN 2 WHEN 'suspect' THEN 1 ELSE 0 END DESC, CASE confidence WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END DESC, flows DESC`,
    )
    .all(v) as ExplainTally[];
}

/** One evidence row of a flow, as stored. */
export interface ExplainEvidence {
  ruleId: string;
  rev: number;
  kind: string;
  side: string;
  family: string;
  matched: string;
  excerpt: string;
  offset: number;
  time: number;
}

/**
 * The `flows` columns this version writes. A column not among them (one a later version adds, such
 * as an accounting session) is shown by {@link iterateExplainFlows} as an attribution field, so the
 * chain stays complete without this code knowing the column.
 */
export const KNOWN_FLOW_COLUMNS: ReadonlySet<string> = new Set([
  'id', 'run_id', 'input_id', 'client', 'client_port', 'server', 'server_port', 'transport', 'ip_version', 'orientation',
  'first_seen', 'last_seen', 'packets_c2s', 'packets_s2c', 'bytes_c2s', 'bytes_s2c', 'flags_c2s', 'flags_s2c', 'end_reason',
  'source', 'records', 'sampling', 'label', 'confidence', 'coin', 'agent', 'software', 'workers', 'pool', 'server_name',
  'rules', 'outcome', 'reason', 'subscriber', 'nat', 'shares_submitted', 'shares_accepted', 'shares_rejected', 'shares',
  'share_hashes', 'algorithm', 'reported_hs',
]);

/** One flow of the subject with everything stored about it. */
export interface ExplainFlow extends Attributes {
  id: number;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  transport: string;
  firstSeen: number;
  lastSeen: number;
  packets: number;
  bytes: number;
  source: string;
  label: string;
  confidence: string;
  outcome: string | null;
  reason: string;
  sharesSubmitted: number | null;
  sharesAccepted: number | null;
  sharesRejected: number | null;
  shares: number | null;
  shareHashes: number | null;
  algorithm: string | null;
  reportedHs: number | null;
  /** The input the flow was read from (path), when the report still names it. */
  input: string | null;
  /**
   * How the flow came to its subscriber, in order: `subscriber`, `nat`, then any `flows` column
   * this version does not know (see {@link KNOWN_FLOW_COLUMNS}), with its stored value.
   */
  attribution: Record<string, string | number | null>;
  evidence: ExplainEvidence[];
}

/**
 * The subject's flows in time order (mining and suspect ones unless `all`), each with its
 * evidence in the order it was written. One flow's evidence is held at a time.
 */
export function* iterateExplainFlows(db: Database.Database, s: ExplainSubject, all: boolean): IterableIterator<ExplainFlow> {
  const [w, v] = where(s);
  const extra = (db.prepare('PRAGMA table_info(flows)').all() as Array<{ name: string }>).map((c) => c.name).filter((c) => !KNOWN_FLOW_COLUMNS.has(c));
  const evidence = db.prepare('SELECT rule_id AS ruleId, rev, kind, side, family, matched, excerpt, offset, time FROM evidence WHERE flow_id = ? ORDER BY rowid');
  const stmt = db.prepare(
    `SELECT f.*, i.path AS input_path FROM flows f LEFT JOIN inputs i ON i.id = f.input_id WHERE ${w.replace(/\b(subscriber|client)\b/g, 'f.$1')}${all ? '' : " AND f.label IN ('mining', 'suspect')"} ORDER BY f.first_seen, f.id`,
  );
  for (const r of stmt.iterate(v) as IterableIterator<Record<string, unknown>>) {
    const attribution: Record<string, string | number | null> = { subscriber: (r.subscriber as string | null) ?? null, nat: (r.nat as string | null) ?? null };
    for (const c of extra) attribution[c] = (r[c] as string | number | null) ?? null;
    const num = (x: unknown): number | null => (typeof x === 'number' ? x : null);
    yield {
      ...flowEndpoints(r),
      firstSeen: r.first_seen as number,
      lastSeen: r.last_seen as number,
      packets: (r.packets_c2s as number) + (r.packets_s2c as number),
      bytes: (r.bytes_c2s as number) + (r.bytes_s2c as number),
      source: r.source as string,
      label: r.label as string,
      confidence: r.confidence as string,
      outcome: (r.outcome as string | null) ?? null,
      reason: r.reason as string,
      ...flowAttributes(r),
      sharesSubmitted: num(r.shares_submitted),
      sharesAccepted: num(r.shares_accepted),
      sharesRejected: num(r.shares_rejected),
      shares: num(r.shares),
      shareHashes: num(r.share_hashes),
      algorithm: (r.algorithm as string | null) ?? null,
      reportedHs: num(r.reported_hs),
      input: (r.input_path as string | null) ?? null,
      attribution,
      evidence: evidence.all(r.id) as ExplainEvidence[],
    };
  }
}

/** One hashrate row of the subject (a {@link HashrateRow} as stored) with the efficiency it was turned into power with. */
export interface ExplainHashrate extends HashrateRow {
  unit: string;
  /** The algorithm's efficiency range (J per hash) and where it comes from, when the report holds it. */
  jPerHLow: number | null;
  jPerHHigh: number | null;
  hardware: string | null;
  efficiencySource: string | null;
}

/** The subject's `subscriber_hashrate` rows, joined to the algorithms' efficiency. */
export function explainHashrate(db: Database.Database, s: ExplainSubject): ExplainHashrate[] {
  if (s.kind !== 'subscriber') return [];
  return db
    .prepare(
      `SELECT h.coin, h.algorithm, h.unit, h.flows, h.shares, h.unvalued, h.hashes, h.seconds, h.hashrate_hs AS hashrateHs, h.rel_err AS relErr,
       h.reported_hs AS reportedHs, h.power_w_low AS powerWLow, h.power_w_high AS powerWHigh, a.j_per_h_low AS jPerHLow, a.j_per_h_high AS jPerHHigh,
       a.hardware, a.rules AS efficiencySource
       FROM subscriber_hashrate h LEFT JOIN algorithms a ON a.id = h.algorithm WHERE h.subscriber = ? ORDER BY h.coin, h.algorithm`,
    )
    .all(s.subscriber) as ExplainHashrate[];
}

/**
 * The steps of a flow's attribution chain as `flows.nat` holds them, in order: the NAT mapping
 * (`mapped: …`, `missing: …`, `ambiguous: …`, naming the NAT record), then the RADIUS accounting
 * session (`radius mapped: …` …) and the directory line that names its account's subscriber.
 * Steps are joined by `; ` in the column; a `; ` inside a step (two sessions of an ambiguous
 * lookup) stays in its step.
 */
export function attributionSteps(nat: string | null): string[] {
  if (nat === null || nat === '') return [];
  return nat.split(/; (?=(?:radius )?(?:mapped|missing|ambiguous): |directory line |account in the directory )/);
}

/** What a step of {@link attributionSteps} is: the words before its first colon (`mapped`, `radius missing`, `directory line 12`). */
export function stepOutcome(step: string): string {
  const i = step.indexOf(':');
  return i < 0 ? step : step.slice(0, i);
}

/** How flows came to the subject, beyond each flow's own fields. */
export interface ExplainAttribution {
  /** The subscriber directory entry, every column as stored (prefixes and source among them), or null. */
  directory: Record<string, unknown> | null;
  /** Client addresses its flows were seen with, first seen first: address, first, last, flows. */
  addresses: Array<{ address: string; firstSeen: number; lastSeen: number; flows: number }>;
  /** Client addresses beyond those listed. */
  moreAddresses: number;
  /**
   * The attribution steps of its flows counted by outcome (`mapped`, `radius mapped`, `directory
   * line 12` …; `none` for flows no step applied to), most flows first.
   */
  steps: Array<{ outcome: string; flows: number }>;
}

/** Client addresses listed in {@link ExplainAttribution.addresses}; the rest are counted. */
export const EXPLAIN_ADDRESSES = 64;

/** The directory entry, the addresses seen and the attribution steps of the subject's flows. */
export function explainAttribution(db: Database.Database, s: ExplainSubject): ExplainAttribution {
  const [w, v] = where(s);
  const directory = s.kind === 'subscriber' ? ((db.prepare('SELECT * FROM subscriber_info WHERE subscriber = ?').get(s.subscriber) as Record<string, unknown> | undefined) ?? null) : null;
  const addresses = db
    .prepare(`SELECT client AS address, min(first_seen) AS firstSeen, max(last_seen) AS lastSeen, count(*) AS flows FROM flows WHERE ${w} GROUP BY client ORDER BY firstSeen, client LIMIT ?`)
    .all(v, EXPLAIN_ADDRESSES) as ExplainAttribution['addresses'];
  const total = db.prepare(`SELECT count(DISTINCT client) FROM flows WHERE ${w}`).pluck().get(v) as number;
  const counts = new Map<string, number>();
  for (const r of db.prepare(`SELECT nat, count(*) AS n FROM flows WHERE ${w} GROUP BY nat`).iterate(v) as IterableIterator<{ nat: string | null; n: number }>) {
    const steps = attributionSteps(r.nat);
    for (const o of steps.length ? steps.map(stepOutcome) : ['none']) counts.set(o, (counts.get(o) ?? 0) + r.n);
  }
  const steps = [...counts].map(([outcome, flows]) => ({ outcome, flows })).sort((a, b) => b.flows - a.flows || a.outcome.localeCompare(b.outcome));
  return { directory, addresses, moreAddresses: Math.max(0, total - addresses.length), steps };
}
