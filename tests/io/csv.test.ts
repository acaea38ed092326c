/**
 * The shared CSV splitter and field readers (src/io/csv.ts). Expected values are written by hand:
 * the splitting cases are RFC 4180 §2's rules and examples, the rest the formats the real files
 * use (nfdump's trailing Summary block, the operator files' comments, BOMs and CRLF).
 */
import { describe, expect, it } from 'vitest';
import { SubscriberDirectory } from '../../src/aggregate/directory.js';
import { parseNatLog } from '../../src/aggregate/nat.js';
import { parsePowerReadings } from '../../src/aggregate/power.js';
import { Anomalies } from '../../src/anomalies.js';
import type { ExportFlowInput } from '../../src/flow/records.js';
import {
  counterAt,
  CsvFieldSpans,
  csvFieldText,
  csvLines,
  ipv4At,
  NfdumpTimeReader,
  protocolAt,
  readAddress,
  readCounter,
  readDecimal,
  readPort,
  readPrefix,
  readProtocol,
  readTime,
  splitCsvFields,
  tcpFlagsAt,
  unsignedAt,
  type CsvLine,
} from '../../src/io/csv.js';
import { ByteWindow } from '../../src/io/joiner.js';
import { JsonFlowsParser } from '../../src/io/jsonflows.js';
import { NfdumpCsvParser } from '../../src/io/nfcsv.js';
import { lineStart } from '../support/lines.js';

const lines = (text: string, options?: Parameters<typeof csvLines>[1]): CsvLine[] => [...csvLines(text, options)];
const fields = (text: string): Array<string[] | string> => lines(text).map((l) => l.fields ?? l.error);
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

describe('CSV lines (RFC 4180 §2)', () => {
  it('rule 1: one record per line, CRLF between them', () => {
    expect(fields('aaa,bbb,ccc\r\nzzz,yyy,xxx\r\n')).toEqual([
      ['aaa', 'bbb', 'ccc'],
      ['zzz', 'yyy', 'xxx'],
    ]);
  });

  it('rule 2: the last record may lack a line break; LF alone ends a line too', () => {
    expect(fields('aaa,bbb,ccc\r\nzzz,yyy,xxx')).toEqual([
      ['aaa', 'bbb', 'ccc'],
      ['zzz', 'yyy', 'xxx'],
    ]);
    expect(fields('aaa,bbb\nzzz,yyy\n')).toEqual([
      ['aaa', 'bbb'],
      ['zzz', 'yyy'],
    ]);
  });

  it('rule 4: empty fields count, a trailing comma is one more empty field', () => {
    expect(fields('a,,c\n,\nx,\n')).toEqual([
      ['a', '', 'c'],
      ['', ''],
      ['x', ''],
    ]);
  });

  it('rule 5: a field may be in double quotes', () => {
    expect(fields('"aaa","bbb","ccc"\n')).toEqual([['aaa', 'bbb', 'ccc']]);
  });

  it('rule 6: a quoted field holds commas; a line break in one is refused, not read across lines', () => {
    expect(fields('"aaa","b,bb","ccc"\n')).toEqual([['aaa', 'b,bb', 'ccc']]);
    const split = lines('"aaa","b\r\nbb","ccc"\r\n');
    expect(split.map((l) => [l.line, l.fields === null])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect(split[0]!.error).toMatch(/quoted field not closed on its line/);
  });

  it('rule 7: a quote inside a quoted field is written twice', () => {
    expect(fields('"aaa","b""bb","ccc"\n')).toEqual([['aaa', 'b"bb', 'ccc']]);
    expect(fields('"""",""""""\n')).toEqual([['"', '""']]);
  });

  it('spaces in a quoted field are kept; an unquoted field and blanks around quotes are trimmed', () => {
    expect(fields('" a ", b ,  "c"  ,d\n')).toEqual([[' a ', 'b', 'c', 'd']]);
  });

  it('a quote inside an unquoted field, or text after a closing quote, is an error naming what was expected', () => {
    expect(fields('ab"c,d\n')).toEqual([expect.stringMatching(/quote inside an unquoted field/)]);
    expect(fields('"ab"c,d\n')).toEqual([expect.stringMatching(/text after a closing quote \(expected a comma/)]);
    expect(fields('"abc\n')).toEqual([expect.stringMatching(/not closed on its line/)]);
  });

  it('a BOM at the start is dropped; blank lines and (when asked) # comments are skipped, keeping line numbers', () => {
    const got = lines('\uFEFFprefix,subscriber\r\n\r\n  # export of 2026-11-01\r\n   \r\n10.0.0.1,A\r\n', { comments: true });
    expect(got).toEqual([
      { line: 1, fields: ['prefix', 'subscriber'], error: null },
      { line: 5, fields: ['10.0.0.1', 'A'], error: null },
    ]);
    // Without comments a # line is data.
    expect(fields('#a,b\n')).toEqual([['#a', 'b']]);
    // A BOM later in the text is a character (kept in quotes; trimmed, as JavaScript's trim does, outside).
    expect(fields('a\n"\uFEFFb"\n')).toEqual([['a'], ['\uFEFFb']]);
  });

  it('bounds the field count and the line length before splitting', () => {
    expect(fields('a,b,c\n')).toEqual([['a', 'b', 'c']]);
    expect(lines('a,b,c,d\n', { maxFields: 3 })[0]!.error).toBe('more than 3 fields');
    expect(lines('a,b,c\n', { maxFields: 3 })[0]!.fields).toEqual(['a', 'b', 'c']);
    expect(lines(`${'x'.repeat(11)}\nok\n`, { maxLineBytes: 10 })).toEqual([
      { line: 1, fields: null, error: 'line longer than 10 bytes' },
      { line: 2, fields: ['ok'], error: null },
    ]);
  });

  it('splits bytes into reused spans, stopping at a field limit without reading further', () => {
    const b = bytes('x,1,"a,""b""",  z ,"tail never read');
    const spans = new CsvFieldSpans(8);
    expect(splitCsvFields(b, 2, b.length, spans, 3)).toBe(3);
    expect(spans.complete).toBe(false);
    expect([0, 1, 2].map((i) => csvFieldText(b, spans, i, 'latin1'))).toEqual(['1', 'a,"b"', 'z']);
    expect([spans.starts[1], spans.ends[1], spans.quoted[1]]).toEqual([5, 12, 2]);
    expect(splitCsvFields(b, 2, b.length, spans)).toBeLessThan(0);
    expect(splitCsvFields(b, 0, 1, spans)).toBe(1);
    expect(spans.complete).toBe(true);
  });

  it('a CR inside a line (lines that end in CR alone, as classic Mac OS ended them) is an error, not one long line', () => {
    const crAlone = 'lines end in CR alone (a CR inside the line, as classic Mac OS ended lines); expected LF or CRLF line ends';
    expect(lines('prefix,subscriber\r10.0.0.1,A\r')).toEqual([{ line: 1, fields: null, error: crAlone }]);
    // Not hidden by a comment or blanks opening the text, nor by the length bound.
    expect(lines('# export\rprefix,subscriber\r10.0.0.1,A\r', { comments: true })).toEqual([{ line: 1, fields: null, error: crAlone }]);
    expect(lines('\r\rprefix,subscriber\r')).toEqual([{ line: 1, fields: null, error: crAlone }]);
    expect(lines(`a,b\r${'c,d\r'.repeat(10)}`, { maxLineBytes: 10 })).toEqual([{ line: 1, fields: null, error: crAlone }]);
    // In a quoted field too: a field may not span lines.
    expect(lines('a,b\n"x\ry",z\n')).toEqual([
      { line: 1, fields: ['a', 'b'], error: null },
      { line: 2, fields: null, error: crAlone },
    ]);
    // A CR that only blanks follow ends the line (CRLF, CR CR LF from a second conversion), and lines of blanks and CRs are blank.
    expect(fields('a,b\r\r\nc,d \r \r\n\r\r\n')).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });
});

describe('field readers', () => {
  it('ports and counters: decimal digits in range, or a whole JSON number', () => {
    expect(readPort('443')).toEqual({ ok: true, value: 443 });
    expect(readPort(0)).toEqual({ ok: true, value: 0 });
    for (const bad of ['65536', '0x10', '1e3', '-1', '', ' 80', '8 0']) expect(readPort(bad), bad).toEqual({ ok: false, expected: 'a port from 0 to 65535' });
    expect(readPort(443.5).ok).toBe(false);
    expect(readCounter('18446744073709551616')).toEqual({ ok: true, value: 2 ** 64 });
    expect(readCounter(-1)).toEqual({ ok: false, expected: 'a count from 0 to 2^64' });
    expect(readCounter(-1e308).ok).toBe(false);
  });

  it('protocols: numbers 0-255 or names in any case', () => {
    expect(['TCP', 'udp', 'ICMP', 'icmp6', 'IPv6-ICMP', 'gre', '47', '0', '255'].map((p) => readProtocol(p))).toEqual([6, 17, 1, 58, 58, 47, 47, 0, 255].map((value) => ({ ok: true, value })));
    expect(readProtocol('256')).toEqual({ ok: false, expected: 'a protocol number 0-255 or a name such as TCP, UDP, ICMP, GRE' });
    expect(readProtocol('FOO').ok).toBe(false);
  });

  it('non-negative decimals', () => {
    expect(readDecimal('38.5')).toEqual({ ok: true, value: 38.5 });
    expect(readDecimal('0')).toEqual({ ok: true, value: 0 });
    for (const bad of ['-3', '1e3', '.5', '5.', 'x', '9'.repeat(41)]) expect(readDecimal(bad).ok, bad).toBe(false);
  });

  it('addresses: four decimal parts without leading zeros, or IPv6', () => {
    expect(readAddress('198.51.100.7')).toMatchObject({ ok: true });
    expect(readAddress('198.51.100.7').ok && readAddress('198.51.100.7')).toMatchObject({ value: { octets: [198, 51, 100, 7] } });
    expect(readAddress('2001:db8::1').ok).toBe(true);
    expect(readAddress('0.0.0.0').ok).toBe(true);
    for (const bad of ['010.1.1.1', '1024', '0x10.1.1.1', '1.2.3', '256.1.1.1', '1.2.3.4 ', 'not-ip', '2001:db8:::1', '', 'fe80::1%eth0', '::1.2.3']) expect(readAddress(bad).ok, bad).toBe(false);
    // A dotted tail as RFC 4291 §2.2 reads it (and the flow table does), not as ipaddr.js does (::ffff:1.2.3.4).
    const tail = readAddress('::1.2.3.4');
    expect(tail.ok && tail.value.toString()).toBe('::102:304');
    const mapped = readAddress('::ffff:198.51.100.7');
    expect(mapped.ok && mapped.value.kind()).toBe('ipv6');
    const p = readPrefix('100.64.1.0/24');
    expect(p.ok && [p.value[0].toString(), p.value[1]]).toEqual(['100.64.1.0', 24]);
    const h = readPrefix('2001:db8::5');
    expect(h.ok && h.value[1]).toBe(128);
    for (const bad of ['100.64.0.0/33', '100.64.0.0/', '100.64.0.0/1a', '2001:db8::/129']) expect(readPrefix(bad).ok, bad).toBe(false);
  });

  it('ISO 8601 times: dates, date-times with optional seconds, fraction and offset; real calendar dates only', () => {
    const at = (text: string, epochSeconds = false): number | string => {
      const r = readTime(text, { epochSeconds });
      return r.ok ? r.value : 'bad';
    };
    expect(at('2026-11-01')).toBe(Date.UTC(2026, 10, 1));
    expect(at('2026-11-01T08:00')).toBe(Date.UTC(2026, 10, 1, 8));
    expect(at('2026-11-01 08:00:30')).toBe(Date.UTC(2026, 10, 1, 8, 0, 30));
    expect(at('2026-11-01T08:00:30.5Z')).toBe(Date.UTC(2026, 10, 1, 8, 0, 30, 500));
    expect(at('2019-01-01 10:00:00.123456')).toBe(Date.UTC(2019, 0, 1, 10, 0, 0, 123));
    expect(at('2026-11-01T00:00:00+08:00')).toBe(Date.UTC(2026, 9, 31, 16));
    expect(at('2026-11-01T00:00:00.500-0500')).toBe(Date.UTC(2026, 10, 1, 5, 0, 0, 500));
    expect(at('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    // Years below 100 are years, not 1900 + year (Date.UTC's reading).
    expect(at('0050-01-01')).toBe(Date.parse('0050-01-01T00:00:00Z'));
    for (const bad of ['2026-02-30', '2025-02-29', '2026-13-01', '2026-11-01T24:00', '2026-11-01T08:60', '2026-11-01T08:00:00+24:00', '2026-11-01Z', 'yesterday', '1793491200', '2026-11-1'])
      expect(at(bad), bad).toBe('bad');
    expect(at('1793491200', true)).toBe(1_793_491_200_000);
    expect(at('1793491200.5', true)).toBe(1_793_491_200_500);
    expect(at('99999999999999', true)).toBe('bad');
    expect(readTime('x')).toEqual({ ok: false, expected: 'a date (2026-11-01) or date-time (2026-11-01T00:00:00+08:00), ISO 8601, UTC unless it carries an offset' });
  });

  it('nfdump byte readers: padded integers, scaled counters, names, dotted quads, flag letters', () => {
    const on = (f: (b: Uint8Array, a: number, e: number) => number, s: string): number => f(bytes(`,${s},`), 1, s.length + 1);
    expect(on(unsignedAt, '  17 ')).toBe(17);
    expect(on(unsignedAt, '1234567890123456')).toBe(-1);
    expect(on(counterAt, '1.2 M')).toBe(1_200_000);
    expect(on(counterAt, '35 k')).toBe(35_000);
    expect(on(counterAt, '1234567890123456')).toBe(1234567890123456);
    expect(on(counterAt, '')).toBe(0);
    expect(on(counterAt, '-1')).toBe(-1);
    expect(on(protocolAt, 'TCP')).toBe(6);
    expect(on(protocolAt, ' icmp6 ')).toBe(58);
    expect(on(protocolAt, '300')).toBe(-1);
    expect(on(ipv4At, ' 10.0.0.1 ')).toBe(167772161);
    expect(on(ipv4At, '10.0.0.256')).toBe(-1);
    expect(on(tcpFlagsAt, '...AP.SF')).toBe(0x1b);
    expect(on(tcpFlagsAt, 'CEUAPRSF')).toBe(0xff);
  });

  it('nfdump times: a repeated stamp gives its time again, a new one its own', () => {
    const r = new NfdumpTimeReader();
    const out = new Float64Array(1);
    const b = bytes('2017-01-17 11:32:31,2017-01-17 11:32:31,2017-01-17 11:32:32,2017-01-17T11:32:31.250, 2017-01-17 11:32:31,2017-02-30 00:00:00,2017-01-17 11:32:3x');
    r.use(b, b.length);
    const got: number[] = [];
    for (let a = 0; a < b.length; ) {
      let e = b.indexOf(0x2c, a);
      if (e < 0) e = b.length;
      r.read(b, a, e, 0, out, 0);
      got.push(out[0]!);
      a = e + 1;
    }
    const t = Date.UTC(2017, 0, 17, 11, 32, 31);
    // nfdump's day is not checked against the calendar: February 30 is March 2 (as before).
    expect(got).toEqual([t, t, t + 1000, t + 250, t, Date.UTC(2017, 2, 2), NaN]);
  });
});

describe('the real files through the shared splitter', () => {
  it('nfdump CSV: BOM, quoted fields, and the trailing Summary block (not data)', () => {
    const text =
      '\uFEFFts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt\n' +
      '2024-05-01 10:00:00,2024-05-01 10:00:01,1.000,10.0.0.1,198.51.100.9,50000,3333,TCP,...AP...,10,1.2 M\n' +
      '2024-05-01 10:00:00,2024-05-01 10:00:02,"1,5","10.0.0.2",198.51.100.9,50001,3333,"TCP",.A....S.,7,700\n' +
      '2024-05-01 10:00:00,2024-05-01 10:00:02,1.0,10.0.0.3,198.51.100.9,5"0,3333,TCP,........,7,700\n' +
      'Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n2,1200700,17,0,0,0\n';
    const anomalies = new Anomalies();
    const recs: ExportFlowInput[] = [];
    const p = new NfdumpCsvParser('f.csv', anomalies, { record: (r) => void recs.push(r) });
    const win = new ByteWindow();
    win.append(Buffer.from(text, 'utf8'));
    p.parse(win, true);
    expect(recs.map((r) => [r.srcAddr, r.protocol, r.tcpFlags, r.packets, r.bytes, r.lastMs - r.firstMs])).toEqual([
      ['10.0.0.1', 6, 0x18, 10, 1_200_000, 1000],
      ['10.0.0.2', 6, 0x12, 7, 700, 2000],
    ]);
    expect(anomalies.toObject()).toEqual({ 'csv.bad_line': 1 });
    // Counted at the byte where line 4 starts (the BOM's 3 bytes before it), its line number in the message.
    expect(anomalies.samples[0]).toMatchObject({ offset: lineStart(text, 4, { skipBom: true }), message: expect.stringMatching(/^line 4: a quote inside an unquoted field/) });
  });

  it('subscriber directory: comments, quoted ids with commas and quotes, CRLF', () => {
    const { directory, errors } = SubscriberDirectory.parse('# exported 2026-11-01\r\nprefix,subscriber,account\r\n  # a comment after blanks\r\n"100.64.0.0/24","SUB, ""A""",ACC-1\r\n');
    expect(errors).toEqual([]);
    expect(directory!.lookup('100.64.0.9')).toMatchObject({ subscriber: 'SUB, "A"', account: 'ACC-1', line: 4 });
    const bad = SubscriberDirectory.parse('prefix,subscriber\n10.0.0.1,"SUB\n010.0.0.1,B\n');
    expect(bad.errors).toEqual([
      { line: 2, message: expect.stringMatching(/quoted field not closed on its line/) },
      { line: 3, message: expect.stringMatching(/^prefix "010\.0\.0\.1" is not an IP address or CIDR \(expected an IP address or CIDR like/) },
    ]);
  });

  it('NAT log and power readings: bad fields name what was expected', () => {
    const nat = parseNatLog('start,end,private_ip,public_ip,port_start,port_end\n2026-02-30T00:00:00,,10.0.0.1,203.0.113.1,1,2\n1793491200,,10.0.0.1,203.0.113.1,0x10,20\n"1793491200",,"::ffff:10.0.0.1",203.0.113.1,10,20\n');
    expect(nat.errors).toEqual([
      { line: 2, message: expect.stringMatching(/^expected start \(and end, or empty for open\) as a date or date-time/) },
      { line: 3, message: 'expected port_start <= port_end within 0-65535, got "0x10", "20"' },
    ]);
    expect(nat.records).toEqual([{ start: 1_793_491_200_000, end: Infinity, privateIp: '10.0.0.1', publicIp: '203.0.113.1', portStart: 10, portEnd: 20, line: 4 }]);
    const power = parsePowerReadings('subscriber,start,end,kwh\n"SUB, 1",2026-11-01,2026-11-02,1.5\nB,2026-11-01,2026-11-02,1e3\n');
    expect(power.errors).toEqual([{ line: 3, message: 'kwh: expected a non-negative number like 38.5, got "1e3"' }]);
  });

  it('JSON flows: a line over 64 KiB is one bad line, skipped up to its newline however the chunks cut it; the lines after keep their numbers', () => {
    const rec = (n: number): string => JSON.stringify({ src_addr: `10.0.0.${n}`, dst_addr: '198.51.100.9', proto: 'tcp', src_port: 50000 + n, dst_port: 3333, packets: 3, bytes: 180, time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714557601000000000 });
    // Line 2 is 4.5 MB (longer than the reader's 4 MiB window), line 4 is not JSON, lines 1, 3 and 5 are records.
    const text = `${rec(1)}\n${'x'.repeat(4_500_000)}\n${rec(2)}\n{"broken": \n${rec(3)}\n`;
    for (const crlf of [false, true]) {
      const bytes = Buffer.from(crlf ? text.replaceAll('\n', '\r\n') : text);
      for (const size of [1 << 22, 1 << 20, 65_537]) {
        const anomalies = new Anomalies();
        const recs: ExportFlowInput[] = [];
        const p = new JsonFlowsParser('f.jsonl', anomalies, { record: (r) => void recs.push(r) });
        const win = new ByteWindow(1 << 16);
        for (let at = 0; at < bytes.length; at += size) {
          win.append(bytes.subarray(at, at + size));
          p.parse(win, false);
        }
        p.parse(win, true);
        const what = `crlf ${crlf}, chunks of ${size}`;
        expect(anomalies.toObject(), what).toEqual({ 'json.bad_line': 2 });
        expect(anomalies.samples.map((s) => [s.offset, s.message]), what).toEqual([
          [lineStart(bytes, 2), 'line 2: longer than 65536 bytes (expected at most 65536 bytes a line); skipped up to its line end'],
          [lineStart(bytes, 4), 'line 4: not JSON: {"broken":'],
        ]);
        expect(recs.map((r) => r.srcAddr), what).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
      }
    }
  });

  it('JSON flows: lines that end in CR alone are a bad line saying so', () => {
    const rec = (n: number): string => JSON.stringify({ src_addr: `10.0.0.${n}`, dst_addr: '198.51.100.9', proto: 'tcp', src_port: 50000 + n, dst_port: 3333, packets: 3, bytes: 180, time_flow_start_ns: 1714557600000000000 });
    const crAlone = 'lines end in CR alone (a CR inside the line, as classic Mac OS ended lines); expected LF or CRLF line ends';
    for (const n of [3, 1000]) {
      const anomalies = new Anomalies();
      const recs: ExportFlowInput[] = [];
      const p = new JsonFlowsParser('f.jsonl', anomalies, { record: (r) => void recs.push(r) });
      const win = new ByteWindow(1 << 16);
      const text = Array.from({ length: n }, (_, i) => rec(i + 1)).join('\r') + '\r';
      win.append(Buffer.from(text));
      p.parse(win, true);
      expect([recs.length, anomalies.toObject()], `${n} records`).toEqual([0, { 'json.bad_line': 1 }]);
      // With no LF the whole file is line 1, counted where it starts.
      expect(anomalies.samples[0]!.offset).toBe(lineStart(text, 1));
      expect(anomalies.samples[0]!.message).toMatch(n === 3 ? `line 1: not JSON; ${crAlone}: {"src_addr"` : `line 1: longer than 65536 bytes (expected at most 65536 bytes a line); ${crAlone}; skipped up to its line end`);
    }
  });

  it('JSON flows: a bad field is a bad line naming its key and what was expected', () => {
    const anomalies = new Anomalies();
    const recs: ExportFlowInput[] = [];
    const p = new JsonFlowsParser('f.jsonl', anomalies, { record: (r) => void recs.push(r) });
    const win = new ByteWindow();
    const base = { src_addr: '10.0.0.1', dst_addr: '198.51.100.9', proto: 'tcp', src_port: 50000, dst_port: 3333, packets: 3, bytes: 180, time_flow_start_ns: 1714557600000000000, time_flow_end_ns: 1714557601000000000 };
    const rows = [base, { ...base, dst_port: '0x10' }, { ...base, proto: 300 }, { ...base, src_addr: '10.0.0.256' }, { ...base, timestamp_start: '2024-05-01 10:00:00.5', time_flow_start_ns: undefined }];
    const text = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    win.append(Buffer.from(text));
    p.parse(win, true);
    expect(recs.map((r) => [r.dstPort, r.protocol, r.firstMs])).toEqual([
      [3333, 6, Date.UTC(2024, 4, 1, 10)],
      [3333, 6, Date.UTC(2024, 4, 1, 10, 0, 0, 500)],
    ]);
    expect(anomalies.samples.map((s) => [s.offset, s.message])).toEqual([
      [lineStart(text, 2), expect.stringMatching(/^line 2: dst_port: expected a port from 0 to 65535, got "0x10": \{"src_addr"/)],
      [lineStart(text, 3), expect.stringMatching(/^line 3: proto: expected a protocol number 0-255 or a name such as TCP, UDP, ICMP, GRE, got 300: /)],
      [lineStart(text, 4), expect.stringMatching(/^line 4: expected src_addr\/ip_src and dst_addr\/ip_dst as IP addresses of one family: /)],
    ]);
  });
});
