/**
 * `--db` files that are not minerwatch reports are refused and never modified; a report on a
 * read-only or full file system gives a clear error; new reports are created 0600. Through the real CLI.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { mulberry32 } from '../support/random.js';
import { FIXTURES } from '../helpers.js';
import { generateBenchCapture } from '../../bench/gen-capture.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-hostile-db-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});
const CAPTURE = join(FIXTURES, 'demo', 'office.pcap');

async function cli(...argv: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const rc = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { rc, out, err };
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const siblings = (p: string) => ['-wal', '-shm', '-journal'].filter((s) => existsSync(p + s));

/** Every command that takes a report, with `db` in each place a report goes. */
function commandsOn(db: string): string[][] {
  return [
    ['scan', CAPTURE, '--db', db],
    ['summary', '--db', db],
    ['watchlist', '--db', db],
    ['merge', db, '--db', join(tmp, `merged-${Math.random().toString(36).slice(2)}.sqlite`)],
    ['merge', good, '--db', db],
  ];
}

const good = join(tmp, 'good.sqlite');

describe('databases that are not minerwatch reports', () => {
  it('a good report to merge from', async () => {
    expect((await cli('scan', CAPTURE, '--db', good)).rc).toBe(0);
  });

  it('a file that is not SQLite: exit 2, "FILE is not a SQLite database", bytes unchanged', async () => {
    const rnd = mulberry32(7);
    const junk = join(tmp, 'junk.bin');
    writeFileSync(junk, Uint8Array.from({ length: 8192 }, () => Math.floor(rnd() * 256)));
    const before = sha(junk);
    for (const argv of commandsOn(junk)) {
      const r = await cli(...argv);
      expect(r.err, argv.join(' ')).not.toMatch(/internal error/);
      expect(r.rc, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(/junk\.bin is not a (SQLite database|minerwatch report)/);
    }
    expect(sha(junk)).toBe(before);
    expect(siblings(junk)).toEqual([]);
  });

  it('a SQLite database another program made is refused by every command and its bytes never change', async () => {
    const foreign = join(tmp, 'foreign.db');
    const other = new Database(foreign);
    other.exec("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users(name) VALUES ('alice'), ('bob'); CREATE TABLE flows(x)");
    other.close();
    const before = sha(foreign);
    for (const argv of commandsOn(foreign)) {
      const r = await cli(...argv);
      expect(r.err, argv.join(' ')).not.toMatch(/internal error/);
      expect(r.rc, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(/foreign\.db is (a SQLite database but )?not a minerwatch report/);
      expect(sha(foreign), argv.join(' ')).toBe(before);
    }
    expect(siblings(foreign)).toEqual([]);
  });

  it('a new report is created with mode 0600 under umask 022', async () => {
    const old = process.umask(0o022);
    try {
      const db = join(tmp, 'mode.sqlite');
      expect((await cli('scan', CAPTURE, '--db', db)).rc).toBe(0);
      expect(statSync(db).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });
});

/** A tmpfs of `size` at a fresh folder, or null with the reason (needs root and mount). */
function tmpfs(size: string): string | null {
  const dir = join(tmp, `mnt-${mounts.length}`);
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  mounts.push(dir);
  return dir;
}
const canMount = process.getuid?.() === 0 && tmpfs('64k') !== null;
const MOUNT_SKIP = 'read-only and full file systems are simulated with a tmpfs mount, which needs root: skipped';

describe.skipIf(!canMount)('reports on read-only and full file systems (tmpfs)', () => {
  if (!canMount) console.warn(MOUNT_SKIP);

  it('read-only file system: scan gives a clear error (exit 2); summary and watchlist still read the report', async () => {
    const dir = tmpfs('4m')!;
    const db = join(dir, 'r.sqlite');
    expect((await cli('scan', CAPTURE, '--db', db)).rc).toBe(0);
    const ref = await cli('summary', '--db', db);
    execFileSync('mount', ['-o', 'remount,ro', dir]);
    const before = sha(db);
    const s = await cli('scan', CAPTURE, '--db', db);
    expect(s.err).not.toMatch(/internal error/);
    expect(s.rc).toBe(2);
    expect(s.err).toMatch(/cannot write report .*r\.sqlite: .*read-only/);
    const sum = await cli('summary', '--db', db);
    expect(sum.err).toBe('');
    expect(sum.rc).toBe(0);
    expect(sum.out).toBe(ref.out);
    const wl = await cli('watchlist', '--db', db);
    expect(wl.rc).toBe(0);
    expect(wl.out).toMatch(/ high /);
    expect(sha(db)).toBe(before);
  });

  it('a full file system while a new report is laid out: a clear error (exit 2), no half-made report', async () => {
    // 64 KiB, nearly filled first: SQLite's schema pages do not fit.
    const dir = tmpfs('64k')!;
    writeFileSync(join(dir, 'filler'), new Uint8Array(56 * 1024));
    const db = join(dir, 'r.sqlite');
    const s = await cli('scan', CAPTURE, '--db', db);
    expect(s.err).not.toMatch(/internal error/);
    expect(s.rc).toBe(2);
    expect(s.err).toMatch(/r\.sqlite.*(database or disk is full|disk I\/O error|No space left)/);
    // Whatever is left is not taken for a report with missing tables.
    const sum = await cli('summary', '--db', db);
    expect(sum.rc).toBe(2);
    expect(sum.err).toMatch(/not a minerwatch report|cannot (read|open) report/);
  });

  it('a file system that fills up during the scan: one clear line (exit 3), the run marked failed; with space again the same command gives the clean report', async () => {
    const big = join(tmp, 'many-flows.pcap');
    // About 24,000 flows with the short timeouts below: a report of several MiB, written in batches.
    generateBenchCapture(big, 100e6, 4242);
    const args = (db: string): string[] => ['scan', big, '--db', db, '--idle-timeout', '2', '--active-timeout', '60'];
    const cleanDb = join(tmp, 'fill-clean.sqlite');
    expect((await cli(...args(cleanDb))).rc).toBe(0);
    // Room for some batches of flows, not for all of them.
    const dir = tmpfs('3m')!;
    const db = join(dir, 'r.sqlite');
    const s = await cli(...args(db));
    expect(s.err).not.toMatch(/internal error/);
    expect(s.rc).toBe(3);
    expect(s.err).toMatch(/cannot write report .*r\.sqlite \(writing run 1\): database or disk is full\. What was committed before stays consistent; this run is marked failed/);
    expect(s.err.trim().split('\n')).toHaveLength(1);
    // Readers say the report holds an input that is not whole.
    const sum = await cli('summary', '--db', db);
    expect(sum.rc).toBe(0);
    expect(sum.out).toMatch(/incomplete input/);
    expect(sum.out).toContain('many-flows.pcap');
    execFileSync('mount', ['-o', 'remount,size=256m', dir]);
    const again = await cli(...args(db));
    expect(again.rc, again.err).toBe(0);
    expect(again.err).toMatch(/run 1 in .*r\.sqlite did not finish \(the report could not be written\)/);
    const table = (path: string) => {
      const d = new Database(path, { readonly: true });
      const r = {
        flows: d.prepare("SELECT client, client_port, server, server_port, first_seen, packets_c2s, packets_s2c, label, confidence FROM flows ORDER BY 1, 2, 3, 4, 5").all(),
        subscribers: d.prepare('SELECT subscriber, mining_flows, confidence, servers FROM subscribers ORDER BY subscriber').all(),
        inputs: d.prepare('SELECT status, packets, sha256 FROM inputs WHERE status != \'removed\'').all(),
      };
      d.close();
      return r;
    };
    const clean = table(cleanDb);
    expect((clean.flows as unknown[]).length).toBeGreaterThan(10_000);
    expect(table(db)).toEqual(clean);
  }, 120_000);
});
