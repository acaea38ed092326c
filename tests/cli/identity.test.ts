/** One identity per input: a file named twice, or the same content under another name, is read once. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { hashRequests } from '../../src/io/hash.js';
import { FIXTURES, ROOT, runMain } from '../helpers.js';


const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-identity-'));
const OFFICE = join(FIXTURES, 'demo/office.pcap');
// The fixture's own packet count, as the generator wrote it.
const expected = (JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { packets: number }>)['demo/office.pcap']!;

describe('input identity within one scan', () => {
  it('the same file named twice, or through a link, is read once', async () => {
    const link = join(tmp, 'office-link.pcap');
    symlinkSync(OFFICE, link);
    const r = await runMain(['scan', OFFICE, OFFICE, link, '--db', join(tmp, 'twice.sqlite'), '--json']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${OFFICE}: the same file as ${OFFICE}, read once`);
    expect(r.err).toContain(`${link}: the same file as ${OFFICE}, read once`);
    const j = JSON.parse(r.out) as { inputs: Array<{ packets: number }> };
    expect(j.inputs.map((i) => i.packets)).toEqual([expected.packets]);
  });

  it('identical content under another name is recognised and read once', async () => {
    const copy = join(tmp, 'office-copy.pcap');
    copyFileSync(OFFICE, copy);
    const r = await runMain(['scan', OFFICE, copy, '--db', join(tmp, 'copy.sqlite'), '--json']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(new RegExp(`office-copy\\.pcap: same content as .*office\\.pcap \\(sha256 [0-9a-f]{16}…\\), read once`));
    const j = JSON.parse(r.out) as { inputs: Array<{ path: string; packets: number }> };
    expect(j.inputs.map((i) => [i.path, i.packets])).toEqual([[OFFICE, expected.packets]]);
  });
});

describe('inputs hashed before the scan', () => {
  const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
  /** Scan `path` into `db` in this process; how many files were hashed meanwhile, and what was said. */
  const scan = async (path: string, db: string): Promise<{ hashed: number; err: string; sha256: string[] }> => {
    const before = hashRequests();
    const r = await runMain(['scan', path, '--db', db, '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { inputs: Array<{ sha256: string }> };
    return { hashed: hashRequests() - before, err: r.err, sha256: j.inputs.map((i) => i.sha256) };
  };

  it('are those whose size is that of an input the report holds complete; others are hashed as they are read', async () => {
    // Copies of the fixtures: a file this process hashed before (another test) is known unchanged and not hashed again.
    const OFFICE = join(tmp, 'sizes-office.pcap');
    const HOME = join(tmp, 'sizes-home.pcapng');
    copyFileSync(join(FIXTURES, 'demo/office.pcap'), OFFICE);
    copyFileSync(join(FIXTURES, 'demo/home-miners.pcapng'), HOME);
    expect(statSync(HOME).size).not.toBe(statSync(OFFICE).size);
    const db = join(tmp, 'sizes.sqlite');
    // Into a new report: hashed once, as it is read.
    expect(await scan(OFFICE, db)).toEqual({ hashed: 1, err: '', sha256: [sha(OFFICE)] });
    // A capture of another size: the report cannot hold its content, so it is read at once and hashed once.
    expect(await scan(HOME, db)).toEqual({ hashed: 1, err: '', sha256: [sha(HOME)] });
    // Other content of the same size as one the report holds: hashed first (not the same), then
    // read, and not hashed again as it is read (the file is as it was when hashed).
    const sameSize = join(tmp, 'office-changed.pcap');
    const bytes = readFileSync(OFFICE);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(sameSize, bytes);
    expect(await scan(sameSize, db)).toEqual({ hashed: 1, err: '', sha256: [sha(sameSize)] });
    // The same content again, under another name: hashed first, and not read.
    const copy = join(tmp, 'home-again.pcapng');
    copyFileSync(HOME, copy);
    const again = await scan(copy, db);
    expect(again.hashed).toBe(1);
    expect(again.sha256).toEqual([]);
    expect(again.err).toMatch(/home-again\.pcapng: already in .* not scanned again/);
    const d = new Database(db, { readonly: true });
    expect(d.prepare("SELECT path, size, sha256 FROM inputs WHERE status = 'complete' ORDER BY id").all()).toEqual(
      [OFFICE, HOME, sameSize].map((p) => ({ path: p, size: statSync(p).size, sha256: sha(p) })),
    );
    d.close();
  });

  it('a file written after it was hashed is hashed again; a gzipped input is hashed on the hashing thread, as stored', async () => {
    const db = join(tmp, 'rewritten.sqlite');
    const file = join(tmp, 'rewritten.pcap');
    copyFileSync(OFFICE, file);
    expect(await scan(file, db)).toEqual({ hashed: 1, err: '', sha256: [sha(file)] });
    // The same size, other bytes, written after that scan hashed it (the modification time set
    // apart, as a write a clock tick later sets it).
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(file, bytes);
    const { mtimeMs } = statSync(file);
    utimesSync(file, new Date(), new Date(mtimeMs + 5000));
    // Hashed before the scan (its size is a complete input's), found new, and read: its own digest.
    expect(await scan(file, db)).toEqual({ hashed: 1, err: '', sha256: [sha(file)] });
    // A gzipped capture: its stored bytes are hashed once, on the thread, and the same content again is known.
    const gz = join(tmp, 'office.pcap.gz');
    expect(existsSync(gz)).toBe(false);
    writeFileSync(gz, gzipSync(readFileSync(OFFICE)));
    expect(await scan(gz, join(tmp, 'gz.sqlite'))).toEqual({ hashed: 1, err: '', sha256: [sha(gz)] });
    const again = await scan(gz, join(tmp, 'gz.sqlite'));
    expect(again.hashed).toBe(0);
    expect(again.err).toMatch(/office\.pcap\.gz: already in .* not scanned again/);
  });
});

describe('a file hashed before a scan with workers', () => {
  const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
  /** `scan ARGS` by the built CLI in a child process; the bytes its threads read from files in all (Linux `rchar`). */
  const readBytes = (args: string[]): Promise<number> =>
    new Promise((resolve, reject) => {
      // A script file, not --eval: worker threads take the process's flags, and --input-type is refused by them.
      const script = join(tmp, 'rchar.mjs');
      writeFileSync(
        script,
        `const { main } = await import(${JSON.stringify(join(ROOT, 'dist/src/cli/main.js'))}); const code = await main(process.argv.slice(2)); console.error('rchar ' + (await import('node:fs')).readFileSync('/proc/self/io', 'utf8').match(/rchar: (\\d+)/)[1]); process.exitCode = code;`,
      );
      const c = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => (code === 0 && /rchar \d+/.test(err) ? resolve(Number(/rchar (\d+)/.exec(err)![1])) : reject(new Error(`exit ${code}: ${err}`))));
    });

  it.skipIf(!BUILT || !existsSync('/proc/self/io'))('is not hashed again by the worker that hashes inputs', async () => {
    const a = join(tmp, 'workers-a.pcap');
    generateBenchCapture(a, 40e6, 0x1d5, 'subscriber');
    const size = statSync(a).size;
    // The same size, other content: hashed before the scan, found new, and read.
    const b = join(tmp, 'workers-b.pcap');
    const bytes = readFileSync(a);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(b, bytes);
    const db = join(tmp, 'workers.sqlite');
    // Into a new report: each of the 2 workers reads it, and it is hashed once as it is read (3 reads).
    const first = await readBytes(['scan', a, '--db', db, '--workers', '2']);
    expect(first).toBeGreaterThan(3 * size);
    // Hashed before the scan, then read by each worker: 3 reads again, not 4.
    const second = await readBytes(['scan', b, '--db', db, '--workers', '2']);
    expect(Math.abs(second - first)).toBeLessThan(size / 2);
  }, 120_000);
});

describe('standard input is hashed as it is read', () => {
  const BIN = join(ROOT, 'bin', 'minerwatch');
  const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
  /** `scan -` in a child process with `file` piped to its standard input. */
  const piped = (file: string, db: string): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [BIN, 'scan', '-', '--db', db, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => resolve({ code, out, err }));
      c.stdin.end(readFileSync(file));
    });
  const counts = (db: string): { flows: number; mining: number; inputs: number; evidence: number } => {
    const d = new Database(db, { readonly: true });
    const r = d.prepare("SELECT count(*) AS flows, sum(label = 'mining') AS mining, (SELECT count(*) FROM inputs) AS inputs, (SELECT count(*) FROM evidence) AS evidence FROM flows").get() as { flows: number; mining: number; inputs: number; evidence: number };
    d.close();
    return r;
  };

  it.skipIf(!BUILT)('the same capture piped twice is counted once: the second is rolled back and said so', async () => {
    const db = join(tmp, 'stdin-twice.sqlite');
    const miners = join(FIXTURES, 'demo/home-miners.pcapng');
    const a = await piped(miners, db);
    expect(a.code, a.err).toBe(0);
    const once = counts(db);
    expect(once.mining).toBeGreaterThan(0);
    const b = await piped(miners, db);
    expect(b.code, b.err).toBe(0);
    expect(b.err).toMatch(/standard input: already in .*stdin-twice\.sqlite \(sha256 [0-9a-f]{16}…, as -\): its rows were rolled back/);
    const j = JSON.parse(b.out) as { rolledBack: Array<{ path: string; sha256: string }>; alreadyInReport: number };
    expect(j.rolledBack).toHaveLength(1);
    expect(j.rolledBack[0]!.sha256).toBe(createHash('sha256').update(readFileSync(miners)).digest('hex'));
    expect(counts(db)).toEqual(once);
    // A file with the same content, named after the piped copy, is recognised before it is read.
    const c = await runMain(['scan', miners, '--db', db]);
    expect(c.err).toMatch(/home-miners\.pcapng: already in/);
    expect(counts(db)).toEqual(once);
  }, 60_000);

  it.skipIf(!BUILT)('content piped after the same file was scanned is rolled back too', async () => {
    const db = join(tmp, 'file-then-stdin.sqlite');
    expect((await runMain(['scan', OFFICE, '--db', db])).code).toBe(0);
    const once = counts(db);
    const b = await piped(OFFICE, db);
    expect(b.code, b.err).toBe(0);
    expect(b.err).toMatch(new RegExp(`standard input: already in .*\\(sha256 [0-9a-f]{16}…, as ${OFFICE.replace(/[.]/g, '\\.')}\\): its rows were rolled back`));
    expect(counts(db)).toEqual(once);
  }, 60_000);
});
