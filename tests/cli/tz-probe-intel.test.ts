/**
 * `--tz` on `probe`, `intel resolve` and `rules test`, through the real CLI. probe writes the time
 * of each target's line in the zone given (ISO 8601 UTC without it); intel resolve dates its file
 * (name and `added:`) and writes the resolution time of its source line in the zone given (UTC
 * without it); rules test writes each flow's first time in it. Zone abbreviations are refused,
 * before anything is sent. The expected local times are worked out here from epoch times (the
 * probes stored in the report; the clock around a resolution; the UTC times rules test prints
 * without --tz) by plain arithmetic on the offset. Only loopback traffic: pools started here,
 * Debian's dnsmasq on 127.0.0.1.
 */
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReport } from '../../src/report/writer.js';
import { RULES_DIR, runCli, spawnCli } from '../helpers.js';
import { DNSMASQ, dnsmasqBaseArgs, startDnsmasq } from '../support/dnsmasq.js';
import { stopChild } from '../support/child.js';
import { echoService, stratumPool, type Service } from '../probe/services.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-tz-probe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `YYYY-MM-DD hh:mm:ss ±hh:mm` of epoch ms at a fixed offset of `minutes` east of UTC. */
function atOffset(ms: number, minutes: number): string {
  const local = new Date(Math.floor(ms / 1000) * 1000 + minutes * 60_000).toISOString();
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${local.slice(0, 10)} ${local.slice(11, 19)} ${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

describe('probe --tz', () => {
  const s: Record<string, Service> = {};
  beforeAll(async () => {
    [s.stratum, s.echo] = await Promise.all([stratumPool(), echoService()]);
  });
  afterAll(async () => {
    await Promise.all(Object.values(s).map((x) => x.close()));
  });

  /** Probe both services into a new report; each target's line on stderr, and the report's first probe row per target (the one its line is timed by). */
  async function probeWith(name: string, tz: string[]): Promise<{ lines: Map<string, string>; first: Map<string, number> }> {
    const db = join(tmp, name);
    openReport(db).close();
    const targets = [s.stratum!, s.echo!].map((x) => `127.0.0.1:${x.port}`);
    const r = await spawnCli(['probe', ...targets.flatMap((t) => ['--target', t]), '--db', db, '--timeout', '1', '--rate', '100', ...tz]);
    expect(r.code, r.err).toBe(0);
    const lines = new Map<string, string>();
    for (const t of targets) {
      const line = r.err.split('\n').find((l) => l.includes(` ${t} `));
      expect(line, r.err).toBeDefined();
      lines.set(t, line!);
    }
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT time, server, server_port AS port FROM probes ORDER BY id').all() as Array<{ time: number; server: string; port: number }>;
    d.close();
    const first = new Map<string, number>();
    for (const row of rows) if (!first.has(`${row.server}:${row.port}`)) first.set(`${row.server}:${row.port}`, row.time);
    expect([...first.keys()].sort()).toEqual([...targets].sort());
    return { lines, first };
  }

  it('each target\'s line: ISO 8601 UTC by default, in the zone given by name or offset', async () => {
    const plain = await probeWith('utc.sqlite', []);
    for (const [t, line] of plain.lines) expect(line.startsWith(`${new Date(plain.first.get(t)!).toISOString()} ${t} `), line).toBe(true);
    for (const [tz, minutes] of [['Asia/Shanghai', 480], ['+05:45', 345], ['-03:30', -210]] as const) {
      const got = await probeWith(`tz${minutes}.sqlite`, ['--tz', tz]);
      for (const [t, line] of got.lines) expect(line.startsWith(`${atOffset(got.first.get(t)!, minutes)} ${t} `), `${tz}: ${line}`).toBe(true);
    }
    const stratumLine = (await probeWith('pool.sqlite', ['--tz', '+08:00'])).lines.get(`127.0.0.1:${s.stratum!.port}`)!;
    expect(stratumLine).toMatch(/ pool /);
  }, 60_000);

  it('--out: the intel file is named and its entries dated by the day in the zone given (UTC without it)', async () => {
    for (const [tz, minutes] of [[[], 0], [['--tz', '+14:00'], 840], [['--tz', '-11:00'], -660]] as const) {
      const db = join(tmp, `out${minutes}.sqlite`);
      const out = join(tmp, `intel${minutes}`);
      openReport(db).close();
      const target = `127.0.0.1:${s.stratum!.port}`;
      const r = await spawnCli(['probe', '--target', target, '--db', db, '--out', out, '--timeout', '1', '--rate', '100', ...tz]);
      expect(r.code, r.err).toBe(0);
      const d = new Database(db, { readonly: true });
      const times = d.prepare("SELECT time FROM probes WHERE status = 'pool' ORDER BY id").pluck().all() as number[];
      d.close();
      expect(times.length, r.err).toBeGreaterThan(0);
      // The probe's start lies within a second of its first pool answer, but may cross midnight: take the file's name as the run gives it and check it is one of the two days.
      const day = (ms: number): string => atOffset(ms, minutes).slice(0, 10);
      const files = readdirSync(out);
      expect(files).toHaveLength(1);
      expect([day(times[0]! - 1000), day(times[0]!)].map((x) => `probe-${x}.yaml`)).toContain(files[0]);
      const doc = parse(readFileSync(join(out, files[0]!), 'utf8')) as { entries: Array<{ added: string }> };
      expect(doc.entries.map((e) => String(e.added))).toEqual([day(times[0]!)]);
    }
  }, 60_000);

  it('zone abbreviations are refused before anything is sent', async () => {
    const db = join(tmp, 'refused.sqlite');
    openReport(db).close();
    for (const abbr of ['CST', 'EST', 'PRC']) {
      const r = await spawnCli(['probe', '--target', `127.0.0.1:${s.stratum!.port}`, '--db', db, '--tz', abbr]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`--tz "${abbr}"`);
      expect(r.err).toContain('Asia/Shanghai');
      expect(r.err).toContain('+08:00');
    }
    const d = new Database(db, { readonly: true });
    expect((d.prepare('SELECT count(*) AS n FROM probes').get() as { n: number }).n).toBe(0);
    d.close();
  }, 30_000);
});

const SKIP_DNS = DNSMASQ ? false : 'dnsmasq not installed (Debian package dnsmasq-base): intel resolve --tz tests skipped';
if (SKIP_DNS) console.warn(SKIP_DNS);

describe.skipIf(SKIP_DNS)('intel resolve --tz', () => {
  const rulesDir = join(tmp, 'rules');
  let dnsmasq: ChildProcess | null = null;
  let port = 0;

  beforeAll(async () => {
    mkdirSync(join(rulesDir, 'endpoints'), { recursive: true });
    for (const f of ['policy.yaml', 'agents.yaml', 'algorithms.yaml', 'signatures']) cpSync(join(RULES_DIR, f), join(rulesDir, f), { recursive: true });
    writeFileSync(
      join(rulesDir, 'endpoints', 'test-pools.yaml'),
      'source: "minerwatch tz test pool"\nadded: 2026-01-02\nkind: pool\nentries:\n  - domain: "xmr.tz-pool.minerwatch.test"\n    pool: "TzPool"\n    coins: ["XMR"]\n    ports: [3333]\n',
    );
    const started = await startDnsmasq((p) => [...dnsmasqBaseArgs(p), '--local=/minerwatch.test/', '--host-record=xmr.tz-pool.minerwatch.test,192.0.2.77']);
    dnsmasq = started.child;
    port = started.port;
  }, 30_000);
  afterAll(async () => {
    if (dnsmasq) await stopChild(dnsmasq);
  });

  /** Resolve into a fresh folder; the file written, parsed, and the clock before and after. */
  function resolveWith(name: string, tz: string[]): { file: string; doc: { source: string; added: string }; before: number; after: number } {
    const out = join(tmp, name);
    const before = Date.now();
    const r = runCli(['intel', 'resolve', '--resolver', `127.0.0.1:${port}`, '--rules', rulesDir, '--out', out, '--timeout', '3', ...tz], 60_000);
    const after = Date.now();
    expect(r.code, r.err).toBe(0);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    expect(r.out).toContain(join(out, files[0]!));
    const doc = parse(readFileSync(join(out, files[0]!), 'utf8')) as { source: string; added: string; entries: Array<{ ip: string }> };
    expect(doc.entries.map((e) => e.ip)).toEqual(['192.0.2.77']);
    return { file: files[0]!, doc, before, after };
  }

  /** Every local time a clock between `before` and `after` may read at `minutes`. */
  function possible(before: number, after: number, minutes: number): Set<string> {
    const out = new Set<string>();
    for (let t = Math.floor(before / 1000) * 1000; t <= after; t += 1000) out.add(atOffset(t, minutes));
    return out;
  }

  it('dates the file and times the resolution in the zone given; UTC without it', () => {
    const utc = resolveWith('utc', []);
    const utcDays = new Set([new Date(utc.before).toISOString().slice(0, 10), new Date(utc.after).toISOString().slice(0, 10)]);
    expect(utcDays.has(utc.doc.added)).toBe(true);
    expect(utc.file).toBe(`resolved-${utc.doc.added}.yaml`);
    const isoAt = /at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/.exec(utc.doc.source);
    expect(isoAt, utc.doc.source).not.toBeNull();
    const t = Date.parse(isoAt![1]!);
    expect(t).toBeGreaterThanOrEqual(Math.floor(utc.before / 1000) * 1000);
    expect(t).toBeLessThanOrEqual(utc.after);
    // +14:00 and -11:00: at any hour, one of the two days differs from the UTC day.
    for (const [tz, minutes] of [['+14:00', 840], ['Pacific/Pago_Pago', -660], ['Asia/Shanghai', 480]] as const) {
      const got = resolveWith(`tz${minutes}`, ['--tz', tz]);
      const at = /at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d)$/.exec(got.doc.source);
      expect(at, got.doc.source).not.toBeNull();
      const times = possible(got.before, got.after, minutes);
      expect(times.has(at![1]!), `${tz}: ${at![1]} not in ${[...times].join(', ')}`).toBe(true);
      expect(got.doc.added).toBe(at![1]!.slice(0, 10));
      expect(got.file).toBe(`resolved-${got.doc.added}.yaml`);
    }
  }, 60_000);

  it('zone abbreviations are refused before anything is resolved or written', () => {
    for (const abbr of ['CST', 'EST', 'PRC']) {
      const out = join(tmp, `refused-${abbr}`);
      const r = runCli(['intel', 'resolve', '--resolver', `127.0.0.1:${port}`, '--rules', rulesDir, '--out', out, '--tz', abbr], 60_000);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(`--tz "${abbr}"`);
      expect(r.err).toContain('Asia/Shanghai');
      expect(() => readdirSync(out)).toThrow();
    }
  }, 60_000);
});

describe('rules test --tz', () => {
  it('each flow\'s first time in the zone given; ISO 8601 UTC without it; abbreviations refused', () => {
    const input = join(RULES_DIR, '..', 'fixtures', 'demo', 'office.pcap');
    const plain = runCli(['rules', 'test', input]);
    expect(plain.code, plain.err).toBe(0);
    const flowLine = /^(\S+ -> \S+ \S+) (\S+) {2}(.+)$/;
    const flows = plain.out.split('\n').map((l) => flowLine.exec(l)).filter((m) => m !== null);
    expect(flows.length).toBeGreaterThan(0);
    for (const m of flows) expect(m[2]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (const [tz, minutes] of [['Asia/Shanghai', 480], ['-05:30', -330]] as const) {
      const r = runCli(['rules', 'test', input, '--tz', tz]);
      expect(r.code, r.err).toBe(0);
      const expected = plain.out.split('\n').map((l) => {
        const m = flowLine.exec(l);
        return m ? `${m[1]} ${atOffset(Date.parse(m[2]!), minutes)}  ${m[3]}` : l;
      });
      expect(r.out.split('\n'), tz).toEqual(expected);
    }
    const refused = runCli(['rules', 'test', input, '--tz', 'CST']);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--tz "CST"');
    expect(refused.out).toBe('');
  }, 60_000);
});
