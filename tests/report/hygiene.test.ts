/**
 * Wire strings cannot control the display: a capture whose agent, worker names and host names carry
 * markup, event handlers, ANSI sequences and U+202E is scanned with the CLI, and every output
 * (watch list, flows, summary, HTML) keeps the data but holds no raw control or bidi character;
 * the HTML page, loaded in headless Chromium (Debian package chromium), runs none of the handlers.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANSI, HOSTILE_AGENT, HOSTILE_HOST, HOSTILE_SNI, HOSTILE_WORKER, hostileCapture, RLO } from './hygiene-capture.js';
import { runMain } from '../helpers.js';

/**
 * What may not reach an output raw: C0 controls other than the line ends that structure the
 * outputs (LF, and CR of CSV's CRLF), DEL, C1 controls, and the bidi marks, embeddings, overrides
 * and isolates.
 */
const RAW = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;


const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`${CHROMIUM} not found: the headless-browser test of hostile strings is skipped (apt-get install chromium to run it)`);

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-hygiene-'));
const capture = join(tmp, 'hostile.pcap');
const db = join(tmp, 'report.sqlite');

function chromiumDom(url: string): { dom: string; status: number | null; stderr: string } {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check', `--user-data-dir=${profile}`, '--dump-dom', url],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 },
  );
  return { dom: r.stdout ?? '', status: r.status, stderr: r.stderr ?? '' };
}

/** Every character that may not appear raw, with its position, for a readable failure. */
function rawControls(s: string): string[] {
  return [...s.matchAll(new RegExp(RAW.source, 'gu'))].map((m) => `U+${m[0].codePointAt(0)!.toString(16).padStart(4, '0')} at ${m.index}`);
}

describe('wire strings in every output', () => {
  let stored: { agent: string; workers: string[]; serverName: string };

  beforeAll(async () => {
    writeFileSync(capture, hostileCapture());
    const r = await runMain(['scan', capture, '--db', db]);
    expect(r.code, r.err).toBe(0);
    const d = new Database(db, { readonly: true });
    const mining = d.prepare("SELECT agent, workers FROM flows WHERE label = 'mining' AND agent IS NOT NULL").get() as { agent: string; workers: string };
    const host = d.prepare("SELECT server_name FROM flows WHERE server_port = 80").get() as { server_name: string };
    d.close();
    stored = { agent: mining.agent, workers: JSON.parse(mining.workers) as string[], serverName: host.server_name };
  });

  it('the report holds the hostile strings as they came off the wire (the test input is what it claims)', () => {
    expect(stored.agent).toContain(RLO);
    expect(stored.agent).toContain('<img src=x onerror=');
    expect(stored.workers.some((w) => w.includes('<script>') && w.includes(RLO))).toBe(true);
    // HTTP heads are read as latin1: ESC and BEL arrive raw, and U+202E's UTF-8 bytes as C1 characters.
    expect(stored.serverName).toContain('\x1b[2j');
    expect(stored.serverName).toContain('\x07');
    expect(stored.serverName).toMatch(/[\u0080-\u009f]/);
    expect(stored.serverName).toContain("<svg onload=document.title='pwned-host'>");
    // The TLS decoder takes only host-name characters in an SNI: the hostile one is not stored at all.
    const d = new Database(db, { readonly: true });
    const names = (d.prepare('SELECT server_name FROM flows WHERE server_name IS NOT NULL').all() as Array<{ server_name: string }>).map((r) => r.server_name);
    d.close();
    expect(names.some((n) => n.includes('pwned-sni'))).toBe(false);
    expect(HOSTILE_SNI).toContain(ANSI);
    expect(HOSTILE_HOST).toContain(ANSI);
  });

  it('watch list: JSON and JSON lines keep the exact values, table and CSV show visible escapes; none holds a raw control', async () => {
    for (const format of ['json', 'jsonl']) {
      const r = await runMain(['watchlist', '--db', db, '--min-confidence', 'low', '--format', format]);
      expect(r.code, r.err).toBe(0);
      expect(rawControls(r.out), format).toEqual([]);
      const rows = (format === 'json' ? JSON.parse(r.out) : r.out.trim().split('\n').map((l) => JSON.parse(l))) as Array<{ agents: string[]; workers: string[] }>;
      expect(rows).toHaveLength(1);
      expect(rows[0]!.workers).toEqual(stored.workers);
      expect(rows[0]!.agents.join('')).toContain(stored.agent);
      expect(r.out).toContain('\\u202e');
    }
    const table = await runMain(['watchlist', '--db', db, '--min-confidence', 'low']);
    expect(table.code).toBe(0);
    expect(rawControls(table.out)).toEqual([]);
    expect(table.out).toContain('\\u202e4evilwallet.rig1<script>');
    const csv = await runMain(['watchlist', '--db', db, '--min-confidence', 'low', '--format', 'csv']);
    expect(csv.code).toBe(0);
    expect(rawControls(csv.out)).toEqual([]);
    // Whole values, escaped; a cell a spreadsheet would run as a formula starts with '.
    expect(csv.out).toContain(`"'=cmd|' /C calc'!A0 \\u202e<img src=x onerror=""document.title='pwned-agent'"">`);
    expect(csv.out).toContain('\\u202e4evilwallet.rig1<script>document.title=\'pwned-worker\'</script>');
    expect(csv.out).not.toMatch(/,=cmd/);
  });

  it('flows: JSON lines keep the exact host name; table and CSV show it escaped; none holds a raw control', async () => {
    const jsonl = await runMain(['flows', '--db', db, '--all', '--format', 'jsonl']);
    expect(jsonl.code, jsonl.err).toBe(0);
    expect(rawControls(jsonl.out)).toEqual([]);
    const rows = jsonl.out.trim().split('\n').map((l) => JSON.parse(l) as { serverName: string | null; agent: string | null; workers: string[] });
    expect(rows.map((r) => r.serverName)).toContain(stored.serverName);
    expect(rows.map((r) => r.agent)).toContain(stored.agent);
    for (const format of ['table', 'csv']) {
      const r = await runMain(['flows', '--db', db, '--all', '--format', format]);
      expect(r.code, r.err).toBe(0);
      expect(rawControls(r.out), format).toEqual([]);
      expect(r.out).toContain('\\u202e');
    }
    const csv = await runMain(['flows', '--db', db, '--all', '--format', 'csv']);
    expect(csv.out).toContain("<svg onload=document.title='pwned-host'>\\u001b[2j\\u001b]0;pwned-title\\u0007.c3pool.com");
  });

  it('summary (table and JSON) holds no raw control', async () => {
    for (const format of ['table', 'json']) {
      const r = await runMain(['summary', '--db', db, '--min-confidence', 'low', '--format', format]);
      expect(r.code, r.err).toBe(0);
      expect(rawControls(r.out), format).toEqual([]);
    }
  });

  it('report --html: every value escaped, no raw control or bidi character in the source, written 0600', async () => {
    const file = join(tmp, 'hostile.html');
    // An existing world-readable file does not pass its mode on.
    writeFileSync(file, 'old');
    chmodSync(file, 0o644);
    const r = await runMain(['report', '--html', file, '--db', db, '--min-confidence', 'low']);
    expect(r.code, r.err).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const page = readFileSync(file, 'utf8');
    expect(rawControls(page)).toEqual([]);
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page).not.toMatch(/<img\b|<iframe\b/);
    expect(page).not.toMatch(/<[a-z][^<>]*\son[a-z]+=/i);
    expect(page).toContain('&#60;script&#62;document.title');
    expect(page).toContain('\\u202e4evilwallet.rig1');

    // A report from elsewhere (a merge, another tool) may hold raw ESC, BEL, C1 and bidi characters anywhere.
    const copy = join(tmp, 'tampered.sqlite');
    copyFileSync(db, copy);
    const d = new Database(copy);
    d.prepare('UPDATE subscribers SET evidence = ?, region = ?, workers = ?').run(`host ${stored.serverName} ${RLO}\u2066x\u009b31m`, `r${ANSI}${RLO}`, JSON.stringify([HOSTILE_WORKER, `\x1b[31m${RLO}`]));
    d.prepare("UPDATE flows SET pool = NULL, server_name = ?, coin = ? WHERE label = 'mining'").run(stored.serverName, `X${ANSI}`);
    d.close();
    const file2 = join(tmp, 'tampered.html');
    expect((await runMain(['report', '--html', file2, '--db', copy, '--min-confidence', 'low'])).code).toBe(0);
    const page2 = readFileSync(file2, 'utf8');
    expect(rawControls(page2)).toEqual([]);
    expect(page2).toContain('\\u001b[2j\\u001b]0;pwned-title\\u0007');
    for (const format of ['table', 'json']) expect(rawControls((await runMain(['summary', '--db', copy, '--min-confidence', 'low', '--format', format])).out)).toEqual([]);
    for (const format of ['table', 'csv', 'json', 'jsonl']) expect(rawControls((await runMain(['watchlist', '--db', copy, '--min-confidence', 'low', '--format', format])).out)).toEqual([]);
  });

  it.skipIf(!HAVE_CHROMIUM)('headless chromium: the page script runs, no handler from the data does', async () => {
    const file = join(tmp, 'browser.html');
    expect((await runMain(['report', '--html', file, '--db', db, '--min-confidence', 'low'])).code).toBe(0);
    const url = pathToFileURL(file).href;
    expect(url.startsWith('file://')).toBe(true);
    const r = chromiumDom(url);
    expect(r.status, r.stderr).toBe(0);
    // The page's own script ran (it marks the document) …
    expect(r.dom).toMatch(/<html lang="en" data-ready="1">/);
    // … and every handler in the data would have set the title; it is still the report's.
    const title = /<title>([^<]*)<\/title>/.exec(r.dom)?.[1] ?? '';
    expect(title).toContain('Cryptocurrency mining report');
    expect(title).not.toContain('pwned');
    // No element came from the data: no image, no event-handler attribute on any tag.
    expect(r.dom).not.toMatch(/<img\b|<iframe\b/);
    expect(r.dom).not.toMatch(/<[a-z][^<>]*\son[a-z]+=/i);
    expect(r.dom.match(/<script\b/g)).toHaveLength(1);
    // The data is on the page, as text.
    expect(r.dom).toContain('&lt;script&gt;document.title=\'pwned-worker\'&lt;/script&gt;');
    expect(r.dom).toContain('\\u202e');
    expect(rawControls(r.dom)).toEqual([]);

    // Control: the same head (and Content-Security-Policy) with the values written raw does run a
    // handler, so the check above can see one.
    const page = readFileSync(file, 'utf8');
    const control = join(tmp, 'control.html');
    writeFileSync(control, `${page.slice(0, page.indexOf('</head>'))}</head><body><p>${HOSTILE_AGENT}</p><p>${HOSTILE_WORKER}</p></body></html>`);
    const c = chromiumDom(pathToFileURL(control).href);
    expect(c.status, c.stderr).toBe(0);
    expect(/<title>([^<]*)<\/title>/.exec(c.dom)?.[1]).toMatch(/^pwned-/);
  });
});
