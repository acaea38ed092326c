/**
 * The rollup a running collector makes at each commit (src/report/live-rollup.ts) rebuilds only the
 * rows of the subscribers it is given: on a report the real scan wrote from the corpus's mining
 * captures, rebuilding subscriber by subscriber gives exactly the rows of a whole-report rebuild,
 * other subscribers' rows are left alone, and the report-wide settle is spaced out to a tenth of the
 * time. The rows compared are the report's own before and after, not values worked out here.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { LiveRollup, SETTLE_SHARE } from '../../src/report/live-rollup.js';
import { policyRedecide } from '../../src/report/policy-redecide.js';
import { rebuildSubscribers } from '../../src/report/subscribers.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, projectRules } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-live-rollup-'));

/** The rollup tables, in a fixed order. */
function rollup(db: Database.Database): { subscribers: unknown[]; hashrate: unknown[] } {
  return {
    subscribers: db.prepare('SELECT * FROM subscribers ORDER BY subscriber').all(),
    hashrate: db.prepare('SELECT * FROM subscriber_hashrate ORDER BY subscriber, coin, algorithm').all(),
  };
}

async function scannedReport(name: string): Promise<Database.Database> {
  const path = join(tmp, `${name}.sqlite`);
  const code = await main(['scan', join(CORPUS, 'pcap', 'mining'), '--db', path, '--quiet'], { out: () => undefined, err: () => undefined });
  expect(code).toBe(0);
  return new Database(path);
}

describe.skipIf(!HAVE_CORPUS)('the live subscriber rollup', () => {
  it('rebuilding the subscribers one at a time gives the rows of a whole rebuild; a subscriber left with no mining flow loses its row, the others keep theirs', async () => {
    const db = await scannedReport('one-at-a-time');
    try {
      const whole = rollup(db);
      const subs = (whole.subscribers as Array<{ subscriber: string }>).map((s) => s.subscriber);
      expect(subs.length).toBeGreaterThan(1);
      expect(whole.hashrate.length).toBeGreaterThan(0);

      db.exec('DELETE FROM subscribers; DELETE FROM subscriber_hashrate;');
      for (const s of [...subs].reverse()) rebuildSubscribers(db, [s]);
      expect(rollup(db)).toEqual(whole);
      rebuildSubscribers(db, []);
      expect(rollup(db)).toEqual(whole);

      // As a settle that lowered every flow of one subscriber would leave it.
      const gone = subs[0]!;
      db.prepare("UPDATE flows SET label = 'none' WHERE subscriber = ?").run(gone);
      rebuildSubscribers(db, [gone]);
      const after = rollup(db);
      expect((after.subscribers as Array<{ subscriber: string }>).map((s) => s.subscriber)).toEqual(subs.slice(1));
      expect(after.subscribers).toEqual((whole.subscribers as Array<{ subscriber: string }>).filter((s) => s.subscriber !== gone));
      expect(after.hashrate).toEqual((whole.hashrate as Array<{ subscriber: string }>).filter((s) => s.subscriber !== gone));
      rebuildSubscribers(db);
      expect(rollup(db)).toEqual(after);
    } finally {
      db.close();
    }
  }, 120_000);

  it('settles the report (peer evidence, added-up evidence) at the first commit, then no more than a tenth of the time', async () => {
    const db = await scannedReport('spacing');
    try {
      const whole = rollup(db);
      const subs = (whole.subscribers as Array<{ subscriber: string }>).map((s) => s.subscriber);
      let clock = 1_000;
      // Each reading of the clock moves it 10 ms on: every rollup "takes" 10 ms.
      const now = (): number => (clock += 10);
      let settles = 0;
      const live = new LiveRollup(db, { redecide: policyRedecide(projectRules().policy), decideAgain: () => void settles++ }, now);
      expect(live.commit()).toEqual({ subscribers: 0, settled: false, ms: 0 });

      live.saw(subs[0]!, 'mining');
      live.saw(null, 'mining');
      expect(live.commit()).toEqual({ subscribers: 1, settled: true, ms: 10 });
      expect(settles).toBe(1);
      // Within (1 - share) / share of the last settle's 10 ms: the rows alone.
      live.saw(subs[1]!, 'suspect');
      // A flow labelled none changes no row until a settle.
      live.saw(subs[2] ?? subs[0]!, 'none');
      expect(live.commit()).toEqual({ subscribers: 1, settled: false, ms: 10 });
      clock += (10 * (1 - SETTLE_SHARE)) / SETTLE_SHARE;
      live.saw(subs[0]!, 'mining');
      // Settled: the rows of every subscriber seen since the last settle.
      expect(live.commit()).toEqual({ subscribers: new Set([subs[0], subs[1], subs[2] ?? subs[0]]).size, settled: true, ms: 10 });
      expect(settles).toBe(2);
      clock += 1_000;
      // Nothing seen since: nothing to do.
      expect(live.commit()).toEqual({ subscribers: 0, settled: false, ms: 0 });
      expect(settles).toBe(2);
      expect(rollup(db)).toEqual(whole);
    } finally {
      db.close();
    }
  }, 120_000);
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
