/**
 * nfdump CSV (`nfdump -o csv`, and `-o fmt:` exports using the same column names). Columns are
 * mapped by header name, so other nfdump versions and reordered columns work; the trailing
 * `Summary` block is not data. Bad lines are counted with their line number and skipped.
 * Times are read as UTC (nfdump prints the local time of the machine that ran it: run it with TZ=UTC).
 */
import type { Anomalies } from '../anomalies.js';
import { InputError } from '../errors.js';
import type { ExportFlowInput } from '../flow/exports.js';
import type { ByteWindow } from './joiner.js';

/** Receives every export record an input yields. */
export interface RecordSink {
  record(r: ExportFlowInput): void;
}

const REQUIRED = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr'] as const;
const MAX_LINE = 64 * 1024;
const PROTOCOLS: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMP6: 58, IPV6: 41, GRE: 47, ESP: 50, AH: 51, SCTP: 132 };
/** nfdump prints TCP flags as 8 characters C E U A P R S F, '.' for unset. */
const FLAG_BITS: Record<string, number> = { C: 0x80, E: 0x40, U: 0x20, A: 0x10, P: 0x08, R: 0x04, S: 0x02, F: 0x01 };
const decoder = new TextDecoder('utf-8');

/** Does the text start like an nfdump CSV header? */
export function looksLikeNfdumpCsv(head: Uint8Array): boolean {
  const t = decoder.decode(head.subarray(0, Math.min(head.length, 512)));
  const first = t.split(/\r?\n/, 1)[0] ?? '';
  const cols = new Set(first.split(',').map((c) => c.trim()));
  return REQUIRED.every((c) => cols.has(c));
}

function parseTime(s: string): number {
  // "2017-01-17 11:32:31" or with ".123" milliseconds.
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(s.trim());
  if (!m) return NaN;
  const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
}

function parseFlags(s: string): number {
  let f = 0;
  for (const ch of s.trim()) f |= FLAG_BITS[ch] ?? 0;
  return f;
}

/** nfdump prints large counters as "1.2 M"; plain integers otherwise. */
function parseCount(s: string | undefined): number {
  if (s === undefined) return 0;
  const t = s.trim();
  if (t === '') return 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKMG]?)$/.exec(t);
  if (!m) return NaN;
  const mult = m[2] === 'k' || m[2] === 'K' ? 1e3 : m[2] === 'M' ? 1e6 : m[2] === 'G' ? 1e9 : 1;
  return Math.round(Number(m[1]) * mult);
}

export class NfdumpCsvParser {
  readonly format = 'nfdump-csv' as const;
  /** Data lines turned into records. */
  records = 0;
  private cols: Map<string, number> | null = null;
  private line = 0;
  private done = false;

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
    while (!this.done) {
      let nl = b.indexOf(0x0a, win.start);
      if (nl < 0 || nl >= win.end) {
        if (win.available > MAX_LINE) {
          this.anomalies.add('csv.bad_line', this.file, this.line + 1, `line longer than ${MAX_LINE} bytes skipped`);
          win.start = win.end;
          return;
        }
        if (!final || win.available === 0) return;
        nl = win.end;
      }
      const text = decoder.decode(b.subarray(win.start, nl)).replace(/\r$/, '');
      win.start = Math.min(nl + 1, win.end);
      this.line++;
      this.handle(text);
    }
    // After the summary: ignore the rest.
    win.start = win.end;
  }

  private handle(text: string): void {
    if (text.trim() === '') return;
    if (!this.cols) {
      const names = text.split(',').map((c) => c.trim());
      const missing = REQUIRED.filter((c) => !names.includes(c));
      if (missing.length)
        throw new InputError(this.file, 1, `line 1: CSV header lacks ${missing.join(', ')}; expected an nfdump -o csv header such as ts,te,td,sa,da,sp,dp,pr,flg,…,ipkt,ibyt,opkt,obyt,…`);
      this.cols = new Map(names.map((n, i) => [n, i]));
      return;
    }
    if (text.startsWith('Summary')) {
      this.done = true;
      return;
    }
    const f = text.split(',');
    const c = this.cols;
    const get = (name: string): string | undefined => {
      const i = c.get(name);
      return i === undefined ? undefined : f[i];
    };
    const bad = (why: string): void => this.anomalies.add('csv.bad_line', this.file, this.line, `line ${this.line}: ${why}: ${text.slice(0, 120)}`);
    if (f.length < c.size) return bad(`${f.length} fields, the header has ${c.size}`);
    const firstMs = parseTime(get('ts')!);
    const lastMs = parseTime(get('te')!);
    if (!Number.isFinite(firstMs) || !Number.isFinite(lastMs)) return bad('expected times like 2017-01-17 11:32:31 in ts and te');
    const sa = get('sa')!.trim();
    const da = get('da')!.trim();
    const v6 = sa.includes(':');
    if (!sa || !da || v6 !== da.includes(':')) return bad('expected two addresses of one family in sa and da');
    const sp = Number(get('sp'));
    const dp = Number(get('dp'));
    if (!Number.isInteger(sp) || !Number.isInteger(dp) || sp < 0 || dp < 0 || sp > 65535 || dp > 65535) return bad('expected ports 0-65535 in sp and dp');
    const prText = get('pr')!.trim().toUpperCase();
    const protocol = PROTOCOLS[prText] ?? Number(prText);
    if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) return bad(`unknown protocol ${JSON.stringify(prText)}`);
    const packets = parseCount(get('ipkt'));
    const bytes = parseCount(get('ibyt'));
    const rp = parseCount(get('opkt'));
    const rb = parseCount(get('obyt'));
    if ([packets, bytes, rp, rb].some((x) => !Number.isFinite(x) || x < 0)) return bad('expected counters in ipkt, ibyt, opkt, obyt');
    this.records++;
    this.sink.record({
      ipVersion: v6 ? 6 : 4,
      srcAddr: sa,
      dstAddr: da,
      srcPort: sp,
      dstPort: dp,
      protocol,
      tcpFlags: parseFlags(get('flg') ?? ''),
      packets,
      bytes,
      reversePackets: rp,
      reverseBytes: rb,
      firstMs,
      lastMs,
      sampling: 1,
    });
  }
}
