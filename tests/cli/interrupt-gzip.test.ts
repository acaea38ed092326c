/** SIGINT during a gzip scan: the run stops cleanly as interrupted, never an internal error (EBADF). */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FIXTURES, reportCount, ROOT, waitFor } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
if (!BUILT) console.warn('skipping the SIGINT-on-gzip test: dist/ is not built (npm run build)');

describe.skipIf(!BUILT)('SIGINT during a gzip scan', () => {
  it('stops reading, writes what was read, marks the run interrupted, exits 1 with no internal error', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-sigint-gz-'));
    // A large capture: the demo capture's records repeated (about 150 MB before compression).
    const one = readFileSync(join(FIXTURES, 'demo/office.pcap'));
    const header = one.subarray(0, 24);
    const records = one.subarray(24);
    const copies = Math.ceil(150e6 / records.length);
    const big = Buffer.alloc(24 + records.length * copies);
    header.copy(big, 0);
    for (let i = 0; i < copies; i++) records.copy(big, 24 + i * records.length);
    const file = join(tmp, 'big.pcap.gz');
    writeFileSync(file, gzipSync(big, { level: 1 }));
    const db = join(tmp, 'r.sqlite');
    const child = spawn(process.execPath, [BIN, 'scan', file, '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    // Signalled once it has read packets: its first batch of flows is in the report.
    await waitFor(() => child.exitCode !== null || reportCount(db, 'SELECT count(*) FROM flows') > 0, { what: `the scan to write its first flows into ${db}` });
    expect(child.exitCode, 'still reading when signalled').toBeNull();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(stderr).toMatch(/SIGINT: finishing the flows read so far/);
    expect(stderr).not.toMatch(/internal error|EBADF/);
    expect(code).toBe(1);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT status FROM runs').pluck().all()).toEqual(['interrupted']);
    const input = d.prepare('SELECT packets, error, sha256 FROM inputs').get() as { packets: number; error: string | null; sha256: string };
    d.close();
    expect(input.error).toBeNull();
    expect(input.packets).toBeGreaterThan(0);
    expect(input.packets).toBeLessThan(copies * 42);
    // The cut read names the file it cut by the digest of its stored (compressed) bytes, whole: a
    // copy under another name is known as the input held in part, read again, and replaces it.
    expect(input.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    const copy = join(tmp, 'again.pcap.gz');
    copyFileSync(file, copy);
    const again = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [BIN, 'scan', copy, '--db', db], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (x: Buffer) => (err += x.toString()));
      c.on('exit', (code) => resolve({ code, err }));
    });
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain(`${copy}: ${db} holds it only in part; scanning it again`);
    const after = new Database(db, { readonly: true });
    expect(after.prepare('SELECT path, status, packets FROM inputs').all()).toEqual([{ path: copy, status: 'complete', packets: copies * 42 }]);
    after.close();
  }, 120_000);
});
