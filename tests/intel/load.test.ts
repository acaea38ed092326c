/**
 * `--intel` loading: a report made by the real scan (built CLI, `node bin/minerwatch scan`) over
 * fixtures with plaintext pool sessions gives the proven pool endpoints, dated by their first
 * packet, with flow ids that lead back into the report, and leaves the report's bytes alone.
 * Expected endpoints come from fixtures/expected.json (the fixtures' own specification) and the
 * dates from tshark where installed; folders are checked with files written here.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, RuleError } from '../../src/errors.js';
import { loadIntel } from '../../src/rules/intel.js';
import { FIXTURES, ROOT } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-intel-load-'));
const report = join(tmp, 'report.sqlite');
const none = { exclude: (): boolean => false };

/** The RuleError loading the folder `dir` throws (the test fails when it throws none, or another error). */
function ruleErrorOf(dir: string, what?: string): RuleError {
  let err: unknown;
  try {
    loadIntel([dir], none);
  } catch (e) {
    err = e;
  }
  expect(err, what).toBeInstanceOf(RuleError);
  return err as RuleError;
}

/** Inputs scanned: Stratum sessions to one server in many files, the demo's three pools, and a pool known by name only. */
const INPUTS = ['link', 'formats', 'demo', 'names/pool-dns.pcap'];

interface ExpectedMining {
  server: string;
  serverPort: number;
  family: string;
}

/** Per server:port, how many conversations the fixtures' specification says prove a pool by protocol bytes. */
function expectedProven(): Map<string, number> {
  const spec = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { mining?: ExpectedMining[] }>;
  const out = new Map<string, number>();
  for (const [file, v] of Object.entries(spec)) {
    if (!INPUTS.some((i) => file === i || file.startsWith(`${i}/`))) continue;
    for (const m of v.mining ?? []) if (m.family) out.set(`${m.server}|${m.serverPort}`, (out.get(`${m.server}|${m.serverPort}`) ?? 0) + 1);
  }
  return out;
}

const HAVE_TSHARK = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;
if (!HAVE_TSHARK) console.warn('tshark not installed (Debian package tshark): first-packet dates taken from fixtures/README.md instead');

/** UTC date of the first SYN to `port` in a capture, read by tshark; else the date fixtures/README.md gives every fixture (first packet 2023-11-14T22:13:20Z). */
function firstSynDate(file: string, port: number): string {
  if (!HAVE_TSHARK) return '2023-11-14';
  const r = spawnSync('tshark', ['-r', join(FIXTURES, file), '-Y', `tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.dstport==${port}`, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8', timeout: 60_000 });
  const first = r.stdout.trim().split('\n')[0]!;
  return new Date(Number(first) * 1000).toISOString().slice(0, 10);
}

const sha256 = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('loadIntel on a minerwatch report', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/cli/minerwatch.js'))) spawnSync('npm', ['run', 'build'], { cwd: ROOT, timeout: 300_000 });
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/minerwatch'), 'scan', ...INPUTS.map((i) => join(FIXTURES, i)), '--db', report], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
  });

  it('learns one ip:port entry per proven pool endpoint, dated by its first proving flow, with flow ids from the report', () => {
    const before = sha256(report);
    const { entries, sources } = loadIntel([report], none);
    expect(sha256(report)).toBe(before);
    const proven = expectedProven();
    expect(proven.get('203.0.113.77|10128')).toBeUndefined(); // names only: never learned
    expect(sources).toEqual([{ path: report, kind: 'report', entries: proven.size, sha256: before, skipped: 0 }]);
    // Sorted like an endpoint file: IPv4 before IPv6, numerically, then port.
    expect(entries.map((e) => e.match)).toEqual([
      { ip: '198.51.100.20', port: 4444 },
      { ip: '203.0.113.5', port: 3333 },
      { ip: '203.0.113.10', port: 3333 },
      { ip: '2001:db8::5', port: 3333 },
      { ip: '2001:db8::3333', port: 8008 },
    ]);
    expect(new Set(entries.map((e) => `${(e.match as { ip: string }).ip}|${(e.match as { port: number }).port}`))).toEqual(new Set(proven.keys()));

    const db = new Database(report, { readonly: true });
    try {
      for (const e of entries) {
        const { ip, port } = e.match as { ip: string; port: number };
        expect(e.kind).toBe('pool');
        expect(e.dates).toBe('observed');
        const n = proven.get(`${ip}|${port}`)!;
        const m = new RegExp(`^learned from report ${report.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(sha256 ${before.slice(0, 12)}\\): flows ((?:#\\d+, )*#\\d+)(, …)? \\((\\d+) in all\\)$`).exec(e.source);
        expect(m, e.source).not.toBeNull();
        expect(Number(m![3])).toBe(n);
        const ids = m![1]!.split(', ').map((x) => Number(x.slice(1)));
        expect(ids.length).toBe(Math.min(n, 10));
        expect(m![2] !== undefined).toBe(n > 10);
        // Every listed id is a mining flow to this endpoint in the report, earliest first.
        const rows = ids.map((id) => db.prepare('SELECT server, server_port, label, first_seen FROM flows WHERE id = ?').get(id) as { server: string; server_port: number; label: string; first_seen: number });
        for (const row of rows) expect(row).toMatchObject({ server: ip, server_port: port, label: 'mining' });
        for (let i = 1; i < rows.length; i++) expect(rows[i]!.first_seen).toBeGreaterThanOrEqual(rows[i - 1]!.first_seen);
      }
    } finally {
      db.close();
    }
    const at = (ip: string, port: number) => entries.find((e) => 'ip' in e.match && e.match.ip === ip && e.match.port === port)!;
    expect(at('203.0.113.10', 3333).added).toBe(firstSynDate('demo/home-miners.pcapng', 3333));
    expect(at('198.51.100.20', 4444).added).toBe(firstSynDate('demo/home-miners.pcapng', 4444));
    expect(at('203.0.113.5', 3333).added).toBe(firstSynDate('link/ethernet.pcap', 3333));
    // The Monero session names its coin (fixtures/README.md: XMRig logs in to a Monero pool).
    expect(at('203.0.113.10', 3333).coins).toEqual(['XMR']);
    expect(at('203.0.113.10', 3333).pool).toBe('unknown');
  });

  it('skips and counts addresses the exclude list covers', () => {
    const { entries, sources } = loadIntel([report], { exclude: (a) => a === '203.0.113.5' || a === '2001:db8::5' });
    expect(entries.map((e) => e.match)).toEqual([
      { ip: '198.51.100.20', port: 4444 },
      { ip: '203.0.113.10', port: 3333 },
      { ip: '2001:db8::3333', port: 8008 },
    ]);
    expect(sources[0]).toMatchObject({ kind: 'report', entries: 3, skipped: 2 });
  });

  it('refuses a SQLite database that is not a minerwatch report, and a file that is not SQLite', () => {
    const other = join(tmp, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE flows (id INTEGER PRIMARY KEY, server TEXT)');
    db.close();
    expect(() => loadIntel([other], none)).toThrow(InputError);
    expect(() => loadIntel([other], none)).toThrow(`${other}: at byte 0: a SQLite database but not a minerwatch report (no meta table with a schema_version)`);
    const text = join(tmp, 'notes.txt');
    writeFileSync(text, 'pool.example.org 3333\n');
    expect(() => loadIntel([text], none)).toThrow(InputError);
    expect(() => loadIntel([text], none)).toThrow(/notes\.txt: at byte 0: not intel: expected a folder of endpoint YAML files .* or a minerwatch report \(a SQLite file, starting "SQLite format 3\\0"\); got "pool\.example\.org"/);
    expect(() => loadIntel([join(tmp, 'missing.sqlite')], none)).toThrow(/missing\.sqlite: at byte 0: cannot open intel: ENOENT/);
  });
});

describe('loadIntel on a folder', () => {
  it('keeps each entry\'s own date and source, and skips excluded addresses', () => {
    const dir = join(tmp, 'folder-good');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'seen.yaml'),
      `source: "analyst notes"
added: 2026-03-01
kind: pool
entries:
  - domain: "stratum.example-pool.org"
    pool: "ExamplePool"
    coins: ["XMR"]
  - ip: "104.16.1.1"
    pool: "ExamplePool"
  - ip: "198.51.100.7"
    port: 3333
    pool: "ExamplePool"
    added: 2025-12-24
    source: "seen in incident 42"
`,
    );
    const { entries, sources } = loadIntel([dir], { exclude: (a) => a === '104.16.1.1' });
    expect(entries.map((e) => [e.match, e.added, e.source, e.origin])).toEqual([
      [{ domain: 'stratum.example-pool.org' }, '2026-03-01', 'analyst notes', { file: join(dir, 'seen.yaml'), line: 5 }],
      [{ ip: '198.51.100.7', port: 3333 }, '2025-12-24', 'seen in incident 42', { file: join(dir, 'seen.yaml'), line: 10 }],
    ]);
    expect(sources).toEqual([{ path: dir, kind: 'folder', entries: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), skipped: 1 }]);
  });

  it('throws a RuleError naming the file and line of a bad entry', () => {
    const dir = join(tmp, 'folder-bad');
    mkdirSync(dir);
    writeFileSync(join(dir, 'bad.yaml'), 'source: "x"\nadded: 2026-03-01\nentries:\n  - ip: "198.51.100.7"\n    pool: "P"\n  - ip: "999.1.1.1"\n    pool: "P"\n');
    const err = ruleErrorOf(dir);
    expect(err.file).toBe(join(dir, 'bad.yaml'));
    expect(err.line).toBe(6);
    expect(err.message).toBe(
      `${join(dir, 'bad.yaml')}:6: entries[1].ip: expected an IPv4 address as four decimal parts without leading zeros (198.51.100.7) or an IPv6 address (2001:db8::1, no zone index), got "999.1.1.1"`,
    );
  });

  // ipaddr.js, which read these before, takes 045.076.012.001 as octal (37.62.10.1), 1.2.3 as
  // 1.2.0.3 and 010.0.0.0/8 as 8.0.0.0/8: a zero-padded list would have listed other hosts.
  it('refuses an address or CIDR another reader would take as a different host, and names the entry', () => {
    const cases: Array<[string, string]> = [
      ['ip: "045.076.012.001"', 'entries[0].ip: expected an IPv4 address as four decimal parts without leading zeros'],
      ['ip: "1.2.3"', 'entries[0].ip: expected an IPv4 address as four decimal parts'],
      ['ip: "fe80::1%eth0"', 'entries[0].ip: expected an IPv4 address'],
      ['cidr: "010.0.0.0/8"', 'entries[0].cidr: expected a CIDR like 203.0.113.0/24'],
      ['cidr: "198.51.100.7"', 'entries[0].cidr: expected a CIDR like 203.0.113.0/24'],
    ];
    for (const [entry, message] of cases) {
      const dir = mkdtempSync(join(tmp, 'folder-form-'));
      writeFileSync(join(dir, 'list.yaml'), `source: "x"\nadded: 2026-03-01\nentries:\n  - ${entry}\n    pool: "P"\n`);
      const err = ruleErrorOf(dir, entry);
      expect(err.line, entry).toBe(4);
      expect(err.message, entry).toContain(message);
    }
  });

  // Date.parse rolled 2026-02-30 over to March 2: the listing's age was then two days off.
  it('refuses a day the calendar does not have, in the file and in an entry', () => {
    for (const [text, line, field] of [
      ['source: "x"\nadded: "2026-02-30"\nentries:\n  - ip: "198.51.100.7"\n    pool: "P"\n', 2, 'added'],
      ['source: "x"\nadded: 2026-03-01\nentries:\n  - ip: "198.51.100.7"\n    pool: "P"\n    added: "2025-13-01"\n', 6, 'entries[0].added'],
    ] as const) {
      const dir = mkdtempSync(join(tmp, 'folder-day-'));
      writeFileSync(join(dir, 'list.yaml'), text);
      expect(ruleErrorOf(dir, field).message, field).toBe(`${join(dir, 'list.yaml')}:${line}: ${field}: expected a date YYYY-MM-DD`);
    }
  });

  it('lists an address as every path writes it: a dotted IPv6 tail as RFC 4291 reads it, IPv4-mapped as IPv4', () => {
    const dir = join(tmp, 'folder-forms');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'list.yaml'),
      'source: "x"\nadded: 2026-03-01\nentries:\n  - ip: "::1.2.3.4"\n    pool: "P"\n  - ip: "::FFFF:198.51.100.7"\n    pool: "P"\n  - ip: "2001:DB8:0:0:0:0:0:1"\n    pool: "P"\n',
    );
    // ::1.2.3.4 is the groups 0102 and 0304 after six zero groups (RFC 4291 §2.2, form 3).
    expect(loadIntel([dir], none).entries.map((e) => e.match)).toEqual([
      { ip: '::102:304', port: null },
      { ip: '198.51.100.7', port: null },
      { ip: '2001:db8::1', port: null },
    ]);
  });
});
