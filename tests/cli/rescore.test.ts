/** Re-deciding a report without scanning again: rescore, and scan with every input already in the report. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runMain } from '../helpers.js';


const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-rescore-'));
const DIRECTORY = join(tmp, 'directory.csv');
writeFileSync(
  DIRECTORY,
  'prefix,subscriber,account,type,region\n100.64.0.11/32,home-11,acct-11,residential,Nanning\n100.64.0.12/32,cafe-12,acct-12,internet-cafe,Liuzhou\n',
);

function tables(db: string): unknown {
  const d = new Database(db, { readonly: true });
  try {
    return {
      subscribers: d.prepare('SELECT subscriber, account, type, region, mining_flows, confidence, servers FROM subscribers ORDER BY subscriber').all(),
      flows: d.prepare('SELECT client, client_port, server, server_port, subscriber, label, confidence, outcome, rules FROM flows ORDER BY client, client_port, server, server_port').all(),
      evidence: d.prepare('SELECT f.client, f.client_port, e.rule_id, e.kind, e.matched FROM evidence e JOIN flows f ON f.id = e.flow_id ORDER BY 1, 2, 3, 4, 5').all(),
    };
  } finally {
    d.close();
  }
}

describe('re-deciding a report', () => {
  it('a directory given after the first scan applies (it was silently ignored before), exactly as if given at once', async () => {
    const later = join(tmp, 'later.sqlite');
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', later])).code).toBe(0);
    const r = await runMain(['scan', join(FIXTURES, 'demo'), '--db', later, '--subscribers', DIRECTORY]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/all 2 input\(s\) already in .*; re-decided with --subscribers: \d+ flow\(s\) looked at, 0 changed verdict, [1-9]\d* mapped to another subscriber; 3 subscriber\(s\)/);
    const once = join(tmp, 'once.sqlite');
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', once, '--subscribers', DIRECTORY])).code).toBe(0);
    expect(tables(later)).toEqual(tables(once));
    const subs = (tables(later) as { subscribers: Array<{ subscriber: string; type: string | null; region: string | null }> }).subscribers;
    expect(subs.map((s) => [s.subscriber, s.type, s.region])).toEqual([
      ['cafe-12', 'internet-cafe', 'Liuzhou'],
      ['fd00::1:10', null, null],
      ['home-11', 'residential', 'Nanning'],
    ]);
  });

  it('rescore is one transaction that can be run again without changing anything', async () => {
    const db = join(tmp, 'twice.sqlite');
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', db])).code).toBe(0);
    const a = await runMain(['rescore', '--db', db, '--subscribers', DIRECTORY, '--json']);
    expect(a.code).toBe(0);
    const j = JSON.parse(a.out) as { rescored: { given: string; remapped: number; subscribers: number } };
    expect(j.rescored).toMatchObject({ given: '--subscribers', subscribers: 3 });
    expect(j.rescored.remapped).toBeGreaterThan(0);
    const first = tables(db);
    const b = await runMain(['rescore', '--db', db, '--subscribers', DIRECTORY, '--json']);
    expect(JSON.parse(b.out).rescored).toMatchObject({ remapped: 0, changed: 0 });
    expect(tables(db)).toEqual(first);
  });

  it('says clearly when there is nothing to re-decide with, or no report', async () => {
    const db = join(tmp, 'nothing.sqlite');
    await runMain(['scan', join(FIXTURES, 'demo'), '--db', db]);
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', db])).out).toMatch(/all 2 input\(s\) already in .*: nothing to do/);
    const missing = await runMain(['rescore', '--db', join(tmp, 'absent.sqlite')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no report at .*absent\.sqlite; run minerwatch scan first/);
  });
});
