/**
 * The subscriber rollup of a run that is still going (`collect`): after each commit of flows, the
 * rows of the subscribers whose flows were committed since the last rollup are rebuilt, so the watch
 * list (subscriber rows) and the summary (mining flows) agree while the run goes on.
 *
 * A run's close also settles the report: peer evidence, then evidence added up over each
 * subscriber's flows (sessions, many pool endpoints), which can raise a verdict. That settle is made
 * here too, before the rows are rebuilt, so the live watch list is the one the close would give; but
 * it reads the whole report (about 2–2.6 s of CPU at 100 k flagged flows, against 0.1–0.2 s for the
 * rows of a commit's thousand flows: bench/live-rollup.ts), so it is made only while it takes at most
 * {@link SETTLE_SHARE} of the collector's time: with a small report at every commit, with a large one
 * every so many commits. Between settles the rows follow each flow's own verdict. The
 * rows rebuilt after a settle are those of every subscriber whose flows came since the previous one
 * (a subscriber's settle reads only its own flows, so the others' are as the last settle left them).
 */
import type Database from 'better-sqlite3';
import type { Label } from '../types.js';
import { applyPeerEvidence, type Redecide } from './peers.js';
import { rebuildSubscribers } from './subscribers.js';

/** The share of wall time the report-wide settle may take: beyond it, settles are spaced out. */
export const SETTLE_SHARE = 0.1;
/**
 * Subscribers remembered as waiting for a rollup or a settle (about 1.5 MiB of ids); beyond it that
 * rollup rebuilds every row instead (about 1 s of CPU at 100 k flows, bench/live-rollup.ts).
 */
export const MAX_WAITING_SUBSCRIBERS = 16_384;

/** How a report is decided again after new flows (as the run's close does it: ReportWriter.finish). */
export interface LiveSettle {
  /** The policy applied to peer evidence (src/report/policy-redecide.ts). */
  redecide: Redecide;
  /** Evidence added up over the report (src/report/redecide.ts, without `recompute`). */
  decideAgain: (db: Database.Database) => void;
}

/** What one rollup did. */
export interface LiveRollupResult {
  /** Subscribers whose rows were rebuilt (-1: all of them). */
  subscribers: number;
  /** Whether peer evidence and added-up evidence were worked out again first. */
  settled: boolean;
  /** Wall time of the transaction, milliseconds. */
  ms: number;
}

/**
 * Keeps the subscriber rows of a live report current. Call {@link LiveRollup.saw} for every flow
 * written and {@link LiveRollup.commit} once the flows are committed (after `ReportWriter.flush`).
 */
export class LiveRollup {
  /** Subscribers of the flows written since the last rollup (null: more than MAX_WAITING_SUBSCRIBERS). */
  private sinceRollup: Set<string> | null = new Set<string>();
  /** Subscribers of the flows written since the last settle (null: more than MAX_WAITING_SUBSCRIBERS). */
  private sinceSettle: Set<string> | null = new Set<string>();
  private lastSettleMs = 0;
  private lastSettleEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Database.Database,
    private readonly settle: LiveSettle,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * A flow of `subscriber` was written with `label` (a null subscriber: rolled up by nobody). A flow
   * labelled `none` changes no subscriber row by itself, only through a settle (peer evidence can
   * raise it), so it waits for the next settle alone.
   */
  saw(subscriber: string | null, label: Label): void {
    if (subscriber === null) return;
    if (label !== 'none' && this.sinceRollup) {
      this.sinceRollup.add(subscriber);
      if (this.sinceRollup.size > MAX_WAITING_SUBSCRIBERS) this.sinceRollup = null;
    }
    if (this.sinceSettle) {
      this.sinceSettle.add(subscriber);
      if (this.sinceSettle.size > MAX_WAITING_SUBSCRIBERS) this.sinceSettle = null;
    }
  }

  /**
   * Roll up the subscribers of the flows committed since the last call, after a settle when one is
   * due, in one IMMEDIATE transaction: a reader sees the rows before it or after it. Nothing is done
   * when no flow with a subscriber came.
   * @throws what SQLite throws (a full disk); the report is then as it was, and the subscribers stay
   *   waiting for the next call.
   */
  commit(): LiveRollupResult {
    const waiting = this.sinceSettle === null || this.sinceSettle.size > 0;
    const start = this.now();
    const due = waiting && start - this.lastSettleEnd >= (this.lastSettleMs * (1 - SETTLE_SHARE)) / SETTLE_SHARE;
    if (this.sinceRollup?.size === 0 && !due) return { subscribers: 0, settled: false, ms: 0 };
    // After a settle, every subscriber seen since the last one (the settle may have changed their
    // flows); it holds those of the last commits, and has overflowed when they have.
    const rows = due ? this.sinceSettle : this.sinceRollup;
    this.db
      .transaction(() => {
        if (due) {
          applyPeerEvidence(this.db, this.settle.redecide);
          this.settle.decideAgain(this.db);
        }
        if (rows === null) rebuildSubscribers(this.db);
        else rebuildSubscribers(this.db, rows);
      })
      .immediate();
    const end = this.now();
    const result = { subscribers: rows === null ? -1 : rows.size, settled: due, ms: end - start };
    this.sinceRollup = new Set();
    if (due) {
      this.sinceSettle = new Set();
      this.lastSettleMs = end - start;
      this.lastSettleEnd = end;
    }
    return result;
  }
}
