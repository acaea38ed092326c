/**
 * `minerwatch collect` under a seeded flood on 127.0.0.1: 300,000 datagrams, malformed and valid
 * mixed (random bytes, cut NetFlow v5, random v9 templates, v9 data sets whose template never
 * comes, and valid v5 records of 200,000 distinct flows). Its memory levels off at the bound its
 * options give, every valid flow is in the report, and SIGINT ends the run cleanly. While it
 * writes, `summary` and `watchlist` read the same report (WAL) without errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/random.js';
import { ROOT } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
if (!BUILT) console.warn('dist/ not built (npm run build): the collect flood test is skipped');

const TOTAL = 300_000;
const RECORDS_PER_V5 = 2;
/** The collector's defaults (src/collect.ts DEFAULT_COLLECT_LIMITS), restated: the test checks against what the README promises. */
const MAX_FLOWS = 65_536;
const MAX_TEMPLATES = 1024;
const MAX_PENDING_PER_TEMPLATE = 16;
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Flows queued for the report writer between commits (src/report/writer.ts). */
const WRITER_BATCH = 5000;
const MIB = 2 ** 20;

/**
 * What the collector may keep on the JavaScript heap, from its options: 1 KiB per open flow, 64 B
 * per template field (at most 300 in this flood), 256 B of bookkeeping per buffered data set, the
 * buffered bytes, 2 KiB per flow queued for the writer, and 48 MiB for the code and the rule set.
 * The child runs with this as its old-space limit, so keeping more than the options allow would
 * end it with an out-of-memory error (and fail the exit-code check); V8 otherwise collects
 * garbage lazily, up to a limit set by the machine's memory, not by the collector.
 */
const HEAP_MIB = Math.ceil((MAX_FLOWS * 1024 + MAX_TEMPLATES * 300 * 64 + MAX_TEMPLATES * MAX_PENDING_PER_TEMPLATE * 256 + MAX_PENDING_BYTES + WRITER_BATCH * 2048) / MIB) + 48;

const u16 = (b: number[], v: number): void => void b.push((v >>> 8) & 255, v & 255);
const u32 = (b: number[], v: number): void => void b.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);

/** A NetFlow v5 datagram (24-byte header, 48-byte records). `count` may lie (a cut datagram). */
function v5(records: Array<{ src: number; dst: number; sport: number; dport: number }>, unixSecs: number, count = records.length): Buffer {
  const b: number[] = [];
  u16(b, 5);
  u16(b, count);
  u32(b, 100_000);
  u32(b, unixSecs);
  u32(b, 0);
  u32(b, 1);
  b.push(0, 0);
  u16(b, 0);
  for (const r of records) {
    u32(b, r.src);
    u32(b, r.dst);
    u32(b, 0);
    u16(b, 1);
    u16(b, 2);
    u32(b, 3);
    u32(b, 180);
    u32(b, 99_000);
    u32(b, 99_500);
    u16(b, r.sport);
    u16(b, r.dport);
    b.push(0, 0x1b, 6, 0);
    u16(b, 0);
    u16(b, 0);
    b.push(24, 24);
    u16(b, 0);
  }
  return Buffer.from(b);
}

/** A v9 datagram: header, then the given FlowSets. */
function v9(sourceId: number, unixSecs: number, sets: number[][]): Buffer {
  const b: number[] = [];
  u16(b, 9);
  u16(b, sets.length);
  u32(b, 100_000);
  u32(b, unixSecs);
  u32(b, 1);
  u32(b, sourceId);
  for (const s of sets) b.push(...s);
  return Buffer.from(b);
}

interface Flood {
  datagrams: Buffer[];
  /** `client:port>server:port` of every valid record sent (each its own flow). */
  valid: Set<string>;
}

/** Valid flows come from 100.64.0.0/10 to 192.0.2.0/24; everything malformed uses other addresses. */
function flood(seed: number, unixSecs: number): Flood {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const datagrams: Buffer[] = [];
  const valid = new Set<string>();
  let flow = 0;
  const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  const text = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  for (let i = 0; i < TOTAL; i++) {
    const k = rnd();
    if (i % 3 === 0) {
      const recs = [];
      for (let r = 0; r < RECORDS_PER_V5; r++, flow++) {
        const src = ip(100, 64 + ((flow >>> 16) & 63), (flow >>> 8) & 255, flow & 255);
        const dst = ip(192, 0, 2, flow % 200);
        const sport = 20_000 + (flow % 40_000);
        recs.push({ src, dst, sport, dport: 3333 });
        valid.add(`${text(src)}:${sport}>${text(dst)}:3333`);
      }
      datagrams.push(v5(recs, unixSecs));
    } else if (k < 0.25) {
      // Random bytes, some of them behind a plausible version number.
      const len = 4 + int(1400);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = int(256);
      if (rnd() < 0.5) b.writeUInt16BE([5, 9, 10][int(3)]!, 0);
      datagrams.push(b);
    } else if (k < 0.4) {
      // A v5 header promising more records than it carries (cut), from the test range 198.18.0.0/15.
      const n = 1 + int(3);
      const recs = Array.from({ length: n }, () => ({ src: ip(198, 18, int(256), int(256)), dst: ip(198, 19, 0, 1), sport: 1 + int(60_000), dport: 80 }));
      datagrams.push(v5(recs, unixSecs, n + 1 + int(20)).subarray(0, 24 + n * 48 - 1 - int(40)));
    } else if (k < 0.7) {
      // Random templates (many fields) from source ids 1000-1999: each is stored, and evicts.
      const fields = 1 + int(300);
      const body: number[] = [];
      u16(body, 256 + int(65_000));
      u16(body, fields);
      for (let f = 0; f < fields; f++) {
        u16(body, 1 + int(400));
        u16(body, 1 + int(16));
      }
      const set: number[] = [];
      u16(set, 0);
      u16(set, 4 + body.length);
      set.push(...body);
      datagrams.push(v9(1000 + int(1000), unixSecs, [set]));
    } else {
      // Data sets whose template never comes (source ids 5000-5999): buffered, bounded, dropped.
      const len = 4 * (2 + int(100));
      const set: number[] = [];
      u16(set, 256 + int(65_000));
      u16(set, 4 + len);
      for (let j = 0; j < len; j++) set.push(int(256));
      datagrams.push(v9(5000 + int(1000), unixSecs, [set]));
    }
  }
  return { datagrams, valid };
}

function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function startCollector(db: string): Promise<{ child: ChildProcess; port: number; received: () => number; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MIB}`, BIN, 'collect', '--listen', '127.0.0.1:0', '--db', db, '--commit-interval', '0.5', '--stats-interval', '0.05', '--keep-flows', 'all'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let received = 0;
    const timer = setTimeout(() => reject(new Error(`collector did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (c: Buffer) => {
      const s = c.toString();
      // Keep the start and the last lines only: the counters come 20 times a second.
      err = err.length > 20_000 ? err.slice(0, 4000) + '\n…\n' + err.slice(-8000) + s : err + s;
      const all = [...s.matchAll(/datagrams (\d+) /g)];
      if (all.length) received = Number(all[all.length - 1]![1]);
      const m = /collecting NetFlow v5\/v9 and IPFIX on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), received: () => received, stderr: () => err });
      }
    });
    child.on('exit', (code) => reject(new Error(`collector exited ${code}: ${err}`)));
  });
}

function send(s: Socket, port: number, d: Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.send(d, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run a report reader (summary, watchlist) against the report being written. */
function readReport(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr!.on('data', (x: Buffer) => (err += x.toString()));
    c.on('close', (code) => resolve({ code, err }));
  });
}

describe.skipIf(!BUILT)('collect under a flood', () => {
  it('levels off in memory, keeps every valid flow, ends cleanly on SIGINT; summary and watchlist read meanwhile', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'minerwatch-flood-')), 'live.sqlite');
    const { datagrams, valid } = flood(20240601, Math.floor(Date.now() / 1000));
    expect(valid.size).toBe(200_000);
    const { child, port, received, stderr } = await startCollector(db);
    const pid = child.pid!;
    // A failure below must not leave the collector running.
    const ended = new Promise<void>((r) => child.on('close', () => r()));
    try {
      await floodAndCheck();
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await ended;
      }
    }
    async function floodAndCheck(): Promise<void> {
      const baseline = rssKiB(pid)!;
      const samples: Array<{ sent: number; rss: number }> = [];
      const sampler = setInterval(() => {
        const r = rssKiB(pid);
        if (r !== null) samples.push({ sent, rss: r });
      }, 100);
      // Two batches in flight at most, each well inside the kernel's receive buffer: nothing is dropped.
      const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
      const batch = Math.max(100, Math.min(2000, Math.floor(rmemMax / 4 / 2048)));
      const s = createSocket('udp4');
      let sent = 0;
      const readers: Array<Promise<{ code: number | null; err: string }>> = [];
      const started = Date.now();
      try {
        while (sent < datagrams.length) {
          const end = Math.min(datagrams.length, sent + batch);
          for (; sent < end; sent++) await send(s, port, datagrams[sent]!);
          const waitFrom = Date.now();
          while (received() < sent - batch) {
            if (Date.now() - waitFrom > 10_000) throw new Error(`collector stalled at ${received()} of ${sent} datagrams`);
            await sleep(5);
          }
          // Readers of the live report, a few times during the flood.
          if (sent % (batch * 40) < batch && readers.length < 8) {
            readers.push(readReport(['summary', '--db', db]), readReport(['watchlist', '--db', db, '--format', 'csv']));
          }
          expect(Date.now() - started, 'flood time').toBeLessThan(240_000);
        }
        const waitFrom = Date.now();
        while (received() < sent && Date.now() - waitFrom < 10_000) await sleep(20);
      } finally {
        s.close();
        clearInterval(sampler);
      }
      expect(received()).toBe(datagrams.length);

      const closed = new Promise<number | null>((r) => child.on('close', r));
      child.kill('SIGINT');
      const code = await Promise.race([closed, sleep(120_000).then(() => 'timeout' as const)]);
      expect(code, stderr().slice(-2000)).toBe(0);
      expect(stderr()).toMatch(/SIGINT: stopping, finishing open flows/);
      expect(stderr()).not.toMatch(/internal error/);

      // Readers ran while the collector wrote: no errors.
      expect(readers.length).toBeGreaterThanOrEqual(4);
      for (const r of await Promise.all(readers)) {
        // The report's path ends in .sqlite; SQLite's own errors name SQLITE_ codes.
        expect(r.err).not.toMatch(/error|SQLITE_|locked|busy/i);
        expect(r.code).toBe(0);
      }

      // Every valid record is a flow of the report, once; nothing from the malformed datagrams.
      const d = new Database(db, { readonly: true });
      const rows = d.prepare("SELECT client, client_port, server, server_port, records FROM flows WHERE client LIKE '100.%'").all() as Array<{ client: string; client_port: number; server: string; server_port: number; records: number }>;
      // Whole records before the cut of a cut v5 datagram are kept (198.18.0.0/15); random bytes, random templates and orphan data sets give none.
      const other = (d.prepare("SELECT count(*) AS n FROM flows WHERE client NOT LIKE '100.%' AND client NOT LIKE '198.18.%' AND client NOT LIKE '198.19.%'").get() as { n: number }).n;
      const run = d.prepare('SELECT status FROM runs').get() as { status: string };
      const evicted = (d.prepare("SELECT count(*) AS n FROM flows WHERE end_reason = 'evicted'").get() as { n: number } | undefined)?.n;
      d.close();
      expect(rows.length).toBe(valid.size);
      expect(new Set(rows.map((r) => `${r.client}:${r.client_port}>${r.server}:${r.server_port}`))).toEqual(valid);
      expect(rows.every((r) => r.records === 1)).toBe(true);
      expect(other).toBe(0);
      expect(run.status).toBe('complete');
      // More distinct flows than the bound: most were finished early at the bound, not held.
      if (evicted !== undefined) expect(evicted).toBeGreaterThanOrEqual(valid.size - MAX_FLOWS);

      // Memory: the last third of the flood holds no more than the second third (within 15 %), and
      // stays below the bound the options give over the idle process: the heap limit, SQLite's page
      // cache (64 MiB), and 64 MiB for V8's young generation, buffers and native allocations.
      const third = Math.floor(samples.length / 3);
      const peak = (xs: Array<{ rss: number }>): number => Math.max(...xs.map((x) => x.rss));
      const middle = peak(samples.slice(third, 2 * third));
      const last = peak(samples.slice(2 * third));
      const boundKiB = baseline + ((HEAP_MIB + 64 + 64) * MIB) / 1024;
      console.log(`collect flood: ${datagrams.length} datagrams in ${((Date.now() - started) / 1000).toFixed(1)} s (batch ${batch}, heap limit ${HEAP_MIB} MiB); RSS MiB by datagrams sent: ${samples.filter((_, i) => i % 20 === 0).map((x) => `${x.sent}:${Math.round(x.rss / 1024)}`).join(' ')}; baseline ${Math.round(baseline / 1024)}, middle-third peak ${Math.round(middle / 1024)}, last-third peak ${Math.round(last / 1024)}, bound ${Math.round(boundKiB / 1024)}`);
      expect(last).toBeLessThanOrEqual(middle * 1.15);
      expect(last).toBeLessThan(boundKiB);
    }
  }, 400_000);
});
