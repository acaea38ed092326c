/**
 * The nfdump CSV parser reads bytes in place (src/io/nfcsv.ts); the parser it replaced decoded each
 * chunk to text and split fields with indexOf (legacy-nfcsv.ts). On seeded random files — nfdump
 * and reordered headers, IPv4 and IPv6, protocol numbers and names, scaled counters, fractions and
 * `T` in times, spaces, CRLF, blank lines, a Summary block, over-long lines, and random damage to
 * every line — fed in random chunk sizes, both must yield the same records, the same anomalies
 * (with their line numbers and messages) and the same errors. The legacy parser counted a bad line
 * at its line number, the byte parser at the byte where the line starts: the legacy offsets are
 * mapped to where their lines start in the file's bytes. Two differences are intended and
 * tested on their own: an empty line at the end of a chunk is counted (line numbers no longer depend
 * on chunk boundaries), and a 19-character time field is never taken for the last time seen unless
 * it is that time.
 */
import { describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import type { ExportFlowInput } from '../../src/flow/records.js';
import type { NumericExportRecord } from '../../src/flow/table.js';
import { ByteWindow } from '../../src/io/joiner.js';
import { NfdumpCsvParser } from '../../src/io/nfcsv.js';
import { lineStart, lineStarts } from '../support/lines.js';
import { mulberry32 } from '../support/random.js';
import { NfdumpCsvParser as LegacyParser } from './legacy-nfcsv.js';

const NFDUMP_HEADER =
  'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,' +
  'mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr';
const NFDUMP_TAIL = ',0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,192.0.2.1,0/0,1,2026-11-01 00:00:00.600';

type Rnd = () => number;
const pick = <T,>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const int = (rnd: Rnd, n: number): number => Math.floor(rnd() * n);

function stamp(rnd: Rnd): string {
  const d = new Date(Date.UTC(2026, 10, 1) + int(rnd, 3) * 86_400_000 + int(rnd, 86_400) * 1000);
  let s = d.toISOString().slice(0, 19).replace('T', rnd() < 0.05 ? 'T' : ' ');
  if (rnd() < 0.1) s += '.' + String(int(rnd, 1000)).padStart(pick(rnd, [1, 3, 5]), '0');
  return s;
}

function addr(rnd: Rnd, v6: boolean): string {
  if (v6) return pick(rnd, ['2001:db8::1', '2001:db8:1::9', '::', 'fe80::1:2']);
  return `${pick(rnd, [100, 10, 198, 0, 255])}.${int(rnd, 256)}.${int(rnd, 256)}.${int(rnd, 256)}`;
}

function count(rnd: Rnd): string {
  const r = rnd();
  if (r < 0.8) return String(int(rnd, 100_000));
  if (r < 0.9) return `${int(rnd, 100)}.${int(rnd, 10)} ${pick(rnd, ['k', 'K', 'M', 'G', ''])}`;
  return pick(rnd, ['', ' 7 ', '1234567890123456', 'x', '-1']);
}

/** One valid-looking data line for the standard nfdump header. */
function nfdumpLine(rnd: Rnd): string {
  const v6 = rnd() < 0.1;
  const pr = rnd() < 0.85 ? pick(rnd, ['TCP', 'UDP']) : pick(rnd, ['6', '17', 'ICMP', 'icmp6', ' UDP ', 'GRE', 'FOO', '300', '']);
  const flg = pick(rnd, ['........', '...AP.SF', '.A..S...', 'CEUAPRSF']);
  return [stamp(rnd), stamp(rnd), '0.027', addr(rnd, v6), addr(rnd, v6), int(rnd, 65536), pick(rnd, [53, 443, 3333, int(rnd, 70000)]), pr, flg, 0, 0, count(rnd), count(rnd), count(rnd), count(rnd)].join(',') + NFDUMP_TAIL;
}

const DAMAGE = '0123456789.,: -MkKGT\rabcAPSF\u00e9';

function damage(rnd: Rnd, line: string): string {
  const n = 1 + int(rnd, 3);
  for (let k = 0; k < n; k++) {
    const p = int(rnd, Math.min(line.length + 1, 140));
    const c = pick(rnd, DAMAGE.split(''));
    const op = rnd();
    if (op < 0.4) line = line.slice(0, p) + c + line.slice(p + 1);
    else if (op < 0.7) line = line.slice(0, p) + line.slice(p + 1);
    else line = line.slice(0, p) + c + line.slice(p);
  }
  return line;
}

/**
 * A random file; `long` puts in lines over 64 KiB (split by chunks, they are skipped whole), else
 * there are empty lines.
 */
function randomFile(rnd: Rnd, long: boolean): Uint8Array {
  const lines: string[] = [];
  const layout = rnd();
  // Standard header, or a reordered subset (the parser maps columns by name).
  const reordered = layout >= 0.7;
  lines.push(reordered ? ' te , sa ,ts,dp,sp,pr,da,ibyt,ipkt,flg,extra' : NFDUMP_HEADER);
  const n = 20 + int(rnd, 200);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    let line = nfdumpLine(rnd);
    if (reordered) {
      const f = line.split(',');
      line = [f[1], f[3], f[0], f[6], f[5], f[7], f[4], f[12], f[11], f[8], 'x'].join(',');
    }
    if (i > 0 && r < 0.3) line = damage(rnd, line);
    else if (r < 0.33) line = pick(rnd, [long ? ' ' : '', '   ', 'Summ', 'not,a,line']);
    else if (r < 0.335 && long) line = 'x'.repeat(70_000);
    lines.push(line);
  }
  if (rnd() < 0.3) lines.push('Summary', 'flows,bytes,packets', '3,210080,1801');
  const text = lines.join(rnd() < 0.2 ? '\r\n' : '\n') + (rnd() < 0.5 ? '\n' : '');
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

interface Parser {
  records: number;
  parse(win: ByteWindow, final: boolean): void;
}

function run(make: (anomalies: Anomalies, sink: { record(r: ExportFlowInput): void; recordNumeric?(r: NumericExportRecord): void }) => Parser, bytes: Uint8Array, chunks: number[], numeric: boolean) {
  const anomalies = new Anomalies();
  const out: unknown[] = [];
  const sink = numeric ? { record: (r: ExportFlowInput) => out.push(r), recordNumeric: (r: NumericExportRecord) => out.push({ ...r }) } : { record: (r: ExportFlowInput) => out.push(r) };
  const p = make(anomalies, sink);
  const win = new ByteWindow(1 << 16);
  let error: string | null = null;
  try {
    let at = 0;
    for (let i = 0; at < bytes.length; i++) {
      const n = chunks[i % chunks.length]!;
      win.append(bytes.subarray(at, at + n));
      at += n;
      p.parse(win, false);
    }
    p.parse(win, true);
  } catch (e) {
    error = (e as Error).message;
  }
  return { out, records: p.records, counts: anomalies.toObject(), samples: anomalies.samples, error };
}

describe('nfdump CSV byte parser', () => {
  it('gives what the text parser gave on 300 seeded random files in random chunk sizes', () => {
    const rnd = mulberry32(7011);
    let records = 0;
    for (let c = 0; c < 300; c++) {
      const long = rnd() < 0.2;
      const bytes = randomFile(rnd, long);
      // The text parser tells an over-long line only while it arrives without its newline: a file with
      // such lines comes in chunks too small for one (70,000 bytes) to arrive whole after 64 KiB of
      // it. The byte parser tells one whichever way it arrives (tested below and in tests/io/lines.test.ts).
      const chunks = Array.from({ length: 5 }, () => 1 + int(rnd, pick(rnd, long ? [8, 300, 4_000] : [8, 300, 70_000])));
      for (const numeric of [true, false]) {
        // The text parser lost count of an empty line that ended a chunk's text, so its line numbers
        // are right only when it reads the file at once; over-long lines are told by chunking.
        const want = run((a, s) => new LegacyParser('f.csv', a, s), bytes, long ? chunks : [bytes.length], numeric);
        // The legacy parser's offset is the line number its message gives; the byte parser's is where that line starts.
        const starts = lineStarts(bytes);
        for (const s of want.samples) expect(s.message, `file ${c}`).toMatch(new RegExp(`^line ${s.offset}: `));
        want.samples = want.samples.map((s) => ({ ...s, offset: starts[s.offset - 1]! }));
        const got = run((a, s) => new NfdumpCsvParser('f.csv', a, s), bytes, chunks, numeric);
        expect(got, `file ${c}, chunks ${chunks.join(' ')}, numeric ${numeric}`).toEqual(want);
        records += want.records;
      }
    }
    expect(records).toBeGreaterThan(20_000);
  });

  it('line numbers do not depend on where the chunks end (an empty line at a chunk end counts)', () => {
    const text = 'ts,te,sa,da,sp,dp,pr\nbad\n\nworse\n';
    for (const cut of [1, 5, 25, 26, 27, 30, text.length]) {
      const anomalies = new Anomalies();
      const p = new NfdumpCsvParser('f.csv', anomalies, { record: () => undefined });
      const win = new ByteWindow();
      win.append(Buffer.from(text.slice(0, cut)));
      p.parse(win, false);
      win.append(Buffer.from(text.slice(cut)));
      p.parse(win, true);
      expect(anomalies.samples.map((s) => [s.offset, /^line \d+: /.exec(s.message)?.[0]]), `cut at ${cut}`).toEqual([
        [lineStart(text, 2), 'line 2: '],
        [lineStart(text, 4), 'line 4: '],
      ]);
    }
  });

  it('a 19-character time that is not a time is a bad line, also on the first line', () => {
    const anomalies = new Anomalies();
    const recs: ExportFlowInput[] = [];
    const p = new NfdumpCsvParser('f.csv', anomalies, { record: (r) => void recs.push(r) });
    const win = new ByteWindow();
    const text = 'ts,te,sa,da,sp,dp,pr\n-------------------,2024-05-01 10:00:01,10.0.0.1,10.0.0.2,1,2,TCP\n2024-05-01 10:00:00,2024-05-01 10:00:01,10.0.0.1,10.0.0.2,1,2,TCP\n';
    win.append(Buffer.from(text));
    p.parse(win, true);
    expect(anomalies.toObject()).toEqual({ 'csv.bad_line': 1 });
    expect(anomalies.samples[0]!.offset).toBe(lineStart(text, 2));
    expect(anomalies.samples[0]!.message).toMatch(/^line 2: expected times like 2017-01-17 11:32:31 in ts and te: /);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ firstMs: Date.UTC(2024, 4, 1, 10, 0, 0), lastMs: Date.UTC(2024, 4, 1, 10, 0, 1), protocol: 6 });
  });

  it('a line over 64 KiB is one bad line, skipped up to its newline however the chunks cut it; the lines after keep their numbers', () => {
    const row = (n: number): string => `2024-05-01 10:00:00,2024-05-01 10:00:01,10.0.0.${n},198.51.100.9,5000${n},3333,TCP`;
    // Line 2 is 4.5 MB (longer than the reader's 4 MiB window), line 4 is bad, lines 3, 5 and 6 are records.
    const text = `ts,te,sa,da,sp,dp,pr\n${'x'.repeat(4_500_000)}\n${row(1)}\nnot,a,line\n${row(2)}\n${row(3)}\n`;
    for (const crlf of [false, true]) {
      const bytes = new Uint8Array(Buffer.from(crlf ? text.replaceAll('\n', '\r\n') : text, 'latin1'));
      // The last chunking ends a chunk just before line 2's line end (LF, or CRLF's CR), then feeds bytes one at a time.
      const lineEnd = 'ts,te,sa,da,sp,dp,pr\n'.length + (crlf ? 1 : 0) + 4_500_000;
      for (const chunks of [[1 << 22], [1 << 20], [65_536, 70_000], [1_000_000, lineEnd - 1_000_000, 1]]) {
        const got = run((a, s) => new NfdumpCsvParser('f.csv', a, s), bytes, chunks, false);
        const what = `crlf ${crlf}, chunks ${chunks.join(' ')}`;
        expect(got.error, what).toBeNull();
        expect(got.counts, what).toEqual({ 'csv.bad_line': 2 });
        expect(got.samples.map((s) => s.offset), what).toEqual([lineStart(bytes, 2), lineStart(bytes, 4)]);
        expect(got.samples[0]!.message, what).toBe('line 2: longer than 65536 bytes (expected at most 65536 bytes a line); skipped up to its line end');
        expect(got.samples[1]!.message, what).toMatch(/^line 4: /);
        expect((got.out as ExportFlowInput[]).map((r) => r.srcAddr), what).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
      }
    }
    // Whole in the window (a file read at once, a piece of a gzip stream) it is the same bad line as
    // when it arrives in pieces: the rule does not depend on where a read ends.
    const whole = `ts,te,sa,da,sp,dp,pr\n${'x'.repeat(100_000)}\n${row(1)}\n`;
    for (const chunks of [[1 << 22], [99_000]]) {
      const got = run((a, s) => new NfdumpCsvParser('f.csv', a, s), new Uint8Array(Buffer.from(whole)), chunks, false);
      expect([got.records, got.counts, got.samples.map((s) => [s.offset, s.message])], `chunks ${chunks[0]}`).toEqual([
        1,
        { 'csv.bad_line': 1 },
        [[lineStart(whole, 2), 'line 2: longer than 65536 bytes (expected at most 65536 bytes a line); skipped up to its line end']],
      ]);
    }
    // Over-long and last, without a newline: counted once when the input ends.
    const lastText = `ts,te,sa,da,sp,dp,pr\n${row(1)}\n${'x'.repeat(300_000)}`;
    const last = run((a, s) => new NfdumpCsvParser('f.csv', a, s), new Uint8Array(Buffer.from(lastText)), [65_536], false);
    expect([last.records, last.counts, last.samples.map((s) => s.offset)]).toEqual([1, { 'csv.bad_line': 1 }, [lineStart(lastText, 3)]]);
    expect(last.samples[0]!.message).toMatch(/^line 3: longer than 65536 bytes/);
    // An over-long first line after a byte order mark starts after the mark, as a first line does.
    const bom = run((a, s) => new NfdumpCsvParser('f.csv', a, s), new Uint8Array(Buffer.from(`\ufeff${'x'.repeat(300_000)}\nts,te,sa,da,sp,dp,pr\n${row(1)}\n`)), [65_536], false);
    expect([bom.records, bom.counts, bom.samples.map((s) => [s.offset, s.message.slice(0, 33)])]).toEqual([1, { 'csv.bad_line': 1 }, [[3, 'line 1: longer than 65536 bytes (']]]);
  });

  it('a header with a CR inside (lines that end in CR alone) is refused naming the file and the line, also when the file is over 64 KiB', () => {
    const row = '2024-05-01 10:00:00,2024-05-01 10:00:01,10.0.0.1,198.51.100.9,50000,3333,TCP,...AP...,10,1000';
    for (const rows of [14, 2000]) {
      const text = ['ts,te,sa,da,sp,dp,pr,flg,ipkt,ibyt', ...Array<string>(rows).fill(row)].join('\r') + '\r';
      for (const chunks of [[text.length], [4096]]) {
        const got = run((a, s) => new NfdumpCsvParser('mac.csv', a, s), new Uint8Array(Buffer.from(text, 'latin1')), chunks, true);
        expect(got.error, `${rows} rows, chunks ${chunks[0]}`).toBe('mac.csv: at byte 0: line 1: lines end in CR alone (a CR inside the line, as classic Mac OS ended lines); expected LF or CRLF line ends');
        expect([got.records, got.counts]).toEqual([0, {}]);
      }
    }
    // The error's byte offset is where the header line starts in the file, not its line number.
    const late = run((a, s) => new NfdumpCsvParser('late.csv', a, s), new Uint8Array(Buffer.from('\n  \nts,te,sa,da\r\n', 'latin1')), [4096], true);
    expect(late.error).toMatch(/^late\.csv: at byte 4: line 3: CSV header lacks sp, dp, pr; expected an nfdump -o csv header/);
    const lateCr = run((a, s) => new NfdumpCsvParser('late.csv', a, s), new Uint8Array(Buffer.from('\n\nts,te,sa,da\rx,y\r', 'latin1')), [4096], true);
    expect(lateCr.error).toMatch(/^late\.csv: at byte 2: line 3: lines end in CR alone/);
    // A CR at the end of the header (CRLF, or CR CR LF from a second conversion) is a line end, not a CR alone.
    for (const end of ['\r\n', '\r\r\n']) {
      const got = run((a, s) => new NfdumpCsvParser('f.csv', a, s), new Uint8Array(Buffer.from(`ts,te,sa,da,sp,dp,pr,flg,ipkt,ibyt${end}${row}${end}`)), [4096], true);
      expect([got.error, got.records], JSON.stringify(end)).toEqual([null, 1]);
    }
  });
});
