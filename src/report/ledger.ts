/**
 * Which of a scan's subscribers its close must settle: the pass that adds evidence up over a
 * subscriber's flows (src/report/redecide.ts) changes nothing for most of them, and reading every
 * flow with evidence back to find that out is most of a close. The ledger is kept where the run's
 * batches are inserted (on the writer thread, beside the scan, or on the scan's thread when it
 * inserts them itself). It holds each subscriber's flows with evidence, and after each batch asks
 * of those the batch touched whether the pass may change anything for them ({@link mayChange});
 * a subscriber it may change is marked and its flows let go. At the close what it says counts only
 * when the report holds no other flow with evidence ({@link isWholeReport}): every subscriber it
 * did not mark would then be read and left as it is. Bounded: a subscriber with many flows is
 * marked without asking, and past {@link MAX_LEDGER_FLOWS} flows held or subscribers marked the
 * ledger gives up, and the close reads the report as before.
 */
import type Database from 'better-sqlite3';
import { subscriberEvidence, type SessionFlow } from '../aggregate/sessions.js';
import { addressWeight } from '../classify/intelage.js';
import { classesOf, decide, type Decision } from '../classify/policy.js';
import type { EndpointEntry, IntelAge, Policy } from '../rules/schema.js';
import type { Evidence } from '../types.js';
import { isProof } from './settle.js';
import { EV_NUMS, EV_STRS, N_FIRST_SEEN, N_SERVER_PORT, NUMS, PLAIN, S_CONFIDENCE, S_LABEL, S_OUTCOME, S_RULES, S_SERVER, S_SUBSCRIBER, S_TRANSPORT, STRS, type PackedFlows } from './writer-batch.js';

/** Flows a ledger holds at most (of subscribers not marked; about 350 bytes each), and subscribers it marks at most. */
export const MAX_LEDGER_FLOWS = 1 << 17;
/** Distinct lists of evidence kinds and sides a ledger shares between its flows. */
const MAX_FACT_LISTS = 1024;
/** A subscriber with more flows with evidence than this is marked without asking (asking again at every batch would grow as their square). */
const MAX_SUBSCRIBER_FLOWS = 64;

/** Kind and side of a piece of evidence, and of a listing its text (what the pass reads of it). */
export type LedgerFact = Pick<Evidence, 'kind' | 'side'> & { matched?: string };

/** What adding up reads of a flow's row (a stored row, or a ledger's copy of it). */
export interface StoredFlow {
  server: string;
  server_port: number;
  transport: 'tcp' | 'udp';
  first_seen: number;
  last_seen: number;
  packets_c2s: number;
  packets_s2c: number;
  bytes_c2s: number;
  bytes_s2c: number;
  flags_c2s: number;
  flags_s2c: number;
  records: number;
}

/** A flow with evidence as a ledger holds it: its row's values, its verdict and its facts. */
export interface LedgerFlow extends StoredFlow {
  label: string;
  confidence: string;
  outcome: string | null;
  facts: LedgerFact[];
}

/** What the close is told (it crosses from the writer thread). `flows` -1: the ledger gave up. */
export interface LedgerSummary {
  /** Flows with evidence and a subscriber the run inserted. */
  flows: number;
  /** Subscribers the pass may change. */
  marked: string[];
  /** Flows of the other subscribers. */
  unmarkedFlows: number;
}

/** A ledger's whole state, handed to the writer thread when it takes over the inserting. */
export interface LedgerState {
  flows: number;
  held: Array<[string, LedgerFlow[]]>;
  marked: string[];
}

/** A ledger as it crosses to the writer thread: its policy and its state. */
export interface LedgerHandOver {
  policy: Policy;
  state: LedgerState;
}

/** Listed addresses (src/classify/matchers/address.ts): from the rules' endpoint lists and `--intel`; the pass reads their text (it names the listing's date). */
export const LISTING_KINDS: ReadonlySet<string> = new Set<Evidence['kind']>(['endpoint', 'endpoint-port']);
/** Resolver-log bindings (src/classify/matchers/dnslog.ts): from `--dns-log`. */
export const DNS_LOG_KINDS: ReadonlySet<string> = new Set<Evidence['kind']>(['dns-log', 'dns-log-shared']);
/** Evidence kinds added up over the report (always worked out again). */
export const REPORT_KINDS: ReadonlySet<string> = new Set<Evidence['kind']>(['session', 'pool-endpoints']);

export class EvidenceLedger {
  private flows: number;
  private readonly held: Map<string, LedgerFlow[]>;
  private readonly marked: Set<string>;
  private holding = 0;
  private readonly factLists = new Map<string, LedgerFact[]>();

  constructor(
    private readonly policy: Policy,
    state?: LedgerState,
    /** Flows held, and subscribers marked, before it gives up ({@link MAX_LEDGER_FLOWS} each). */
    private readonly limit = MAX_LEDGER_FLOWS,
  ) {
    this.flows = state?.flows ?? 0;
    this.held = new Map(state?.held ?? []);
    this.marked = new Set(state?.marked ?? []);
    for (const l of this.held.values()) this.holding += l.length;
  }

  /** A batch as it was inserted: its rows with evidence (a rule id) and a subscriber. */
  add(b: PackedFlows): void {
    if (this.flows < 0) return;
    const dict = b.dict as Array<string | null>;
    const touched = new Set<string>();
    let e = 0;
    for (let i = 0; i < b.count; i++) {
      const so = i * STRS;
      // Evidence rows follow their rows' order; a plain row has none.
      const first = e;
      while (e < b.evidenceCount && b.evNums[e * EV_NUMS] === i) e++;
      if (b.strs[so + S_LABEL] === PLAIN) continue;
      const sub = b.strs[so + S_SUBSCRIBER]!;
      const rules = b.strs[so + S_RULES]!;
      if (sub < 0 || rules < 0 || dict[rules] === '') continue;
      this.flows++;
      const subscriber = dict[sub]!;
      if (this.marked.has(subscriber)) continue;
      let facts: LedgerFact[] = [];
      // The list's kinds and sides, or null when it holds a listing.
      let key: string | null = '';
      for (let j = first; j < e; j++) {
        const kind = dict[b.evStrs[j * EV_STRS + 1]!] as Evidence['kind'];
        const side = dict[b.evStrs[j * EV_STRS + 2]!] as Evidence['side'];
        if (LISTING_KINDS.has(kind)) {
          facts.push({ kind, side, matched: dict[b.evStrs[j * EV_STRS + 4]!]! });
          key = null;
        } else {
          facts.push({ kind, side });
          if (key !== null) key += `${kind}/${side};`;
        }
      }
      // Most flows hold one of a few lists of kinds and sides (a listing's text is the flow's own): held once.
      if (key !== null) {
        const same = this.factLists.get(key);
        if (same) facts = same;
        else if (this.factLists.size < MAX_FACT_LISTS) this.factLists.set(key, facts);
      }
      const n = b.nums;
      const o = i * NUMS;
      const outcome = b.strs[so + S_OUTCOME]!;
      const flow: LedgerFlow = {
        server: dict[b.strs[so + S_SERVER]!]!,
        server_port: n[o + N_SERVER_PORT]!,
        transport: dict[b.strs[so + S_TRANSPORT]!] as LedgerFlow['transport'],
        // First seen, last seen, packets and bytes both ways, flags both ways, records: in that order.
        first_seen: n[o + N_FIRST_SEEN]!,
        last_seen: n[o + N_FIRST_SEEN + 1]!,
        packets_c2s: n[o + N_FIRST_SEEN + 2]!,
        packets_s2c: n[o + N_FIRST_SEEN + 3]!,
        bytes_c2s: n[o + N_FIRST_SEEN + 4]!,
        bytes_s2c: n[o + N_FIRST_SEEN + 5]!,
        flags_c2s: n[o + N_FIRST_SEEN + 6]!,
        flags_s2c: n[o + N_FIRST_SEEN + 7]!,
        records: n[o + N_FIRST_SEEN + 8]!,
        label: dict[b.strs[so + S_LABEL]!]!,
        confidence: dict[b.strs[so + S_CONFIDENCE]!]!,
        outcome: outcome < 0 ? null : dict[outcome]!,
        facts,
      };
      const l = this.held.get(subscriber);
      if (l) l.push(flow);
      else this.held.set(subscriber, [flow]);
      touched.add(subscriber);
      if (++this.holding > this.limit) return this.giveUp();
    }
    for (const s of touched) {
      const l = this.held.get(s)!;
      if (l.length > MAX_SUBSCRIBER_FLOWS || mayChange(this.policy, l)) {
        this.marked.add(s);
        this.held.delete(s);
        this.holding -= l.length;
        // The names marked are held too (and read back one by one at the close).
        if (this.marked.size > this.limit) return this.giveUp();
      }
    }
  }

  /** What the writer thread needs to go on with this ledger when it takes over the inserting. */
  handOver(): LedgerHandOver {
    return { policy: this.policy, state: { flows: this.flows, held: [...this.held], marked: [...this.marked] } };
  }

  summary(): LedgerSummary {
    return { flows: this.flows, marked: [...this.marked], unmarkedFlows: this.holding };
  }

  private giveUp(): void {
    this.flows = -1;
    this.held.clear();
    this.marked.clear();
    this.holding = 0;
  }
}

/**
 * Whether the report's flows with evidence and a subscriber are the ledger's alone: it saw every
 * flow the run inserted and none was taken out (`runWhole`), and the report counts as many.
 */
export function isWholeReport(db: Database.Database, s: LedgerSummary, runWhole: boolean): boolean {
  if (s.flows < 0 || !runWhole) return false;
  // Counted through the partial index flows_evidence (its entries only).
  const n = db.prepare("SELECT count(*) FROM flows WHERE rules != '' AND subscriber IS NOT NULL").pluck().get() as number;
  return n === s.flows;
}

/**
 * Whether the close may write anything for a subscriber with these flows (all its flows with
 * evidence): the pass adds evidence up over them, or decides one of them otherwise than it was
 * decided, or one of them proves its server (peer evidence may then have changed the others), or a
 * listing's date cannot be read from its text (the pass weighs it by the lists). Else the pass,
 * reading them, would leave every one as it is.
 */
export function mayChange(policy: Policy, flows: readonly LedgerFlow[]): boolean {
  const sessionFlows: SessionFlow[] = [];
  for (let i = 0; i < flows.length; i++) {
    const r = flows[i]!;
    if (r.facts.some((e) => REPORT_KINDS.has(e.kind)) || isProof(r.label, r.confidence, r.facts)) return true;
    if (!decidedAs(decide(policy, classesOf(r.facts)), r)) return true;
    const w = listingWeights(r, r.facts, policy.intelAge, null);
    if (w === null) return true;
    sessionFlows.push(sessionFlowOf(i, r, w));
  }
  return subscriberEvidence(sessionFlows, policy).size > 0;
}

/** Whether a decision gives a stored verdict again: its label, confidence and outcome (the pass rewrites a flow whose do not). */
export function decidedAs(d: Decision, r: Pick<LedgerFlow, 'label' | 'confidence' | 'outcome'>): boolean {
  return d.label === r.label && d.confidence === r.confidence && (d.outcome?.name ?? null) === r.outcome;
}

export function sessionFlowOf(id: number, r: StoredFlow, w: { endpoint: number; address: number }): SessionFlow {
  return {
    id,
    server: r.server,
    serverPort: r.server_port,
    transport: r.transport,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    packetsC2S: r.packets_c2s,
    packetsS2C: r.packets_s2c,
    bytesC2S: r.bytes_c2s,
    bytesS2C: r.bytes_s2c,
    flags: r.flags_c2s | r.flags_s2c,
    records: r.records,
    endpointWeight: w.endpoint,
    addressWeight: w.address,
  };
}

/**
 * The weights of the listings behind a flow's evidence (their age counts: src/classify/intelage.ts):
 * of the listing each endpoint or endpoint-port row names (its date and what it dates), weighed now,
 * so a listing kept from an earlier `--intel` weighs as when it was written. A row whose date cannot
 * be read (written before listings were dated) is weighed by `undated` (the lists given now); null
 * when there is such a row and no `undated`.
 */
export function listingWeights(
  r: StoredFlow,
  evidence: readonly LedgerFact[],
  age: IntelAge,
  undated: ((r: StoredFlow) => { endpoint: number; address: number }) | null,
): { endpoint: number; address: number } | null {
  let endpoint = 0;
  let address = 0;
  let unread = false;
  for (const e of evidence) {
    if (!LISTING_KINDS.has(e.kind)) continue;
    const a = e.matched === undefined ? null : listingAge(e.matched, r.first_seen, age);
    if (!a) {
      unread = true;
      continue;
    }
    address = Math.max(address, a.weight);
    if (e.kind === 'endpoint-port') endpoint = Math.max(endpoint, a.weight);
  }
  if (unread) {
    if (undated === null) return null;
    const w = undated(r);
    address = Math.max(address, w.address);
    endpoint = Math.max(endpoint, w.endpoint);
  }
  // A resolver told someone this address for a listed name: as good as a fresh listing of the address.
  if (evidence.some((e) => DNS_LOG_KINDS.has(e.kind))) address = Math.max(address, 1);
  return { endpoint, address };
}

/** The age note that ends a listing's evidence text (src/classify/matchers/address.ts, src/classify/intelage.ts): what it dates, and the date. */
const AGE_NOTE = /; ((observed|listed) (\d{4}-\d{2}-\d{2})(?:,| without)[^;()]*)\)$/;

/**
 * The weight now of the listing an endpoint or endpoint-port row names, for a flow at `flowMs`, the
 * note to write for it, and where the row's own note starts; null when the row names no dated listing.
 */
export function listingAge(matched: string, flowMs: number, age: IntelAge): { weight: number; note: string; at: number } | null {
  const m = AGE_NOTE.exec(matched);
  if (!m) return null;
  // All that the weighing reads of an entry.
  const entry = { added: m[3]!, dates: m[2] === 'listed' ? 'listed' : 'observed' } as Pick<EndpointEntry, 'added' | 'dates'> as EndpointEntry;
  const w = addressWeight(entry, flowMs, age);
  return { weight: w.weight, note: w.note, at: m.index + 2 };
}
