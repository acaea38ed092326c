/**
 * Table output padded by display width and fitted to a line: Chinese text takes two terminal
 * columns per character, so columns line up in `--lang zh-CN`; a table wider than the line has its
 * widest text columns cut with `…`; CSV stays whole. Widths expected here are counted by the test
 * from the characters it wrote (the code under test is not asked).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TableLayout, toTable } from '../../src/report/format.js';
import { FIXTURES, runMain } from '../helpers.js';

/** Terminal cells of the characters these tests use: CJK ideographs and full-width forms take two. */
function cells(s: string): string[] {
  const out: string[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const wide = (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xff00 && c <= 0xff60);
    out.push(ch);
    if (wide) out.push(''); // the second cell of a wide character
  }
  return out;
}
const width = (s: string): number => cells(s).length;

/** Display columns where each column starts, from the rule line under the header. */
function columnStarts(rule: string): number[] {
  return [...rule.matchAll(/-+/g)].map((m) => m.index);
}

/** Every line has the two-space gap before each column start, and no wide character straddles a start. */
function expectAligned(lines: readonly string[], starts: readonly number[]): void {
  for (const line of lines) {
    const c = cells(line);
    for (const s of starts) {
      if (s === 0 || s >= c.length) continue;
      expect([c[s - 2], c[s - 1]], `${JSON.stringify(line)} at column ${s}`).toEqual([' ', ' ']);
      expect(c[s], `${JSON.stringify(line)} at column ${s}`).not.toBe('');
    }
  }
}

describe('TableLayout', () => {
  const headers = { subscriber: '用户', region: '地区', evidence: '证据' };
  const rows = [
    { subscriber: 'SUB-1', region: '杭州市西湖区', evidence: '挖矿流 3 条' },
    { subscriber: '浙江大学-实验室-3', region: 'Hangzhou', evidence: 'client sent mining.subscribe' },
    { subscriber: 'CAFE-12', region: '温州', evidence: '端口：3333' },
  ];

  it('pads by display width: Chinese headers and cells line up', () => {
    const out = toTable(['subscriber', 'region', 'evidence'], rows, { width: Infinity }, headers).trimEnd().split('\n');
    const starts = columnStarts(out[1]!);
    // Each column is as wide as its widest cell, counted in terminal cells.
    expect(starts).toEqual([0, width('浙江大学-实验室-3') + 2, width('浙江大学-实验室-3') + 2 + width('杭州市西湖区') + 2]);
    expectAligned(out, starts);
    // The header names and the cells start exactly at their column.
    const at = (line: string, s: number): string => cells(line).slice(s).join('');
    expect(at(out[0]!, starts[1]!).startsWith('地区')).toBe(true);
    expect(at(out[2]!, starts[1]!).startsWith('杭州市西湖区')).toBe(true);
    expect(at(out[3]!, starts[2]!).startsWith('client sent')).toBe(true);
    expect(at(out[4]!, starts[2]!).startsWith('端口：3333')).toBe(true);
  });

  it('fits a line: the widest text column is cut with … to the width left, the others stay whole', () => {
    const long = '挖矿流 12 条（高 12 条），连接 3 个服务器；' + 'client sent mining.subscribe, mining.authorize; '.repeat(8);
    const data = [...rows, { subscriber: 'SUB-LONG', region: '宁波', evidence: long }];
    for (const lineWidth of [60, 80, 120]) {
      const out = toTable(['subscriber', 'region', 'evidence'], data, { width: lineWidth }, headers).trimEnd().split('\n');
      for (const line of out) expect(width(line), line).toBeLessThanOrEqual(lineWidth);
      expectAligned(out, columnStarts(out[1]!));
      const last = out.at(-1)!;
      expect(last.endsWith('…')).toBe(true);
      // The cut cell fills the line: the evidence column is as wide as the line leaves it.
      expect(width(last)).toBe(lineWidth);
      expect(last).toContain('SUB-LONG');
      expect(last).toContain('宁波');
      // Cells no wider than their column are not cut.
      const starts = columnStarts(out[1]!);
      const evidenceWidth = lineWidth - starts[2]!;
      for (const r of data) if (width(r.evidence) <= evidenceWidth) expect(out.join('\n')).toContain(r.evidence);
      expect(out.join('\n')).toContain('浙江大学-实验室-3');
    }
  });

  it('columns of numbers are never cut; a line too narrow for the rest leaves the table wider', () => {
    const t = new TableLayout(['n', 'text'], { width: 10 });
    const row = { n: 1234567890123456, text: 'x'.repeat(40) };
    t.measure(row);
    const line = t.line(row);
    expect(line).toContain('1234567890123456');
    expect(line.trimEnd().endsWith('…')).toBe(true);
  });
});

describe('watchlist --format table --lang zh-CN', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-table-'));
  const db = join(tmp, 'report.sqlite');
  const saved = process.env.COLUMNS;


  beforeAll(async () => {
    const r = await runMain(['scan', join(FIXTURES, 'demo'), '--db', db]);
    expect(r.code, r.err).toBe(0);
  });

  afterEach(() => {
    if (saved === undefined) delete process.env.COLUMNS;
    else process.env.COLUMNS = saved;
  });

  it('fits COLUMNS, lines up the Chinese headers with the rows, and CSV keeps the whole evidence', async () => {
    process.env.COLUMNS = '150';
    const r = await runMain(['watchlist', '--db', db, '--min-confidence', 'low', '--format', 'table', '--lang', 'zh-CN']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(width(line), line).toBeLessThanOrEqual(150);
    const starts = columnStarts(lines[1]!);
    expectAligned(lines, starts);
    expect(lines[0]!.startsWith('用户')).toBe(true);
    expect(cells(lines[0]!).slice(starts.at(-1)!).join('')).toBe('证据');
    // The evidence column is cut to the room left, not to a fixed 40 characters.
    const evidenceCells = lines.slice(2).map((l) => cells(l).slice(starts.at(-1)!).join(''));
    expect(evidenceCells.every((c) => c.endsWith('…'))).toBe(true);

    delete process.env.COLUMNS;
    const csv = await runMain(['watchlist', '--db', db, '--min-confidence', 'low', '--format', 'csv']);
    expect(csv.code, csv.err).toBe(0);
    const d = new Database(db, { readonly: true });
    const stored = d.prepare('SELECT evidence FROM subscribers').pluck().all() as string[];
    d.close();
    expect(stored.length).toBeGreaterThan(0);
    for (const e of stored) expect(csv.out).toContain(e.includes(',') || e.includes('"') ? `"${e.replace(/"/g, '""')}"` : e);
  });

  it('writes whole cells to a pipe when COLUMNS is not set', async () => {
    delete process.env.COLUMNS;
    const r = await runMain(['watchlist', '--db', db, '--min-confidence', 'low', '--format', 'table']);
    expect(r.code, r.err).toBe(0);
    const d = new Database(db, { readonly: true });
    const stored = d.prepare('SELECT evidence FROM subscribers').pluck().all() as string[];
    d.close();
    for (const e of stored) expect(r.out).toContain(e);
  });
});
