import { describe, expect, it } from 'vitest';
import { checkPower, overlapMs, parsePowerReadings } from '../../src/aggregate/power.js';

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

  it('overlapMs clips and merges spans', () => {
    expect(overlapMs([{ first: 0, last: 10 }, { first: 5, last: 20 }, { first: 30, last: 40 }], 8, 35)).toBe(12 + 5);
  });
});
