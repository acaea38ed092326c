/** The README's schema table must name every table and column the code creates, and no others. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SCHEMA_SQL, SCHEMA_VERSION } from '../../src/report/schema.js';
import { ROOT } from '../helpers.js';

describe('SQLite schema documentation', () => {
  it('README documents every column of every table', () => {
    const db = new Database(':memory:');
    db.exec(SCHEMA_SQL);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    const actual = new Set<string>();
    for (const t of tables) for (const c of db.prepare(`PRAGMA table_info(${t})`).all() as Array<{ name: string }>) actual.add(`${t}.${c.name}`);
    db.close();
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## SQLite schema'), readme.indexOf('## Anomalies'));
    expect(section).toContain(`(version ${SCHEMA_VERSION})`);
    const documented = new Set<string>();
    for (const line of section.split('\n')) {
      const m = /^\| (\w+) \| ([\w, ]+) \|/.exec(line);
      if (m && m[1] !== 'table') for (const c of m[2]!.split(',')) documented.add(`${m[1]}.${c.trim()}`);
    }
    expect([...documented].sort()).toEqual([...actual].sort());
  });
});
