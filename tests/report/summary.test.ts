/** `minerwatch summary`: every figure equals SQL over the same report; both languages; --tz; estimates only when present. */
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkZone, formatTime, messages, resolveLang, watchlistHeaders, WATCHLIST_KEYS } from '../../src/i18n.js';
import { UsageError } from '../../src/errors.js';
import { FIXTURES, runMain } from '../helpers.js';


const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-summary-'));
const db = join(tmp, 'report.sqlite');
const directory = join(tmp, 'subscribers.csv');

interface Row {
  key: string | null;
  subscribers: number;
  flows: number;
  kwhPerDay?: { low: number; high: number; subscribers: number } | null;
  hashrate?: { hs: number; unit: string; subscribers: number } | null;
}
interface SummaryJson {
  minConfidence: string;
  miningSubscribers: number;
  miningFlows: number;
  period: { first: string; last: string; firstLocal: string; lastLocal: string };
  byCoin: Row[];
  byType: Row[];
  byRegion: Row[];
  hashrate: null | { groups: Array<{ coins: string | null; unit: string; hs: number; errHs: number | null; subscribers: number }>; measuredSubscribers: number };
  energy: null | { kwhPerDayLow: number; kwhPerDayHigh: number; measuredSubscribers: number };
  method: string[];
  lang: string;
  tz: string;
}

async function summaryJson(args: string[]): Promise<SummaryJson> {
  const r = await runMain(['summary', '--format', 'json', ...args]);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as SummaryJson;
}

const LEVELS: Record<string, string[]> = { low: ['low', 'medium', 'high'], medium: ['medium', 'high'], high: ['high'] };

/** The expected figures, straight from SQL over the report. */
function expected(path: string, level: string) {
  const d = new Database(path, { readonly: true });
  const lv = LEVELS[level]!;
  const where = `f.label = 'mining' AND f.subscriber IS NOT NULL AND f.confidence IN (${lv.map((l) => `'${l}'`).join(', ')})`;
  const one = (sql: string): Record<string, unknown> => d.prepare(sql).get() as Record<string, unknown>;
  const all = (sql: string): Array<Record<string, unknown>> => d.prepare(sql).all() as Array<Record<string, unknown>>;
  const totals = one(`SELECT count(DISTINCT f.subscriber) AS subs, count(*) AS flows, min(f.first_seen) AS first, max(f.last_seen) AS last FROM flows f WHERE ${where}`);
  const byType = all(
    `SELECT s.type AS key, count(DISTINCT f.subscriber) AS subscribers, count(*) AS flows FROM flows f LEFT JOIN subscribers s ON s.subscriber = f.subscriber WHERE ${where} GROUP BY s.type`,
  );
  const byRegion = all(
    `SELECT s.region AS key, count(DISTINCT f.subscriber) AS subscribers, count(*) AS flows FROM flows f LEFT JOIN subscribers s ON s.subscriber = f.subscriber WHERE ${where} GROUP BY s.region`,
  );
  // Coins: a subscriber counts under every coin its flows name; under unknown only when none does.
  const byCoinNamed = all(`SELECT f.coin AS key, count(DISTINCT f.subscriber) AS subscribers, count(*) AS flows FROM flows f WHERE ${where} AND f.coin IS NOT NULL GROUP BY f.coin`);
  const unknown = one(
    `SELECT count(DISTINCT f.subscriber) AS subscribers FROM flows f WHERE ${where} AND f.subscriber NOT IN (SELECT g.subscriber FROM flows g WHERE ${where.replace(/f\./g, 'g.')} AND g.coin IS NOT NULL)`,
  );
  const unknownFlows = one(`SELECT count(*) AS n FROM flows f WHERE ${where} AND f.coin IS NULL`);
  d.close();
  const byCoin = [...byCoinNamed];
  if ((unknownFlows.n as number) > 0) byCoin.push({ key: null, subscribers: unknown.subscribers, flows: unknownFlows.n });
  const norm = (rows: Array<Record<string, unknown>>) => rows.map((r) => ({ key: (r.key as string | null) ?? null, subscribers: Number(r.subscribers), flows: Number(r.flows) })).sort((a, b) => String(a.key).localeCompare(String(b.key)));
  return { totals, byType: norm(byType), byRegion: norm(byRegion), byCoin: norm(byCoin) };
}

const sorted = (rows: Row[]) => rows.map(({ key, subscribers, flows }) => ({ key, subscribers, flows })).sort((a, b) => String(a.key).localeCompare(String(b.key)));

describe('minerwatch summary', () => {
  beforeAll(async () => {
    writeFileSync(
      directory,
      ['prefix,subscriber,account,type,region', '100.64.0.11,HOME-11,ACC-11,residential,杭州', '100.64.0.12,CAFE-12,ACC-12,internet-cafe,温州', '10.0.0.0/24,UNIV-10,,university,杭州', ''].join('\n'),
    );
    const names = readdirSync(join(FIXTURES, 'names'))
      .filter((f) => f.endsWith('.pcap'))
      .map((f) => join(FIXTURES, 'names', f));
    const r = await runMain(['scan', join(FIXTURES, 'demo'), ...names, '--db', db, '--subscribers', directory]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it.each(['low', 'medium', 'high'])('figures at --min-confidence %s equal SQL over the report', async (level) => {
    const s = await summaryJson(['--db', db, '--min-confidence', level]);
    const x = expected(db, level);
    expect(s.minConfidence).toBe(level);
    expect(s.miningSubscribers).toBe(x.totals.subs);
    expect(s.miningFlows).toBe(x.totals.flows);
    expect(Date.parse(s.period.first)).toBe(x.totals.first);
    expect(Date.parse(s.period.last)).toBe(x.totals.last);
    expect(sorted(s.byType)).toEqual(x.byType);
    expect(sorted(s.byRegion)).toEqual(x.byRegion);
    expect(sorted(s.byCoin)).toEqual(x.byCoin);
    expect(s.byType.reduce((a, b) => a + b.subscribers, 0)).toBe(s.miningSubscribers);
    expect(s.byRegion.reduce((a, b) => a + b.flows, 0)).toBe(s.miningFlows);
    expect(s.byCoin.reduce((a, b) => a + b.flows, 0)).toBe(s.miningFlows);
  });

  it('groups by directory id, type and region; unknown where the directory says nothing', async () => {
    const s = await summaryJson(['--db', db, '--min-confidence', 'medium', '--lang', 'en']);
    // HOME-11, CAFE-12, UNIV-10 (four addresses in 10.0.0.0/24: SNI, DNS, peer and SOCKS fixtures) and fd00::1:10 (not in the directory).
    expect(s.miningSubscribers).toBe(4);
    expect(s.byType.find((r) => r.key === 'university')).toMatchObject({ key: 'university', subscribers: 1, flows: 5 });
    expect(s.byType.find((r) => r.key === null)).toMatchObject({ key: null, subscribers: 1, flows: 1 });
    expect(s.byRegion.find((r) => r.key === '杭州')).toMatchObject({ key: '杭州', subscribers: 2, flows: 6 });
    // Energy per type and region is the sum of those subscribers' own power ranges; hashrate per coin the sum of their rates.
    const d2 = new Database(db, { readonly: true });
    const power = d2.prepare('SELECT type, region, power_w_low AS lo, power_w_high AS hi FROM subscribers WHERE power_w_low IS NOT NULL').all() as Array<{ type: string | null; region: string | null; lo: number; hi: number }>;
    const coinRates = d2.prepare('SELECT coin, sum(hashrate_hs) AS hs FROM subscriber_hashrate WHERE hashrate_hs IS NOT NULL AND coin IS NOT NULL GROUP BY coin').all() as Array<{ coin: string; hs: number }>;
    d2.close();
    expect(power.length).toBeGreaterThan(0);
    for (const row of s.byType) {
      const mine = power.filter((p) => p.type === row.key);
      if (!mine.length) expect(row.kwhPerDay).toBeNull();
      else expect(row.kwhPerDay).toEqual({ low: expect.closeTo((mine.reduce((a, p) => a + p.lo, 0) * 24) / 1000, 9), high: expect.closeTo((mine.reduce((a, p) => a + p.hi, 0) * 24) / 1000, 9), subscribers: mine.length });
    }
    for (const c of coinRates) expect(s.byCoin.find((r) => r.key === c.coin)!.hashrate!.hs).toBeCloseTo(c.hs, 9);
    expect(s.byRegion.every((r) => r.hashrate === null)).toBe(true);
    expect(s.byCoin.find((r) => r.key === 'XMR')!.subscribers).toBe(2);
    // Hashrate per coin: the sum of the subscribers' measured rates, as SQL over subscriber_hashrate gives it.
    const d = new Database(db, { readonly: true });
    const rows = d
      .prepare(
        `SELECT h.coin AS coins, h.unit AS unit, sum(h.hashrate_hs) AS hs, count(DISTINCT h.subscriber) AS subscribers FROM subscriber_hashrate h
         WHERE h.hashrate_hs IS NOT NULL AND h.subscriber IN (SELECT subscriber FROM flows WHERE label = 'mining' AND confidence IN ('medium', 'high')) GROUP BY h.coin, h.unit ORDER BY hs DESC`,
      )
      .all() as Array<{ coins: string; unit: string; hs: number; subscribers: number }>;
    d.close();
    expect(rows.length).toBeGreaterThan(0);
    expect(s.hashrate!.groups.map((g) => ({ coins: g.coins, unit: g.unit, hs: g.hs, subscribers: g.subscribers }))).toEqual(rows);
    expect(s.method.join(' ')).toMatch(/Hashrate: the sum of the per-subscriber estimates/);
  });

  it('prints the table in English and in Chinese, with the method', async () => {
    const en = await runMain(['summary', '--db', db, '--lang', 'en']);
    expect(en.code).toBe(0);
    expect(en.out).toMatch(/^Mining subscribers\s+4$/m);
    expect(en.out).toMatch(/^Mining flows\s+8$/m);
    expect(en.out).toMatch(/^Hashrate\s+ETH \d.* MH\/s ± .*; XMR \d.* H\/s ± .* \(measured for 2 of 4 subscribers\)$/m);
    expect(en.out).toMatch(/^Energy \(kWh\/day\)\s+0\.\d+ – 0\.\d+ \(measured for 1 of 4 subscribers\)$/m);
    expect(en.out).toMatch(/^By coin$/m);
    expect(en.out).toMatch(/^university\s+1\s+5\s+not measured$/m);
    expect(en.out).toMatch(/^unknown\s+1\s+1\s+not measured$/m);
    expect(en.out).toMatch(/^residential\s+1\s+\d+\s+0\.\d+ – 0\.\d+$/m);
    expect(en.out).toMatch(/^Coin\s+Subscribers\s+Flows\s+Hashrate\s+Energy \(kWh\/day\)$/m);
    expect(en.out).toMatch(/^Method$/m);
    const zh = await runMain(['summary', '--db', db, '--lang', 'zh-CN']);
    expect(zh.code).toBe(0);
    expect(zh.out).toMatch(/^挖矿用户数\s+4$/m);
    expect(zh.out).toMatch(/^挖矿流数\s+8$/m);
    expect(zh.out).toMatch(/^算力\s+ETH \d.* MH\/s ± .*; XMR \d.* H\/s ± .* \(4 个用户中测得 2 个\)$/m);
    expect(zh.out).toMatch(/^耗电量（千瓦时\/天）\s+0\.\d+ – 0\.\d+ \(4 个用户中测得 1 个\)$/m);
    expect(zh.out).toMatch(/^按币种$/m);
    expect(zh.out).toMatch(/^高校\s+1\s+5\s+未测得$/m);
    expect(zh.out).toMatch(/^未知\s+1\s+1\s+未测得$/m);
    expect(zh.out).toMatch(/^计算方法$/m);
    expect(zh.out).not.toMatch(/not measured|Mining subscribers/);
    // Wide characters are aligned by display width: the value column starts at the same terminal column.
    const { displayWidth } = await import('../../src/cli/summary.js');
    const head = zh.out.split('\n').filter((l) => /^(挖矿用户数|算力|最低置信度)\s/.test(l));
    const col = head.map((l) => displayWidth(/^\S+\s+/.exec(l)![0]));
    expect(new Set(col).size).toBe(1);
  });

  it('--tz shows times in the zone: Asia/Shanghai is UTC+8', async () => {
    const utc = await summaryJson(['--db', db]);
    const sh = await summaryJson(['--db', db, '--tz', 'Asia/Shanghai']);
    expect(utc.tz).toBe('UTC');
    expect(sh.tz).toBe('Asia/Shanghai');
    expect(sh.period.first).toBe(utc.period.first); // stored and exported in UTC
    const parse = (s: string): number => Date.parse(s.replace(' ', 'T').replace(' ', ''));
    expect(utc.period.firstLocal).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00$/);
    expect(sh.period.firstLocal).toMatch(/ \+08:00$/);
    expect(parse(sh.period.firstLocal)).toBe(Date.parse(utc.period.first) - (Date.parse(utc.period.first) % 1000));
    // The wall-clock text is 8 hours later.
    const wall = (s: string): number => Date.parse(`${s.slice(0, 10)}T${s.slice(11, 19)}Z`);
    expect(wall(sh.period.firstLocal) - wall(utc.period.firstLocal)).toBe(8 * 3600_000);
    expect(wall(sh.period.lastLocal) - wall(utc.period.lastLocal)).toBe(8 * 3600_000);
    const t = await runMain(['summary', '--db', db, '--tz', 'Asia/Shanghai']);
    expect(t.out).toContain(sh.period.firstLocal);
  });

  it('bad --tz, --lang or report exit 2 with one line naming the problem', async () => {
    const tz = await runMain(['summary', '--db', db, '--tz', 'Mars/Olympus_Mons']);
    expect(tz.code).toBe(2);
    expect(tz.err.trim().split('\n')).toHaveLength(1);
    expect(tz.err).toMatch(/--tz "Mars\/Olympus_Mons"/);
    const lang = await runMain(['summary', '--db', db, '--lang', 'fr']);
    expect(lang.code).toBe(2);
    expect(lang.err).toMatch(/--lang "fr"/);
    expect((await runMain(['summary', '--db', join(tmp, 'missing.sqlite')])).code).toBe(2);
    expect((await runMain(['report', '--db', db, '--html', join(tmp, 'x.html'), '--tz', 'Nowhere/City'])).code).toBe(2);
  });

  it('sums hashrate and energy when the report has them, per coin, and says for how many subscribers', async () => {
    const copy = join(tmp, 'estimates.sqlite');
    copyFileSync(db, copy);
    const d = new Database(copy);
    d.exec('DELETE FROM subscriber_hashrate');
    d.exec('UPDATE subscribers SET power_w_low = NULL, power_w_high = NULL');
    const rate = d.prepare(
      "INSERT INTO subscriber_hashrate(subscriber, coin, algorithm, unit, flows, shares, unvalued, hashes, seconds, hashrate_hs, rel_err, reported_hs, power_w_low, power_w_high) VALUES (?, 'XMR', 'randomx', 'H/s', 1, ?, 0, ?, 1000, ?, ?, NULL, ?, ?)",
    );
    // HOME-11 mines XMR, UNIV-10 XMR too; CAFE-12 has no estimate.
    rate.run('HOME-11', 100, 3e6, 3000, 0.1, 80, 120);
    rate.run('UNIV-10', 178, 4e6, 4000, 0.075, 100, 150);
    d.prepare('UPDATE subscribers SET power_w_low = ?, power_w_high = ? WHERE subscriber = ?').run(80, 120, 'HOME-11');
    d.prepare('UPDATE subscribers SET power_w_low = ?, power_w_high = ? WHERE subscriber = ?').run(100, 150, 'UNIV-10');
    d.close();
    const s = await summaryJson(['--db', copy]);
    expect(s.hashrate).not.toBeNull();
    expect(s.hashrate!.measuredSubscribers).toBe(2);
    expect(s.hashrate!.groups).toEqual([{ coins: 'XMR', unit: 'H/s', hs: 7000, errHs: expect.closeTo(Math.sqrt(300 ** 2 + 300 ** 2), 6), subscribers: 2 }]);
    expect(s.energy).toEqual({ kwhPerDayLow: expect.closeTo(4.32, 6), kwhPerDayHigh: expect.closeTo(6.48, 6), measuredSubscribers: 2 });
    const en = await runMain(['summary', '--db', copy, '--lang', 'en']);
    expect(en.out).toMatch(/^Hashrate\s+XMR 7\.00 kH\/s ± 424 H\/s \(measured for 2 of 4 subscribers\)$/m);
    expect(en.out).toMatch(/^Energy \(kWh\/day\)\s+4\.3 – 6\.5 \(measured for 2 of 4 subscribers\)$/m);
    const zh = await runMain(['summary', '--db', copy, '--lang', 'zh-CN']);
    expect(zh.out).toMatch(/^算力\s+XMR 7\.00 kH\/s ± 424 H\/s \(4 个用户中测得 2 个\)$/m);
    // Columns present but NULL everywhere: still not measured.
    const d2 = new Database(copy);
    d2.exec('UPDATE subscriber_hashrate SET hashrate_hs = NULL');
    d2.exec('UPDATE subscribers SET hashrate_hs = NULL, power_w_low = NULL, power_w_high = NULL');
    d2.close();
    const n = await summaryJson(['--db', copy]);
    expect(n.hashrate).toBeNull();
    expect(n.energy).toBeNull();
  });
});

describe('i18n', () => {
  it('resolveLang: the flag, else the locale environment, else English', () => {
    expect(resolveLang('zh-CN', {})).toBe('zh-CN');
    expect(resolveLang('zh_CN', {})).toBe('zh-CN');
    expect(resolveLang('en', { LANG: 'zh_CN.UTF-8' })).toBe('en');
    expect(resolveLang(undefined, { LANG: 'zh_CN.UTF-8' })).toBe('zh-CN');
    expect(resolveLang(undefined, { LC_ALL: 'en_US.UTF-8', LANG: 'zh_CN.UTF-8' })).toBe('en');
    expect(resolveLang(undefined, { LC_MESSAGES: 'zh_TW.UTF-8' })).toBe('zh-CN');
    expect(resolveLang(undefined, {})).toBe('en');
    expect(() => resolveLang('de', {})).toThrow(UsageError);
  });

  it('formatTime shows the numeric offset of the zone; bad zones are usage errors', () => {
    const t = Date.UTC(2026, 10, 21, 0, 0, 0);
    expect(formatTime(t)).toBe('2026-11-21 00:00:00 +00:00');
    expect(formatTime(t, 'Asia/Shanghai')).toBe('2026-11-21 08:00:00 +08:00');
    expect(formatTime(t, 'America/New_York')).toBe('2026-11-20 19:00:00 -05:00');
    expect(formatTime(Date.UTC(2026, 5, 1, 12), 'Asia/Kolkata')).toBe('2026-06-01 17:30:00 +05:30');
    expect(checkZone(undefined)).toBe('UTC');
    expect(checkZone('asia/shanghai')).toBe('Asia/Shanghai');
    expect(() => checkZone('Asia/Atlantis')).toThrow(/Asia\/Atlantis/);
    expect(() => formatTime(t, 'Asia/Atlantis')).toThrow(UsageError);
  });

  it('both catalogues carry the same messages, and watch-list headers name every watch-list key', () => {
    const en = messages('en');
    const zh = messages('zh-CN');
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const lang of ['en', 'zh-CN'] as const) {
      const h = watchlistHeaders(lang);
      expect(Object.keys(h)).toEqual([...WATCHLIST_KEYS]);
      for (const v of Object.values(h)) expect(v.length).toBeGreaterThan(0);
    }
    expect(watchlistHeaders('zh-CN').subscriber).toBe('用户');
    expect(watchlistHeaders('en').miningFlows).toBe('Mining flows');
  });
});
