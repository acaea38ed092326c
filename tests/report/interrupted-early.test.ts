/**
 * A signal that comes after an input is opened but before its format is recognised cuts the input;
 * it does not make it a failed (bad) one. Before this, such an input was marked `failed` with the
 * error "interrupted before the format could be recognised", so a rerun's readers called a good
 * file broken.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { scanInputs } from '../../src/scan.js';
import { FIXTURES, projectRules } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-early-stop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// Compressed: its format is known only once the first decompressed bytes come, after the signal.
const OFFICE = join(tmp, 'office.pcap.gz');
writeFileSync(OFFICE, gzipSync(readFileSync(join(FIXTURES, 'demo/office.pcap'))));
const MINERS = join(FIXTURES, 'demo/home-miners.pcapng');

describe('a scan stopped before an input’s format is known', () => {
  it('marks the input cut, not failed, and reads no further input', async () => {
    const stop = new AbortController();
    const ended: Array<{ index: number; error: string | null }> = [];
    const summary = await scanInputs([OFFICE, MINERS], projectRules(), () => {}, { signal: stop.signal }, {
      // The signal arrives once the first input is opened and before a byte of it is read.
      beginInput: () => stop.abort(),
      endInput: (index, _info, _counts, _anomalies, error) => ended.push({ index, error }),
    });
    expect(ended).toEqual([{ index: 0, error: null }]);
    expect(summary.interrupted).toBe(true);
    expect(summary.inputs).toHaveLength(1);
    expect(summary.inputs[0]).toMatchObject({ path: OFFICE, format: null, error: null, packets: 0 });
    expect(summary.incomplete).toEqual([{ index: 0, note: 'the scan was stopped while reading it' }]);
  });

  it('an input that is not a capture still fails when no signal came', async () => {
    const summary = await scanInputs([join(FIXTURES, '..', 'package.json')], projectRules(), () => {});
    expect(summary.inputs[0]!.error).toMatch(/package\.json: at byte 0: /);
    expect(summary.incomplete).toEqual([]);
  });
});
