/**
 * gunzip (src/io/gunzip.ts) on members built here from RFC 1952's layout (every optional header
 * field), checked against `gzip -dc` where gzip is installed, fed in chunks cut at every byte, and
 * damaged in each way a member can be: what it yields is every byte zlib decompresses, and each
 * problem is said once with its offset.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { gunzip } from '../../src/io/gunzip.js';
import { seededBytes } from '../support/builders.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-gunzip-'));
afterAll(() => {
  spawnSync('rm', ['-rf', tmp]);
});
const haveGzip = !spawnSync('gzip', ['--version']).error;

const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** One gzip member with the optional header fields asked for (RFC 1952, 2.3). */
function member(data: Uint8Array, opts: { extra?: Uint8Array; name?: string; comment?: string; headerCrc?: boolean } = {}): Buffer {
  const flags = (opts.headerCrc ? 2 : 0) | (opts.extra ? 4 : 0) | (opts.name !== undefined ? 8 : 0) | (opts.comment !== undefined ? 16 : 0);
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, flags, 0x78, 0x56, 0x34, 0x12, 0, 3])];
  if (opts.extra) parts.push(Buffer.from([opts.extra.length & 0xff, opts.extra.length >> 8]), Buffer.from(opts.extra));
  if (opts.name !== undefined) parts.push(Buffer.from(`${opts.name}\0`, 'latin1'));
  if (opts.comment !== undefined) parts.push(Buffer.from(`${opts.comment}\0`, 'latin1'));
  if (opts.headerCrc) parts.push(Buffer.from([crc32(Buffer.concat(parts)) & 0xff, (crc32(Buffer.concat(parts)) >> 8) & 0xff]));
  return Buffer.concat([...parts, deflateRawSync(data), le32(crc32(data)), le32(data.length)]);
}

/** Feed `bytes` to gunzip in chunks of the sizes given in turn; what it yields and what it said. */
async function run(bytes: Uint8Array, sizes: readonly number[] = [65536]): Promise<{ out: Buffer; problems: Array<{ offset: number; message: string }> }> {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let at = 0, k = 0; at < bytes.length; k++) {
      const n = sizes[k % sizes.length]!;
      yield bytes.subarray(at, at + n);
      at += n;
    }
  }
  const problems: Array<{ offset: number; message: string }> = [];
  const out: Buffer[] = [];
  for await (const c of gunzip(chunks(), (offset, message) => problems.push({ offset, message }))) out.push(c);
  return { out: Buffer.concat(out), problems };
}

/** What `gzip -dc` writes of `bytes` (null without gzip). */
function zcat(bytes: Uint8Array): Buffer | null {
  if (!haveGzip) return null;
  const f = join(tmp, `z-${Math.random().toString(36).slice(2)}.gz`);
  writeFileSync(f, bytes);
  return spawnSync('gzip', ['-dc', f], { maxBuffer: 1 << 28 }).stdout as Buffer;
}

describe('gunzip', () => {
  const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i} of a log\n`).join(''));
  const noise = Buffer.from(seededBytes(7, 300_000));

  it('reads every optional header field, fed one byte at a time, as gzip -dc does', async () => {
    const m = member(text, { extra: Buffer.from('AB\x04\x00wxyz', 'latin1'), name: 'flows.csv', comment: 'made by a test', headerCrc: true });
    const z = zcat(m);
    if (z) expect(z.equals(text)).toBe(true);
    const r = await run(m, [1]);
    expect(r.problems).toEqual([]);
    expect(r.out.equals(text)).toBe(true);
  });

  it('says where a header CRC16 does not match, and keeps the member\'s data, which their own CRC32 checks (gzip -dc refuses the member)', async () => {
    const good = member(text, { name: 'flows.csv', headerCrc: true });
    const bad = Buffer.from(good);
    // The CRC16 is the header's last two bytes: 10 fixed, the name and its zero, then the CRC.
    const at = 10 + 'flows.csv'.length + 1;
    bad[at] = bad[at]! ^ 0x01;
    const first = member(noise.subarray(0, 1000));
    const input = Buffer.concat([first, bad]);
    if (haveGzip) {
      expect(zcat(good)!.equals(text)).toBe(true);
      const f = join(tmp, 'bad-header-crc.gz');
      writeFileSync(f, input);
      expect(spawnSync('gzip', ['-dc', f]).status).not.toBe(0);
    }
    for (const sizes of [[1], [65536]]) {
      const r = await run(input, sizes);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]!.offset).toBe(first.length);
      expect(r.problems[0]!.message).toMatch(/^gzip member at byte \d+: its header CRC16 is [0-9a-f]{4} where its 20 header byte\(s\) give [0-9a-f]{4}/);
      expect(r.out.equals(Buffer.concat([noise.subarray(0, 1000), text]))).toBe(true);
    }
    expect((await run(good)).problems).toEqual([]);
  });

  it('finds the end of a long file name that comes a byte at a time in time linear in its length', async () => {
    // 128 KiB of name, fed in 1-byte chunks (a slow pipe): a reader that looked each byte up from the
    // first queued chunk took minutes here.
    const m = member(text, { name: 'n'.repeat(128 * 1024) });
    const t0 = performance.now();
    const r = await run(m, [1]);
    expect(r.problems).toEqual([]);
    expect(r.out.equals(text)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('reads members one after another at every chunking, including chunks that end where a deflate stream does', async () => {
    const a = member(noise.subarray(0, 100_000), { name: 'a' });
    const b = member(text);
    const c = gzipSync(noise.subarray(100_000));
    const all = Buffer.concat([a, b, c]);
    const want = Buffer.concat([noise.subarray(0, 100_000), text, noise.subarray(100_000)]);
    const z = zcat(all);
    if (z) expect(z.equals(want)).toBe(true);
    // The first member's deflate data ends 8 bytes before its end: a chunk ends exactly there.
    for (const sizes of [[a.length - 8, 8, 4096], [a.length - 8, 3], [7, 4093, 65536], [1 << 20], [a.length, b.length - 8, 8]]) {
      const r = await run(all, sizes);
      expect(r.problems, String(sizes)).toEqual([]);
      expect(r.out.equals(want), String(sizes)).toBe(true);
    }
  });

  it('keeps every byte of a member whose CRC32 or length does not match, and says so at its trailer', async () => {
    const m = member(text);
    for (const [at, said] of [
      [m.length - 8, `the CRC32 of its ${text.length} decompressed byte(s) is ${(crc32(text) >>> 0).toString(16).padStart(8, '0')} where its trailer says`],
      [m.length - 1, `it decompressed to ${text.length} byte(s) where its trailer says ${(text.length + 0x80000000) >>> 0} (mod 2^32)`],
    ] as const) {
      const bad = Buffer.from(m);
      bad[at]! ^= 0x80;
      const r = await run(Buffer.concat([bad, member(noise.subarray(0, 5000))]), [1000]);
      expect(r.out.equals(Buffer.concat([text, noise.subarray(0, 5000)]))).toBe(true);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]!.offset).toBe(m.length - 8);
      expect(r.problems[0]!.message).toContain(said);
    }
  });

  it('ignores zero padding, and says how many bytes of anything else follow the last member', async () => {
    const m = member(text);
    expect((await run(Buffer.concat([m, Buffer.alloc(1000)]), [333])).problems).toEqual([]);
    const r = await run(Buffer.concat([m, Buffer.alloc(10), Buffer.from('garbage')]), [333]);
    expect(r.out.equals(text)).toBe(true);
    expect(r.problems).toEqual([{ offset: m.length, message: '17 byte(s) after the gzip member that ends here are neither another member (1f 8b) nor zero padding; ignored, as gzip does' }]);
  });

  it('says what is wrong with a header it cannot read, keeping the members before it', async () => {
    const m = member(text);
    const cases: Array<[string, Buffer, string]> = [
      ['method', Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]), 'gzip member 2: compression method 7; expected 8 (deflate)'],
      ['reserved', Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3]), 'gzip member 2: flags 20 set reserved bits; expected none of 0xe0'],
      ['short', Buffer.from([0x1f, 0x8b, 8, 0]), 'gzip member 2: cut short after 4 of its 10 bytes'],
      ['name', Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3, 0x61, 0x62]), 'gzip member 2: cut short in its file name'],
    ];
    for (const [what, head, said] of cases) {
      const r = await run(Buffer.concat([m, head]), [64]);
      expect(r.out.equals(text), what).toBe(true);
      expect(r.problems, what).toEqual([{ offset: m.length, message: said }]);
    }
  });

  it('keeps what a cut member gave, whether the cut is in its deflate data or its trailer', async () => {
    const m = member(noise.subarray(0, 200_000));
    for (const cut of [m.length - 3, m.length - 8, Math.floor(m.length / 2)]) {
      const r = await run(m.subarray(0, cut), [4096]);
      expect(r.problems, String(cut)).toHaveLength(1);
      expect(r.problems[0]!.offset).toBe(cut);
      expect(r.problems[0]!.message).toMatch(cut >= m.length - 8 ? /cut short in its 8-byte trailer/ : /cut short inside its deflate data/);
      // zlib gives all of a member that lacks only its trailer, and a prefix of the rest.
      if (cut >= m.length - 8) expect(r.out.equals(noise.subarray(0, 200_000))).toBe(true);
      else expect(noise.subarray(0, r.out.length).equals(r.out)).toBe(true);
      const z = zcat(m.subarray(0, cut));
      if (z) expect(r.out.length).toBeGreaterThanOrEqual(z.length);
    }
  });

  it('says where deflate data does not decompress, after what it gave', async () => {
    // A block of the reserved type 3 after a whole stored block of text.
    const body = Buffer.concat([Buffer.from([0x00, 0x10, 0x00, 0xef, 0xff]), text.subarray(0, 16), Buffer.from([0x07])]);
    const bytes = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), body, le32(0), le32(0)]);
    // The header's 10 bytes, the stored block's 5 and its 16: the bad block starts at byte 31.
    for (const sizes of [[5], [1], [65536]]) {
      const r = await run(bytes, sizes);
      expect(r.problems).toHaveLength(1);
      const m = /^gzip member at byte 0: its deflate data does not decompress \(invalid block type\) at a byte from (\d+) to (\d+) \(zlib does not say which\)/.exec(r.problems[0]!.message);
      expect(m, r.problems[0]!.message).not.toBeNull();
      const [from, to] = [Number(m![1]), Number(m![2])];
      expect(r.problems[0]!.offset).toBe(from);
      expect(from <= 31 && 31 <= to).toBe(true);
      if (sizes[0] === 1) expect([from, to]).toEqual([31, 31]);
    }
  });
});
