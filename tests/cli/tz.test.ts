/**
 * `--tz` on the commands that print times: `flows` and `watchlist` write times in the zone given
 * (an IANA name or a fixed offset) and ISO 8601 UTC without it; zone abbreviations (CST, EST, PRC)
 * are refused with a message that names an IANA zone and an offset, on every command that takes
 * `--tz`. The expected local times are worked out here from the stored epoch times, by plain
 * arithmetic on the offset, not by the code that formats them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkZone } from '../../src/i18n.js';
import { UsageError } from '../../src/errors.js';
import { FIXTURES, runCli } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-tz-'));
const db = join(tmp, 'report.sqlite');

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(args, 60_000);

/** `YYYY-MM-DD hh:mm:ss ±hh:mm` of epoch ms at a fixed offset of `minutes` east of UTC. */
function atOffset(ms: number, minutes: number): string {
  const local = new Date(Math.floor(ms / 1000) * 1000 + minutes * 60_000).toISOString();
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${local.slice(0, 10)} ${local.slice(11, 19)} ${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

describe('--tz', () => {
  let flows: Array<{ id: number; first: number; last: number }>;

  beforeAll(() => {
    const s = cli(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', db]);
    expect(s.code, s.err).toBe(0);
    const d = new Database(db, { readonly: true });
    flows = d.prepare("SELECT id, first_seen AS first, last_seen AS last FROM flows WHERE label IN ('mining', 'suspect') ORDER BY id").all() as typeof flows;
    d.close();
    expect(flows.length).toBeGreaterThan(0);
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('flows: ISO 8601 UTC by default; in the zone given, named or as an offset', () => {
    const rows = (args: string[]): Array<{ id: number; firstSeen: string; lastSeen: string }> => {
      const r = cli(['flows', '--db', db, '--format', 'jsonl', ...args]);
      expect(r.code, r.err).toBe(0);
      return r.out.trim().split('\n').map((l) => JSON.parse(l) as { id: number; firstSeen: string; lastSeen: string });
    };
    const byId = new Map(flows.map((f) => [f.id, f]));
    for (const r of rows([])) expect(r.firstSeen).toBe(new Date(byId.get(r.id)!.first).toISOString());
    for (const [tz, minutes] of [['Asia/Shanghai', 480], ['+08:00', 480], ['UTC+8', 480], ['-05:30', -330]] as const) {
      const got = rows(['--tz', tz]);
      expect(got).toHaveLength(flows.length);
      for (const r of got) {
        expect(r.firstSeen, tz).toBe(atOffset(byId.get(r.id)!.first, minutes));
        expect(r.lastSeen, tz).toBe(atOffset(byId.get(r.id)!.last, minutes));
      }
    }
  });

  it('watchlist: the subscribers\' first and last times in the zone given', () => {
    const d = new Database(db, { readonly: true });
    const subs = new Map((d.prepare('SELECT subscriber, first_seen AS first, last_seen AS last FROM subscribers').all() as Array<{ subscriber: string; first: number; last: number }>).map((s) => [s.subscriber, s]));
    d.close();
    const r = cli(['watchlist', '--db', db, '--format', 'json', '--tz', 'Asia/Shanghai']);
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as Array<{ subscriber: string; firstSeen: string; lastSeen: string }>;
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.firstSeen).toBe(atOffset(subs.get(row.subscriber)!.first, 480));
      expect(row.lastSeen).toBe(atOffset(subs.get(row.subscriber)!.last, 480));
    }
  });

  it('zone abbreviations are refused on every command that prints times, naming an IANA zone and an offset', () => {
    for (const abbr of ['CST', 'EST', 'PRC']) {
      for (const args of [['flows'], ['watchlist'], ['summary'], ['report', '--html', join(tmp, 'x.html')]]) {
        const r = cli([...args, '--db', db, '--tz', abbr]);
        expect(r.code, `${args[0]} --tz ${abbr}: ${r.err}`).toBe(2);
        expect(r.err).toContain(`--tz "${abbr}"`);
        expect(r.err).toMatch(/Asia\/Shanghai/);
        expect(r.err).toMatch(/\+08:00/);
      }
    }
  });

  it('offsets are written one way, and bounded', () => {
    expect(checkZone('+8')).toBe('+08:00');
    expect(checkZone('+0800')).toBe('+08:00');
    expect(checkZone('UTC+8')).toBe('+08:00');
    expect(checkZone('GMT-05:30')).toBe('-05:30');
    expect(checkZone('Z')).toBe('UTC');
    expect(() => checkZone('+15')).toThrow(UsageError);
    expect(() => checkZone('Mars/Olympus_Mons')).toThrow(UsageError);
  });
});
