/**
 * A pcapng file that ends fewer than 12 bytes into a block (the smallest block: type, length and
 * trailing length) is a cut file like one that ends inside a longer block: counted as
 * pcapng.truncated_block at the block's offset, every whole packet before it read. Before, such an
 * end was taken for the end of the file, with nothing said.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { concatBytes, ethernet, LinkType, pcapngFile, tcpSession } from '../support/builders.js';
import { runMain } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-cut-pcapng-'));
const T0 = Date.UTC(2025, 5, 1, 8, 0, 0);
const session = tcpSession({ client: ['100.64.0.9', 50001], server: ['198.51.100.7', 3333], start: T0, messages: [{ from: 'client', data: '{"id":1,"method":"login"}\n' }] });
const whole = pcapngFile([{ interfaces: [{ linktype: LinkType.ETHERNET }], packets: session.map((p) => ({ iface: 0, ts: p.ts, data: ethernet(p.ip) })) }]);

describe('pcapng cut within the first 12 bytes of a block', () => {
  for (const left of [4, 8, 11]) {
    it(`${left} byte(s) of a next block: counted at its offset, every packet before it read`, async () => {
      // The start of another enhanced packet block: type 6, then its length.
      const next = Uint8Array.from([6, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0]).subarray(0, left);
      const path = join(tmp, `cut-${left}.pcapng`);
      writeFileSync(path, concatBytes(whole, next));
      const db = join(tmp, `cut-${left}.sqlite`);
      const r = await runMain(['scan', path, '--db', db, '--json']);
      expect(r.code, r.err).toBe(0);
      const input = (JSON.parse(r.out) as { inputs: Array<{ packets: number; anomalies: Record<string, number> }> }).inputs[0]!;
      expect(input.packets).toBe(session.length);
      expect(input.anomalies).toEqual({ 'pcapng.truncated_block': 1 });
      const d = new Database(db, { readonly: true });
      const s = d.prepare('SELECT code, offset, message FROM anomaly_samples').all();
      d.close();
      expect(s).toEqual([
        { code: 'pcapng.truncated_block', offset: whole.length, message: `file ends ${left} byte(s) into a block, before its header and trailer (a block is at least 12 bytes)` },
      ]);
    });
  }

  it('a file of fewer than 12 bytes is no capture: refused, naming offset 0', async () => {
    const path = join(tmp, 'eight.pcapng');
    writeFileSync(path, whole.subarray(0, 8));
    const r = await runMain(['scan', path, '--db', join(tmp, 'eight.sqlite')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${path}: at byte 0: file ends 8 byte(s) into a block, before its header and trailer (a block is at least 12 bytes)`);
  });
});
