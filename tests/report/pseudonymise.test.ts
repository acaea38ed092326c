/**
 * `--pseudonymise KEY` on watchlist, summary and report --html: subscriber ids, accounts and
 * subscriber addresses become `p-` + the first 16 hex digits of HMAC-SHA256(KEY, value), computed
 * here with node:crypto from the report's own rows; lists from two regions join on them.
 */
import { createHmac } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml } from '../../src/report/html.js';
import { FIXTURES, runMain } from '../helpers.js';


const KEY = 'east-and-west-region-shared-key-2026';
const OTHER_KEY = 'a-different-key-for-another-pair';
const pseudonym = (key: string, id: string): string => `p-${createHmac('sha256', key).update(id, 'utf8').digest('hex').slice(0, 16)}`;

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-pseudonym-'));
const east = join(tmp, 'east.sqlite');
const west = join(tmp, 'west.sqlite');
const directory = join(tmp, 'directory.sqlite');
const HOME = join(FIXTURES, 'demo', 'home-miners.pcapng');
const OFFICE = join(FIXTURES, 'demo', 'office.pcap');

function column<T>(db: string, sql: string): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare(sql).raw().all() as unknown[][]).map((r) => r[0] as T);
  } finally {
    d.close();
  }
}

/** Every address a subscriber used, and every subscriber id and account, in a report. */
function personal(db: string): string[] {
  return [
    ...column<string>(db, 'SELECT DISTINCT client FROM flows WHERE subscriber IS NOT NULL'),
    ...column<string>(db, 'SELECT DISTINCT subscriber FROM flows WHERE subscriber IS NOT NULL'),
    ...column<string>(db, 'SELECT DISTINCT account FROM subscriber_info WHERE account IS NOT NULL'),
  ];
}

function leaks(output: string, values: readonly string[]): string[] {
  return values.filter((v) => output.includes(v) || output.includes(escapeHtml(v)));
}

describe('--pseudonymise', () => {
  beforeAll(async () => {
    // Two regions whose captures share subscribers: east saw the home miners, west saw them and the office.
    expect((await runMain(['scan', HOME, '--db', east])).code).toBe(0);
    expect((await runMain(['scan', HOME, OFFICE, '--db', west])).code).toBe(0);
    const dir = join(tmp, 'directory.csv');
    writeFileSync(dir, 'prefix,subscriber,account,type,region\n100.64.0.0/24,HOME-BLOCK,ACC-HB-77,residential,Hangzhou\n100.64.0.12,UNI-LAB-3,ACC-3-4411,university,Hangzhou\nfd00::/8,OFFICE,ACC-9-0042,enterprise,Ningbo\n');
    expect((await runMain(['scan', HOME, OFFICE, '--subscribers', dir, '--db', directory])).code).toBe(0);
  });

  it('lists from two regions pseudonymised with one key join on the pseudonyms', async () => {
    const rows = async (db: string, key: string): Promise<Array<{ subscriber: string; workers: string[] }>> => {
      const r = await runMain(['watchlist', '--db', db, '--format', 'json', '--pseudonymise', key]);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as Array<{ subscriber: string; workers: string[] }>;
    };
    const realEast = column<string>(east, "SELECT subscriber FROM subscribers WHERE confidence IN ('medium', 'high')");
    const realWest = column<string>(west, "SELECT subscriber FROM subscribers WHERE confidence IN ('medium', 'high')");
    const common = realEast.filter((s) => realWest.includes(s));
    expect(common.length).toBeGreaterThan(0);
    expect(realWest.length).toBeGreaterThan(common.length);

    const e = await rows(east, KEY);
    const w = await rows(west, KEY);
    expect(e.map((r) => r.subscriber).sort()).toEqual(realEast.map((s) => pseudonym(KEY, s)).sort());
    expect(w.map((r) => r.subscriber).sort()).toEqual(realWest.map((s) => pseudonym(KEY, s)).sort());
    // The join: the same subscribers, found by pseudonym alone, with the same workers on both sides.
    const joined = e.filter((r) => w.some((x) => x.subscriber === r.subscriber));
    expect(joined.map((r) => r.subscriber).sort()).toEqual(common.map((s) => pseudonym(KEY, s)).sort());
    for (const r of joined) expect(w.find((x) => x.subscriber === r.subscriber)!.workers).toEqual(r.workers);

    // Another key: other pseudonyms, none shared with the first key's.
    const other = await rows(east, OTHER_KEY);
    expect(other.map((r) => r.subscriber).sort()).toEqual(realEast.map((s) => pseudonym(OTHER_KEY, s)).sort());
    expect(other.some((r) => e.some((x) => x.subscriber === r.subscriber))).toBe(false);
  });

  it('no subscriber address, id or account remains in any pseudonymised output; servers stay', async () => {
    for (const db of [west, directory]) {
      const secret = personal(db);
      expect(secret.length).toBeGreaterThan(2);
      const servers = column<string>(db, "SELECT DISTINCT server FROM flows WHERE label = 'mining' AND confidence IN ('medium', 'high') AND subscriber IS NOT NULL");
      for (const format of ['table', 'csv', 'json', 'jsonl']) {
        const r = await runMain(['watchlist', '--db', db, '--format', format, '--pseudonymise', KEY]);
        expect(r.code, r.err).toBe(0);
        expect(leaks(r.out, secret), `${db} watchlist ${format}`).toEqual([]);
        expect(r.out).toContain('p-');
        if (format === 'json') for (const s of servers) expect(r.out).toContain(s);
      }
      for (const format of ['table', 'json']) {
        const r = await runMain(['summary', '--db', db, '--format', format, '--pseudonymise', KEY]);
        expect(r.code, r.err).toBe(0);
        expect(leaks(r.out, secret), `${db} summary ${format}`).toEqual([]);
      }
      const html = join(tmp, 'report.html');
      const r = await runMain(['report', '--html', html, '--db', db, '--pseudonymise', KEY]);
      expect(r.code, r.err).toBe(0);
      const page = readFileSync(html, 'utf8');
      expect(leaks(page, secret), `${db} html`).toEqual([]);
      for (const s of column<string>(db, "SELECT DISTINCT subscriber FROM flows WHERE label = 'mining' AND confidence IN ('medium', 'high') AND subscriber IS NOT NULL"))
        expect(page).toContain(`data-subscriber="${escapeHtml(pseudonym(KEY, s))}"`);
      for (const s of servers) expect(page).toContain(escapeHtml(s));
    }
    // Without the option the same outputs do name them (the check above can see a leak).
    const plain = await runMain(['watchlist', '--db', directory, '--format', 'json']);
    expect(leaks(plain.out, personal(directory)).length).toBeGreaterThan(0);
  });

  it('directory ids and accounts become pseudonyms of their own', async () => {
    const r = await runMain(['watchlist', '--db', directory, '--format', 'json', '--min-confidence', 'low', '--pseudonymise', KEY]);
    const rows = JSON.parse(r.out) as Array<{ subscriber: string; account: string | null }>;
    const real = new Database(directory, { readonly: true }).prepare('SELECT subscriber, account FROM subscribers').all() as Array<{ subscriber: string; account: string | null }>;
    expect(real.some((x) => x.account !== null)).toBe(true);
    expect(rows.map((x) => [x.subscriber, x.account]).sort()).toEqual(real.map((x) => [pseudonym(KEY, x.subscriber), x.account === null ? null : pseudonym(KEY, x.account)]).sort());
  });

  it('an address of the subscriber in the evidence text is replaced, a longer address that merely starts with it is not', async () => {
    const copy = join(tmp, 'evidence.sqlite');
    copyFileSync(east, copy);
    const d = new Database(copy);
    const sub = (d.prepare("SELECT subscriber FROM subscribers WHERE subscriber LIKE '100.64.0.%' ORDER BY subscriber LIMIT 1").get() as { subscriber: string }).subscriber;
    d.prepare('UPDATE subscribers SET evidence = ? WHERE subscriber = ?').run(`seen from ${sub}:51234 and [${sub}]; not ${sub}9 nor 1${sub}`, sub);
    d.close();
    const r = await runMain(['watchlist', '--db', copy, '--format', 'json', '--pseudonymise', KEY]);
    const row = (JSON.parse(r.out) as Array<{ subscriber: string; evidence: string }>).find((x) => x.subscriber === pseudonym(KEY, sub))!;
    const p = pseudonym(KEY, sub);
    expect(row.evidence).toBe(`seen from ${p}:51234 and [${p}]; not ${sub}9 nor 1${sub}`);
  });

  it('refuses a short key, and --help documents the option', async () => {
    const r = await runMain(['watchlist', '--db', east, '--pseudonymise', 'short']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--pseudonymise: the key must be at least 16 bytes/);
    for (const cmd of ['watchlist', 'summary', 'report']) expect((await runMain([cmd, '--help'])).out, cmd).toContain('--pseudonymise <key>');
  });
});
