/** Output formats for query rows (aligned text table, CSV (RFC 4180), JSON lines) and for figures. */
import type { Catalogue } from '../i18n.js';

type Cell = string | number | null | readonly string[];

function text(c: Cell): string {
  if (c === null) return '';
  if (Array.isArray(c)) return c.join(' ');
  return String(c);
}

/** RFC 4180 CSV; list cells are joined with spaces. Cells that look like formulas are prefixed with ' (CSV injection). */
export function toCsv(columns: readonly string[], rows: ReadonlyArray<Record<string, Cell>>, headers?: Readonly<Record<string, string>>): string {
  const esc = (s: string): string => {
    const t = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const out = [columns.map((c) => esc(headers?.[c] ?? c)).join(',')];
  for (const r of rows) out.push(columns.map((c) => esc(text(r[c] ?? null))).join(','));
  return out.join('\r\n') + '\r\n';
}

export function toJsonLines(rows: readonly unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

/** Aligned plain-text table; long cells are cut to `maxWidth`. */
export function toTable(columns: readonly string[], rows: ReadonlyArray<Record<string, Cell>>, maxWidth = 60, headers?: Readonly<Record<string, string>>): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const t = text(r[c] ?? null);
      return t.length > maxWidth ? `${t.slice(0, maxWidth - 1)}…` : t;
    }),
  );
  const names = columns.map((c) => headers?.[c] ?? c);
  const widths = columns.map((_, i) => Math.max(names[i]!.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: readonly string[]): string => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(names), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
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
