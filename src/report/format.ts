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

/**
 * An aligned plain-text table built in two passes over the rows, so rows can be streamed from the
 * report: {@link TableLayout.measure} every row, then write {@link TableLayout.head} and a
 * {@link TableLayout.line} per row. Cells are made inert and cut to `maxWidth`.
 */
export class TableLayout {
  private readonly widths: number[];
  private readonly names: string[];

  constructor(
    private readonly columns: readonly string[],
    private readonly maxWidth = 60,
    headers?: Readonly<Record<string, string>>,
  ) {
    this.names = columns.map((c) => inertText(headers?.[c] ?? c));
    this.widths = this.names.map((n) => n.length);
  }

  private cells(row: Readonly<Record<string, Cell>>): string[] {
    return this.columns.map((c) => {
      const t = inertText(text(row[c] ?? null));
      return t.length > this.maxWidth ? `${t.slice(0, this.maxWidth - 1)}…` : t;
    });
  }

  measure(row: Readonly<Record<string, Cell>>): void {
    this.cells(row).forEach((t, i) => {
      if (t.length > this.widths[i]!) this.widths[i] = t.length;
    });
  }

  private join(vals: readonly string[]): string {
    return vals.map((v, i) => v.padEnd(this.widths[i]!)).join('  ').trimEnd() + '\n';
  }

  /** Header and rule lines. */
  head(): string {
    return this.join(this.names) + this.join(this.widths.map((w) => '-'.repeat(w)));
  }

  line(row: Readonly<Record<string, Cell>>): string {
    return this.join(this.cells(row));
  }
}

/** Aligned plain-text table; long cells are cut to `maxWidth`. */
export function toTable(columns: readonly string[], rows: ReadonlyArray<Record<string, Cell>>, maxWidth = 60, headers?: Readonly<Record<string, string>>): string {
  const t = new TableLayout(columns, maxWidth, headers);
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
