/**
 * Output formats for query rows (aligned text table, CSV (RFC 4180), JSON lines) and for figures,
 * and the one place wire strings are made inert for display ({@link inertText}, {@link inertJson}).
 */
import type { Catalogue } from '../i18n.js';

type Cell = string | number | null | readonly string[];

/**
 * Code points that can take over a terminal or change what it shows: C0 controls (ESC, BEL, CR,
 * tab …), DEL, C1 controls (CSI, OSC …), the bidi marks, embeddings, overrides and isolates
 * (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069), the Unicode line and paragraph
 * separators and the byte-order mark.
 */
const DISPLAY_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/** The same less C0, which `JSON.stringify` always escapes inside strings (and whose newlines indent its output). */
const JSON_RAW_CONTROLS = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const uEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text as it may be shown (table, terminal, CSV, HTML): every display control is replaced by a
 * visible escape such as `\u202e`, so a worker name, agent, SNI or pool name off the wire keeps its
 * characters but cannot move the cursor, set a title, ring, or reorder the line around it.
 */
export function inertText(s: string): string {
  return s.replace(DISPLAY_CONTROLS, uEscape);
}

/**
 * `JSON.stringify` whose output holds no display control: the ones JSON leaves raw (DEL, C1, bidi,
 * U+2028/U+2029, BOM) are written as `\uXXXX` escapes, which only occur inside string literals, so
 * the parsed value is unchanged and `cat` of the file cannot control a terminal.
 */
export function inertJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(JSON_RAW_CONTROLS, uEscape);
}

/**
 * Input text quoted for a message ({@link inertJson}): its first `max` characters, with its length
 * said when it is longer, so a megabyte-long header value or field gives one short line.
 */
export function quotedExcerpt(text: string, max = 80): string {
  return text.length > max ? `${inertJson(text.slice(0, max))}… (${text.length} characters)` : inertJson(text);
}

function text(c: Cell): string {
  if (c === null) return '';
  if (Array.isArray(c)) return c.join(' ');
  return String(c);
}

/**
 * One CSV field (RFC 4180): display controls escaped; a text cell that a spreadsheet would take
 * for a formula (leading `=`, `+`, `-`, `@`) is prefixed with `'`. Numbers are written as they are.
 */
function csvField(c: Cell): string {
  const s = inertText(text(c));
  const t = typeof c !== 'number' && /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** The CSV header line (with CRLF); `headers` renames columns. */
export function csvHeader(columns: readonly string[], headers?: Readonly<Record<string, string>>): string {
  return columns.map((c) => csvField(headers?.[c] ?? c)).join(',') + '\r\n';
}

/** One CSV record (with CRLF); list cells are joined with spaces. */
export function csvLine(columns: readonly string[], row: Readonly<Record<string, Cell>>): string {
  return columns.map((c) => csvField(row[c] ?? null)).join(',') + '\r\n';
}

/** RFC 4180 CSV of all rows (see {@link csvLine}). */
export function toCsv(columns: readonly string[], rows: ReadonlyArray<Record<string, Cell>>, headers?: Readonly<Record<string, string>>): string {
  let out = csvHeader(columns, headers);
  for (const r of rows) out += csvLine(columns, r);
  return out;
}

/** One JSON line (with newline), display controls escaped. */
export function jsonLine(row: unknown): string {
  return inertJson(row) + '\n';
}

export function toJsonLines(rows: readonly unknown[]): string {
  return rows.map(jsonLine).join('');
}

/** Terminal columns a string takes: East Asian wide and full-width characters take two. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

function charWidth(c: number): number {
  const wide =
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x20000 && c <= 0x3fffd);
  return wide ? 2 : 1;
}

/** `s` padded with spaces to `width` display columns (on the left when `right`). */
export function padDisplay(s: string, width: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(s)));
  return right ? fill + s : s + fill;
}

/**
 * `s` cut to at most `width` display columns, ending in `…` when cut; a wide character that would
 * straddle the edge is left out rather than split.
 */
export function cutDisplay(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/** Narrowest a text column is cut to when a table is fitted (a narrower one is left whole). */
export const MIN_CUT_WIDTH = 8;

/**
 * The line width a table on `stream` is fitted to: the terminal's columns when it is one; else
 * `COLUMNS` from the environment when set to a number; else none (Infinity), so a table written to a
 * pipe or a file keeps its cells whole, as `ls` and `ps` do.
 */
export function terminalColumns(stream: { isTTY?: boolean; columns?: number } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  if (stream.isTTY && typeof stream.columns === 'number' && stream.columns > 0) return stream.columns;
  const cols = Number(env.COLUMNS);
  return Number.isInteger(cols) && cols > 0 ? cols : Infinity;
}

/** How a table is fitted to a line. */
export interface TableFit {
  /** Display columns a line may take (Infinity: no limit); default {@link terminalColumns}. */
  width?: number;
}

const GAP = 2;

/**
 * An aligned plain-text table built in two passes over the rows, so rows can be streamed from the
 * report: {@link TableLayout.measure} every row, then write {@link TableLayout.head} and a
 * {@link TableLayout.line} per row. Cells are made inert and padded by display width (a Chinese
 * character takes two columns). When the widest line would not fit `fit.width`, the widest text
 * columns are narrowed to one common width, never below {@link MIN_CUT_WIDTH}, and their longer
 * cells end in `…`; columns holding only numbers are never cut. A table whose narrowed columns
 * still do not fit is left wider than the line rather than cut further.
 */
export class TableLayout {
  private readonly natural: number[];
  private readonly numeric: boolean[];
  private readonly names: string[];
  private readonly lineWidth: number;
  private fitted: number[] | null = null;

  /** @param fit the line width to fit (default: the terminal's, see {@link terminalColumns}). */
  constructor(
    private readonly columns: readonly string[],
    fit: TableFit = {},
    headers?: Readonly<Record<string, string>>,
  ) {
    this.names = columns.map((c) => inertText(headers?.[c] ?? c));
    this.natural = this.names.map(displayWidth);
    this.numeric = columns.map(() => true);
    this.lineWidth = fit.width ?? terminalColumns();
  }

  private cells(row: Readonly<Record<string, Cell>>): string[] {
    return this.columns.map((c) => inertText(text(row[c] ?? null)));
  }

  measure(row: Readonly<Record<string, Cell>>): void {
    this.fitted = null;
    this.columns.forEach((c, i) => {
      const v = row[c] ?? null;
      if (v !== null && typeof v !== 'number') this.numeric[i] = false;
      const w = displayWidth(inertText(text(v)));
      if (w > this.natural[i]!) this.natural[i] = w;
    });
  }

  /** Column widths after fitting: the largest common cap on text columns that lets a line fit. */
  widths(): readonly number[] {
    if (this.fitted) return this.fitted;
    const floor = this.natural.map((w, i) => (this.numeric[i] ? w : Math.min(w, MIN_CUT_WIDTH)));
    const at = (cap: number): number[] => this.natural.map((w, i) => Math.max(floor[i]!, Math.min(w, cap)));
    const total = (ws: readonly number[]): number => ws.reduce((a, w) => a + w, 0) + GAP * Math.max(0, ws.length - 1);
    let lo = 0;
    let hi = Math.max(0, ...this.natural);
    if (total(at(hi)) > this.lineWidth) {
      // Largest cap whose table fits; at(0) is the floors, the narrowest the table gets.
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (total(at(mid)) <= this.lineWidth) lo = mid;
        else hi = mid - 1;
      }
      hi = lo;
    }
    this.fitted = at(hi);
    return this.fitted;
  }

  private join(vals: readonly string[]): string {
    const ws = this.widths();
    return vals.map((v, i) => padDisplay(cutDisplay(v, ws[i]!), ws[i]!)).join(' '.repeat(GAP)).trimEnd() + '\n';
  }

  /** Header and rule lines. */
  head(): string {
    return this.join(this.names) + this.join(this.widths().map((w) => '-'.repeat(w)));
  }

  line(row: Readonly<Record<string, Cell>>): string {
    return this.join(this.cells(row));
  }
}

/** Aligned plain-text table fitted to a line (see {@link TableLayout}). */
export function toTable(columns: readonly string[], rows: ReadonlyArray<Record<string, Cell>>, fit: TableFit = {}, headers?: Readonly<Record<string, string>>): string {
  const t = new TableLayout(columns, fit, headers);
  for (const r of rows) t.measure(r);
  let out = t.head();
  for (const r of rows) out += t.line(r);
  return out;
}

/** A hashrate with SI prefix: `12.3 kH/s`. */
export function formatHashrate(hs: number, unit = 'H/s'): string {
  const units = ['', 'k', 'M', 'G', 'T', 'P', 'E'].map((p) => p + unit);
  let v = hs;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** kWh (per day): whole above 100, one decimal above 1, two significant digits below. */
export function formatKwh(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 1 || v === 0) return v.toFixed(1);
  return v.toPrecision(2);
}

/** A kWh/day range, `low – high` (one figure when they print the same). */
export function kwhRange(low: number, high: number): string {
  const lo = formatKwh(low);
  const hi = formatKwh(high);
  return lo === hi ? lo : `${lo} – ${hi}`;
}

/** A time span in seconds: 42 s, 18 min, 3.5 h. */
export function formatDuration(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** One subscriber's hashrate for one coin, as a line is made of it. */
export interface HashrateLine {
  coin: string | null;
  algorithm: string | null;
  unit: string;
  shares: number;
  unvalued: number;
  seconds: number;
  hashrateHs: number | null;
  relErr: number | null;
  reportedHs: number | null;
}

/** `XMR (randomx): 67.7 H/s ± 50% from 4 shares over 10 min; miner reports …`, in the catalogue's language. */
export function hashrateLine(h: HashrateLine, m: Pick<Catalogue, 'unknownCoin' | 'notMeasured' | 'fromShares' | 'unvaluedShares' | 'minerReports'>): string {
  const what = `${h.coin ?? m.unknownCoin}${h.algorithm ? ` (${h.algorithm})` : ''}`;
  const unvalued = h.unvalued > 0 ? `; ${m.unvaluedShares(h.unvalued)}` : '';
  const reported = h.reportedHs !== null ? `; ${m.minerReports} ${formatHashrate(h.reportedHs, h.unit)}` : '';
  if (h.hashrateHs === null) return `${what}: ${m.notMeasured}${unvalued}${reported}`;
  return `${what}: ${formatHashrate(h.hashrateHs, h.unit)} ± ${Math.round((h.relErr ?? 0) * 100)}% ${m.fromShares(h.shares, formatDuration(h.seconds))}${unvalued}${reported}`;
}
