/** One identity per input: a file named twice, or the same content under another name, is read once. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { hashRequests } from '../../src/io/hash.js';
import { ethernet, ipv4, LinkType, pcapFile, udp } from '../support/builders.js';
import { mulberry32 } from '../support/random.js';
import { FIXTURES, ROOT, runMain, waitFor } from '../helpers.js';


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
  // Files of their own (a file this process hashed before, in another test, would be known), made
  // first: a digest is remembered only for a file whose times are 2 s old when it is hashed.
  const OFFICE = join(tmp, 'sizes-office.pcap');
  const HOME = join(tmp, 'sizes-home.pcapng');
  const SAME_SIZE = join(tmp, 'office-changed.pcap');
  const REWRITTEN = join(tmp, 'rewritten.pcap');
  const GZ = join(tmp, 'office.pcap.gz');
  beforeAll(async () => {
    copyFileSync(join(FIXTURES, 'demo/office.pcap'), OFFICE);
    copyFileSync(join(FIXTURES, 'demo/home-miners.pcapng'), HOME);
    const bytes = readFileSync(OFFICE);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(SAME_SIZE, bytes);
    copyFileSync(OFFICE, REWRITTEN);
    writeFileSync(GZ, gzipSync(readFileSync(OFFICE)));
    const files = [OFFICE, HOME, SAME_SIZE, REWRITTEN, GZ];
    await waitFor(() => files.every((f) => Date.now() - statSync(f).ctimeMs > 2100), { what: 'the test files\' times to be 2 s old', timeoutMs: 10_000, intervalMs: 100 });
  });

  it('are those whose size is that of an input the report holds complete; others are hashed as they are read', async () => {
    expect(statSync(HOME).size).not.toBe(statSync(OFFICE).size);
    const db = join(tmp, 'sizes.sqlite');
    // Into a new report: hashed once, as it is read.
    expect(await scan(OFFICE, db)).toEqual({ hashed: 1, err: '', sha256: [sha(OFFICE)] });
    // A capture of another size: the report cannot hold its content, so it is read at once and hashed once.
    expect(await scan(HOME, db)).toEqual({ hashed: 1, err: '', sha256: [sha(HOME)] });
    // Other content of the same size as one the report holds: hashed first (not the same), then
    // read, and not hashed again as it is read (the file is as it was when hashed).
    expect(await scan(SAME_SIZE, db)).toEqual({ hashed: 1, err: '', sha256: [sha(SAME_SIZE)] });
    // The same content again, under another name: hashed first, and not read.
    const copy = join(tmp, 'home-again.pcapng');
    copyFileSync(HOME, copy);
    const again = await scan(copy, db);
    expect(again.hashed).toBe(1);
    expect(again.sha256).toEqual([]);
    expect(again.err).toMatch(/home-again\.pcapng: already in .* not scanned again/);
    const d = new Database(db, { readonly: true });
    expect(d.prepare("SELECT path, size, sha256 FROM inputs WHERE status = 'complete' ORDER BY id").all()).toEqual(
      [OFFICE, HOME, SAME_SIZE].map((p) => ({ path: p, size: statSync(p).size, sha256: sha(p) })),
    );
    d.close();
  });

  it('a file written after it was hashed is hashed again, and a file written within 2 s is hashed as it is read too', async () => {
    const db = join(tmp, 'rewritten.sqlite');
    expect(await scan(REWRITTEN, db)).toEqual({ hashed: 1, err: '', sha256: [sha(REWRITTEN)] });
    // The same size, other bytes, written after that scan hashed it: hashed before the scan (its
    // size is a complete input's), found new, and read; written just now, it is hashed again as it
    // is read (a write in the same clock tick would leave its times as they were).
    const bytes = readFileSync(REWRITTEN);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(REWRITTEN, bytes);
    expect(await scan(REWRITTEN, db)).toEqual({ hashed: 2, err: '', sha256: [sha(REWRITTEN)] });
  });

  it('a gzipped input is hashed on the hashing thread, as stored, and known again', async () => {
    const db = join(tmp, 'gz.sqlite');
    expect(await scan(GZ, db)).toEqual({ hashed: 1, err: '', sha256: [sha(GZ)] });
    const again = await scan(GZ, db);
    expect(again.hashed).toBe(0);
    expect(again.err).toMatch(/office\.pcap\.gz: already in .* not scanned again/);
  });
});

describe('a gzipped input corrupt part-way', () => {
  it('is read as far as it decompresses, and its digest is the whole file\'s, not marked changed while reading', async () => {
    // About 6 MB of packets with random payloads (gzip cannot shrink them), corrupted 200 kB in.
    const rnd = mulberry32(0x6a5);
    const packets = Array.from({ length: 4_000 }, (_, i) => ({
      ts: 1_750_000_000_000 + i,
      data: ethernet(ipv4('100.64.0.9', '198.51.100.7', 17, udp(40000 + (i % 100), 443, Uint8Array.from({ length: 1400 }, () => Math.floor(rnd() * 256))))),
    }));
    const gz = gzipSync(pcapFile(LinkType.ETHERNET, packets), { level: 1 });
    gz.fill(0xff, 200_000, 200_256);
    const file = join(tmp, 'corrupt.pcap.gz');
    writeFileSync(file, gz);
    const r = await runMain(['scan', file, '--db', join(tmp, 'corrupt.sqlite'), '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { inputs: Array<{ sha256: string; packets: number; anomalies: Record<string, number> }> };
    expect(j.inputs[0]!.anomalies['input.bad_gzip']).toBe(1);
    expect(j.inputs[0]!.packets).toBeLessThan(packets.length);
    expect(j.inputs[0]!.sha256).toBe(createHash('sha256').update(gz).digest('hex'));
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
    // A digest is remembered only for a file whose times are 2 s old when it is hashed.
    await waitFor(() => [a, b].every((f) => Date.now() - statSync(f).ctimeMs > 2100), { what: 'the captures\' times to be 2 s old', timeoutMs: 10_000, intervalMs: 100 });
    const db = join(tmp, 'workers.sqlite');
    // Into a new report: each of the 2 workers reads it, and it is hashed once as it is read (3
    // reads, and the process's own files: its modules, the report).
    const first = await readBytes(['scan', a, '--db', db, '--workers', '2']);
    expect(first).toBeGreaterThan(3 * size);
    expect(first).toBeLessThan(3.5 * size);
    // Hashed before the scan, then read by each worker: 3 reads again, not 4.
    const second = await readBytes(['scan', b, '--db', db, '--workers', '2']);
    expect(second).toBeGreaterThan(3 * size);
    expect(second).toBeLessThan(3.5 * size);
  }, 120_000);
});

describe('standard input is hashed as it is read', () => {
  const BIN = join(ROOT, 'bin', 'minerwatch');
  const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
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
