/**
 * A report holding an incomplete input says so, and names it: `summary` (table and JSON, both
 * languages), `watchlist` and `flows` (on stderr, standard output unchanged) and `report --html`.
 * Incomplete inputs are made by real means: a scan naming a file that does not exist (failed), a
 * scan stopped with SIGINT and one killed with SIGKILL in a child process on a large capture.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, reportCount, ROOT, runMain, waitFor } from '../helpers.js';


const OFFICE = join(FIXTURES, 'demo/office.pcap');
const KEY = 'a-region-key-of-32-bytes-or-so!!';
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-partial-'));

interface Listed {
  run: number;
  input: number;
  path: string;
  status: string;
  runStatus: string;
  note: string | null;
  error: string | null;
}

async function summaryJson(db: string, extra: string[] = []): Promise<{ miningSubscribers: number; incompleteInputs: Listed[] }> {
  const r = await runMain(['summary', '--db', db, '--format', 'json', ...extra]);
  expect(r.code).toBe(0);
  expect(r.err).toBe('');
  return JSON.parse(r.out) as { miningSubscribers: number; incompleteInputs: Listed[] };
}

async function htmlOf(db: string, extra: string[] = []): Promise<string> {
  const file = join(tmp, `page-${Math.random().toString(36).slice(2)}.html`);
  const r = await runMain(['report', '--db', db, '--html', file, ...extra]);
  expect(r.code).toBe(0);
  return readFileSync(file, 'utf8');
}

/** The rows of the inputs table, read straight from the report. */
function inputRows(db: string): Array<{ id: number; run_id: number; path: string; status: string }> {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT id, run_id, path, status FROM inputs ORDER BY id').all() as Array<{ id: number; run_id: number; path: string; status: string }>;
  } finally {
    d.close();
  }
}

describe('a complete report', () => {
  const db = join(tmp, 'complete.sqlite');
  beforeAll(async () => {
    const r = await runMain(['scan', OFFICE, '--db', db]);
    expect(r.code).toBe(0);
  });

  it('every input is complete and nothing warns', async () => {
    expect(inputRows(db).map((i) => i.status)).toEqual(['complete']);
    const table = await runMain(['summary', '--db', db]);
    expect(table.code).toBe(0);
    expect(table.out).not.toMatch(/incomplete input/);
    expect((await summaryJson(db)).incompleteInputs).toEqual([]);
    const zh = await runMain(['summary', '--db', db, '--lang', 'zh-CN']);
    expect(zh.out).not.toMatch(/不完整/);
    for (const cmd of [['watchlist', '--format', 'jsonl'], ['flows', '--format', 'jsonl']]) {
      const r = await runMain([...cmd, '--db', db]);
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
    }
    expect(await htmlOf(db)).not.toMatch(/incomplete-inputs/);
  });
});

describe('a report with a failed input (a file that does not exist)', () => {
  const complete = join(tmp, 'complete-2.sqlite');
  const db = join(tmp, 'failed.sqlite');
  // Characters that mean something in HTML, so the page must escape the name.
  const missing = join(tmp, '<b>missing&"capture.pcap');
  beforeAll(async () => {
    expect((await runMain(['scan', OFFICE, '--db', complete])).code).toBe(0);
    const r = await runMain(['scan', OFFICE, missing, '--db', db]);
    expect(r.code).toBe(1);
    expect(r.out + r.err).toContain('ENOENT');
  });

  it('the report itself records the missing file as failed and the capture as complete', () => {
    expect(inputRows(db).map((i) => [i.path, i.status])).toEqual([
      [OFFICE, 'complete'],
      [missing, 'failed'],
    ]);
  });

  it('summary: a block after the figures names it; JSON lists it with its run, row and error', async () => {
    const r = await runMain(['summary', '--db', db]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const heading = lines.findIndex((l) => l.startsWith('This report holds 1 incomplete input;'));
    expect(heading).toBeGreaterThan(lines.findIndex((l) => l.startsWith('Energy')));
    expect(heading).toBeLessThan(lines.indexOf('By coin'));
    expect(lines[heading + 1]).toMatch(/^- .*missing&"capture\.pcap: failed \(.*ENOENT.*\); scan it again/);
    expect(lines[heading + 2]).toBe('');

    const row = inputRows(db).find((i) => i.path === missing)!;
    const j = await summaryJson(db);
    expect(j.incompleteInputs).toHaveLength(1);
    const [i] = j.incompleteInputs;
    expect(i).toMatchObject({ run: row.run_id, input: row.id, path: missing, status: 'failed', runStatus: 'complete', note: null });
    expect(i!.error).toMatch(/ENOENT/);
    // The capture that was read is counted as before.
    expect(j.miningSubscribers).toBe((await summaryJson(complete)).miningSubscribers);
  });

  it('summary --lang zh-CN: a Chinese heading over the same line', async () => {
    const r = await runMain(['summary', '--db', db, '--lang', 'zh-CN']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('本报告含 1 个不完整的输入');
    expect(r.out).toMatch(/missing&"capture\.pcap: failed/);
  });

  it('watchlist and flows: one warning line on stderr, standard output the same list as a complete report', async () => {
    for (const [cmd, what] of [
      ['watchlist', 'subscribers'],
      ['flows', 'flows'],
    ] as const) {
      for (const format of ['jsonl', 'csv', 'table']) {
        const r = await runMain([cmd, '--db', db, '--format', format]);
        const clean = await runMain([cmd, '--db', complete, '--format', format]);
        expect(r.code).toBe(0);
        expect(r.out).toBe(clean.out);
        expect(r.err).toBe(`minerwatch: warning: ${db} holds 1 incomplete input; the list may miss ${what}: ${missing} (failed) (minerwatch summary names each)\n`);
      }
    }
  });

  it('report --html: a warning box above the figures, the name escaped', async () => {
    const page = await htmlOf(db);
    const box = page.indexOf('data-testid="incomplete-inputs"');
    expect(box).toBeGreaterThan(0);
    expect(box).toBeLessThan(page.indexOf('data-testid="summary-subscribers"'));
    expect(page).toMatch(/data-testid="incomplete-inputs" data-count="1"/);
    expect(page).toMatch(/<li data-testid="incomplete-input" data-status="failed">[^<]*&#60;b&#62;missing&#38;&#34;capture\.pcap: failed/);
    expect(page).not.toContain('<b>missing');
    const zh = await htmlOf(db, ['--lang', 'zh-CN']);
    expect(zh).toContain('本报告含 1 个不完整的输入');
  });

  it('--pseudonymise keeps input paths (file names, not subscriber data)', async () => {
    const s = await runMain(['summary', '--db', db, '--pseudonymise', KEY]);
    expect(s.out).toMatch(/missing&"capture\.pcap: failed/);
    const w = await runMain(['watchlist', '--db', db, '--format', 'jsonl', '--pseudonymise', KEY]);
    expect(w.err).toContain(`${missing} (failed)`);
    expect(await htmlOf(db, ['--pseudonymise', KEY])).toContain('&#60;b&#62;missing&#38;&#34;capture.pcap');
  });
});

describe('many failed inputs', () => {
  const db = join(tmp, 'many.sqlite');
  const missing = Array.from({ length: 25 }, (_, i) => join(tmp, `gone-${String(i).padStart(2, '0')}.pcap`));
  beforeAll(async () => {
    expect((await runMain(['scan', OFFICE, ...missing, '--db', db])).code).toBe(1);
  });

  it('summary names 20 and counts the rest; the stderr warning names 5', async () => {
    const r = await runMain(['summary', '--db', db]);
    expect(r.out).toContain('This report holds 25 incomplete inputs;');
    const named = r.out.split('\n').filter((l) => /^- .*gone-\d\d\.pcap: failed/.test(l));
    expect(named).toHaveLength(20);
    expect(named[0]).toContain('gone-00.pcap');
    expect(named[19]).toContain('gone-19.pcap');
    expect(r.out).toContain('\n… and 5 more\n');
    expect((await summaryJson(db)).incompleteInputs.map((i) => i.path)).toEqual(missing);

    const w = await runMain(['watchlist', '--db', db]);
    expect(w.err).toBe(
      `minerwatch: warning: ${db} holds 25 incomplete inputs; the list may miss subscribers: ${missing.slice(0, 5).map((p) => `${p} (failed)`).join(', ')}, and 20 more (minerwatch summary names each)\n`,
    );
    const page = await htmlOf(db);
    expect(page.match(/data-testid="incomplete-input"/g)).toHaveLength(20);
    expect(page).toMatch(/data-testid="incomplete-more">… and 5 more</);
  });
});

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
if (!BUILT) console.warn('skipping the interrupted and killed scan tests of incomplete-input warnings: dist/ is not built (npm run build)');

/**
 * A large gzip pcap: the office capture's records repeated (about 150 MB before compression), so a
 * scan is still reading when it is signalled (gzip is read as a stream, which a signal stops).
 */
function bigCapture(): string {
  const file = join(tmp, 'big.pcap.gz');
  if (existsSync(file)) return file;
  const one = readFileSync(OFFICE);
  const records = one.subarray(24);
  const copies = Math.ceil(150e6 / records.length);
  const big = Buffer.alloc(24 + records.length * copies);
  one.copy(big, 0, 0, 24);
  for (let i = 0; i < copies; i++) records.copy(big, 24 + i * records.length);
  writeFileSync(file, gzipSync(big, { level: 1 }));
  return file;
}

/** Start a scan in a child process, signal it once the report shows it reading (after `whileReading`), wait for it to end. */
async function signalledScan(db: string, signal: NodeJS.Signals, whileReading?: () => Promise<void>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'scan', bigCapture(), '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  await waitFor(() => child.exitCode !== null || reportCount(db, "SELECT count(*) FROM inputs WHERE status = 'reading'") > 0, { what: `the scan into ${db} to begin reading` });
  if (whileReading) await whileReading();
  expect(child.exitCode, 'still reading when signalled').toBeNull();
  child.kill(signal);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, stderr };
}

describe.skipIf(!BUILT)('a scan stopped part-way', () => {
  it('while it reads, readers say the input is being read; after SIGINT, that it was interrupted', async () => {
    const db = join(tmp, 'interrupted.sqlite');
    const big = bigCapture();
    const { code, stderr } = await signalledScan(db, 'SIGINT', async () => {
      const [i] = (await summaryJson(db)).incompleteInputs;
      expect(i).toMatchObject({ path: big, runStatus: 'running' });
      expect((await runMain(['summary', '--db', db])).out).toMatch(/big\.pcap\.gz: being read by run \d+\b.*, which is still running/);
      expect((await runMain(['watchlist', '--db', db, '--format', 'jsonl'])).err).toContain(`${big} (being read)`);
    });
    expect(stderr).not.toMatch(/internal error/);
    expect(code).toBe(1);
    expect(inputRows(db).map((i) => [i.path, i.status])).toEqual([[big, 'interrupted']]);

    const j = await summaryJson(db);
    expect(j.incompleteInputs.map((i) => [i.path, i.status])).toEqual([[big, 'interrupted']]);
    const table = await runMain(['summary', '--db', db]);
    expect(table.out).toContain('This report holds 1 incomplete input;');
    expect(table.out).toMatch(/big\.pcap\.gz: interrupted in run \d+.*only part of it is counted/);
    const w = await runMain(['watchlist', '--db', db, '--format', 'jsonl']);
    expect(w.code).toBe(0);
    expect(w.err).toBe(`minerwatch: warning: ${db} holds 1 incomplete input; the list may miss subscribers: ${big} (interrupted) (minerwatch summary names each)\n`);
    for (const line of w.out.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    const page = await htmlOf(db);
    expect(page).toMatch(/<li data-testid="incomplete-input" data-status="interrupted">[^<]*big\.pcap\.gz: interrupted/);
  }, 120_000);

  it('SIGKILL: the run is left running with its process gone, and every reader says it was killed', async () => {
    const db = join(tmp, 'killed.sqlite');
    const big = bigCapture();
    const { code } = await signalledScan(db, 'SIGKILL');
    expect(code).toBeNull();
    const d = new Database(db, { readonly: true });
    const runStatus = d.prepare('SELECT status FROM runs').pluck().all();
    d.close();
    expect(runStatus).toEqual(['running']);

    const [i] = (await summaryJson(db)).incompleteInputs;
    expect(i).toMatchObject({ path: big, runStatus: 'killed' });
    const table = await runMain(['summary', '--db', db]);
    expect(table.out).toMatch(/big\.pcap\.gz: run \d+ was killed while it held this input/);
    const w = await runMain(['watchlist', '--db', db, '--format', 'csv']);
    expect(w.err).toContain(`${big} (run killed)`);
    expect(await htmlOf(db)).toMatch(/data-testid="incomplete-input" data-status="(reading|read)">[^<]*big\.pcap\.gz: run \d+ was killed/);
  }, 120_000);
});
