/** The CLI end to end: scan → SQLite report → flows / watchlist, exit codes, stdin, errors. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, runMain, waitFor } from '../helpers.js';
import { haveSs, unreadBytes } from '../support/stdio.js';


const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-cli-'));
const demoDb = join(tmp, 'demo.sqlite');

describe('minerwatch CLI', () => {
  beforeAll(async () => {
    const r = await runMain(['scan', join(FIXTURES, 'demo'), '--db', demoDb]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('scan --json summarises every input', async () => {
    const r = await runMain(['scan', join(FIXTURES, 'demo'), '--db', join(tmp, 'j.sqlite'), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { inputs: Array<Record<string, unknown>>; miningFlows: number; subscribers: number; rulesetDigest: string };
    expect(j.inputs.map((i) => [String(i.path).split('/').pop(), i.format, i.packets, i.flows])).toEqual([
      ['home-miners.pcapng', 'pcapng', 108, 6],
      ['office.pcap', 'pcap', 42, 2],
    ]);
    expect(j.inputs[0]).toHaveProperty('anomalies');
    expect(j.inputs[0]).toHaveProperty('bytes');
    expect(j.miningFlows).toBe(3);
    expect(j.subscribers).toBe(3);
    expect(j.rulesetDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('watchlist --format json lists each subscriber with evidence', async () => {
    const r = await runMain(['watchlist', '--db', demoDb, '--format', 'json']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as Array<Record<string, unknown>>;
    expect(rows.map((x) => x.subscriber).sort()).toEqual(['100.64.0.11', '100.64.0.12', 'fd00::1:10']);
    const xmr = rows.find((x) => x.subscriber === '100.64.0.11')!;
    expect(Object.keys(xmr)).toEqual(['subscriber', 'account', 'addresses', 'type', 'region', 'confidence', 'firstSeen', 'lastSeen', 'miningFlows', 'servers', 'pools', 'coins', 'agents', 'workers', 'hashrate', 'kwhPerDay', 'powerCheck', 'evidence', 'flowIds']);
    // The flows behind the row are the subscriber's mining flows in the report.
    const d = new Database(demoDb, { readonly: true });
    const ids = (d.prepare("SELECT id FROM flows WHERE subscriber = '100.64.0.11' AND label = 'mining' ORDER BY id").all() as Array<{ id: number }>).map((x) => x.id);
    d.close();
    expect(xmr.flowIds).toEqual(ids);
    expect(xmr.hashrate).toMatch(/^XMR \(randomx\): [\d.]+ H\/s ± \d+% from \d+ shares over /);
    expect(xmr.kwhPerDay).toMatch(/^[\d.]+ – [\d.]+$/);
    expect(xmr).toMatchObject({ confidence: 'high', miningFlows: 1, servers: ['203.0.113.10:3333'], coins: ['XMR'] });
    expect(xmr.agents).toEqual(['XMRig 6.21.0']);
    expect((xmr.workers as string[])[0]).toMatch(/^4AdUnd.*\.rig1$/);
    expect(xmr.evidence).toMatch(/MW-XMR-LOGIN/);
    expect(xmr.firstSeen).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('watchlist --format csv has a header and one row per subscriber', async () => {
    const r = await runMain(['watchlist', '--db', demoDb, '--format', 'csv', '--lang', 'en']);
    const lines = r.out.trim().split('\r\n');
    expect(lines[0]).toBe('subscriber,account,addresses,type,region,confidence,firstSeen,lastSeen,miningFlows,servers,pools,coins,agents,workers,hashrate,kwhPerDay,powerCheck,evidence,flowIds');
    expect(lines).toHaveLength(4);
    const zh = await runMain(['watchlist', '--db', demoDb, '--format', 'csv', '--lang', 'zh-CN']);
    expect(zh.out.split('\r\n')[0]).toMatch(/^\S+,/);
    expect(zh.out.split('\r\n')[0]).not.toBe(lines[0]);
    expect(zh.out.split('\r\n')[0]).toMatch(/[\u4e00-\u9fff]/);
  });

  it('flows --format jsonl carries the documented fields; --all adds benign flows', async () => {
    const r = await runMain(['flows', '--db', demoDb, '--format', 'jsonl']);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(3);
    for (const k of ['client', 'clientPort', 'server', 'serverPort', 'transport', 'firstSeen', 'lastSeen', 'packets', 'bytes', 'label', 'confidence', 'rules', 'coin', 'agent'])
      expect(rows[0]).toHaveProperty(k);
    const eth = rows.find((x) => x.server === '2001:db8::3333')!;
    expect(eth).toMatchObject({ client: 'fd00::1:10', serverPort: 8008, label: 'mining', confidence: 'high', coin: 'ETH', transport: 'tcp' });
    expect(eth.rules).toEqual(expect.arrayContaining(['MW-ETHPROXY-SUBMITLOGIN', 'MW-ETHPROXY-WORK']));
    const all = await runMain(['flows', '--db', demoDb, '--all', '--format', 'jsonl']);
    expect(all.out.trim().split('\n')).toHaveLength(8);
    const high = await runMain(['flows', '--db', demoDb, '--min-confidence', 'high', '--format', 'csv']);
    expect(high.out.trim().split('\r\n')).toHaveLength(4);
    // The table and CSV show each flow's id first, the one `flows --id N` takes.
    const csv = high.out.trim().split('\r\n');
    expect(csv[0]!.split(',')[0]).toBe('id');
    const ethRow = csv.find((l) => l.includes('2001:db8::3333'))!;
    expect(Number(ethRow.split(',')[0])).toBe(eth.id);
    const byId = await runMain(['flows', '--db', demoDb, '--id', String(eth.id), '--format', 'jsonl']);
    expect((JSON.parse(byId.out.trim()) as { server: string }).server).toBe('2001:db8::3333');
    const table = await runMain(['flows', '--db', demoDb, '--min-confidence', 'high']);
    expect(table.out.split('\n')[0]).toMatch(/^id\s+client\s/);
  });

  it('the report keeps evidence rows with rule revision, side, matched method, bytes, time', () => {
    const db = new Database(demoDb, { readonly: true });
    const ev = db.prepare("SELECT e.* FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE f.client = '100.64.0.12' ORDER BY e.rule_id").all() as Array<Record<string, unknown>>;
    const run0 = db.prepare('SELECT * FROM runs').get() as Record<string, unknown>;
    const inputs = db.prepare('SELECT * FROM inputs ORDER BY id').all() as Array<Record<string, unknown>>;
    db.close();
    expect(ev.map((e) => `${e.rule_id}@${e.rev}:${e.side}:${e.matched}`)).toEqual(
      expect.arrayContaining(['MW-STRATUM-V1-SUBSCRIBE@1:client:mining.subscribe', 'MW-STRATUM-V1-NOTIFY@1:server:mining.notify']),
    );
    const sub = ev.find((e) => e.rule_id === 'MW-STRATUM-V1-SUBSCRIBE')!;
    expect(String(sub.excerpt)).toContain('"mining.subscribe"');
    expect(Number(sub.time)).toBeGreaterThan(1.6e12);
    expect(run0.ruleset_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(String(run0.rules)).toContain('MW-STRATUM-V1-SUBSCRIBE@1');
    expect(inputs[0]).toMatchObject({ format: 'pcapng', packets: 108, transport_packets: 108 });
    expect(String(inputs[0]!.sha256)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('--subscriber-net picks the endpoint inside the nets as the subscriber', async () => {
    const db = join(tmp, 'nets.sqlite');
    const r = await runMain(['scan', join(FIXTURES, 'demo'), '--db', db, '--subscriber-net', '100.64.0.0/24', '--json']);
    expect(r.code).toBe(0);
    const w = JSON.parse((await runMain(['watchlist', '--db', db, '--format', 'json'])).out) as Array<{ subscriber: string }>;
    expect(w.map((x) => x.subscriber).sort()).toEqual(['100.64.0.11', '100.64.0.12']);
  });

  it('reads a capture from standard input (-) and gzip', () => {
    const db = join(tmp, 'stdin.sqlite');
    const gz = readFileSync(join(FIXTURES, 'formats/ethernet.pcap.gz'));
    const bin = join(ROOT, 'bin', 'minerwatch');
    if (!existsSync(join(ROOT, 'dist/cli/minerwatch.js'))) spawnSync('npm', ['run', 'build'], { cwd: ROOT, timeout: 300_000 });
    const r = spawnSync(process.execPath, [bin, 'scan', '-', '--db', db, '--json'], { input: gz, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { inputs: Array<{ path: string; format: string; packets: number }>; miningFlows: number };
    expect(j.inputs[0]).toMatchObject({ path: '-', format: 'pcap', packets: 18 });
    expect(j.miningFlows).toBe(1);
  });

  it('a reader that goes away (minerwatch … | head) ends nothing: no error, exit 0, the report is written', async () => {
    const bin = join(ROOT, 'bin', 'minerwatch');
    const db = join(tmp, 'epipe.sqlite');
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [bin, 'scan', join(FIXTURES, 'demo'), '--db', db, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Close our end of its standard output before it writes anything.
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    const d = new Database(db, { readonly: true });
    expect((d.prepare("SELECT status FROM runs").get() as { status: string }).status).toBe('complete');
    d.close();
  });

  it('an unreadable input gives one clear line and exit 1, other inputs are still scanned', async () => {
    const db = join(tmp, 'bad.sqlite');
    const r = await runMain(['scan', join(FIXTURES, 'bad/garbage.bin'), join(FIXTURES, 'demo/office.pcap'), join(tmp, 'missing.pcap'), '--db', db]);
    expect(r.code).toBe(1);
    const errLines = r.err.trim().split('\n');
    expect(errLines).toHaveLength(2);
    expect(errLines[0]).toMatch(/garbage\.bin: at byte 0: unrecognised format .*expected pcap/);
    expect(errLines[1]).toMatch(/missing\.pcap: at byte 0: cannot open: ENOENT/);
    expect(r.out).toMatch(/office\.pcap: pcap, 42 packets, 2 flows/);
  });

  it('a pipe named as an input (mkfifo, <(…)) is refused with one line, unopened, and the other inputs are scanned', async () => {
    const fifo = join(tmp, 'capture.fifo');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) return; // no mkfifo: nothing to test
    const db = join(tmp, 'fifo.sqlite');
    // No process writes to it: opening it would wait forever, and a report that holds an input in
    // part would have had it hashed (the hashing thread reading the bytes the scan needs).
    const first = await runMain(['scan', join(FIXTURES, 'bad/garbage.bin'), '--db', db]);
    expect(first.code).toBe(1);
    const r = await runMain(['scan', fifo, join(FIXTURES, 'demo/office.pcap'), '--db', db, '--json']);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toBe(
      `minerwatch: ${fifo}: at byte 0: not a regular file (a pipe, socket or device, as <(…) gives): it can be read only once, and an input is read twice (once to hash it); pipe it to standard input instead: … | minerwatch scan -`,
    );
    // Then the report's earlier incomplete input, as after any scan into it.
    expect(lines.slice(1).join('\n')).toMatch(/^minerwatch: warning: .*fifo\.sqlite also holds 1 incomplete input\(s\) from earlier runs:\n {2}.*garbage\.bin: failed/);
    const j = JSON.parse(r.out) as { inputs: Array<{ path: string; packets: number; error: string | null }> };
    expect(j.inputs.map((i) => [i.path, i.packets, i.error === null])).toEqual([
      [fifo, 0, false],
      [join(FIXTURES, 'demo/office.pcap'), 42, true],
    ]);
  });

  it('bad usage exits 2 with one line', async () => {
    expect((await runMain(['scan'])).code).toBe(2);
    const bad = await runMain(['scan', join(FIXTURES, 'demo'), '--subscriber-net', 'not-a-cidr', '--db', join(tmp, 'x.sqlite')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--subscriber-net "not-a-cidr" is not a CIDR/);
    // ipaddr.js read 100.064.0.0 as octal (100.52.0.0): another range, without a word.
    const padded = await runMain(['scan', join(FIXTURES, 'demo'), '--subscriber-net', '100.064.0.0/10', '--db', join(tmp, 'x.sqlite')]);
    expect(padded.code).toBe(2);
    expect(padded.err).toMatch(/--subscriber-net "100\.064\.0\.0\/10" is not a CIDR; .*four decimal parts without leading zeros/);
    // Counts in decimal digits, durations as decimal seconds: Number() took 0x10 as 16 and 2.5 workers as a count.
    for (const [flag, value, what] of [
      ['--max-flows', '0x10', 'a whole number of at least 1, in decimal digits'],
      ['--workers', '2.5', 'a whole number of at least 1, in decimal digits'],
      ['--max-flows', '1e3', 'a whole number of at least 1, in decimal digits'],
      ['--idle-timeout', '0x10', 'seconds, a decimal number above 0, like 300 or 0.5'],
      ['--idle-timeout', '0', 'seconds, a decimal number above 0, like 300 or 0.5'],
      ['--collector-port', '0x50', 'a port from 1 to 65535'],
      ['--collector-port', '65536', 'a port from 1 to 65535'],
    ] as const) {
      const r = await runMain(['scan', join(FIXTURES, 'demo'), flag, value, '--db', join(tmp, 'x.sqlite')]);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.err, `${flag} ${value}`).toContain(`${flag} expects ${what}, got "${value}"`);
    }
    // The same reading in every command (intel resolve and probe took Number()'s hex, exponents and spaces).
    const target = ['--target', '203.0.113.5:3333'];
    for (const [args, flag, value, what] of [
      [['intel', 'resolve'], '--concurrency', '0x10', 'a whole number from 1 to 256, in decimal digits'],
      [['intel', 'resolve'], '--timeout', '1e1', 'seconds, a decimal number above 0 and at most 60, like 5 or 0.5'],
      [['intel', 'resolve'], '--timeout', '61', 'seconds, a decimal number above 0 and at most 60, like 5 or 0.5'],
      [['probe', ...target], '--rate', '0x10', 'a number above 0 and at most 1000, like 5 or 0.5'],
      [['probe', ...target], '--max-targets', ' 5', 'a whole number from 1 to 1000000, in decimal digits'],
      [['probe', ...target], '--timeout', '1e2', 'seconds, a decimal number above 0 and at most 600, like 300 or 0.5'],
    ] as const) {
      const r = await runMain([...args, flag, value]);
      expect(r.code, `${args[0]} ${flag} ${value}`).toBe(2);
      expect(r.err, `${args[0]} ${flag} ${value}`).toContain(`${flag} expects ${what}, got "${value}"`);
    }
    expect((await runMain(['watchlist', '--db', join(tmp, 'nope.sqlite')])).code).toBe(2);
    expect((await runMain(['flows', '--db', demoDb, '--format', 'xml'])).code).toBe(2);
  });

  it('invalid rules stop a scan unless --lenient-rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minerwatch-rules-'));
    const { cpSync } = await import('node:fs');
    cpSync(join(ROOT, 'rules'), dir, { recursive: true });
    const f = join(dir, 'signatures/monero.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('side: server', 'side: pool'));
    const strict = await runMain(['scan', join(FIXTURES, 'demo'), '--rules', dir, '--db', join(tmp, 'r1.sqlite')]);
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/signatures\/monero\.yaml:\d+: rules\[\d\]\.side: expected client or server/);
    const lenient = await runMain(['scan', join(FIXTURES, 'demo'), '--rules', dir, '--lenient-rules', '--db', join(tmp, 'r2.sqlite')]);
    expect(lenient.code).toBe(0);
    const check = await runMain(['rules', 'check', dir]);
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/1 invalid/);
    expect((await runMain(['rules', 'check'])).code).toBe(0);
  });

  it('scanning more inputs into the same report adds to it', async () => {
    const db = join(tmp, 'add.sqlite');
    await runMain(['scan', join(FIXTURES, 'demo/office.pcap'), '--db', db]);
    await runMain(['scan', join(FIXTURES, 'demo/home-miners.pcapng'), '--db', db]);
    const w = JSON.parse((await runMain(['watchlist', '--db', db, '--format', 'json'])).out) as unknown[];
    expect(w).toHaveLength(3);
  });

  it('rules test shows which rules fired on which flows', async () => {
    const r = await runMain(['rules', 'test', join(FIXTURES, 'demo/home-miners.pcapng')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/100\.64\.0\.11:51234 -> 203\.0\.113\.10:3333 tcp .* mining\/high \(two-sided protocol\)/);
    expect(r.out).toMatch(/ {4}MW-XMR-LOGIN@1 {2}payload\/client {2}login/);
    expect(r.out).toMatch(/^2 flow\(s\) with evidence|\n\d+ flow\(s\) with evidence\n$/);
  });

  it('scanning an input already in the report (same sha256) changes nothing', async () => {
    const db = join(tmp, 'again.sqlite');
    await runMain(['scan', join(FIXTURES, 'demo'), '--db', db]);
    const snapshot = (): unknown => {
      const d = new Database(db, { readonly: true });
      const r = { flows: d.prepare('SELECT count(*) AS n FROM flows').get(), runs: d.prepare('SELECT count(*) AS n FROM runs').get(), subs: d.prepare('SELECT * FROM subscribers ORDER BY subscriber').all() };
      d.close();
      return r;
    };
    const before = snapshot();
    const again = await runMain(['scan', join(FIXTURES, 'demo'), '--db', db]);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/home-miners\.pcapng: already in .* not scanned again/);
    expect(again.out).toMatch(/all 2 input\(s\) already in/);
    expect(snapshot()).toEqual(before);
    // A new input next to known ones: only the new one is read.
    const more = await runMain(['scan', join(FIXTURES, 'demo'), join(FIXTURES, 'rules/ethproxy.pcap'), '--db', db, '--json']);
    const j = JSON.parse(more.out) as { alreadyInReport: number; inputs: Array<{ path: string }> };
    expect(j.alreadyInReport).toBe(2);
    expect(j.inputs.map((i) => i.path.split('/').pop())).toEqual(['ethproxy.pcap']);
  });

  it('--help shows every command with examples', async () => {
    const r = await runMain(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['scan', 'flows', 'watchlist', 'rules', 'Examples:']) expect(r.out).toContain(c);
    const s = await runMain(['scan', '--help']);
    expect(s.out).toContain('--subscriber-net');
    // Every exit status scan returns is documented in its help (main.ts maps ReportError to 3).
    expect(s.out).toMatch(/Exit status: 0 every input read; 1 .*\n?.* 2 bad usage.* 3 the report could not\s+be written part-way.*130 a second signal/s);
  });
});

if (!haveSs()) console.warn('ss (Debian package iproute2) not installed: the SIGINT-on-an-open-pipe test is skipped (it signals once the scan has read its standard input)');
describe('minerwatch scan on SIGINT', () => {
  it.skipIf(!haveSs())('stops reading a pipe that stays open, writes what was read and marks the run interrupted', async () => {
    const { spawn } = await import('node:child_process');
    const db = join(tmp, 'sigint.sqlite');
    const capture = readFileSync(join(FIXTURES, 'demo/office.pcap'));
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'scan', '-', '--db', db, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // Send the whole capture but keep the pipe open, as a live `tcpdump -w -` would.
    await new Promise<void>((r) => child.stdin.write(capture, () => r()));
    await waitFor(() => child.exitCode !== null || unreadBytes(child.pid!, 0) === 0, { what: 'the scan to read the whole capture from its standard input' });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(err).toMatch(/SIGINT: finishing the flows read so far/);
    expect(code).toBe(1);
    const j = JSON.parse(out) as { interrupted: boolean; flows: number; miningFlows: number; inputs: Array<{ packets: number; anomalies: Record<string, number> }> };
    expect(j.interrupted).toBe(true);
    expect(j.inputs[0]!.packets).toBe(42);
    expect(j.inputs[0]!.anomalies).toEqual({});
    expect(j.miningFlows).toBe(1);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT status FROM runs').get()).toEqual({ status: 'interrupted' });
    expect((d.prepare('SELECT count(*) AS n FROM flows').get() as { n: number }).n).toBe(2);
    d.close();
  });
});

describe('minerwatch merge', () => {
  it('merged reports give the figures of one scan over all inputs, and a merged input is not counted twice', async () => {
    const a = join(tmp, 'm-a.sqlite');
    const b = join(tmp, 'm-b.sqlite');
    const all = join(tmp, 'm-all.sqlite');
    const merged = join(tmp, 'm-merged.sqlite');
    await runMain(['scan', join(FIXTURES, 'demo/home-miners.pcapng'), join(FIXTURES, 'names/peer.pcap'), '--db', a]);
    await runMain(['scan', join(FIXTURES, 'demo/office.pcap'), '--db', b]);
    await runMain(['scan', join(FIXTURES, 'demo/home-miners.pcapng'), join(FIXTURES, 'names/peer.pcap'), join(FIXTURES, 'demo/office.pcap'), '--db', all]);
    const m = await runMain(['merge', a, b, a, '--db', merged]);
    expect(m.code).toBe(0);
    // The second merge of m-a adds nothing, not even an empty run row.
    expect(m.out).toMatch(/m-a\.sqlite: 0 run\(s\), 0 input\(s\) \(2 already present\), 0 flows/);
    const runs = new Database(merged, { readonly: true });
    expect(runs.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(2);
    runs.close();
    const figures = (p: string): unknown => {
      const d = new Database(p, { readonly: true });
      const r = {
        subscribers: d.prepare('SELECT subscriber, first_seen, last_seen, mining_flows, servers, pools, coins, agents, workers, confidence, evidence FROM subscribers ORDER BY subscriber').all(),
        flows: d.prepare('SELECT client, client_port, server, server_port, packets_c2s, packets_s2c, label, confidence, outcome, rules FROM flows ORDER BY client, client_port, server, server_port').all(),
        evidence: (d.prepare('SELECT count(*) AS n FROM evidence').get() as { n: number }).n,
      };
      d.close();
      return r;
    };
    expect(figures(merged)).toEqual(figures(all));
    expect((await runMain(['merge', a, '--db', a])).code).toBe(2);
  });
});
