/**
 * Listing a report of more than 180 k flows with the built CLI in a child process: `flows --all`
 * completes as a table (it used to overflow the stack) and as JSON lines; the first line comes out
 * after a small part of the work of the whole listing; the child's peak resident memory stays
 * bounded; and a reader that goes away after one line (`| head -1`) ends the listing early.
 * The report is made by scanning a generated NetFlow v9 export capture with `--keep-flows all`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateExportBench } from '../../bench/gen-exports.js';
import { cpuTicks, reportCount, ROOT, runCli, waitFor } from '../helpers.js';

/** Export records generated: about 0.39 flows each once both directions are joined. */
const RECORDS = 480_000;
const MIN_FLOWS = 180_000;
/** Peak resident set of a listing child: the report's size must not show in it. */
const RSS_LIMIT_KIB = 300 * 1024;

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-listing-memory-'));
const db = join(tmp, 'large.sqlite');
const BIN = join(ROOT, 'bin', 'minerwatch');
/** Printed by the child as it exits: its peak resident set (the kernel's ru_maxrss, KiB) and CPU time used (µs). */
const REPORT_USAGE = `data:text/javascript,process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('maxrss='+u.maxRSS+' cpu='+(u.userCPUTime+u.systemCPUTime)+'\\n')})`;

interface Listing {
  code: number | null;
  lines: number;
  first: string;
  maxRssKiB: number;
  cpuMicros: number;
  err: string;
}

/** What a child's stderr says of its usage, and the rest of its stderr. */
function usage(err: string): { maxRssKiB: number; cpuMicros: number; rest: string } {
  const m = /maxrss=(\d+) cpu=(\d+)\n/.exec(err);
  return { maxRssKiB: m ? Number(m[1]) : NaN, cpuMicros: m ? Number(m[2]) : NaN, rest: err.replace(/maxrss=\d+ cpu=\d+\n/, '') };
}

/** Run the built CLI reporting its usage, reading its whole output and counting lines. */
function listing(args: string[]): Promise<Listing> {
  const child = spawn(process.execPath, ['--import', REPORT_USAGE, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let lines = 0;
  let first = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    if (!first) first = d.subarray(0, d.indexOf(10) + 1).toString();
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      const u = usage(err);
      resolve({ code, lines, first, maxRssKiB: u.maxRssKiB, cpuMicros: u.cpuMicros, err: u.rest });
    }),
  );
}

describe('listing a report of more than 180 k flows', () => {
  let flows = 0;
  /** CPU time of a whole `flows --all --format jsonl` listing (µs), from the first test. */
  let wholeCpuMicros = 0;

  beforeAll(() => {
    generateExportBench(tmp, RECORDS);
    const r = runCli(['scan', join(tmp, 'exports-v9.pcap'), '--db', db, '--keep-flows', 'all'], 180_000);
    expect(r.code, r.err).toBe(0);
    flows = reportCount(db, 'SELECT count(*) FROM flows');
    expect(flows).toBeGreaterThanOrEqual(MIN_FLOWS);
  }, 180_000);

  it('flows --all as a table and as JSON lines: every flow, no stack overflow, peak RSS bounded', async () => {
    // Side by side: each listing is one child, and neither needs the other's core.
    const [table, jsonl] = await Promise.all([listing(['flows', '--db', db, '--all']), listing(['flows', '--db', db, '--all', '--format', 'jsonl'])]);
    expect(table.err).toBe('');
    expect(table.code).toBe(0);
    expect(table.lines).toBe(flows + 2);
    expect(jsonl.err).toBe('');
    expect(jsonl.code).toBe(0);
    expect(jsonl.lines).toBe(flows);
    expect(JSON.parse(jsonl.first)).toHaveProperty('id');
    expect(table.maxRssKiB, 'peak RSS of the table listing, KiB').toBeLessThan(RSS_LIMIT_KIB);
    expect(jsonl.maxRssKiB, 'peak RSS of the JSON-lines listing, KiB').toBeLessThan(RSS_LIMIT_KIB);
    wholeCpuMicros = jsonl.cpuMicros;
  }, 120_000);

  it('the first JSON line comes out before the listing is built, and a reader that stops early ends it', async () => {
    // The work of a whole listing, in CPU time (measured again when the first test did not run).
    if (!wholeCpuMicros) {
      const whole = await listing(['flows', '--db', db, '--all', '--format', 'jsonl']);
      expect(whole.code, whole.err).toBe(0);
      wholeCpuMicros = whole.cpuMicros;
    }
    expect(wholeCpuMicros).toBeGreaterThan(0);

    // A reader that takes one chunk and then reads nothing: the child fills the pipe and waits.
    const child = spawn(process.execPath, ['--import', REPORT_USAGE, BIN, 'flows', '--db', db, '--all', '--format', 'jsonl'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    child.stdout.pause();
    expect(JSON.parse(first.slice(0, first.indexOf('\n')))).toHaveProperty('id');
    // Its CPU time stops growing once it waits for the reader (sampled from /proc every 200 ms).
    let last = -1;
    let still = 0;
    await waitFor(
      () => {
        const t = cpuTicks(child.pid!);
        if (t === undefined) return true;
        still = t === last ? still + 1 : 0;
        last = t;
        return still >= 3;
      },
      { what: 'the listing to wait for its reader', intervalMs: 200, timeoutMs: 60_000 },
    );
    expect(child.exitCode, 'the child waits for its reader instead of finishing').toBeNull();
    // The reader goes away, as head does after its lines: the child stops listing and exits 0.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const u = usage(err);
    expect(u.rest).toBe('');
    expect(code).toBe(0);
    // Everything it did, first lines included, is a small part of the whole listing: it neither
    // built the listing before writing nor read the rest of the report after the reader left.
    expect(u.cpuMicros, `CPU µs of the early-stopped listing vs a whole one (${wholeCpuMicros})`).toBeLessThan(wholeCpuMicros / 3);
  }, 120_000);
});
