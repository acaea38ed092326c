/**
 * A {@link FlowLayout} made into one function that reads a record's values straight into the
 * numeric record. A layout fixes each value's offset, width and time rule for every record of its
 * template, so the reader is made once per template with those numbers written into its code, as
 * literals: the engine then compiles each read to its one width and rule, instead of looking them
 * up per field and per record. The code is made from a fixed text per width and per time rule
 * ({@link uintCode}, {@link timeCode}: {@link uintAt} and {@link timeAt} written out) and the
 * layout's offsets, lengths and time rules (numbers the template gave, each checked to be an
 * integer); no other value goes into it.
 * Where the engine may not make code from text (`--disallow-code-generation-from-strings`), a
 * closure over the layout calls {@link uintAt} and {@link timeAt}: the same values, slower. Those
 * read through {@link storeUint} and {@link storeNtp}, which the op walk (src/decode/templates/walk.ts)
 * uses too: one reading of each width and of NTP times.
 *
 * tests/decode/compiled-templates.test.ts checks both against the per-field decoder on seeded
 * templates; tests/flowlogs/behaviour.test.ts scans softflowd's exports under that flag.
 */
import { L_BYTES, L_DST_PORT, L_END, L_PACKETS, L_PROTOCOL, L_REV_BYTES, L_REV_PACKETS, L_SRC_PORT, L_START, L_TCP_FLAGS, T_DELTA_US, T_MS, T_NTP, T_SECONDS, T_UPTIME, type FlowLayout } from './compile.js';
import type { NumericRecord } from './emit.js';
import type { MessageHeader } from './store.js';
import { uptimeAgeMs } from '../uptime.js';

/** Reads the record at `p` of `buf` (`dv` views it) into `n`; `upBase` is the IPFIX domain's system init time (NaN: unknown). */
export type LayoutReader = (dv: DataView, buf: Uint8Array, p: number, n: NumericRecord, hdr: MessageHeader, upBase: number) => void;

/** Big-endian unsigned integer of 1..8 bytes (reduced-size encoding, RFC 7011 §6.2). */
export function readUnsigned(buf: Uint8Array, p: number, len: number): number {
  let v = 0;
  const n = len > 8 ? 8 : len;
  for (let i = 0; i < n; i++) v = v * 256 + buf[p + i]!;
  return v;
}

/**
 * {@link readUnsigned} with the common widths read at once, into `v[slot]`; the same value bit for
 * bit (an 8-byte value of 2^53 or more takes the byte loop, which rounds the way it always did).
 * `dv` views `b`. It stores rather than returns: a double returned by a call that is not inlined is
 * boxed, one allocation per field.
 */
export function storeUint(v: Float64Array, slot: number, dv: DataView, b: Uint8Array, p: number, len: number): void {
  switch (len) {
    case 1:
      v[slot] = b[p]!;
      return;
    case 2:
      v[slot] = dv.getUint16(p);
      return;
    case 4:
      v[slot] = dv.getUint32(p);
      return;
    case 8: {
      const hi = dv.getUint32(p);
      v[slot] = hi >= 0x200000 ? readUnsigned(b, p, 8) : hi * 4294967296 + dv.getUint32(p + 4);
      return;
    }
    default:
      v[slot] = readUnsigned(b, p, len);
  }
}

/** Seconds between 1900-01-01 (NTP era 0) and 1970-01-01. */
const NTP_UNIX_OFFSET = 2208988800;

/** dateTimeMicroseconds / dateTimeNanoseconds: NTP 64-bit timestamp → Unix ms, into `v[slot]`. @see RFC 7011 §6.1.9 */
export function storeNtp(v: Float64Array, slot: number, dv: DataView, p: number): void {
  const sec = dv.getUint32(p);
  const frac = dv.getUint32(p + 4);
  v[slot] = (sec - NTP_UNIX_OFFSET) * 1000 + Math.floor((frac * 1000) / 4294967296);
}

/** One slot for {@link uintAt} and {@link timeAt}, which give as a value what {@link storeUint} and {@link storeNtp} store. */
const one = new Float64Array(1);

/** {@link storeUint}'s value (0 when `len` is 0: absent), for the closure reader. */
export function uintAt(dv: DataView, buf: Uint8Array, p: number, len: number): number {
  storeUint(one, 0, dv, buf, p, len);
  return one[0]!;
}

/**
 * A time of source `kind` (`T_*` of src/decode/templates/compile.ts) from the `len` bytes at `p`, as
 * Unix ms; NaN when the record has none (`T_NONE`). v9 uptimes count against the header
 * ({@link uptimeAgeMs}: a wrapped counter still works), IPFIX uptimes against the domain's system
 * init time `upBase` (unknown: the export time).
 * @see RFC 7011 §6.1.9 (NTP timestamps), RFC 3954 §5.1 (sysUptime)
 */
export function timeAt(kind: number, dv: DataView, buf: Uint8Array, p: number, len: number, hdr: MessageHeader, upBase: number): number {
  switch (kind) {
    case T_MS:
      return uintAt(dv, buf, p, len);
    case T_SECONDS:
      return uintAt(dv, buf, p, len) * 1000;
    case T_NTP:
      storeNtp(one, 0, dv, p);
      return one[0]!;
    case T_UPTIME: {
      const up = uintAt(dv, buf, p, len);
      return hdr.sysUptime !== null ? hdr.exportMs - uptimeAgeMs(hdr.sysUptime, up) : upBase === upBase ? upBase + up : hdr.exportMs;
    }
    case T_DELTA_US:
      return hdr.exportMs - Math.floor(uintAt(dv, buf, p, len) / 1000);
    default:
      return NaN;
  }
}

/** The values of a layout a reader reads, in the numeric record's order: offset and length each (length 0: absent). */
const VALUES = [
  ['srcPort', L_SRC_PORT],
  ['dstPort', L_DST_PORT],
  ['protocol', L_PROTOCOL],
  ['tcpFlags', L_TCP_FLAGS],
  ['packets', L_PACKETS],
  ['bytes', L_BYTES],
  ['reversePackets', L_REV_PACKETS],
  ['reverseBytes', L_REV_BYTES],
] as const;

/** The layout as the integers its reader is made of. */
interface Plan {
  src4: number;
  dst4: number;
  /** Offset and length per {@link VALUES} entry. */
  values: number[];
  start: [kind: number, offset: number, length: number];
  end: [kind: number, offset: number, length: number];
}

function planOf(layout: FlowLayout): Plan {
  const at = layout.at;
  const int = (x: number): number => {
    if (!Number.isSafeInteger(x)) throw new Error(`a template layout holds ${x} where an integer belongs`);
    return x;
  };
  const values: number[] = [];
  for (const [, l] of VALUES) values.push(at[l]! >= 0 ? int(at[l]!) : 0, at[l]! >= 0 ? int(at[l + 1]!) : 0);
  return {
    src4: int(layout.src4),
    dst4: int(layout.dst4),
    values,
    start: [int(layout.start), Math.max(0, int(at[L_START]!)), int(at[L_START + 1]!)],
    end: [int(layout.end), Math.max(0, int(at[L_END]!)), int(at[L_END + 1]!)],
  };
}

/** What a reader does with the two times read: a missing one is the other, both missing the export time. */
function setTimes(n: NumericRecord, first: number, last: number, hdr: MessageHeader): void {
  if (first !== first && last !== last) first = last = hdr.exportMs;
  else if (first !== first) first = last;
  else if (last !== last) last = first;
  n.firstMs = first;
  n.lastMs = last;
}

/** Code for {@link uintAt} of these literal arguments (`h` is the reader's scratch variable). */
function uintCode(p: string, len: number): string {
  switch (len) {
    case 0:
      return '0';
    case 1:
      return `buf[${p}]`;
    case 2:
      return `dv.getUint16(${p})`;
    case 4:
      return `dv.getUint32(${p})`;
    case 8:
      return `((h = dv.getUint32(${p})) >= 0x200000 ? readUnsigned(buf, ${p}, 8) : h * 4294967296 + dv.getUint32(${p} + 4))`;
    default:
      return `readUnsigned(buf, ${p}, ${len})`;
  }
}

/** Code for {@link timeAt} of these literal arguments (`up` is the reader's scratch variable). */
function timeCode(kind: number, p: string, len: number): string {
  switch (kind) {
    case T_MS:
      return uintCode(p, len);
    case T_SECONDS:
      return `${uintCode(p, len)} * 1000`;
    case T_NTP:
      return `(dv.getUint32(${p}) - ${NTP_UNIX_OFFSET}) * 1000 + Math.floor((dv.getUint32(${p} + 4) * 1000) / 4294967296)`;
    case T_UPTIME:
      return `((up = ${uintCode(p, len)}), hdr.sysUptime !== null ? hdr.exportMs - uptimeAgeMs(hdr.sysUptime, up) : upBase === upBase ? upBase + up : hdr.exportMs)`;
    case T_DELTA_US:
      return `hdr.exportMs - Math.floor(${uintCode(p, len)} / 1000)`;
    default:
      return 'NaN';
  }
}

/**
 * The reader as code, each read written out for its width and rule ({@link uintCode},
 * {@link timeCode}: what {@link uintAt} and {@link timeAt} do for those arguments). Written out, not
 * calls of those two with literal arguments: the engine did not fold those, and the calls cost what
 * the lookups did (NetFlow v9 bench case, alternated runs).
 */
export function generatedReader(layout: FlowLayout): LayoutReader {
  const plan = planOf(layout);
  const lines = ['let h = 0;', 'let up = 0;', `n.src4 = dv.getUint32(p + ${plan.src4});`, `n.dst4 = dv.getUint32(p + ${plan.dst4});`];
  VALUES.forEach(([name], i) => lines.push(`n.${name} = ${uintCode(`p + ${plan.values[2 * i]}`, plan.values[2 * i + 1]!)};`));
  const [sk, so, sl] = plan.start;
  const [ek, eo, el] = plan.end;
  lines.push(`setTimes(n, ${timeCode(sk, `p + ${so}`, sl)}, ${timeCode(ek, `p + ${eo}`, el)}, hdr);`);
  const make = new Function('readUnsigned', 'uptimeAgeMs', 'setTimes', `return function readRecord(dv, buf, p, n, hdr, upBase) {\n  ${lines.join('\n  ')}\n};`) as (
    r: typeof readUnsigned,
    u: typeof uptimeAgeMs,
    s: typeof setTimes,
  ) => LayoutReader;
  return make(readUnsigned, uptimeAgeMs, setTimes);
}

/** The reader as a closure over the plan (no code made from text). */
export function interpretedReader(layout: FlowLayout): LayoutReader {
  const { src4, dst4, values: v, start, end } = planOf(layout);
  return (dv, buf, p, n, hdr, upBase) => {
    n.src4 = dv.getUint32(p + src4);
    n.dst4 = dv.getUint32(p + dst4);
    n.srcPort = uintAt(dv, buf, p + v[0]!, v[1]!);
    n.dstPort = uintAt(dv, buf, p + v[2]!, v[3]!);
    n.protocol = uintAt(dv, buf, p + v[4]!, v[5]!);
    n.tcpFlags = uintAt(dv, buf, p + v[6]!, v[7]!);
    n.packets = uintAt(dv, buf, p + v[8]!, v[9]!);
    n.bytes = uintAt(dv, buf, p + v[10]!, v[11]!);
    n.reversePackets = uintAt(dv, buf, p + v[12]!, v[13]!);
    n.reverseBytes = uintAt(dv, buf, p + v[14]!, v[15]!);
    setTimes(n, timeAt(start[0], dv, buf, p + start[1], start[2], hdr, upBase), timeAt(end[0], dv, buf, p + end[1], end[2], hdr, upBase), hdr);
  };
}

/** Whether this engine makes code from text (not under `--disallow-code-generation-from-strings`). */
const CAN_GENERATE = ((): boolean => {
  try {
    return (new Function('return 1') as () => number)() === 1;
  } catch {
    return false;
  }
})();

const readers = new WeakMap<FlowLayout, LayoutReader>();

/** The reader of `layout`, made on first use: generated where the engine allows it, else interpreted. */
export function layoutReader(layout: FlowLayout): LayoutReader {
  let r = readers.get(layout);
  if (!r) {
    r = CAN_GENERATE ? generatedReader(layout) : interpretedReader(layout);
    readers.set(layout, r);
  }
  return r;
}
