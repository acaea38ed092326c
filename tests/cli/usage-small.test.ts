/** Small usage checks: option values that cannot be right are refused before anything is read; `-` outputs. */
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runMain } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-usage-'));


describe('port options', () => {
  const capture = join(ROOT, 'fixtures', 'demo', 'office.pcap');
  for (const bad of ['70000', '0', '-1', '2055.5', 'ipfix']) {
    it(`--collector-port ${bad} is refused with exit 2, naming the option and the range, and no report is made`, async () => {
      const db = join(tmp, `port-${bad}.sqlite`);
      const r = await runMain(['scan', capture, '--collector-port', bad, '--db', db]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--collector-port expects a port from 1 to 65535/);
      expect(r.err).toContain(JSON.stringify(bad));
      expect(existsSync(db)).toBe(false);
    });
  }
  it('--collector-port 65535 is taken', async () => {
    const r = await runMain(['scan', capture, '--collector-port', '65535', '--db', join(tmp, 'ok.sqlite')]);
    expect(r.err).not.toMatch(/collector-port/);
    expect(r.code).toBe(0);
  });
});

describe('report --html -', () => {
  it('writes the page alone to standard output and its count to standard error, and makes no file called -', async () => {
    const db = join(tmp, 'html-stdout.sqlite');
    const scan = await runMain(['scan', join(ROOT, 'fixtures', 'demo', 'home-miners.pcapng'), '--subscriber-net', '100.64.0.0/10', '--db', db]);
    expect(scan.code, scan.err).toBe(0);
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      const r = await runMain(['report', '--html', '-', '--db', db]);
      expect(r.code, r.err).toBe(0);
      expect(r.out.startsWith('<!DOCTYPE html>') || r.out.startsWith('<!doctype html>')).toBe(true);
      expect(r.out.trimEnd().endsWith('</html>')).toBe(true);
      const rows = r.out.match(/<tr data-testid="subscriber-row"/g) ?? [];
      expect(r.err).toMatch(new RegExp(`HTML report on standard output: ${rows.length} subscriber\\(s\\), ${Buffer.byteLength(r.out)} bytes`));
      expect(rows.length).toBeGreaterThan(0);
      expect(existsSync(join(tmp, '-'))).toBe(false);
    } finally {
      process.chdir(cwd);
    }
  });
});
