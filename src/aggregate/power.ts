/**
 * Metered power (`--power FILE`): the operator's or utility's energy readings per subscriber, used
 * to corroborate the energy estimate. The whole file is validated before any of it is used.
 *
 * Format (CSV with a header and RFC 4180 quoting, read by src/io/csv.ts; `#` starts a comment
 * line; times are ISO 8601 dates or date-times, UTC unless they carry an offset; `end` is exclusive):
 *   subscriber,start,end,kwh
 *   SUB-0001,2026-11-01,2026-11-02,38.5
 *   CAFE-12,2026-11-01T00:00:00+08:00,2026-11-08T00:00:00+08:00,310
 */
import { csvLines, readDecimal, readTime } from '../io/csv.js';
import { quotedExcerpt } from '../report/format.js';
import { widthProblem } from '../io/headed-csv.js';

export interface PowerReading {
  subscriber: string;
  start: number;
  end: number;
  kwh: number;
  line: number;
}

export interface PowerError {
  line: number;
  message: string;
}

/** Parse and validate a power file; readings only when there is no error at all. */
export function parsePowerReadings(text: string): { readings: PowerReading[] | null; errors: PowerError[] } {
  const errors: PowerError[] = [];
  const readings: PowerReading[] = [];
  let header: string[] | null = null;
  let col = { subscriber: -1, start: -1, end: -1, kwh: -1 };
  for (const { line, fields: cells, error } of csvLines(text, { comments: true })) {
    if (cells === null) {
      errors.push({ line, message: header ? error : `header: ${error}` });
      if (!header) return { readings: null, errors };
      continue;
    }
    if (!header) {
      header = cells.map((c) => c.toLowerCase());
      col = { subscriber: header.indexOf('subscriber'), start: header.indexOf('start'), end: header.indexOf('end'), kwh: header.indexOf('kwh') };
      const missing = Object.entries(col).filter(([, v]) => v < 0).map(([k]) => k);
      if (missing.length) {
        errors.push({ line, message: `header lacks ${missing.join(', ')}: expected subscriber,start,end,kwh (e.g. SUB-0001,2026-11-01,2026-11-02,38.5)` });
        return { readings: null, errors };
      }
      continue;
    }
    const width = widthProblem(header.length, cells.length);
    if (width) {
      errors.push({ line, message: width });
      continue;
    }
    const subscriber = cells[col.subscriber]!;
    const startText = cells[col.start]!;
    const endText = cells[col.end]!;
    const kwhText = cells[col.kwh]!;
    const start = readTime(startText);
    const end = readTime(endText);
    const kwh = readDecimal(kwhText);
    if (!subscriber || subscriber.length > 128) errors.push({ line, message: 'subscriber: expected an id of 1 to 128 characters' });
    else if (!start.ok) errors.push({ line, message: `start: expected ${start.expected}, got ${quotedExcerpt(startText, 40)}` });
    else if (!end.ok) errors.push({ line, message: `end: expected ${end.expected}, got ${quotedExcerpt(endText, 40)}` });
    else if (end.value <= start.value) errors.push({ line, message: `end ${quotedExcerpt(endText)} is not after start ${quotedExcerpt(startText)}` });
    else if (!kwh.ok) errors.push({ line, message: `kwh: expected ${kwh.expected}, got ${quotedExcerpt(kwhText, 40)}` });
    else readings.push({ subscriber, start: start.value, end: end.value, kwh: kwh.value, line });
  }
  if (!header) errors.push({ line: 1, message: 'empty file: expected a header subscriber,start,end,kwh and readings' });
  // Overlapping periods of one subscriber would count the same energy twice.
  const bySub = new Map<string, PowerReading[]>();
  for (const r of readings) {
    let l = bySub.get(r.subscriber);
    if (!l) bySub.set(r.subscriber, (l = []));
    l.push(r);
  }
  for (const l of bySub.values()) {
    l.sort((a, b) => a.start - b.start);
    for (let i = 1; i < l.length; i++)
      if (l[i]!.start < l[i - 1]!.end) errors.push({ line: l[i]!.line, message: `period overlaps line ${l[i - 1]!.line} for subscriber ${quotedExcerpt(l[i]!.subscriber)}` });
  }
  errors.sort((a, b) => a.line - b.line);
  return { readings: errors.length ? null : readings, errors };
}

export type PowerCheck = 'fits' | 'contradicts' | 'no-overlap';

/** One mining estimate: a power range over the spans of time it was seen. */
export interface PowerEstimate {
  spans: ReadonlyArray<{ first: number; last: number }>;
  wLow: number;
  wHigh: number;
}

/**
 * Compare metered energy with the estimate. For each reading, the energy mining would have drawn
 * in it is, per estimate (one per coin), its power range × the hours it was seen mining inside that
 * period, summed. A reading below the sum's low end (with 10 % allowance for meter and timing
 * error) contradicts it: even the most efficient hardware would have used more. Otherwise it fits.
 */
export function checkPower(readings: readonly Pick<PowerReading, 'start' | 'end' | 'kwh'>[], estimates: readonly PowerEstimate[]): { check: PowerCheck; note: string } {
  const notes: string[] = [];
  let fits = 0;
  let contradicts = 0;
  for (const r of readings) {
    let lo = 0;
    let hi = 0;
    let hours = 0;
    for (const e of estimates) {
      const h = overlapMs(e.spans, r.start, r.end) / 3_600_000;
      lo += (e.wLow * h) / 1000;
      hi += (e.wHigh * h) / 1000;
      hours = Math.max(hours, h);
    }
    if (hours <= 0) continue;
    const day = new Date(r.start).toISOString().slice(0, 16).replace('T', ' ');
    if (r.kwh < lo * 0.9) {
      contradicts++;
      notes.push(`${day}Z: metered ${powerFigure(r.kwh)} kWh < mining estimate ${powerFigure(lo)}–${powerFigure(hi)} kWh for ${powerFigure(hours)} h seen mining`);
    } else {
      fits++;
      notes.push(`${day}Z: metered ${powerFigure(r.kwh)} kWh ≥ mining estimate ${powerFigure(lo)}–${powerFigure(hi)} kWh for ${powerFigure(hours)} h seen mining`);
    }
  }
  const check: PowerCheck = contradicts ? 'contradicts' : fits ? 'fits' : 'no-overlap';
  if (check === 'no-overlap') return { check, note: `${readings.length} reading(s), none overlapping the time seen mining` };
  return { check, note: notes.slice(0, 10).join('; ') + (notes.length > 10 ? `; … ${notes.length - 10} more` : '') };
}

/** Milliseconds of the union of `spans` inside [start, end). */
export function overlapMs(spans: ReadonlyArray<{ first: number; last: number }>, start: number, end: number): number {
  const clipped = spans
    .map((s) => [Math.max(s.first, start), Math.min(Math.max(s.first, s.last), end)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let cs = -Infinity;
  let ce = -Infinity;
  for (const [a, b] of clipped) {
    if (a > ce) {
      if (ce > cs) total += ce - cs;
      cs = a;
      ce = b;
    } else if (b > ce) ce = b;
  }
  if (ce > cs) total += ce - cs;
  return total;
}

/**
 * A power-note number to three significant figures, whole numbers from 100 up, never in exponent
 * form: 1234, 123, 12.3, 1.23, 0.123, 0.0000427. Zero is `0`. Fixed decimals would print a small
 * estimate (minutes of mining at a few watts) as `0.00`, indistinguishable from none.
 */
export function powerFigure(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x);
  const y = Number(x.toPrecision(3));
  if (Math.abs(y) >= 100) return x.toFixed(0);
  const decimals = Math.min(20, 2 - Math.floor(Math.log10(Math.abs(y))));
  return y.toFixed(decimals);
}
