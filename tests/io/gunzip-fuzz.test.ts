/**
 * Seeded differential fuzz of gunzip (src/io/gunzip.ts). Inputs are 1–3 gzip members (node:zlib at
 * levels 0–9 and several strategies, the `gzip` program with and without a file name, and members
 * built here with every optional header field), of text, random bytes, runs or nothing, sometimes
 * followed by zero padding or garbage; some are then damaged (bits and bytes changed anywhere,
 * targeted header and trailer changes, cuts, inserted and deleted bytes). Each is fed in chunks of
 * 1 byte to 100 KiB, under a time limit, and judged by oracles that do not come from gunzip:
 *
 * - what the input was built from (undamaged: every byte, no problem; damage after a member keeps
 *   that member; a cut input gives a prefix of the original);
 * - `gzip -dc` where gzip is installed (the two outputs agree on their common prefix; equal when
 *   gzip decompressed everything; a problem said by one is said by the other);
 * - zlib's own gzip reader (node:zlib gunzipSync) when gunzip says nothing is wrong;
 * - invariants: no throw, an end, the whole source read, offsets in the input, non-empty messages.
 *
 * Every case is reproducible from its number alone (its generator is seeded from SEED and it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, crc32, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { gunzip } from '../../src/io/gunzip.js';
import { ethernet, LinkType, pcapFile, seededBytes, udpExchange } from '../support/builders.js';
import { mulberry32 } from '../support/random.js';

/** Another seed or more cases (GUNZIP_FUZZ_SEED, GUNZIP_FUZZ_CASES) for a longer hunt; the defaults are what `npm test` runs. */
const SEED = Number(process.env.GUNZIP_FUZZ_SEED ?? 0x67a1f5e3);
const CASES = Number(process.env.GUNZIP_FUZZ_CASES ?? 360);
/** A case that takes longer than this hangs. */
const CASE_TIMEOUT_MS = 5000;

const haveGzip = !spawnSync('gzip', ['--version']).error;
if (!haveGzip) console.warn('gzip not installed (Debian package gzip): gunzip fuzz runs without gzip-built members and without the gzip -dc comparison');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-gunzip-fuzz-'));
afterAll(() => {
  spawnSync('rm', ['-rf', tmp]);
});

// ---------------------------------------------------------------------------------------------
// Seeded choices

type Rng = () => number;
/** An integer in [lo, hi]. */
const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
/** An integer in [lo, hi], log-uniform (small values as likely per decade as large ones). */
const logInt = (r: Rng, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.floor(Math.exp(Math.log(lo) + r() * (Math.log(hi + 1) - Math.log(lo))))));
/** One of `weights`' keys, with probability proportional to its weight. */
function weighted<K extends string>(r: Rng, weights: Record<K, number>): K {
  const entries = Object.entries(weights) as Array<[K, number]>;
  let x = r() * entries.reduce((s, [, w]) => s + w, 0);
  for (const [k, w] of entries) if ((x -= w) < 0) return k;
  return entries[entries.length - 1]![0];
}

const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

// ---------------------------------------------------------------------------------------------
// Data, members, inputs

const WORDS = ['stratum', 'mining.subscribe', 'GET', '/index.html', 'HTTP/1.1', '200', 'OK', 'pool', 'nonce', 'job_id', '0x1f8b', 'resolver', 'A', 'AAAA', 'NXDOMAIN', '192.0.2.1', '100.64.0.9', 'ttl=300'];

/** Data to compress: empty, compressible text, random bytes, long runs, or a mix. */
function makeData(r: Rng): { data: Buffer; kind: string } {
  const kind = weighted(r, { empty: 1, text: 4, random: 3, runs: 1, mixed: 2 });
  const size = logInt(r, 1, 160_000);
  const text = (n: number): Buffer => {
    const parts: string[] = [];
    let len = 0;
    for (let line = 0; len < n; line++) {
      const s = `${line} ${Array.from({ length: int(r, 1, 9) }, () => pick(r, WORDS)).join(' ')}\n`;
      parts.push(s);
      len += s.length;
    }
    return Buffer.from(parts.join('')).subarray(0, n);
  };
  const random = (n: number): Buffer => Buffer.from(seededBytes(int(r, 0, 2 ** 31), n));
  const runs = (n: number): Buffer => {
    const out = Buffer.alloc(n);
    for (let at = 0; at < n; ) {
      const len = logInt(r, 1, 5000);
      out.fill(int(r, 0, 255), at, Math.min(n, at + len));
      at += len;
    }
    return out;
  };
  switch (kind) {
    case 'empty':
      return { data: Buffer.alloc(0), kind };
    case 'text':
      return { data: text(size), kind };
    case 'random':
      return { data: random(size), kind };
    case 'runs':
      return { data: runs(size), kind };
    default: {
      const parts: Buffer[] = [];
      for (let len = 0; len < size; ) {
        const n = Math.min(size - len, logInt(r, 1, 20_000));
        parts.push(pick(r, [text, random, runs])(n));
        len += n;
      }
      return { data: Buffer.concat(parts), kind };
    }
  }
}

/** One member: its bytes, what it decompresses to, where its deflate data and its trailer start (offsets in the member). */
interface Member {
  bytes: Buffer;
  data: Buffer;
  body: number;
  trailer: number;
  /** It carries a header CRC16 (FHCRC). */
  hcrc: boolean;
  how: string;
}

/** Length of a well-formed gzip header at `at` (RFC 1952, 2.3), or null when it is not one (built here, independent of gunzip). */
function headerLength(b: Uint8Array, at = 0): number | null {
  if (b.length < at + 10 || b[at] !== 0x1f || b[at + 1] !== 0x8b || b[at + 2] !== 8 || b[at + 3]! & 0xe0) return null;
  const flags = b[at + 3]!;
  let n = at + 10;
  if (flags & 4) {
    if (b.length < n + 2) return null;
    n += 2 + (b[n]! | (b[n + 1]! << 8));
  }
  for (const f of [8, 16]) {
    if (!(flags & f)) continue;
    while (n < b.length && b[n] !== 0) n++;
    if (n >= b.length) return null;
    n++;
  }
  if (flags & 2) n += 2;
  return n <= b.length ? n - at : null;
}

let files = 0;
/** One gzip member of `data`, made by node:zlib, the gzip program, or here (every optional header field). */
function makeMember(r: Rng, data: Buffer): Member {
  const how = weighted(r, { zlib: 5, gzip: haveGzip ? 3 : 0, built: 3 });
  if (how === 'zlib') {
    const level = pick(r, [0, 0, 1, 3, 6, 9]);
    const strategy = pick(r, [constants.Z_DEFAULT_STRATEGY, constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED]);
    const bytes = gzipSync(data, { level, strategy });
    return { bytes, data, body: 10, trailer: bytes.length - 8, hcrc: false, how: `zlib level ${level} strategy ${strategy}` };
  }
  if (how === 'gzip') {
    const level = int(r, 1, 9);
    // With a file (and no -n) gzip writes its name (FNAME) and modification time.
    const named = r() < 0.5;
    let z;
    if (named) {
      const f = join(tmp, `m${++files}-${'x'.repeat(int(r, 0, 40))}.bin`);
      writeFileSync(f, data);
      z = spawnSync('gzip', ['-c', `-${level}`, f], { maxBuffer: 1 << 28 });
    } else z = spawnSync('gzip', ['-c', `-${level}`, '-n'], { input: data, maxBuffer: 1 << 28 });
    if (z.status !== 0) throw new Error(`gzip -c failed: ${String(z.stderr)}`);
    const bytes = z.stdout as Buffer;
    const body = headerLength(bytes);
    if (body === null) throw new Error('gzip wrote a header this test cannot read');
    return { bytes, data, body, trailer: bytes.length - 8, hcrc: false, how: `gzip -${level}${named ? ' with a name' : ' -n'}` };
  }
  const extra = r() < 0.4 ? Buffer.from(seededBytes(int(r, 0, 2 ** 31), logInt(r, 1, 300) - 1)) : null;
  const name = r() < 0.5 ? Buffer.from(Array.from({ length: int(r, 0, 30) }, () => int(r, 1, 255))) : null;
  const comment = r() < 0.3 ? Buffer.from(Array.from({ length: logInt(r, 1, 2000) - 1 }, () => int(r, 1, 255))) : null;
  const hcrc = r() < 0.4;
  const flags = (r() < 0.2 ? 1 : 0) | (hcrc ? 2 : 0) | (extra ? 4 : 0) | (name ? 8 : 0) | (comment ? 16 : 0);
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, flags, int(r, 0, 255), int(r, 0, 255), int(r, 0, 255), int(r, 0, 255), pick(r, [0, 2, 4]), int(r, 0, 255)])];
  if (extra) parts.push(Buffer.from([extra.length & 0xff, extra.length >> 8]), extra);
  if (name) parts.push(name, Buffer.alloc(1));
  if (comment) parts.push(comment, Buffer.alloc(1));
  if (hcrc) {
    const c = crc32(Buffer.concat(parts));
    parts.push(Buffer.from([c & 0xff, (c >>> 8) & 0xff]));
  }
  const header = Buffer.concat(parts);
  const level = int(r, 0, 9);
  const bytes = Buffer.concat([header, deflateRawSync(data, { level }), le32(crc32(data)), le32(data.length)]);
  return { bytes, data, body: header.length, trailer: bytes.length - 8, hcrc, how: `built flags ${flags.toString(16)} level ${level}` };
}

type Tail = 'none' | 'zeros' | 'garbage' | 'zeros+garbage' | '1f8b+garbage';

/** An input as built, before any damage. */
interface Built {
  bytes: Buffer;
  members: Array<Member & { start: number; end: number }>;
  /** The members' data, one after another: what the undamaged input decompresses to. */
  want: Buffer;
  /** Where the last member ends (the tail starts). */
  membersEnd: number;
  tail: Tail;
  what: string;
}

function build(r: Rng): Built {
  const members: Built['members'] = [];
  const parts: Buffer[] = [];
  let at = 0;
  const count = weighted(r, { '1': 5, '2': 3, '3': 2 });
  const kinds: string[] = [];
  for (let i = 0; i < Number(count); i++) {
    const { data, kind } = makeData(r);
    const m = makeMember(r, data);
    members.push({ ...m, start: at, end: at + m.bytes.length });
    parts.push(m.bytes);
    at += m.bytes.length;
    kinds.push(`${kind} ${data.length} B via ${m.how}`);
  }
  const tail = weighted<Tail>(r, { none: 10, zeros: 4, garbage: 3, 'zeros+garbage': 1, '1f8b+garbage': 1 });
  const garbage = (n: number): Buffer => {
    const g = Buffer.from(seededBytes(int(r, 0, 2 ** 31), n));
    // Not a member and not padding: its first byte is neither 0 nor 0x1f.
    while (g[0] === 0 || g[0] === 0x1f) g[0] = int(r, 0, 255);
    return g;
  };
  if (tail === 'zeros') parts.push(Buffer.alloc(logInt(r, 1, 4000)));
  else if (tail === 'garbage') parts.push(garbage(logInt(r, 1, 3000)));
  else if (tail === 'zeros+garbage') parts.push(Buffer.alloc(logInt(r, 1, 500)), garbage(logInt(r, 1, 500)));
  else if (tail === '1f8b+garbage') parts.push(Buffer.from([0x1f, 0x8b]), Buffer.from(seededBytes(int(r, 0, 2 ** 31), logInt(r, 1, 200) - 1)));
  return { bytes: Buffer.concat(parts), members, want: Buffer.concat(members.map((m) => m.data)), membersEnd: at, tail, what: `${kinds.join(' + ')}, tail ${tail}` };
}

type DamageKind = 'none' | 'benign' | 'trailer' | 'cut' | 'bits' | 'bytes' | 'header' | 'insert' | 'delete' | 'bits+cut';

/** A damaged (or not) input: its bytes, and the first offset where it differs from what was built (its length when it does not). */
interface Damaged {
  bytes: Buffer;
  kind: DamageKind;
  /** First byte offset changed, inserted, deleted or cut. */
  first: number;
  /** Offsets changed in place (bits, bytes, header, benign, trailer). */
  changed: number[];
  /** Where a byte of the input as built is in the damaged one (null when it was deleted or cut). */
  map: (offset: number) => number | null;
  what: string;
}

function damage(r: Rng, b: Built): Damaged {
  const kind = weighted<DamageKind>(r, { none: 24, benign: 5, trailer: 9, cut: 16, bits: 14, bytes: 9, header: 8, insert: 5, delete: 5, 'bits+cut': 4 });
  const bytes = Buffer.from(b.bytes);
  const n = bytes.length;
  const changed: number[] = [];
  const set = (at: number, v: number): void => {
    if (bytes[at] === v) return;
    bytes[at] = v;
    changed.push(at);
  };
  const flipBits = (count: number, lo = 0, hi = n - 1): void => {
    for (let i = 0; i < count; i++) {
      const at = int(r, lo, hi);
      set(at, bytes[at]! ^ (1 << int(r, 0, 7)));
    }
  };
  const done = (what: string, out: Buffer = bytes, first = changed.length ? Math.min(...changed) : out.length, map: Damaged['map'] = (o) => (o < out.length ? o : null)): Damaged => ({
    bytes: out,
    kind,
    first,
    changed: [...new Set(changed)].sort((x, y) => x - y),
    map,
    what,
  });
  switch (kind) {
    case 'none':
      return done('undamaged');
    case 'benign': {
      // MTIME, XFL, OS or FTEXT of a member without a header CRC: nothing a reader may act on.
      const ms = b.members.filter((m) => !m.hcrc);
      if (!ms.length) return { ...done('undamaged (no member to change benignly)'), kind: 'none' };
      const m = pick(r, ms);
      if (r() < 0.25) set(m.start + 3, bytes[m.start + 3]! ^ 1);
      else set(m.start + int(r, 4, 9), int(r, 0, 255));
      return done(`benign header change in member at ${m.start}`);
    }
    case 'trailer': {
      // Mostly a member another follows: reading goes on after it.
      const m = b.members.length > 1 && r() < 0.7 ? pick(r, b.members.slice(0, -1)) : pick(r, b.members);
      const at = m.start + m.trailer + int(r, 0, 7);
      set(at, bytes[at]! ^ int(r, 1, 255));
      return done(`trailer byte ${at} of member at ${m.start} changed`);
    }
    case 'cut': {
      // Anywhere, or within a few bytes of a member's header, deflate data, trailer or end.
      const marks = b.members.flatMap((m) => [m.start, m.start + m.body, m.start + m.trailer, m.end]);
      const at = r() < 0.5 ? int(r, 0, n - 1) : Math.max(0, Math.min(n - 1, pick(r, marks) + int(r, -3, 3)));
      return done(`cut at ${at} of ${n}`, bytes.subarray(0, at), at);
    }
    case 'bits':
      flipBits(logInt(r, 1, 6));
      return done(`bits flipped at ${changed.join(',')}`);
    case 'bytes': {
      for (let i = logInt(r, 1, 4); i > 0; i--) set(int(r, 0, n - 1), int(r, 0, 255));
      return done(`bytes changed at ${changed.join(',')}`);
    }
    case 'header': {
      const m = pick(r, b.members);
      flipBits(int(r, 1, 2), m.start, m.start + m.body - 1);
      return done(`header bits of member at ${m.start} flipped at ${changed.join(',')}`);
    }
    case 'insert': {
      const at = int(r, 0, n);
      const extra = Buffer.from(seededBytes(int(r, 0, 2 ** 31), logInt(r, 1, 16)));
      return done(`${extra.length} byte(s) inserted at ${at}`, Buffer.concat([bytes.subarray(0, at), extra, bytes.subarray(at)]), at, (o) => (o < at ? o : o + extra.length));
    }
    case 'delete': {
      const at = int(r, 0, n - 1);
      const len = Math.min(n - at, logInt(r, 1, 16));
      return done(`${len} byte(s) deleted at ${at}`, Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + len)]), at, (o) => (o < at ? o : o >= at + len ? o - len : null));
    }
    case 'bits+cut': {
      flipBits(logInt(r, 1, 3));
      const at = int(r, 0, n - 1);
      const first = Math.min(at, ...changed.filter((c) => c < at));
      return done(`bits flipped at ${changed.join(',')}, cut at ${at}`, bytes.subarray(0, at), first);
    }
  }
}

/** Chunk lengths to feed `bytes` in: one byte at a time, one size, sizes that vary, or chunks that end where members and deflate data do. */
function chunking(r: Rng, b: Built, length: number): { sizes: number[]; what: string } {
  const min = Math.max(1, Math.ceil(length / 1500));
  const mode = weighted(r, { one: length <= 2500 ? 3 : 0, fixed: 3, varied: 4, marks: 2 });
  const sizes: number[] = [];
  if (mode === 'one') return { sizes: Array.from({ length }, () => 1), what: '1-byte chunks' };
  if (mode === 'fixed') {
    const s = logInt(r, min, 102_400);
    for (let at = 0; at < length; at += s) sizes.push(Math.min(s, length - at));
    return { sizes, what: `${s}-byte chunks` };
  }
  const marks = new Set(b.members.flatMap((m) => [m.start + m.body, m.start + m.trailer, m.end, m.start + m.trailer - 1, m.start + m.trailer + 1]));
  for (let at = 0; at < length; ) {
    let s = logInt(r, min, 102_400);
    if (mode === 'marks') {
      const next = [...marks].filter((x) => x > at).sort((x, y) => x - y)[0];
      if (next !== undefined && next - at <= s) s = next - at;
    }
    s = Math.min(s, length - at);
    sizes.push(s);
    at += s;
  }
  // Now and then an empty chunk, which a source may give.
  if (r() < 0.2) for (let i = int(r, 1, 4); i > 0; i--) sizes.splice(int(r, 0, sizes.length), 0, 0);
  return { sizes, what: mode === 'marks' ? `chunks ending at member marks (${sizes.length})` : `varied chunks (${sizes.length})` };
}

// ---------------------------------------------------------------------------------------------
// Running gunzip and gzip

interface Run {
  out: Buffer;
  /** It did not finish in time. */
  hung: boolean;
  problems: Array<{ offset: number; message: string }>;
  /** Whatever gunzip threw, or that it did not finish in time. */
  error: string | null;
  /** The source was read to its end. */
  drained: boolean;
  /** The largest chunk it yielded. */
  maxChunk: number;
}

async function run(bytes: Buffer, sizes: readonly number[], plain = false): Promise<Run> {
  const problems: Run['problems'] = [];
  const out: Buffer[] = [];
  let drained = false;
  let maxChunk = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    let at = 0;
    for (const s of sizes) {
      // Buffers, or plain Uint8Array views (what the type allows).
      yield plain ? new Uint8Array(bytes.buffer, bytes.byteOffset + at, s) : bytes.subarray(at, at + s);
      at += s;
    }
    drained = true;
  }
  const work = (async (): Promise<string | null> => {
    try {
      for await (const c of gunzip(source(), (offset, message) => problems.push({ offset, message }))) {
        if (!Buffer.isBuffer(c)) return `yielded a ${typeof c}, not a Buffer`;
        out.push(c);
        maxChunk = Math.max(maxChunk, c.length);
      }
      return null;
    } catch (e) {
      return `threw ${(e as Error)?.stack ?? String(e)}`;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`did not finish within ${CASE_TIMEOUT_MS} ms (${Buffer.concat(out).length} bytes out, ${problems.length} problem(s))`), CASE_TIMEOUT_MS);
  });
  let hung = false;
  const error = await Promise.race([work, timeout.then((e) => ((hung = true), e))]);
  clearTimeout(timer);
  return { out: Buffer.concat(out), hung, problems, error, drained, maxChunk };
}

interface Zcat {
  out: Buffer;
  status: number;
  stderr: string;
  /** gzip decompressed every member; at most it warned of trailing garbage (exit 2). */
  ok: boolean;
}

function zcat(bytes: Uint8Array): Zcat {
  const z = spawnSync('gzip', ['-dc'], { input: bytes, maxBuffer: 1 << 28 });
  const stderr = String(z.stderr);
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const status = z.status ?? -1;
  const ok = status === 0 || (status === 2 && lines.length > 0 && lines.every((l) => /decompression OK, trailing (garbage|zero bytes) ignored/.test(l)));
  return { out: z.stdout as Buffer, status, stderr: stderr.trim().replace(/\n+/g, ' | '), ok };
}

/** What zlib's own gzip reader makes of `bytes` (it checks header CRCs, trailers, and reads members in turn). */
function zlibGunzip(bytes: Uint8Array): Buffer | string {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * What zlib decompresses of the deflate data that starts at `body` before the error in it: the
 * output of the longest prefix that inflates without one (a prefix is inflated as a cut stream,
 * and once a prefix reaches the error every longer one does). Null when the data has no error
 * (it ends, or is cut short).
 */
function zlibBeforeError(bytes: Buffer, body: number): Buffer | null {
  return deflateError(bytes, body)?.before ?? null;
}

/** What zlib makes of the first `n` bytes of the deflate data at `body`, as a cut stream (null at an error). */
function inflatePrefix(bytes: Buffer, body: number, n: number): Buffer | null {
  try {
    return inflateRawSync(bytes.subarray(body, body + n), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return null;
  }
}

/** {@link zlibBeforeError}, and `at`: the length of the shortest prefix that fails (its last byte is where zlib sees the error). */
function deflateError(bytes: Buffer, body: number): { before: Buffer; at: number } | null {
  let hi = bytes.length - body;
  if (inflatePrefix(bytes, body, hi) !== null) return null;
  let lo = 0;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (inflatePrefix(bytes, body, mid) !== null) lo = mid;
    else hi = mid;
  }
  return { before: inflatePrefix(bytes, body, lo) ?? Buffer.alloc(0), at: hi };
}

/** Compressed bytes gunzip writes to zlib at a time (PIECE in src/io/gunzip.ts): what it may lose at a deflate error is what zlib makes of one such write. */
const PIECE = 16 * 1024;

const isPrefix = (a: Buffer, b: Buffer): boolean => a.length <= b.length && b.subarray(0, a.length).equals(a);
/** Where two buffers first differ (the shorter's length when one is a prefix of the other). */
function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
const describeBytes = (name: string, a: Buffer, b: Buffer, bName: string): string => `${name} ${a.length} B vs ${bName} ${b.length} B, first difference at ${firstDiff(a, b)}`;

/** Magics gzip decompresses that are not RFC 1952 members (old gzip 1f 9e, pack 1f 1e, compress 1f 9d, LZH 1f a0): a difference there is gzip's extension, not gunzip's fault. */
function otherMagicAt(bytes: Uint8Array, offset: number): boolean {
  if (offset === 0 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4) return true;
  return bytes[offset] === 0x1f && [0x9e, 0x1e, 0x9d, 0xa0].includes(bytes[offset + 1]!);
}

/**
 * The damaged input with the header CRC16 of every member that has one (FHCRC), where it was
 * built, made right for the header as it now is; null when there is none.
 */
function repairHeaderCrcs(b: Built, d: Damaged): Buffer | null {
  const fixed = Buffer.from(d.bytes);
  let any = false;
  for (const m of b.members) {
    const at = d.map(m.start);
    const n = at === null ? null : headerLength(fixed, at);
    if (at === null || n === null || !(fixed[at + 3]! & 2)) continue;
    const c = crc32(fixed.subarray(at, at + n - 2));
    fixed[at + n - 2] = c & 0xff;
    fixed[at + n - 1] = (c >>> 8) & 0xff;
    any = true;
  }
  return any ? fixed : null;
}

/** Every oracle for one case; what fails, in words (empty when all hold). */
async function check(id: number): Promise<{ failures: string[]; stats: { bytes: number; damaged: boolean; gzipCompared: boolean; headerCrc: boolean; ms: number; hung: boolean } }> {
  const r = mulberry32((Math.imul(SEED, 0x9e3779b1) ^ Math.imul(id + 1, 0x85ebca77)) >>> 0);
  const b = build(r);
  const d = damage(r, b);
  const { sizes, what: chunks } = chunking(r, b, d.bytes.length);
  const plain = r() < 0.25;
  const label = `case ${id} [${b.what}; ${d.what}; ${chunks}${plain ? ' (Uint8Array)' : ''}; ${d.bytes.length} B]`;
  const failures: string[] = [];
  const fail = (what: string): void => {
    failures.push(`${label}: ${what}`);
  };
  const copy = Buffer.from(d.bytes);
  const t0 = performance.now();
  const g = await run(d.bytes, sizes, plain);
  const ms = performance.now() - t0;
  const stats = { bytes: d.bytes.length, damaged: d.kind !== 'none', gzipCompared: false, headerCrc: false, ms, hung: g.hung };
  const problems = g.problems.map((p) => `@${p.offset} ${p.message}`).join(' | ') || 'none';

  // Invariants, for every input.
  if (g.error !== null) {
    fail(`gunzip ${g.error}`);
    return { failures, stats };
  }
  if (!g.drained) fail('the source was not read to its end');
  if (!d.bytes.equals(copy)) fail('gunzip changed the bytes it was given');
  let last = 0;
  for (const p of g.problems) {
    if (!Number.isInteger(p.offset) || p.offset < 0 || p.offset > d.bytes.length) fail(`problem offset ${p.offset} outside [0, ${d.bytes.length}]: ${p.message}`);
    if (p.offset < last) fail(`problem offsets go back (${last} then ${p.offset})`);
    last = p.offset;
    if (typeof p.message !== 'string' || p.message.trim() === '') fail(`problem at ${p.offset} without a message`);
  }
  // A problem is said at most once per member header (1f 8b) in the input, plus one that ends it.
  let magics = 0;
  for (let i = 0; i + 1 < d.bytes.length; i++) if (d.bytes[i] === 0x1f && d.bytes[i + 1] === 0x8b) magics++;
  if (g.problems.length > magics + 1) fail(`${g.problems.length} problems for ${magics} member header(s): ${problems}`);

  // What the input was built from.
  const dataBefore = (offset: number): Buffer => Buffer.concat(b.members.filter((m) => m.end <= offset).map((m) => m.data));
  const tailNonZero = b.bytes.subarray(b.membersEnd).some((x) => x !== 0);
  if (d.kind === 'none' || d.kind === 'benign') {
    if (!g.out.equals(b.want)) fail(`output is not the data: ${describeBytes('got', g.out, b.want, 'data')}`);
    if (b.tail === '1f8b+garbage') {
      if (!g.problems.length || g.problems[0]!.offset < b.membersEnd) fail(`garbage after the last member not said at or after ${b.membersEnd}: ${problems}`);
    } else {
      const want = tailNonZero ? [b.membersEnd] : [];
      if (JSON.stringify(g.problems.map((p) => p.offset)) !== JSON.stringify(want)) fail(`problems at ${JSON.stringify(want)} expected; got ${problems}`);
    }
  } else if (d.kind === 'trailer') {
    // Every member still decompresses whole; the changed trailer is said where it starts.
    if (!g.out.equals(b.want)) fail(`a changed trailer lost data: ${describeBytes('got', g.out, b.want, 'data')}`);
    const m = b.members.find((x) => d.first >= x.start + x.trailer && d.first < x.end)!;
    if (b.tail !== '1f8b+garbage') {
      const want = [m.start + m.trailer, ...(tailNonZero ? [b.membersEnd] : [])];
      if (JSON.stringify(g.problems.map((p) => p.offset)) !== JSON.stringify(want)) fail(`problems at ${JSON.stringify(want)} expected; got ${problems}`);
    } else if (g.problems[0]?.offset !== m.start + m.trailer) fail(`the changed trailer at ${m.start + m.trailer} not said first: ${problems}`);
  } else {
    // Members that end before the first damaged byte decompress whole, before anything else.
    const intact = dataBefore(d.first);
    if (!isPrefix(intact, g.out)) fail(`the members before the damage at ${d.first} are not all given: ${describeBytes('got', g.out, intact, 'their data')}`);
    // The damaged member's deflate data does not decompress: what gunzip gives of it is a prefix of
    // what zlib makes of it before the error, and nothing after. zlib drops what it decompressed in
    // the same write as its error (src/io/gunzip.ts says so), so the prefix may be shorter.
    const k = b.members.find((m) => m.start <= d.first && d.first < m.end);
    const header = k ? headerLength(d.bytes, k.start) : null;
    const error = k && header !== null ? deflateError(d.bytes, k.start + header) : null;
    if (error !== null) {
      const { before } = error;
      const want = Buffer.concat([intact, before]);
      if (!isPrefix(g.out, want))
        fail(`the member at ${k!.start} has a deflate error ${before.length} decompressed byte(s) in: gunzip should give the members before it and a prefix of those bytes, ${want.length} B; ${describeBytes('got', g.out, want, 'that')}; problems ${problems}`);
      // At most one write is lost: what zlib makes of the bytes a whole write before the error is kept.
      const kept = inflatePrefix(d.bytes, k!.start + header!, Math.max(0, error.at - PIECE))!;
      if (g.out.length < intact.length + kept.length)
        fail(`the member at ${k!.start} has a deflate error ${before.length} decompressed byte(s) in: gunzip gave ${g.out.length - intact.length} of them, fewer than the ${kept.length} zlib makes of the bytes ${PIECE} or more before the error (more than one write lost); problems ${problems}`);
    }
    if (d.kind === 'cut') {
      // A prefix of the input gives a prefix of its data, and a problem unless it was cut between members or in zero padding.
      if (!isPrefix(g.out, b.want)) fail(`a cut input gave what is not a prefix of the data: ${describeBytes('got', g.out, b.want, 'data')}`);
      const atEnd = b.members.some((m) => m.end === d.first) || (d.first >= b.membersEnd && !b.bytes.subarray(b.membersEnd, d.first).some((x) => x !== 0));
      if (atEnd) {
        if (g.problems.length || !g.out.equals(intact)) fail(`a cut between members or in padding should give their data and no problem; got ${describeBytes('', g.out, intact, 'their data')}; problems ${problems}`);
      } else if (d.first < b.membersEnd) {
        const m = b.members.find((x) => d.first >= x.start && d.first < x.end)!;
        if (g.problems.length !== 1 || g.problems[0]!.offset < m.start || g.problems[0]!.offset > d.first) fail(`a cut inside the member at ${m.start} should be said once, between ${m.start} and ${d.first}; got ${problems}`);
        if (d.first >= m.start + m.trailer && !g.out.equals(Buffer.concat([intact, m.data]))) fail(`a member cut in its trailer lost data: ${describeBytes('got', g.out, Buffer.concat([intact, m.data]), 'its data')}`);
      } else if (!g.problems.length) fail('a cut in garbage after the last member said nothing about the garbage');
    }
  }

  if (haveGzip) {
    stats.gzipCompared = true;
    const z = zcat(d.bytes);
    const gz = `gzip -dc exit ${z.status}${z.stderr ? ` (${z.stderr})` : ''}`;
    const otherMagic = g.problems.some((p) => otherMagicAt(d.bytes, p.offset));
    if (!isPrefix(g.out, z.out) && !isPrefix(z.out, g.out)) fail(`gunzip and gzip -dc disagree on their common prefix: ${describeBytes('gunzip', g.out, z.out, 'gzip')}; ${gz}; problems ${problems}`);
    if (z.ok && !otherMagic && !g.out.equals(z.out)) fail(`gzip -dc decompressed every member but gunzip gave other bytes: ${describeBytes('gunzip', g.out, z.out, 'gzip')}; ${gz}; problems ${problems}`);
    if (g.problems.length === 0) {
      if (z.status !== 0 || !g.out.equals(z.out)) fail(`gunzip said nothing is wrong where gzip did not take the input as it is: ${gz}; ${describeBytes('gunzip', g.out, z.out, 'gzip')}`);
    } else if (z.status === 0 && !otherMagic) fail(`gunzip said a problem where gzip -dc took the input whole: ${problems}`);
    // gzip refuses a member whose header CRC16 (FHCRC) does not match; gunzip says so and reads on.
    // When only that is wrong (gzip takes the input with the CRC made right), gunzip gives what gzip then does.
    const fixed = /header checksum/.test(z.stderr) ? repairHeaderCrcs(b, d) : null;
    const z2 = fixed ? zcat(fixed) : null;
    if (z2 && z2.status === 0) {
      stats.headerCrc = true;
      if (!g.problems.some((p) => /header CRC16/.test(p.message))) fail(`gzip refused a header CRC16 gunzip did not name: ${gz}; problems ${problems}`);
      if (!g.out.equals(z2.out)) fail(`only a header CRC16 is wrong, but gunzip gave other bytes than gzip -dc of the input with it made right: ${describeBytes('gunzip', g.out, z2.out, 'gzip')}`);
    }
  }
  if (g.problems.length === 0) {
    const zl = zlibGunzip(d.bytes);
    if (typeof zl === 'string') fail(`gunzip said nothing is wrong where zlib's gunzip failed (${zl})`);
    else if (!zl.equals(g.out)) fail(`gunzip said nothing is wrong but zlib's gunzip gave other bytes: ${describeBytes('gunzip', g.out, zl, 'zlib')}`);
  }
  return { failures, stats };
}

describe('gunzip, seeded differential fuzz', () => {
  it(`${CASES} built and damaged gzip inputs, fed in chunks of 1 byte to 100 KiB, against what they were built from${haveGzip ? ', gzip -dc' : ''} and zlib`, { timeout: 120_000 }, async () => {
    const failures: string[] = [];
    let bytes = 0;
    let damaged = 0;
    let compared = 0;
    let headerCrcs = 0;
    let slowest = { id: -1, ms: 0 };
    const t0 = performance.now();
    for (let id = 0; id < CASES; id++) {
      const { failures: f, stats } = await check(id);
      failures.push(...f);
      bytes += stats.bytes;
      if (stats.damaged) damaged++;
      if (stats.gzipCompared) compared++;
      if (stats.headerCrc) headerCrcs++;
      if (stats.ms > slowest.ms) slowest = { id, ms: stats.ms };
      // A hung gunzip goes on running: the cases after it would say nothing more.
      if (stats.hung) {
        failures.push(`the cases after case ${id} were not run`);
        break;
      }
    }
    console.info(
      `gunzip fuzz: ${CASES} cases (${damaged} damaged, ${compared} compared with gzip -dc, ${headerCrcs} of them with only a header CRC16 wrong), ${(bytes / 1e6).toFixed(1)} MB of input, ${((performance.now() - t0) / 1000).toFixed(1)} s; slowest case ${slowest.id} (${slowest.ms.toFixed(0)} ms)`,
    );
    expect(failures).toEqual([]);
  });

  it('before a deflate error, keeps a prefix of what zlib decompresses: all of it when the input comes a byte at a time (the smallest case the fuzz finds)', async () => {
    // A stored block of 16 bytes, then a block of the reserved type 3: zlib gives the 16 bytes, then fails.
    // zlib drops what it decompressed in the same write as its error (src/io/gunzip.ts says so): at
    // most one write's worth, so a cut shorter than that is kept whole only when the bytes come one by one.
    const text = Buffer.from('line 0 of a log\n');
    const bytes = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x00, 0x10, 0x00, 0xef, 0xff]), text, Buffer.from([0x07]), Buffer.alloc(8)]);
    expect(zlibBeforeError(bytes, 10)).toEqual(text);
    for (const size of [bytes.length, 16, 5, 1]) {
      const g = await run(bytes, Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => Math.min(size, bytes.length - i * size)));
      expect(g.error).toBeNull();
      expect(g.problems).toHaveLength(1);
      expect(g.problems[0]!.message).toMatch(/its deflate data does not decompress \(invalid block type\)/);
      expect(text.subarray(0, g.out.length).equals(g.out), `${size}-byte chunks`).toBe(true);
      if (size === 1) expect(g.out.equals(text)).toBe(true);
    }
  });

  it('a deflate bomb (40 MB of zeros in a 40 kB member) comes out whole, in bounded chunks', async () => {
    const data = Buffer.alloc(40_000_000);
    const member = gzipSync(data, { level: 9 });
    const g = await run(member, [member.length]);
    expect(g.error).toBeNull();
    expect(g.problems).toEqual([]);
    expect(g.out.length).toBe(data.length);
    expect(g.out.every((x) => x === 0)).toBe(true);
    // Passed on as it comes, never held whole.
    expect(g.maxChunk).toBeLessThanOrEqual(1 << 20);
  });

  it('throws what its source throws, wherever the source fails, and nothing else', async () => {
    const r = mulberry32(SEED ^ 0x7e57);
    const bytes = Buffer.concat([gzipSync(Buffer.from(seededBytes(5, 50_000)), { level: 1 }), gzipSync(Buffer.alloc(0))]);
    for (let k = 0; k < 12; k++) {
      const failAt = k === 0 ? 0 : int(r, 1, bytes.length);
      const size = logInt(r, 64, 20_000);
      const boom = new Error(`source failed at ${failAt}`);
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < failAt; at += size) yield bytes.subarray(at, Math.min(failAt, at + size));
        throw boom;
      }
      let thrown: unknown = null;
      const out: Buffer[] = [];
      const work = (async () => {
        try {
          for await (const c of gunzip(source(), () => undefined)) out.push(c);
        } catch (e) {
          thrown = e;
        }
      })();
      let timer: NodeJS.Timeout | undefined;
      const hung = await Promise.race([work.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), CASE_TIMEOUT_MS)))]);
      clearTimeout(timer);
      expect(hung, `source failing at ${failAt}, ${size}-byte chunks`).toBe(false);
      expect(thrown, `source failing at ${failAt}, ${size}-byte chunks`).toBe(boom);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI path: `scan FILE.pcap.gz --json` over damaged captures

describe('scan over damaged gzip captures', () => {
  /** About 20 kB of pcap (more than one 16 KiB inflate piece), incompressible payloads. */
  function capture(): Uint8Array {
    const messages = Array.from({ length: 150 }, (_, i) => ({ from: (i % 2 ? 'server' : 'client') as 'client' | 'server', data: seededBytes(900 + i, 40 + (i % 9) * 11) }));
    const frames = udpExchange({ client: ['100.64.0.31', 41000], server: ['192.0.2.31', 3333], start: Date.UTC(2024, 4, 2, 8, 0, 0), messages }).map((p) => ({ ts: p.ts, data: ethernet(p.ip) }));
    return pcapFile(LinkType.ETHERNET, frames);
  }

  it('exits 0, or 1 only when too few bytes are left to recognise the capture, and always prints JSON', { timeout: 60_000 }, async () => {
    const pcap = Buffer.from(capture());
    const gz = gzipSync(pcap, { level: 6 });
    const second = gzipSync(pcap.subarray(0, 3000), { level: 1 });
    const r = mulberry32(SEED ^ 0x5ca1ab1e);
    const flip = (b: Buffer, at: number, mask = 1 << int(r, 0, 7)): Buffer => {
      const c = Buffer.from(b);
      c[at]! ^= mask;
      return c;
    };
    const cases: Array<[string, Buffer]> = [
      ['MTIME changed', flip(gz, 5, 0xff)],
      ['reserved flag set', flip(gz, 3, 0x80)],
      ['FNAME flag set', flip(gz, 3, 0x08)],
      ['method byte changed', flip(gz, 2, 0x01)],
      ['cut in the header', gz.subarray(0, 5)],
      ['cut after 20 bytes', gz.subarray(0, 20)],
      ['cut after 300 bytes', gz.subarray(0, 300)],
      ['cut in the middle', gz.subarray(0, gz.length >> 1)],
      ['cut in the trailer', gz.subarray(0, gz.length - 3)],
      ['CRC32 changed', flip(gz, gz.length - 8)],
      ['length changed', flip(gz, gz.length - 2)],
      ['a bit flipped early in the deflate data', flip(gz, int(r, 10, 40))],
      ['a bit flipped in the deflate data', flip(gz, int(r, 600, gz.length - 9))],
      ['a bit flipped late in the deflate data', flip(gz, gz.length - 9 - int(r, 0, 30))],
      ['bytes inserted in the deflate data', Buffer.concat([gz.subarray(0, 2000), Buffer.from(seededBytes(77, 7)), gz.subarray(2000)])],
      ['bytes deleted from the deflate data', Buffer.concat([gz.subarray(0, 1500), gz.subarray(1511)])],
      ['garbage after the member', Buffer.concat([gz, Buffer.from('not gzip at all')])],
      ['a second member, damaged', Buffer.concat([gz, flip(second, 500)])],
      ['a second member, cut', Buffer.concat([gz, second.subarray(0, 100)])],
    ];
    const failures: string[] = [];
    const outcomes: string[] = [];
    let n = 0;
    for (const [name, bytes] of cases) {
      const file = join(tmp, `scan-${++n}.pcap.gz`);
      writeFileSync(file, bytes);
      let out = '';
      let err = '';
      let code: number;
      try {
        code = await main(['scan', file, '--db', join(tmp, `scan-${n}.sqlite`), '--json'], { out: (s) => (out += s), err: (s) => (err += s) });
      } catch (e) {
        failures.push(`${name}: main threw ${(e as Error)?.stack ?? String(e)}`);
        continue;
      }
      let json: { inputs: Array<{ error: string | null; packets: number; anomalies?: Record<string, number> }> };
      try {
        json = JSON.parse(out) as typeof json;
      } catch {
        failures.push(`${name}: exit ${code}, the output is not JSON: ${out.slice(0, 300)} ${err.slice(0, 300)}`);
        continue;
      }
      const input = json.inputs?.[0];
      if (!input) {
        failures.push(`${name}: exit ${code}, no input in the JSON: ${out.slice(0, 300)}`);
        continue;
      }
      outcomes.push(`${name}: exit ${code}, ${input.packets} packets${input.error ? `, ${input.error.slice(0, 90)}…` : ''}, anomalies ${JSON.stringify(input.anomalies ?? {})}`);
      if (code === 0) continue;
      if (code !== 1) {
        failures.push(`${name}: exit ${code}: ${err.trim()}`);
        continue;
      }
      // Exit 1: too few bytes decompressed to recognise the capture, or the header damaged (the
      // input is not gzip, or its first decompressed bytes are not a capture's). The bytes an
      // "unrecognised format" quotes must then differ from the capture's own first bytes.
      const error = input.error ?? '';
      const quoted = /unrecognised format \(first bytes ([0-9a-f ]+)\)/.exec(error)?.[1]?.replace(/ /g, '');
      const recognisable = quoted !== undefined && pcap.subarray(0, quoted.length / 2).toString('hex') === quoted;
      if (!/too few to recognise/.test(error) && (quoted === undefined || recognisable)) failures.push(`${name}: exit 1 with ${JSON.stringify(error)}`);
    }
    console.info(`scan over ${cases.length} damaged captures:\n  ${outcomes.join('\n  ')}`);
    expect(failures).toEqual([]);
  });
});
