/**
 * RADIUS accounting attribution: FreeRADIUS detail files and the RADIUS CSV read, sessions from
 * Start/Interim-Update/Stop (open sessions, interim alone, next Start for the address,
 * Accounting-On), IPv6 prefixes by containment, and the chain CGNAT → private address → account →
 * directory subscriber, with the session as evidence.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SubscriberDirectory } from '../../src/aggregate/directory.js';
import { loadRadius } from '../../src/aggregate/load.js';
import { NatMapper, parseNatLog } from '../../src/aggregate/nat.js';
import { parseRadiusCsv, parseRadiusDetail, parseRadiusLog, RadiusIndex, radiusSessionsFromEvents } from '../../src/aggregate/radius.js';
import { SubscriberMap } from '../../src/aggregate/subscriber.js';
import { main } from '../../src/cli/main.js';
import { UsageError } from '../../src/errors.js';
import { FIXTURES } from '../helpers.js';
import { mulberry32 } from '../support/random.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-radius-'));
const T = (s: string): number => Date.parse(`${s}Z`);

/** As FreeRADIUS 3.2 writes it (header `%t`, tab-indented attributes, `Timestamp` last), with vendor and unknown attributes. */
const DETAIL = [
  'Sat Dec  5 08:00:03 2026',
  '\tAcct-Status-Type = Start',
  '\tUser-Name = "alice@isp"',
  '\tAcct-Session-Id = "4F2A0001"',
  '\tNAS-IP-Address = 192.0.2.1',
  '\tNAS-Port-Type = Virtual',
  '\tFramed-IP-Address = 100.64.7.9',
  '\tDelegated-IPv6-Prefix = 2001:db8:7:100::/56',
  '\tCisco-AVPair = "client-mac-address=0011.2233.4455"',
  '\tAttr-26.2011.99 = 0x0102',
  '\tEvent-Timestamp = "Dec  5 2026 08:00:00 UTC"',
  '\tTimestamp = 1796457603',
  '',
  'Sat Dec  5 08:00:05 2026',
  '\tPacket-Type = Access-Request',
  '\tUser-Name = "bob"',
  '\tTimestamp = 1796457605',
  '',
  'Sat Dec  5 09:00:02 2026',
  '\tAcct-Status-Type = Stop',
  '\tUser-Name = "alice@isp"',
  '\tAcct-Session-Id = "4F2A0001"',
  '\tNAS-IP-Address = 192.0.2.1',
  '\tFramed-IP-Address = 100.64.7.9',
  '\tAcct-Session-Time = 3600',
  '\tEvent-Timestamp = "Dec  5 2026 09:00:00 UTC"',
  '\tTimestamp = 1796461202',
  '',
  'Sat Dec  5 09:30:10 2026',
  '\tAcct-Status-Type = Start',
  '\tUser-Name = "carol \\"the miner\\""',
  '\tAcct-Session-Id = "4F2A0002"',
  '\tNAS-IP-Address = 192.0.2.1',
  '\tFramed-IP-Address = 100.64.7.9',
  '\tEvent-Timestamp = "Dec  5 2026 17:30:00 CST"',
  '\tAcct-Delay-Time = 10',
  '\tTimestamp = 1796463010',
  '',
].join('\n');

describe('FreeRADIUS detail files', () => {
  const r = parseRadiusDetail(DETAIL, 'detail-20261205');

  it('reads Start and Stop records, skipping unknown attributes and records that are not accounting', () => {
    expect(r.errors).toEqual([]);
    expect(r.skipped).toBe(1); // the Access-Request record
    expect(r.events.map((e) => [e.kind, e.account, e.session, e.line])).toEqual([
      ['start', 'alice@isp', '4F2A0001', 1],
      ['stop', 'alice@isp', '4F2A0001', 19],
      ['start', 'carol "the miner"', '4F2A0002', 29],
    ]);
    expect(r.events[0]!.addresses.map((a) => a.text)).toEqual(['100.64.7.9', '2001:db8:7:100::/56']);
    expect(r.events[0]!.nas).toBe('192.0.2.1');
  });

  it('times a record by Event-Timestamp; one in a zone abbreviation by Timestamp less Acct-Delay-Time', () => {
    expect(r.events[0]!.time).toBe(T('2026-12-05T08:00:00'));
    expect(r.events[1]!.time).toBe(T('2026-12-05T09:00:00'));
    // CST is China, Cuba or US Central: not read. Timestamp 1796463010 is 09:30:10 UTC, less 10 s of delay.
    expect(r.events[2]!.time).toBe(T('2026-12-05T09:30:00'));
    expect(r.events[2]!.timeFrom).toBe('Timestamp - Acct-Delay-Time');
    expect(r.timeFallbacks).toBe(1);
  });

  it('falls back to the date line (as UTC) when a record has no other time', () => {
    const d = parseRadiusDetail('Sat Dec  5 10:11:12 2026\n\tAcct-Status-Type = Interim-Update\n\tUser-Name = "dave"\n\tFramed-IP-Address = 100.64.8.1\n', 'd');
    expect(d.errors).toEqual([]);
    expect(d.events[0]).toMatchObject({ kind: 'interim', time: T('2026-12-05T10:11:12'), account: 'dave' });
  });

  it('names every bad line with what was expected, and is told from a CSV by its first line', () => {
    const bad = parseRadiusLog(
      ['Sat Dec  5 08:00:03 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "eve"', '\tFramed-IP-Address = 100.64.7.300', '', 'garbage here', 'Sat Dec  5 08:00:04 2026', '\tno equals sign', ''].join('\n'),
      'detail',
    );
    expect(bad.format).toBe('detail');
    expect(bad.errors.map((e) => e.line)).toEqual([4, 6, 8]);
    expect(bad.errors[0]!.message).toContain('Framed-IP-Address: expected an IPv4 address like 100.64.7.9; got "100.64.7.300"');
    expect(bad.errors[1]!.message).toContain('expected a date line opening a record');
    expect(bad.errors[2]!.message).toContain('expected an attribute line');
    const neither = parseRadiusLog('hello world\n', 'x');
    expect(neither.errors[0]!.message).toContain('expected a FreeRADIUS detail file');
    // A long bad value is quoted by its start and its length, as every reader quotes one.
    const long = parseRadiusLog(['Sat Dec  5 08:00:03 2026', '\tAcct-Status-Type = Start', `\tFramed-IP-Address = ${'9'.repeat(200)}`, ''].join('\n'), 'detail');
    expect(long.errors[0]!.message).toBe(`Framed-IP-Address: expected an IPv4 address like 100.64.7.9; got "${'9'.repeat(80)}"… (200 characters)`);
  });

  it('a bad date line is one error, its attribute lines skipped with it, never joined to the record before', () => {
    const text = [
      'Sat Dec  5 08:00:03 2026',
      '\tAcct-Status-Type = Start',
      '\tUser-Name = "alice"',
      '\tFramed-IP-Address = 100.64.7.9',
      '\tTimestamp = 1796457603',
      'Sat Dex  5 08:00:04 2026',
      '\tAcct-Status-Type = Start',
      '\tUser-Name = "mallory"',
      '\tFramed-IP-Address = 100.64.7.10',
      '\tTimestamp = 1796457604',
      '',
      '\tUser-Name = "orphan"',
      '\tFramed-IP-Address = 100.64.7.11',
      '',
      'Sat Dec  5 08:00:05 2026',
      '\tAcct-Status-Type = Start',
      '\tUser-Name = "bob"',
      '\tFramed-IP-Address = 100.64.7.12',
      '\tTimestamp = 1796457605',
      '',
    ].join('\n');
    const d = parseRadiusDetail(text, 'detail');
    expect(d.errors.map((e) => e.line)).toEqual([6, 12]);
    expect(d.errors[0]!.message).toMatch(/^expected a date line opening a record .* got "Sat Dex {2}5 08:00:04 2026"; the 4 attribute line\(s\) after it, to the next blank or date line, were skipped with it$/);
    expect(d.errors[1]!.message).toMatch(/before attribute lines; got "User-Name = \\"orphan\\""; the 1 attribute line\(s\) after it/);
    // alice's record ends at the bad line: mallory's address is no one's, and bob's record is read.
    expect(d.events.map((e) => [e.account, e.addresses.map((a) => a.text).join(',')])).toEqual([
      ['alice', '100.64.7.9'],
      ['bob', '100.64.7.12'],
    ]);
  });

  it('a date line naming no such date or time is a bad date line, never rolled over into the days after', () => {
    const record = (date: string, account: string, ip: string): string[] => [date, '\tAcct-Status-Type = Start', `\tUser-Name = "${account}"`, `\tFramed-IP-Address = ${ip}`, ''];
    // Feb 31, Feb 29 of years that are not leap years (2100 among them), Apr 31, day 0, hour 24 and more, minute and second 60.
    const bad = ['Sat Feb 31 08:00:00 2026', 'Sat Feb 31 99:99:99 2026', 'Sun Feb 29 08:00:00 2026', 'Mon Feb 29 08:00:00 2100', 'Thu Apr 31 08:00:00 2026', 'Sat Dec  0 08:00:00 2026', 'Sat Dec  5 24:00:00 2026', 'Sat Dec  5 08:60:00 2026', 'Sat Dec  5 08:00:60 2026'];
    for (const date of bad) {
      const d = parseRadiusLog([...record(date, 'mallory', '100.64.7.10'), ...record('Sat Dec  5 08:00:05 2026', 'bob', '100.64.7.12')].join('\n'), 'detail');
      // Still told for a detail file by its first line's shape, and that line named as the bad one.
      expect(d.format, date).toBe('detail');
      expect(d.errors, date).toEqual([
        { line: 1, message: `expected a date line opening a record (e.g. "Sat Dec  5 19:08:49 2026") or a tab-indented attribute line; got "${date}"; the 3 attribute line(s) after it, to the next blank or date line, were skipped with it` },
      ]);
      // mallory's record is skipped whole; bob's, after it, is read.
      expect(d.events.map((e) => e.account), date).toEqual(['bob']);
    }
    // A leap day, the last day of a 30-day month and the last second of a day are dates (read as UTC).
    const good: Array<[string, string]> = [
      ['Tue Feb 29 08:00:00 2028', '2028-02-29T08:00:00'],
      ['Thu Apr 30 23:59:59 2026', '2026-04-30T23:59:59'],
      ['Thu Dec 31 00:00:00 2026', '2026-12-31T00:00:00'],
    ];
    for (const [date, iso] of good) {
      const d = parseRadiusDetail(record(date, 'dave', '100.64.8.1').join('\n'), 'detail');
      expect(d.errors, date).toEqual([]);
      expect(d.events.map((e) => e.time), date).toEqual([T(iso)]);
    }
  });

  it('an Event-Timestamp naming no such date or time is a bad line, not rolled over nor taken for a zone it cannot read', () => {
    const record = (ts: string): string => ['Sat Dec  5 08:00:03 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "alice"', '\tFramed-IP-Address = 100.64.7.9', `\tEvent-Timestamp = "${ts}"`, '\tTimestamp = 1796457603', ''].join('\n');
    // Feb 30 and hour 25, Feb 29 of 2026, Apr 31, day 0, hour 24, minute and second 60, an offset of 60 minutes.
    const bad = ['Feb 30 2026 25:61:61 UTC', 'Feb 29 2026 08:00:00 UTC', 'Apr 31 2026 08:00:00 GMT', 'Dec  0 2026 08:00:00 UTC', 'Dec  5 2026 24:00:00 UTC', 'Dec  5 2026 08:60:00 +0800', 'Dec  5 2026 08:00:60 -0500', 'Dec  5 2026 08:00:00 +0860'];
    for (const ts of bad) {
      const d = parseRadiusDetail(record(ts), 'detail');
      expect(d.errors, ts).toEqual([{ line: 5, message: `Event-Timestamp: expected a date and time that exist, as FreeRADIUS prints them (e.g. "Dec  5 2026 08:00:00 UTC"); got "${ts}"` }]);
      expect(d.events, ts).toEqual([]);
      // Not a zone abbreviation: the record is not timed by its Timestamp instead.
      expect(d.timeFallbacks, ts).toBe(0);
    }
    const at = (ts: string): number | undefined => parseRadiusDetail(record(ts), 'detail').events[0]?.time;
    expect(at('Feb 29 2028 08:00:00 UTC')).toBe(T('2028-02-29T08:00:00'));
    // 23:59:59 at UTC+8 is 15:59:59 UTC; midnight at UTC-1:30 is 01:30 UTC.
    expect(at('Dec 31 2026 23:59:59 +0800')).toBe(T('2026-12-31T15:59:59'));
    expect(at('Apr 30 2026 00:00:00 -0130')).toBe(T('2026-04-30T01:30:00'));
  });
});

describe('the RADIUS CSV', () => {
  it('reads ISO and epoch times, several addresses per row, columns in any order', () => {
    const r = parseRadiusCsv(
      '# exported from the BRAS\naddress,time,event,account,session\n"100.64.1.2 2001:db8:1::/56",2026-12-05T08:00:00+08:00,start,u1,S1\n,1796428800,stop,,S1\n',
      'sessions.csv',
    );
    expect(r.errors).toEqual([]);
    expect(r.events.map((e) => [e.kind, e.time, e.account, e.session, e.addresses.length, e.line])).toEqual([
      ['start', T('2026-12-05T00:00:00'), 'u1', 'S1', 2, 3],
      ['stop', 1796428800_000, null, 'S1', 0, 4],
    ]);
  });

  it('refuses bad rows with their line and what was expected', () => {
    const r = parseRadiusCsv('time,event,account,session,address\nyesterday,start,u1,S1,100.64.1.2\n2026-12-05,begin,u1,S1,100.64.1.2\n2026-12-05,start,u1,S1,\n2026-12-05,start,u1,S1,100.64.1\n', 'c.csv');
    expect(r.errors.map((e) => e.line)).toEqual([2, 3, 4, 5]);
    expect(r.errors[0]!.message).toMatch(/^time: expected a date/);
    expect(r.errors[1]!.message).toContain('event: expected start, interim, stop, accounting-on or accounting-off; got "begin"');
    expect(r.errors[2]!.message).toBe('a start row needs an address');
    expect(r.errors[3]!.message).toContain('address: expected an IP address or CIDR');
    expect(parseRadiusCsv('time,account\n', 'c').errors[0]!.message).toContain('header lacks event, address');
  });

  it('refuses a prefix shorter than /8 (IPv4) or /16 (IPv6): it would take every address around it', () => {
    const rows = ['0.0.0.0/0', '10.0.0.0/7', '10.0.0.0/8', '::/0', '2001:db8::/15', '2001:db8::/16', '100.64.1.2 0.0.0.0/0'];
    const r = parseRadiusCsv(`time,event,account,session,address\n${rows.map((a, i) => `2026-12-05,start,u${i},S${i},${a}`).join('\n')}\n`, 'c.csv');
    expect(r.errors.map((e) => e.line)).toEqual([2, 3, 5, 6, 8]);
    expect(r.errors[0]!.message).toBe('address: "0.0.0.0/0" is shorter than /8, no subscriber\'s network; expected an address or a prefix of /8 or longer');
    expect(r.errors[2]!.message).toContain('"::/0" is shorter than /16');
    expect(r.events.map((e) => e.addresses.map((a) => a.text))).toEqual([['10.0.0.0/8'], ['2001:db8::/16']]);
  });

  it('refuses a row with fewer or more fields than the header, rather than reading its columns shifted', () => {
    const r = parseRadiusCsv(
      [
        'time,event,account,session,address',
        '1700000000,start,alice,S9,100.64.0.11',
        // The account left out: read by position, S9 would be the account and the address the session, and S9 would never close.
        '1700000064,stop,S9,100.64.0.11',
        '1700000100,start,bob,S10,100.64.0.12,bras-1',
        // A comma inside quotes separates nothing, and an empty last field is a field.
        '1700000200,start,"carol, the miner",S11,100.64.0.13',
        '1700000300,stop,"carol, the miner",S11,',
        '',
      ].join('\n'),
      'c.csv',
    );
    expect(r.errors).toEqual([
      { line: 3, message: 'expected 5 fields like the header, got 4' },
      { line: 4, message: 'expected 5 fields like the header, got 6' },
    ]);
    expect(r.events.map((e) => [e.line, e.kind, e.account, e.session])).toEqual([
      [2, 'start', 'alice', 'S9'],
      [5, 'start', 'carol, the miner', 'S11'],
      [6, 'stop', 'carol, the miner', 'S11'],
    ]);
    // With the optional nas column the header has 6 fields: a row that leaves the nas out is short too.
    const nas = parseRadiusCsv('time,event,account,session,address,nas\n1700000000,start,alice,S9,100.64.0.11\n1700000000,start,bob,S10,100.64.0.12,\n', 'n.csv');
    expect(nas.errors).toEqual([{ line: 2, message: 'expected 6 fields like the header, got 5' }]);
    expect(nas.events.map((e) => e.account)).toEqual(['bob']);
  });
});

/** Sessions over a day, written as an operator's CSV. */
const DAY = `time,event,account,session,address,nas
2026-12-05T08:00:00Z,start,alice,A1,100.64.7.9,bras1
2026-12-05T09:00:00Z,stop,alice,A1,100.64.7.9,bras1
2026-12-05T10:00:00Z,start,bob,B1,100.64.7.9,bras1
2026-12-05T12:00:00Z,start,carol,C1,100.64.7.9,bras1
2026-12-05T11:00:00Z,interim,dave,D1,100.64.9.9,bras2
2026-12-05T11:30:00Z,interim,dave,D1,2001:db8:9:100::/56,bras2
2026-12-05T08:00:00Z,start,erin,E1,100.64.5.5,bras1
2026-12-05T13:00:00Z,accounting-on,,,,bras1
2026-12-05T14:00:00Z,stop,frank,F1,100.64.6.6,bras2
2026-12-05T10:00:00Z,start,gina,G1,2001:db8:9:1ff::1,bras3
`;

describe('sessions', () => {
  const parsed = parseRadiusCsv(DAY, 'day.csv');
  const { sessions, unpaired } = radiusSessionsFromEvents(parsed.events);
  const index = new RadiusIndex(sessions);
  const who = (ip: string, t: string): string | null => {
    const r = index.lookup(ip, T(t));
    return r && r.status === 'mapped' ? r.session.account : r ? r.status : null;
  };

  it('maps an address to the account holding it between Start and Stop, and to no one after', () => {
    expect(parsed.errors).toEqual([]);
    expect(who('100.64.7.9', '2026-12-05T08:30:00')).toBe('alice');
    expect(who('100.64.7.9', '2026-12-05T09:30:00')).toBe('missing');
    // Beyond the clock allowance (5 s) before the Start.
    expect(who('100.64.7.9', '2026-12-05T07:59:54')).toBe('missing');
    expect(who('100.64.200.1', '2026-12-05T08:30:00')).toBeNull();
  });

  it('keeps a session without a Stop open until the next Start for the address', () => {
    expect(who('100.64.7.9', '2026-12-05T11:59:59')).toBe('bob');
    expect(who('100.64.7.9', '2026-12-05T12:00:00')).toBe('carol');
    const bob = sessions.find((s) => s.account === 'bob')!;
    expect(bob.end).toBe(T('2026-12-05T12:00:00'));
    expect(bob.closed).toMatchObject({ file: 'day.csv', line: 5 });
  });

  it('ends every open session of a NAS at its Accounting-On; others stay open', () => {
    expect(who('100.64.5.5', '2026-12-05T12:59:00')).toBe('erin');
    expect(who('100.64.5.5', '2026-12-05T13:00:06')).toBe('missing');
    expect(who('100.64.7.9', '2026-12-05T13:00:06')).toBe('missing');
    expect(who('100.64.9.9', '2026-12-06T00:00:00')).toBe('dave');
  });

  it('opens a session at an Interim-Update alone and adds the prefix a later one names', () => {
    expect(who('100.64.9.9', '2026-12-05T10:59:54')).toBe('missing');
    expect(who('100.64.9.9', '2026-12-05T11:00:00')).toBe('dave');
    expect(sessions.filter((s) => s.account === 'dave')).toHaveLength(1);
    // Any address inside the /56 from the second interim on.
    expect(who('2001:db8:9:1aa:1234::5', '2026-12-05T11:45:00')).toBe('dave');
    expect(who('2001:db8:9:1aa::5', '2026-12-05T11:15:00')).toBe('missing');
    expect(who('2001:db8:9:200::1', '2026-12-05T11:45:00')).toBeNull();
  });

  it('allows 5 s between the clocks: a flow just before a Start or just after a Stop is that session\'s, and says so', () => {
    const near = (ip: string, t: string): string => {
      const r = index.lookup(ip, T(t));
      return r && r.status === 'mapped' ? `${r.session.account}: ${r.how}` : String(r?.status ?? null);
    };
    // alice's Start is at 08:00:00: 1 s before it, and 5 s (the allowance) before it.
    expect(near('100.64.7.9', '2026-12-05T07:59:59')).toMatch(/^alice: .* \(the flow began 1 s before the session began: within the 5 s allowed for the clocks of the accounting server and the exporter\)$/);
    expect(who('100.64.7.9', '2026-12-05T07:59:55')).toBe('alice');
    expect(who('100.64.7.9', '2026-12-05T07:59:54.999')).toBe('missing');
    // Her Stop is at 09:00:00 and nobody holds the address until 09:30: 3 s after is still hers.
    expect(near('100.64.7.9', '2026-12-05T09:00:03')).toMatch(/^alice: .* \(the flow began 3 s after it ended: within the 5 s/);
    expect(who('100.64.7.9', '2026-12-05T09:00:05.001')).toBe('missing');
    // At the Accounting-On (13:00:00) every session of the NAS ended: 1 s after is erin's, not another's.
    expect(who('100.64.5.5', '2026-12-05T13:00:01')).toBe('erin');
    // At a time some session holds the address, the allowance changes nothing: bob until 12:00, carol from then.
    expect(who('100.64.7.9', '2026-12-05T11:59:59')).toBe('bob');
    expect(who('100.64.7.9', '2026-12-05T12:00:00')).toBe('carol');
  });

  it("says ambiguous when one account's session ended and another's began, both within the allowance", () => {
    const events = parseRadiusCsv(
      ['time,event,account,session,address', '2026-12-05T08:00:00Z,start,ann,S1,100.64.1.1', '2026-12-05T09:00:00Z,stop,ann,S1,100.64.1.1', '2026-12-05T09:00:06Z,start,ben,S2,100.64.1.1'].join('\n'),
      'handover.csv',
    ).events;
    const idx = new RadiusIndex(radiusSessionsFromEvents(events).sessions);
    const r = idx.lookup('100.64.1.1', T('2026-12-05T09:00:03'));
    expect(r?.status).toBe('ambiguous');
    expect(r?.how).toMatch(/held by no account; within 5 s of it by 2: "ben" .*; "ann" /);
    expect(idx.lookup('100.64.1.1', T('2026-12-05T09:00:00.5'))).toMatchObject({ status: 'mapped', session: { account: 'ann' } });
    expect(idx.lookup('100.64.1.1', T('2026-12-05T09:00:05.5'))).toMatchObject({ status: 'mapped', session: { account: 'ben' } });
  });

  it('takes the longest prefix: a /128 inside the /56 is its own account', () => {
    expect(who('2001:db8:9:1ff::1', '2026-12-05T11:45:00')).toBe('gina');
    expect(who('2001:db8:9:1ff::2', '2026-12-05T11:45:00')).toBe('dave');
  });

  it('counts a Stop with neither a Start nor Acct-Session-Time, and maps nothing from it', () => {
    expect(unpaired).toBe(1);
    expect(who('100.64.6.6', '2026-12-05T13:59:00')).toBeNull();
  });

  it('dates a Stop alone by its Acct-Session-Time, and says ambiguous when two accounts held an address', () => {
    const d = parseRadiusDetail(
      [
        'Sat Dec  5 10:00:00 2026',
        '\tAcct-Status-Type = Stop',
        '\tUser-Name = "hal"',
        '\tAcct-Session-Id = "H1"',
        '\tFramed-IP-Address = 100.64.3.3',
        '\tAcct-Session-Time = 1800',
        '\tTimestamp = 1796464800',
        '',
        'Sat Dec  5 09:00:00 2026',
        '\tAcct-Status-Type = Stop',
        '\tUser-Name = "ivy"',
        '\tAcct-Session-Id = "I1"',
        '\tFramed-IP-Address = 100.64.3.3',
        '\tAcct-Session-Time = 3600',
        '\tTimestamp = 1796464800',
        '',
      ].join('\n'),
      'd',
    );
    const ix = new RadiusIndex(radiusSessionsFromEvents(d.events).sessions);
    // Timestamp 1796464800 is 10:00 UTC: hal held it 09:30-10:00, ivy 09:00-10:00.
    expect(ix.lookup('100.64.3.3', T('2026-12-05T09:15:00'))).toMatchObject({ status: 'mapped', session: { account: 'ivy' } });
    expect(ix.lookup('100.64.3.3', T('2026-12-05T09:45:00'))).toMatchObject({ status: 'ambiguous' });
  });
});

describe('attribution chain', () => {
  const radius = new RadiusIndex(radiusSessionsFromEvents(parseRadiusDetail(DETAIL, 'detail-20261205').events).sessions);
  const flow = (client: string, clientPort: number, t: string) => ({ client, clientPort, server: '198.51.100.80', firstSeen: T(t) });

  it('names the account, session, address and the Start and Stop records by file:line', () => {
    const map = new SubscriberMap([], null, null, radius);
    const r = map.resolve(flow('100.64.7.9', 40000, '2026-12-05T08:30:00'));
    expect(r.subscriber).toBe('alice@isp');
    expect(r.nat).toBe('radius mapped: "alice@isp" (session "4F2A0001") held 100.64.7.9 from detail-20261205:1 Start 2026-12-05T08:00:00Z to detail-20261205:19 Stop 2026-12-05T09:00:00Z');
    const open = map.resolve(flow('100.64.7.9', 40000, '2026-12-05T10:00:00'));
    expect(open.subscriber).toBe('carol "the miner"');
    expect(open.nat).toContain('from detail-20261205:29 Start 2026-12-05T09:30:00Z still open (no Stop)');
    // Outside every session the flow keeps its address, and says so.
    const before = map.resolve(flow('100.64.7.9', 40000, '2026-12-05T07:00:00'));
    expect(before.subscriber).toBe('100.64.7.9');
    expect(before.nat).toMatch(/^radius missing: no session held 100\.64\.7\.9 at 2026-12-05T07:00:00Z/);
    // An address RADIUS never named: no step.
    expect(map.resolve(flow('100.64.99.1', 1, '2026-12-05T08:30:00'))).toEqual({ subscriber: '100.64.99.1', nat: null });
    // The delegated prefix, by containment.
    expect(map.resolve(flow('2001:db8:7:1ab::42', 1, '2026-12-05T08:30:00')).subscriber).toBe('alice@isp');
  });

  it('composes with CGNAT: public address, port and time → private address → account → directory subscriber', () => {
    const { records, errors } = parseNatLog('start,end,private_ip,public_ip,port_start,port_end\n2026-12-05T00:00:00Z,,100.64.7.9,203.0.113.1,1024,2047\n2026-12-05T00:00:00Z,,100.64.7.10,203.0.113.1,2048,3071\n');
    expect(errors).toEqual([]);
    const nat = new NatMapper();
    nat.addRecords(records);
    const { directory } = SubscriberDirectory.parse('prefix,subscriber,account,type,region\n100.64.0.0/10,BRAS-POOL,,residential,Hangzhou\n198.51.100.0/24,SUB-0042,alice@isp,enterprise,Wenzhou\n');
    const map = new SubscriberMap([], directory, nat, radius);
    const r = map.resolve(flow('203.0.113.1', 1500, '2026-12-05T08:30:00'));
    expect(r.subscriber).toBe('SUB-0042');
    expect(r.nat).toBe(
      'mapped: NAT log line 2: 100.64.7.9 → 203.0.113.1:1024-2047; radius mapped: "alice@isp" (session "4F2A0001") held 100.64.7.9 from detail-20261205:1 Start 2026-12-05T08:00:00Z to detail-20261205:19 Stop 2026-12-05T09:00:00Z; directory line 3: account "alice@isp" is subscriber "SUB-0042"',
    );
    // The other port block is another private address, which no session held: the directory's prefix decides.
    const other = map.resolve(flow('203.0.113.1', 2500, '2026-12-05T08:30:00'));
    expect(other.subscriber).toBe('BRAS-POOL');
    expect(other.nat).toBe('mapped: NAT log line 3: 100.64.7.10 → 203.0.113.1:2048-3071');
    // After the Stop: the NAT step, the RADIUS step says missing, the directory's pool entry decides.
    const after = map.resolve(flow('203.0.113.1', 1500, '2026-12-05T09:10:00'));
    expect(after.subscriber).toBe('BRAS-POOL');
    expect(after.nat).toMatch(/^mapped: NAT log line 2: .*; radius missing: no session held 100\.64\.7\.9/);
  });
});

describe('loadRadius', () => {
  it('pairs records across rotated files and refuses every file with a bad line, naming file and line', () => {
    const a = join(tmp, 'detail-1');
    const b = join(tmp, 'detail-2');
    writeFileSync(a, DETAIL.split('\n\nSat Dec  5 09:00:02 2026')[0] + '\n');
    writeFileSync(b, 'Sat Dec  5 09:00:02 2026' + DETAIL.split('\n\nSat Dec  5 09:00:02 2026')[1]);
    const notes: string[] = [];
    const index = loadRadius([a, b], (l) => notes.push(l))!;
    expect(index.lookup('100.64.7.9', T('2026-12-05T08:30:00'))).toMatchObject({ status: 'mapped', session: { account: 'alice@isp', closed: { file: b, line: 1 } } });
    expect(notes.at(-1)).toBe('RADIUS accounting → 2 session(s)');
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'time,event,account,session,address\n2026-12-05T08:00:00Z,start,u,S,100.64.1.1\n2026-12-05T08:00:00Z,start,u,S,not-an-ip\n');
    expect(() => loadRadius([a, bad])).toThrow(UsageError);
    expect(() => loadRadius([a, bad])).toThrow(`RADIUS accounting not applied (1 problem(s)):\n  ${bad}:3: address: expected`);
    expect(loadRadius([])).toBeNull();
  });

  it('a CSV row of another width than the header, or a detail time that does not exist, stops the run naming file and line', () => {
    const csv = join(tmp, 'short-row.csv');
    writeFileSync(csv, 'time,event,account,session,address\n1700000000,start,alice,S9,100.64.0.11\n1700000064,stop,S9,100.64.0.11\n');
    expect(() => loadRadius([csv])).toThrow(`RADIUS accounting not applied (1 problem(s)):\n  ${csv}:3: expected 5 fields like the header, got 4`);
    const detail = join(tmp, 'feb-30.detail');
    writeFileSync(detail, ['Sat Dec  5 08:00:03 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "alice"', '\tFramed-IP-Address = 100.64.7.9', '\tEvent-Timestamp = "Feb 30 2026 25:61:61 UTC"', '', 'Sat Feb 31 99:99:99 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "bob"', '\tFramed-IP-Address = 100.64.7.10', ''].join('\n'));
    expect(() => loadRadius([detail])).toThrow(
      `RADIUS accounting not applied (2 problem(s)):\n  ${detail}:5: Event-Timestamp: expected a date and time that exist, as FreeRADIUS prints them (e.g. "Dec  5 2026 08:00:00 UTC"); got "Feb 30 2026 25:61:61 UTC"\n  ${detail}:7: expected a date line opening a record`,
    );
  });
});

describe('the commands', () => {
  it('scan and collect refuse a bad RADIUS line before anything is opened (exit 2, file and line named)', async () => {
    const bad = join(tmp, 'bad-detail');
    writeFileSync(bad, 'Sat Dec  5 08:00:03 2026\n\tAcct-Status-Type = Start\n\tUser-Name = "u"\n\tFramed-IPv6-Prefix = 100.64.1.1\n');
    for (const args of [['scan', join(FIXTURES, 'demo/home-miners.pcapng')], ['collect', '--listen', '127.0.0.1:0']]) {
      const db = join(tmp, `never-${args[0]}.sqlite`);
      let err = '';
      const code = await main([...args, '--db', db, '--radius', bad], { out: () => undefined, err: (s) => (err += s) });
      expect(code).toBe(2);
      expect(err).toContain(`RADIUS accounting not applied (1 problem(s)):\n  ${bad}:4: Framed-IPv6-Prefix: expected an IPv6 prefix like 2001:db8:7::/56; got "100.64.1.1"`);
      expect(existsSync(db)).toBe(false);
    }
  });

  it('rescore --radius maps the stored flows of an address to the account of their time', async () => {
    const db = join(tmp, 'rescore.sqlite');
    expect(await main(['scan', join(FIXTURES, 'demo/home-miners.pcapng'), '--db', db], { out: () => undefined, err: () => undefined })).toBe(0);
    const d = new Database(db, { readonly: true });
    const flows = d.prepare("SELECT client, first_seen FROM flows WHERE label = 'mining' ORDER BY first_seen").all() as Array<{ client: string; first_seen: number }>;
    d.close();
    expect(flows.length).toBeGreaterThan(0);
    const { client, first_seen: t } = flows[0]!;
    const csv = join(tmp, 'sessions.csv');
    // A session of that address from a second before its first mining flow, for a minute.
    writeFileSync(csv, `time,event,account,session,address\n${(t - 1000) / 1000},start,acct-9,S9,${client}\n${(t + 59_000) / 1000},stop,acct-9,S9,${client}\n`);
    let out = '';
    expect(await main(['rescore', '--db', db, '--radius', csv], { out: (s) => (out += s), err: () => undefined })).toBe(0);
    expect(out).toContain('re-decided with --radius');
    const after = new Database(db, { readonly: true });
    const rows = after.prepare('SELECT subscriber, nat, first_seen FROM flows WHERE client = ?').all(client) as Array<{ subscriber: string; nat: string; first_seen: number }>;
    after.close();
    for (const r of rows) {
      const inside = r.first_seen >= t - 1000 && r.first_seen < t + 59_000;
      expect(r.subscriber).toBe(inside ? 'acct-9' : client);
      if (inside) expect(r.nat).toContain(`radius mapped: "acct-9" (session "S9") held ${client} from ${csv}:2 Start`);
    }
    expect(rows.some((r) => r.subscriber === 'acct-9')).toBe(true);
  });
});

describe('hostile accounting files', () => {
  it('routed networks: Framed-IP-Netmask on the Framed-IP-Address, Framed-Route and Framed-IPv6-Route, by containment', () => {
    const text = [
      'Sat Dec  5 08:00:00 2026',
      '\tAcct-Status-Type = Start',
      '\tUser-Name = "cafe"',
      '\tAcct-Session-Id = "R-1"',
      '\tFramed-IP-Address = 198.51.100.9',
      '\tFramed-IP-Netmask = 255.255.255.248',
      '\tFramed-Route = "192.0.2.64/26 198.51.100.9 1"',
      '\tFramed-Route = "203.0.113.77 198.51.100.9 1"',
      '\tFramed-IPv6-Route = "2001:db8:ca:fe00::/56 :: 1"',
      '\tEvent-Timestamp = 1796457600',
      '',
      'Sat Dec  5 08:00:00 2026',
      '\tAcct-Status-Type = Start',
      '\tUser-Name = "host"',
      '\tAcct-Session-Id = "R-2"',
      '\tFramed-IP-Address = 198.51.100.12',
      '\tFramed-IP-Netmask = 255.255.255.255',
      '\tEvent-Timestamp = 1796457600',
      '',
    ].join('\n');
    const p = parseRadiusDetail(text, 'routes.detail');
    expect(p.errors).toEqual([]);
    expect(p.events[0]!.addresses.map((a) => a.text)).toEqual(['198.51.100.9', '192.0.2.64/26', '203.0.113.77', '2001:db8:ca:fe00::/56', '198.51.100.8/29']);
    // A mask of all ones is the address alone.
    expect(p.events[1]!.addresses.map((a) => a.text)).toEqual(['198.51.100.12']);
    const index = new RadiusIndex(radiusSessionsFromEvents(p.events).sessions);
    const at = (ip: string): string | null => {
      const r = index.lookup(ip, T('2026-12-05T09:00:00'));
      return r && r.status === 'mapped' ? `${r.session.account} ${r.prefix.text}` : r ? r.status : null;
    };
    // The netmask's network holds the café's other addresses; the host's own /32 is the longer prefix.
    expect(at('198.51.100.14')).toBe('cafe 198.51.100.8/29');
    expect(at('198.51.100.8')).toBe('cafe 198.51.100.8/29');
    expect(at('198.51.100.12')).toBe('host 198.51.100.12');
    expect(at('198.51.100.16')).toBeNull();
    expect(at('192.0.2.64')).toBe('cafe 192.0.2.64/26');
    expect(at('192.0.2.127')).toBe('cafe 192.0.2.64/26');
    expect(at('192.0.2.128')).toBeNull();
    expect(at('203.0.113.77')).toBe('cafe 203.0.113.77');
    expect(at('203.0.113.78')).toBeNull();
    expect(at('2001:db8:ca:fe42::1')).toBe('cafe 2001:db8:ca:fe00::/56');
    expect(at('2001:db8:ca:ff00::1')).toBeNull();
  });

  it('a routed network it cannot take is counted with its line and why; the rest of the record still maps', () => {
    const record = (attrs: string[]): string => ['Sat Dec  5 08:00:00 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "x"', '\tFramed-IP-Address = 198.51.100.9', ...attrs.map((a) => `\t${a}`), '\tEvent-Timestamp = 1796457600', ''].join('\n');
    const cases: Array<[string, RegExp]> = [
      ['Framed-IP-Netmask = 255.0.255.0', /^bad\.detail:5: Framed-IP-Netmask "255\.0\.255\.0": not a netmask/],
      ['Framed-IP-Netmask = 0.0.0.0', /^bad\.detail:5: Framed-IP-Netmask "0\.0\.0\.0": not a netmask/],
      ['Framed-IP-Netmask = 254.0.0.0', /^bad\.detail:5: Framed-IP-Netmask of \/7: shorter than \/8/],
      ['Framed-Route = "2001:db8::/48 :: 1"', /^bad\.detail:5: Framed-Route "2001:db8::\/48 :: 1": the prefix is not IPv4/],
      ['Framed-IPv6-Route = "192.0.2.0/24 0.0.0.0 1"', /^bad\.detail:5: Framed-IPv6-Route .*: the prefix is not IPv6/],
      ['Framed-Route = "192.0.2.0/33 0.0.0.0 1"', /^bad\.detail:5: Framed-Route .*: expected "prefix\[\/length\] gateway metrics"/],
      ['Framed-Route = "0.0.0.0/0 192.0.2.1 1"', /^bad\.detail:5: Framed-Route .*: a \/0 route is shorter than \/8/],
      ['Framed-IPv6-Route = "::/0 :: 1"', /^bad\.detail:5: Framed-IPv6-Route .*: a \/0 route is shorter than \/16/],
    ];
    for (const [attr, why] of cases) {
      const p = parseRadiusDetail(record([attr]), 'bad.detail');
      expect(p.errors).toEqual([]);
      expect(p.routesIgnored).toBe(1);
      expect(p.firstIgnoredRoute).toMatch(why);
      // The record's own address is still its session's.
      expect(p.events[0]!.addresses.map((a) => a.text)).toEqual(['198.51.100.9']);
    }
    // A netmask with no address to apply it to.
    const alone = parseRadiusDetail(['Sat Dec  5 08:00:00 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "x"', '\tFramed-IP-Netmask = 255.255.255.0', '\tDelegated-IPv6-Prefix = 2001:db8::/56', ''].join('\n'), 'alone.detail');
    expect(alone.firstIgnoredRoute).toBe('alone.detail:4: Framed-IP-Netmask without a Framed-IP-Address in its record to apply it to');
    expect(alone.events[0]!.addresses.map((a) => a.text)).toEqual(['2001:db8::/56']);
    // "prefix mask gateway metrics", as some NAS write it, is the prefix under that mask.
    const masked = parseRadiusDetail(record(['Framed-Route = "192.0.2.77 255.255.255.192 198.51.100.9 1"']), 'masked.detail');
    expect(masked.routesIgnored).toBe(0);
    expect(masked.events[0]!.addresses.map((a) => a.text)).toEqual(['198.51.100.9', '192.0.2.77/26']);
    const idx = new RadiusIndex(radiusSessionsFromEvents(masked.events).sessions);
    expect(idx.lookup('192.0.2.100', T('2026-12-05T09:00:00'))).toMatchObject({ status: 'mapped', session: { account: 'x' } });
    expect(idx.lookup('192.0.2.128', T('2026-12-05T09:00:00'))).toBeNull();
  });

  it('says on stderr how many routed networks it did not take, and the first', async () => {
    const file = join(tmp, 'routes.detail');
    writeFileSync(file, ['Sat Dec  5 08:00:00 2026', '\tAcct-Status-Type = Start', '\tUser-Name = "x"', '\tFramed-IP-Address = 198.51.100.9', '\tFramed-Route = "0.0.0.0/0 198.51.100.1 1"', '\tEvent-Timestamp = 1796457600', ''].join('\n'));
    const notes: string[] = [];
    expect(loadRadius([file], (l) => notes.push(l))?.sessions).toBe(1);
    expect(notes[0]).toBe(`${file}: FreeRADIUS detail, 1 accounting record(s) (1 start), 1 routed network(s) not taken (the rest of their records read), the first ${file}:5: Framed-Route "0.0.0.0/0 198.51.100.1 1": a /0 route is shorter than /8, no subscriber's network`);
  });

  it('damaged detail and CSV text gives file lines and errors, never an exception', () => {
    const rand = mulberry32(0x7ad1);
    const csv = Buffer.from(DAY, 'utf8');
    const detail = Buffer.from(DETAIL, 'utf8');
    for (let k = 0; k < 2000; k++) {
      const src = k % 2 ? csv : detail;
      const b = Buffer.from(src);
      for (let j = 1 + Math.floor(rand() * 8); j > 0; j--) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const cut = b.subarray(0, Math.floor(rand() * b.length) + 1).toString('utf8');
      const r = parseRadiusLog(cut, 'fuzz');
      for (const e of r.errors) expect(e.line).toBeGreaterThan(0);
      const { sessions } = radiusSessionsFromEvents(r.events);
      const ix = new RadiusIndex(sessions);
      ix.lookup('100.64.7.9', T('2026-12-05T08:30:00'));
      ix.lookup('2001:db8:9:1aa::1', T('2026-12-05T11:45:00'));
    }
  });
});
