/**
 * The live collector for real: a `minerwatch collect` process on 127.0.0.1 receives export
 * datagrams (replayed from a corpus capture, or produced by softflowd reading a corpus capture),
 * and after SIGINT the report holds the flows. Only loopback traffic.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, scanFiles, waitFor } from '../helpers.js';
import { exportDatagrams, sendAll, startCollector } from '../support/collector.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-collect-'));
const HAVE_SOFTFLOWD = spawnSync('sh', ['-c', 'command -v softflowd']).status === 0;

/** The datagrams the collector counts in its latest stats line (one every --stats-interval), 0 before the first. */
function datagramsCounted(stderr: string): number {
  const lines = [...stderr.matchAll(/datagrams (\d+) \(not export/g)];
  return lines.length ? Number(lines[lines.length - 1]![1]) : 0;
}

async function stop(child: ChildProcess): Promise<number | null> {
  const done = new Promise<number | null>((r) => child.on('close', r));
  child.kill('SIGINT');
  return done;
}

function flowKeys(db: string): string[] {
  const d = new Database(db, { readonly: true });
  const rows = d.prepare("SELECT client, client_port, server, server_port, packets_c2s + packets_s2c AS p FROM flows WHERE source = 'export'").all() as Array<Record<string, unknown>>;
  d.close();
  return rows.map((r) => [`${r.client}:${r.client_port}`, `${r.server}:${r.server_port}`].sort().join(' ') + ` ${r.p}`).sort();
}

describe.skipIf(!HAVE_CORPUS)('minerwatch collect', () => {
  it('receives replayed v9 export datagrams, classifies, and keeps everything after SIGINT', async () => {
    const db = join(tmp, 'replay.sqlite');
    const { child, port, stderr } = await startCollector(db);
    const file = join(CORPUS, 'netflow/generated/v9/ndpi__mining.export.pcap');
    const datagrams = await exportDatagrams(file);
    await sendAll(port, datagrams);
    await waitFor(() => datagramsCounted(stderr()) >= datagrams.length, { what: `the collector to count the ${datagrams.length} datagrams sent` });
    expect(await stop(child)).toBe(0);
    expect(stderr()).toMatch(/SIGINT: stopping, finishing open flows/);
    expect(stderr()).toMatch(/records 8, templates \d+, template misses 0/);
    const fromScan = (await scanFiles([file])).flows.filter((f) => f.flow.source === 'export');
    expect(flowKeys(db)).toEqual(fromScan.map((f) => [`${f.flow.client}:${f.flow.clientPort}`, `${f.flow.server}:${f.flow.serverPort}`].sort().join(' ') + ` ${f.flow.packetsC2S + f.flow.packetsS2C}`).sort());
    const d = new Database(db, { readonly: true });
    // The three sessions to listed pool addresses; nanopool's unlisted one on a pool port stays suspect.
    expect((d.prepare("SELECT count(*) AS n FROM flows WHERE label = 'mining'").get() as { n: number }).n).toBe(3);
    expect(d.prepare('SELECT status, packets FROM runs').get()).toEqual({ status: 'complete', packets: 1 });
    d.close();
  });

  it.skipIf(!HAVE_SOFTFLOWD)('softflowd reading a corpus capture exports into the running collector; the flows match nfdump\'s CSV of the same capture', async () => {
    const db = join(tmp, 'softflowd.sqlite');
    const { child, port, stderr } = await startCollector(db);
    const r = spawnSync('softflowd', ['-r', join(CORPUS, 'pcap/mining/nesfit__zec-eu1.nanopool.org.pcapng'), '-n', `127.0.0.1:${port}`, '-v', '9', '-a', '-c', 'none', '-d'], { timeout: 60_000, encoding: 'utf8' });
    expect(r.status).toBe(0);
    // softflowd's closing statistics: "Flows exported: F (R records) in P packets (0 failures)".
    const sent = /Flows exported: \d+ \(\d+ records\) in (\d+) packets \(0 failures\)/.exec(r.stdout);
    expect(sent, r.stdout).not.toBeNull();
    await waitFor(() => datagramsCounted(stderr()) >= Number(sent![1]), { what: `the collector to count the ${sent![1]} datagrams softflowd sent` });
    expect(await stop(child)).toBe(0);
    const csv = (await scanFiles([join(CORPUS, 'netflow/generated/v9/nesfit__zec-eu1.nanopool.org.csv')])).flows;
    expect(flowKeys(db)).toEqual(csv.map((f) => [`${f.flow.client}:${f.flow.clientPort}`, `${f.flow.server}:${f.flow.serverPort}`].sort().join(' ') + ` ${f.flow.packetsC2S + f.flow.packetsS2C}`).sort());
  });
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
if (!HAVE_SOFTFLOWD) console.warn('softflowd not installed (Debian package softflowd): the softflowd → collector test is skipped');

describe('minerwatch collect: a datagram too short to carry a version', () => {
  it('is counted where it came, even as the first datagram (no earlier datagram\'s place, no held-set note)', async () => {
    const db = join(tmp, 'short.sqlite');
    const { child, port, stderr } = await startCollector(db);
    await sendAll(port, [Buffer.of(0)]);
    await waitFor(() => datagramsCounted(stderr()) >= 1, { what: 'the collector to count the datagram sent' });
    expect(await stop(child)).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT code, offset, message FROM anomaly_samples').all() as Array<{ code: string; offset: number; message: string }>;
    d.close();
    expect(rows.map((r) => [r.code, r.offset])).toEqual([['export.unknown_version', 0]]);
    expect(rows[0]!.message).toMatch(/^exporter \S+: 1 bytes: no version field$/);
  });
});
