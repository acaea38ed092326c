/**
 * Decides a report's flows again, subscriber by subscriber, in one transaction: session histories
 * and many-endpoint evidence are added up over every flow the report holds for a subscriber
 * (src/aggregate/sessions.ts), weighing each flow's listing by the listing its own evidence names,
 * and with `recompute` the evidence a flow's counters and endpoints give is worked out again from
 * the stored flow (see {@link SourcesGiven}): the pool port and behaviour always, with the rules
 * given now; listed addresses and their age from the rules' endpoint lists and the `--intel` given
 * now, a listing from an earlier `--intel` kept when none is given; resolver-log bindings only when
 * resolver logs are given now, else kept as written. Peer facts are dropped for the caller to add
 * again where a proof still stands. Evidence that came from payload (protocol messages, TLS SNI,
 * HTTP Host, DNS in the same data, handshakes) stays as it was written. A flow's verdict is
 * whatever the policy makes of its evidence now.
 */
import { normalize } from 'node:path';
import type Database from 'better-sqlite3';
import { subscriberEvidence, type SessionFlow } from '../aggregate/sessions.js';
import type { Classifier } from '../classify/classify.js';
import { addressWeight } from '../classify/intelage.js';
import type { FlowEvidenceInput } from '../classify/matcher.js';
import { classesOf, decide, NO_EVIDENCE_REASON } from '../classify/policy.js';
import type { Evidence } from '../types.js';
import { isProof, SUBSCRIBER_COST_IN_FLOWS } from './settle.js';
import { decidedAs, DNS_LOG_KINDS, LISTING_KINDS, listingAge, listingWeights, REPORT_KINDS, sessionFlowOf, type LedgerSummary, type StoredFlow } from './ledger.js';
import { endpointText } from '../ip.js';
import { sqlList } from './queries.js';
import { RULES_ENDPOINTS } from '../rules/loader.js';

/** Evidence kinds worked out from the flow's counters and endpoints (recomputed with `recompute`, as {@link SourcesGiven} says). */
const FLOW_KINDS = new Set<Evidence['kind']>(['endpoint', 'endpoint-port', 'port', 'behaviour', 'behaviour-weak', 'dns-log', 'dns-log-shared']);
const BEHAVIOUR_KINDS = new Set<Evidence['kind']>(['behaviour', 'behaviour-weak']);
const PROTOCOL_KINDS = new Set<Evidence['kind']>(['payload', 'http']);

/** What the decision reads of a stored flow (`client` and `source` only when evidence is worked out again). */
interface FlowRow extends StoredFlow {
  id: number;
  subscriber: string;
  label: string;
  confidence: string;
  outcome: string | null;
  /** Read with `recompute` only. */
  client: string;
  source: 'packets' | 'export';
}

export interface RedecideResult {
  /** Flows looked at, flows whose verdict changed, flows given session or many-endpoint evidence. */
  flows: number;
  /** Of the flows looked at, those read back from the report (the others a scan's ledger looked at as it wrote them: src/report/ledger.ts). */
  readBack: number;
  changed: number;
  sessions: number;
  endpoints: number;
  /**
   * Flows raised to a medium or high mining verdict that hold proof evidence (src/report/settle.ts):
   * the next peer evidence pass may find new proven pairs in them.
   */
  newProofs: number;
}

/**
 * Flows read at a time, in subscriber order: memory stays bounded by this or by one subscriber's
 * flows, whichever is larger, and a report takes a few statements per page rather than per subscriber.
 * Small pages measured faster than large ones (their rows die young).
 */
const PAGE_FLOWS = 512;
/** Evidence rows inserted by one statement, and flows whose evidence one statement reads. */
const INSERT_ROWS = 32;
const IDS_READ = 1024;
/** Subscribers of a list whose flows one statement reads. */
const SUBSCRIBERS_READ = 256;

const FLOW_COLUMNS = 'id, subscriber, server, server_port, transport, first_seen, last_seen, packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, flags_c2s, flags_s2c, records, label, confidence, outcome';
const EVIDENCE_COLUMNS = 'e.rule_id, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time';
/**
 * Without `recompute` the decision reads only the kind and side of a flow's own evidence; the whole
 * rows are read for the few flows that hold report-wide evidence or are rewritten.
 */
const FACT_COLUMNS = `e.kind, e.side, CASE WHEN e.kind IN (${sqlList(LISTING_KINDS)}) THEN e.matched END`;

/**
 * Kind and side: all that the policy (classesOf) reads of a piece of evidence; and of a listing
 * (endpoint, endpoint-port) its text, which names the listing's date the listing weights read.
 */
type Fact = Pick<Evidence, 'kind' | 'side'> & { matched?: string };

/**
 * What a re-decision with `recompute` is given of the sources of flow-level evidence. Evidence
 * whose source is given is worked out again from what is given; evidence whose source is not stays
 * as written; evidence of the rules alone (pool port, behaviour) is always worked out again:
 * - `dnsLogs`: resolver logs (`--dns-log`) are given. dns-log and dns-log-shared rows are then
 *   worked out from them alone (with the names the rules and the `--intel` given now list); without
 *   them they stay as written, unless the rules now exclude the server address (a shared front-end).
 * - `intel`: intelligence (`--intel`) is given. endpoint and endpoint-port rows are always worked
 *   out from the rules' own endpoint lists plus the intelligence given now. Without it, a listing
 *   that came from an earlier `--intel` (its provenance names no file of the rules' endpoints/
 *   folder, or names a folder a run of the report was given as `--intel`) stays, unless the rules
 *   now give the flow a listing at least as strong (endpoint-port over endpoint), exclude its
 *   address, or weigh its age (`intel_age`) below `min_weight`; its age note is written as weighed now.
 */
export interface SourcesGiven {
  dnsLogs: boolean;
  intel: boolean;
}

/**
 * The sources a classifier holds, when the caller does not say: resolver logs when it has a
 * resolver-log table (loadResolverLogs makes one for any log given); intelligence when an endpoint
 * entry comes from outside the rules' endpoints/ folder. An `--intel` that loaded no entry is not
 * seen here: a caller that knows what was given says so.
 */
export function sourcesOf(classifier: Classifier): SourcesGiven {
  return { dnsLogs: classifier.resolver !== null, intel: classifier.rules.endpoints.some((e) => !e.origin.file.startsWith(RULES_ENDPOINTS)) };
}

/** A flow's stored evidence: whole rows, or only kinds and sides (then none of REPORT_KINDS is among them). */
interface Stored {
  whole: boolean;
  facts: readonly Fact[];
}

/** A flow decided anew: what is written for it (`kept` null: its own evidence is read whole first). */
interface Rewrite {
  r: FlowRow;
  label: string;
  confidence: string;
  outcome: string | null;
  kept: Evidence[] | null;
  extra: Evidence[];
  pool: string | null;
  name: string | null;
}

/**
 * Decide the flows again (see the module comment), in one transaction.
 * @param opts.recompute work out the flow-level evidence again, not only what is added up.
 * @param opts.subscribers only these subscribers, read by the subscriber index a few hundred to a
 *   statement (a live collector's commit); every subscriber when absent. A subscriber's flows are decided from its own
 *   flows alone, so the outcome for each is what the whole-report pass gives it.
 * @param opts.known what the ledger of the scan that wrote every flow with evidence the report holds
 *   says of them (src/report/ledger.ts). Without `recompute`, only the subscribers it marked are
 *   read: the others' flows were looked at as the scan wrote them, and would be left as they are.
 */
export function redecideReport(
  db: Database.Database,
  classifier: Classifier,
  opts: { recompute: boolean; given?: SourcesGiven; subscribers?: Iterable<string>; known?: LedgerSummary },
): RedecideResult {
  const policy = classifier.rules.policy;
  const given = opts.given ?? sourcesOf(classifier);
  // Listings kept from an earlier --intel are told from the rules' own by their provenance.
  const intelFolders = opts.recompute && !given.intel ? intelFoldersOf(db) : [];
  const fromIntel = (e: Evidence): boolean => !e.excerpt.startsWith(RULES_ENDPOINTS) || intelFolders.some((f) => e.excerpt.startsWith(f));
  const res: RedecideResult = { flows: 0, readBack: 0, changed: 0, sessions: 0, endpoints: 0, newProofs: 0 };
  let subscribers = opts.subscribers;
  // Each subscriber read by its index: past a point the whole pass is the cheaper.
  if (opts.known && !opts.recompute && opts.known.marked.length * SUBSCRIBER_COST_IN_FLOWS < opts.known.flows) {
    subscribers = opts.known.marked;
    res.flows += opts.known.unmarkedFlows;
  }
  // Only flows with evidence can add up, unless the evidence itself is worked out again; the pages
  // of the whole-report pass find them by their own partial index (flows_evidence), not by walking
  // every flow's row.
  const withEvidence = opts.recompute ? '' : " AND rules != ''";
  const columns = FLOW_COLUMNS + (opts.recompute ? ', client, source' : '');
  // Rows come as arrays (much cheaper to read than objects) in subscriber order, then flow id order:
  // the order the flows were decided in before, so the evidence rows written (appended ones, or with
  // `recompute` every row of a flow) get the same row ids as in that pass.
  const firstPage = db.prepare(`SELECT ${columns} FROM flows WHERE subscriber IS NOT NULL${withEvidence} ORDER BY subscriber, id LIMIT ${PAGE_FLOWS}`).raw();
  const nextPage = db.prepare(`SELECT ${columns} FROM flows WHERE subscriber > ?${withEvidence} ORDER BY subscriber, id LIMIT ${PAGE_FLOWS}`).raw();
  const flowsOf = db.prepare(`SELECT ${columns} FROM flows WHERE subscriber = ?${withEvidence} ORDER BY id`).raw();
  // The same pages, of the subscribers of a list.
  const ofList = 'subscriber IN (SELECT value FROM json_each(?))';
  const firstPageOf = db.prepare(`SELECT ${columns} FROM flows WHERE ${ofList}${withEvidence} ORDER BY subscriber, id LIMIT ${PAGE_FLOWS}`).raw();
  const nextPageOf = db.prepare(`SELECT ${columns} FROM flows WHERE ${ofList} AND subscriber > ?${withEvidence} ORDER BY subscriber, id LIMIT ${PAGE_FLOWS}`).raw();
  // A page's evidence is found by its flows' ids (the evidence index alone, flows are not read again), each flow's in row order.
  const byIds = (columns: string): Database.Statement =>
    db.prepare(`SELECT e.flow_id, ${columns} FROM evidence e WHERE e.flow_id IN (SELECT value FROM json_each(?)) ORDER BY e.flow_id, e.rowid`).raw();
  const factsOfFlows = byIds(FACT_COLUMNS);
  const evidenceOfFlows = byIds(EVIDENCE_COLUMNS);
  const delEvidence = db.prepare('DELETE FROM evidence WHERE flow_id = ?');
  const delReportEvidence = db.prepare(`DELETE FROM evidence WHERE flow_id = ? AND kind IN (${sqlList(REPORT_KINDS)})`);
  // One statement per flow: its rows are inserted in order, so they get the row ids one at a time would.
  const inserts = new Map<number, Database.Statement>();
  const addEvidence = (rows: number): Database.Statement => {
    let st = inserts.get(rows);
    if (!st) {
      st = db.prepare(`INSERT INTO evidence(flow_id, rule_id, rev, kind, side, family, matched, excerpt, offset, time) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`);
      inserts.set(rows, st);
    }
    return st;
  };
  const update = db.prepare('UPDATE flows SET label = ?, confidence = ?, outcome = ?, reason = ?, rules = ?, pool = coalesce(pool, ?), server_name = coalesce(server_name, ?) WHERE id = ?');
  // The same values written without naming label and confidence, so their index is left alone.
  const updateSameLabel = db.prepare('UPDATE flows SET outcome = ?, reason = ?, rules = ?, pool = coalesce(pool, ?), server_name = coalesce(server_name, ?) WHERE id = ?');
  const rowOf = (v: unknown[]): FlowRow => flowOf(v, opts.recompute);
  // A listing whose date cannot be read (written before listings were dated) is weighed by the lists given now.
  const undated = (r: StoredFlow): { endpoint: number; address: number } => {
    const hit = classifier.index.address(r.server, r.server_port);
    if (!hit) return { endpoint: 0, address: 0 };
    const w = addressWeight(hit.entry, r.first_seen, policy.intelAge).weight;
    return { endpoint: hit.how === 'ip:port' || hit.entry.ports.includes(r.server_port) ? w : 0, address: w };
  };
  const weightsOf = (r: FlowRow, kept: readonly Fact[]): { endpoint: number; address: number } => listingWeights(r, kept, policy.intelAge, undated)!;

  /** The evidence a flow keeps of its own (and, with `recompute`, what its counters and endpoints give now: {@link SourcesGiven}). */
  function ownEvidence(r: FlowRow, own: readonly Evidence[], found: Map<number, { pool: string | null; name: string | null }>): Evidence[];
  function ownEvidence(r: FlowRow, own: readonly Fact[], found: Map<number, { pool: string | null; name: string | null }>): Fact[];
  function ownEvidence(r: FlowRow, own: readonly Fact[], found: Map<number, { pool: string | null; name: string | null }>): Fact[] {
    const kept = own.filter((e) => !REPORT_KINDS.has(e.kind));
    if (!opts.recompute) return kept;
    // Read whole with `recompute` (storedOf).
    const stored = kept as Evidence[];
    // Peer facts are worked out again after this pass (src/report/peers.ts): their proof may be gone.
    const out = stored.filter((e) => !FLOW_KINDS.has(e.kind) && e.kind !== 'peer');
    const flow: FlowEvidenceInput = {
      client: r.client,
      server: r.server,
      serverPort: r.server_port,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      source: r.source,
      packetsC2S: r.packets_c2s,
      packetsS2C: r.packets_s2c,
      bytesC2S: r.bytes_c2s,
      bytesS2C: r.bytes_s2c,
      tcpFlagsC2S: r.flags_c2s,
      tcpFlagsS2C: r.flags_s2c,
      transport: r.transport,
      records: r.records,
    };
    const noProtocol = !out.some((e) => PROTOCOL_KINDS.has(e.kind));
    // A stored flow keeps no payload: data both ways is judged from its counters.
    const established = r.packets_c2s > 1 && r.packets_s2c > 1;
    const fo = classifier.flowEvidence(flow, noProtocol, established);
    // In the matchers' order (resolver log, listed address, pool port, behaviour), each kind from its source.
    // The rules' exclusions (shared front-ends) apply to what is kept too.
    const keeps = (!given.dnsLogs && stored.some((e) => DNS_LOG_KINDS.has(e.kind))) || (!given.intel && stored.some((e) => LISTING_KINDS.has(e.kind)));
    const excluded = keeps && classifier.index.excluded(r.server);
    const logged = given.dnsLogs ? fo.evidence.filter((e) => DNS_LOG_KINDS.has(e.kind)) : excluded ? [] : stored.filter((e) => DNS_LOG_KINDS.has(e.kind));
    let listed = fo.evidence.filter((e) => LISTING_KINDS.has(e.kind));
    let rest = fo.evidence.filter((e) => !DNS_LOG_KINDS.has(e.kind) && !LISTING_KINDS.has(e.kind));
    const earlier = given.intel || excluded ? null : earlierListing(stored, r.first_seen);
    if (earlier && (!listed.length || (earlier.kind === 'endpoint-port' && !listed.some((e) => e.kind === 'endpoint-port')))) {
      // The behaviour score counts a listed address: it was scored without this one.
      if (!listed.length) {
        const scored = classifier.flowEvidence(flow, noProtocol, established, true).evidence.filter((e) => BEHAVIOUR_KINDS.has(e.kind));
        rest = [...rest.filter((e) => !BEHAVIOUR_KINDS.has(e.kind)), ...scored];
      }
      listed = [earlier];
    }
    out.push(...logged, ...listed, ...rest);
    found.set(r.id, { pool: fo.poolEntry && fo.poolEntry.pool !== 'unknown' ? fo.poolEntry.pool : null, name: fo.serverName });
    return out;
  }

  /**
   * The listing a flow's stored evidence holds from an earlier `--intel` (the stronger, if more than
   * one), with its age weighed now; null when it holds none, or its weight is now below `min_weight`.
   */
  const earlierListing = (stored: readonly Evidence[], flowMs: number): Evidence | null => {
    const rows = stored.filter((e) => LISTING_KINDS.has(e.kind) && fromIntel(e));
    const e = rows.find((x) => x.kind === 'endpoint-port') ?? rows[0];
    if (!e) return null;
    const age = listingAge(e.matched, flowMs, policy.intelAge);
    // A listing whose date cannot be read (a report written before listings were dated) stays as written.
    if (!age) return e;
    if (!(age.weight >= policy.intelAge.minWeight && age.weight > 0)) return null;
    return { ...e, matched: e.matched.slice(0, age.at) + age.note + ')' };
  };

  /** Decide the flows of whole subscribers (`rows` in subscriber, id order; `stored` their evidence); the flows to write, in that order. */
  const decideSubscribers = (rows: readonly FlowRow[], stored: ReadonlyMap<number, Stored>): Rewrite[] => {
    const none: Stored = { whole: true, facts: [] };
    const rewrites: Rewrite[] = [];
    for (let from = 0; from < rows.length; ) {
      let to = from + 1;
      while (to < rows.length && rows[to]!.subscriber === rows[from]!.subscriber) to++;
      const found = new Map<number, { pool: string | null; name: string | null }>();
      const base: (readonly Fact[])[] = [];
      const sessionFlows: SessionFlow[] = [];
      for (let i = from; i < to; i++) {
        const r = rows[i]!;
        res.flows++;
        res.readBack++;
        const own = stored.get(r.id) ?? none;
        // Kinds alone hold no report-wide evidence (Stored): all of them are kept.
        const kept = own.whole ? ownEvidence(r, own.facts, found) : own.facts;
        base.push(kept);
        sessionFlows.push(sessionFlowOf(r.id, r, weightsOf(r, kept)));
      }
      const added = subscriberEvidence(sessionFlows, policy);
      for (let i = from; i < to; i++) {
        const r = rows[i]!;
        const extra = added.get(r.id) ?? [];
        if (extra.some((e) => e.kind === 'session')) res.sessions++;
        if (extra.some((e) => e.kind === 'pool-endpoints')) res.endpoints++;
        const kept = base[i - from]!;
        const before = stored.get(r.id) ?? none;
        const d = decide(policy, classesOf(extra.length ? [...kept, ...extra] : kept));
        const outcome = d.outcome?.name ?? null;
        if (decidedAs(d, r)) {
          // Kinds alone hold no report-wide evidence: nothing was dropped, so only an addition changes them.
          if (before.whole ? sameEvidence(before.facts as Evidence[], [...(kept as Evidence[]), ...extra]) : extra.length === 0) continue;
        }
        if (d.label !== r.label || d.confidence !== r.confidence) {
          res.changed++;
          if (isProof(d.label, d.confidence, kept) && !isProof(r.label, r.confidence, kept)) res.newProofs++;
        }
        const f = found.get(r.id);
        rewrites.push({ r, label: d.label, confidence: d.confidence, outcome, kept: before.whole ? (kept as Evidence[]) : null, extra, pool: f?.pool ?? null, name: f?.name ?? null });
      }
      from = to;
    }
    return rewrites;
  };

  /** Evidence rows of these flows (whole, or kind and side), each flow's in row order. */
  function ofFlows(ids: readonly number[], whole: true): Map<number, Evidence[]>;
  function ofFlows(ids: readonly number[], whole: boolean): Map<number, Fact[]>;
  function ofFlows(ids: readonly number[], whole: boolean): Map<number, Fact[]> {
    const out = new Map<number, Fact[]>();
    for (let i = 0; i < ids.length; i += IDS_READ) {
      for (const raw of (whole ? evidenceOfFlows : factsOfFlows).all(JSON.stringify(ids.slice(i, i + IDS_READ))) as unknown[][]) {
        const id = raw[0] as number;
        const e: Fact = whole ? evidenceOf(raw.slice(1)) : { kind: raw[1] as Evidence['kind'], side: raw[2] as Evidence['side'] };
        if (!whole && raw[3] !== null) e.matched = raw[3] as string;
        const l = out.get(id);
        if (l) l.push(e);
        else out.set(id, [e]);
      }
    }
    return out;
  }

  /** Insert evidence rows of flow `id`, in order. */
  const insertEvidence = (id: number, evidence: readonly Evidence[]): void => {
    for (let i = 0; i < evidence.length; i += INSERT_ROWS) {
      const part = evidence.slice(i, i + INSERT_ROWS);
      const values: unknown[] = [];
      for (const e of part) values.push(id, e.ruleId, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time);
      addEvidence(part.length).run(values);
    }
  };

  /**
   * Write the flows decided anew, in the order decided. Without `recompute` a flow keeps its own
   * rows as they are (only report-wide ones are replaced): what is added up is appended, so a flow's
   * rows stay in the order a rewrite of them all would give, and the pages of the rows kept are not
   * written again (on a report of many flows with evidence, most of the evidence table). With
   * `recompute` its flow-level rows change among the others: they are all written again.
   */
  const write = (rewrites: readonly Rewrite[]): void => {
    const whole = ofFlows(rewrites.filter((w) => w.kept === null).map((w) => w.r.id), true);
    for (const w of rewrites) {
      const kept = w.kept ?? (whole.get(w.r.id) ?? []).filter((e) => !REPORT_KINDS.has(e.kind));
      const evidence = [...kept, ...w.extra];
      if (opts.recompute) {
        delEvidence.run(w.r.id);
        insertEvidence(w.r.id, evidence);
      } else {
        // Read whole (kept not null): it may hold report-wide rows, which the extra rows replace.
        if (w.kept !== null) delReportEvidence.run(w.r.id);
        insertEvidence(w.r.id, w.extra);
      }
      const rules = [...new Set(evidence.map((e) => e.ruleId))].join(',');
      const reason = reasonOf(w.r, w.label, w.outcome, evidence);
      if (w.label === w.r.label && w.confidence === w.r.confidence) updateSameLabel.run(w.outcome, reason, rules, w.pool, w.name, w.r.id);
      else update.run(w.label, w.confidence, w.outcome, reason, rules, w.pool, w.name, w.r.id);
    }
  };

  /** The stored evidence of a page's flows. */
  const storedOf = (rows: readonly FlowRow[]): Map<number, Stored> => {
    const lists = ofFlows(rows.map((r) => r.id), opts.recompute);
    const stored = new Map<number, Stored>();
    const compared: number[] = [];
    for (const [id, facts] of lists) {
      if (opts.recompute) stored.set(id, { whole: true, facts });
      // Report-wide evidence is compared by its text: those flows are read whole.
      else if (facts.some((e) => REPORT_KINDS.has(e.kind))) compared.push(id);
      else stored.set(id, { whole: false, facts });
    }
    for (const [id, facts] of ofFlows(compared, true)) stored.set(id, { whole: true, facts });
    return stored;
  };

  db.transaction(() => {
    // A full page may end inside a subscriber: that one starts the next page (or, alone on a page, is read whole).
    const pass = (page: (after: string | null) => unknown[][]): void => {
      let after: string | null = null;
      for (;;) {
        const got: FlowRow[] = page(after).map(rowOf);
        if (!got.length) break;
        let rows: FlowRow[] = got;
        if (got.length === PAGE_FLOWS) {
          const last = got[got.length - 1]!.subscriber;
          let end = got.length;
          while (end > 0 && got[end - 1]!.subscriber === last) end--;
          rows = end > 0 ? got.slice(0, end) : (flowsOf.all(last) as unknown[][]).map(rowOf);
        }
        write(decideSubscribers(rows, storedOf(rows)));
        after = rows[rows.length - 1]!.subscriber;
      }
    };
    if (subscribers === undefined) {
      pass((after) => (after === null ? firstPage.all() : nextPage.all(after)) as unknown[][]);
      return;
    }
    // In subscriber order, as the whole-report pass goes (the evidence rows written get row ids in
    // the same order), a few hundred subscribers to a statement.
    const list = [...new Set(subscribers)].sort(bySubscriber);
    for (let i = 0; i < list.length; i += SUBSCRIBERS_READ) {
      const some = JSON.stringify(list.slice(i, i + SUBSCRIBERS_READ));
      pass((after) => (after === null ? firstPageOf.all(some) : nextPageOf.all(some, after)) as unknown[][]);
    }
  })();
  return res;
}

/** SQLite's default (BINARY) order of text: by UTF-8 bytes, which UTF-16 code unit order is not. */
function bySubscriber(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** One row in FLOW_COLUMNS order, then `client, source` with `recompute`. */
function flowOf(v: unknown[], recompute: boolean): FlowRow {
  return {
    id: v[0] as number,
    subscriber: v[1] as string,
    server: v[2] as string,
    server_port: v[3] as number,
    transport: v[4] as FlowRow['transport'],
    first_seen: v[5] as number,
    last_seen: v[6] as number,
    packets_c2s: v[7] as number,
    packets_s2c: v[8] as number,
    bytes_c2s: v[9] as number,
    bytes_s2c: v[10] as number,
    flags_c2s: v[11] as number,
    flags_s2c: v[12] as number,
    records: v[13] as number,
    label: v[14] as string,
    confidence: v[15] as string,
    outcome: v[16] as string | null,
    client: recompute ? (v[17] as string) : '',
    source: recompute ? (v[18] as FlowRow['source']) : 'export',
  };
}

/** One evidence row in EVIDENCE_COLUMNS order. */
function evidenceOf(v: unknown[]): Evidence {
  return {
    ruleId: v[0] as string,
    rev: v[1] as number,
    kind: v[2] as Evidence['kind'],
    side: v[3] as Evidence['side'],
    family: v[4] as Evidence['family'],
    matched: v[5] as string,
    excerpt: v[6] as string,
    offset: v[7] as number,
    time: v[8] as number,
  };
}

/** The folders the report's runs were given as `--intel` (runs.options), each ending in `/`, as their files name themselves (src/rules/intel.ts). */
function intelFoldersOf(db: Database.Database): string[] {
  const out = new Set<string>();
  for (const o of db.prepare('SELECT options FROM runs').pluck().all() as string[]) {
    let intel: unknown;
    try {
      intel = (JSON.parse(o) as { intel?: unknown }).intel;
    } catch {
      continue;
    }
    if (!Array.isArray(intel)) continue;
    for (const x of intel as Array<{ path?: unknown; kind?: unknown }>) {
      if (x && x.kind === 'folder' && typeof x.path === 'string') out.add(`${normalize(x.path).replace(/\/+$/, '')}/`);
    }
  }
  return [...out];
}

function sameEvidence(a: readonly Evidence[], b: readonly Evidence[]): boolean {
  if (a.length !== b.length) return false;
  const key = (e: Evidence): string => `${e.ruleId}|${e.kind}|${e.side}|${e.matched}|${e.time}`;
  const s = new Set(a.map(key));
  return b.every((e) => s.has(key(e)));
}

function reasonOf(r: FlowRow, label: string, outcome: string | null, evidence: readonly Evidence[]): string {
  if (!evidence.length) return NO_EVIDENCE_REASON;
  const parts = evidence.map((e) => (e.kind === 'payload' || e.kind === 'http' ? `${e.side} sent ${e.matched}` : `${e.kind}: ${e.matched}`));
  return `${label}${outcome ? ` (${outcome})` : ''} with ${endpointText(r.server, r.server_port)} — ${[...new Set(parts)].join('; ')}`;
}
