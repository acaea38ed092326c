/**
 * The subscriber rollup of a run that is still going (`collect`): after each commit of flows, the
 * subscribers whose flows were committed since the last rollup are settled as a run's close settles
 * the report (peer evidence, then evidence added up over each subscriber's flows: sessions, many
 * pool endpoints, which can raise a verdict), and their rows are rebuilt, so the watch list
 * (subscriber rows) and the summary (mining flows) are the ones the close would give while the run
 * goes on.
 *
 * Both parts of the settle read only one subscriber's flows (a peer proof and the flows it lifts
 * share a subscriber; sessions are a subscriber's), so settling the commit's subscribers leaves every
 * other subscriber as its own last settle left it, and what the close's whole-report settle gives.
 * Scoped this way a commit of a thousand flows (about 950 subscribers) takes about 0.5–0.8 s of CPU
 * in all, settle and rows, in a report of 100 k flows, and grows with the commit, not the report
 * (bench/live-rollup.ts); settling the whole report took 2–2.6 s there.
 */
import type Database from 'better-sqlite3';
import { applyPeerEvidence, type Redecide } from './peers.js';
import { rebuildSubscribers } from './subscribers.js';

/**
 * Subscribers remembered as waiting for a rollup (about 1.5 MiB of ids); beyond it that rollup
 * settles the whole report and rebuilds every row instead (about 2 s and 1 s of CPU at 100 k flows,
 * bench/live-rollup.ts).
 */
export const MAX_WAITING_SUBSCRIBERS = 16_384;

/**
 * Subscribers whose rows wait for a rollup, bounded: past {@link MAX_WAITING_SUBSCRIBERS} only
 * "every subscriber" is remembered. `collect`'s commits and `consume`'s segments keep them alike.
 */
export class WaitingSubscribers {
  private set: Set<string> | null = new Set<string>();

  /** A flow of `subscriber` was written (null: a flow of nobody's, rolled up by no row). */
  add(subscriber: string | null): void {
    if (subscriber === null || this.set === null) return;
    this.set.add(subscriber);
    if (this.set.size > MAX_WAITING_SUBSCRIBERS) this.set = null;
  }

  /** The subscribers waiting, or null for every subscriber (more than the bound came). */
  get subscribers(): ReadonlySet<string> | null {
    return this.set;
  }
}

/** Rebuild the rows of the subscribers `w` holds (every row when it holds more than the bound). */
export function rebuildWaiting(db: Database.Database, w: WaitingSubscribers): void {
  const subs = w.subscribers;
  if (subs === null) rebuildSubscribers(db);
  else rebuildSubscribers(db, subs);
}

/** How a report is decided again after new flows (as the run's close does it: ReportWriter.finish). */
export interface LiveSettle {
  /** The policy applied to peer evidence (src/report/policy-redecide.ts). */
  redecide: Redecide;
  /**
   * Evidence added up over these subscribers' flows, or over the whole report when absent
   * (src/report/redecide.ts, without `recompute`).
   */
  decideAgain: (db: Database.Database, subscribers?: ReadonlySet<string>) => void;
}

/** What one rollup did. */
export interface LiveRollupResult {
  /** Subscribers settled and rebuilt (-1: the whole report). */
  subscribers: number;
  /** Whether peer evidence and added-up evidence were worked out again first (whenever a subscriber waited). */
  settled: boolean;
  /** Wall time of the transaction, milliseconds. */
  ms: number;
}

/**
 * Keeps the subscriber rows of a live report current. Call {@link LiveRollup.saw} for every flow
 * written and {@link LiveRollup.commit} once the flows are committed (after `ReportWriter.flush`).
 */
export class LiveRollup {
  /** Subscribers of the flows written since the last rollup. */
  private waiting = new WaitingSubscribers();

  constructor(
    private readonly db: Database.Database,
    private readonly settle: LiveSettle,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * A flow of `subscriber` was written (a null subscriber: rolled up by nobody). Whatever the flow's
   * label, its subscriber is settled: a flow labelled `none` can be raised by peer or added-up
   * evidence, and can raise others.
   */
  saw(subscriber: string | null): void {
    this.waiting.add(subscriber);
  }

  /**
   * Settle the subscribers of the flows committed since the last call and rebuild their rows, in one
   * IMMEDIATE transaction: a reader sees the report before it or after it. Nothing is done when no
   * flow with a subscriber came.
   * @throws what SQLite throws (a full disk); the report is then as it was, and the subscribers stay
   *   waiting for the next call.
   */
  commit(): LiveRollupResult {
    const subs = this.waiting.subscribers;
    if (subs?.size === 0) return { subscribers: 0, settled: false, ms: 0 };
    const start = this.now();
    this.db
      .transaction(() => {
        // Past the bound (null) every subscriber: both take an absent set as the whole report.
        const only = subs ?? undefined;
        applyPeerEvidence(this.db, this.settle.redecide, only);
        this.settle.decideAgain(this.db, only);
        rebuildWaiting(this.db, this.waiting);
      })
      .immediate();
    const end = this.now();
    this.waiting = new WaitingSubscribers();
    return { subscribers: subs === null ? -1 : subs.size, settled: true, ms: end - start };
  }
}
