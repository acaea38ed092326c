/** `minerwatch summary` (the administration's table) and `minerwatch report --html FILE`. */
import { closeSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { checkZone, formatTime, levelName, messages, resolveLang, typeName, type Lang } from '../i18n.js';
import { renderHtml } from '../report/html.js';
import { energyText, hashrateText, incompleteLines, periodText, summarize, type Breakdown, type Summary } from '../report/summary.js';
import { displayWidth, formatHashrate, inertJson, inertText, kwhRange } from '../report/format.js';
import { pseudonymiser } from '../report/pseudonym.js';
import { openReport, reportReadError } from '../report/writer.js';
import type { Confidence } from '../types.js';
import type { Io } from './main.js';
import { startProgress, type ProgressSample } from './progress.js';

export interface SummaryCliOptions {
  db: string;
  minConfidence: Confidence;
  lang?: string;
  tz?: string;
  format?: string;
  /**
   * Key for subscriber pseudonyms. The summary prints counts by coin, type and region and never a
   * subscriber id or address; the option is accepted so every export takes the same flags.
   */
  pseudonymise?: string;
}

/** Re-exported from its shared place for the callers that took it from here. */
export { displayWidth };

const pad = (s: string, w: number, right = false): string => {
  const fill = ' '.repeat(Math.max(0, w - displayWidth(s)));
  return right ? fill + s : s + fill;
};

/** An aligned table; numeric columns (given by index) are right-aligned. Cells are made inert (coin, type and region names come from the wire and from files). */
function table(header: string[], body: string[][], numeric: ReadonlySet<number>): string {
  const rows = body.map((r) => r.map(inertText));
  const widths = header.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (vals: string[]): string => vals.map((v, i) => pad(v, widths[i]!, numeric.has(i))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

function label(b: Breakdown, lang: Lang, kind: 'coin' | 'type' | 'region'): string {
  if (b.key === null) return messages(lang).unknown;
  return kind === 'type' ? typeName(b.key, lang) : b.key;
}

/** The summary as plain text in the language, times in the zone. */
export function summaryText(s: Summary, o: { lang: Lang; tz: string; db: string }): string {
  const m = messages(o.lang);
  const out: string[] = [];
  out.push(`${m.summaryTitle}`, '');
  const head: Array<[string, string]> = [
    [m.report, o.db],
    [m.minConfidence, levelName(s.minConfidence, o.lang)],
    [m.timeZone, o.tz],
    [m.miningSubscribers, String(s.miningSubscribers)],
    [m.miningFlows, String(s.miningFlows)],
    [m.period, periodText(s, o.lang, o.tz)],
    [m.hashrate, hashrateText(s, o.lang)],
    [m.energy, energyText(s, o.lang)],
  ];
  const w = Math.max(...head.map(([k]) => displayWidth(k)));
  for (const [k, v] of head) out.push(`${pad(k, w)}  ${inertText(v)}`);
  // Right under the figures it qualifies, so nobody reads them as the whole of the inputs.
  const incomplete = incompleteLines(s, o.lang);
  if (incomplete) {
    out.push('', incomplete.heading);
    for (const line of incomplete.lines) out.push(`- ${inertText(line)}`);
    if (incomplete.more) out.push(incomplete.more);
  }
  const sections: Array<[string, string, Breakdown[], 'coin' | 'type' | 'region']> = [
    [m.byCoin, m.coin, s.byCoin, 'coin'],
    [m.byType, m.type, s.byType, 'type'],
    [m.byRegion, m.region, s.byRegion, 'region'],
  ];
  for (const [title, col, rows, kind] of sections) {
    out.push('', title);
    // Hashrate (coins only) and energy columns when the report has estimates for some row.
    const withHs = rows.some((b) => b.hashrate !== null);
    const withKwh = rows.some((b) => b.kwhPerDay !== null);
    const header = [col, m.subscribers, m.flows, ...(withHs ? [m.hashrate] : []), ...(withKwh ? [m.energy] : [])];
    const body = rows.map((b) => [
      label(b, o.lang, kind),
      String(b.subscribers),
      String(b.flows),
      ...(withHs ? [b.hashrate ? formatHashrate(b.hashrate.hs, b.hashrate.unit) : m.notMeasured] : []),
      ...(withKwh ? [b.kwhPerDay ? kwhRange(b.kwhPerDay.low, b.kwhPerDay.high) : m.notMeasured] : []),
    ]);
    out.push(table(header, body, new Set([1, 2, 3, 4])).trimEnd());
  }
  out.push('', m.method);
  for (const line of s.method) out.push(`- ${inertText(line)}`);
  return out.join('\n') + '\n';
}

function common(o: { lang?: string; tz?: string }): { lang: Lang; tz: string } {
  return { lang: resolveLang(o.lang), tz: checkZone(o.tz) };
}

export function runSummary(o: SummaryCliOptions, io: Io): void {
  const { lang, tz } = common(o);
  const format = o.format ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`--format ${JSON.stringify(format)}: expected table or json`);
  pseudonymiser(o.pseudonymise);
  const db = openReport(o.db, { readonly: true });
  try {
    const s = summarize(db, { minConfidence: o.minConfidence, lang });
    if (format === 'json') {
      const period = {
        first: s.period.first === null ? null : new Date(s.period.first).toISOString(),
        last: s.period.last === null ? null : new Date(s.period.last).toISOString(),
        firstLocal: s.period.first === null ? null : formatTime(s.period.first, tz),
        lastLocal: s.period.last === null ? null : formatTime(s.period.last, tz),
      };
      io.out(inertJson({ ...s, period, lang, tz }, 2) + '\n');
    } else io.out(summaryText(s, { lang, tz, db: o.db }));
  } catch (e) {
    throw reportReadError(o.db, e);
  } finally {
    db.close();
  }
}

/**
 * Write `data` to `path` readable by its owner only (0600, less the umask): a report lists
 * subscribers. A regular file is written beside the target and renamed over it, so the page is
 * whole or absent and an existing file's wider mode does not carry over; anything else (a pipe,
 * /dev/stdout) is written in place.
 * @throws UsageError when the file cannot be written.
 */
export function writePrivateFile(path: string, data: string): void {
  let regular = true;
  try {
    regular = statSync(path).isFile();
  } catch {
    // Absent: created below.
  }
  const target = regular ? join(dirname(path), `.${basename(path)}.${process.pid}.tmp`) : path;
  let fd: number | undefined;
  try {
    fd = openSync(target, regular ? 'wx' : 'w', 0o600);
    writeSync(fd, data);
    closeSync(fd);
    fd = undefined;
    if (regular) renameSync(target, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    if (regular) {
      try {
        unlinkSync(target);
      } catch {
        // Never created.
      }
    }
    throw new UsageError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

export async function runReport(o: { db: string; html: string; minConfidence: Confidence; lang?: string; tz?: string; pseudonymise?: string; quiet?: boolean }, outer: Io): Promise<void> {
  const { lang, tz } = common(o);
  const pseudonymise = pseudonymiser(o.pseudonymise);
  const db = openReport(o.db, { readonly: true });
  // Rendering holds the thread, so the line is drawn from the renderer's own calls, not a timer.
  const at: ProgressSample = { done: 0, total: null, unit: 'subscribers', stage: 'opening the report' };
  const line = await startProgress(outer, { label: 'report', quiet: o.quiet, sample: () => at });
  const io = line.io;
  let html: string;
  let n: number;
  try {
    const r = renderHtml(db, {
      minConfidence: o.minConfidence,
      lang,
      tz,
      title: o.db,
      pseudonymise,
      progress: (stage, done, total) => {
        at.stage = stage;
        at.done = done;
        at.total = total;
        line.draw();
      },
    });
    html = r.html;
    n = r.subscribers;
  } catch (e) {
    throw reportReadError(o.db, e);
  } finally {
    line.stop();
    db.close();
  }
  if (o.html === '-') {
    // The page alone on standard output, so a pipe gets only HTML; the count goes to standard error.
    io.out(html);
    io.err(`minerwatch: HTML report on standard output: ${n} subscriber(s), ${Buffer.byteLength(html)} bytes\n`);
    return;
  }
  writePrivateFile(o.html, html);
  io.out(`${inertText(o.html)}: ${n} subscriber(s), ${Buffer.byteLength(html)} bytes\n`);
}
