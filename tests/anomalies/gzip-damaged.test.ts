/**
 * A gzip capture damaged after its data (a CRC or length trailer that does not match, bytes after the
 * last member that are not another member) keeps every packet: `gzip -dc` writes all of them and
 * then complains, and a scan reads them all and counts `input.bad_gzip` once. Members written one
 * after another read as one stream, and zero padding after the last is no anomaly.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ethernet, LinkType, pcapFile, seededBytes, udpExchange } from '../support/builders.js';
import { gzipToolsMissing, zcatPackets } from '../support/zcat.js';

const T0 = Date.UTC(2024, 4, 2, 8, 0, 0);

const skipReason = gzipToolsMissing('damaged gzip tests');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-gzip-damaged-'));
afterAll(() => {
  spawnSync('rm', ['-rf', tmp]);
});

/** 60 small UDP datagrams: about 6 kB of pcap, well under the 16 KiB a gunzip buffers. */
function capture(): Uint8Array {
  const messages = Array.from({ length: 60 }, (_, i) => ({ from: (i % 2 ? 'server' : 'client') as 'client' | 'server', data: seededBytes(300 + i, 30 + (i % 5) * 11) }));
  const frames = udpExchange({ client: ['100.64.0.21', 41000], server: ['192.0.2.21', 9000], start: T0, messages }).map((p) => ({ ts: p.ts, data: ethernet(p.ip) }));
  return pcapFile(LinkType.ETHERNET, frames);
}

const hex = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');

let n = 0;
function gzipOf(bytes: Uint8Array): Buffer {
  const plain = join(tmp, `plain-${++n}`);
  writeFileSync(plain, bytes);
  return spawnSync('gzip', ['-c', '-n', plain], { maxBuffer: 1 << 26 }).stdout as Buffer;
}

/** The scan's exit code, its input's packets and anomaly counts, and the anomaly samples the report keeps (offset and message). */
async function scan(file: string): Promise<{ code: number; err: string; packets: number; anomalies: Record<string, number>; samples: Array<{ offset: number; message: string }> }> {
  let out = '';
  let err = '';
  const db = join(tmp, `r-${++n}.sqlite`);
  const code = await main(['scan', file, '--db', db, '--json'], { out: (s) => (out += s), err: (s) => (err += s) });
  const j = JSON.parse(out) as { inputs: Array<{ packets: number; anomalies: Record<string, number> }> };
  const report = new Database(db, { readonly: true });
  const samples = report.prepare("SELECT offset, message FROM anomaly_samples WHERE code = 'input.bad_gzip'").all() as Array<{ offset: number; message: string }>;
  report.close();
  return { code, err, ...j.inputs[0]!, samples };
}

describe.skipIf(skipReason !== null)('damaged gzip captures', () => {
  const pcap = capture();
  const gz = gzipOf(pcap);
  const damaged = (at: number): Buffer => {
    const b = Buffer.from(gz);
    b[at]! ^= 0x01;
    return b;
  };
  const first = gzipOf(pcap.subarray(0, 3000));
  const second = gzipOf(pcap.subarray(3000));
  // Each anomaly is said at a byte offset of the compressed file: the trailer, or where the garbage starts.
  const cases: Array<{ name: string; bytes: Buffer; anomaly: { offset: number; message: RegExp } | null }> = [
    { name: 'a CRC32 that does not match', bytes: damaged(gz.length - 8), anomaly: { offset: gz.length - 8, message: new RegExp(`^gzip member at byte 0: the CRC32 of its ${pcap.length} decompressed byte\\(s\\) is ${hex(crc32(pcap))} where its trailer says ${hex(crc32(pcap) ^ 1)};`) } },
    { name: 'a length that does not match', bytes: damaged(gz.length - 4), anomaly: { offset: gz.length - 8, message: new RegExp(`^gzip member at byte 0: it decompressed to ${pcap.length} byte\\(s\\) where its trailer says ${pcap.length ^ 1} `) } },
    { name: 'text after the member', bytes: Buffer.concat([gz, Buffer.from('trailing text\n')]), anomaly: { offset: gz.length, message: /^14 byte\(s\) after the gzip member that ends here are neither another member \(1f 8b\) nor zero padding/ } },
    { name: 'two members, the capture cut between them mid-record', bytes: Buffer.concat([gzipOf(pcap.subarray(0, 1001)), gzipOf(pcap.subarray(1001))]), anomaly: null },
    { name: 'zero padding after the member', bytes: Buffer.concat([gz, Buffer.alloc(512)]), anomaly: null },
    { name: 'two members, then garbage', bytes: Buffer.concat([first, second, Buffer.from([0x1f, 0x8c, 1, 2])]), anomaly: { offset: first.length + second.length, message: /^4 byte\(s\) after the gzip member that ends here/ } },
  ];
  for (const c of cases) {
    it(`${c.name}: every packet gzip -dc writes is read${c.anomaly ? ', and input.bad_gzip is counted once' : ', with no anomaly'}`, async () => {
      const file = join(tmp, `case-${++n}.pcap.gz`);
      writeFileSync(file, c.bytes);
      const want = zcatPackets(file, join(tmp, `recovered-${++n}`)).packets;
      expect(want).toBe(60);
      const got = await scan(file);
      expect(got.code, got.err).toBe(0);
      expect(got.packets).toBe(want);
      if (c.anomaly) {
        expect(got.anomalies).toEqual({ 'input.bad_gzip': 1 });
        expect(got.samples).toHaveLength(1);
        expect(got.samples[0]!.offset).toBe(c.anomaly.offset);
        expect(got.samples[0]!.message).toMatch(c.anomaly.message);
      } else expect(got.anomalies).toEqual({});
    });
  }
});
