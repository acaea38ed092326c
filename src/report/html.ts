/**
 * `minerwatch report --html FILE`: one self-contained HTML page — inline CSS, inline JS, charts as
 * inline SVG drawn here — with no reference to anything outside the file (a Content-Security-Policy
 * of `default-src 'none'` makes the browser refuse any request even if one slipped in). Every value
 * from the report is HTML-escaped (workers and agent strings come off the wire); values are
 * rendered into the markup, never into the script, so no value can reach a script context.
 */
import { confidenceRank, levelsAtLeast } from '../confidence.js';
import type Database from 'better-sqlite3';
import { dayOf, formatTime, levelName, messages, translateEvidence, typeName, type Lang } from '../i18n.js';
import type { Confidence } from '../types.js';
import { endpointText } from '../ip.js';
import { formatHashrate, hashrateLine, inertText, kwhRange } from './format.js';
import type { Pseudonymiser } from './pseudonym.js';
import { energyText, hashrateText, incompleteLines, periodText, summarize, type Breakdown, type Summary } from './summary.js';

/** Timeline rows shown per subscriber. */
export const TIMELINE_CAP = 50;
/** A period of at most this many days is charted per day. */
export const DAILY_BINS_MAX_DAYS = 120;
/** A longer period of at most this many days (about two years) is charted per week; a longer one per month. */
export const WEEKLY_BINS_MAX_DAYS = 731;


/**
 * Escape text for HTML element content and quoted attribute values. `/` is escaped too, so no value
 * can spell a URL scheme's `//` or close a tag; display controls (ESC, BEL, bidi overrides …)
 * become visible `\uXXXX` text first, so none reaches the page source or reorders what it shows.
 */
export function escapeHtml(v: unknown): string {
  return inertText(String(v ?? '')).replace(/[&<>"'/`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const e = escapeHtml;

export interface HtmlOptions {
  minConfidence: Confidence;
  lang: Lang;
  tz: string;
  /** Shown in the heading (the report file name). */
  title?: string;
  /** Time the page says it was generated (ms); default now. */
  now?: number;
  /** Subscriber ids, accounts and subscriber addresses shown as keyed pseudonyms. */
  pseudonymise?: Pseudonymiser | null;
  /**
   * Told where the page stands: each step's name as it begins, then subscriber rows done of the
   * whole every {@link PROGRESS_ROWS} rows (a progress line draws from it; rendering holds the thread).
   */
  progress?: (stage: string, done: number, total: number | null) => void;
}

/** Subscriber rows rendered between two progress calls. */
const PROGRESS_ROWS = 64;

interface FlowLine {
  subscriber: string;
  client: string;
  first_seen: number;
  last_seen: number;
  server: string;
  server_port: number;
  transport: string;
  outcome: string | null;
  confidence: string;
  coin: string | null;
  rules: string;
  pool: string | null;
  server_name: string | null;
}

const list = (v: unknown): string[] => {
  try {
    const x = JSON.parse(String(v ?? '[]')) as unknown;
    return Array.isArray(x) ? x.map(String) : [];
  } catch {
    return [];
  }
};

/** A horizontal bar chart as inline SVG. */
export function barChart(title: string, items: ReadonlyArray<{ label: string; value: number }>, noData: string, testid: string): string {
  const W = 560;
  const L = 170;
  const bar = 20;
  const gap = 6;
  const H = Math.max(1, items.length) * (bar + gap) + 10;
  const max = Math.max(1, ...items.map((i) => i.value));
  const body = items.length
    ? items
        .map((it, i) => {
          const y = 5 + i * (bar + gap);
          const w = Math.max(it.value > 0 ? 2 : 0, Math.round(((W - L - 50) * it.value) / max));
          const lab = it.label.length > 24 ? `${it.label.slice(0, 23)}…` : it.label;
          return `<g><title>${e(it.label)}: ${it.value}</title><text x="${L - 8}" y="${y + 15}" text-anchor="end">${e(lab)}</text><rect x="${L}" y="${y}" width="${w}" height="${bar}" class="bar"></rect><text x="${L + w + 6}" y="${y + 15}">${it.value}</text></g>`;
        })
        .join('')
    : `<text x="10" y="20">${e(noData)}</text>`;
  return `<figure><figcaption>${e(title)}</figcaption><svg data-testid="${e(testid)}" role="img" aria-label="${e(title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">${body}</svg></figure>`;
}

/** How long one bar of the activity chart is. */
export type ActivityUnit = 'day' | 'week' | 'month';

/** One bar of the activity chart: the days of the period it covers (`YYYY-MM-DD`, in the zone) and its count. */
export interface ActivityBin {
  /** First and last day of the period inside the bin. */
  start: string;
  end: string;
  /** Distinct mining subscribers active on any of those days. */
  n: number;
}

/** The activity chart's bars over the whole period of the report's mining flows. */
export interface Activity {
  unit: ActivityUnit;
  /** Calendar days from the first to the last mining flow, both included. */
  days: number;
  bins: ActivityBin[];
}

const DAY_MS = 86_400_000;

/** Monday of the week of a `YYYY-MM-DD` day (weeks as ISO 8601 counts them). */
function weekOf(day: string): string {
  const t = Date.parse(`${day}T00:00:00Z`);
  const back = (new Date(t).getUTCDay() + 6) % 7;
  return new Date(t - back * DAY_MS).toISOString().slice(0, 10);
}

/** Mining subscribers active per calendar day in the zone (a flow counts on every day it spans), every day of the period. */
export function activityByDay(flows: ReadonlyArray<{ subscriber: string; first_seen: number; last_seen: number }>, tz: string): Array<{ day: string; subscribers: ReadonlySet<string> }> {
  if (!flows.length) return [];
  const STEP = 6 * 3600_000; // shorter than any day, so stepping never skips one
  const perDay = new Map<string, Set<string>>();
  let first = Infinity;
  let last = -Infinity;
  for (const f of flows) {
    first = Math.min(first, f.first_seen);
    last = Math.max(last, f.last_seen);
    const days = new Set<string>([dayOf(f.last_seen, tz)]);
    for (let t = f.first_seen; t < f.last_seen; t += STEP) days.add(dayOf(t, tz));
    for (const d of days) {
      let s = perDay.get(d);
      if (!s) perDay.set(d, (s = new Set()));
      s.add(f.subscriber);
    }
  }
  const all = new Set<string>([dayOf(last, tz)]);
  for (let t = first; t < last; t += STEP) all.add(dayOf(t, tz));
  const none: ReadonlySet<string> = new Set();
  return [...all].sort().map((day) => ({ day, subscribers: perDay.get(day) ?? none }));
}

/**
 * The activity chart's bars: one per day up to {@link DAILY_BINS_MAX_DAYS} days, one per week
 * (Monday to Sunday) up to {@link WEEKLY_BINS_MAX_DAYS}, else one per calendar month, so the whole
 * period is always drawn. A bar counts the distinct subscribers active on any of its days.
 */
export function activityBins(flows: ReadonlyArray<{ subscriber: string; first_seen: number; last_seen: number }>, tz: string): Activity {
  const days = activityByDay(flows, tz);
  const unit: ActivityUnit = days.length <= DAILY_BINS_MAX_DAYS ? 'day' : days.length <= WEEKLY_BINS_MAX_DAYS ? 'week' : 'month';
  const keyOf = unit === 'day' ? (d: string) => d : unit === 'week' ? weekOf : (d: string) => d.slice(0, 7);
  const bins: Array<ActivityBin & { who: Set<string> }> = [];
  let key = '';
  for (const d of days) {
    const k = keyOf(d.day);
    if (!bins.length || k !== key) {
      bins.push({ start: d.day, end: d.day, n: 0, who: new Set() });
      key = k;
    }
    const b = bins[bins.length - 1]!;
    b.end = d.day;
    for (const s of d.subscribers) b.who.add(s);
  }
  return { unit, days: days.length, bins: bins.map((b) => ({ start: b.start, end: b.end, n: b.who.size })) };
}

/** Label under a bar: the day, the week's first day, or the month. */
function binLabel(b: ActivityBin, unit: ActivityUnit): string {
  return unit === 'month' ? b.start.slice(0, 7) : b.start;
}

/** Vertical bars over the whole period, one per day, week or month (see {@link activityBins}). */
export function activityChart(title: string, a: Activity, note: string | null, noData: string): string {
  const W = 1100;
  const H = 220;
  const top = 20;
  const bottom = 40;
  const left = 40;
  const bins = a.bins;
  const max = Math.max(1, ...bins.map((d) => d.n));
  const slot = bins.length ? (W - left - 10) / bins.length : 0;
  const bw = Math.min(48, Math.max(1, slot * 0.8));
  const y = (n: number): number => top + (H - top - bottom) * (1 - n / max);
  let body = '';
  if (!bins.length) body = `<text x="10" y="20">${e(noData)}</text>`;
  else {
    body += `<line x1="${left}" y1="${H - bottom}" x2="${W - 10}" y2="${H - bottom}" class="axis"></line>`;
    body += `<text x="${left - 6}" y="${y(max) + 4}" text-anchor="end">${max}</text><text x="${left - 6}" y="${H - bottom + 4}" text-anchor="end">0</text>`;
    bins.forEach((d, i) => {
      const x = left + i * slot + (slot - bw) / 2;
      const span = d.start === d.end ? d.start : `${d.start} – ${d.end}`;
      body += `<rect data-testid="activity-bin" data-start="${e(d.start)}" data-end="${e(d.end)}" data-n="${d.n}" x="${x.toFixed(1)}" y="${y(d.n).toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - bottom - y(d.n)).toFixed(1)}" class="bar"><title>${e(span)}: ${d.n}</title></rect>`;
    });
    // At most about seven labels, evenly spaced, first and last included.
    const step = Math.max(1, Math.ceil((bins.length - 1) / 6));
    const labels = new Set<number>([0, bins.length - 1]);
    for (let i = step; i < bins.length - step / 2; i += step) labels.add(i);
    for (const i of [...labels].sort((p, q) => p - q)) {
      const x = left + i * slot + slot / 2;
      const anchor = bins.length > 1 && i === 0 ? 'start' : bins.length > 1 && i === bins.length - 1 ? 'end' : 'middle';
      body += `<text x="${(anchor === 'start' ? left : anchor === 'end' ? W - 10 : x).toFixed(1)}" y="${H - bottom + 18}" text-anchor="${anchor}">${e(binLabel(bins[i]!, a.unit))}</text>`;
    }
  }
  return `<figure class="wide"><figcaption>${e(title)}${note ? ` <small data-testid="activity-note">(${e(note)})</small>` : ''}</figcaption><svg data-testid="chart-activity" data-unit="${a.unit}" data-bins="${bins.length}" data-days="${a.days}" role="img" aria-label="${e(title)}" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMinYMin meet">${body}</svg></figure>`;
}

function breakdownRows(rows: Breakdown[], lang: Lang, kind: 'coin' | 'type' | 'region', withHs: boolean, withKwh: boolean): string {
  const m = messages(lang);
  return rows
    .map((b) => {
      const name = b.key === null ? m.unknown : kind === 'type' ? typeName(b.key, lang) : b.key;
      const hs = withHs ? `<td class="num" data-testid="by${kind}-hashrate">${e(b.hashrate ? formatHashrate(b.hashrate.hs, b.hashrate.unit) : m.notMeasured)}</td>` : '';
      const kwh = withKwh ? `<td class="num" data-testid="by${kind}-kwh">${e(b.kwhPerDay ? kwhRange(b.kwhPerDay.low, b.kwhPerDay.high) : m.notMeasured)}</td>` : '';
      return `<tr data-testid="by${kind}-row" data-key="${e(b.key ?? '')}"${b.key === null ? ' data-unknown="1"' : ''}><td>${e(name)}</td><td class="num" data-testid="by${kind}-subscribers">${b.subscribers}</td><td class="num" data-testid="by${kind}-flows">${b.flows}</td>${hs}${kwh}</tr>`;
    })
    .join('');
}

interface RateRow {
  coin: string | null;
  algorithm: string | null;
  unit: string;
  shares: number;
  seconds: number;
  hashrate_hs: number | null;
  rel_err: number | null;
  reported_hs: number | null;
  /** Shares that could not be valued: the rollup stores them as flows' shares minus valued ones. */
  unvalued: number;
}

const CSS = `
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d6dbe1;--bar:#c0392b;--bg:#fff;--head:#f3f5f7}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;color:var(--fg);background:var(--bg);margin:24px;line-height:1.4}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.meta{color:var(--muted);font-size:13px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--head)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.key{display:flex;gap:16px;flex-wrap:wrap}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:150px}
.card .v{font-size:24px;font-weight:600}
.card .k{color:var(--muted);font-size:12px}
.breakdowns{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.charts{display:flex;gap:16px;flex-wrap:wrap}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px}
figure.wide{flex-basis:100%}
figcaption{font-weight:600;font-size:13px;margin-bottom:6px}
svg text{font-size:12px;fill:var(--fg)}
svg .bar{fill:var(--bar)}svg .axis{stroke:var(--muted)}
ol.method{font-size:13px;color:var(--muted);max-width:1100px}
#q{font-size:14px;padding:6px 8px;width:420px;max-width:100%}
.scroll{overflow:auto;max-width:100%;max-height:85vh;border:1px solid var(--line)}
.subs thead th{position:sticky;top:0;z-index:1}
.subs td{overflow-wrap:normal;word-break:normal}
th,.subs td.nw,.subs .nw{white-space:nowrap}
.subs td.wk{min-width:160px;max-width:240px;overflow-wrap:anywhere}
.subs td.ev{min-width:320px;max-width:640px;overflow-wrap:anywhere}
.subs td.hr{min-width:200px}
.tlbox{overflow-x:auto;max-width:100%}
.tl td{white-space:nowrap}
.subs code,.tl code{font-size:12px}
details summary{cursor:pointer;color:#1a5fb4}
.tl{margin-top:6px}
[hidden]{display:none!important}
.warn{border:2px solid #b35900;background:#fff4e5;border-radius:6px;padding:10px 14px;margin:12px 0;max-width:1100px}
.warn ul{margin:6px 0 0;padding-left:20px;font-size:13px}
`;

const JS = `
(function(){
  var q=document.getElementById('q');
  var rows=Array.prototype.slice.call(document.querySelectorAll('tr[data-testid="subscriber-row"]'));
  var out=document.getElementById('count');
  function apply(){
    var t=q.value.trim().toLowerCase(),n=0;
    rows.forEach(function(r){var ok=!t||r.textContent.toLowerCase().indexOf(t)>=0;r.hidden=!ok;if(ok)n++;});
    out.textContent=n+' / '+rows.length;
  }
  q.addEventListener('input',apply);
  apply();
  document.documentElement.setAttribute('data-ready','1');
})();
`;

/** The whole page; also returns the number of subscriber rows. */
export function renderHtml(db: Database.Database, o: HtmlOptions): { html: string; subscribers: number; summary: Summary } {
  const m = messages(o.lang);
  o.progress?.('summing up the report', 0, null);
  const s = summarize(db, { minConfidence: o.minConfidence, lang: o.lang });
  o.progress?.('reading mining flows', 0, null);
  const levels = levelsAtLeast(o.minConfidence, false);
  const flows = db
    .prepare(
      `SELECT subscriber, client, first_seen, last_seen, server, server_port, transport, outcome, confidence, coin, rules, pool, server_name FROM flows
       WHERE label = 'mining' AND subscriber IS NOT NULL AND confidence IN (${levels.map(() => '?').join(', ')}) ORDER BY first_seen, id`,
    )
    .all(...levels) as FlowLine[];
  const bySub = new Map<string, FlowLine[]>();
  for (const f of flows) {
    let l = bySub.get(f.subscriber);
    if (!l) bySub.set(f.subscriber, (l = []));
    l.push(f);
  }
  const rates = new Map<string, RateRow[]>();
  for (const h of db.prepare('SELECT * FROM subscriber_hashrate ORDER BY subscriber, coin, algorithm').all() as Array<RateRow & { subscriber: string }>) {
    let l = rates.get(h.subscriber);
    if (!l) rates.set(h.subscriber, (l = []));
    l.push(h);
  }
  // Ties are ordered by what the page shows, so pseudonymised rows do not keep their addresses' order.
  const shownId = (r: Record<string, unknown>): string => (o.pseudonymise ? o.pseudonymise.of(String(r.subscriber)) : String(r.subscriber));
  const subRows = (db.prepare('SELECT * FROM subscribers').all() as Array<Record<string, unknown>>)
    .filter((r) => bySub.has(r.subscriber as string))
    .sort((a, b) => confidenceRank(b.confidence as string) - confidenceRank(a.confidence as string) || (b.mining_flows as number) - (a.mining_flows as number) || shownId(a).localeCompare(shownId(b)));

  // Charts.
  const label = (b: Breakdown, kind: 'coin' | 'type' | 'region'): string => (b.key === null ? m.unknown : kind === 'type' ? typeName(b.key, o.lang) : b.key);
  const activity = activityBins(flows, o.tz);
  const activityTitle = activity.unit === 'day' ? m.chartActivity : activity.unit === 'week' ? m.chartActivityWeek : m.chartActivityMonth;
  const charts = [
    activityChart(activityTitle, activity, activity.days ? m.chartBinsNote(activity.unit, activity.bins.length, activity.days) : null, m.noData),
    barChart(m.chartByCoin, s.byCoin.map((b) => ({ label: label(b, 'coin'), value: b.subscribers })), m.noData, 'chart-coin'),
    barChart(m.chartByType, s.byType.map((b) => ({ label: label(b, 'type'), value: b.subscribers })), m.noData, 'chart-type'),
    barChart(m.chartByRegion, s.byRegion.map((b) => ({ label: label(b, 'region'), value: b.subscribers })), m.noData, 'chart-region'),
  ].join('');
  // Hashrate per coin group, when measured.
  const hashrateCell = s.hashrate
    ? `<span data-testid="summary-hashrate" data-measured="1">${e(hashrateText(s, o.lang))}</span>`
    : `<span data-testid="summary-hashrate" data-measured="0">${e(m.notMeasured)}</span>`;
  const energyCell = s.energy
    ? `<span data-testid="summary-energy" data-measured="1">${e(energyText(s, o.lang))}</span>`
    : `<span data-testid="summary-energy" data-measured="0">${e(m.notMeasured)}</span>`;
  const breakdownTable = (title: string, col: string, rows: Breakdown[], kind: 'coin' | 'type' | 'region'): string => {
    // Hashrate (coins only) and energy columns when the report has estimates for some row.
    const withHs = rows.some((b) => b.hashrate !== null);
    const withKwh = rows.some((b) => b.kwhPerDay !== null);
    const extra = `${withHs ? `<th class="num">${e(m.hashrate)}</th>` : ''}${withKwh ? `<th class="num">${e(m.energy)}</th>` : ''}`;
    return `<div><h3>${e(title)}</h3><table data-testid="by${kind}"><thead><tr><th>${e(col)}</th><th class="num">${e(m.subscribers)}</th><th class="num">${e(m.flows)}</th>${extra}</tr></thead><tbody>${breakdownRows(rows, o.lang, kind, withHs, withKwh)}</tbody></table></div>`;
  };

  // Subscriber table.
  o.progress?.('subscriber rows', 0, subRows.length);
  const subHtml = subRows
    .map((r, i) => {
      if (i > 0 && i % PROGRESS_ROWS === 0) o.progress?.('subscriber rows', i, subRows.length);
      const id = r.subscriber as string;
      const fl = bySub.get(id) ?? [];
      const p = o.pseudonymise ?? null;
      const account = r.account ? String(r.account) : null;
      const shownId = p ? p.of(id) : id;
      const shownAccount = p && account !== null ? p.of(account) : account;
      const stored = String(r.evidence ?? '');
      const evidence = translateEvidence(p ? p.text(stored, [id, ...(account ? [account] : []), ...new Set(fl.map((f) => f.client))]) : stored, o.lang);
      const shown = fl.slice(0, TIMELINE_CAP);
      const tl = shown
        .map((f) => {
          const srv = endpointText(f.server, f.server_port);
          const name = f.pool ?? f.server_name;
          return `<tr><td>${e(formatTime(f.first_seen, o.tz))}</td><td><code>${e(srv)}</code>/${e(f.transport)}${name ? ` (${e(name)})` : ''}</td><td>${e(levelName(f.confidence, o.lang))}</td><td>${e(f.coin ?? '')}</td><td>${e(f.outcome ?? '')}</td><td><code>${e(f.rules.split(',').filter(Boolean).join(', '))}</code></td></tr>`;
        })
        .join('');
      const capNote = fl.length > shown.length ? `<p data-testid="timeline-capped">${e(m.timelineCapped(shown.length, fl.length))}</p>` : '';
      const timeline = `<details class="tl"><summary>${e(m.timeline)} (${fl.length})</summary><div class="tlbox"><table><thead><tr><th>${e(m.time)}</th><th>${e(m.server)}</th><th>${e(m.confidence)}</th><th>${e(m.coin)}</th><th>${e(m.outcome)}</th><th>${e(m.rules)}</th></tr></thead><tbody>${tl}</tbody></table></div>${capNote}</details>`;
      const joined = (k: string): string => list(r[k]).map((x) => `<span class="nw">${e(x)}</span>`).join('<br>');
      const listed = (k: string): string => list(r[k]).map((x) => e(x)).join('<br>');
      const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
      // One line per coin: rate ± error from N shares over the time mined, and the miner's own figure.
      const lines = (rates.get(id) ?? []).map((h) =>
        hashrateLine({ coin: h.coin, algorithm: h.algorithm, unit: h.unit, shares: h.shares, unvalued: h.unvalued, seconds: h.seconds, hashrateHs: h.hashrate_hs, relErr: h.rel_err, reportedHs: h.reported_hs }, m),
      );
      const hs = num(r.hashrate_hs);
      const lo = num(r.power_w_low);
      const hi = num(r.power_w_high);
      const extra =
        `<td class="hr" data-testid="subscriber-hashrate"${hs !== null ? ` data-hs="${hs}"` : ''}>${lines.length ? lines.map((l) => e(l)).join('<br>') : e(m.notMeasured)}</td>` +
        `<td class="num">${lo === null || hi === null ? e(m.notMeasured) : e(kwhRange((lo * 24) / 1000, (hi * 24) / 1000))}</td>`;
      const type = r.type ? typeName(String(r.type), o.lang) : m.unknown;
      return `<tr data-testid="subscriber-row" data-subscriber="${e(shownId)}"><td class="nw" data-col="subscriber"><code>${e(shownId)}</code>${shownAccount ? `<br><small>${e(shownAccount)}</small>` : ''}</td><td class="nw" data-col="type">${e(type)}</td><td class="nw" data-col="region">${e(r.region ?? m.unknown)}</td><td class="nw" data-col="confidence">${e(levelName(String(r.confidence), o.lang))}</td><td class="nw" data-col="seen">${e(formatTime(r.first_seen as number, o.tz))}<br>${e(formatTime(r.last_seen as number, o.tz))}</td><td class="num" data-testid="subscriber-flows">${fl.length}</td><td data-col="coins">${joined('coins')}</td><td data-col="pools">${joined('pools')}</td><td data-col="agents">${listed('agents')}</td><td class="wk" data-col="workers">${listed('workers')}</td>${extra}<td class="ev" data-col="evidence">${e(evidence)}${timeline}</td></tr>`;
    })
    .join('');
  const extraHead = `<th class="num">${e(m.hashrate)}</th><th class="num">${e(m.energy)}</th>`;
  // Above the figures, so they are not read as the whole of the inputs.
  const incomplete = incompleteLines(s, o.lang);
  const warning = incomplete
    ? `<section class="warn" role="alert" data-testid="incomplete-inputs" data-count="${s.incompleteInputs.length}"><strong>${e(incomplete.heading)}</strong><ul>${incomplete.lines
        .map((line, i) => `<li data-testid="incomplete-input" data-status="${e(s.incompleteInputs[i]!.status)}">${e(line)}</li>`)
        .join('')}${incomplete.more ? `<li data-testid="incomplete-more">${e(incomplete.more)}</li>` : ''}</ul></section>\n`
    : '';
  const now = o.now ?? Date.now();

  const html = `<!DOCTYPE html>
<html lang="${e(o.lang)}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(m.reportTitle)}${o.title ? ` — ${e(o.title)}` : ''}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${e(m.reportTitle)}</h1>
<p class="meta">${o.title ? `${e(m.report)}: <code>${e(o.title)}</code> · ` : ''}${e(m.minConfidence)}: <span data-testid="min-confidence">${e(levelName(o.minConfidence, o.lang))}</span> · ${e(m.timeZone)}: <span data-testid="tz">${e(o.tz)}</span> · ${e(m.generated)}: ${e(formatTime(now, o.tz))}</p>
${warning}<section class="key">
<div class="card"><div class="v" data-testid="summary-subscribers">${s.miningSubscribers}</div><div class="k">${e(m.miningSubscribers)}</div></div>
<div class="card"><div class="v" data-testid="summary-flows">${s.miningFlows}</div><div class="k">${e(m.miningFlows)}</div></div>
<div class="card"><div class="v">${hashrateCell}</div><div class="k">${e(m.hashrate)}</div></div>
<div class="card"><div class="v">${energyCell}</div><div class="k">${e(m.energy)}</div></div>
</section>
<p>${e(m.period)}: <span data-testid="summary-period">${e(periodText(s, o.lang, o.tz))}</span></p>
<div class="breakdowns">
${breakdownTable(m.byCoin, m.coin, s.byCoin, 'coin')}
${breakdownTable(m.byType, m.type, s.byType, 'type')}
${breakdownTable(m.byRegion, m.region, s.byRegion, 'region')}
</div>
<h2>${e(m.method)}</h2>
<ol class="method">${s.method.map((x) => `<li>${e(x)}</li>`).join('')}</ol>
<h2>${e(m.charts)}</h2>
<div class="charts">${charts}</div>
<h2>${e(m.subscriberTable)}</h2>
<p><label>${e(m.search)}: <input id="q" type="search" autocomplete="off" placeholder="${e(m.searchPlaceholder)}"></label> <span>${e(m.shown)}: <span id="count" data-testid="visible-count"></span></span></p>
<div class="scroll"><table class="subs" data-testid="subscribers"><thead><tr><th>${e(m.subscriber)}</th><th>${e(m.type)}</th><th>${e(m.region)}</th><th>${e(m.confidence)}</th><th>${e(m.firstSeen)}<br>${e(m.lastSeen)}</th><th class="num">${e(m.miningFlows)}</th><th>${e(m.coins)}</th><th>${e(m.pools)}</th><th>${e(m.agents)}</th><th>${e(m.workers)}</th>${extraHead}<th>${e(m.evidence)}</th></tr></thead>
<tbody>${subHtml}</tbody></table></div>
<script>${JS}</script>
</body>
</html>
`;
  return { html, subscribers: subRows.length, summary: s };
}
