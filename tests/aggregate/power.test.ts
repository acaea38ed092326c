import { describe, expect, it } from 'vitest';
import { checkPower, overlapMs, parsePowerReadings, powerFigure } from '../../src/aggregate/power.js';

describe('power file', () => {
  it('reads dates, date-times with offsets, comments and a BOM', () => {
    const { readings, errors } = parsePowerReadings('\uFEFFsubscriber,start,end,kwh\n# metered by the utility\nSUB-1,2026-11-01,2026-11-02,38.5\nCAFE-12,2026-11-01T00:00:00+08:00,2026-11-08T00:00:00+08:00,310\n');
    expect(errors).toEqual([]);
    expect(readings).toEqual([
      { subscriber: 'SUB-1', start: Date.parse('2026-11-01T00:00:00Z'), end: Date.parse('2026-11-02T00:00:00Z'), kwh: 38.5, line: 3 },
      { subscriber: 'CAFE-12', start: Date.parse('2026-10-31T16:00:00Z'), end: Date.parse('2026-11-07T16:00:00Z'), kwh: 310, line: 4 },
    ]);
  });

  it('reports every bad line with its number and applies nothing', () => {
    const text = ['subscriber,start,end,kwh', 'A,2026-11-01,2026-11-02,x', 'B,yesterday,2026-11-02,1', 'C,2026-11-02,2026-11-01,1', 'D,2026-11-01,2026-11-03,5', 'D,2026-11-02,2026-11-04,5', 'E,2026-11-01', 'F,2026-11-01,2026-11-02,-3'].join('\n');
    const { readings, errors } = parsePowerReadings(text);
    expect(readings).toBeNull();
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 6, 7, 8]);
    expect(errors[0]!.message).toMatch(/kwh: expected a non-negative number/);
    expect(errors[3]!.message).toMatch(/overlaps line 5/);
    expect(parsePowerReadings('who,when\nA,1').errors[0]!.message).toMatch(/header lacks subscriber, start, end, kwh/);
    expect(parsePowerReadings('').errors[0]!.message).toMatch(/empty file/);
    // Not a calendar date (Date.parse would quietly roll it over to March 2).
    expect(parsePowerReadings('subscriber,start,end,kwh\nG,2026-02-30,2026-03-05,1\n').errors[0]).toMatchObject({ line: 2, message: expect.stringMatching(/^start: expected a date/) });
  });
});

describe('checkPower', () => {
  const day = Date.parse('2026-11-01T00:00:00Z');
  const H = 3_600_000;
  const spans = [{ first: day, last: day + 12 * H }];
  it('fits when the meter shows at least the lowest mining estimate for the hours seen mining', () => {
    // 500–1500 W for 12 h: 6–18 kWh.
    const r = checkPower([{ start: day, end: day + 24 * H, kwh: 20 }], [{ spans, wLow: 500, wHigh: 1500 }]);
    expect(r.check).toBe('fits');
    expect(r.note).toMatch(/metered 20.0 kWh ≥ mining estimate 6.00–18.0 kWh for 12.0 h/);
  });
  it('contradicts when even the most efficient hardware would have drawn more than was metered', () => {
    expect(checkPower([{ start: day, end: day + 24 * H, kwh: 3 }], [{ spans, wLow: 500, wHigh: 1500 }]).check).toBe('contradicts');
  });
  it('says when no reading overlaps the time seen mining', () => {
    expect(checkPower([{ start: day + 48 * H, end: day + 72 * H, kwh: 3 }], [{ spans, wLow: 500, wHigh: 1500 }]).check).toBe('no-overlap');
  });
  it('two coins mined at different times each count over their own hours, not over both', () => {
    const coinA = { spans: [{ first: day, last: day + 6 * H }], wLow: 500, wHigh: 1000 };
    const coinB = { spans: [{ first: day + 12 * H, last: day + 18 * H }], wLow: 500, wHigh: 1000 };
    // 6 h × 0.5 kW + 6 h × 0.5 kW = 6 kWh at least: 6 kWh metered fits (summing power over all 12 h would say 12).
    const r = checkPower([{ start: day, end: day + 24 * H, kwh: 6 }], [coinA, coinB]);
    expect(r.check).toBe('fits');
    expect(r.note).toMatch(/mining estimate 6.00–12.0 kWh/);
  });

  it('a small estimate keeps three significant figures instead of rounding to 0.00', () => {
    // 0.26–0.98 W seen mining for 590.629 s (0.164064 h): 0.26 × 0.164064 / 1000 = 0.0000427 kWh
    // and 0.98 × 0.164064 / 1000 = 0.000161 kWh. Nothing was metered: 0 kWh is below even the low end.
    const r = checkPower([{ start: day, end: day + 24 * H, kwh: 0 }], [{ spans: [{ first: day, last: day + 590_629 }], wLow: 0.26, wHigh: 0.98 }]);
    expect(r.check).toBe('contradicts');
    expect(r.note).toBe('2026-11-01 00:00Z: metered 0 kWh < mining estimate 0.0000427–0.000161 kWh for 0.164 h seen mining');
    expect(r.note).not.toMatch(/0\.00[–\s]/);
  });

  it('power figures: three significant figures, whole from 100 up, no exponent', () => {
    expect([0, 0.000042667, 0.0016, 0.123456, 0.99996, 1.23456, 12.3456, 99.96, 123.4, 1234.5, 1e-9].map(powerFigure)).toEqual(['0', '0.0000427', '0.00160', '0.123', '1.00', '1.23', '12.3', '100', '123', '1235', '0.00000000100']);
  });

  it('overlapMs clips and merges spans', () => {
    expect(overlapMs([{ first: 0, last: 10 }, { first: 5, last: 20 }, { first: 30, last: 40 }], 8, 35)).toBe(12 + 5);
  });
});
