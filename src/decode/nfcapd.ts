/**
 * nfdump's binary flow files (what nfcapd writes and `nfdump -r` reads), as pure decoders: the
 * file header, the data block header, and the V3 flow record with its extension elements.
 * Layout facts from nfdump 1.7 (`nffileV2.h`, `nfxV3.h`, `nffile.c`): every number is in the
 * byte order of the host that wrote the file, which the magic 0xA50C tells; only little-endian
 * files (every x86 and ARM collector) are read.
 * @see https://github.com/phaag/nfdump/blob/master/src/libnffile/nffileV2.h
 * @see https://github.com/phaag/nfdump/blob/master/src/libnffile/nfxV3.h
 */
import { isDateMs, MAX_DATE_MS } from '../time.js';
import { formatIpv6Words } from '../ip.js';
import type { NumericExportRecord } from '../flow/records.js';

/** The magic of an nfdump file, as a little-endian u16. */
export const NFFILE_MAGIC = 0xa50c;
/** nfdump 1.6 files: a 140-byte header with ident, a stat record, then type-2 blocks. */
export const NFFILE_LAYOUT_V1 = 1;
/** nfdump 1.7 files: a 40-byte header, type-3 blocks, an appendix at the end. */
export const NFFILE_LAYOUT_V2 = 2;
/** Bytes of `fileHeaderV2_t` (with a 64-bit `time_t` and `off_t`). */
export const NFFILE_HEADER_V2_BYTES = 40;
/** Bytes of `dataBlock_t`: NumRecords, size, type, flags. */
export const NFFILE_BLOCK_HEADER_BYTES = 12;
/**
 * nfdump's block buffer (BUFFSIZE, 5 MiB) less the block header: no nfdump writes or reads a
 * block, compressed or not, larger than this.
 */
export const NFFILE_MAX_BLOCK_BYTES = 5 * 1048576 - NFFILE_BLOCK_HEADER_BYTES;
/** The block type of nfdump 1.7 data and appendix blocks. */
export const NFFILE_BLOCK_TYPE_3 = 3;

/** Block compression named in the V2 file header. */
export const NfCompression = { none: 0, lzo: 1, bz2: 2, lz4: 3, zstd: 4 } as const;
export type NfCompressionName = keyof typeof NfCompression;

/** The compression's name for messages. */
export function nfCompressionName(code: number): string {
  const name = (Object.keys(NfCompression) as NfCompressionName[]).find((k) => NfCompression[k] === code);
  return name ?? `unknown (${code})`;
}

/** What the V2 file header says. */
export interface NffileHeaderV2 {
  version: number;
  /** nfdump version that wrote the file, e.g. 0x01070100 for 1.7.1. */
  nfdVersion: number;
  /** Creation time, seconds since the epoch. */
  created: number;
  compression: number;
  encryption: number;
  appendixBlocks: number;
  creator: number;
  /** Byte offset of the appendix blocks (ident, statistics), after the data blocks. */
  offAppendix: number;
  /** Data blocks (the appendix not counted). */
  numBlocks: number;
}

/** Little-endian u16 at `p`. */
function u16(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}

/** Little-endian u32 at `p`. */
function u32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** Little-endian u64 at `p` as a number (exact below 2^53; counters and times are). */
function u64(b: Uint8Array, p: number): number {
  return u32(b, p) + u32(b, p + 4) * 4294967296;
}

/** Little-endian u64 at `p` of a view, as a number (exact below 2^53; counters and times are). */
function u64le(v: DataView, p: number): number {
  return v.getUint32(p, true) + v.getUint32(p + 4, true) * 4294967296;
}

/** Do the first bytes open an nfdump file (either layout, either byte order)? */
export function looksLikeNffile(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const le = head[0] === 0x0c && head[1] === 0xa5 && head[3] === 0 && (head[2] === NFFILE_LAYOUT_V1 || head[2] === NFFILE_LAYOUT_V2);
  const be = head[0] === 0xa5 && head[1] === 0x0c && head[2] === 0 && (head[3] === NFFILE_LAYOUT_V1 || head[3] === NFFILE_LAYOUT_V2);
  return le || be;
}

/** Is the file written by a big-endian host (magic bytes a5 0c)? */
export function isBigEndianNffile(head: Uint8Array): boolean {
  return head[0] === 0xa5 && head[1] === 0x0c;
}

/** The V2 file header at `p` (the caller checked that 40 bytes are there and the magic). */
export function decodeNffileHeaderV2(b: Uint8Array, p: number): NffileHeaderV2 {
  return {
    version: u16(b, p + 2),
    nfdVersion: u32(b, p + 4),
    created: u64(b, p + 8),
    compression: b[p + 16]!,
    encryption: b[p + 17]!,
    appendixBlocks: u16(b, p + 18),
    creator: u32(b, p + 20),
    offAppendix: u64(b, p + 24),
    numBlocks: u32(b, p + 36),
  };
}

/** One data block header. */
export interface NfBlockHeader {
  numRecords: number;
  /** Bytes after the header (compressed size when the file is compressed). */
  size: number;
  type: number;
  flags: number;
}

/** The block header at `p` (12 bytes there), into `out`. */
export function decodeNfBlockHeader(b: Uint8Array, p: number, out: NfBlockHeader): NfBlockHeader {
  out.numRecords = u32(b, p);
  out.size = u32(b, p + 4);
  out.type = u16(b, p + 8);
  out.flags = u16(b, p + 10);
  return out;
}

/**
 * Why a block header cannot be nfdump's (nfdump refuses the same: size 0 or over its buffer, no
 * records, a record count the size cannot hold), or null when it is plausible.
 */
export function nfBlockHeaderProblem(h: NfBlockHeader): string | null {
  if (h.size === 0) return 'block size 0';
  if (h.size > NFFILE_MAX_BLOCK_BYTES) return `block size ${h.size} over nfdump's maximum of ${NFFILE_MAX_BLOCK_BYTES}`;
  if (h.numRecords === 0) return 'block with 0 records';
  if (h.type !== NFFILE_BLOCK_TYPE_3 && h.type !== 2) return `block type ${h.type}`;
  return null;
}

/** Record types inside a block (nfdump's `id.h`). */
export const NfRecordType = {
  extensionMap: 2,
  exporterInfo: 7,
  exporterStat: 8,
  samplerLegacy: 9,
  common: 10,
  v3: 11,
  nbar: 12,
  ifName: 13,
  vrfName: 14,
  sampler: 15,
  ident: 0x8001,
  stat: 0x8002,
} as const;

/** Record types that carry no flow and are skipped without notice (metadata nfdump writes). */
const METADATA_RECORDS = new Set<number>([
  NfRecordType.exporterInfo,
  NfRecordType.exporterStat,
  NfRecordType.samplerLegacy,
  NfRecordType.nbar,
  NfRecordType.ifName,
  NfRecordType.vrfName,
  NfRecordType.sampler,
  NfRecordType.ident,
  NfRecordType.stat,
]);

/** Is `type` a record nfdump writes that holds no flow? */
export function isNfMetadataRecord(type: number): boolean {
  return METADATA_RECORDS.has(type);
}

/** Bytes of `recordHeaderV3_t`. */
export const NF_V3_HEADER_BYTES = 12;
/** Extension element ids (`nfxV3.h`); element lengths include their 4-byte header. */
export const NfExtension = { genericFlow: 1, ipv4Flow: 2, ipv6Flow: 3, cntFlow: 5 } as const;
/** Highest extension id nfdump 1.7 defines (`MAXEXTENSIONS` - 1). */
export const NF_MAX_EXTENSION_ID = 42;
const GENERIC_FLOW_BYTES = 4 + 48;
const IPV4_FLOW_BYTES = 4 + 8;
const IPV6_FLOW_BYTES = 4 + 32;
const CNT_FLOW_BYTES = 4 + 24;

/** A decoded V3 flow record: the numbers, and the addresses (IPv4 numeric, IPv6 as text). */
export interface NfV3Flow {
  rec: NumericExportRecord;
  ipVersion: 4 | 6;
  /** IPv6 addresses as text (empty for IPv4). */
  src6: string;
  dst6: string;
  /** Extension ids the record held that nfdump 1.7 does not define (0 when none). */
  unknownExtension: number;
}

/**
 * Decodes the V3 record at `b[p, p + size)` (a view of the block: one load per field; the caller
 * bounded `size` by the block) into `out`.
 * Returns null on success, or what is wrong: an element whose length is below 4 or runs past the
 * record, or no time/port element (genericFlow) or no address element (ipv4Flow/ipv6Flow).
 * Counters missing from the record are 0; nfdump's own counters are taken as they are (nfcapd
 * already scaled sampled ones), as its CSV prints them.
 */
export function decodeNfV3Record(b: DataView, p: number, size: number, out: NfV3Flow): string | null {
  const end = p + size;
  if (size < NF_V3_HEADER_BYTES) return `V3 record of ${size} bytes, below its 12-byte header`;
  const elements = b.getUint16(p + 4, true);
  const r = out.rec;
  let generic = -1;
  let v4 = -1;
  let v6 = -1;
  let cnt = -1;
  out.unknownExtension = 0;
  let q = p + NF_V3_HEADER_BYTES;
  for (let i = 0; i < elements; i++) {
    if (q + 4 > end) return `element ${i + 1} of ${elements} starts past the record's end`;
    const type = b.getUint16(q, true);
    const length = b.getUint16(q + 2, true);
    if (length < 4 || q + length > end) return `element ${i + 1} (id ${type}) of length ${length}, expected 4 to ${end - q} bytes`;
    switch (type) {
      case NfExtension.genericFlow:
        if (length < GENERIC_FLOW_BYTES) return `genericFlow element of ${length} bytes, expected ${GENERIC_FLOW_BYTES}`;
        generic = q + 4;
        break;
      case NfExtension.ipv4Flow:
        if (length < IPV4_FLOW_BYTES) return `ipv4Flow element of ${length} bytes, expected ${IPV4_FLOW_BYTES}`;
        v4 = q + 4;
        break;
      case NfExtension.ipv6Flow:
        if (length < IPV6_FLOW_BYTES) return `ipv6Flow element of ${length} bytes, expected ${IPV6_FLOW_BYTES}`;
        v6 = q + 4;
        break;
      case NfExtension.cntFlow:
        if (length < CNT_FLOW_BYTES) return `cntFlow element of ${length} bytes, expected ${CNT_FLOW_BYTES}`;
        cnt = q + 4;
        break;
      default:
        if (type === 0 || type > NF_MAX_EXTENSION_ID) out.unknownExtension = type || 0xffff;
    }
    q += length;
  }
  if (generic < 0) return 'V3 record without a genericFlow element (times, ports, protocol, counters)';
  if (v4 < 0 && v6 < 0) return 'V3 record without an ipv4Flow or ipv6Flow element (addresses)';
  r.firstMs = u64le(b, generic);
  r.lastMs = u64le(b, generic + 8);
  if (!isDateMs(r.firstMs) || !isDateMs(r.lastMs)) return `start ${r.firstMs} ms or end ${r.lastMs} ms outside the dates a report holds (expected within ${MAX_DATE_MS} ms of 1970)`;
  r.packets = u64le(b, generic + 24);
  r.bytes = u64le(b, generic + 32);
  r.srcPort = b.getUint16(generic + 40, true);
  r.dstPort = b.getUint16(generic + 42, true);
  r.protocol = b.getUint8(generic + 44);
  r.tcpFlags = b.getUint8(generic + 45);
  r.reversePackets = cnt >= 0 ? u64le(b, cnt + 8) : 0;
  r.reverseBytes = cnt >= 0 ? u64le(b, cnt + 16) : 0;
  r.sampling = 1;
  if (v4 >= 0) {
    out.ipVersion = 4;
    r.src4 = b.getUint32(v4, true);
    r.dst4 = b.getUint32(v4 + 4, true);
    out.src6 = '';
    out.dst6 = '';
  } else {
    // Each address is two host-order u64 words, the first holding the address's first 8 bytes.
    out.ipVersion = 6;
    r.src4 = 0;
    r.dst4 = 0;
    out.src6 = formatIpv6Words(b.getUint32(v6 + 4, true), b.getUint32(v6, true), b.getUint32(v6 + 12, true), b.getUint32(v6 + 8, true));
    out.dst6 = formatIpv6Words(b.getUint32(v6 + 20, true), b.getUint32(v6 + 16, true), b.getUint32(v6 + 28, true), b.getUint32(v6 + 24, true));
  }
  return null;
}

