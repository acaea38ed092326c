/** `scan --json` keeps its documented totals when every input is already in the report. */
import { mkdtempSync, writeFileSync } from 'node:fs';
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
    // Every key the README documents for --json, as after a run that read nothing new.
    expect(j).toMatchObject({ run: null, interrupted: false, rolledBack: [], replacedInputs: 0, removedRuns: [], incompleteInputs: [], addedUp: null, settledSubscribers: null });
  });

  it('still names the report\'s incomplete inputs when nothing new is scanned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-already-'));
    const db = join(dir, 'r.sqlite');
    const bad = join(dir, 'garbage.pcap');
    writeFileSync(bad, 'not a capture at all, nor any format the scan reads\n');
    expect((await runMain(['scan', join(FIXTURES, 'demo'), bad, '--db', db, '--json'])).code).toBe(1);
    const again = await runMain(['scan', join(FIXTURES, 'demo'), '--db', db, '--json']);
    expect(again.code).toBe(0);
    const j = JSON.parse(again.out) as { incompleteInputs: Array<{ path: string; status: string }> };
    expect(j.incompleteInputs).toMatchObject([{ path: bad, status: 'failed' }]);
  });
});
