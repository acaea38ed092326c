/**
 * `minerwatch report --html`: self-contained (no remote references), every value escaped, and —
 * when Debian's chromium is installed — rendered in a real headless browser whose DOM, after the
 * page's script ran, shows the database's numbers; plus a screenshot.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, renderHtml, TIMELINE_CAP } from '../../src/report/html.js';
import { formatHashrate, formatKwh } from '../../src/report/format.js';
import { FIXTURES, runMain } from '../helpers.js';


const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} not found: headless-browser tests of the HTML report skipped (apt-get install chromium to run them)`);

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-html-'));
const db = join(tmp, 'report.sqlite');

function html(path: string, lang: 'en' | 'zh-CN' = 'en', tz = 'UTC'): string {
  const d = new Database(path, { readonly: true });
  try {
    return renderHtml(d, { minConfidence: 'medium', lang, tz, now: 0 }).html;
  } finally {
    d.close();
  }
}

/** Everything in the page that could make a request: URLs with a scheme, src/href/srcset attributes, CSS url()/@import. */
function remoteReferences(page: string): string[] {
  const found: string[] = [];
  for (const re of [/https?:\/\//gi, /\/\/[a-z0-9.-]+\.[a-z]{2,}/gi, /\bsrc\s*=/gi, /\bhref\s*=/gi, /\bsrcset\s*=/gi, /url\s*\(/gi, /@import/gi, /<link\b/gi, /<iframe\b/gi, /<object\b/gi, /<embed\b/gi])
    for (const m of page.matchAll(re)) found.push(m[0]);
  return found;
}

function chromium(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check', `--user-data-dir=${profile}`, ...args],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 },
  );
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
}

/** Text of the element with a data-testid (first, or all). */
function testids(dom: string, id: string): string[] {
  const re = new RegExp(`<[a-z]+\\b[^<>]*\\bdata-testid="${id}"[^<>]*>([^<]*)<`, 'g');
  return [...dom.matchAll(re)].map((m) => m[1]!);
}

describe('minerwatch report --html', () => {
  beforeAll(async () => {
    const names = readdirSync(join(FIXTURES, 'names'))
      .filter((f) => f.endsWith('.pcap'))
      .map((f) => join(FIXTURES, 'names', f));
    const r = await runMain(['scan', join(FIXTURES, 'demo'), ...names, '--db', db]);
    expect(r.code).toBe(0);
  });

  it('writes one self-contained file with no remote references, in the chosen language', async () => {
    const file = join(tmp, 'en.html');
    const r = await runMain(['report', '--html', file, '--db', db, '--lang', 'en']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const page = readFileSync(file, 'utf8');
    expect(remoteReferences(page)).toEqual([]);
    expect(page).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(page).toContain("default-src 'none'");
    expect(page.match(/<script>/g)).toHaveLength(1);
    expect(page).toContain('<svg data-testid="chart-activity"');
    expect(page).toContain('<svg data-testid="chart-coin"');
    expect(page).toContain('<svg data-testid="chart-type"');
    expect(page).toContain('<svg data-testid="chart-region"');
    expect(page).toContain('not measured; 6 shares not valued (no difficulty seen, or no algorithm known for it)');
    const zh = join(tmp, 'zh.html');
    expect((await runMain(['report', '--html', zh, '--db', db, '--lang', 'zh-CN', '--tz', 'Asia/Shanghai'])).code).toBe(0);
    const zpage = readFileSync(zh, 'utf8');
    expect(zpage).toMatch(/<html lang="zh-CN">/);
    expect(zpage).toContain('未测得');
    expect(zpage).toContain('6 个份额未计价（未见难度，或其算法未知）');
    expect(zpage).toContain('挖矿用户数');
    expect(zpage).toContain('+08:00');
    expect(zpage).not.toContain('+00:00 ');
    expect(remoteReferences(zpage)).toEqual([]);
  });

  it('escapes every value: a worker name with <script> from the wire stays text', () => {
    const copy = join(tmp, 'hostile.sqlite');
    copyFileSync(db, copy);
    const d = new Database(copy);
    const evil = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "x' onmouseover='alert(3)", 'https://evil.example/x.js'];
    d.prepare("UPDATE subscribers SET workers = ?, agents = ?, evidence = evidence || ? WHERE subscriber = '100.64.0.11'").run(JSON.stringify(evil), JSON.stringify(['</td></tr><tr><td>injected']), ' <b>bold</b>');
    d.prepare("UPDATE flows SET pool = ?, outcome = ? WHERE subscriber = '100.64.0.11' AND label = 'mining'").run('<iframe src="https://evil.example">', '<svg onload=alert(4)>');
    d.close();
    const page = html(copy);
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<iframe');
    expect(page).not.toContain('<b>bold');
    expect(page).not.toContain('<svg onload');
    expect(page).not.toContain("onmouseover='");
    expect(page).not.toContain('<tr><td>injected');
    expect(page).toContain(escapeHtml('<script>alert(1)</script>'));
    expect(remoteReferences(page)).toEqual([]);
    expect(escapeHtml('<a href="x">&\'/')).toBe('&#60;a href&#61;&#34;x&#34;&#62;&#38;&#39;&#47;');
  });

  it('caps each timeline and says so', () => {
    const copy = join(tmp, 'many.sqlite');
    copyFileSync(db, copy);
    const d = new Database(copy);
    const cols = (d.prepare('PRAGMA table_info(flows)').all() as Array<{ name: string }>).map((c) => c.name).filter((c) => c !== 'id');
    const src = d.prepare("SELECT id FROM flows WHERE subscriber = '100.64.0.11' AND label = 'mining'").get() as { id: number };
    const ins = d.prepare(`INSERT INTO flows(${cols.join(', ')}) SELECT ${cols.map((c) => (c === 'first_seen' || c === 'last_seen' ? `${c} + ?` : c)).join(', ')} FROM flows WHERE id = ?`);
    for (let i = 1; i <= 60; i++) ins.run(i * 60_000, i * 60_000, src.id);
    d.close();
    const page = html(copy);
    expect(page).toContain(`first ${TIMELINE_CAP} of 61 mining flows shown`);
    const row = page.slice(page.indexOf('data-subscriber="100.64.0.11"'));
    expect(row.slice(0, row.indexOf('data-testid="timeline-capped"')).match(/<tr><td>/g)).toHaveLength(TIMELINE_CAP);
  });

  it.skipIf(!HAVE_CHROMIUM)('headless chromium shows the database numbers after the page script ran, and takes a screenshot', async () => {
    const file = join(tmp, 'browser.html');
    expect((await runMain(['report', '--html', file, '--db', db, '--lang', 'en', '--tz', 'Asia/Shanghai'])).code).toBe(0);
    const url = pathToFileURL(file).href;
    expect(url.startsWith('file://')).toBe(true);
    const r = chromium(['--dump-dom', url]);
    expect(r.status, r.stderr).toBe(0);
    const dom = r.stdout;
    // The script ran: it marks the document and fills the row counter.
    expect(dom).toMatch(/<html lang="en" data-ready="1">/);

    const d = new Database(db, { readonly: true });
    const where = "label = 'mining' AND subscriber IS NOT NULL AND confidence IN ('medium', 'high')";
    const subs = (d.prepare(`SELECT count(DISTINCT subscriber) AS n FROM flows WHERE ${where}`).get() as { n: number }).n;
    const flows = (d.prepare(`SELECT count(*) AS n FROM flows WHERE ${where}`).get() as { n: number }).n;
    const perSub = d.prepare(`SELECT subscriber, count(*) AS n FROM flows WHERE ${where} GROUP BY subscriber`).all() as Array<{ subscriber: string; n: number }>;
    const byCoin = d.prepare(`SELECT coin, count(DISTINCT subscriber) AS n FROM flows WHERE ${where} AND coin IS NOT NULL GROUP BY coin`).all() as Array<{ coin: string; n: number }>;
    d.close();
    expect(subs).toBeGreaterThan(0);

    expect(testids(dom, 'summary-subscribers')).toEqual([String(subs)]);
    expect(testids(dom, 'summary-flows')).toEqual([String(flows)]);
    // Hashrate and energy as the report holds them: per coin, summed over the subscribers shown.
    const d2 = new Database(db, { readonly: true });
    const rates = d2
      .prepare(`SELECT coin, unit, sum(hashrate_hs) AS hs FROM subscriber_hashrate WHERE hashrate_hs IS NOT NULL AND subscriber IN (SELECT subscriber FROM flows WHERE ${where}) GROUP BY coin, unit`)
      .all() as Array<{ coin: string; unit: string; hs: number }>;
    const power = d2.prepare(`SELECT sum(power_w_low) AS lo, sum(power_w_high) AS hi FROM subscribers WHERE subscriber IN (SELECT subscriber FROM flows WHERE ${where})`).get() as { lo: number; hi: number };
    const perSubRate = d2.prepare('SELECT subscriber, hashrate_hs FROM subscribers WHERE hashrate_hs IS NOT NULL').all() as Array<{ subscriber: string; hashrate_hs: number }>;
    d2.close();
    expect(rates.length).toBeGreaterThan(0);
    const [hashrateShown] = testids(dom, 'summary-hashrate');
    for (const r of rates) expect(hashrateShown).toContain(`${r.coin} ${formatHashrate(r.hs, r.unit)}`);
    expect(testids(dom, 'summary-energy')[0]).toContain(`${formatKwh((power.lo * 24) / 1000)} – ${formatKwh((power.hi * 24) / 1000)}`);
    for (const p of perSubRate) expect(dom).toMatch(new RegExp(`data-testid="subscriber-hashrate" data-hs="${p.hashrate_hs}">`));
    expect(testids(dom, 'visible-count')).toEqual([`${subs} / ${subs}`]);
    expect(testids(dom, 'tz')).toEqual(['Asia/Shanghai']);
    // One row per subscriber, each with its flow count.
    const rows = [...dom.matchAll(/data-testid="subscriber-row" data-subscriber="([^"]*)"/g)].map((m) => m[1]!.replace(/&#58;/g, ':'));
    expect(rows.sort()).toEqual(perSub.map((p) => p.subscriber).sort());
    const shownFlows = testids(dom, 'subscriber-flows').map(Number);
    expect(shownFlows.reduce((a, b) => a + b, 0)).toBe(flows);
    expect(testids(dom, 'bytype-subscribers').map(Number).reduce((a, b) => a + b, 0)).toBe(subs);
    for (const c of byCoin) {
      const m = new RegExp(`data-testid="bycoin-row" data-key="${c.coin}"><td>[^<]*</td><td class="num" data-testid="bycoin-subscribers">(\\d+)<`).exec(dom);
      expect(m?.[1], c.coin).toBe(String(c.n));
    }

    const png = join(tmp, 'report.png');
    const s = chromium([`--screenshot=${png}`, '--window-size=1280,2000', '--hide-scrollbars', url]);
    expect(s.status, s.stderr).toBe(0);
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(10_000);
    expect(readFileSync(png).subarray(1, 4).toString('latin1')).toBe('PNG');
  });
});
