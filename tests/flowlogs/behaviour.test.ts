/**
 * Flow-only evidence per subscriber, end to end: the captures of fixtures/flowlogs/ (miners and
 * benign long-lived applications, see its README) are exported by softflowd into nfcapd on
 * 127.0.0.1, printed with `nfdump -o csv`, scanned by the CLI with a test intel list, and the
 * watch list must name exactly the miners. These tests state what must happen, from how miners
 * and the benign applications behave; they are not derived from what the scanner does today.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';

import { CAPTURE_DAY_MS, LISTED_POOL_ENDPOINTS, buildFlowlogFixtures, testIntelYaml, type FlowlogFixture } from '../../scripts/gen-flowlog-fixtures.js';
import { ROOT } from '../helpers.js';
import { exportToDatagramCapture, exportToNfdumpCsv, missingFlowTools, readNfdumpCsv, type ExportVersion, type NfdumpRecord } from '../support/softflowd.js';

const FIXTURES = join(ROOT, 'fixtures', 'flowlogs');
const BIN = join(ROOT, 'bin', 'minerwatch');
const MISSING = missingFlowTools();
const built = buildFlowlogFixtures();
const fixtures = built.fixtures;
const positives = fixtures.filter((f) => f.verdict === 'listed');
const negatives = fixtures.filter((f) => f.verdict === 'absent');
const byFile = (prefix: string): FlowlogFixture => fixtures.find((f) => f.file.startsWith(prefix))!;

const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };

/** What a listed row's evidence must say, per positive fixture (case-insensitive patterns). */
const HOURS_CONNECTED = /\d+(\.\d+)?\s*(h|hours?)(?![a-z])|\d+\s*min/i;
const EVIDENCE_TRAITS: Record<string, RegExp[]> = {
  // A sustained bidirectional session to an exact listed pool IP:port, and how long it lasted.
  p1: [/203\.0\.113\.10:3333/, /listed/i, HOURS_CONNECTED],
  p2: [/203\.0\.113\.20:45700/, /listed/i, HOURS_CONNECTED],
  // Many distinct listed pool endpoints: fifteen.
  p3: [/\b15\b/, /listed/i, /distinct|endpoints/i],
  p4: [/203\.0\.113\.40:443/, /listed/i, HOURS_CONNECTED],
};

interface WatchRow {
  subscriber: string;
  confidence: string;
  servers: string[];
  evidence: string;
}

function cli(args: string[], nodeFlags: readonly string[] = []): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...nodeFlags, BIN, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of the bundled rules plus the test intel list (endpoints/test-intel.yaml). */
function rulesWithTestIntel(dir: string): string {
  const rules = join(dir, 'rules');
  cpSync(join(ROOT, 'rules'), rules, { recursive: true });
  writeFileSync(join(rules, 'endpoints', 'test-intel.yaml'), testIntelYaml());
  return rules;
}

/** Scans `input` into a fresh report and returns the watch list (default minimum: medium). */
function scanAndList(input: string, rules: string, dir: string, extra: string[] = [], nodeFlags: readonly string[] = []): { rows: WatchRow[]; scanOutput: string; miningSaid: number; miningHeld: number } {
  const db = join(dir, 'report.sqlite');
  const scan = cli(['scan', input, '--db', db, '--rules', rules, ...extra], nodeFlags);
  if (scan.status !== 0) throw new Error(`minerwatch scan exited ${scan.status}: ${scan.stderr}${scan.stdout}`);
  const list = cli(['watchlist', '--db', db, '--format', 'json']);
  if (list.status !== 0) throw new Error(`minerwatch watchlist exited ${list.status}: ${list.stderr}`);
  // The scan's last line: "N flows, M mining; …".
  const said = /(\d+) flows, (\d+) mining;/.exec(scan.stdout);
  const d = new Database(db, { readonly: true });
  const miningHeld = d.prepare("SELECT count(*) FROM flows WHERE label = 'mining'").pluck().get() as number;
  d.close();
  return { rows: JSON.parse(list.stdout) as WatchRow[], scanOutput: scan.stdout + scan.stderr, miningSaid: said ? Number(said[2]) : -1, miningHeld };
}

const fixturePaths = fixtures.map((f) => join(FIXTURES, f.file));

let buildError: string | null = null;

beforeAll(() => {
  if (MISSING) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) buildError = `npm run build exited ${r.status}: ${r.stdout}${r.stderr}`;
}, 320_000);

describe('flow-log fixtures', () => {
  it('are up to date with scripts/gen-flowlog-fixtures.ts (the captures inside the gzip)', () => {
    for (const [file, data] of built.files) {
      const committed = gunzipSync(readFileSync(join(FIXTURES, file)));
      expect(Buffer.compare(committed, Buffer.from(data)) === 0, `${file} differs: run the generator`).toBe(true);
    }
  });

  it('are small and listed in their README', () => {
    const readme = readFileSync(join(FIXTURES, 'README.md'), 'utf8');
    let total = 0;
    for (const f of fixtures) {
      total += readFileSync(join(FIXTURES, f.file)).length;
      expect(readme, f.file).toContain(f.file);
    }
    expect(total).toBeLessThan(800 * 1024);
  });

  it('give every subscriber its own address in 100.64.0.0/10 and every server a documentation address', () => {
    expect(new Set(fixtures.map((f) => f.subscriber)).size).toBe(fixtures.length);
    for (const f of fixtures) {
      expect(f.subscriber, f.file).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/);
      for (const c of f.conversations) expect(c.server, f.file).toMatch(/^(203\.0\.113|198\.51\.100)\.\d+$/);
    }
  });
});

describe.skipIf(MISSING !== null)('softflowd → nfcapd → nfdump CSV of the flow-log fixtures (NetFlow v9, 30-min active timeout)', () => {
  let records: NfdumpRecord[] = [];
  const of = (f: FlowlogFixture): NfdumpRecord[] => records.filter((r) => r.srcAddr === f.subscriber || r.dstAddr === f.subscriber);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-flowlogs-facts-'));
    const result = await exportToNfdumpCsv(fixturePaths, join(dir, 'v9.csv'), { version: 9, activeTimeoutS: 1800 });
    records = readNfdumpCsv(result.csv);
  }, 300_000);

  it('account for every packet and byte of every capture', () => {
    for (const f of fixtures) {
      const mine = of(f);
      expect(mine.reduce((n, r) => n + r.packets, 0), f.file).toBe(f.packets);
      expect(mine.reduce((n, r) => n + r.bytes, 0), f.file).toBe(f.ipBytes);
    }
  });

  it('hold exactly the conversations of each capture, both directions, on the capture day', () => {
    for (const f of fixtures) {
      const keys = new Set(of(f).map((r) => `${r.protocol} ${r.srcAddr}:${r.srcPort} ${r.dstAddr}:${r.dstPort}`));
      const expected = new Set(
        f.conversations.flatMap((c) => {
          const proto = c.transport.toUpperCase();
          return [`${proto} ${f.subscriber}:${c.clientPort} ${c.server}:${c.serverPort}`, `${proto} ${c.server}:${c.serverPort} ${f.subscriber}:${c.clientPort}`];
        }),
      );
      expect([...keys].sort(), f.file).toEqual([...expected].sort());
      for (const r of of(f)) {
        // nfdump prints whole seconds; v9 times are kept to the millisecond of the exporter's uptime.
        expect(r.first, f.file).toBeGreaterThanOrEqual(CAPTURE_DAY_MS - 2_000);
        expect(r.last, f.file).toBeLessThan(CAPTURE_DAY_MS + 86_400_000);
      }
    }
  });

  it('cut the 3-hour pool connection of fixture 1 at the active timeout: at least 6 records each way, none much over 30 min', () => {
    const f = byFile('p1-');
    const up = of(f).filter((r) => r.srcAddr === f.subscriber && r.dstPort === 3333);
    const down = of(f).filter((r) => r.dstAddr === f.subscriber && r.srcPort === 3333);
    expect(up.length).toBeGreaterThanOrEqual(6);
    expect(down.length).toBeGreaterThanOrEqual(6);
    // softflowd cuts at the first packet after 30 min (it checks between batches of 16 packets).
    for (const r of [...up, ...down]) expect(r.durationS).toBeLessThanOrEqual(1800 + 300);
    const starts = up.map((r) => r.first).sort((a, b) => a - b);
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThan(2.5 * 3_600_000);
  });

  it('show the pool port of fixture 2 (45700) above the client port (40012) in both directions', () => {
    const f = byFile('p2-');
    expect(of(f).every((r) => (r.srcPort === 40012 && r.dstPort === 45700) || (r.srcPort === 45700 && r.dstPort === 40012))).toBe(true);
    expect(of(f).filter((r) => r.srcPort === 40012).length).toBeGreaterThanOrEqual(4);
  });

  it('show fixture 3 reaching 15 distinct listed pool endpoints, each with packets both ways', () => {
    const f = byFile('p3-');
    const listed = new Set(LISTED_POOL_ENDPOINTS.map((e) => `${e.ip}:${e.port}`));
    const reached = new Set(of(f).filter((r) => r.srcAddr === f.subscriber).map((r) => `${r.dstAddr}:${r.dstPort}`));
    const answered = new Set(of(f).filter((r) => r.dstAddr === f.subscriber).map((r) => `${r.srcAddr}:${r.srcPort}`));
    expect(reached.size).toBe(15);
    for (const e of reached) {
      expect(listed.has(e), e).toBe(true);
      expect(answered.has(e), e).toBe(true);
    }
  });

  it('show the short visits (fixtures h and i) as one record each way lasting seconds', () => {
    for (const f of [byFile('n-h-'), byFile('n-i-')]) {
      expect(of(f).length, f.file).toBe(2);
      for (const r of of(f)) expect(r.durationS, f.file).toBeLessThan(10);
    }
  });

  it('show the game (fixture d) at a rate no pool session has: over 200 packets a minute', () => {
    const f = byFile('n-d-');
    const packets = of(f).reduce((n, r) => n + r.packets, 0);
    expect(packets / 60).toBeGreaterThan(200);
  });
});

/**
 * The verdicts, for each way an operator gets the records: nfdump CSV of NetFlow v9 (the main
 * case), of IPFIX and of NetFlow v5, and captures of the v9 and IPFIX export datagrams themselves.
 * softflowd's templates are read by a reader made as code for each template
 * (src/decode/templates/reader.ts); under `--disallow-code-generation-from-strings` (a hardened
 * Node) the scan reads them with the reader that makes no code, and must say the same.
 */
const ROUTES: Array<{ name: string; version: ExportVersion; datagrams: boolean; nodeFlags?: string[] }> = [
  { name: 'NetFlow v9 → nfcapd → nfdump CSV', version: 9, datagrams: false },
  { name: 'IPFIX → nfcapd → nfdump CSV', version: 10, datagrams: false },
  { name: 'NetFlow v5 → nfcapd → nfdump CSV', version: 5, datagrams: false },
  { name: 'a capture of NetFlow v9 export datagrams', version: 9, datagrams: true },
  { name: 'a capture of IPFIX export datagrams', version: 10, datagrams: true },
  { name: 'a capture of NetFlow v9 export datagrams, on a Node that makes no code from text', version: 9, datagrams: true, nodeFlags: ['--disallow-code-generation-from-strings'] },
];

describe.skipIf(MISSING !== null).each(ROUTES)('minerwatch scan of $name: the watch list names exactly the miners', ({ version, datagrams, nodeFlags = [] }) => {
  let rows: WatchRow[] = [];
  let mining = { said: -1, held: -1 };
  let setupError: string | null = null;
  const row = (f: FlowlogFixture): WatchRow | undefined => rows.find((r) => r.subscriber === f.subscriber);

  beforeAll(async () => {
    if (buildError) {
      setupError = buildError;
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), `minerwatch-flowlogs-v${version}-`));
    const rules = rulesWithTestIntel(dir);
    if (datagrams) {
      const out = await exportToDatagramCapture(fixturePaths, join(dir, 'exports.pcap'), { version, activeTimeoutS: 1800 });
      const r = scanAndList(out.pcap, rules, dir, ['--collector-port', String(out.port)], nodeFlags);
      rows = r.rows;
      mining = { said: r.miningSaid, held: r.miningHeld };
    } else {
      const out = await exportToNfdumpCsv(fixturePaths, join(dir, 'flows.csv'), { version, activeTimeoutS: 1800 });
      const r = scanAndList(out.csv, rules, dir);
      rows = r.rows;
      mining = { said: r.miningSaid, held: r.miningHeld };
    }
  }, 300_000);

  const ready = (): void => {
    if (setupError) throw new Error(setupError);
  };

  it.each(positives.map((f) => [f.file, f] as const))('%s: the miner is listed at medium or above', (_file, f) => {
    ready();
    const r = row(f);
    expect(r, `${f.subscriber} missing from the watch list: ${JSON.stringify(rows.map((x) => x.subscriber))}`).toBeDefined();
    expect(RANK[r!.confidence] ?? 0).toBeGreaterThanOrEqual(RANK.medium!);
    for (const c of f.conversations.slice(-1)) expect(r!.servers).toContain(`${c.server}:${c.serverPort}`);
  });

  it.each(positives.map((f) => [f.file, f] as const))('%s: the listed row\'s evidence names the traits', (file, f) => {
    ready();
    const r = row(f);
    expect(r, `${f.subscriber} missing from the watch list`).toBeDefined();
    for (const trait of EVIDENCE_TRAITS[file.slice(0, 2)]!) expect(r!.evidence, `${f.subscriber}: ${trait}`).toMatch(trait);
  });

  it.each(negatives.map((f) => [f.file, f] as const))('%s: the subscriber is not listed', (_file, f) => {
    ready();
    expect(row(f), JSON.stringify(row(f))).toBeUndefined();
  });

  it('says the mining flows the report holds after the close (which adds flow-log evidence up), not those of the first classification', () => {
    ready();
    // Each miner listed at medium or above holds at least one mining flow.
    expect(mining.held).toBeGreaterThanOrEqual(positives.length);
    expect(mining.said).toBe(mining.held);
  });

  it('lists no server and no one else: only the miners\' addresses', () => {
    ready();
    const allowed = new Set(positives.map((f) => f.subscriber));
    expect(rows.map((r) => r.subscriber).filter((s) => !allowed.has(s))).toEqual([]);
  });
});

if (MISSING) console.warn(`flow-log behaviour tests skipped: ${MISSING}`);
