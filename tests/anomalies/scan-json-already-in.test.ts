/** `scan --json` keeps its documented totals when every input is already in the report. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runMain } from '../helpers.js';


describe('scan --json with nothing new to scan', () => {
  it('prints flows, miningFlows, evictedFlows (0: this run) and subscribers (the report\'s)', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'minerwatch-already-')), 'r.sqlite');
    const first = await runMain(['scan', join(FIXTURES, 'demo'), '--db', db, '--json']);
    expect(first.code).toBe(0);
    const again = await runMain(['scan', join(FIXTURES, 'demo'), '--db', db, '--json']);
    expect(again.code).toBe(0);
    const j = JSON.parse(again.out) as Record<string, unknown>;
    const d = new Database(db, { readonly: true });
    const subscribers = (d.prepare('SELECT count(*) AS n FROM subscribers').get() as { n: number }).n;
    d.close();
    expect(subscribers).toBeGreaterThan(0);
    expect(j).toMatchObject({ alreadyInReport: 2, inputs: [], flows: 0, miningFlows: 0, evictedFlows: 0, subscribers });
  });
});
