/**
 * readDnsLog on logs the tests write: Zeek dns.log (TSV and JSON, from Zeek's documented schema),
 * dnstap frames encoded from a .proto text written here (not the reader's descriptor) and made
 * malformed in every way the reader must survive, captures built from packets and, when the
 * shared corpus is present, real captures against tshark's reading of them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import { InputError } from '../../src/errors.js';
import { readDnsLog, type DnsLookup, type DnsLogInfo } from '../../src/io/dnslog.js';
import { concatBytes, dnsAResponse, dnsQuery, ethernet, ipv4, ipv6, LinkType, parseIpv4, parseIpv6, pcapFile, pcapngFile, udp, utf8 } from '../support/builders.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, inEachZone } from '../helpers.js';
import { lineStart } from '../support/lines.js';
import ipaddr from 'ipaddr.js';
import { parseIpv6Text } from '../../src/ip.js';

const DIR = mkdtempSync(join(tmpdir(), 'minerwatch-dnslog-'));
afterAll(() => {
  spawnSync('rm', ['-rf', DIR]);
});
let n = 0;
function file(content: Uint8Array | string, ext = 'log'): string {
  const p = join(DIR, `f${++n}.${ext}`);
  writeFileSync(p, content);
  return p;
}

async function read(path: string): Promise<{ info: DnsLogInfo; lookups: DnsLookup[]; anomalies: Anomalies }> {
  const lookups: DnsLookup[] = [];
  const anomalies = new Anomalies(50);
  const info = await readDnsLog(path, (l) => lookups.push(l), anomalies);
  return { info, lookups, anomalies };
}

// ---------------------------------------------------------------------------------------------
// Zeek

const ZEEK_HEADER = [
  '#separator \\x09',
  '#set_separator\t,',
  '#empty_field\t(empty)',
  '#unset_field\t-',
  '#path\tdns',
  '#open\t2023-11-14-22-13-20',
  '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected',
  '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool',
];

function tsv(...rows: string[][]): string {
  return [...ZEEK_HEADER, ...rows.map((r) => r.join('\t')), '#close\t2023-11-14-23-00-00', ''].join('\n');
}

describe('Zeek dns.log (TSV)', () => {
  it('reads answered lookups: CNAME chain inferred, IPv6, unset and empty fields, rtt added to ts', async () => {
    const path = file(
      tsv(
        ['1700000000.250000', 'CHhAvVGS1DHFjwGM9', '100.64.0.11', '53421', '10.0.0.53', '53', 'udp', '4711', '0.012000', 'XMR.Pool.Example.', '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', 'edge.pool.example,node1.cdn.example,203.0.113.10,203.0.113.11', '300.000000,120.000000,60.000000,60.000000', 'F'],
        ['1700000001.000000', 'C2', '2001:DB8:0:0:0:0:0:1', '53000', '2001:db8::53', '53', 'udp', '2', '-', 'pool.example', '1', 'C_INTERNET', '28', 'AAAA', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', '2001:db8:0:0:1:0:0:1', '45.000000', 'F'],
        // No response: skipped.
        ['1700000002.000000', 'C3', '100.64.0.12', '53001', '10.0.0.53', '53', 'udp', '3', '-', 'slow.example', '1', 'C_INTERNET', '1', 'A', '-', '-', 'F', 'F', 'T', 'F', '0', '-', '-', 'F'],
        // NXDOMAIN: a lookup with no answers.
        ['1700000003.500000', 'C4', '::ffff:100.64.0.13', '53002', '10.0.0.53', '53', 'udp', '4', '0.001000', 'nx.example', '1', 'C_INTERNET', '1', 'A', '3', 'NXDOMAIN', 'F', 'F', 'T', 'T', '0', '(empty)', '(empty)', 'F'],
        // PTR answers are names, not CNAMEs: skipped; the lookup stays.
        ['1700000004.000000', 'C5', '100.64.0.14', '53003', '10.0.0.53', '53', 'udp', '5', '-', '1.113.0.203.in-addr.arpa', '1', 'C_INTERNET', '12', 'PTR', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', 'host.example', '3600.000000', 'F'],
        // A name after the addresses is not part of the chain; TXT-like text is not a name.
        ['1700000005.000000', 'C6', '100.64.0.15', '53004', '10.0.0.53', '53', 'udp', '6', '-', 'mixed.example', '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', 'TXT 5 hello,198.51.100.1,late.example', '10.000000,20.000000,30.000000', 'F'],
      ),
    );
    const { info, lookups, anomalies } = await read(path);
    expect(anomalies.total).toBe(0);
    expect(info).toMatchObject({ format: 'zeek-tsv', lookups: 5, skipped: 1 });
    expect(lookups[0]).toEqual({
      time: 1700000000250 + 12,
      client: '100.64.0.11',
      resolver: '10.0.0.53',
      query: 'xmr.pool.example',
      qtype: 1,
      rcode: 0,
      answers: [
        { name: 'xmr.pool.example', type: 'CNAME', data: 'edge.pool.example', ttl: 300 },
        { name: 'edge.pool.example', type: 'CNAME', data: 'node1.cdn.example', ttl: 120 },
        { name: 'node1.cdn.example', type: 'A', data: '203.0.113.10', ttl: 60 },
        { name: 'node1.cdn.example', type: 'A', data: '203.0.113.11', ttl: 60 },
      ],
    });
    expect(lookups[1]).toEqual({
      time: 1700000001000,
      client: '2001:db8::1',
      resolver: '2001:db8::53',
      query: 'pool.example',
      qtype: 28,
      rcode: 0,
      answers: [{ name: 'pool.example', type: 'AAAA', data: '2001:db8::1:0:0:1', ttl: 45 }],
    });
    expect(lookups[2]).toMatchObject({ time: 1700000003501, client: '100.64.0.13', query: 'nx.example', rcode: 3, answers: [] });
    expect(lookups[3]).toMatchObject({ query: '1.113.0.203.in-addr.arpa', qtype: 12, answers: [] });
    expect(lookups[4]!.answers).toEqual([{ name: 'mixed.example', type: 'A', data: '198.51.100.1', ttl: 20 }]);
  });

  it('finds columns by name (another order, extra columns), a second header, escapes', async () => {
    const text = [
      '#separator \\x09',
      '#set_separator\t,',
      '#empty_field\t(empty)',
      '#unset_field\t-',
      '#path\tdns',
      '#fields\tquery\tanswers\tTTLs\trcode\tqtype\tid.resp_h\tid.orig_h\tts\textra_col',
      '#types\tstring\tvector[string]\tvector[interval]\tcount\tcount\taddr\taddr\ttime\tstring',
      'a\\x2cb.example\tc.example,192.0.2.1\t5.0,6.0\t0\t1\t192.0.2.53\t192.0.2.100\t1700000000\tx',
      '#fields\tts\tid.orig_h\tquery\trcode\tanswers\tTTLs',
      '1700000009.5\t192.0.2.101\tb.example\t0\t192.0.2.2\t7',
      '',
    ].join('\n');
    const { lookups, anomalies } = await read(file(text));
    expect(anomalies.total).toBe(0);
    expect(lookups).toEqual([
      {
        time: 1700000000000,
        client: '192.0.2.100',
        resolver: '192.0.2.53',
        query: 'a,b.example',
        qtype: 1,
        rcode: 0,
        answers: [
          { name: 'a,b.example', type: 'CNAME', data: 'c.example', ttl: 5 },
          { name: 'c.example', type: 'A', data: '192.0.2.1', ttl: 6 },
        ],
      },
      // No qtype column: only addresses are taken (a name cannot be told from a CNAME target).
      { time: 1700000009500, client: '192.0.2.101', resolver: null, query: 'b.example', qtype: 0, rcode: 0, answers: [{ name: 'b.example', type: 'A', data: '192.0.2.2', ttl: 7 }] },
    ]);
  });

  it('bad lines are counted with their line number and skipped; the rest is read', async () => {
    const good = ['1700000000.000000', 'C1', '100.64.0.11', '1', '10.0.0.53', '53', 'udp', '1', '-', 'ok.example', '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', '192.0.2.1', '1.000000', 'F'];
    const rows = [
      good,
      ['1700000000.000000', 'C2', '100.64.0.11'], // too few fields
      good.map((v, i) => (i === 0 ? 'yesterday' : v)), // bad ts
      good.map((v, i) => (i === 2 ? '999.1.1.1' : v)), // bad client
      good.map((v, i) => (i === 14 ? 'NOERROR' : v)), // rcode not a number
      good.map((v, i) => (i === 22 ? '1.0,2.0' : v)), // TTL count
      good,
    ];
    const text = tsv(...rows);
    const { info, lookups, anomalies } = await read(file(text));
    expect(lookups.length).toBe(2);
    expect(info.lookups).toBe(2);
    expect(anomalies.counts.get('zeek.bad_line')).toBe(5);
    // Header is 8 lines: data lines are 9 … 15. Each bad line is counted at the byte where it starts, its number in the message.
    expect(anomalies.samples.map((s) => [s.offset, /^line \d+: /.exec(s.message)?.[0]])).toEqual([10, 11, 12, 13, 14].map((n) => [lineStart(text, n), `line ${n}: `]));
    expect(anomalies.samples[0]!.message).toMatch(/^line 10: 3 fields; #fields names 24/);
    expect(anomalies.samples[1]!.message).toMatch(/ts "yesterday" is not epoch seconds/);
    expect(anomalies.samples[2]!.message).toMatch(/id\.orig_h "999\.1\.1\.1" is not an IP address/);
  });

  it('a line over 64 KiB is one bad line, counted at the byte where it starts; the lines after keep their numbers', async () => {
    const good = ['1700000000.000000', 'C1', '100.64.0.11', '1', '10.0.0.53', '53', 'udp', '1', '-', 'ok.example', '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', '192.0.2.1', '1.000000', 'F'];
    // Line 10 is 4.5 MB: longer than the window a file is read into, so it arrives in pieces; line 12 is short.
    const text = tsv(good, ['x'.repeat(4_500_000)], good, ['1700000000.000000', 'C2'], good);
    const { lookups, anomalies } = await read(file(text));
    expect(lookups).toHaveLength(3);
    expect(anomalies.counts.get('zeek.bad_line')).toBe(2);
    expect(anomalies.samples.map((s) => [s.offset, s.message])).toEqual([
      [lineStart(text, 10), 'line 10: line longer than 65536 bytes; line skipped'],
      [lineStart(text, 12), expect.stringMatching(/^line 12: 2 fields; #fields names 24; line skipped$/)],
    ]);
  });

  it('a Zeek log of another kind, or one without the needed columns, is not a resolver log', async () => {
    const conn = ZEEK_HEADER.map((l) => (l === '#path\tdns' ? '#path\tconn' : l)).join('\n');
    await expect(readDnsLog(file(conn), () => undefined, new Anomalies())).rejects.toThrow(/line 5: a Zeek "conn" log; expected #path dns/);
    const noQuery = ['#separator \\x09', '#fields\tts\tid.orig_h\trcode', '1\t1.2.3.4\t0', ''].join('\n');
    await expect(readDnsLog(file(noQuery), () => undefined, new Anomalies())).rejects.toThrow(/#fields has no query column/);
  });
});

describe('Zeek header and field values in messages', () => {
  /** The error a log with these header lines gives (ZEEK_HEADER with line `at` replaced). */
  async function headerError(at: number, line: string): Promise<InputError> {
    const lines = [...ZEEK_HEADER];
    lines[at] = line;
    const e = await readDnsLog(file(`${lines.join('\n')}\n`), () => undefined, new Anomalies()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  /** Bytes of the header lines before line `at` (0-based), with their newlines. */
  const offsetOf = (at: number): number => ZEEK_HEADER.slice(0, at).reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);

  it('a header value is quoted inert: no escape sequence reaches the terminal; the error names the line and its byte offset', async () => {
    const e = await headerError(4, '#path\t\u001b[2J\u001b]0;owned\u0007\u001b[31mdns');
    expect(e.offset).toBe(offsetOf(4));
    expect(e.message).toContain(`at byte ${offsetOf(4)}: line 5: a Zeek "\\u001b[2J\\u001b]0;owned\\u0007\\u001b[31mdns" log; expected #path dns`);
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f]/);
  });

  // The longest value a header line can hold: a longer line is no line (counted and skipped, below).
  it('a header value as long as a line may be is said by its start and its length, on one short line', async () => {
    const long = 60_000;
    for (const [at, line, what] of [
      [1, `#set_separator\t,${'A'.repeat(long)}`, 'set separator'],
      [4, `#path\t${'B'.repeat(long)}`, 'a Zeek'],
    ] as const) {
      const e = await headerError(at, line);
      expect(e.offset).toBe(offsetOf(at));
      expect(e.message).toContain(what);
      expect(e.message).toContain(`… (${long + (at === 1 ? 1 : 0)} characters)`);
      expect(e.message.length).toBeLessThan(300);
    }
  });

  it('an rtt that is no answer time, or a ts past the last date, makes a bad line; the rest is read', async () => {
    const good = ['1700000000.000000', 'C1', '100.64.0.11', '1', '10.0.0.53', '53', 'udp', '1', '0.010000', 'ok.example', '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', '192.0.2.1', '1.000000', 'F'];
    const rows = [
      good.map((v, i) => (i === 8 ? '1e400' : v)),
      good.map((v, i) => (i === 8 ? '-0.5' : v)),
      good.map((v, i) => (i === 0 ? '10000000000000.000000' : v)),
      good,
    ];
    const { lookups, anomalies } = await read(file(tsv(...rows)));
    expect(lookups.map((l) => l.time)).toEqual([1700000000010]);
    expect(anomalies.counts.get('zeek.bad_line')).toBe(3);
    expect(anomalies.samples.map((x) => x.message)).toEqual([
      'line 9: rtt Infinity s; expected the seconds a resolver took to answer, 0 to 3600; line skipped',
      'line 10: rtt -0.5 s; expected the seconds a resolver took to answer, 0 to 3600; line skipped',
      'line 11: ts "10000000000000.000000" is not epoch seconds or an ISO 8601 time; line skipped',
    ]);
    // The same in JSON lines, where such a ts is a number.
    const json = [
      { ts: 1700000000, 'id.orig_h': '100.64.0.11', query: 'ok.example', qtype: 1, rcode: 0, answers: ['192.0.2.1'], TTLs: [1], rtt: -3 },
      { ts: 1e13, 'id.orig_h': '100.64.0.11', query: 'ok.example', qtype: 1, rcode: 0, answers: ['192.0.2.1'], TTLs: [1] },
      { ts: 1700000000, 'id.orig_h': '100.64.0.11', query: 'ok.example', qtype: 1, rcode: 0, answers: ['192.0.2.1'], TTLs: [1], rtt: 0.02 },
    ];
    const j = await read(file(json.map((o) => JSON.stringify(o)).join('\n') + '\n'));
    expect(j.lookups.map((l) => l.time)).toEqual([1700000000020]);
    expect(j.anomalies.samples.map((x) => x.message)).toEqual([
      'line 1: rtt -3 s; expected the seconds a resolver took to answer, 0 to 3600; line skipped',
      'line 2: ts 10000000000000 s is outside the dates a report holds; expected epoch seconds within 8640000000000 of 1970; line skipped',
    ]);
  });
});

describe('compressed and interrupted reads', () => {
  const row = (i: number): string[] => [`${1700000000 + i}.000000`, `C${i}`, '100.64.0.11', '1', '10.0.0.53', '53', 'udp', '1', '-', `n${i}.example`, '1', 'C_INTERNET', '1', 'A', '0', 'NOERROR', 'F', 'F', 'T', 'T', '0', '192.0.2.1', '1.000000', 'F'];
  const text = tsv(...Array.from({ length: 5000 }, (_, i) => row(i)));

  it('a gzip-compressed Zeek log reads like the plain one; size and sha256 are the compressed file', async () => {
    const gz = gzipSync(Buffer.from(text));
    const plain = await read(file(text));
    const z = await read(file(gz, 'log.gz'));
    expect(z.lookups).toEqual(plain.lookups);
    expect(z.info).toMatchObject({ format: 'zeek-tsv', lookups: 5000, size: gz.length, sha256: createHash('sha256').update(gz).digest('hex') });
  });

  it('a cut gzip stream keeps what was decompressed and counts input.bad_gzip', async () => {
    const gz = gzipSync(Buffer.from(text));
    const { lookups, anomalies } = await read(file(gz.subarray(0, Math.floor(gz.length / 2)), 'log.gz'));
    expect(anomalies.counts.get('input.bad_gzip')).toBe(1);
    expect(lookups.length).toBeGreaterThan(0);
    expect(lookups.length).toBeLessThan(5000);
    expect(lookups.map((l) => l.query)).toEqual(Array.from({ length: lookups.length }, (_, i) => `n${i}.example`));
  });

  it('a small gzip log with a bad CRC or trailing bytes keeps every lookup (zcat gives them all) and counts input.bad_gzip once', async () => {
    // 40 lookups: well under the 16 KiB Node's own gunzip held back and lost when the stream then failed.
    const small = tsv(...Array.from({ length: 40 }, (_, i) => row(i)));
    const gz = gzipSync(Buffer.from(small));
    const badCrc = Buffer.from(gz);
    badCrc[gz.length - 8]! ^= 0x5a;
    for (const [what, bytes, said] of [
      ['bad CRC', badCrc, /CRC32 of its \d+ decompressed byte\(s\) is [0-9a-f]{8} where its trailer says [0-9a-f]{8}/],
      ['trailing bytes', Buffer.concat([gz, Buffer.from('not gzip\n')]), /9 byte\(s\) after the gzip member that ends here are neither another member/],
    ] as const) {
      const { lookups, anomalies, info } = await read(file(bytes, 'log.gz'));
      expect(lookups.map((l) => l.query), what).toEqual(Array.from({ length: 40 }, (_, i) => `n${i}.example`));
      expect(anomalies.counts.get('input.bad_gzip'), what).toBe(1);
      expect(anomalies.samples[0]!.message, what).toMatch(said);
      expect(info.sha256, what).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('an aborted read stops where it stands and returns what was read', async () => {
    const ac = new AbortController();
    const seen: DnsLookup[] = [];
    const rows: string[] = [];
    for (let i = 0; i < 200_000; i++) rows.push(row(i).join('\t'));
    const big = `${ZEEK_HEADER.join('\n')}\n${rows.join('\n')}\n`;
    const info = await readDnsLog(
      file(big),
      (l) => {
        seen.push(l);
        ac.abort();
      },
      new Anomalies(),
      { signal: ac.signal },
    );
    expect(info.lookups).toBe(seen.length);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(200_000);
  });
});

describe('Zeek dns.log (JSON lines)', () => {
  // Times read as every other reader reads them: UTC unless an offset is given, on real calendar days
  // (Date.parse took the first in the machine's zone and the second as March 2).
  it('an ISO ts without an offset is UTC in any zone the machine is in; a day the calendar lacks is a bad line', async () => {
    const line = (ts: string, q: string): string =>
      JSON.stringify({ ts, 'id.orig_h': '100.64.0.11', 'id.resp_h': '10.0.0.53', query: q, qtype: 1, rcode: 0, answers: ['198.51.100.20'], TTLs: [60.0], rejected: false });
    const text = [line('2023-11-14T22:13:21', 'a.example'), line('2023-11-14T22:13:21+08:00', 'b.example'), line('2023-02-30T00:00:00Z', 'c.example')].join('\n') + '\n';
    await inEachZone(async (tz) => {
      const { lookups, anomalies } = await read(file(text));
      expect(lookups.map((l) => [l.query, l.time]), tz).toEqual([
        ['a.example', Date.UTC(2023, 10, 14, 22, 13, 21)],
        ['b.example', Date.UTC(2023, 10, 14, 14, 13, 21)],
      ]);
      expect(anomalies.samples.map((x) => x.message), tz).toEqual(['line 3: ts "2023-02-30T00:00:00Z"; expected epoch seconds or an ISO 8601 time; line skipped']);
    });
  });

  it('reads epoch and ISO times, arrays, omitted unset fields; bad lines counted', async () => {
    const lines = [
      JSON.stringify({ ts: 1700000000.25, uid: 'C1', 'id.orig_h': '100.64.0.11', 'id.orig_p': 53421, 'id.resp_h': '10.0.0.53', 'id.resp_p': 53, proto: 'udp', trans_id: 1, rtt: 0.004, query: 'Mine.Pool.Example', qclass: 1, qclass_name: 'C_INTERNET', qtype: 1, qtype_name: 'A', rcode: 0, rcode_name: 'NOERROR', AA: false, TC: false, RD: true, RA: true, Z: 0, answers: ['lb.pool.example', '198.51.100.20'], TTLs: [30.0, 60.0], rejected: false }),
      JSON.stringify({ ts: '2023-11-14T22:13:21.500000Z', uid: 'C2', 'id.orig_h': 'fd00::1:10', 'id.orig_p': 5353, 'id.resp_h': 'fd00::53', 'id.resp_p': 53, proto: 'udp', trans_id: 2, query: 'v6.pool.example', qtype: 28, rcode: 0, AA: false, TC: false, RD: true, RA: true, Z: 0, answers: ['2001:db8::3333'], TTLs: [600.0], rejected: false }),
      // Unanswered: no rcode, no answers.
      JSON.stringify({ ts: 1700000002, uid: 'C3', 'id.orig_h': '100.64.0.12', 'id.orig_p': 1, 'id.resp_h': '10.0.0.53', 'id.resp_p': 53, proto: 'udp', trans_id: 3, query: 'lost.example', qtype: 1, AA: false, TC: false, RD: true, RA: false, Z: 0, rejected: false }),
      '{"ts": 1700000003, "id.orig_h": ',
      JSON.stringify({ ts: 1700000004, 'id.orig_h': '100.64.0.12', query: 'x.example', rcode: 0, answers: ['192.0.2.1'], TTLs: ['soon'], rejected: false }),
      '',
      JSON.stringify({ ts: 1700000005, 'id.orig_h': '100.64.0.12', 'id.resp_h': '10.0.0.53', query: 'y.example', qtype: 1, rcode: 2, rejected: false }),
    ];
    const text = lines.join('\n') + '\n';
    const { info, lookups, anomalies } = await read(file(text));
    expect(info).toMatchObject({ format: 'zeek-json', lookups: 3, skipped: 1 });
    expect(lookups[0]).toEqual({
      time: 1700000000250 + 4,
      client: '100.64.0.11',
      resolver: '10.0.0.53',
      query: 'mine.pool.example',
      qtype: 1,
      rcode: 0,
      answers: [
        { name: 'mine.pool.example', type: 'CNAME', data: 'lb.pool.example', ttl: 30 },
        { name: 'lb.pool.example', type: 'A', data: '198.51.100.20', ttl: 60 },
      ],
    });
    expect(lookups[1]).toEqual({
      time: Date.UTC(2023, 10, 14, 22, 13, 21, 500),
      client: 'fd00::1:10',
      resolver: 'fd00::53',
      query: 'v6.pool.example',
      qtype: 28,
      rcode: 0,
      answers: [{ name: 'v6.pool.example', type: 'AAAA', data: '2001:db8::3333', ttl: 600 }],
    });
    expect(lookups[2]).toMatchObject({ query: 'y.example', rcode: 2, answers: [] });
    expect(anomalies.counts.get('zeek.bad_line')).toBe(2);
    // Each bad line is counted at the byte where it starts, its number in the message.
    expect(anomalies.samples.map((s) => s.offset)).toEqual([lineStart(text, 4), lineStart(text, 5)]);
    expect(anomalies.samples[0]!.message).toMatch(/^line 4: not JSON/);
    expect(anomalies.samples[1]!.message).toMatch(/^line 5: .*TTLs is not an array of numbers/);
  });
});

describe('Zeek JSON sniffing', () => {
  it('a dns.log without the default-valued fields is still Zeek JSON; a conn.log is not a resolver log', async () => {
    const dns = `${JSON.stringify({ ts: 1700000000, 'id.orig_h': '100.64.0.1', 'id.resp_h': '10.0.0.53', query: 'a.example', qtype: 1, rcode: 0, answers: ['192.0.2.9'], TTLs: [9] })}\n`;
    const { info, lookups } = await read(file(dns));
    expect(info.format).toBe('zeek-json');
    expect(lookups[0]!.answers).toEqual([{ name: 'a.example', type: 'A', data: '192.0.2.9', ttl: 9 }]);
    const conn = `${JSON.stringify({ ts: 1700000000, uid: 'C1', 'id.orig_h': '100.64.0.1', 'id.orig_p': 1, 'id.resp_h': '10.0.0.53', 'id.resp_p': 53, proto: 'udp', service: 'dns', duration: 0.1 })}\n`;
    await expect(readDnsLog(file(conn), () => undefined, new Anomalies())).rejects.toThrow(/not a known resolver log/);
  });
});

// ---------------------------------------------------------------------------------------------
// dnstap, encoded from this .proto text (field numbers as in dnstap.pb's dnstap.proto)

const PROTO = `
syntax = "proto2";
package dnstap;
message Dnstap {
  optional bytes identity = 1;
  optional bytes version = 2;
  optional bytes extra = 3;
  enum Type { MESSAGE = 1; }
  required Type type = 15;
  optional Message message = 14;
}
message Message {
  enum Type {
    AUTH_QUERY = 1; AUTH_RESPONSE = 2; RESOLVER_QUERY = 3; RESOLVER_RESPONSE = 4;
    CLIENT_QUERY = 5; CLIENT_RESPONSE = 6; FORWARDER_QUERY = 7; FORWARDER_RESPONSE = 8;
    STUB_QUERY = 9; STUB_RESPONSE = 10; TOOL_QUERY = 11; TOOL_RESPONSE = 12;
  }
  required Type type = 1;
  optional uint32 socket_family = 2;
  optional uint32 socket_protocol = 3;
  optional bytes query_address = 4;
  optional bytes response_address = 5;
  optional uint32 query_port = 6;
  optional uint32 response_port = 7;
  optional uint64 query_time_sec = 8;
  optional fixed32 query_time_nsec = 9;
  optional bytes query_message = 10;
  optional bytes query_zone = 11;
  optional uint64 response_time_sec = 12;
  optional fixed32 response_time_nsec = 13;
  optional bytes response_message = 14;
}
`;
const TestDnstap = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('dnstap.Dnstap');

function be32(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}
function control(type: number, contentType: string | null = 'protobuf:dnstap.Dnstap'): Uint8Array {
  const fields = contentType === null ? new Uint8Array(0) : concatBytes(be32(1), be32(contentType.length), utf8(contentType));
  const body = concatBytes(be32(type), fields);
  return concatBytes(be32(0), be32(body.length), body);
}
function frame(payload: Uint8Array): Uint8Array {
  return concatBytes(be32(payload.length), payload);
}
function tap(message: Record<string, unknown>, identity = 'ns1'): Uint8Array {
  return TestDnstap.encode(TestDnstap.fromObject({ type: 1, identity: utf8(identity), message })).finish();
}
const T = 1700000000;
function clientResponse(wire: Uint8Array, client: Uint8Array, extra: Record<string, unknown> = {}): Uint8Array {
  return tap({ type: 6, socket_family: 1, socket_protocol: 1, query_address: client, query_port: 40000, query_time_sec: T, query_time_nsec: 0, response_time_sec: T, response_time_nsec: 1_500_000, response_message: wire, ...extra });
}

/** A response with a CNAME and an AAAA answer, written byte by byte (RFC 1035 §4.1). */
function cnameAaaaResponse(): Uint8Array {
  const name = (labels: string[]): Uint8Array => concatBytes(...labels.map((l) => concatBytes(new Uint8Array([l.length]), utf8(l))), new Uint8Array([0]));
  const header = new Uint8Array([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0]);
  const question = concatBytes(name(['Pool', 'Example']), new Uint8Array([0, 28, 0, 1]));
  const target = name(['edge', 'example']);
  // Owner by pointer to the question name at offset 12.
  const cname = concatBytes(new Uint8Array([0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 100, 0, target.length]), target);
  const aaaa = concatBytes(new Uint8Array([0xc0, 12 + 18 + 12, 0, 28, 0, 1, 0, 0, 0, 50, 0, 16]), parseIpv6('2001:db8::42'));
  const mx = concatBytes(new Uint8Array([0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 50, 0, 4, 0, 10, 0xc0, 12]));
  return concatBytes(header, question, cname, aaaa, mx);
}

describe('dnstap (Frame Streams)', () => {
  it('reads client responses; queries and resolver-side messages are skipped; IPv4-mapped client as IPv4', async () => {
    const a = dnsAResponse(7, 'xmr.pool.example', ['203.0.113.10', '203.0.113.11']);
    const mapped = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 100, 64, 0, 11]);
    const bytes = concatBytes(
      control(2),
      frame(tap({ type: 5, query_address: parseIpv4('100.64.0.11'), query_time_sec: T, query_message: dnsQuery(7, 'xmr.pool.example') })),
      frame(clientResponse(a, mapped, { response_address: parseIpv4('10.0.0.53') })),
      frame(tap({ type: 4, response_address: parseIpv4('192.0.2.1'), response_time_sec: T, response_message: a })),
      frame(tap({ type: 10, query_address: parseIpv6('fd00::1:10'), query_time_sec: T + 1, query_time_nsec: 250_000_000, response_message: cnameAaaaResponse() })),
      control(3, null),
    );
    const { info, lookups, anomalies } = await read(file(bytes, 'fstrm'));
    expect(anomalies.total).toBe(0);
    expect(info).toMatchObject({ format: 'dnstap', lookups: 2, skipped: 2, size: bytes.length });
    expect(lookups).toEqual([
      {
        time: T * 1000 + 1.5,
        client: '100.64.0.11',
        resolver: '10.0.0.53',
        query: 'xmr.pool.example',
        qtype: 1,
        rcode: 0,
        answers: [
          { name: 'xmr.pool.example', type: 'A', data: '203.0.113.10', ttl: 300 },
          { name: 'xmr.pool.example', type: 'A', data: '203.0.113.11', ttl: 300 },
        ],
      },
      {
        // No response time: the query time; no response address: the identity.
        time: (T + 1) * 1000 + 250,
        client: 'fd00::1:10',
        resolver: 'ns1',
        query: 'pool.example',
        qtype: 28,
        rcode: 0,
        answers: [
          { name: 'pool.example', type: 'CNAME', data: 'edge.example', ttl: 100 },
          { name: 'edge.example', type: 'AAAA', data: '2001:db8::42', ttl: 50 },
        ],
      },
    ]);
  });

  it('malformed frames and messages: each counted at its offset, the run goes on, nothing thrown', async () => {
    const good = frame(clientResponse(dnsAResponse(1, 'a.example', ['192.0.2.1']), parseIpv4('100.64.0.1')));
    const parts: Uint8Array[] = [control(2)];
    const offsets: Record<string, number> = {};
    const at = (name: string): void => {
      offsets[name] = parts.reduce((s, p) => s + p.length, 0);
    };
    parts.push(good);
    at('notProtobuf');
    parts.push(frame(new Uint8Array([0x72, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3])));
    at('missingType');
    parts.push(frame(new Uint8Array([0x0a, 0x01, 0x41])));
    at('badDns');
    parts.push(frame(clientResponse(dnsAResponse(2, 'b.example', ['192.0.2.2']).subarray(0, 20), parseIpv4('100.64.0.2'))));
    at('noClient');
    parts.push(frame(clientResponse(dnsAResponse(3, 'c.example', ['192.0.2.3']), new Uint8Array([1, 2, 3]))));
    at('noWire');
    parts.push(frame(tap({ type: 6, query_address: parseIpv4('100.64.0.4'), response_time_sec: T })));
    at('farTime');
    parts.push(frame(clientResponse(dnsAResponse(5, 'e.example', ['192.0.2.5']), parseIpv4('100.64.0.6'), { response_time_sec: 10_000_000_000_000 })));
    at('queryAsResponse');
    parts.push(frame(clientResponse(dnsQuery(4, 'd.example'), parseIpv4('100.64.0.5'))));
    parts.push(good);
    at('oversized');
    parts.push(concatBytes(be32(5 << 20), new Uint8Array([0x72, 1, 2, 3, 4, 5, 6, 7, 8, 9])));
    at('afterOversized');
    parts.push(good);
    at('badControl');
    parts.push(concatBytes(be32(0), be32(100_000)));
    parts.push(good);
    at('truncated');
    parts.push(good.subarray(0, good.length - 5));
    const bytes = concatBytes(...parts);
    const { lookups, anomalies } = await read(file(bytes, 'fstrm'));
    const first = (code: string): number[] => anomalies.samples.filter((s) => s.code === code).map((s) => s.offset);
    expect(first('dnstap.bad_message')).toEqual([offsets.notProtobuf, offsets.missingType, offsets.noClient, offsets.noWire, offsets.farTime]);
    expect(anomalies.samples.find((s) => s.offset === offsets.farTime)!.message).toMatch(/^CLIENT_RESPONSE timed 10000000000000(\.\d+)? s, outside the dates a report holds; expected within 8640000000000 s of 1970$/);
    expect(first('dns.bad_message')).toEqual([offsets.badDns, offsets.queryAsResponse]);
    expect(first('dnstap.bad_frame')).toEqual([offsets.oversized, offsets.badControl]);
    expect(first('capture.resync_skipped')).toEqual([offsets.oversized, offsets.badControl]);
    expect(first('dnstap.truncated')).toEqual([offsets.truncated]);
    expect(anomalies.samples.find((s) => s.code === 'dnstap.bad_frame')!.message).toMatch(/data frame length 5242880; expected at most 1048576 bytes/);
    expect(anomalies.samples.find((s) => s.code === 'dns.bad_message')!.message).toMatch(/dns\.truncated/);
    // The good frame before the damage, after the bad messages, after the oversized frame, after the bad control frame.
    expect(lookups.map((l) => l.query)).toEqual(['a.example', 'a.example', 'a.example', 'a.example']);
  });

  it('garbage after a frame: skipped to the end with an anomaly, never a throw', async () => {
    const good = frame(clientResponse(dnsAResponse(1, 'a.example', ['192.0.2.1']), parseIpv4('100.64.0.1')));
    let seed = 12345;
    const garbage = new Uint8Array(100_000).map(() => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed >> 16;
    });
    garbage.set(be32(0xfffffff0), 0);
    const { lookups, anomalies } = await read(file(concatBytes(control(2), good, garbage), 'fstrm'));
    expect(lookups.length).toBeGreaterThanOrEqual(1);
    expect(lookups[0]!.query).toBe('a.example');
    expect(anomalies.counts.get('dnstap.bad_frame')).toBeGreaterThanOrEqual(1);
  });

  it('a Frame Streams file of another content type is not a resolver log', async () => {
    await expect(readDnsLog(file(concatBytes(control(2, 'protobuf:other.Thing'), control(3, null)), 'fstrm'), () => undefined, new Anomalies())).rejects.toThrow(
      /content type "protobuf:other.Thing"; expected "protobuf:dnstap.Dnstap"/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Captures

describe('captures', () => {
  it('DNS responses on UDP port 53 (IPv4 and IPv6, pcap and pcapng): client is the destination, resolver the source', async () => {
    const t = 1700000000000;
    const v4 = ipv4('10.0.0.53', '100.64.0.11', 17, udp(53, 40000, dnsAResponse(9, 'Pool.Example', ['198.51.100.20']), { pseudo: { src: '10.0.0.53', dst: '100.64.0.11' } }));
    const query = ipv4('100.64.0.11', '10.0.0.53', 17, udp(40000, 53, dnsQuery(9, 'pool.example'), { pseudo: { src: '100.64.0.11', dst: '10.0.0.53' } }));
    const v6 = ipv6('fd00::53', 'fd00::1:10', 17, udp(53, 40001, cnameAaaaResponse(), { pseudo: { src: 'fd00::53', dst: 'fd00::1:10' } }));
    // A resolver's own query from port 53 to another server: well-formed, not a lookup answered to a client.
    const upstream = ipv4('10.0.0.53', '192.0.2.1', 17, udp(53, 53, dnsQuery(10, 'pool.example'), { pseudo: { src: '10.0.0.53', dst: '192.0.2.1' } }));
    const junk = ipv4('10.0.0.53', '100.64.0.11', 17, udp(53, 40002, new Uint8Array([0, 1, 0x80, 0, 0, 1]), { pseudo: { src: '10.0.0.53', dst: '100.64.0.11' } }));
    const packets = [
      { ts: t, data: ethernet(query) },
      { ts: t + 5.5, data: ethernet(v4) },
      { ts: t + 7, data: ethernet(v6) },
      { ts: t + 8, data: ethernet(junk) },
      { ts: t + 9, data: ethernet(upstream) },
    ];
    for (const bytes of [pcapFile(LinkType.ETHERNET, packets), pcapngFile([{ interfaces: [{ linktype: LinkType.ETHERNET, tsresol: 6 }], packets: packets.map((p) => ({ iface: 0, ...p })) }])]) {
      const { info, lookups, anomalies } = await read(file(bytes, 'cap'));
      // The client's query goes to port 53, not from it: only the resolver's upstream query is skipped.
      expect(info).toMatchObject({ format: 'capture', lookups: 2, skipped: 1 });
      expect(lookups).toEqual([
        { time: t + 5.5, client: '100.64.0.11', resolver: '10.0.0.53', query: 'pool.example', qtype: 1, rcode: 0, answers: [{ name: 'pool.example', type: 'A', data: '198.51.100.20', ttl: 300 }] },
        {
          time: t + 7,
          client: 'fd00::1:10',
          resolver: 'fd00::53',
          query: 'pool.example',
          qtype: 28,
          rcode: 0,
          answers: [
            { name: 'pool.example', type: 'CNAME', data: 'edge.example', ttl: 100 },
            { name: 'edge.example', type: 'AAAA', data: '2001:db8::42', ttl: 50 },
          ],
        },
      ]);
      expect(anomalies.counts.get('dns.bad_message')).toBe(1);
      expect(anomalies.samples[0]!.message).toMatch(/packet 4: UDP payload from port 53 is not a DNS response/);
    }
  });

  const haveTshark = spawnSync('tshark', ['--version']).status === 0;
  describe.skipIf(!HAVE_CORPUS || !haveTshark)('corpus captures against tshark', () => {
    for (const name of ['mining/zeekcm__coinhive-stratum.pcap', 'benign/ndpi__starcraft_battle.pcap', 'benign/ndpi__dns.pcap']) {
      it(name, async () => {
        const path = join(CORPUS, 'pcap', name);
        const { lookups, anomalies } = await read(path);
        expect(anomalies.total).toBe(0);
        expect(lookups.map(comparable)).toEqual(tsharkLookups(path).map(comparable));
        expect(lookups.length).toBeGreaterThan(0);
      });
    }
  });
  if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
  if (!haveTshark) console.warn('tshark not installed: corpus DNS checks skipped (Debian package: tshark)');
});

function comparable(l: DnsLookup): unknown {
  return { ...l, time: Math.round(l.time * 1000) };
}

/** DNS responses from UDP port 53 as tshark decodes them: the first ANCOUNT records are the answer section. */
function tsharkLookups(path: string): DnsLookup[] {
  const fields = ['frame.time_epoch', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.count.answers', 'dns.resp.name', 'dns.resp.type', 'dns.resp.ttl', 'dns.a', 'dns.aaaa', 'dns.cname'];
  const out = execFileSync('tshark', ['-r', path, '-Y', 'dns.flags.response == 1 && udp.srcport == 53', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=;', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [time, s4, d4, s6, d6, qname, qtype, rcode, ancount, rname, rtype, rttl, a, aaaa, cname] = line.split('|').map((v) => (v === '' ? [] : v.split(';')));
      const answers: DnsLookup['answers'] = [];
      const next = { A: 0, AAAA: 0, CNAME: 0 };
      const data = { A: a!, AAAA: aaaa!, CNAME: cname! };
      for (let i = 0; i < Number(ancount![0]); i++) {
        const type = ({ '1': 'A', '28': 'AAAA', '5': 'CNAME' } as const)[rtype![i] as '1' | '28' | '5'];
        if (!type) continue;
        answers.push({ name: rname![i]!.toLowerCase(), type, data: data[type][next[type]++]!.toLowerCase(), ttl: Number(rttl![i]) });
      }
      const [sec, frac] = time![0]!.split('.');
      return {
        time: Number(sec) * 1000 + Number(frac!.slice(0, 6)) / 1000,
        client: (d4![0] ?? d6![0])!,
        resolver: (s4![0] ?? s6![0])!,
        query: qname![0]!.toLowerCase(),
        qtype: Number(qtype![0]),
        rcode: Number(rcode![0]),
        answers,
      };
    });
}

// ---------------------------------------------------------------------------------------------
// Not a resolver log

describe('inputs that are not resolver logs', () => {
  it('unknown bytes, an empty file, a directory, a missing file: InputError naming the file and listing the formats', async () => {
    const unknown = file('hello, world\n'.repeat(100));
    await expect(readDnsLog(unknown, () => undefined, new Anomalies())).rejects.toThrow(InputError);
    await expect(readDnsLog(unknown, () => undefined, new Anomalies())).rejects.toThrow(/not a known resolver log \(first bytes 68 65 6c 6c 6f 2c 20 77\); expected a dnstap Frame Streams file .* a Zeek dns\.log .* pcap\/pcapng capture/);
    await expect(readDnsLog(file(''), () => undefined, new Anomalies())).rejects.toThrow(/empty file; expected a dnstap/);
    const dir = join(DIR, 'adir');
    mkdirSync(dir);
    await expect(readDnsLog(dir, () => undefined, new Anomalies())).rejects.toThrow(/is a directory/);
    await expect(readDnsLog(join(DIR, 'missing'), () => undefined, new Anomalies())).rejects.toThrow(/cannot open: ENOENT/);
  });

  it('a pipe (mkfifo, <(…)) is refused before it is opened: nothing writes to this one, and opening it would wait forever', async () => {
    const fifo = join(DIR, 'dnstap.fifo');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo: nothing to test
    await expect(readDnsLog(fifo, () => undefined, new Anomalies())).rejects.toThrow(/at byte 0: not a regular file \(a pipe, socket or device, as <\(…\) gives\).*write it to a file first/);
  });
});

// ---------------------------------------------------------------------------------------------
// IPv6 text in Zeek logs, against ipaddr.js

describe('IPv6 text parser', () => {
  it('agrees with ipaddr.js on edge cases and on seeded random addresses in compressed, full and mixed forms', () => {
    const cases = ['::', '::1', '1::', '2001:db8::1', '2001:DB8:0:0:0:0:0:1', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', 'fe80::1:2', '1::2:3', ':1', '1:', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', 'g::1', '::1.2.3', '::1.2.3.256', '1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::0:0:1', ''];
    let seed = 99;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    for (let i = 0; i < 2000; i++) {
      const bytes = Array.from({ length: 16 }, (_, k) => (rnd() % 3 === 0 && k > 3 ? 0 : rnd() & 255));
      const addr = new ipaddr.IPv6(Array.from({ length: 8 }, (_, k) => (bytes[2 * k]! << 8) | bytes[2 * k + 1]!));
      cases.push(addr.toString(), addr.toNormalizedString(), (addr as unknown as { toFixedLengthString(): string }).toFixedLengthString(), addr.toString().toUpperCase());
    }
    for (const c of cases) {
      const out = new Uint8Array(16);
      const ok = parseIpv6Text(c, out);
      expect(ok, c).toBe(ipaddr.IPv6.isValid(c));
      if (ok) expect([...out], c).toEqual(ipaddr.IPv6.parse(c).toByteArray());
    }
  });
});
