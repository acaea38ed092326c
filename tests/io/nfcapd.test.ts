/**
 * nfdump binary files read directly, checked against nfdump itself: Debian's nfcapd writes each
 * file (from softflowd's exports of the demo captures, or the corpus's export datagrams, sent on
 * 127.0.0.1) in every compression it has, and `nfdump -r FILE -o fmt:…` prints what the records
 * must be; the test parses that text itself. Damaged files are cut and patched from those real
 * files, with the byte offsets the layout gives (read here by the test from the block headers).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import { InputError } from '../../src/errors.js';
import { formatIpv4 } from '../../src/ip.js';
import { readCapture, type InputSink } from '../../src/io/input.js';
import { NO_LZO_ENV } from '../../src/io/nfcapd.js';
import { exportDatagrams } from '../support/collector.js';
import { missingNfdump, NFCAPD_COMPRESSION, nfcapdFiles, sendPaced, startNfcapd, storedFlows, type NfcapdCompression } from '../support/nfcapd.js';
import { CORPUS, CORPUS_SKIP_REASON, FIXTURES, HAVE_CORPUS, runCli } from '../helpers.js';

const MISSING = missingNfdump() ?? (spawnSync('sh', ['-c', 'command -v softflowd'], { stdio: 'ignore' }).status !== 0 ? 'softflowd not installed (Debian package softflowd)' : null);
if (MISSING) console.warn(`nfcapd tests skipped: ${MISSING}`);
/** The optional native package `lzo` (minilzo), used by the reader for LZO blocks and here to build an oversized block. */
const LZO = ((): { compress(b: Buffer): Buffer } | null => {
  try {
    return createRequire(import.meta.url)('lzo') as { compress(b: Buffer): Buffer };
  } catch {
    return null;
  }
})();
if (!LZO) console.warn('nfcapd LZO reading tests skipped: the optional package lzo is not installed (its native build needs a C compiler)');
const HAVE_ZSTD_CLI = spawnSync('sh', ['-c', 'command -v zstd'], { stdio: 'ignore' }).status === 0;

const FMT = 'fmt:%ts|%te|%sa|%da|%sp|%dp|%pr|%flg|%ipkt|%ibyt|%opkt|%obyt';
const FLAG_BITS: Record<string, number> = { C: 0x80, E: 0x40, U: 0x20, A: 0x10, P: 0x08, R: 0x04, S: 0x02, F: 0x01 };

/** nfdump's own reading of `file`, one normalised line per record, sorted. */
function nfdumpRecords(file: string): string[] {
  const r = spawnSync('nfdump', ['-q', '-N', '-r', file, '-o', FMT], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, timeout: 60_000, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`nfdump -r ${file} failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => {
      const f = l.split('|').map((x) => x.trim());
      const time = (t: string): number => Date.parse(`${t.replace(' ', 'T')}Z`);
      let flags = 0;
      for (const ch of f[7]!) flags |= FLAG_BITS[ch] ?? 0;
      const dp = f[5]!.includes('.') ? Number(f[5]!.split('.')[0]) * 256 + Number(f[5]!.split('.')[1]) : Number(f[5]);
      return [time(f[0]!), time(f[1]!), f[2], f[3], Number(f[4]), dp, Number(f[6]), flags, Number(f[8]), Number(f[9]), Number(f[10]), Number(f[11])].join('|');
    })
    .sort();
}

/** nfdump's verification of a file: its compression and the blocks it holds. */
function nfdumpVerify(file: string): { compression: string; blocks: number } {
  const r = spawnSync('nfdump', ['-v', file], { encoding: 'utf8', timeout: 60_000 });
  const out = `${r.stdout}${r.stderr}`;
  return { compression: /Version\s*:\s*2 - (.*)/.exec(out)?.[1]?.trim() ?? '?', blocks: Number(/Type 3 blocks\s*:\s*(\d+)/.exec(out)?.[1] ?? NaN) };
}

interface Read {
  lines: string[];
  anomalies: Anomalies;
  format: string;
  records: number;
}

/** minerwatch's reading of `file` through the input layer, normalised as {@link nfdumpRecords}. */
async function minerwatchRecords(file: string): Promise<Read> {
  const lines: string[] = [];
  const sink: InputSink = {
    time: 0,
    offset: 0,
    packet() {},
    exportMessage() {},
    record(r) {
      lines.push([r.firstMs, r.lastMs, r.srcAddr, r.dstAddr, r.srcPort, r.dstPort, r.protocol, r.tcpFlags, r.packets, r.bytes, r.reversePackets, r.reverseBytes].join('|'));
    },
    recordNumeric(r) {
      lines.push([r.firstMs, r.lastMs, formatIpv4(r.src4), formatIpv4(r.dst4), r.srcPort, r.dstPort, r.protocol, r.tcpFlags, r.packets, r.bytes, r.reversePackets, r.reverseBytes].join('|'));
    },
  };
  const anomalies = new Anomalies();
  const info = await readCapture(file, sink, anomalies);
  return { lines: lines.sort(), anomalies, format: info.format, records: info.packets };
}

function runSoftflowd(capture: string, port: number, dir: string, exportArgs: readonly string[]): Promise<void> {
  const args = ['-r', capture, '-n', `127.0.0.1:${port}`, ...exportArgs, '-a', '-c', 'none', '-t', 'maxlife=1800', '-m', '16', '-p', join(dir, 'softflowd.pid')];
  return new Promise((resolve, reject) => {
    const child = spawn('softflowd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && /\(0 failures\)/.test(out)) resolve();
      else reject(new Error(`softflowd ${args.join(' ')} ended ${code}: ${out}`));
    });
  });
}

const DEMO = [join(FIXTURES, 'demo', 'home-miners.pcapng'), join(FIXTURES, 'demo', 'office.pcap')];

/**
 * nfcapd with `compression` fed softflowd's exports of the demo captures (NetFlow v9 unless
 * `exportArgs` says otherwise); its one file.
 */
async function demoFile(compression: NfcapdCompression, exportArgs: readonly string[] = ['-v', '9']): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `minerwatch-nfcapd-${compression}-`));
  const nfcapd = await startNfcapd(dir, NFCAPD_COMPRESSION[compression]);
  let log: string;
  try {
    for (const c of DEMO) await runSoftflowd(c, nfcapd.port, dir, exportArgs);
    await sendPaced(nfcapd.port, []);
  } finally {
    log = await nfcapd.stop();
  }
  const files = nfcapdFiles(dir);
  if (files.length !== 1 || storedFlows(log) === 0) throw new Error(`nfcapd wrote ${files.length} files, ${storedFlows(log)} flows: ${log}`);
  return files[0]!;
}

/** The blocks of a version 2 file as the layout puts them (header 40 bytes, then 12-byte block headers). */
function blocksOf(bytes: Buffer): Array<{ at: number; numRecords: number; size: number }> {
  const out: Array<{ at: number; numRecords: number; size: number }> = [];
  for (let p = 40; p + 12 <= bytes.length; ) {
    const size = bytes.readUInt32LE(p + 4);
    out.push({ at: p, numRecords: bytes.readUInt32LE(p), size });
    p += 12 + size;
  }
  return out;
}

describe.skipIf(MISSING !== null)('nfcapd files written by Debian nfcapd, read record for record as nfdump reads them', () => {
  const files = new Map<NfcapdCompression, string>();
  beforeAll(async () => {
    for (const c of Object.keys(NFCAPD_COMPRESSION) as NfcapdCompression[]) files.set(c, await demoFile(c));
  }, 120_000);

  it.each(['none', 'lz4', 'bz2'] as const)('compression %s: every record nfdump prints, IPv4 and IPv6, and nothing else', async (c) => {
    const file = files.get(c)!;
    const expected = nfdumpRecords(file);
    expect(expected.length).toBeGreaterThan(10);
    expect(nfdumpVerify(file).compression).toBe({ none: 'not compressed', lz4: 'lz4 compressed', bz2: 'bz2 compressed' }[c]);
    const got = await minerwatchRecords(file);
    expect(got.format).toBe('nfcapd');
    expect(got.anomalies.toObject()).toEqual({});
    expect(got.lines).toEqual(expected);
    expect(expected.some((l) => l.includes(':'))).toBe(true);
  });

  it('bidirectional IPFIX (softflowd -v 10 -b): the reverse counters nfdump prints as opkt/obyt come through', async () => {
    const file = await demoFile('lz4', ['-v', '10', '-b']);
    const expected = nfdumpRecords(file);
    expect(expected.some((l) => !l.endsWith('|0|0'))).toBe(true);
    const got = await minerwatchRecords(file);
    expect(got.anomalies.toObject()).toEqual({});
    expect(got.lines).toEqual(expected);
  }, 60_000);

  it.skipIf(!LZO)('compression LZO (nfcapd -z): every record nfdump prints, IPv4 and IPv6, and nothing else', async () => {
    const file = files.get('lzo')!;
    const expected = nfdumpRecords(file);
    expect(expected.length).toBeGreaterThan(10);
    expect(nfdumpVerify(file).compression).toBe('lzo compressed');
    const got = await minerwatchRecords(file);
    expect(got.format).toBe('nfcapd');
    expect(got.anomalies.toObject()).toEqual({});
    expect(got.lines).toEqual(expected);
    expect(expected.some((l) => l.includes(':'))).toBe(true);
  });

  it(`compression LZO with the optional package lzo missing (${NO_LZO_ENV}=1): every block refused with a counted anomaly naming the file, its offset, the package and the conversion`, async () => {
    const file = files.get('lzo')!;
    const v = nfdumpVerify(file);
    expect(v.compression).toBe('lzo compressed');
    const before = process.env[NO_LZO_ENV];
    process.env[NO_LZO_ENV] = '1';
    let got: Read;
    try {
      got = await minerwatchRecords(file);
    } finally {
      if (before === undefined) delete process.env[NO_LZO_ENV];
      else process.env[NO_LZO_ENV] = before;
    }
    expect(got.lines).toEqual([]);
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.codec_unavailable': v.blocks });
    const first = got.anomalies.samples[0]!;
    expect(first).toMatchObject({ file, offset: 40 });
    expect(first.message).toMatch(/LZO-compressed block \(nfcapd -z\) not read: the optional package `lzo` is treated as missing .*`nfdump -r FILE -y -w NEW`/);
  });

  it('with lz4-napi unable to load (no binary for the platform), an LZ4 file\'s blocks are refused with a counted anomaly naming the package, and an uncompressed file is read whole', () => {
    // NAPI_RS_NATIVE_LIBRARY_PATH makes the package load its binary from there: a path that is not one fails as a missing binary does.
    const env = { NAPI_RS_NATIVE_LIBRARY_PATH: join(tmpdir(), 'minerwatch-no-such-binding.node') };
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-nolz4-'));
    const scan = (file: string): { inputs: Array<{ records: number; anomalies: Record<string, number> }> } => {
      const r = runCli(['scan', file, '--db', join(dir, `${basename(file)}.sqlite`), '--json'], 120_000, env);
      expect(r.out, r.err).not.toBe('');
      return JSON.parse(r.out) as { inputs: Array<{ records: number; anomalies: Record<string, number> }> };
    };
    const lz4 = scan(files.get('lz4')!);
    expect(lz4.inputs[0]!.records).toBe(0);
    expect(lz4.inputs[0]!.anomalies).toEqual({ 'nfcapd.codec_unavailable': nfdumpVerify(files.get('lz4')!).blocks });
    const db = new Database(join(dir, `${basename(files.get('lz4')!)}.sqlite`), { readonly: true });
    const sample = db.prepare("SELECT offset, message FROM anomaly_samples WHERE code = 'nfcapd.codec_unavailable' ORDER BY offset LIMIT 1").get() as { offset: number; message: string };
    db.close();
    expect(sample.offset).toBe(40);
    expect(sample.message).toMatch(/LZ4-compressed block \(nfcapd -y\) not read: the package `lz4-napi` did not load \(.+\).*`nfdump -r FILE -j -w NEW`/);
    const plain = scan(files.get('none')!);
    expect(plain.inputs[0]!.anomalies).toEqual({});
    expect(plain.inputs[0]!.records).toBe(nfdumpRecords(files.get('none')!).length);
  });

  it.skipIf(!LZO)('an LZO block whose bytes are damaged is skipped with a counted anomaly at its offset; the next block is read', async () => {
    const bytes = readFileSync(files.get('lzo')!);
    const data = blocksOf(bytes)[0]!;
    const copy = Buffer.from(bytes.subarray(data.at, data.at + 12 + data.size));
    // An LZO1X stream ends with the instruction 11 00 00; damaged there and throughout.
    expect([...copy.subarray(copy.length - 3)]).toEqual([0x11, 0, 0]);
    const damaged = Buffer.from(copy);
    for (let i = 12 + 20; i < damaged.length; i += 7) damaged[i] = damaged[i]! ^ 0x5a;
    damaged.fill(0xff, damaged.length - 3);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-bad-')), 'nfcapd.lzobad');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 40), damaged, copy, bytes.subarray(data.at + 12 + data.size)]));
    const got = await minerwatchRecords(file);
    expect(got.lines).toEqual(nfdumpRecords(files.get('lzo')!));
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.bad_compressed_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file, offset: 40 });
    expect(got.anomalies.samples[0]!.message).toMatch(/^LZO block of \d+ bytes does not decompress \(Decompression failed with code: LZO_E_\w+\)/);
  });

  it.skipIf(!LZO)("an LZO block that decompresses to more than nfdump's 5 MiB block is refused at its offset without growing past it; the next block is read", async () => {
    const bytes = readFileSync(files.get('lzo')!);
    const data = blocksOf(bytes)[0]!;
    const copy = Buffer.from(bytes.subarray(data.at, data.at + 12 + data.size));
    const bomb = LZO!.compress(Buffer.alloc(6 << 20));
    const head = Buffer.from(copy.subarray(0, 12));
    head.writeUInt32LE(bomb.length, 4);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-bomb-')), 'nfcapd.lzobomb');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 40), head, bomb, copy, bytes.subarray(data.at + 12 + data.size)]));
    const got = await minerwatchRecords(file);
    expect(got.lines).toEqual(nfdumpRecords(files.get('lzo')!));
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.bad_compressed_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file, offset: 40 });
    expect(got.anomalies.samples[0]!.message).toMatch(/LZO block of \d+ bytes does not decompress \(Decompression failed with code: LZO_E_OUTPUT_OVERRUN\)/);
  });

  it.skipIf(!HAVE_ZSTD_CLI)('compression ZSTD: each block of the uncompressed file recompressed by the zstd tool (nfdump 1.7.1 has no ZSTD) reads as nfdump reads the original', async () => {
    const original = files.get('none')!;
    const bytes = readFileSync(original);
    const parts: Buffer[] = [Buffer.from(bytes.subarray(0, 40))];
    parts[0]![16] = 4; // ZSTD_COMPRESSED
    for (const b of blocksOf(bytes)) {
      const z = spawnSync('zstd', ['-q', '-c', '-3'], { input: bytes.subarray(b.at + 12, b.at + 12 + b.size), maxBuffer: 1 << 26 });
      expect(z.status).toBe(0);
      const head = Buffer.from(bytes.subarray(b.at, b.at + 12));
      head.writeUInt32LE(z.stdout.length, 4);
      parts.push(head, z.stdout);
    }
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-zstd-')), 'nfcapd.zstd');
    writeFileSync(file, Buffer.concat(parts));
    const got = await minerwatchRecords(file);
    expect(got.anomalies.toObject()).toEqual({});
    expect(got.lines).toEqual(nfdumpRecords(original));
  });

  it('compression LZ4: blocks that grow, each over twice the one before (one record, three, the rest), then shrink (the appendix) read whole, as nfdump reads the same file', async () => {
    // The uncompressed file's first data block cut into blocks of 1, 3 and the rest of its records
    // (the appendix as it is), each compressed as an LZ4 block; nfdump itself reads the result.
    const original = files.get('none')!;
    const bytes = readFileSync(original);
    const [first, ...others] = blocksOf(bytes);
    const records: Buffer[] = [];
    for (let p = first!.at + 12; p < first!.at + 12 + first!.size; p += bytes.readUInt16LE(p + 2)) records.push(bytes.subarray(p, p + bytes.readUInt16LE(p + 2)));
    expect(records.length).toBe(first!.numRecords);
    expect(records.length).toBeGreaterThan(12);
    const cuts = [records.slice(0, 1), records.slice(1, 4), records.slice(4)];
    // The reader's own library compresses (nfdump is what checks the result).
    const lz4 = createRequire(import.meta.url)('lz4-napi') as { compressSync(b: Buffer): Buffer };
    const block = (head: Buffer, count: number, data: Buffer): Buffer[] => {
      const lz = Buffer.from(lz4.compressSync(data).subarray(4)); // lz4-napi puts the size first; nfdump does not
      const h = Buffer.from(head);
      h.writeUInt32LE(count, 0);
      h.writeUInt32LE(lz.length, 4);
      return [h, lz];
    };
    const header = Buffer.from(bytes.subarray(0, 40));
    header[16] = 3; // LZ4_COMPRESSED
    header.writeUInt32LE(header.readUInt32LE(36) + cuts.length - 1, 36);
    const parts: Buffer[] = [header];
    const head = bytes.subarray(first!.at, first!.at + 12);
    for (const c of cuts) parts.push(...block(head, c.length, Buffer.concat(c)));
    // The header says where the appendix (the last block) starts.
    const appendixAt = bytes.readUInt32LE(24);
    for (const b of others) {
      if (b.at === appendixAt) header.writeUInt32LE(parts.reduce((n, x) => n + x.length, 0), 24);
      parts.push(...block(bytes.subarray(b.at, b.at + 12), b.numRecords, bytes.subarray(b.at + 12, b.at + 12 + b.size)));
    }
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-lz4-grow-')), 'nfcapd.lz4grow');
    writeFileSync(file, Buffer.concat(parts));
    expect(nfdumpVerify(file)).toEqual({ compression: 'lz4 compressed', blocks: cuts.length + others.length });
    const want = nfdumpRecords(file);
    expect(want).toEqual(nfdumpRecords(original));
    const got = await minerwatchRecords(file);
    expect(got.anomalies.toObject()).toEqual({});
    expect(got.lines).toEqual(want);
  });

  it('a file whose header says layout 1 (nfdump 1.6) is refused whole, naming the file, offset 0 and the conversion', async () => {
    const bytes = Buffer.from(readFileSync(files.get('none')!));
    bytes.writeUInt16LE(1, 2);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-v1-')), 'nfcapd.v1');
    writeFileSync(file, bytes);
    const e = await minerwatchRecords(file).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).message).toBe(`${file}: at byte 0: nfdump 1.6 file (layout version 1) not read; expected layout version 2 (nfdump 1.7): convert it with nfdump 1.7 \`nfdump -r FILE -w NEW\` and scan NEW`);
  });

  it('a file cut inside its data block: anomaly nfcapd.truncated_block at the block offset, the run goes on', async () => {
    const bytes = readFileSync(files.get('lz4')!);
    const [first] = blocksOf(bytes);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-cut-')), 'nfcapd.cut');
    writeFileSync(file, bytes.subarray(0, first!.at + 12 + Math.floor(first!.size / 2)));
    const got = await minerwatchRecords(file);
    expect(got.lines).toEqual([]);
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.truncated_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file, offset: first!.at });
    expect(got.anomalies.samples[0]!.message).toMatch(/file ends \d+ bytes into a block of \d+ bytes .* expected the whole block/);
  });

  it('a file cut inside its header: counted, named with offset 0', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-cut-')), 'nfcapd.head');
    writeFileSync(file, readFileSync(files.get('lz4')!).subarray(0, 30));
    const got = await minerwatchRecords(file);
    expect(got.anomalies.toObject()).toEqual({ 'input.truncated_header': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file, offset: 0 });
  });

  it('a closed file cut at a block boundary (its header counts the blocks nfcapd wrote): counted after the last whole block', async () => {
    const bytes = readFileSync(files.get('lz4')!);
    const blocks = blocksOf(bytes);
    // nfcapd's header (NumBlocks at 36, appendixBlocks at 18) counts every block the file holds.
    expect(bytes.readUInt32LE(36) + bytes.readUInt16LE(18)).toBe(blocks.length);
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-cut-'));
    // The header alone, and the file without its last block.
    const headerOnly = join(dir, 'nfcapd.header-only');
    writeFileSync(headerOnly, bytes.subarray(0, 40));
    let got = await minerwatchRecords(headerOnly);
    expect(got.lines).toEqual([]);
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.truncated_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file: headerOnly, offset: 40 });
    expect(got.anomalies.samples[0]!.message).toBe(
      `file ends after 0 block(s); its header counts ${bytes.readUInt32LE(36)} data and ${bytes.readUInt16LE(18)} appendix block(s) (the file was cut at a block boundary)`,
    );
    const last = blocks[blocks.length - 1]!;
    const noLast = join(dir, 'nfcapd.no-last');
    writeFileSync(noLast, bytes.subarray(0, last.at));
    got = await minerwatchRecords(noLast);
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.truncated_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file: noLast, offset: last.at });
    // The whole file: nothing counted.
    expect((await minerwatchRecords(files.get('lz4')!)).anomalies.toObject()).toEqual({});
  });

  it('a file nfcapd has not closed (block counts still 0 in its header) ends where it ends, with nothing counted', async () => {
    const bytes = Buffer.from(readFileSync(files.get('lz4')!));
    const blocks = blocksOf(bytes);
    bytes.writeUInt32LE(0, 36);
    bytes.writeUInt16LE(0, 18);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-open-')), 'nfcapd.current');
    writeFileSync(file, bytes.subarray(0, blocks[blocks.length - 1]!.at));
    expect((await minerwatchRecords(file)).anomalies.toObject()).toEqual({});
  });

  it('a corrupted block header (size over 5 MiB) is named with its offset, and the reader finds the next block and reads it whole', async () => {
    const bytes = readFileSync(files.get('none')!);
    const blocks = blocksOf(bytes);
    const data = blocks[0]!;
    // The data block twice: the first copy's size damaged, the second intact, then the appendix.
    const copy = Buffer.from(bytes.subarray(data.at, data.at + 12 + data.size));
    const damaged = Buffer.from(copy);
    damaged.writeUInt32LE(0x7fffffff, 4);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-bad-')), 'nfcapd.bad');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 40), damaged, copy, bytes.subarray(data.at + 12 + data.size)]));
    const got = await minerwatchRecords(file);
    expect(got.lines).toEqual(nfdumpRecords(files.get('none')!));
    expect(got.anomalies.counts.get('nfcapd.bad_block')).toBe(1);
    expect(got.anomalies.samples.find((s) => s.code === 'nfcapd.bad_block')).toMatchObject({ file, offset: 40 });
    expect(got.anomalies.samples.find((s) => s.code === 'nfcapd.bad_block')!.message).toMatch(/block size 2147483647 over nfdump's maximum .* expected a block header with size 1-/);
    expect(got.anomalies.samples.find((s) => s.code === 'nfcapd.resync_skipped')).toMatchObject({ offset: 41 });
  });

  it('a compressed block whose bytes are damaged is skipped with a counted anomaly at its offset; the next block is read', async () => {
    const bytes = readFileSync(files.get('bz2')!);
    const data = blocksOf(bytes)[0]!;
    const copy = Buffer.from(bytes.subarray(data.at, data.at + 12 + data.size));
    const damaged = Buffer.from(copy);
    for (let i = 12 + 20; i < damaged.length; i += 7) damaged[i] = damaged[i]! ^ 0x5a;
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-bad-')), 'nfcapd.bz2bad');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 40), damaged, copy, bytes.subarray(data.at + 12 + data.size)]));
    const got = await minerwatchRecords(file);
    expect(got.lines).toEqual(nfdumpRecords(files.get('bz2')!));
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.bad_compressed_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file, offset: 40 });
    expect(got.anomalies.samples[0]!.message).toMatch(/BZ2 block of \d+ bytes does not decompress/);
  });

  it('an LZ4 block whose sequences claim more than nfdump\'s 5 MiB block is refused once its output passes that, at its offset; the next block is read', async () => {
    const bytes = readFileSync(files.get('lz4')!);
    const data = blocksOf(bytes)[0]!;
    const copy = Buffer.from(bytes.subarray(data.at, data.at + 12 + data.size));
    // One literal, then a match of offset 1 whose length bytes (255 each) add up to about 1 GB.
    const bomb = Buffer.alloc(4 << 20, 0xff);
    bomb.set([0x1f, 0x41, 0x01, 0x00], 0);
    bomb[bomb.length - 1] = 0;
    const head = Buffer.from(copy.subarray(0, 12));
    head.writeUInt32LE(bomb.length, 4);
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-bomb-')), 'nfcapd.bomb');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 40), head, bomb, copy, bytes.subarray(data.at + 12 + data.size)]));
    const got = await minerwatchRecords(file);
    expect(got.lines).toEqual(nfdumpRecords(files.get('lz4')!));
    expect(got.anomalies.toObject()).toEqual({ 'nfcapd.bad_compressed_block': 1 });
    expect(got.anomalies.samples[0]).toMatchObject({ file, offset: 40 });
    expect(got.anomalies.samples[0]!.message).toMatch(/LZ4 block of 4194304 bytes does not decompress \(not an LZ4 block: output over 5242868 bytes\)/);
  });

  it('record size 0, a record past its block, and an unknown extension id: each counted with the block offset, the rest read', async () => {
    const original = files.get('none')!;
    const bytes = readFileSync(original);
    const data = blocksOf(bytes)[0]!;
    // The V3 flow records (type 11) of the block, as the layout gives them.
    const v3: number[] = [];
    for (let p = data.at + 12, i = 0; i < data.numRecords; i++) {
      if (bytes.readUInt16LE(p) === 11) v3.push(p);
      p += bytes.readUInt16LE(p + 2);
    }
    const expected = nfdumpRecords(original);
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-rec-'));

    // Unknown extension: the last element of the first V3 record gets id 200.
    const unknown = Buffer.from(bytes);
    const first = v3[0]!;
    let q = first + 12;
    for (let e = 0; e < unknown.readUInt16LE(first + 4) - 1; e++) q += unknown.readUInt16LE(q + 2);
    unknown.writeUInt16LE(200, q);
    const fileUnknown = join(dir, 'nfcapd.unknown');
    writeFileSync(fileUnknown, unknown);
    const a = await minerwatchRecords(fileUnknown);
    expect(a.anomalies.toObject()).toEqual({ 'nfcapd.unknown_extension': 1 });
    expect(a.anomalies.samples[0]).toMatchObject({ file: fileUnknown, offset: data.at });
    // The element nfdump does not know carried none of the fields read, so every record stays.
    expect(a.lines).toEqual(expected);

    // Size 0 on the last V3 record: the records before it are read, the rest of the block skipped.
    const zero = Buffer.from(bytes);
    zero.writeUInt16LE(0, v3[v3.length - 1]! + 2);
    const fileZero = join(dir, 'nfcapd.zero');
    writeFileSync(fileZero, zero);
    const b = await minerwatchRecords(fileZero);
    expect(b.anomalies.toObject()).toEqual({ 'nfcapd.bad_record': 1 });
    expect(b.anomalies.samples[0]).toMatchObject({ file: fileZero, offset: data.at });
    expect(b.anomalies.samples[0]!.message).toMatch(/size 0, expected 4 to \d+ \(the block's end\)/);
    expect(b.lines.length).toBe(expected.length - 1);
    for (const l of b.lines) expect(expected).toContain(l);

    // A size running past the block's end.
    const over = Buffer.from(bytes);
    over.writeUInt16LE(0xfff0, v3[v3.length - 1]! + 2);
    const fileOver = join(dir, 'nfcapd.over');
    writeFileSync(fileOver, over);
    const c = await minerwatchRecords(fileOver);
    expect(c.anomalies.toObject()).toEqual({ 'nfcapd.bad_record': 1 });
    expect(c.lines.length).toBe(expected.length - 1);
  });

  it('an unreadable input names every supported format, nfcapd included', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-')), 'junk.bin');
    writeFileSync(file, Buffer.from('not a capture at all, nor a flow file\n'.repeat(20)));
    const e = await readCapture(file, { time: 0, offset: 0, packet() {}, record() {}, exportMessage() {} }, new Anomalies()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    for (const f of ['pcap', 'pcapng', 'nfdump binary file as nfcapd writes it', 'nfdump CSV', 'IPFIX', 'JSON lines', 'gzip']) expect((e as Error).message).toContain(f);
  });
});

describe.skipIf(MISSING !== null || !HAVE_CORPUS)('scan FILE.nfcapd end to end finds the mining subscribers that scanning the same records as nfdump CSV finds', () => {
  if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-nfcapd-scan-'));
  let file = '';
  let csv = '';
  beforeAll(async () => {
    const exports = ['takeshi__miner_9816a3d', 'nesfit__xmr.suprnova.cc', 'zeekcm__coinhive-stratum', 'ndpi__mining', 'nesfit__cgminer.s2', 'ndpi__google_ssl'].map((n) => join(CORPUS, 'netflow', 'generated', 'v9', `${n}.export.pcap`));
    const nfcapd = await startNfcapd(join(dir), ['-y']);
    try {
      for (const e of exports) await sendPaced(nfcapd.port, await exportDatagrams(e));
    } finally {
      await nfcapd.stop();
    }
    file = nfcapdFiles(dir)[0]!;
    csv = join(dir, 'same.csv');
    const r = spawnSync('nfdump', ['-r', file, '-o', 'csv'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 28, timeout: 60_000 });
    expect(r.status).toBe(0);
    writeFileSync(csv, r.stdout);
  }, 120_000);
  afterAll(() => undefined);

  it('same subscribers, mining flows, servers and confidence', () => {
    // The subscriber's server list keeps the first servers in flow order, which the CSV's whole
    // seconds can change; the mining flows' endpoints are compared whole instead.
    const report = (db: string): { subscribers: unknown[]; servers: unknown[] } => {
      const d = new Database(db, { readonly: true });
      try {
        return {
          subscribers: d.prepare('SELECT subscriber, mining_flows, coins, confidence FROM subscribers ORDER BY subscriber').all(),
          servers: d.prepare("SELECT DISTINCT client, server, server_port FROM flows WHERE label = 'mining' ORDER BY client, server, server_port").all(),
        };
      } finally {
        d.close();
      }
    };
    const a = runCli(['scan', file, '--db', join(dir, 'nfcapd.sqlite'), '--json']);
    expect(a.code, a.err).toBe(0);
    const b = runCli(['scan', csv, '--db', join(dir, 'csv.sqlite'), '--json']);
    expect(b.code, b.err).toBe(0);
    const ja = JSON.parse(a.out) as { inputs: Array<{ format: string; records: number; anomalies: object }>; miningFlows: number };
    const jb = JSON.parse(b.out) as { inputs: Array<{ format: string; records: number }>; miningFlows: number };
    expect(ja.inputs[0]).toMatchObject({ format: 'nfcapd', anomalies: {} });
    expect(jb.inputs[0]!.format).toBe('nfdump-csv');
    expect(ja.inputs[0]!.records).toBe(jb.inputs[0]!.records);
    expect(ja.miningFlows).toBe(jb.miningFlows);
    const mined = report(join(dir, 'nfcapd.sqlite'));
    expect(mined.subscribers.length).toBeGreaterThan(0);
    expect(mined).toEqual(report(join(dir, 'csv.sqlite')));
  }, 120_000);
});
