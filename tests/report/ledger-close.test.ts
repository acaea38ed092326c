/**
 * A scan's close reads back only the subscribers its ledger marked (src/report/ledger.ts) when the
 * report holds no other flow with evidence. Generated NetFlow v9 exports (mining sessions to the
 * pool servers an intel folder lists, among thousands of subscribers with weak suspects) are
 * scanned into an empty report, with the writer thread and without it (each keeps the ledger), and
 * into a report that already holds the demo capture's miners, whose close reads every flow with
 * evidence as before: the exports' flows must carry the same verdicts and evidence in all three.
 * Real CLI in child processes and the built writer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateExportBench, type ExportBenchStats } from '../../bench/gen-exports.js';
import { reportCount, ROOT } from '../helpers.js';

const BIN = join(ROOT, 'bin', 'minerwatch');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'report', 'writer-thread.js')) && existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js')) && existsSync(join(ROOT, 'dist', 'cli', 'writer-thread.js'));
if (!BUILT) console.warn('skipping the ledger close tests: dist/ is not built (npm run build)');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-ledger-'));
const intel = join(tmp, 'intel');
const DEMO = join(ROOT, 'fixtures', 'demo', 'home-miners.pcapng');
let v9 = '';
let gen: ExportBenchStats;

beforeAll(() => {
  gen = generateExportBench(tmp, 150_000, 0x1ed9e7);
  v9 = join(tmp, 'exports-v9.pcap');
  mkdirSync(intel);
  const entries = gen.miningServers.flatMap((ip) => gen.miningPorts.map((port) => `  - { ip: "${ip}", port: ${port}, pool: "test pool" }`));
  writeFileSync(join(intel, 'pools.yaml'), `source: "generated pool servers"\nadded: ${new Date(gen.firstMs - 86_400_000).toISOString().slice(0, 10)}\nkind: pool\nentries:\n${entries.join('\n')}\n`);
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Out {
  addedUp: { flows: number; readBack: number; sessions: number };
}

function scan(db: string, input: string, thread: '0' | '1'): Out {
  const r = spawnSync(process.execPath, [BIN, 'scan', input, '--db', db, '--intel', intel, '--json', '--quiet'], { encoding: 'utf8', env: { ...process.env, MINERWATCH_WRITER_THREAD: thread } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Out;
}

/** The exports' flows as decided, and their evidence, without row ids, sorted. */
function decided(path: string): { flows: string[]; evidence: string[]; kinds: Set<string> } {
  const d = new Database(path, { readonly: true });
  try {
    const own = "f.input_id IN (SELECT id FROM inputs WHERE path LIKE '%exports-v9.pcap')";
    const flows = d.prepare(`SELECT f.client, f.client_port, f.server, f.server_port, f.first_seen, f.subscriber, f.label, f.confidence, f.outcome, f.reason, f.rules, f.pool, f.server_name FROM flows f WHERE ${own}`).all();
    const evidence = d
      .prepare(`SELECT f.client, f.client_port, f.server, f.server_port, f.first_seen, e.rule_id, e.rev, e.kind, e.side, e.family, e.matched, e.excerpt, e.offset, e.time FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE ${own}`)
      .all() as Array<{ kind: string }>;
    const sorted = (r: unknown[]): string[] => r.map((x) => JSON.stringify(x)).sort();
    return { flows: sorted(flows), evidence: sorted(evidence), kinds: new Set(evidence.map((e) => e.kind)) };
  } finally {
    d.close();
  }
}

describe.skipIf(!BUILT)('a close that reads back only the subscribers its ledger marked', () => {
  it('decides the exports as a close that reads every flow with evidence does', () => {
    const threaded = join(tmp, 'threaded.sqlite');
    const here = join(tmp, 'here.sqlite');
    const shared = join(tmp, 'shared.sqlite');
    const a = scan(threaded, v9, '1');
    const b = scan(here, v9, '0');
    // The demo capture's miners first: the report then holds flows with evidence of other
    // subscribers, and the exports' close reads what the report holds.
    scan(shared, DEMO, '1');
    expect(reportCount(shared, "SELECT count(*) FROM flows WHERE rules != '' AND subscriber IS NOT NULL")).toBeGreaterThan(0);
    const c = scan(shared, v9, '1');
    // No subscriber in both: what the exports' subscribers are decided from is their own flows either way.
    expect(reportCount(shared, "SELECT count(*) FROM (SELECT subscriber FROM flows f JOIN inputs i ON i.id = f.input_id WHERE i.path LIKE '%home-miners%' INTERSECT SELECT subscriber FROM flows f JOIN inputs i ON i.id = f.input_id WHERE i.path LIKE '%exports-v9.pcap')")).toBe(0);

    const ref = decided(shared);
    // Not a comparison of nothing: sessions were added up, and most subscribers with evidence got none.
    expect(ref.kinds).toContain('session');
    expect(a.addedUp.sessions).toBeGreaterThan(0);
    const weakOnly = reportCount(threaded, "SELECT count(DISTINCT subscriber) FROM flows WHERE rules != '' AND id NOT IN (SELECT flow_id FROM evidence WHERE kind IN ('session', 'pool-endpoints'))");
    expect(weakOnly).toBeGreaterThan(500);
    expect(decided(threaded)).toEqual(ref);
    expect(decided(here)).toEqual(ref);
    // Every flow with evidence was looked at; the ledgers' closes read back only the marked
    // subscribers' (those with sessions among them), the other close every one it looked at.
    for (const [db, out] of [[threaded, a], [here, b]] as const) {
      const withEvidence = reportCount(db, "SELECT count(*) FROM flows WHERE rules != '' AND subscriber IS NOT NULL");
      expect(out.addedUp.flows).toBe(withEvidence);
      expect(out.addedUp.readBack).toBeLessThan(withEvidence / 2);
      expect(out.addedUp.readBack).toBeGreaterThanOrEqual(reportCount(db, "SELECT count(DISTINCT flow_id) FROM evidence WHERE kind = 'session'"));
    }
    expect(c.addedUp.readBack).toBe(c.addedUp.flows);
  }, 180_000);
});
