/**
 * Flow records as JSON lines, as GoFlow2 (`-format=json`) and pmacct (`nfacctd` with a JSON
 * printer/kafka output) write them: one object per line; fields are mapped by name, so either
 * tool's keys work. Bad lines are counted with their line number and skipped.
 */
import type { Anomalies } from '../anomalies.js';
import { readAddress, readCounter, readPort, readProtocol, readTime, readUnsigned, TEXT_LINE_MAX_BYTES, type FieldRead } from './csv.js';
import type { ByteWindow } from './joiner.js';
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
  if (key.endsWith('_ns')) n /= 1e6;
  else if (!key.endsWith('_ms') && n < 1e11) n *= 1000;
  return n >= 0 && n <= 8.64e15 ? { ok: true, value: n } : { ok: false, expected: what };
}

/** A field as text or number for the shared readers: JSON strings and numbers pass, anything else is no value. */
function scalar(v: unknown): string | number {
  return typeof v === 'number' || typeof v === 'string' ? v : '';
}

export class JsonFlowsParser {
  readonly format = 'json-flows' as const;
  records = 0;
  private line = 0;

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
    for (;;) {
      let nl = b.indexOf(0x0a, win.start);
      if (nl < 0 || nl >= win.end) {
        if (win.available > MAX_LINE) {
          this.anomalies.add('json.bad_line', this.file, this.line + 1, `line longer than ${MAX_LINE} bytes skipped`);
          win.start = win.end;
          return;
        }
        if (!final || win.available === 0) return;
        nl = win.end;
      }
      const text = decoder.decode(b.subarray(win.start, nl)).trim();
      win.start = Math.min(nl + 1, win.end);
      this.line++;
      if (text) this.handle(text);
    }
  }

  private handle(text: string): void {
    const bad = (why: string): void => this.anomalies.add('json.bad_line', this.file, this.line, `line ${this.line}: ${why}: ${text.slice(0, 120)}`);
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      return bad('not JSON');
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('expected one JSON object per line');
    const r = o as Record<string, unknown>;
    const src = pick(r, KEYS.src)?.[1];
    const dst = pick(r, KEYS.dst)?.[1];
    if (typeof src !== 'string' || typeof dst !== 'string' || src.includes(':') !== dst.includes(':') || !readAddress(src).ok || !readAddress(dst).ok)
      return bad('expected src_addr/ip_src and dst_addr/ip_dst as IP addresses of one family');
    // Each field by its shared reader; the first that fails names its key and what was expected.
    let failed: string | null = null;
    const field = <T,>(keys: readonly string[], missing: string | number | null, read: (v: string | number) => FieldRead<T>, fallback: T): T => {
      if (failed !== null) return fallback;
      // A null value is an absent one (JSON writers print absent fields as null).
      const found = pick(r, keys);
      const kv = found && found[1] !== null ? found : null;
      if (!kv && missing === null) {
        failed = `expected ${keys.join(' or ')}`;
        return fallback;
      }
      const v = kv ? scalar(kv[1]) : missing!;
      const got = read(v);
      if (got.ok) return got.value;
      failed = `${kv?.[0] ?? keys[0]}: expected ${got.expected}, got ${JSON.stringify(kv?.[1])?.slice(0, 40)}`;
      return fallback;
    };
    const sport = field(KEYS.sport, 0, readPort, 0);
    const dport = field(KEYS.dport, 0, readPort, 0);
    const protocol = field(KEYS.proto, null, readProtocol, 0);
    const packets = field(KEYS.packets, 0, readCounter, 0);
    const bytes = field(KEYS.bytes, 0, readCounter, 0);
    const tcpFlags = field(KEYS.flags, 0, (v) => readUnsigned(v, 0xffff, 'TCP flags as a number 0-65535'), 0) & 0xff;
    const sampling = field(KEYS.sampling, 1, (v) => readUnsigned(v, 2 ** 32 - 1, 'a sampling rate 0-4294967295'), 1);
    if (failed !== null) return bad(failed);
    const s = pick(r, KEYS.start);
    const e = pick(r, KEYS.end);
    if (!s) return bad(`expected a flow start time (${KEYS.start.join(', ')})`);
    const first = flowTime(s[0], s[1]);
    if (!first.ok) return bad(`${s[0]}: expected ${first.expected}`);
    const last = e ? flowTime(e[0], e[1]) : first;
    if (!last.ok) return bad(`${e![0]}: expected ${last.expected}`);
    this.records++;
    this.sink.record({
      ipVersion: src.includes(':') ? 6 : 4,
      srcAddr: src,
      dstAddr: dst,
      srcPort: sport,
      dstPort: dport,
      protocol,
      tcpFlags,
      packets,
      bytes,
      reversePackets: 0,
      reverseBytes: 0,
      firstMs: first.value,
      lastMs: last.value,
      // GoFlow2 leaves counters unscaled and reports the rate; pmacct scales itself when told to.
      sampling: sampling > 1 ? sampling : 1,
    });
  }
}
