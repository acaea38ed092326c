/** The subscriber directory: longest prefix, IPv4 and IPv6, whole-file validation, and its use in a scan. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SubscriberDirectory } from '../../src/aggregate/directory.js';
import { FIXTURES, runMain } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-dir-'));


describe('subscriber directory', () => {
  it('longest prefix wins, for IPv4 and IPv6; BOM, quotes and comments are fine', () => {
    const { directory, errors } = SubscriberDirectory.parse(
      '\uFEFF# operator export\nprefix,subscriber,account,type,region\n100.64.0.0/16,POOL-A,,residential,Hangzhou\n100.64.0.11,SUB-11,"ACC, 11",university,Hangzhou\n2001:db8::/32,V6-NET,,enterprise,Ningbo\nfd00::1:10/128,OFFICE-1,ACC-9,enterprise,Ningbo\n',
    );
    expect(errors).toEqual([]);
    expect(directory!.lookup('100.64.0.11')).toMatchObject({ subscriber: 'SUB-11', account: 'ACC, 11', type: 'university' });
    expect(directory!.lookup('100.64.200.1')).toMatchObject({ subscriber: 'POOL-A', type: 'residential' });
    expect(directory!.lookup('100.65.0.1')).toBeNull();
    expect(directory!.lookup('fd00::1:10')).toMatchObject({ subscriber: 'OFFICE-1' });
    expect(directory!.lookup('2001:db8:5::1')).toMatchObject({ subscriber: 'V6-NET' });
  });

  it('every bad line is reported with its line number and nothing is applied', () => {
    const { directory, errors } = SubscriberDirectory.parse('prefix,subscriber,type\n100.64.0.0/33,A,residential\n10.0.0.1,,residential\n10.0.0.2,B,palace\n10.0.0.0/8,C,\n10.0.0.0/8,D,\n');
    expect(directory).toBeNull();
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 6]);
    expect(errors[3]!.message).toMatch(/already mapped on line 5/);
  });

  it('a value off a bad line is quoted by its start and its length: a huge header or field gives one short message', () => {
    const header = SubscriberDirectory.parse(`prefix,${'\u0000'.repeat(60_000)}\n10.0.0.1,A\n`);
    expect(header.directory).toBeNull();
    expect(header.errors).toHaveLength(1);
    expect(header.errors[0]!.message).toBe(`header needs a prefix (or cidr, ip) and a subscriber column, e.g. "prefix,subscriber,account,type,region"; got "prefix,${'\\u0000'.repeat(73)}"… (60007 characters)`);
    const field = SubscriberDirectory.parse(`prefix,subscriber,type\n${'9'.repeat(10_000)},A,residential\n10.0.0.2,B,${'x'.repeat(5000)}\n`);
    expect(field.errors.map((e) => [e.line, e.message.length < 300])).toEqual([
      [2, true],
      [3, true],
    ]);
    expect(field.errors[0]!.message).toContain('… (10000 characters)');
    expect(field.errors[1]!.message).toContain('… (5000 characters)');
  });

  it('a row with more fields than the header (an unquoted comma) is refused; a row that leaves out trailing columns is read', () => {
    const { directory, errors } = SubscriberDirectory.parse('prefix,subscriber,account,type,region\n10.0.0.1,ACME, Inc,acme,enterprise,north\n10.0.0.2,"ACME, Inc",acme,enterprise,north\n10.0.0.3,B\n');
    expect(errors).toEqual([{ line: 2, message: 'expected at most 5 fields like the header, got 6 (a comma inside a field must be quoted)' }]);
    expect(directory).toBeNull();
    const ok = SubscriberDirectory.parse('prefix,subscriber,account,type,region\n10.0.0.2,"ACME, Inc",acme,enterprise,north\n10.0.0.3,B\n');
    expect(ok.errors).toEqual([]);
    expect(ok.directory!.entries.map((e) => [e.subscriber, e.account, e.type, e.region])).toEqual([
      ['ACME, Inc', 'acme', 'enterprise', 'north'],
      ['B', null, null, null],
    ]);
  });

  it('a file whose lines end in CR alone is refused at its header, not read as one header line with no rows', () => {
    const crAlone = 'header: lines end in CR alone (a CR inside the line, as classic Mac OS ended lines); expected LF or CRLF line ends';
    const text = 'prefix,subscriber,account,type,region\n100.64.0.0/24,HOME-BLOCK,,residential,Hangzhou\n100.64.0.12,UNI-LAB-3,ACC-3,university,Hangzhou\n';
    expect(SubscriberDirectory.parse(text.replaceAll('\n', '\r\n')).directory!.entries).toHaveLength(2);
    for (const mac of [text.replaceAll('\n', '\r'), `# exported 2026-11-01\r${text.replaceAll('\n', '\r')}`]) {
      expect(SubscriberDirectory.parse(mac)).toEqual({ directory: null, errors: [{ line: 1, message: crAlone }] });
    }
  });

  it('a scan maps subscribers by id with attributes; the watchlist filters by them; a bad file stops the scan', async () => {
    const file = join(tmp, 'subs.csv');
    writeFileSync(file, 'prefix,subscriber,account,type,region\n100.64.0.0/24,HOME-BLOCK,,residential,Hangzhou\n100.64.0.12,UNI-LAB-3,ACC-3,university,Hangzhou\nfd00::/8,OFFICE,ACC-9,enterprise,Ningbo\n');
    const db = join(tmp, 'dir.sqlite');
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', db, '--subscribers', file])).code).toBe(0);
    const all = JSON.parse((await runMain(['watchlist', '--db', db, '--format', 'json'])).out) as Array<Record<string, unknown>>;
    expect(all.map((r) => [r.subscriber, r.type, r.region]).sort()).toEqual([
      ['HOME-BLOCK', 'residential', 'Hangzhou'],
      ['OFFICE', 'enterprise', 'Ningbo'],
      ['UNI-LAB-3', 'university', 'Hangzhou'],
    ]);
    const uni = JSON.parse((await runMain(['watchlist', '--db', db, '--format', 'json', '--type', 'university'])).out) as Array<Record<string, unknown>>;
    expect(uni.map((r) => r.subscriber)).toEqual(['UNI-LAB-3']);
    const xmr = (await runMain(['watchlist', '--db', db, '--format', 'jsonl', '--coin', 'xmr'])).out.trim().split('\n');
    expect(xmr.map((l) => (JSON.parse(l) as { subscriber: string }).subscriber)).toEqual(['HOME-BLOCK']);
    expect((await runMain(['watchlist', '--db', db, '--format', 'json', '--since', '2030-01-01'])).out.trim()).toBe('[]');
    const csv = (await runMain(['watchlist', '--db', db, '--format', 'csv', '--bom'])).out;
    expect(csv.charCodeAt(0)).toBe(0xfeff);
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'prefix,subscriber\nnot-an-ip,X\n');
    const r = await runMain(['scan', join(FIXTURES, 'demo'), '--db', join(tmp, 'bad.sqlite'), '--subscribers', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/subscribers file not applied \(1 bad line\(s\)\):\n {2}.*bad\.csv:2: prefix "not-an-ip" is not an IP address or CIDR/);
    const mac = join(tmp, 'mac.csv');
    writeFileSync(mac, 'prefix,subscriber,account,type,region\r100.64.0.0/24,HOME-BLOCK,,residential,Hangzhou\r');
    const m = await runMain(['scan', join(FIXTURES, 'demo'), '--db', join(tmp, 'mac.sqlite'), '--subscribers', mac]);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/subscribers file not applied \(1 bad line\(s\)\):\n {2}.*mac\.csv:1: header: lines end in CR alone .*; expected LF or CRLF line ends/);
  });
});
