/**
 * The zero-copy pcap reader against an independent oracle, the npm package pcap-parser: both must
 * agree packet for packet (count, timestamps, lengths, bytes) on every microsecond pcap in the corpus
 * and in the project's fixtures.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import { readCapture } from '../../src/io/input.js';
import { CORPUS, CORPUS_SKIP_REASON, FIXTURES, HAVE_CORPUS } from '../helpers.js';

const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as {
  parse(input: NodeJS.ReadableStream): NodeJS.EventEmitter;
};

interface Pkt {
  sec: number;
  usec: number;
  caplen: number;
  orig: number;
  sha: string;
}

function oracle(path: string): Promise<Pkt[]> {
  return new Promise((resolve, reject) => {
    const out: Pkt[] = [];
    const p = pcapParser.parse(createReadStream(path));
    p.on('packet', (pk: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }) => {
      out.push({
        sec: pk.header.timestampSeconds,
        usec: pk.header.timestampMicroseconds,
        caplen: pk.header.capturedLength,
        orig: pk.header.originalLength,
        sha: createHash('sha1').update(pk.data).digest('hex'),
      });
    });
    p.on('error', reject);
    p.on('end', () => resolve(out));
  });
}

async function ours(path: string): Promise<Pkt[]> {
  const out: Pkt[] = [];
  await readCapture(
    path,
    {
      time: 0,
      offset: 0,
      packet(_lt, buf, off, caplen, orig) {
        const ts = this.time;
        const sec = Math.floor(ts / 1000);
        out.push({ sec, usec: Math.round((ts - sec * 1000) * 1000), caplen, orig, sha: createHash('sha1').update(buf.subarray(off, off + caplen)).digest('hex') });
      },
      record() {},
      exportMessage() {},
    },
    new Anomalies(),
  );
  return out;
}

/** By content, not name: some `.pcap` files in the corpus are pcapng. */
function isMicrosecondPcap(path: string): boolean {
  const fd = openSync(path, 'r');
  const b = Buffer.alloc(4);
  readSync(fd, b, 0, 4, 0);
  closeSync(fd);
  return b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32BE(0) === 0xa1b2c3d4;
}

function microsecondPcaps(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (isMicrosecondPcap(p)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

describe.skipIf(!HAVE_CORPUS)('pcap reader agrees with pcap-parser on the corpus', () => {
  const files = HAVE_CORPUS ? microsecondPcaps(join(CORPUS, 'pcap')).concat(microsecondPcaps(join(CORPUS, 'netflow'))) : [];
  it('has files to compare', () => expect(files.length).toBeGreaterThan(20));
  it.each(files.map((f) => [f.slice(CORPUS.length + 1), f]))('%s', async (_name, file) => {
    const [a, b] = await Promise.all([oracle(file), ours(file)]);
    expect(b.length).toBe(a.length);
    expect(b).toEqual(a);
  });
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);

describe('pcap reader agrees with pcap-parser on the microsecond fixtures', () => {
  const files = [join(FIXTURES, 'formats/pcap-usec-le.pcap'), join(FIXTURES, 'formats/pcap-usec-be.pcap'), join(FIXTURES, 'demo/office.pcap'), join(FIXTURES, 'link/vlan.pcap')];
  it.each(files)('%s', async (file) => {
    const [a, b] = await Promise.all([oracle(file), ours(file)]);
    expect(a.length).toBeGreaterThan(0);
    expect(b).toEqual(a);
  });
});
