/**
 * A gzip capture cut short keeps every packet `zcat` still recovers from it (even when the cut
 * leaves fewer bytes than the format sniff reads), counts the cut under `input.bad_gzip`, and any
 * record the cut splits under the inner format's own code.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ethernet, LinkType, pcapFile, pcapngFile, seededBytes, udpExchange } from '../support/builders.js';
import { gzipToolsMissing, zcatPackets } from '../support/zcat.js';

const T0 = Date.UTC(2024, 4, 2, 8, 0, 0);

const skipReason = gzipToolsMissing('gzip cut tests');

/** 120 small UDP datagrams between two hosts, incompressible payloads so that cuts land among records. */
function frames(): Array<{ ts: number; data: Uint8Array }> {
  const messages = Array.from({ length: 120 }, (_, i) => ({ from: (i % 2 ? 'server' : 'client') as 'client' | 'server', data: seededBytes(100 + i, 20 + (i % 7) * 9) }));
  return udpExchange({ client: ['100.64.0.9', 41000], server: ['192.0.2.9', 9000], start: T0, messages }).map((p) => ({ ts: p.ts, data: ethernet(p.ip) }));
}

async function scanPackets(path: string, db: string): Promise<{ packets: number; anomalies: Record<string, number>; error: string | null }> {
  let out = '';
  let err = '';
  const code = await main(['scan', path, '--db', db, '--json'], { out: (s) => (out += s), err: (s) => (err += s) });
  const j = JSON.parse(out) as { inputs: Array<{ packets: number; anomalies: Record<string, number>; error: string | null }> };
  // Exit 1 only when the input could not be read at all.
  expect(code, err).toBe(j.inputs[0]!.error ? 1 : 0);
  return j.inputs[0]!;
}

describe.skipIf(skipReason !== null)('cut gzip captures', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-gzip-cut-'));
  const cases = [
    { name: 'pcap', bytes: pcapFile(LinkType.ETHERNET, frames()), inner: 'pcap.' },
    { name: 'pcapng', bytes: pcapngFile([{ interfaces: [{ linktype: LinkType.ETHERNET }], packets: frames().map((f) => ({ iface: 0, ts: f.ts, data: f.data })) }]), inner: 'pcapng.' },
  ];
  for (const c of cases) {
    it(`${c.name}.gz keeps what gzip -dc recovers, at every cut`, async () => {
      const plain = join(tmp, `whole.${c.name}`);
      writeFileSync(plain, c.bytes);
      const gz = spawnSync('gzip', ['-c', '-n', plain], { maxBuffer: 1 << 26 }).stdout as Buffer;
      expect(gz.length).toBeGreaterThan(2000);
      // Early cuts (fewer than 512 decompressed bytes) and later ones, some inside a record.
      const cuts = [60, 90, 140, 200, 320, 450, 700, 1500, Math.floor(gz.length / 2), gz.length - 9];
      let early = 0;
      for (const [k, at] of cuts.entries()) {
        const cut = join(tmp, `cut-${c.name}-${at}.gz`);
        writeFileSync(cut, gz.subarray(0, at));
        const { packets: want, bytes: recovered } = zcatPackets(cut, join(tmp, 'recovered'));
        if (recovered < 512 && want > 0) early++;
        const got = await scanPackets(cut, join(tmp, `r-${c.name}-${k}.sqlite`));
        if (recovered < 4) {
          // Nothing to recognise: the input is named as a cut gzip stream, not as empty or unknown.
          expect(got.error, `cut at ${at}`).toMatch(/gzip stream cut short or corrupt .* after \d+ decompressed byte/);
          expect(want).toBe(0);
          continue;
        }
        // A cut inside the file header leaves nothing to read: then, and only then, the input fails.
        if (got.error !== null) {
          expect(want, `cut at ${at}: ${got.error}`).toBe(0);
          expect(got.error, `cut at ${at}`).toMatch(/header/);
        }
        expect(got.packets, `cut at ${at} (gzip -dc recovers ${recovered} bytes)`).toBe(want);
        expect(got.anomalies['input.bad_gzip'], `cut at ${at}`).toBe(1);
        // Whatever the cut split is named by the inner format, never by another one.
        for (const code of Object.keys(got.anomalies)) if (code !== 'input.bad_gzip') expect(code.startsWith(c.inner), `${code} at cut ${at}`).toBe(true);
      }
      expect(early).toBeGreaterThan(0);
    });
  }
});
