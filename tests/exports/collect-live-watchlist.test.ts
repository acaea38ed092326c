/**
 * The watch list of a running collector: `minerwatch collect` rolls its subscribers up at every
 * commit, so `watchlist` and `summary`, run as other processes on the same report (SQLite WAL: one
 * writer, readers beside it), agree while it runs, and the watch list it leaves when stopped is the
 * live one. Real CLI in child processes on 127.0.0.1, fed the export datagrams of the corpus's nDPI
 * mining capture; the directory names the mining clients the corpus labels list
 * (labels/plaintext-mining-streams.tsv, from the packets, not from minerwatch).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT, waitFor } from '../helpers.js';
import { exportDatagrams, sendAll, startCollector } from '../support/collector.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-collect-live-'));
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
const EXPORTS = join(CORPUS, 'netflow/generated/v9/ndpi__mining.export.pcap');
const LABELS = join(CORPUS, 'labels/plaintext-mining-streams.tsv');
const CAPTURE = 'pcap/mining/ndpi__mining.pcapng';
const DEADLINE_MS = 60_000;

interface WatchRow {
  subscriber: string;
  account: string | null;
  type: string | null;
  region: string | null;
  confidence: string;
  miningFlows: number;
  flowIds: number[];
}

interface SummaryJson {
  miningSubscribers: number;
  miningFlows: number;
  byType: Array<{ key: string | null; subscribers: number; flows: number }>;
  byRegion: Array<{ key: string | null; subscribers: number; flows: number }>;
}

/** A reader beside the running collector: the built CLI in its own process. */
function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'minerwatch'), ...args], { encoding: 'utf8', timeout: DEADLINE_MS });
  if (r.status !== 0) throw new Error(`minerwatch ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const watchlist = (db: string): WatchRow[] => JSON.parse(cli(['watchlist', '--db', db, '--min-confidence', 'low', '--format', 'json'])) as WatchRow[];
const summary = (db: string): SummaryJson => JSON.parse(cli(['summary', '--db', db, '--min-confidence', 'low', '--format', 'json'])) as SummaryJson;

/** Per key, the subscribers the watch list has of it (type or region). */
function countBy(rows: readonly WatchRow[], key: 'type' | 'region'): Map<string | null, number> {
  const m = new Map<string | null, number>();
  for (const r of rows) m.set(r[key], (m.get(r[key]) ?? 0) + 1);
  return m;
}

describe('minerwatch collect: the watch list while it runs', () => {
  it.skipIf(!HAVE_CORPUS || !BUILT)(
    'after a commit, watchlist (another process) lists the mining subscribers with the directory accounts, summary counts the same, and the stopped collector leaves that watch list',
    async () => {
      const miners = [
        ...new Set(
          readFileSync(LABELS, 'utf8')
            .trim()
            .split('\n')
            .slice(1)
            .map((l) => l.split('\t'))
            .filter((f) => f[0] === CAPTURE)
            .map((f) => f[1]!.replace(/:\d+$/, '')),
        ),
      ].sort();
      expect(miners.length).toBeGreaterThan(0);
      const rows = miners.map((a, i) => ({ prefix: `${a}/32`, subscriber: `miner-${i}`, account: `acct-${i}`, type: i % 2 ? 'enterprise' : 'residential', region: `region-${i}` }));
      const directory = join(tmp, 'directory.csv');
      writeFileSync(directory, ['prefix,subscriber,account,type,region', ...rows.map((r) => `${r.prefix},${r.subscriber},${r.account},${r.type},${r.region}`)].join('\n') + '\n');
      const bySubscriber = new Map(rows.map((r) => [r.subscriber, r]));

      const db = join(tmp, 'live.sqlite');
      // Flows finish one second after their last record by the collector's clock, then the next commit writes them.
      const { child, port, stderr } = await startCollector(db, ['--subscribers', directory, '--join-gap', '1'], DEADLINE_MS);
      const closed = new Promise<number | null>((r) => child.on('close', r));
      try {
        const datagrams = await exportDatagrams(EXPORTS);
        await sendAll(port, datagrams);
        await waitFor(() => new RegExp(`datagrams ${datagrams.length} \\(`).test(stderr()) && /open 0,/.test(stderr()), { what: 'the collector to receive every datagram and finish every flow', timeoutMs: DEADLINE_MS });

        let live: WatchRow[] = [];
        await waitFor(
          () => {
            live = watchlist(db);
            return live.length > 0;
          },
          { what: 'watchlist to list a subscriber while the collector runs', timeoutMs: DEADLINE_MS, intervalMs: 200 },
        );
        expect(child.exitCode, 'the collector is still running').toBeNull();
        // Every subscriber listed is a labelled miner, with the account, type and region the directory gives it.
        for (const r of live) {
          const want = bySubscriber.get(r.subscriber);
          expect(want, `${r.subscriber} is a labelled mining client`).toBeDefined();
          expect({ account: r.account, type: r.type, region: r.region }).toEqual({ account: want!.account, type: want!.type, region: want!.region });
        }
        // The summary, read from the flows, counts the same subscribers, by the same types and regions.
        const s = summary(db);
        expect(s.miningSubscribers).toBe(live.length);
        expect(s.miningFlows).toBe(live.reduce((a, r) => a + r.flowIds.length, 0));
        for (const key of ['type', 'region'] as const) {
          const got = new Map((key === 'type' ? s.byType : s.byRegion).map((b) => [b.key, b.subscribers]));
          expect(got).toEqual(countBy(live, key));
        }
        // Later commits with nothing new leave it as it is: two more commits than the status line gave when it was read.
        const commits = (): number => Math.max(0, ...[...stderr().matchAll(/commits (\d+)/g)].map((m) => Number(m[1])));
        const seen = commits();
        await waitFor(() => commits() >= seen + 2, { what: 'two more commits of the collector', timeoutMs: DEADLINE_MS });
        expect(watchlist(db)).toEqual(live);

        child.kill('SIGINT');
        expect(await closed, stderr()).toBe(0);
        expect(watchlist(db)).toEqual(live);
        // The same counts (the input, still being read while it ran, is now complete).
        const pick = (x: SummaryJson) => ({ miningSubscribers: x.miningSubscribers, miningFlows: x.miningFlows, byType: x.byType, byRegion: x.byRegion });
        expect(pick(summary(db))).toEqual(pick(s));
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
    180_000,
  );
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
if (!BUILT) console.warn('dist/ is not built (npm run build): the live watch-list test of collect is skipped');
