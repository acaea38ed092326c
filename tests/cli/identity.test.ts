/** One identity per input: a file named twice, or the same content under another name, is read once. */
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FIXTURES } from '../helpers.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-identity-'));
const OFFICE = join(FIXTURES, 'demo/office.pcap');
// The fixture's own packet count, as the generator wrote it.
const expected = (JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { packets: number }>)['demo/office.pcap']!;

describe('input identity within one scan', () => {
  it('the same file named twice, or through a link, is read once', async () => {
    const link = join(tmp, 'office-link.pcap');
    symlinkSync(OFFICE, link);
    const r = await run(['scan', OFFICE, OFFICE, link, '--db', join(tmp, 'twice.sqlite'), '--json']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${OFFICE}: the same file as ${OFFICE}, read once`);
    expect(r.err).toContain(`${link}: the same file as ${OFFICE}, read once`);
    const j = JSON.parse(r.out) as { inputs: Array<{ packets: number }> };
    expect(j.inputs.map((i) => i.packets)).toEqual([expected.packets]);
  });

  it('identical content under another name is recognised and read once', async () => {
    const copy = join(tmp, 'office-copy.pcap');
    copyFileSync(OFFICE, copy);
    const r = await run(['scan', OFFICE, copy, '--db', join(tmp, 'copy.sqlite'), '--json']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(new RegExp(`office-copy\\.pcap: same content as .*office\\.pcap \\(sha256 [0-9a-f]{16}…\\), read once`));
    const j = JSON.parse(r.out) as { inputs: Array<{ path: string; packets: number }> };
    expect(j.inputs.map((i) => [i.path, i.packets])).toEqual([[OFFICE, expected.packets]]);
  });
});
