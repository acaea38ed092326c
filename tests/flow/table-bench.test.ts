/**
 * The bench's table case (bench/table.ts) measures the flow table alone: it must give the table
 * every record the generator wrote, and the table must make one flow of each generated conversation,
 * or its times would be of other work (the case itself fails when two runs finish different flows).
 * Generated NetFlow v9 exports (bench/gen-exports.ts) read through the real reader and decoder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateExportBench } from '../../bench/gen-exports.js';
import { tableOnly } from '../../bench/table.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-table-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the bench table case', () => {
  it('gives the table every generated record and finishes one flow per generated conversation, each run', async () => {
    const gen = generateExportBench(tmp, 40_000, 0x7ab1e);
    const r = await tableOnly(join(tmp, 'exports-v9.pcap'), 2);
    expect(r.records).toBe(gen.records);
    expect(r.flows).toBe(gen.conversations);
    // Both ends of a finish are timed: flows passed over, and flows made records.
    expect(r.passedOver).toBeGreaterThan(0);
    expect(r.passedOver).toBeLessThan(r.flows);
    expect(r.seconds).toHaveLength(2);
    for (const s of r.seconds) expect(s).toBeGreaterThan(0);
  }, 120_000);
});
