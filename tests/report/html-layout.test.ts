/**
 * The HTML report's layout in a real browser: a report of 1,000 subscribers with long pool and
 * subscriber names over more than 1,400 days (scanned from a generated capture), rendered by
 * `minerwatch report --html` and laid out by Debian's headless chromium at 1280, 1400 and 1600 px.
 * A script appended to a copy of the page writes what the browser measured into the DOM, which
 * `--dump-dom` prints; the assertions read those sizes. A screenshot is kept in test-artifacts/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { watchlistHeaders } from '../../src/i18n.js';
import { ROOT, runMain } from '../helpers.js';
import { FIRST, LAST, POOLS, SUBSCRIBERS, subscriberId, writeLayoutInputs } from './html-layout-capture.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} not found: the HTML layout tests in a headless browser are skipped (Debian package: chromium)`);

const ARTIFACTS = join(ROOT, 'test-artifacts');
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-layout-'));
const db = join(tmp, 'report.sqlite');


function chromium(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check', `--user-data-dir=${profile}`, ...args],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 256 << 20 },
  );
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
}

/**
 * Runs in the page after its own script: sizes of the page, the subscriber table and its box, and
 * every text item of the name and time columns whose text was laid out on more than one line (a
 * Range over a text node has one client rect per line it occupies).
 */
const MEASURE = `
(function(){
  var de=document.documentElement;
  var table=document.querySelector('table[data-testid="subscribers"]');
  var box=table.parentElement;
  var heads=Array.prototype.map.call(table.tHead.rows[0].cells,function(c){return c.textContent;});
  var wrapped=[],checked=0;
  var rows=table.tBodies[0].rows;
  for(var r=0;r<rows.length;r++){
    var cells=rows[r].cells;
    for(var c=0;c<cells.length;c++){
      var cls=cells[c].getAttribute('data-col');
      if(['subscriber','type','region','confidence','seen','coins','pools'].indexOf(cls)<0)continue;
      var w=document.createTreeWalker(cells[c],NodeFilter.SHOW_TEXT);
      for(var n=w.nextNode();n;n=w.nextNode()){
        if(!n.nodeValue.trim())continue;
        var range=document.createRange();range.selectNodeContents(n);
        var lines=range.getClientRects().length;checked++;
        if(lines!==1&&wrapped.length<20)wrapped.push({col:cls,text:n.nodeValue,lines:lines});
      }
    }
  }
  var boxRect=box.getBoundingClientRect();
  var out={innerWidth:window.innerWidth,clientWidth:de.clientWidth,scrollWidth:de.scrollWidth,
    box:{left:boxRect.left,right:boxRect.right,clientWidth:box.clientWidth,scrollWidth:box.scrollWidth,overflowX:getComputedStyle(box).overflowX},
    tableWidth:table.getBoundingClientRect().width,heads:heads,rows:rows.length,checked:checked,wrapped:wrapped};
  var pre=document.createElement('pre');pre.id='mw-measure';pre.textContent=encodeURIComponent(JSON.stringify(out));
  document.body.appendChild(pre);
})();
`;

interface Measured {
  innerWidth: number;
  clientWidth: number;
  scrollWidth: number;
  box: { left: number; right: number; clientWidth: number; scrollWidth: number; overflowX: string };
  tableWidth: number;
  rows: number;
  checked: number;
  wrapped: Array<{ col: string; text: string; lines: number }>;
}

function measure(page: string, width: number): Measured {
  const file = join(tmp, `measure-${width}.html`);
  writeFileSync(file, page.replace('</body>', `<script>${MEASURE}</script>\n</body>`));
  const r = chromium(['--dump-dom', `--window-size=${width},900`, pathToFileURL(file).href]);
  const m = /<pre id="mw-measure">([^<]*)<\/pre>/.exec(r.stdout);
  if (!m) throw new Error(`chromium printed no measurements (status ${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(decodeURIComponent(m[1]!)) as Measured;
}

/** `YYYY-MM` months from the month of `a` to the month of `b` (UTC), both included. */
function monthsBetween(a: number, b: number): string[] {
  const out: string[] = [];
  const d = new Date(Date.UTC(new Date(a).getUTCFullYear(), new Date(a).getUTCMonth(), 1));
  while (d.getTime() <= b) {
    out.push(d.toISOString().slice(0, 7));
    d.setUTCMonth(d.getUTCMonth() + 1);
  }
  return out;
}

describe('report --html layout with 1,000 subscribers over 1,412 days', () => {
  let page = '';

  beforeAll(async () => {
    const inputs = writeLayoutInputs(tmp);
    const scan = await runMain(['scan', inputs.capture, '--db', db, '--subscribers', inputs.directory, '--rules', inputs.rules]);
    expect(scan.code, scan.err).toBe(0);
    const file = join(tmp, 'report.html');
    const r = await runMain(['report', '--html', file, '--db', db, '--lang', 'en']);
    expect(r.code, r.err).toBe(0);
    page = readFileSync(file, 'utf8');
  }, 300_000);

  it('holds every subscriber, with the long names as they were given', () => {
    expect(page.match(/<tr data-testid="subscriber-row"/g)).toHaveLength(SUBSCRIBERS);
    expect(page).toContain(subscriberId(0));
    for (const p of POOLS) expect(page).toContain(p);
  });

  it('charts the whole period, one bar per calendar month', () => {
    const days = Math.round((Date.UTC(2025, 10, 15) - Date.UTC(2022, 0, 3)) / 86_400_000) + 1;
    expect(days).toBeGreaterThan(1400);
    const svg = /<svg data-testid="chart-activity"[^>]*>/.exec(page)![0];
    expect(svg).toContain('data-unit="month"');
    expect(svg).toContain(`data-days="${days}"`);
    const bins = [...page.matchAll(/<rect data-testid="activity-bin" data-start="([\d-]+)" data-end="([\d-]+)" data-n="(\d+)"/g)];
    const months = monthsBetween(FIRST, LAST);
    expect(bins.map((b) => b[1]!.slice(0, 7))).toEqual(months);
    expect(bins[0]![1]).toBe(new Date(FIRST).toISOString().slice(0, 10));
    expect(bins.at(-1)![2]).toBe(new Date(LAST).toISOString().slice(0, 10));
    // Each bin runs within its month, and the next starts the day after.
    for (let i = 0; i < bins.length; i++) {
      expect(bins[i]![2]!.slice(0, 7)).toBe(months[i]);
      if (i > 0) expect(Date.parse(bins[i]![1]!) - Date.parse(bins[i - 1]![2]!)).toBe(86_400_000);
    }
    // The caption says what a bar is.
    expect(page).toContain(`${months.length} calendar months over ${days} days`);
    expect(page).toContain('Mining subscribers active per month');
  });

  it('in zh-CN, the evidence of every subscriber is Chinese, with its values kept', async () => {
    const file = join(tmp, 'report-zh.html');
    const r = await runMain(['report', '--html', file, '--db', db, '--lang', 'zh-CN']);
    expect(r.code, r.err).toBe(0);
    const zh = readFileSync(file, 'utf8');
    const cells = [...zh.matchAll(/<td class="ev" data-col="evidence">([^<]*)</g)].map((m) => m[1]!);
    expect(cells).toHaveLength(SUBSCRIBERS);
    const d = new Database(db, { readonly: true });
    const stored = new Map((d.prepare('SELECT subscriber, evidence FROM subscribers').all() as Array<{ subscriber: string; evidence: string }>).map((x) => [x.subscriber, x.evidence]));
    d.close();
    const rows = [...zh.matchAll(/<tr data-testid="subscriber-row" data-subscriber="([^"]*)">[\s\S]*?<td class="ev" data-col="evidence">([^<]*)</g)];
    expect(rows).toHaveLength(SUBSCRIBERS);
    for (const [, id, cell] of rows) {
      const en = stored.get(id!.replace(/&#45;/g, '-'))!;
      expect(en, id).toMatch(/^\d+ mining flows? \(/);
      const text = cell!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
      // English words of the templates are gone; the numbers, rule ids and protocol messages stay.
      for (const word of ['mining flow', ' to 1 server', '; rules ', 'outcomes:', 'strongest:', 'client sent', 'server sent', 'port: server port']) expect(text).not.toContain(word);
      const flows = /^(\d+) mining flows? \((\d+) high\) to (\d+) server/.exec(en)!;
      expect(text.startsWith(`${flows[1]} 条挖矿流（高 ${flows[2]} 条），连接 ${flows[3]} 个服务器；规则 MW-`)).toBe(true);
      expect(text).toContain('客户端发送 mining.subscribe, mining.authorize');
      expect(text).toContain('服务器发送 mining.subscribe result, mining.notify');
      expect(text).toContain('矿池端口：服务器端口 3333');
      expect(text).toContain('最强证据：挖矿（two-sided protocol）：stratum-v1，服务器 198.51.100.7');
      if (en.includes('endpoint: ')) expect(text).toMatch(/已知矿池地址：198\.51\.100\.7\d:3333 在列表中（ip; pool /);
    }
  });

  it('watchlist --format csv --lang zh-CN: every evidence cell is Chinese, with its values kept; JSON keeps the stored English', async () => {
    const r = await runMain(['watchlist', '--db', db, '--format', 'csv', '--lang', 'zh-CN']);
    expect(r.code, r.err).toBe(0);
    // RFC 4180 fields, read here: quoted fields may hold commas, doubled quotes and line breaks.
    const records: string[][] = [];
    let field = '';
    let rec: string[] = [];
    let quoted = false;
    const endField = (): void => {
      rec.push(field);
      field = '';
    };
    const endRecord = (): void => {
      endField();
      records.push(rec);
      rec = [];
    };
    const text = r.out.replace(/^\uFEFF/, '');
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') endField();
      else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i++;
        endRecord();
      } else field += c;
    }
    if (field !== '' || rec.length > 0) endRecord();
    const [head, ...rows] = records;
    // The Chinese CSV's headers are the catalogue's; the column is found by it, its cells checked below.
    const ev = head!.indexOf((watchlistHeaders('zh-CN') as Record<string, string>).evidence!);
    expect(ev, `header: ${head!.join(',')}`).toBeGreaterThanOrEqual(0);
    expect(rows).toHaveLength(SUBSCRIBERS);
    for (const row of rows) {
      expect(row[ev]).toMatch(/^\d+ 条挖矿流（高 \d+ 条），连接 \d+ 个服务器；规则 MW-/);
      expect(row[ev]).toContain('客户端发送 mining.subscribe, mining.authorize');
      expect(row[ev]).not.toContain('mining flow');
    }
    const json = await runMain(['watchlist', '--db', db, '--format', 'json', '--lang', 'zh-CN']);
    const parsed = JSON.parse(json.out) as Array<{ evidence: string }>;
    expect(parsed[0]!.evidence).toMatch(/^\d+ mining flows? \(/);
  });

  for (const width of [1280, 1400, 1600]) {
    it.skipIf(!HAVE_CHROMIUM)(`fits ${width} px: no page-wide horizontal scroll, the table scrolls in its own box, no name or time breaks`, () => {
      const m = measure(page, width);
      expect(m.innerWidth).toBe(width);
      expect(m.rows).toBe(SUBSCRIBERS);
      expect(m.scrollWidth).toBeLessThanOrEqual(m.clientWidth);
      expect(m.box.left).toBeGreaterThanOrEqual(0);
      expect(m.box.right).toBeLessThanOrEqual(m.clientWidth);
      if (m.tableWidth > m.box.clientWidth) expect(m.box.overflowX).toBe('auto');
      expect(m.checked).toBeGreaterThanOrEqual(SUBSCRIBERS * 7);
      expect(m.wrapped).toEqual([]);
    }, 150_000);
  }

  it.skipIf(!HAVE_CHROMIUM)('the measurement sees a break: the same page with cells that may break anywhere reports wrapped names and times', () => {
    const breaking = page.replace('</style>', '.subs td,.subs td.nw,.subs .nw{white-space:normal!important;max-width:60px;word-break:break-word}</style>');
    const m = measure(breaking, 1400);
    expect(m.wrapped.length).toBeGreaterThan(0);
    expect(m.wrapped.map((w) => w.col)).toEqual(expect.arrayContaining(['subscriber', 'seen']));
  }, 150_000);

  it.skipIf(!HAVE_CHROMIUM)('leaves a screenshot at 1400 px in test-artifacts/', () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(tmp, 'shot.html');
    writeFileSync(file, page);
    const png = join(ARTIFACTS, 'html-layout-1400.png');
    const r = chromium([`--screenshot=${png}`, '--window-size=1400,2400', '--hide-scrollbars', pathToFileURL(file).href]);
    expect(existsSync(png), r.stderr.slice(-2000)).toBe(true);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  }, 150_000);
});
