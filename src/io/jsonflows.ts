/**
 * Flow records as JSON lines, as GoFlow2 (`-format=json`) and pmacct (`nfacctd` with a JSON
 * printer/kafka output) write them: one object per line; fields are mapped by name, so either
 * tool's keys work. Bad lines are counted with their line number and skipped.
 */
import { isDateMs } from '../time.js';
import type { Anomalies } from '../anomalies.js';
import { CR_ALONE_PROBLEM, crInsideLine, readAddress, readCounter, readPort, readProtocol, readTime, readUnsigned, TEXT_LINE_MAX_BYTES, type FieldRead } from './csv.js';
import type { ExportFlowInput } from '../flow/records.js';
import type { ByteWindow } from './joiner.js';
import { LineCutter } from './lines.js';
import type { RecordSink } from './nfcsv.js';

const MAX_LINE = TEXT_LINE_MAX_BYTES;
const decoder = new TextDecoder('utf-8');

/** GoFlow2 and pmacct names for each field, first match wins. */
const KEYS = {
  src: ['src_addr', 'ip_src', 'SrcAddr'],
  dst: ['dst_addr', 'ip_dst', 'DstAddr'],
  sport: ['src_port', 'port_src', 'SrcPort'],
  dport: ['dst_port', 'port_dst', 'DstPort'],
  proto: ['proto', 'ip_proto', 'Proto'],
  packets: ['packets', 'Packets'],
  bytes: ['bytes', 'Bytes'],
  flags: ['tcp_flags', 'TCPFlags'],
  start: ['time_flow_start_ns', 'time_flow_start_ms', 'timestamp_start', 'TimeFlowStart', 'time_flow_start'],
  end: ['time_flow_end_ns', 'time_flow_end_ms', 'timestamp_end', 'TimeFlowEnd', 'time_flow_end'],
  sampling: ['sampling_rate', 'SamplingRate'],
  received: ['time_received_ns', 'TimeReceived'],
} as const;

function pick(o: Record<string, unknown>, names: readonly string[]): [string, unknown] | null {
  for (const n of names) if (o[n] !== undefined) return [n, o[n]];
  return null;
}

/** Does the first line look like a GoFlow2/pmacct JSON flow record? */
export function looksLikeJsonFlows(head: Uint8Array): boolean {
  const t = decoder.decode(head.subarray(0, Math.min(head.length, 4096)));
  const first = t.split('\n', 1)[0]!.trim();
  if (!first.startsWith('{')) return false;
  return (/"(src_addr|ip_src)"/.test(first) && /"(dst_addr|ip_dst)"/.test(first));
}

/**
 * A flow time as UTC ms: a number (or digits) in the unit its key names — `_ns`, `_ms`, else
 * seconds below 1e11 (GoFlow2's older `TimeFlowStart`) and ms above — or pmacct's text
 * (`2019-01-01 10:00:00.123456`, UTC unless it carries an offset).
 */
function flowTime(key: string, v: unknown): FieldRead<number> {
  const what = 'a time: epoch seconds, ms or ns as its key says, or a date-time like 2019-01-01 10:00:00.123456';
  let n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,20}(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (typeof v === 'string' && n !== n) {
    const t = readTime(v);
    return t.ok ? t : { ok: false, expected: what };
  }
  // ns beyond 2^53 are not exact as numbers: whole microseconds keep whole milliseconds whole.
  if (key.endsWith('_ns')) n = Math.round(n / 1e3) / 1e3;
  else if (!key.endsWith('_ms') && n < 1e11) n *= 1000;
  return n >= 0 && isDateMs(n) ? { ok: true, value: n } : { ok: false, expected: what };
}

/** A field as text or number for the shared readers: JSON strings and numbers pass, anything else is no value. */
function scalar(v: unknown): string | number {
  return typeof v === 'number' || typeof v === 'string' ? v : '';
}

/** A field read for a JSON flow object: the value, or why not (the key and what was expected). */
type JsonRead<T> = { ok: true; value: T } | { ok: false; why: string };

const readTcpFlags = (v: string | number): FieldRead<number> => readUnsigned(v, 0xffff, 'TCP flags as a number 0-65535');
const readSampling = (v: string | number): FieldRead<number> => readUnsigned(v, 2 ** 32 - 1, 'a sampling rate 0-4294967295');

/**
 * The first of `keys` present (a null value is an absent one: JSON writers print absent fields as
 * null), read by `read`; when none is, `missing` is read instead, and null makes the field required.
 */
function readField<T>(r: Record<string, unknown>, keys: readonly string[], missing: string | number | null, read: (v: string | number) => FieldRead<T>): JsonRead<T> {
  const found = pick(r, keys);
  const kv = found && found[1] !== null ? found : null;
  if (!kv && missing === null) return { ok: false, why: `expected ${keys.join(' or ')}` };
  const got = read(kv ? scalar(kv[1]) : missing!);
  if (got.ok) return got;
  return { ok: false, why: `${kv?.[0] ?? keys[0]}: expected ${got.expected}, got ${JSON.stringify(kv?.[1])?.slice(0, 40)}` };
}

/** A flow time by the first of `keys` present, or null when none is. */
function readFlowTime(r: Record<string, unknown>, keys: readonly string[]): JsonRead<number> | null {
  const kv = pick(r, keys);
  if (!kv) return null;
  const t = flowTime(kv[0], kv[1]);
  return t.ok ? t : { ok: false, why: `${kv[0]}: expected ${t.expected}` };
}

/** What a flow object's addresses must be, when they are not (or the flow table cannot read them). */
export const ADDRESSES_EXPECTED = 'expected src_addr/ip_src and dst_addr/ip_dst as IP addresses of one family';

/**
 * One flow object as GoFlow2 (`-format=json`) or pmacct writes it, already parsed from JSON, as an
 * export record; or why it is not one (a key and what was expected). Keys are matched by name, so
 * either tool's work, and unknown keys are ignored. A flow time of 0 (GoFlow2's sFlow records carry
 * none) is taken from the time the collector received the record, when there is one.
 */
export function readJsonFlowObject(o: unknown): JsonRead<ExportFlowInput> {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, why: 'expected a JSON object' };
  const r = o as Record<string, unknown>;
  const src = pick(r, KEYS.src)?.[1];
  const dst = pick(r, KEYS.dst)?.[1];
  if (typeof src !== 'string' || typeof dst !== 'string' || src.includes(':') !== dst.includes(':') || !readAddress(src).ok || !readAddress(dst).ok)
    return { ok: false, why: ADDRESSES_EXPECTED };
  // Each field by its shared reader; the first that fails names its key and what was expected.
  const sport = readField(r, KEYS.sport, 0, readPort);
  if (!sport.ok) return sport;
  const dport = readField(r, KEYS.dport, 0, readPort);
  if (!dport.ok) return dport;
  const protocol = readField(r, KEYS.proto, null, readProtocol);
  if (!protocol.ok) return protocol;
  const packets = readField(r, KEYS.packets, 0, readCounter);
  if (!packets.ok) return packets;
  const bytes = readField(r, KEYS.bytes, 0, readCounter);
  if (!bytes.ok) return bytes;
  const tcpFlags = readField(r, KEYS.flags, 0, readTcpFlags);
  if (!tcpFlags.ok) return tcpFlags;
  const sampling = readField(r, KEYS.sampling, 1, readSampling);
  if (!sampling.ok) return sampling;
  const first = readFlowTime(r, KEYS.start);
  if (!first) return { ok: false, why: `expected a flow start time (${KEYS.start.join(', ')})` };
  if (!first.ok) return first;
  const last = readFlowTime(r, KEYS.end) ?? first;
  if (!last.ok) return last;
  let firstMs = first.value;
  let lastMs = last.value;
  if (firstMs === 0 || lastMs === 0) {
    const received = readFlowTime(r, KEYS.received);
    if (received && !received.ok) return received;
    if (received) {
      if (firstMs === 0) firstMs = received.value;
      if (lastMs === 0) lastMs = received.value;
    }
  }
  return {
    ok: true,
    value: {
      ipVersion: src.includes(':') ? 6 : 4,
      srcAddr: src,
      dstAddr: dst,
      srcPort: sport.value,
      dstPort: dport.value,
      protocol: protocol.value,
      tcpFlags: tcpFlags.value & 0xff,
      packets: packets.value,
      bytes: bytes.value,
      reversePackets: 0,
      reverseBytes: 0,
      firstMs,
      lastMs,
      // GoFlow2 leaves counters unscaled and reports the rate; pmacct scales itself when told to.
      sampling: sampling.value > 1 ? sampling.value : 1,
    },
  };
}

export class JsonFlowsParser {
  readonly format = 'json-flows' as const;
  records = 0;
  private readonly cut = new LineCutter(MAX_LINE);

  constructor(
    private readonly file: string,
    private readonly anomalies: Anomalies,
    private readonly sink: RecordSink,
  ) {}

  get packets(): number {
    return this.records;
  }

  parse(win: ByteWindow, final: boolean): void {
    const b = win.buf;
    const overlong = (from: number, to: number): void => {
      // JSON lines have no header to refuse: a file whose lines end in CR alone, over 64 KiB, is
      // this one line, and the count says why.
      const cr = crInsideLine(b, from, to) ? `; ${CR_ALONE_PROBLEM}` : '';
      this.anomalies.add('json.bad_line', this.file, win.offsetOf(from), `line ${this.cut.line}: longer than ${MAX_LINE} bytes (expected at most ${MAX_LINE} bytes a line)${cr}; skipped up to its line end`);
    };
    for (;;) {
      const nl = this.cut.next(win, final, overlong);
      if (nl < 0) return;
      const from = this.cut.from;
      const text = decoder.decode(b.subarray(from, nl)).trim();
      if (text) this.handle(text, win.offsetOf(from));
    }
  }

  /** One line's text; `at` is where the line starts in the input (its anomalies' offset). */
  private handle(text: string, at: number): void {
    const bad = (why: string): void => this.anomalies.add('json.bad_line', this.file, at, `line ${this.cut.line}: ${why}: ${text.slice(0, 120)}`);
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      // A CR left inside (the trailing one is trimmed) is whitespace to JSON, so it is only named
      // when the line does not parse: then the lines end in CR alone and this is several of them.
      return bad(text.includes('\r') ? `not JSON; ${CR_ALONE_PROBLEM}` : 'not JSON');
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('expected one JSON object per line');
    const got = readJsonFlowObject(o);
    if (!got.ok) return bad(got.why);
    this.records++;
    if (this.sink.record(got.value) === false) bad(ADDRESSES_EXPECTED);
  }
}
