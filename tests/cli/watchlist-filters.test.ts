/**
 * `watchlist --type/--region/--coin` with a value no subscriber of the report has says so on stderr,
 * with the values the report does hold, so an empty list is not taken for "no miners of that kind";
 * a value some subscriber has (in any case) says nothing. The coins and types held are read from
 * the report with SQL here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, inEachZone, runCli } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-filters-'));
const db = join(tmp, 'report.sqlite');

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(args, 60_000);

describe('watchlist filters that match nothing', () => {
  let coins: string[];

  beforeAll(() => {
    const s = cli(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', db]);
    expect(s.code, s.err).toBe(0);
    const d = new Database(db, { readonly: true });
    coins = (d.prepare('SELECT DISTINCT c.value FROM subscribers s, json_each(s.coins) c ORDER BY 1').pluck().all() as string[]).filter(Boolean);
    d.close();
    expect(coins.length).toBeGreaterThan(0);
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('says which values match no subscriber, and what the report holds', () => {
    const absent = ['DOGE', 'XMR', 'ETH', 'BTC'].find((c) => !coins.includes(c))!;
    const r = cli(['watchlist', '--db', db, '--coin', absent, '--type', 'university', '--region', 'Nowhere', '--format', 'json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual([]);
    expect(r.err).toContain(`--coin "${absent}" matches no subscriber in ${db} (it holds: ${coins.join(', ')})`);
    expect(r.err).toContain(`--type "university" matches no subscriber in ${db} (it holds none)`);
    expect(r.err).toContain(`--region "Nowhere" matches no subscriber`);
  });

  it('says nothing for a value some subscriber has, whatever its case', () => {
    const r = cli(['watchlist', '--db', db, '--coin', coins[0]!.toLowerCase(), '--format', 'json']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toMatch(/matches no subscriber/);
    expect((JSON.parse(r.out) as unknown[]).length).toBeGreaterThan(0);
  });
});

describe('watchlist --since and --until', () => {
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-since-'));
  const db = join(dir, 'report.sqlite');
  beforeAll(() => {
    const s = cli(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', db]);
    expect(s.code, s.err).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Times without an offset are UTC, as the help says and as the files' times are read: not the
  // machine's zone (Date.parse read them so, which moved the window by 8 hours on a server in China).
  it('read a time without an offset as UTC, whatever zone the machine is in', async () => {
    const d = new Database(db, { readonly: true });
    const { first, last } = d.prepare('SELECT min(first_seen) AS first, max(last_seen) AS last FROM subscribers').get() as { first: number; last: number };
    d.close();
    const noOffset = (ms: number): string => new Date(ms).toISOString().slice(0, 19);
    await inEachZone((tz) => {
      const count = (args: string[]): number => {
        const r = cli(['watchlist', '--db', db, '--format', 'json', ...args]);
        expect(r.code, `${tz} ${args.join(' ')}: ${r.err}`).toBe(0);
        return (JSON.parse(r.out) as unknown[]).length;
      };
      expect(count(['--since', noOffset(last - 3_600_000)]), tz).toBeGreaterThan(0);
      expect(count(['--since', noOffset(last + 3_600_000)]), tz).toBe(0);
      expect(count(['--until', noOffset(first + 3_600_000)]), tz).toBeGreaterThan(0);
      expect(count(['--until', noOffset(first - 3_600_000)]), tz).toBe(0);
    });
  });

  it('refuse a day the calendar does not have, and forms ISO 8601 does not write', () => {
    for (const v of ['2026-02-30', 'Nov 1 2026', '2026-11-01T25:00']) {
      const r = cli(['watchlist', '--db', db, '--format', 'json', '--since', v]);
      expect(r.code, v).toBe(2);
      expect(r.err, v).toContain(`--since ${JSON.stringify(v)}: expected a date (2026-11-01) or date-time`);
    }
  });
});

describe('watch-list addresses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-addresses-'));
  const report = join(dir, 'report.sqlite');
  let client = '';

  beforeAll(() => {
    // Find a mining client first, then name its whole /112 in a directory, as an operator's would.
    const probe = join(dir, 'probe.sqlite');
    expect(cli(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', probe]).code).toBe(0);
    const d = new Database(probe, { readonly: true });
    client = d.prepare("SELECT client FROM flows WHERE label = 'mining' AND client LIKE '%:%' ORDER BY first_seen LIMIT 1").pluck().get() as string;
    d.close();
    expect(client).toMatch(/:/);
    const directory = join(dir, 'directory.csv');
    writeFileSync(directory, `prefix,subscriber,account,type,region\n${client}/112,home-42,acct-42,residential,Kashgar\n`);
    const s = cli(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', report, '--subscribers', directory]);
    expect(s.code, s.err).toBe(0);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every row names the addresses its subscriber was seen with, and when', () => {
    const d = new Database(report, { readonly: true });
    const expected = (d.prepare("SELECT client, min(first_seen) AS f, max(last_seen) AS l FROM flows WHERE subscriber = 'home-42' GROUP BY client ORDER BY f, client").all() as Array<{ client: string; f: number; l: number }>).map(
      (x) => `${x.client} ${new Date(x.f).toISOString()} – ${new Date(x.l).toISOString()}`,
    );
    d.close();
    const r = cli(['watchlist', '--db', report, '--format', 'json']);
    expect(r.code, r.err).toBe(0);
    const row = (JSON.parse(r.out) as Array<{ subscriber: string; addresses: string[] }>).find((x) => x.subscriber === 'home-42');
    expect(row?.addresses).toEqual(expected);
    expect(expected.some((a) => a.startsWith(`${client} `))).toBe(true);
  });

  it('--prefix matches the addresses whatever the directory calls the subscriber', () => {
    for (const prefix of [`${client}/128`, `${client}/112`]) {
      const r = cli(['watchlist', '--db', report, '--format', 'json', '--prefix', prefix]);
      expect(r.code, r.err).toBe(0);
      expect((JSON.parse(r.out) as Array<{ subscriber: string }>).map((x) => x.subscriber)).toContain('home-42');
    }
    const none = cli(['watchlist', '--db', report, '--format', 'json', '--prefix', '192.0.2.0/24']);
    expect(JSON.parse(none.out)).toEqual([]);
    // A zero-padded part is refused, not read as octal (ipaddr.js took 010.0.0.0/8 as 8.0.0.0/8).
    const padded = cli(['watchlist', '--db', report, '--format', 'json', '--prefix', '010.0.0.0/8']);
    expect(padded.code).toBe(2);
    expect(padded.err).toMatch(/--prefix "010\.0\.0\.0\/8" is not a CIDR; .*four decimal parts without leading zeros/);
  });
});
