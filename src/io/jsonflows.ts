/**
 * Flow records as JSON lines, as GoFlow2 (`-format=json`) and pmacct (`nfacctd` with a JSON
 * printer/kafka output) write them: one object per line; fields are mapped by name, so either
 * tool's keys work. Bad lines are counted with their line number and skipped.
 */
import type { Anomalies } from '../anomalies.js';
import type { ByteWindow } from './joiner.js';
import type { RecordSink } from './nfcsv.js';

const MAX_LINE = 64 * 1024;
const decoder = new TextDecoder('utf-8');
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, ipv6_icmp: 58, icmpv6: 58, gre: 47, esp: 50 };

/** GoFlow2 and pmacct names for each field, first match wins. */
/** The largest counter a flow record can carry (NetFlow/IPFIX counters are 64-bit unsigned). */
const MAX_COUNTER = 2 ** 64;

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

function toMs(key: string, v: unknown): number {
  if (typeof v === 'number') {
    if (key.endsWith('_ns')) return v / 1e6;
    if (key.endsWith('_ms')) return v;
    // GoFlow2's older `TimeFlowStart` is in seconds; values below 1e11 are seconds.
    return v < 1e11 ? v * 1000 : v;
  }
  if (typeof v === 'string') {
    // pmacct: "2019-01-01 10:00:00.123456" (UTC) or epoch seconds as text.
    if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
    const d = Date.parse(v.replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? '' : 'Z'));
    return d;
  }
  return NaN;
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
    if (typeof src !== 'string' || typeof dst !== 'string' || src.includes(':') !== dst.includes(':')) return bad('expected src_addr/ip_src and dst_addr/ip_dst of one family');
    const sport = Number(pick(r, KEYS.sport)?.[1] ?? 0);
    const dport = Number(pick(r, KEYS.dport)?.[1] ?? 0);
    const pv = pick(r, KEYS.proto)?.[1];
    const protocol = typeof pv === 'number' ? pv : PROTOCOLS[String(pv ?? '').toLowerCase()] ?? Number(pv);
    const packets = Number(pick(r, KEYS.packets)?.[1] ?? 0);
    const bytes = Number(pick(r, KEYS.bytes)?.[1] ?? 0);
    const s = pick(r, KEYS.start);
    const e = pick(r, KEYS.end);
    const firstMs = s ? toMs(s[0], s[1]) : NaN;
    const lastMs = e ? toMs(e[0], e[1]) : firstMs;
    const sampling = Number(pick(r, KEYS.sampling)?.[1] ?? 1);
    if (![sport, dport, protocol, packets, bytes, firstMs, lastMs].every(Number.isFinite)) return bad('expected numeric ports, protocol, packets, bytes and flow start/end times');
    // A counter is a count: a negative or absurd one (-1e308) would wipe out the record it joins.
    if (!(packets >= 0 && packets <= MAX_COUNTER && bytes >= 0 && bytes <= MAX_COUNTER)) return bad(`expected packets and bytes from 0 to 2^64, got ${packets} and ${bytes}`);
    if (!(sport >= 0 && sport <= 65535 && dport >= 0 && dport <= 65535)) return bad(`expected ports from 0 to 65535, got ${sport} and ${dport}`);
    this.records++;
    this.sink.record({
      ipVersion: src.includes(':') ? 6 : 4,
      srcAddr: src,
      dstAddr: dst,
      srcPort: sport,
      dstPort: dport,
      protocol,
      tcpFlags: Number(pick(r, KEYS.flags)?.[1] ?? 0) & 0xff,
      packets,
      bytes,
      reversePackets: 0,
      reverseBytes: 0,
      firstMs,
      lastMs,
      // GoFlow2 leaves counters unscaled and reports the rate; pmacct scales itself when told to.
      sampling: sampling > 1 ? sampling : 1,
    });
  }
}
