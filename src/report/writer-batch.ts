/**
 * A batch of flow rows for the report, packed so it crosses to the writer thread as a few arrays
 * (numbers in one typed array, strings as indexes into the batch's own string list) instead of one
 * object per flow, and the one routine that inserts a batch, used on either thread.
 */
import type Database from 'better-sqlite3';
import { flowHashes } from '../aggregate/hashrate.js';
import { algorithmFor } from '../rules/algorithms.js';
import { NO_EVIDENCE_REASON } from '../classify/policy.js';
import type { Algorithms } from '../rules/schema.js';
import type { Evidence, FlowRecord, Verdict } from '../types.js';

/** Numeric columns of a flow row, in `insertFlowSql` order within their kind; null travels as NaN (SQLite stores NaN as NULL). */
export const NUMS = 20;
/** Text columns (or null) of a flow row. */
export const STRS = 20;
/** Numbers of one evidence row: its flow's index in the batch, rev, offset, time. */
export const EV_NUMS = 4;
/** Text of one evidence row, as indexes into the batch's strings: rule id, kind, side, family, matched, excerpt. */
export const EV_STRS = 6;
/** Evidence rows a batch has room for at first (it doubles as needed): most batches of a live collector carry few. */
const EV_ROWS = 256;
/**
 * Flows a batch has room for at first; it doubles as flows come, up to {@link BATCH_FLOWS}. A batch
 * sent early (to an idle writer thread) then allocated only what it used: a new batch's arrays are
 * fresh memory, whose first writes fault page by page.
 */
const FIRST_FLOWS = 256;
/** Of the numeric columns, those a plain row binds (input .. sampling; its share columns are NULL). */
const PLAIN_NUMS = 14;
/** Text columns: the ones a plain row binds, and the label column, which marks a plain row. */
const S_SOURCE = 5;
export const S_LABEL = 6;
export const S_SUBSCRIBER = 17;
/** Other columns the evidence ledger (src/report/ledger.ts) reads: numbers (server port; times to records), texts. */
export const N_SERVER_PORT = 2;
export const N_FIRST_SEEN = 4;
export const S_SERVER = 1;
export const S_TRANSPORT = 2;
export const S_CONFIDENCE = 7;
export const S_RULES = 14;
export const S_OUTCOME = 15;
/** In the label column of `strs`: the row is plain (see {@link INSERT_PLAIN_FLOW_SQL}). */
export const PLAIN = -2;

/** Flow rows this process sends to the report in one transaction. */
export const BATCH_FLOWS = 5000;

/** The flow row insert; parameter order is `run_id`, then the numeric and text columns {@link FlowBatch.add} packs, in their order. */
export const INSERT_FLOW_SQL = `INSERT INTO flows(run_id, input_id, client_port, server_port, ip_version, first_seen, last_seen,
  packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, flags_c2s, flags_s2c, records, sampling,
  shares_submitted, shares_accepted, shares_rejected, shares, share_hashes, reported_hs,
  client, server, transport, orientation, end_reason, source, label, confidence, coin, agent, software, workers, pool,
  server_name, rules, outcome, reason, subscriber, nat, algorithm)
  VALUES (${Array(1 + NUMS + STRS).fill('?').join(', ')})`;

/**
 * A plain row: a flow with no evidence, no attributes, no shares and no NAT (most of a subscriber
 * link's flows). Its verdict columns are constants in the statement, so a plain row binds 22 values
 * instead of 41; the values are those {@link INSERT_FLOW_SQL} would write for it.
 */
export const INSERT_PLAIN_FLOW_SQL = `INSERT INTO flows(run_id, input_id, client_port, server_port, ip_version, first_seen, last_seen,
  packets_c2s, packets_s2c, bytes_c2s, bytes_s2c, flags_c2s, flags_s2c, records, sampling,
  client, server, transport, orientation, end_reason, source, subscriber,
  label, confidence, coin, agent, software, workers, pool, server_name, rules, outcome, reason, nat, algorithm,
  shares_submitted, shares_accepted, shares_rejected, shares, share_hashes, reported_hs)
  VALUES (${Array(1 + PLAIN_NUMS + S_SOURCE + 2).fill('?').join(', ')},
  'none', 'none', NULL, NULL, NULL, '[]', NULL, NULL, '', NULL, '${NO_EVIDENCE_REASON.replace(/'/g, "''")}', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL)`;

export const INSERT_EVIDENCE_SQL = 'INSERT INTO evidence(flow_id, rule_id, rev, kind, side, family, matched, excerpt, offset, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

/**
 * A packed batch as it is posted to the writer thread, or from a scan worker. Evidence is packed
 * like the rows: a structured clone writes every string value in full, and most evidence columns
 * repeat a few values (its kinds, sides and rule ids) tens of thousands of times per batch.
 *
 * A batch is posted by copy, never with its buffers transferred. A transfer detaches them, and the
 * first ArrayBuffer detached in a thread makes V8 throw away every optimised function that reads
 * typed arrays (they were compiled on the promise that none would be) and compile them again with a
 * check on each read: the flow table's whole hot path, for the rest of the scan (NetFlow v9 bench
 * case: 2.39-2.50 s with the transfer, 2.28-2.35 s with the copy, alternated runs). The copy is of
 * the arrays as they grew: up to about 2 MB for a full batch.
 */
export interface PackedFlows {
  count: number;
  nums: Float64Array;
  strs: Int32Array;
  /** The strings of the batch (each once, but for addresses, reasons and evidence text: see `str`); `strs` and `evStrs` hold indexes into it, -1 for null. */
  dict: unknown[];
  /** Evidence rows, in the order of their flows; per row {@link EV_NUMS} numbers and {@link EV_STRS} string indexes. */
  evidenceCount: number;
  evNums: Float64Array;
  evStrs: Int32Array;
}

/** Fills a batch flow by flow; {@link take} hands it over and starts the next. */
export class FlowBatch {
  private nums = new Float64Array(FIRST_FLOWS * NUMS);
  private strs = new Int32Array(FIRST_FLOWS * STRS);
  private dict: unknown[] = [];
  private index = new Map<unknown, number>();
  /** Per text column (a row's, then an evidence row's), its last value and that value's index: most columns repeat row after row (identity compare, no hashing). */
  private lastValue: unknown[] = new Array<unknown>(STRS + EV_STRS).fill(undefined);
  private lastIndex = new Int32Array(STRS + EV_STRS);
  private evNums = new Float64Array(EV_ROWS * EV_NUMS);
  private evStrs = new Int32Array(EV_ROWS * EV_STRS);
  private evidenceCount = 0;
  count = 0;

  constructor(private readonly algorithms: Algorithms | null) {}

  get full(): boolean {
    return this.count >= BATCH_FLOWS;
  }

  /** Pack one classified flow: share work is valued here, with the coin the verdict named and the algorithm table. */
  add(f: FlowRecord, v: Verdict, input: number | null, subscriber: string | null, nat: string | null): void {
    const sh = f.shares;
    let algorithm: string | null = null;
    let hashes: number | null = null;
    if (v.label === 'mining' && (sh || v.attributes.coin)) {
      const a = algorithmFor(this.algorithms, v.attributes.coin, sh?.algorithm ?? null, f.firstSeen);
      algorithm = a?.id ?? null;
      if (sh) hashes = flowHashes(sh, a);
    }
    if (this.count * NUMS === this.nums.length) this.grow();
    const n = this.nums;
    let o = this.count * NUMS;
    n[o++] = input ?? NaN;
    n[o++] = f.clientPort;
    n[o++] = f.serverPort;
    n[o++] = f.ipVersion;
    n[o++] = Math.round(f.firstSeen);
    n[o++] = Math.round(f.lastSeen);
    n[o++] = f.packetsC2S;
    n[o++] = f.packetsS2C;
    n[o++] = f.bytesC2S;
    n[o++] = f.bytesS2C;
    n[o++] = f.tcpFlagsC2S;
    n[o++] = f.tcpFlagsS2C;
    n[o++] = f.records;
    n[o++] = f.sampling;
    n[o++] = sh ? sh.submitted : NaN;
    n[o++] = sh && sh.answered ? sh.accepted : NaN;
    n[o++] = sh && sh.answered ? sh.rejected : NaN;
    n[o++] = sh ? sh.counted : NaN;
    n[o++] = hashes ?? NaN;
    n[o] = sh ? (sh.reportedHashrate ?? NaN) : NaN;
    const at = v.attributes;
    const row = this.count * STRS;
    let s = row;
    // Addresses seldom repeat within a batch but in the row before (kept by `str`): no dictionary.
    this.str(s++, f.client, false);
    this.str(s++, f.server, false);
    this.str(s++, f.transport);
    this.str(s++, f.orientation);
    this.str(s++, f.endReason);
    this.str(s++, f.source);
    if (
      v.label === 'none' &&
      v.confidence === 'none' &&
      v.evidence.length === 0 &&
      v.outcome == null &&
      v.reason === NO_EVIDENCE_REASON &&
      !sh &&
      nat === null &&
      at.coin == null &&
      at.agent == null &&
      at.software == null &&
      at.workers.length === 0 &&
      at.pool == null &&
      at.serverName == null
    ) {
      this.strs[row + S_LABEL] = PLAIN;
      this.subscriber(row, f.client, subscriber);
      this.count++;
      return;
    }
    this.str(s++, v.label);
    this.str(s++, v.confidence);
    this.str(s++, at.coin);
    this.str(s++, at.agent);
    this.str(s++, at.software);
    this.str(s++, at.workers.length ? JSON.stringify(at.workers) : '[]');
    this.str(s++, at.pool);
    this.str(s++, at.serverName);
    this.str(s++, v.evidence.length ? [...new Set(v.evidence.map((e) => e.ruleId))].join(',') : '');
    this.str(s++, v.outcome);
    this.str(s++, v.reason, false);
    this.subscriber(row, f.client, subscriber);
    s++;
    this.str(s++, nat);
    this.str(s, algorithm);
    for (const e of v.evidence) this.addEvidence(e);
    this.count++;
  }

  /** Room for twice the flows (at most a full batch), keeping those packed. */
  private grow(): void {
    const flows = Math.min(BATCH_FLOWS, (this.nums.length / NUMS) * 2);
    const nums = new Float64Array(flows * NUMS);
    nums.set(this.nums);
    this.nums = nums;
    const strs = new Int32Array(flows * STRS);
    strs.set(this.strs);
    this.strs = strs;
  }

  /** One evidence row of the flow being added. */
  private addEvidence(e: Evidence): void {
    if (this.evidenceCount * EV_NUMS === this.evNums.length) {
      const nums = new Float64Array(this.evNums.length * 2);
      nums.set(this.evNums);
      this.evNums = nums;
      const strs = new Int32Array(this.evStrs.length * 2);
      strs.set(this.evStrs);
      this.evStrs = strs;
    }
    const n = this.evNums;
    const no = this.evidenceCount * EV_NUMS;
    n[no] = this.count;
    n[no + 1] = e.rev;
    n[no + 2] = e.offset;
    n[no + 3] = Math.round(e.time);
    const so = this.evidenceCount * EV_STRS;
    const t = this.evStrs;
    t[so] = this.index0(STRS, e.ruleId, true);
    t[so + 1] = this.index0(STRS + 1, e.kind, true);
    t[so + 2] = this.index0(STRS + 2, e.side, true);
    t[so + 3] = this.index0(STRS + 3, e.family, true);
    // Matched text names the flow's own numbers: it seldom repeats.
    t[so + 4] = this.index0(STRS + 4, e.matched, false);
    t[so + 5] = this.index0(STRS + 5, e.excerpt, e.excerpt === '');
    this.evidenceCount++;
  }

  /** The batch so far (empty batches too); this object starts a new one. */
  take(): PackedFlows {
    const out: PackedFlows = { count: this.count, nums: this.nums, strs: this.strs, dict: this.dict, evidenceCount: this.evidenceCount, evNums: this.evNums, evStrs: this.evStrs };
    this.nums = new Float64Array(FIRST_FLOWS * NUMS);
    this.strs = new Int32Array(FIRST_FLOWS * STRS);
    this.dict = [];
    this.index.clear();
    this.lastValue.fill(undefined);
    this.evNums = new Float64Array(EV_ROWS * EV_NUMS);
    this.evStrs = new Int32Array(EV_ROWS * EV_STRS);
    this.evidenceCount = 0;
    this.count = 0;
    return out;
  }

  /** The subscriber column of the row at `row`: with no directory it is the client address, whose string is already in the batch. */
  private subscriber(row: number, client: string, subscriber: string | null): void {
    if (subscriber !== null && subscriber === client) this.strs[row + S_SUBSCRIBER] = this.strs[row]!;
    else this.str(row + S_SUBSCRIBER, subscriber);
  }

  /**
   * A text value's index among the batch's strings (-1 for null), shared with the column's value of
   * the row before when equal. Otherwise it is looked up in the dictionary; with `shared` false (a
   * column whose values seldom repeat further back: addresses, and a verdict's reason, which names
   * the server and the evidence) it is added without the lookup. The lookup hashes the string, and
   * a dictionary of every address of a batch is rebuilt, larger and larger, for every batch.
   */
  private str(at: number, value: string | null | undefined, shared = true): void {
    this.strs[at] = this.index0(at % STRS, value, shared);
  }

  /** {@link str}'s index of `value` for text column `col` (a row's, or STRS + an evidence row's). */
  private index0(col: number, value: string | null | undefined, shared: boolean): number {
    if (value === null || value === undefined) return -1;
    if (this.lastValue[col] === value) return this.lastIndex[col]!;
    let i = shared ? this.index.get(value) : undefined;
    if (i === undefined) {
      i = this.dict.length;
      this.dict.push(value);
      if (shared) this.index.set(value, i);
    }
    this.lastValue[col] = value;
    this.lastIndex[col] = i;
    return i;
  }
}

/**
 * Point a batch packed with input indexes (a scan worker knows its inputs by position) at the
 * report's input ids: `ids[index]`.
 */
export function remapInputs(b: PackedFlows, ids: readonly number[]): void {
  const n = b.nums;
  for (let r = 0, at = 0; r < b.count; r++, at += NUMS) {
    const i = n[at]!;
    if (i === i) n[at] = ids[i] ?? NaN;
  }
}

/** The statements a batch is inserted with, prepared once per connection. */
export interface FlowStatements {
  flow: Database.Statement;
  plain: Database.Statement;
  evidence: Database.Statement;
}

export function prepareFlowStatements(db: Database.Database): FlowStatements {
  return { flow: db.prepare(INSERT_FLOW_SQL), plain: db.prepare(INSERT_PLAIN_FLOW_SQL), evidence: db.prepare(INSERT_EVIDENCE_SQL) };
}

/** Insert a packed batch's rows for run `runId` (inside the caller's transaction). */
export function insertFlows(st: FlowStatements, runId: number, b: PackedFlows): void {
  const args: unknown[] = new Array(1 + NUMS + STRS);
  args[0] = runId;
  const plainArgs: unknown[] = new Array(1 + PLAIN_NUMS + S_SOURCE + 2);
  plainArgs[0] = runId;
  const evNums = b.evNums;
  const evStrs = b.evStrs;
  const dict = b.dict;
  const text = (j: number): unknown => (j < 0 ? null : dict[j]);
  // The flow's row id, then the evidence row's numbers but its batch index, and its text.
  const evArgs: unknown[] = new Array(1 + (EV_NUMS - 1) + EV_STRS);
  let e = 0;
  for (let i = 0; i < b.count; i++) {
    const no = i * NUMS;
    const so = i * STRS;
    if (b.strs[so + S_LABEL] === PLAIN) {
      // No evidence follows a plain row.
      for (let k = 0; k < PLAIN_NUMS; k++) {
        const x = b.nums[no + k]!;
        plainArgs[1 + k] = x === x ? x : null;
      }
      for (let k = 0; k <= S_SOURCE + 1; k++) {
        const j = b.strs[so + (k <= S_SOURCE ? k : S_SUBSCRIBER)]!;
        plainArgs[1 + PLAIN_NUMS + k] = j < 0 ? null : b.dict[j];
      }
      // Spread, not the array: better-sqlite3 binds arguments as they are passed, but reads an
      // array's elements one property lookup at a time (a batch of 5,000 rows binds about 15 %
      // faster so).
      st.plain.run(...plainArgs);
      continue;
    }
    for (let k = 0; k < NUMS; k++) {
      const x = b.nums[no + k]!;
      args[1 + k] = x === x ? x : null;
    }
    for (let k = 0; k < STRS; k++) {
      const j = b.strs[so + k]!;
      args[1 + NUMS + k] = j < 0 ? null : b.dict[j];
    }
    const res = st.flow.run(...args);
    // INSERT_EVIDENCE_SQL order: flow_id, rule_id, rev, kind, side, family, matched, excerpt, offset, time.
    for (; e < b.evidenceCount && evNums[e * EV_NUMS] === i; e++) {
      const no = e * EV_NUMS;
      const so = e * EV_STRS;
      evArgs[0] = res.lastInsertRowid;
      evArgs[1] = text(evStrs[so]!);
      evArgs[2] = evNums[no + 1]!;
      evArgs[3] = text(evStrs[so + 1]!);
      evArgs[4] = text(evStrs[so + 2]!);
      evArgs[5] = text(evStrs[so + 3]!);
      evArgs[6] = text(evStrs[so + 4]!);
      evArgs[7] = text(evStrs[so + 5]!);
      evArgs[8] = evNums[no + 2]!;
      evArgs[9] = evNums[no + 3]!;
      st.evidence.run(...evArgs);
    }
  }
}

/** One statement to run with its arguments: an input's row, its anomalies (rows written after a run's flows). */
export interface RowWrite {
  sql: string;
  args: ReadonlyArray<string | number | null>;
}

/** Run `rows` in order (inside the caller's transaction), each statement prepared once into `prepared`. */
export function runRowWrites(db: Database.Database, prepared: Map<string, Database.Statement>, rows: readonly RowWrite[]): void {
  for (const r of rows) {
    let stmt = prepared.get(r.sql);
    if (stmt === undefined) prepared.set(r.sql, (stmt = db.prepare(r.sql)));
    stmt.run(...r.args);
  }
}
