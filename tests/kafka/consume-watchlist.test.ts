/**
 * The watch list of a running `consume` member, against a real Apache Kafka broker (KRaft,
 * 127.0.0.1; scripts/kafka-broker.sh): once a segment holding mining flows is complete, `watchlist
 * --db SHARD`, run as another process while the member runs on, lists the subscribers that one
 * `scan` of the same capture finds mining, with as many mining flows each; after SIGINT the member
 * leaves the scan's watch list, row for row (the close adds up sessions and peers, which the live
 * rows wait for).
 * The messages are the corpus's nDPI mining capture as softflowd NetFlow v9, published by
 * `minerwatch produce`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTopic } from '../../src/io/kafka.js';
import { CORPUS, reportCount, waitFor } from '../helpers.js';
import { BIN, cli, skip, watchlist } from '../support/consumers.js';
import { brokerForSuite } from '../support/kafka.js';

const MINING = join(CORPUS, 'netflow', 'generated', 'v9', 'ndpi__mining.export.pcap');

describe.skipIf(skip !== null)(`the watch list of a running consume member${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const { dir, broker } = brokerForSuite('mw-consume-watch-');
  let bootstrap = '';
  /** The watch list of one `scan` of the capture. */
  let scanned: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const s = cli(['scan', MINING, '--db', join(dir, 'scan.sqlite')]);
    expect(s.code, s.err).toBe(0);
    scanned = watchlist(join(dir, 'scan.sqlite'));
    bootstrap = broker().bootstrap;
  }, 60_000);

  it('lists the mining subscribers once their segment is complete, while the member runs, and leaves them when stopped', async () => {
    // The test means something only if the capture has mining subscribers.
    expect(scanned.length).toBeGreaterThan(0);
    const topic = 'watched';
    const db = join(dir, 'member.sqlite');
    await ensureTopic([bootstrap], topic, 1);
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, 'consume', '--brokers', bootstrap, '--topic', topic, '--group', 'g-watch', '--format', 'goflow2-json', '--db', db, '--segment-seconds', '2', '--segment-messages', '100000', '--stats-interval', '1'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
    const running = (): boolean => child.exitCode === null && child.signalCode === null;
    try {
      await waitFor(() => /assigned watched\/0/.test(err) || !running(), { what: 'the member to be assigned watched/0', timeoutMs: 120_000 });
      expect(running(), err).toBe(true);
      const p = cli(['produce', '--brokers', bootstrap, '--topic', topic, '--format', 'goflow2-json', MINING]);
      expect(p.code, p.err).toBe(0);
      const produced = Number(/produced (\d+) messages/.exec(p.err)?.[1]);
      expect(produced).toBeGreaterThan(0);
      // Far fewer than a segment of offsets: only the time cut completes the segment.
      expect(produced).toBeLessThan(1000);
      await waitFor(() => reportCount(db, "SELECT coalesce(sum(packets), 0) FROM inputs WHERE status = 'complete'") >= produced, {
        what: `${produced} messages in complete segments (member: ${err.split('\n').slice(-3).join(' | ')})`,
        timeoutMs: 30_000,
      });
      expect(running(), err).toBe(true);
      const live = watchlist(db);
      expect(live.map((r) => r.subscriber)).toEqual(scanned.map((r) => r.subscriber));
      expect(live.map((r) => r.miningFlows)).toEqual(scanned.map((r) => r.miningFlows));
      child.kill('SIGINT');
      expect(await exited, err).toBe(0);
      expect(watchlist(db)).toEqual(scanned);
    } finally {
      if (running()) child.kill('SIGKILL');
    }
  }, 300_000);
});
