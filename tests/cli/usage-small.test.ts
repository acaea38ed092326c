/** Small usage checks: option values that cannot be right are refused before anything is read. */
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ROOT } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-usage-'));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('port options', () => {
  const capture = join(ROOT, 'fixtures', 'demo', 'office.pcap');
  for (const bad of ['70000', '0', '-1', '2055.5', 'ipfix']) {
    it(`--collector-port ${bad} is refused with exit 2, naming the option and the range, and no report is made`, async () => {
      const db = join(tmp, `port-${bad}.sqlite`);
      const r = await run(['scan', capture, '--collector-port', bad, '--db', db]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--collector-port expects a port from 1 to 65535/);
      expect(r.err).toContain(JSON.stringify(bad));
      expect(existsSync(db)).toBe(false);
    });
  }
  it('--collector-port 65535 is taken', async () => {
    const r = await run(['scan', capture, '--collector-port', '65535', '--db', join(tmp, 'ok.sqlite')]);
    expect(r.err).not.toMatch(/collector-port/);
    expect(r.code).toBe(0);
  });
});
