/**
 * Hashrate, energy and metered power end to end: scan → shares per flow → subscriber figures,
 * `--power` corroboration, merges, and the in-place upgrade of an older report.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/report/schema.js';
import { CORPUS, CORPUS_SKIP_REASON, dropVersion6, FIXTURES, HAVE_CORPUS, runMain } from '../helpers.js';


const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-hashrate-'));
const DEMO_MINERS = join(FIXTURES, 'demo', 'home-miners.pcapng');

/** Occurrences of a byte string in a file: an oracle that does not parse anything. */
function occurrences(file: string, needle: string): number {
  const b = readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(needle); i >= 0; i = b.indexOf(needle, i + 1)) n++;
  return n;
}

describe('hashrate and energy', () => {
  it('counts the shares of every mining flow and rolls them up per subscriber and coin', async () => {
    const db = join(tmp, 'demo.sqlite');
    expect((await runMain(['scan', DEMO_MINERS, '--db', db])).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const submitted = (d.prepare('SELECT sum(shares_submitted) AS n FROM flows').get() as { n: number }).n;
    // Every submit in the capture is counted once (CryptoNote `submit`, Stratum `mining.submit`, ETHPROXY `eth_submitWork`).
    const expected = occurrences(DEMO_MINERS, '"method":"submit"') + occurrences(DEMO_MINERS, '"method":"mining.submit"') + occurrences(DEMO_MINERS, '"method":"eth_submitWork"');
    expect(expected).toBeGreaterThan(0);
    expect(submitted).toBe(expected);
    const rows = d.prepare('SELECT * FROM subscriber_hashrate WHERE hashrate_hs IS NOT NULL').all() as Array<Record<string, number | string | null>>;
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.hashrate_hs as number).toBeCloseTo((r.hashes as number) / (r.seconds as number), 6);
      expect(r.rel_err as number).toBeCloseTo(1 / Math.sqrt(r.shares as number), 9);
      const alg = d.prepare('SELECT j_per_h_low, j_per_h_high FROM algorithms WHERE id = ?').get(r.algorithm) as { j_per_h_low: number; j_per_h_high: number } | undefined;
      if (alg) {
        expect(r.power_w_low as number).toBeCloseTo((r.hashrate_hs as number) * alg.j_per_h_low, 9);
        expect(r.power_w_high as number).toBeCloseTo((r.hashrate_hs as number) * alg.j_per_h_high, 9);
      }
      const s = d.prepare('SELECT hashrate, shares FROM subscribers WHERE subscriber = ?').get(r.subscriber) as { hashrate: string; shares: number };
      expect(s.hashrate).toMatch(new RegExp(`${r.coin}.*± ${Math.round((r.rel_err as number) * 100)}% from ${r.shares} share`));
    }
    // Subscribers' sums equal their rows.
    const sums = d.prepare('SELECT s.subscriber, s.shares, s.power_w_low, (SELECT sum(h.shares) FROM subscriber_hashrate h WHERE h.subscriber = s.subscriber AND h.hashrate_hs IS NOT NULL) AS hs_shares, (SELECT sum(h.power_w_low) FROM subscriber_hashrate h WHERE h.subscriber = s.subscriber) AS w FROM subscribers s').all() as Array<{ shares: number; hs_shares: number | null; power_w_low: number | null; w: number | null }>;
    for (const s of sums) {
      expect(s.shares).toBe(s.hs_shares ?? 0);
      expect(s.power_w_low).toBe(s.w);
    }
    d.close();
  });

  it('--power marks metered use that fits or contradicts the estimate, and a bad file applies nothing', async () => {
    const db = join(tmp, 'power.sqlite');
    expect((await runMain(['scan', DEMO_MINERS, '--db', db])).code).toBe(0);
    const d = new Database(db);
    const subs = d.prepare('SELECT subscriber, first_seen, power_w_low FROM subscribers WHERE power_w_low IS NOT NULL ORDER BY subscriber').all() as Array<{ subscriber: string; first_seen: number; power_w_low: number }>;
    const none = d.prepare('SELECT subscriber FROM subscribers WHERE power_w_low IS NULL').get() as { subscriber: string } | undefined;
    d.close();
    expect(subs.length).toBeGreaterThan(0);
    const day = new Date(subs[0]!.first_seen).toISOString().slice(0, 10);
    const next = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
    expect(none).toBeDefined();
    const lines = ['subscriber,start,end,kwh', `${subs[0]!.subscriber},${day},${next},100`, `${none!.subscriber},${day},${next},5`];
    const power = join(tmp, 'power.csv');
    writeFileSync(power, lines.join('\n') + '\n');
    // The input is already in the report: the readings still apply.
    const r = await runMain(['scan', DEMO_MINERS, '--db', db, '--power', power]);
    expect(r.code).toBe(0);
    const check = (s: string): { power_check: string; power_note: string } => {
      const d2 = new Database(db, { readonly: true });
      const row = d2.prepare('SELECT power_check, power_note FROM subscribers WHERE subscriber = ?').get(s) as { power_check: string; power_note: string };
      d2.close();
      return row;
    };
    expect(check(subs[0]!.subscriber).power_check).toBe('fits');
    expect(check(subs[0]!.subscriber).power_note).toMatch(/metered 100 kWh ≥ mining estimate/);
    expect(check(none!.subscriber).power_check).toBe('no-estimate');
    // A later reading for the same period replaces the earlier one: nothing metered contradicts mining.
    writeFileSync(power, `subscriber,start,end,kwh\n${subs[0]!.subscriber},${day},${next},0\n`);
    expect((await runMain(['scan', DEMO_MINERS, '--db', db, '--power', power])).code).toBe(0);
    expect(check(subs[0]!.subscriber).power_check).toBe('contradicts');
    // A few minutes at well under a watt: the estimate keeps its significant figures, never `0.00–0.00`.
    expect(check(subs[0]!.subscriber).power_note).toMatch(/metered 0 kWh < mining estimate 0\.0000\d{3}–0\.000\d{3} kWh for 0\.\d{3} h seen mining/);

    const bad = join(tmp, 'bad-power.csv');
    writeFileSync(bad, 'subscriber,start,end,kwh\nX,2026-11-01,2026-11-02,1\nY,2026-13-01,2026-11-02,1\n');
    const b = await runMain(['scan', DEMO_MINERS, '--db', join(tmp, 'bad.sqlite'), '--power', bad]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/power file not applied \(1 bad line\(s\)\):\n\s+.*bad-power\.csv:3: start: expected a date/);
  });

  it('merged reports carry shares, hashrate, power and readings exactly', async () => {
    const office = join(FIXTURES, 'demo', 'office.pcap');
    const power = join(tmp, 'merge-power.csv');
    writeFileSync(power, 'subscriber,start,end,kwh\n100.64.0.11,2023-11-14,2023-11-15,0.00001\n');
    const a = join(tmp, 'ma.sqlite');
    const b = join(tmp, 'mb.sqlite');
    const all = join(tmp, 'mall.sqlite');
    const merged = join(tmp, 'mmerged.sqlite');
    expect((await runMain(['scan', DEMO_MINERS, '--db', a, '--power', power])).code).toBe(0);
    expect((await runMain(['scan', office, '--db', b])).code).toBe(0);
    expect((await runMain(['scan', DEMO_MINERS, office, '--db', all, '--power', power])).code).toBe(0);
    expect((await runMain(['merge', a, b, '--db', merged])).code).toBe(0);
    const figures = (p: string): unknown => {
      const d = new Database(p, { readonly: true });
      const r = {
        subscribers: d.prepare('SELECT subscriber, shares, hashrate, hashrate_hs, hashrate_rel_err, power_w_low, power_w_high, power_check, power_note FROM subscribers ORDER BY subscriber').all(),
        rates: d.prepare('SELECT * FROM subscriber_hashrate ORDER BY subscriber, coin, algorithm').all(),
        flows: d.prepare('SELECT client, client_port, server, server_port, shares_submitted, shares_accepted, shares_rejected, shares, share_hashes, algorithm, reported_hs FROM flows ORDER BY client, client_port, server, server_port').all(),
      };
      d.close();
      return r;
    };
    const f = figures(all) as { subscribers: Array<{ power_check: string | null }> };
    expect(f.subscribers.some((s) => s.power_check === 'contradicts')).toBe(true);
    expect(figures(merged)).toEqual(f);
  });

  it('a report of schema version 3 is upgraded in place by the next scan, keeping its flows', async () => {
    const db = join(tmp, 'v3.sqlite');
    expect((await runMain(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', db])).code).toBe(0);
    // Make it what version 3 wrote: no share columns, no hashrate tables, the old subscribers table.
    const d = new Database(db);
    for (const c of ['shares_submitted', 'shares_accepted', 'shares_rejected', 'shares', 'share_hashes', 'algorithm', 'reported_hs']) d.exec(`ALTER TABLE flows DROP COLUMN ${c}`);
    for (const t of ['algorithms', 'power_readings', 'subscriber_hashrate']) d.exec(`DROP TABLE ${t}`);
    for (const c of ['shares', 'hashrate', 'hashrate_hs', 'hashrate_rel_err', 'power_w_low', 'power_w_high', 'power_check', 'power_note']) d.exec(`ALTER TABLE subscribers DROP COLUMN ${c}`);
    // …and what version 6 added: the run owners and the input states.
    dropVersion6(d);
    d.exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
    const flowsBefore = (d.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n;
    d.close();
    const subsBefore = (new Database(db, { readonly: true }).prepare('SELECT count(*) AS n FROM subscribers').get() as { n: number }).n;
    expect(subsBefore).toBeGreaterThan(0);
    const old = await runMain(['summary', '--db', db]);
    expect(old.code).toBe(2);
    expect(old.err).toMatch(new RegExp(`schema version 3; this minerwatch reads version ${SCHEMA_VERSION} \\(any minerwatch scan or merge into it upgrades it in place\\)`));
    // A v3 report merges as it is.
    const merged = join(tmp, 'v3-merged.sqlite');
    expect((await runMain(['merge', db, '--db', merged])).code).toBe(0);
    expect((new Database(merged, { readonly: true }).prepare('SELECT count(*) AS n FROM subscribers').get() as { n: number }).n).toBe(subsBefore);
    // Scanning an input it already holds changes nothing, but the upgrade keeps every subscriber.
    const again = await runMain(['scan', join(FIXTURES, 'demo', 'office.pcap'), '--db', db]);
    expect(again.code).toBe(0);
    expect((new Database(db, { readonly: true }).prepare('SELECT count(*) AS n FROM subscribers').get() as { n: number }).n).toBe(subsBefore);
    expect((await runMain(['scan', DEMO_MINERS, '--db', db])).code).toBe(0);
    const u = new Database(db, { readonly: true });
    expect((u.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe(String(SCHEMA_VERSION));
    expect((u.prepare('SELECT count(*) AS n FROM flows WHERE run_id = 1').get() as { n: number }).n).toBe(flowsBefore);
    expect((u.prepare('SELECT count(*) AS n FROM subscriber_hashrate WHERE hashrate_hs IS NOT NULL').get() as { n: number }).n).toBeGreaterThan(0);
    u.close();
  });
});

describe.skipIf(!HAVE_CORPUS)('shares in the corpus captures', () => {
  // Expected values from `tshark -r FILE -qz follow,tcp,ascii,N` per stream: submits are the lines
  // with "method": "mining.submit" / "submit" / "eth_submitWork"; accepted are the replies with
  // "result": true or {"status": "OK"} to those ids (the authorize reply excluded); stream 2 of
  // ndpi__mining.pcapng has one `"error": [21, "Stale job!"]` reply. Difficulty: the pools' own
  // mining.set_target / job target / eth_getWork boundary lines in the same streams.
  const cases = [
    { file: 'pcap/mining/ndpi__mining.pcapng', server: '178.32.196.217', submitted: 30, accepted: 30, rejected: 0 },
    { file: 'pcap/mining/ndpi__mining.pcapng', server: '94.23.199.191', submitted: 46, accepted: 45, rejected: 1 },
    { file: 'pcap/mining/nesfit__zec-eu1.nanopool.org.pcapng', server: '185.71.66.20', submitted: 6, accepted: 6, rejected: 0 },
    { file: 'pcap/mining/nesfit__xmr.suprnova.cc.pcapng', server: '37.59.21.58', submitted: 5, accepted: 5, rejected: 0 },
    { file: 'pcap/mining/nesfit__eth-eu1.nanopool.org.pcapng', server: '185.71.66.39', submitted: 1, accepted: 1, rejected: 0 },
  ];
  it.each(cases)('$file to $server: $submitted submitted, $accepted accepted', async (c) => {
    const db = join(tmp, `corpus-${c.server}.sqlite`);
    expect((await runMain(['scan', join(CORPUS, c.file), '--db', db])).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const f = d.prepare('SELECT shares_submitted, shares_accepted, shares_rejected, share_hashes FROM flows WHERE server = ?').get(c.server) as Record<string, number>;
    d.close();
    expect(f).toMatchObject({ shares_submitted: c.submitted, shares_accepted: c.accepted, shares_rejected: c.rejected });
    expect(f.share_hashes).toBeGreaterThan(0);
  });

  it('the Equihash session: 6 shares at the pool target 0x0004189300… are 6 × 2^256/target solutions', async () => {
    const db = join(tmp, 'corpus-zec.sqlite');
    expect((await runMain(['scan', join(CORPUS, 'pcap/mining/nesfit__zec-eu1.nanopool.org.pcapng'), '--db', db])).code).toBe(0);
    const d = new Database(db, { readonly: true });
    const h = d.prepare("SELECT * FROM subscriber_hashrate WHERE coin = 'ZEC'").get() as Record<string, number | string>;
    d.close();
    const perShare = 2 ** 256 / Number(BigInt('0x0004189300000000000000000000000000000000000000000000000000000000'));
    expect(h.hashes as number).toBeCloseTo(6 * perShare, 3);
    expect(h).toMatchObject({ algorithm: 'equihash', unit: 'Sol/s', shares: 6 });
  });
});

if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
