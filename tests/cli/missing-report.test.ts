/**
 * The commands that only read a report (summary, report, flows, explain, watchlist) say that the
 * report does not exist, naming it and how to give or make one, instead of SQLite's "unable to open
 * database file"; exit status 2 (a usage problem) as before, and no file is created. `rules check`
 * on a folder whose policy.yaml is present but broken reports only the YAML error.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, RULES_DIR, runMain } from '../helpers.js';

const READERS: readonly (readonly string[])[] = [['summary'], ['report', '--html', 'out.html'], ['flows'], ['explain', '10.0.0.1'], ['watchlist']];

describe('a read-only command on a report that does not exist', () => {
  it('names the missing report given with --db and suggests --db FILE or a scan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-noreport-'));
    const db = join(dir, 'absent.sqlite');
    for (const args of READERS) {
      const r = await runMain([...args.map((a) => (a === 'out.html' ? join(dir, a) : a)), '--db', db]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toContain(`report ${db} does not exist`);
      expect(r.err, args.join(' ')).toMatch(/--db FILE.*minerwatch scan first|minerwatch scan first.*--db FILE/);
      expect(r.err, args.join(' ')).not.toMatch(/unable to open database file/);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('names the default minerwatch.sqlite when run without --db in an empty folder (built CLI)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-noreport-cwd-'));
    for (const args of READERS) {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'minerwatch'), ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('report minerwatch.sqlite does not exist');
      expect(r.stderr, args.join(' ')).not.toMatch(/unable to open database file/);
    }
    expect(existsSync(join(dir, 'minerwatch.sqlite'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('rules check on a folder whose policy.yaml does not parse', () => {
  it('reports the YAML error only, not also that policy.yaml is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-r2-'));
    cpSync(RULES_DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'policy.yaml'), 'garbage: [\n');
    const r = await runMain(['rules', 'check', dir]);
    expect(r.code).toBe(1);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^policy\.yaml:\d+: \(yaml\): /);
    expect(lines[1]).toMatch(/, 1 errors; rule set [0-9a-f]{16}$/);
    expect(r.out).not.toMatch(/missing/);
  });
});
