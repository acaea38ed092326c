/**
 * A failed `merge` is one transaction: an output it would have created is not left behind (empty
 * or half-made), and an output that existed keeps every row it had.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runMain } from '../helpers.js';


/** Every row of every table, for comparing a report before and after. */
function dump(path: string): Record<string, unknown[]> {
  const d = new Database(path, { readonly: true });
  const tables = (d.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
  const out: Record<string, unknown[]> = {};
  for (const t of tables) out[t] = d.prepare(`SELECT * FROM "${t}"`).all();
  d.close();
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-merge-tx-'));
const dayA = join(tmp, 'a.sqlite');
const dayB = join(tmp, 'b.sqlite');
const notSqlite = join(tmp, 'notes.sqlite');
/** A report whose schema passes the check but whose flows table is gone: it fails half-way through the copy. */
const broken = join(tmp, 'broken.sqlite');

describe('merge is all or nothing', () => {
  beforeAll(async () => {
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', dayA])).code).toBe(0);
    expect((await runMain(['scan', join(FIXTURES, 'rules', 'ethproxy.pcap'), '--db', dayB])).code).toBe(0);
    writeFileSync(notSqlite, 'subscriber,notes\n100.64.0.1,not a database\n');
    // A closed WAL report is one file; copy it and drop a table the copy needs.
    copyFileSync(dayB, broken);
    const d = new Database(broken);
    d.pragma('foreign_keys = OFF');
    d.exec('DROP TABLE evidence');
    d.close();
  });

  it('leaves no output behind when an input is not a report', async () => {
    const out = join(tmp, 'new1.sqlite');
    const r = await runMain(['merge', dayA, notSqlite, '--db', out]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(70);
    expect(r.err).toContain(notSqlite);
    expect(readdirSync(tmp).filter((n) => n.startsWith('new1'))).toEqual([]);
  });

  it('leaves no output behind when an input fails half-way', async () => {
    const out = join(tmp, 'new2.sqlite');
    const r = await runMain(['merge', dayA, broken, '--db', out]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(70);
    expect(r.err).toContain(`cannot merge ${broken}`);
    expect(r.err).toMatch(/was not created/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((n) => n.startsWith('new2'))).toEqual([]);
  });

  it('keeps an existing output exactly as it was when a later input fails', async () => {
    const out = join(tmp, 'week.sqlite');
    expect((await runMain(['merge', dayA, '--db', out])).code).toBe(0);
    const before = dump(out);
    expect((before.flows ?? []).length).toBeGreaterThan(0);
    // dayB alone would merge; the broken report after it makes the whole merge fail.
    const r = await runMain(['merge', dayB, broken, '--db', out]);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(70);
    expect(r.err).toMatch(/is unchanged/);
    expect(r.out).toBe('');
    expect(dump(out)).toEqual(before);
    // And the same merge without the broken input goes through.
    expect((await runMain(['merge', dayB, '--db', out])).code).toBe(0);
    expect(dump(out).flows!.length).toBeGreaterThan(before.flows!.length);
  });
});
