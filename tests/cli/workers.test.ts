/**
 * `scan --workers N` gives the report of one worker: the same flows, evidence, subscribers,
 * hashrate rows, inputs (counts, sha256, status) and anomalies, the same watch list and the same
 * summary; and a sharded scan stopped with SIGINT and run again ends as one clean run. On generated
 * data (a subscriber capture cut into rotated files, so flows run on across files; NetFlow v9 and
 * nfdump CSV exports of mining and other sessions) and on the corpus's captures and flow exports.
 * Real CLI in child processes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { poolNames } from '../../bench/gen-dnslog.js';
import { generateExportBench, type ExportBenchStats } from '../../bench/gen-exports.js';
import { zeekDnsHeader, zeekDnsLine } from '../../scripts/corpus-dnslog.js';
import { AUTO_WORKERS_MIN_BYTES, CORES_FOR_OTHER_THREADS, scanWorkers } from '../../src/cli/scan-workers.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, RULES_DIR, reportCount, spawnCli, waitFor, whenReport, withWriteLock } from '../helpers.js';
import { reportSnapshot, splitPcap } from '../support/report-snapshot.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-workers-'));
const rotated = [0, 1, 2].map((i) => join(tmp, `rot-${i}.pcap`));
// Short timeouts: flows finish while the files are read, and some run on from one file into the next.
const OPTS = ['--idle-timeout', '2', '--active-timeout', '60'];

const cli = spawnCli;

/** Everything one report says, and what the operator is handed from it: the watch list and the summary. */
async function everything(db: string): Promise<Record<string, unknown>> {
  const w = await cli(['watchlist', '--db', db, '--format', 'json']);
  expect(w.code, w.err).toBe(0);
  const watch = (JSON.parse(w.out) as Array<Record<string, unknown>>).map(({ flowIds: _ids, ...row }) => row);
  const s = await cli(['summary', '--db', db, '--format', 'json']);
  expect(s.code, s.err).toBe(0);
  // Each report numbers its own flows: evidence that names a flow by id is compared without it.
  const noIds = (t: string): string => t.replace(/flow #\d+/g, 'flow #id');
  return { ...reportSnapshot(db), watch: noIds(JSON.stringify(watch)), summary: noIds(s.out) };
}

/** Scan with 1 worker and with `n`; both must exit 0 and their reports must say the same. */
async function sameWithWorkers(name: string, inputs: string[], extra: string[], n: number): Promise<Record<string, unknown>> {
  const reports: Array<Record<string, unknown>> = [];
  for (const w of [1, n]) {
    const db = join(tmp, `${name}-w${w}.sqlite`);
    const r = await cli(['scan', ...inputs, '--db', db, '--workers', String(w), ...extra]);
    expect(r.code, r.err).toBe(0);
    reports.push(await everything(db));
  }
  expect(reports[1]).toEqual(reports[0]);
  return reports[0]!;
}

describe('scan --workers', () => {
  let exports: ExportBenchStats;
  const exportDir = join(tmp, 'exports');
  const intel = join(tmp, 'intel');

  beforeAll(() => {
    const whole = join(tmp, 'whole.pcap');
    generateBenchCapture(whole, 40e6, 0x5eed, 'subscriber');
    splitPcap(whole, rotated);
    rmSync(whole);
    mkdirSync(exportDir);
    exports = generateExportBench(exportDir, 120_000, 0x5eed);
    // The generated pool servers as an operator's intel lists them (as the bench does).
    mkdirSync(intel);
    const entries = exports.miningServers.flatMap((ip) => exports.miningPorts.map((port) => `  - { ip: "${ip}", port: ${port}, pool: "test pool" }`));
    writeFileSync(join(intel, 'pools.yaml'), `source: "generated pool servers"\nadded: ${new Date(exports.firstMs - 86_400_000).toISOString().slice(0, 10)}\nkind: pool\nentries:\n${entries.join('\n')}\n`);
  }, 180_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('a capture cut into rotated files: 3 workers give the report of 1', async () => {
    const one = await sameWithWorkers('rotated', rotated, OPTS, 3);
    // The comparison means something only if the report has all of these.
    expect((one.flows as unknown[]).length).toBeGreaterThan(5_000);
    expect((one.evidence as unknown[]).length).toBeGreaterThan(0);
    expect(JSON.parse(one.watch as string)).not.toHaveLength(0);
  }, 180_000);

  it('NetFlow v9 and nfdump CSV exports with intel: 2 workers give the report of 1', async () => {
    const one = await sameWithWorkers('exports', [join(exportDir, 'exports-v9.pcap'), join(exportDir, 'exports.csv')], ['--intel', intel], 2);
    expect(JSON.parse(one.watch as string)).not.toHaveLength(0);
    expect((one.inputs as Array<{ records: number }>).map((i) => i.records)).toEqual([exports.records, exports.records]);
  }, 180_000);

  it('NetFlow v9 exports with a resolver log: 2 workers give the report of 1', async () => {
    // A Zeek dns.log (written from Zeek's documented dns.log schema): every 10 minutes of the
    // exports, a subscriber looks up a listed pool name and is answered with one of the pool servers.
    const names = poolNames(RULES_DIR);
    const log = join(tmp, 'pools.dns.log');
    const lines = [zeekDnsHeader(exports.firstMs)];
    let n = 0;
    for (let t = exports.firstMs - 60_000; t < exports.lastMs; t += 600_000) {
      exports.miningServers.forEach((server, i) => {
        const query = names[i % names.length]!;
        lines.push(zeekDnsLine({ time: t, client: '100.64.0.1', resolver: '10.0.0.53', query, qtype: 1, rcode: 0, answers: [{ name: query, type: 'A', data: server, ttl: 60 }] }, ++n));
      });
    }
    writeFileSync(log, `${lines.join('\n')}\n`);
    const one = await sameWithWorkers('dnslog', [join(exportDir, 'exports-v9.pcap')], ['--dns-log', log], 2);
    // The log is what convicts here (no intel given): its evidence must be in the report compared.
    const kinds = new Set((one.evidence as string[]).map((e) => (JSON.parse(e) as { kind: string }).kind));
    expect([...kinds].filter((k) => k.startsWith('dns-log'))).not.toHaveLength(0);
    expect(JSON.parse(one.watch as string)).not.toHaveLength(0);
  }, 180_000);

  it.skipIf(!HAVE_CORPUS)(`the corpus's captures and flow exports: 3 workers give the report of 1${HAVE_CORPUS ? '' : ` (skipped: ${CORPUS_SKIP_REASON})`}`, async () => {
    const one = await sameWithWorkers('corpus', [join(CORPUS, 'pcap'), join(CORPUS, 'netflow')], [], 3);
    expect(JSON.parse(one.watch as string)).not.toHaveLength(0);
  }, 300_000);

  // The rotated files, then a larger capture, and the report of a whole scan of them (made once).
  let sigintInputs: Promise<{ inputs: string[]; clean: string }> | null = null;
  const bigInputs = (): Promise<{ inputs: string[]; clean: string }> =>
    (sigintInputs ??= (async () => {
      const big = join(tmp, 'big.pcap');
      generateBenchCapture(big, 400e6, 0x5eee, 'subscriber');
      const inputs = [...rotated, big];
      const clean = join(tmp, 'sigint-clean.sqlite');
      const whole = await cli(['scan', ...inputs, '--db', clean, '--workers', '1', ...OPTS]);
      expect(whole.code, whole.err).toBe(0);
      return { inputs, clean };
    })());

  it.each([1, 2])('SIGINT with %i worker(s) is heard at once even while another writer holds the report; reading stops, what was read is written, and the rerun ends as one clean run', async (workers) => {
    // Once the larger capture is being read, another connection takes the report's write lock (as
    // a concurrent scan closing its run would), so the writer thread waits, and the reading soon
    // waits for it; the signal goes while the lock is held. The scan must say it heard the signal
    // while the lock is still held: its thread does not block on the writer while it reads (with
    // workers, never; with one, not between chunks). Then the lock goes, and the run closes as
    // interrupted.
    const { inputs, clean } = await bigInputs();
    const db = join(tmp, `sigint-${workers}.sqlite`);
    let problem: unknown = null;
    let heldWhenHeard = false;
    const first = await cli(['scan', ...inputs, '--db', db, '--workers', String(workers), ...OPTS], (c) => {
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      void (async () => {
        // Every worker has ended the rotated files (their rows, which the scan's thread writes
        // itself, are written), and the larger capture is being read.
        await whenReport(db, "SELECT count(*) FROM inputs WHERE (status = 'reading') = (path LIKE '%big.pcap')", (n) => n === 4);
        await withWriteLock(db, async (hold) => {
          await new Promise((r) => setTimeout(r, 300));
          c.kill('SIGINT');
          await waitFor(() => /SIGINT: finishing the flows read so far/.test(err), { what: 'the scan to say it heard SIGINT', timeoutMs: 20_000 });
          heldWhenHeard = hold.inTransaction;
        }, c);
      })().catch((e: unknown) => {
        problem = e;
      });
    });
    expect(problem).toBeNull();
    expect(heldWhenHeard).toBe(true);
    expect(first.code, first.err).toBe(1);
    expect(first.err).toMatch(/SIGINT: finishing the flows read so far/);
    // It landed while reading: an input was cut, and what was read before it is in the report.
    const cut = new Database(db, { readonly: true });
    try {
      // The larger capture was cut part-way: reading stopped when told, so fewer of its flows are in
      // the report. (Not fewer of its packets: with workers the row counts worker 0's, and a worker
      // may have read it to the end while another, slowed, was cut.)
      expect(cut.prepare("SELECT status FROM inputs WHERE path LIKE '%big.pcap'").pluck().get()).toBe('interrupted');
      const bigFlows = "SELECT count(*) FROM flows WHERE input_id = (SELECT id FROM inputs WHERE path LIKE '%big.pcap')";
      expect(cut.prepare(bigFlows).pluck().get()).toBeLessThan(reportCount(clean, bigFlows));
      expect(cut.prepare('SELECT count(*) FROM flows').pluck().get()).toBeGreaterThan(0);
    } finally {
      cut.close();
    }
    const again = await cli(['scan', ...inputs, '--db', db, '--workers', String(workers), ...OPTS]);
    expect(again.code, again.err).toBe(0);
    expect(await everything(db)).toEqual(await everything(clean));
  }, 180_000);

  it('how many workers: as asked; one for standard input; by default the cores left to workers, only for big inputs; one when workers cannot start', () => {
    expect(scanWorkers(3, [{ path: 'a.pcap', size: 10 }], true)).toBe(3);
    expect(scanWorkers(4, [{ path: 'a.pcap', size: 10 }, { path: '-', size: null }], true)).toBe(1);
    expect(scanWorkers(undefined, [{ path: 'a.pcap', size: 1000 }], true)).toBe(1);
    expect(scanWorkers(undefined, [{ path: 'a.pcap', size: AUTO_WORKERS_MIN_BYTES / 2 }, { path: 'b.pcap', size: AUTO_WORKERS_MIN_BYTES / 2 }], true)).toBe(Math.max(1, availableParallelism() - CORES_FOR_OTHER_THREADS));
    expect(scanWorkers(3, [{ path: 'a.pcap', size: 10 }], false)).toBe(1);
  });
});
