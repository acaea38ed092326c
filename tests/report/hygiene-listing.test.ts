/**
 * Listing a large report in constant memory: `flows --all` and `watchlist` stream their rows, in
 * every format, written in bounded chunks as they are read (a 180 k-flow report used to overflow the
 * stack in the table, and JSON lines held the whole list before the first line).
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { openReport } from '../../src/report/writer.js';
import { FIXTURES, ROOT, waitFor } from '../helpers.js';
import { haveSs, unreadBytes } from '../support/stdio.js';

const FLOWS = 200_000;
const SUBSCRIBERS = 20_000;

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-listing-'));
const db = join(tmp, 'large.sqlite');

/** Runs the CLI keeping only what the test looks at: line count, output calls, largest call, first line. */
async function listing(args: string[]): Promise<{ code: number; err: string; lines: number; calls: number; largest: number; first: string }> {
  let lines = 0;
  let calls = 0;
  let largest = 0;
  let first = '';
  let err = '';
  const code = await main(args, {
    out: (s) => {
      calls++;
      largest = Math.max(largest, s.length);
      if (!first) first = s.slice(0, s.indexOf('\n') + 1);
      for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) lines++;
    },
    err: (s) => (err += s),
  });
  return { code, err, lines, calls, largest, first };
}

function count(sql: string): number {
  const d = openReport(db, { readonly: true });
  try {
    return (d.prepare(sql).get() as { n: number }).n;
  } finally {
    d.close();
  }
}

describe('listing a report of 200 k flows', () => {
  beforeAll(async () => {
    let err = '';
    expect(await main(['scan', join(FIXTURES, 'demo'), '--db', db], { out: () => {}, err: (s) => (err += s) }), err).toBe(0);
    // Grow the report directly: copies of a scanned mining flow, spread over many subscribers, and a
    // watch-list row for each of those subscribers.
    const d = openReport(db);
    const cols = (d.prepare('PRAGMA table_info(flows)').all() as Array<{ name: string }>).map((c) => c.name).filter((c) => c !== 'id');
    const src = (d.prepare("SELECT id FROM flows WHERE label = 'mining' ORDER BY id LIMIT 1").get() as { id: number }).id;
    const have = (d.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    const value = (c: string): string =>
      c === 'first_seen' || c === 'last_seen' ? `${c} + n.i * 1000` : c === 'subscriber' ? `'10.9.' || (n.i % ${SUBSCRIBERS} / 256) || '.' || (n.i % ${SUBSCRIBERS} % 256)` : c === 'client' ? `'10.9.' || (n.i % ${SUBSCRIBERS} / 256) || '.' || (n.i % ${SUBSCRIBERS} % 256)` : c;
    d.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO flows(${cols.join(', ')}) SELECT ${cols.map(value).join(', ')} FROM flows, n WHERE flows.id = ?`,
    ).run(FLOWS - have, src);
    const subCols = (d.prepare('PRAGMA table_info(subscribers)').all() as Array<{ name: string }>).map((c) => c.name);
    const template = (d.prepare('SELECT subscriber FROM subscribers ORDER BY subscriber LIMIT 1').get() as { subscriber: string }).subscriber;
    d.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
       INSERT INTO subscribers(${subCols.join(', ')}) SELECT ${subCols.map((c) => (c === 'subscriber' ? `'10.9.' || (n.i / 256) || '.' || (n.i % 256)` : c === 'mining_flows' ? `${c} + n.i % 7` : c)).join(', ')} FROM subscribers, n WHERE subscribers.subscriber = ?`,
    ).run(SUBSCRIBERS, template);
    d.close();
    expect(count('SELECT count(*) AS n FROM flows')).toBe(FLOWS);
  }, 120_000);

  it('flows --all --format jsonl: one line per flow, written in bounded chunks as it goes', async () => {
    const r = await listing(['flows', '--db', db, '--all', '--format', 'jsonl']);
    expect(r.code, r.err).toBe(0);
    expect(r.lines).toBe(count('SELECT count(*) AS n FROM flows'));
    expect(r.calls).toBeGreaterThan(100);
    expect(r.largest).toBeLessThan(1 << 20);
    expect(JSON.parse(r.first)).toHaveProperty('client');
  }, 120_000);

  it('flows --all as a table and as CSV (the table used to overflow the stack)', async () => {
    const table = await listing(['flows', '--db', db, '--all']);
    expect(table.code, table.err).toBe(0);
    expect(table.lines).toBe(FLOWS + 2);
    expect(table.largest).toBeLessThan(1 << 20);
    const csv = await listing(['flows', '--db', db, '--all', '--format', 'csv']);
    expect(csv.code, csv.err).toBe(0);
    expect(csv.lines).toBe(FLOWS + 1);
    expect(csv.largest).toBeLessThan(1 << 20);
  }, 120_000);

  it('watchlist streams too, in every format, one row per subscriber with mining evidence', async () => {
    const rows = count("SELECT count(*) AS n FROM subscribers WHERE confidence IN ('medium', 'high')");
    expect(rows).toBeGreaterThanOrEqual(SUBSCRIBERS);
    const jsonl = await listing(['watchlist', '--db', db, '--format', 'jsonl']);
    expect(jsonl.code, jsonl.err).toBe(0);
    expect(jsonl.lines).toBe(rows);
    expect(jsonl.largest).toBeLessThan(1 << 20);
    const csv = await listing(['watchlist', '--db', db, '--format', 'csv']);
    expect(csv.lines).toBe(rows + 1);
    const table = await listing(['watchlist', '--db', db]);
    expect(table.lines).toBe(rows + 2);
    let json = '';
    expect(await main(['watchlist', '--db', db, '--format', 'json'], { out: (s) => (json += s), err: () => {} })).toBe(0);
    const list = JSON.parse(json) as Array<{ subscriber: string; miningFlows: number; flowIds: number[] }>;
    expect(list).toHaveLength(rows);
    // Strongest first, then most mining flows; each subscriber's flow ids are its mining flows.
    for (let i = 1; i < list.length; i++) if (list[i - 1]!.miningFlows < list[i]!.miningFlows) expect.fail(`row ${i} out of order`);
    const one = list.find((r) => r.subscriber === '10.9.0.5')!;
    expect(one.flowIds).toHaveLength(count("SELECT count(*) AS n FROM flows WHERE subscriber = '10.9.0.5' AND label = 'mining'"));
  }, 120_000);

  it('a slow reader on a pipe: the process waits for it, in a 48 MB heap, and every line arrives', async () => {
    // The sources as they are now, transpiled for a child process (dist/ may be stale).
    const app = join(tmp, 'app');
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          const js = ts.transpileModule(readFileSync(p, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
          const to = join(app, relative(ROOT, p).replace(/\.ts$/, '.js'));
          mkdirSync(dirname(to), { recursive: true });
          writeFileSync(to, js);
        }
      }
    };
    walk(join(ROOT, 'src'));
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
    symlinkSync(join(ROOT, 'rules'), join(app, 'rules'));
    const cli = `const { main } = await import(${JSON.stringify(join(app, 'src/cli/main.js'))}); process.exitCode = await main(process.argv.slice(1));`;
    const child = spawn(process.execPath, ['--max-old-space-size=48', '--input-type=module', '-e', cli, 'flows', '--db', db, '--all', '--format', 'jsonl'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // Read nothing for a while: without waiting for the pipe, the child would queue every line in memory.
    child.stdout.pause();
    // Once 64 KiB of its output wait unread (where ss can tell), stall a further 1.5 s: the
    // stalled reader is the behaviour under test, not a wait for a state.
    if (haveSs()) await waitFor(() => child.exitCode !== null || (unreadBytes(child.pid!, 1) ?? 0) >= 64 * 1024, { what: 'the listing to fill the pipe to its reader' });
    await new Promise((r) => setTimeout(r, 1500));
    let lines = 0;
    child.stdout.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(lines).toBe(FLOWS);
  }, 180_000);
});
