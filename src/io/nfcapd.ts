/**
 * nfdump's binary flow files, as nfcapd writes them (`nfcapd.YYYYMMDDhhmm`) and `nfdump -w`
 * writes them: the nfdump 1.7 layout (version 2) is read block by block, each block decompressed
 * (LZ4, BZ2, ZSTD, or LZO through the optional package `lzo`) and its V3 flow records delivered as the
 * same export records the nfdump CSV reader gives. The nfdump 1.6 layout (version 1) is
 * recognised and refused with the conversion to use.
 *
 * Bad input is counted and passed over: a block header that cannot be right starts a search for
 * the next plausible one; a block that does not decompress, or a record whose size or elements
 * run past their block or record, is skipped. Block sizes are bounded by nfdump's own 5 MiB
 * buffer before anything is allocated or waited for.
 * @see ../decode/nfcapd.ts for the layout
 */
import { createRequire } from 'node:module';
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import { formatIpv4 } from '../ip.js';
import { newNumericRecord } from '../decode/templates.js';
import {
  decodeNfBlockHeader,
  decodeNffileHeaderV2,
  decodeNfV3Record,
  isBigEndianNffile,
  isNfMetadataRecord,
  nfBlockHeaderProblem,
  nfCompressionName,
  NfCompression,
  NFFILE_BLOCK_HEADER_BYTES,
  NFFILE_BLOCK_TYPE_3,
  NFFILE_HEADER_V2_BYTES,
  NFFILE_LAYOUT_V1,
  NFFILE_LAYOUT_V2,
  NFFILE_MAX_BLOCK_BYTES,
  NfRecordType,
  type NfBlockHeader,
  type NffileHeaderV2,
  type NfV3Flow,
} from '../decode/nfcapd.js';
import type { ByteWindow } from './joiner.js';
import type { RecordSink } from './nfcsv.js';

export { looksLikeNffile } from '../decode/nfcapd.js';

/** Decompresses one block into at most `capacity` bytes; throws on bad data or a larger output. */
export type NfBlockDecompressor = (src: Uint8Array, capacity: number) => Uint8Array;

/** A codec from a package that may not load: its decompressor, or why there is none. */
export type OptionalDecompressor = { decompress: NfBlockDecompressor } | { unavailable: string };

/** Block decompressors, loaded once (the WebAssembly ones compile asynchronously). */
export interface NfcapdCodecs {
  /**
   * LZ4 (`nfcapd -y`), from the package `lz4-napi` (a native addon, prebuilt for the common
   * platforms); or why there is none (no prebuilt binary for this platform loaded).
   */
  lz4: OptionalDecompressor;
  bz2: NfBlockDecompressor;
  zstd: NfBlockDecompressor;
  /**
   * LZO1X (`nfcapd -z`), from the optional native package `lzo`; or why there is none (the
   * package is not installed or did not load, or {@link NO_LZO_ENV} is set).
   */
  lzo: OptionalDecompressor;
}

/** Set to `1`, nfdump files' LZO blocks are refused as if the optional package `lzo` were absent. */
export const NO_LZO_ENV = 'MINERWATCH_NFCAPD_NO_LZO';

let codecs: Promise<Omit<NfcapdCodecs, 'lzo'>> | null = null;
let lzo: NfcapdCodecs['lzo'] | null = null;

/**
 * The block decompressors, loaded on first use (so that reading other formats never loads them).
 * {@link NO_LZO_ENV} is read at every call, the `lzo` package loaded at most once.
 */
export async function loadNfcapdCodecs(): Promise<NfcapdCodecs> {
  codecs ??= (async () => {
    const { default: Bzip2 } = await import('@foxglove/wasm-bz2');
    const zstdModule = (await import('@foxglove/wasm-zstd')) as unknown as { isLoaded: Promise<boolean>; decompress(b: Uint8Array, size: number): Uint8Array; default?: { isLoaded: Promise<boolean>; decompress(b: Uint8Array, size: number): Uint8Array } };
    const zstd = zstdModule.default ?? zstdModule;
    const [bz2] = await Promise.all([Bzip2.init(), zstd.isLoaded]);
    return {
      lz4: lz4Decoder(),
      bz2: (src: Uint8Array, capacity: number) => bz2.decompress(src, capacity),
      zstd: (src: Uint8Array, capacity: number) => zstd.decompress(src, capacity),
    };
  })();
  const base = await codecs;
  return { ...base, lzo: process.env[NO_LZO_ENV] === '1' ? { unavailable: `the optional package \`lzo\` is treated as missing (${NO_LZO_ENV}=1)` } : (lzo ??= loadLzo()) };
}

/** The export of `lz4-napi` used here. */
interface Lz4Package {
  /** An LZ4 block after a 4-byte little-endian size, decoded into at most that many bytes; throws a message past them or on bad data. */
  uncompressSync(data: Uint8Array): Buffer;
}

/**
 * LZ4 blocks (`nfcapd -y`) through `lz4-napi` (lz4_flex). nfdump stores no decompressed size, and
 * the decoder takes an upper bound before the block: twice the last block's output (a file's blocks
 * are alike), at most `capacity`; a block that needs more is decoded again with `capacity`. So a
 * block is decoded once, into a buffer near its size, and one claiming more than `capacity` (a
 * match of a gigabyte) fails once its output passes `capacity`. The framed copy is one buffer, reused.
 */
function lz4Decoder(): NfcapdCodecs['lz4'] {
  let uncompressSync: Lz4Package['uncompressSync'];
  try {
    ({ uncompressSync } = createRequire(import.meta.url)('lz4-napi') as Lz4Package);
  } catch (e) {
    return { unavailable: `the package \`lz4-napi\` did not load (${loadFailure(e)})` };
  }
  let frame = new Uint8Array(0);
  let view = new DataView(frame.buffer);
  let last = 0;
  const decode = (n: number, bound: number): Uint8Array => {
    view.setUint32(0, bound, true);
    return uncompressSync(frame.subarray(0, n + 4));
  };
  const decompress: NfBlockDecompressor = (src, capacity) => {
    if (frame.length < src.length + 4) {
      frame = new Uint8Array(Math.max(src.length + 4, frame.length * 2));
      view = new DataView(frame.buffer);
    }
    frame.set(src, 4);
    const guess = last > 0 ? Math.min(capacity, last * 2) : capacity;
    let out: Uint8Array;
    try {
      out = decode(src.length, guess);
    } catch (e) {
      if (guess >= capacity) throw lz4Failure(e, capacity);
      try {
        out = decode(src.length, capacity);
      } catch (e2) {
        throw lz4Failure(e2, capacity);
      }
    }
    last = out.length;
    return out;
  };
  return { decompress };
}

/** The decoder's failure as the reader says it (its message for an output over the bound names the bound). */
function lz4Failure(e: unknown, capacity: number): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`not an LZ4 block: ${/output is too small/.test(msg) ? `output over ${capacity} bytes` : msg}`, { cause: e });
}

/** The exports of the `lzo` package used here (it ships no types). */
interface LzoPackage {
  /** lzo1x_decompress_safe into a new buffer of `length` bytes; throws naming the LZO error code. */
  decompress(input: Buffer, length: number): Buffer;
}

/** The optional native `lzo` package (minilzo), or why it cannot be had. */
function loadLzo(): NfcapdCodecs['lzo'] {
  let pkg: LzoPackage;
  try {
    pkg = createRequire(import.meta.url)('lzo') as LzoPackage;
  } catch (e) {
    return { unavailable: `the optional package \`lzo\` is missing: not installed, or its native build did not load (${loadFailure(e)})` };
  }
  return {
    // nfdump stores only the compressed size; its decompressor writes into its block buffer, and so
    // does this one, failing with LZO_E_OUTPUT_OVERRUN past `capacity`.
    decompress(src, capacity) {
      if (src.length === 0) throw new Error('empty LZO block');
      return pkg.decompress(Buffer.from(src.buffer, src.byteOffset, src.length), capacity);
    },
  };
}

/** The first line of why a package did not load. */
function loadFailure(e: unknown): string {
  return e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
}

/** An optional codec's block, and when its package is not there, what was not read and what makes the file readable. */
interface OptionalCodec {
  codec: 'lz4' | 'lzo';
  block: string;
  remedy: string;
}

const LZ4_CODEC: OptionalCodec = {
  codec: 'lz4',
  block: 'LZ4-compressed block (nfcapd -y)',
  remedy: "install the package's prebuilt binary for this platform (`npm install`, optional dependencies included) or convert the file with `nfdump -r FILE -j -w NEW` (BZ2) and scan NEW",
};
const LZO_CODEC: OptionalCodec = {
  codec: 'lzo',
  block: 'LZO-compressed block (nfcapd -z)',
  remedy: 'install it (a native build: `npm install lzo` where a C compiler is available) or convert the file with `nfdump -r FILE -y -w NEW` (LZ4) and scan NEW',
};

/**
 * Reads an nfdump file from a byte window, delivering flow records to the sink. `packets` counts
 * flow records delivered.
 */
export class NfcapdParser {
  readonly format = 'nfcapd' as const;
  /** Flow records delivered. */
  records = 0;
  /** Blocks read whole (data and appendix). */
  blocks = 0;
  private header: NffileHeaderV2 | null = null;
  private failed = false;
  private resyncing = false;
  private readonly block: NfBlockHeader = { numRecords: 0, size: 0, type: 0, flags: 0 };
  private readonly flow: NfV3Flow = { rec: newNumericRecord(), ipVersion: 4, src6: '', dst6: '', unknownExtension: 0 };

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly sink: RecordSink,
    private readonly codecs: NfcapdCodecs,
  ) {}

  get packets(): number {
    return this.records;
  }

  parse(win: ByteWindow, final: boolean): void {
    if (this.failed) {
      win.start = win.end;
      return;
    }
    if (!this.header) {
      if (win.available < NFFILE_HEADER_V2_BYTES) {
        if (final) {
          this.anomalies.add('input.truncated_header', this.file, win.offsetOf(win.start), `nfdump file of ${win.available} bytes ends inside its ${NFFILE_HEADER_V2_BYTES}-byte header`);
          win.start = win.end;
        }
        return;
      }
      this.header = this.readHeader(win);
    }
    const b = win.buf;
    for (;;) {
      const s = win.start;
      if (this.resyncing) {
        let q = s;
        while (q + NFFILE_BLOCK_HEADER_BYTES <= win.end && !this.plausibleBlock(b, q)) q++;
        if (q + NFFILE_BLOCK_HEADER_BYTES > win.end) {
          if (final) {
            this.anomalies.add('nfcapd.resync_skipped', this.file, win.offsetOf(s), `skipped the last ${win.end - s} bytes: no plausible block header (type 3, size 1-${NFFILE_MAX_BLOCK_BYTES}, records 1 to size/4) in them`);
            win.start = win.end;
          } else win.start = Math.max(s, win.end - NFFILE_BLOCK_HEADER_BYTES + 1);
          return;
        }
        if (q > s) this.anomalies.add('nfcapd.resync_skipped', this.file, win.offsetOf(s), `skipped ${q - s} bytes to the next plausible block header at byte ${win.offsetOf(q)}`);
        win.start = q;
        this.resyncing = false;
        continue;
      }
      if (win.end - s < NFFILE_BLOCK_HEADER_BYTES) {
        if (final && win.end > s)
          this.anomalies.add('nfcapd.truncated_block', this.file, win.offsetOf(s), `file ends ${win.end - s} bytes into a block header; expected ${NFFILE_BLOCK_HEADER_BYTES} bytes (NumRecords, size, type, flags)`);
        else if (final) this.endsAtBlock(win, s);
        if (final) win.start = win.end;
        return;
      }
      const h = decodeNfBlockHeader(b, s, this.block);
      const problem = nfBlockHeaderProblem(h);
      if (problem) {
        this.damaged = true;
        this.anomalies.add('nfcapd.bad_block', this.file, win.offsetOf(s), `${problem} (records ${h.numRecords}, type ${h.type}); expected a block header with size 1-${NFFILE_MAX_BLOCK_BYTES}, at least one record, type 3; looking for the next block`);
        win.start = s + 1;
        this.resyncing = true;
        continue;
      }
      const total = NFFILE_BLOCK_HEADER_BYTES + h.size;
      if (win.end - s < total) {
        if (final) {
          this.anomalies.add('nfcapd.truncated_block', this.file, win.offsetOf(s), `file ends ${win.end - s - NFFILE_BLOCK_HEADER_BYTES} bytes into a block of ${h.size} bytes (${h.numRecords} records); expected the whole block`);
          win.start = win.end;
        }
        return;
      }
      win.start = s + total;
      this.blocks++;
      if (h.type !== NFFILE_BLOCK_TYPE_3) {
        this.anomalies.add('nfcapd.unsupported_block', this.file, win.offsetOf(s), `block type ${h.type} (nfdump 1.6 records) in a version 2 file; expected type 3; skipped`);
        continue;
      }
      const data = this.blockData(b, s + NFFILE_BLOCK_HEADER_BYTES, h.size, win.offsetOf(s));
      if (data) this.records3(data, h.numRecords, win.offsetOf(s));
    }
  }

  /**
   * The file ends cleanly after a block. nfcapd writes the number of data and appendix blocks into
   * the header when it closes a file (0 while it writes one), so a closed file that ends with fewer
   * was cut at a block boundary: counted like a file cut inside a block. A file with a bad block
   * counted already says its damage there.
   */
  private endsAtBlock(win: ByteWindow, s: number): void {
    const h = this.header;
    if (!h || this.damaged) return;
    const expected = h.numBlocks + h.appendixBlocks;
    if (h.numBlocks > 0 && this.blocks < expected)
      this.anomalies.add(
        'nfcapd.truncated_block',
        this.file,
        win.offsetOf(s),
        `file ends after ${this.blocks} block(s); its header counts ${h.numBlocks} data and ${h.appendixBlocks} appendix block(s) (the file was cut at a block boundary)`,
      );
  }

  /** A block header that cannot be right was counted: the file's own block count no longer says what is missing. */
  private damaged = false;

  private readHeader(win: ByteWindow): NffileHeaderV2 | null {
    const b = win.buf;
    const at = win.offsetOf(win.start);
    const stop = (why: string): never => {
      this.failed = true;
      win.start = win.end;
      throw new InputError(this.file, at, why);
    };
    if (isBigEndianNffile(b.subarray(win.start, win.start + 2))) stop('nfdump file written on a big-endian host (magic bytes a5 0c); only little-endian files (magic 0c a5) are read');
    const h = decodeNffileHeaderV2(b, win.start);
    if (h.version === NFFILE_LAYOUT_V1)
      stop('nfdump 1.6 file (layout version 1) not read; expected layout version 2 (nfdump 1.7): convert it with nfdump 1.7 `nfdump -r FILE -w NEW` and scan NEW');
    if (h.version !== NFFILE_LAYOUT_V2) stop(`nfdump file layout version ${h.version}; expected 2 (nfdump 1.7)`);
    if (h.encryption !== 0) stop(`encrypted nfdump file (encryption ${h.encryption}); expected 0`);
    if (h.compression > NfCompression.zstd) stop(`unknown block compression ${h.compression}; expected 0 (none), 1 (LZO), 2 (BZ2), 3 (LZ4) or 4 (ZSTD)`);
    win.start += NFFILE_HEADER_V2_BYTES;
    return h;
  }

  private plausibleBlock(b: Uint8Array, p: number): boolean {
    const h = decodeNfBlockHeader(b, p, this.block);
    return h.type === NFFILE_BLOCK_TYPE_3 && h.flags <= 7 && nfBlockHeaderProblem(h) === null && h.numRecords <= h.size / 4;
  }

  /** A block decompressed by a codec whose package may be missing; null (counted) when it is. */
  private optional(c: OptionalCodec, src: Uint8Array, at: number): Uint8Array | null {
    const codec = this.codecs[c.codec];
    if ('decompress' in codec) return codec.decompress(src, NFFILE_MAX_BLOCK_BYTES);
    this.anomalies.add('nfcapd.codec_unavailable', this.file, at, `${c.block} not read: ${codec.unavailable}; ${c.remedy}`);
    return null;
  }

  /** The block's records, decompressed; null (counted) when they cannot be had. */
  private blockData(b: Uint8Array, p: number, size: number, at: number): Uint8Array | null {
    const src = b.subarray(p, p + size);
    const compression = this.header!.compression;
    try {
      switch (compression) {
        case NfCompression.none:
          return src;
        case NfCompression.lz4:
          return this.optional(LZ4_CODEC, src, at);
        case NfCompression.bz2:
          return this.codecs.bz2(src, NFFILE_MAX_BLOCK_BYTES);
        case NfCompression.zstd:
          return this.codecs.zstd(src, NFFILE_MAX_BLOCK_BYTES);
        default:
          return this.optional(LZO_CODEC, src, at);
      }
    } catch (e) {
      this.anomalies.add('nfcapd.bad_compressed_block', this.file, at, `${nfCompressionName(compression).toUpperCase()} block of ${size} bytes does not decompress (${e instanceof Error ? e.message : String(e)}); expected nfdump's compressed records, at most ${NFFILE_MAX_BLOCK_BYTES} bytes of them; block skipped`);
      return null;
    }
  }

  /** Deliver the flow records of one block's decompressed bytes (`at`: the block's file offset). */
  private records3(d: Uint8Array, numRecords: number, at: number): void {
    const flow = this.flow;
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    let p = 0;
    for (let i = 0; i < numRecords; i++) {
      if (p === d.length) {
        this.anomalies.add('nfcapd.bad_record', this.file, at, `block holds ${i} records in ${d.length} bytes; its header says ${numRecords}`);
        return;
      }
      if (p + 4 > d.length) {
        this.anomalies.add('nfcapd.bad_record', this.file, at, `record ${i + 1} of ${numRecords} at block byte ${p}: ${d.length - p} bytes left, expected a 4-byte record header; rest of block skipped`);
        return;
      }
      const type = d[p]! | (d[p + 1]! << 8);
      const size = d[p + 2]! | (d[p + 3]! << 8);
      if (size < 4 || p + size > d.length) {
        this.anomalies.add('nfcapd.bad_record', this.file, at, `record ${i + 1} of ${numRecords} at block byte ${p}: size ${size}, expected 4 to ${d.length - p} (the block's end); rest of block skipped`);
        return;
      }
      if (type === NfRecordType.v3) {
        const problem = decodeNfV3Record(view, p, size, flow);
        if (problem) this.anomalies.add('nfcapd.bad_record', this.file, at, `record ${i + 1} of ${numRecords} at block byte ${p}: ${problem}; skipped`);
        else {
          if (flow.unknownExtension)
            this.anomalies.add('nfcapd.unknown_extension', this.file, at, `record ${i + 1} at block byte ${p}: extension id ${flow.unknownExtension}, expected 1-42 (nfdump 1.7); element skipped, record kept`);
          this.deliver(flow);
        }
      } else if (!isNfMetadataRecord(type)) {
        this.anomalies.add('nfcapd.unknown_record', this.file, at, `record ${i + 1} of ${numRecords} at block byte ${p}: type ${type}, expected 11 (V3 flow) or nfdump metadata; skipped`);
      }
      p += size;
    }
  }

  private deliver(flow: NfV3Flow): void {
    const r = flow.rec;
    this.records++;
    if (flow.ipVersion === 4) {
      if (this.sink.recordNumeric) {
        this.sink.recordNumeric(r);
        return;
      }
      this.sink.record({ ...countersOf(r), ipVersion: 4, srcAddr: formatIpv4(r.src4), dstAddr: formatIpv4(r.dst4) });
      return;
    }
    this.sink.record({ ...countersOf(r), ipVersion: 6, srcAddr: flow.src6, dstAddr: flow.dst6 });
  }
}

function countersOf(r: NfV3Flow['rec']): Omit<NfV3Flow['rec'], 'src4' | 'dst4'> {
  return { srcPort: r.srcPort, dstPort: r.dstPort, protocol: r.protocol, tcpFlags: r.tcpFlags, packets: r.packets, bytes: r.bytes, reversePackets: r.reversePackets, reverseBytes: r.reverseBytes, firstMs: r.firstMs, lastMs: r.lastMs, sampling: r.sampling };
}
