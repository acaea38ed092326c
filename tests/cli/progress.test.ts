/**
 * The progress line, through the real CLI: standard error is a pseudo-terminal made by Python's
 * `pty` module (200 columns, 50 rows), standard output a pipe. A scan of a 200 MiB generated
 * capture (about a second unloaded, drawn from the first tick) shows a line with the bytes read of the total and a rate; what the
 * terminal finally shows, once its erase sequences are played back, is exactly the standard error
 * of the same scan into a pipe. With `--quiet`, or with standard error not a terminal, not a byte
 * of the line is written: standard error is the same as with progress off. probe (against closed
 * loopback ports, paced by --rate) and merge show theirs the same way.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { ROOT, runCli } from '../helpers.js';
import { closedPort } from '../probe/services.js';

const PYTHON = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
const SKIP = PYTHON ? false : 'python3 not installed (Debian package python3): progress-line tests skipped';
if (SKIP) console.warn(SKIP);

/** Runs argv with stderr on a new pseudo-terminal; prints JSON: exit code, stdout and the terminal's bytes (base64). */
const PTY_RUN = String.raw`
import base64, fcntl, json, os, pty, struct, subprocess, sys, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, close_fds=True)
os.close(slave)
tty = b''
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    tty += chunk
out = p.stdout.read()
code = p.wait()
print(json.dumps({'code': code, 'out': base64.b64encode(out).decode(), 'tty': base64.b64encode(tty).decode()}))
`;

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-progress-'));
const capture = join(tmp, 'big.pcap');
const TARGET_BYTES = 200 * 1024 * 1024;

/** The built CLI with standard error on a terminal. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; out: string; tty: string } {
  const r = spawnSync(PYTHON, ['-c', PTY_RUN, process.execPath, join(ROOT, 'bin', 'minerwatch'), ...args], { encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  expect(r.status, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as { code: number; out: string; tty: string };
  return { code: j.code, out: Buffer.from(j.out, 'base64').toString('utf8'), tty: Buffer.from(j.tty, 'base64').toString('utf8') };
}

/** The built CLI into pipes, with the progress line due from the first tick. */
function intoPipes(args: string[]): { code: number; out: string; err: string } {
  return runCli(args, 240_000, { MINERWATCH_PROGRESS_AFTER_MS: '0' });
}

/**
 * What a terminal shows after `bytes`: the few sequences a one-line display uses are played back
 * (erase line, cursor up, column 1, synchronised output on/off); anything else fails the test.
 */
function screen(bytes: string): string {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (s: string): void => {
    const l = lines[row]!.padEnd(col, ' ');
    lines[row] = l.slice(0, col) + s + l.slice(col + s.length);
    col += s.length;
  };
  for (let i = 0; i < bytes.length; ) {
    const esc = /^\x1b\[(\?2026[hl]|2K|(\d*)A|G)/.exec(bytes.slice(i, i + 16));
    if (esc) {
      if (esc[1] === '2K') lines[row] = '';
      else if (esc[1]!.endsWith('A')) row = Math.max(0, row - Number(esc[2] || 1));
      else if (esc[1] === 'G') col = 0;
      i += esc[0].length;
      continue;
    }
    const c = bytes[i++]!;
    if (c === '\x1b') throw new Error(`unexpected escape sequence ${JSON.stringify(bytes.slice(i - 1, i + 10))}`);
    if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      if (lines.length <= row) lines.push('');
    } else put(c);
  }
  return lines.join('\n');
}

describe.skipIf(SKIP)('progress line', () => {
  let size = 0;

  beforeAll(() => {
    // Small packets and short flows (the bench's subscriber link): about 1 s to read unloaded.
    generateBenchCapture(capture, TARGET_BYTES, 20261121, 'subscriber');
    size = statSync(capture).size;
  }, 120_000);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  // The capture named twice: the scan says on stderr that it reads it once, a line the progress must not spoil.
  const scanArgs = (db: string, ...extra: string[]): string[] => ['scan', capture, capture, '--db', join(tmp, db), ...extra];

  it('scan on a terminal: bytes read of the total, a rate, flows and mining flows; the terminal ends as a pipe would', () => {
    const piped = runCli(scanArgs('piped.sqlite', '--workers', '1'), 240_000);
    expect(piped.code, piped.err).toBe(0);
    expect(piped.err).toBe(`minerwatch: ${capture}: the same file as ${capture}, read once\n`);
    const totalText = `${(size / 1048576).toFixed(1)} MiB`;
    for (const workers of ['1', '2']) {
      // Drawn from the first tick (250 ms) rather than after 1 s: the read is too short on a fast machine for the default.
      const t = onTerminal(scanArgs(`tty-${workers}.sqlite`, '--workers', workers), { MINERWATCH_PROGRESS_AFTER_MS: '0' });
      expect(t.code, t.tty).toBe(0);
      const shown = [...t.tty.matchAll(/scan: (?:writing the report, )?([\d.]+ (?:B|KiB|MiB)) of ([\d.]+ MiB) \((\d+)%\)(, [\d.]+ (?:B|KiB|MiB|GiB)\/s)?, (\d+) packets\/records, (\d+) flows, (\d+) mining/g)];
      expect(shown.length, t.tty).toBeGreaterThan(0);
      for (const m of shown) expect(m[2]).toBe(totalText);
      // Some line was drawn while reading, with a rate.
      expect(shown.some((m) => Number(m[3]) < 100 && m[4] !== undefined), t.tty).toBe(true);
      expect(t.tty).toMatch(/, ETA \d+:\d\d/);
      // Played back, the terminal holds what the pipe got, line for line (the pty writes \r\n).
      expect(screen(t.tty).replace(/\n+$/, '')).toBe(piped.err.replace(/\n+$/, ''));
      expect(t.out).toBe(piped.out.replaceAll('piped.sqlite', `tty-${workers}.sqlite`));
    }
  }, 300_000);

  it('--quiet on a terminal, and progress on into a pipe: not a byte of it, standard error as with progress off', () => {
    const quietTty = onTerminal(scanArgs('quiet-tty.sqlite', '--workers', '1', '--quiet'), { MINERWATCH_PROGRESS_AFTER_MS: '0' });
    expect(quietTty.code, quietTty.tty).toBe(0);
    const quietPipe = runCli(scanArgs('quiet-pipe.sqlite', '--workers', '1', '--quiet'), 240_000);
    const pipe = intoPipes(scanArgs('pipe.sqlite', '--workers', '1'));
    expect(quietPipe.code, quietPipe.err).toBe(0);
    expect(pipe.code, pipe.err).toBe(0);
    expect(pipe.err).toBe(quietPipe.err);
    expect(pipe.err).toBe(`minerwatch: ${capture}: the same file as ${capture}, read once\n`);
    expect(quietTty.tty).toBe(quietPipe.err.replaceAll('\n', '\r\n'));
    for (const e of [pipe.err, quietTty.tty]) {
      expect(e).not.toContain('\x1b');
      expect(e).not.toMatch(/\/s\b|ETA/);
    }
  }, 300_000);

  it('probe on a terminal: targets done of the total, a rate, pools found; each target\'s line intact', async () => {
    // Closed loopback ports: every connection is refused at once, and the rate paces the run (24 connections at 8/s).
    const ports = new Set<number>();
    while (ports.size < 6) ports.add(await closedPort());
    const args = ['probe', ...[...ports].flatMap((p) => ['--target', `127.0.0.1:${p}`]), '--rate', '8', '--timeout', '1'];
    const t = onTerminal(args);
    expect(t.code, t.tty).toBe(0);
    expect(t.tty).toMatch(/probe: [1-5] of 6 targets \(\d+%\), [\d.]+ targets\/s, 0 pool\(s\), ETA \d+:\d\d/);
    const lines = screen(t.tty).split('\n').filter((l) => l !== '');
    expect(lines[0]).toMatch(/^minerwatch probe: 6 target\(s\)/);
    for (const p of ports) expect(lines.filter((l) => new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z 127\\.0\\.0\\.1:${p} refused \\(`).test(l)), t.tty).toHaveLength(1);
    expect(lines).toHaveLength(7);
    expect(t.out).toBe('6 target(s) probed: 0 pool, 0 not-pool, 0 silent, 6 refused, 0 timeout, 0 error\n');
    const q = onTerminal([...args, '--quiet']);
    expect(q.code, q.tty).toBe(0);
    expect(q.tty).not.toContain('\x1b');
    expect(q.tty).not.toMatch(/targets\/s/);
  }, 120_000);

  it('merge on a terminal: one line as each report begins, cleared at the end', () => {
    const a = join(tmp, 'merge-a.sqlite');
    const b = join(tmp, 'merge-b.sqlite');
    for (const [db, file] of [[a, 'office.pcap'], [b, 'home-miners.pcapng']] as const) {
      const r = runCli(['scan', join(ROOT, 'fixtures', 'demo', file), '--db', db]);
      expect(r.code, r.err).toBe(0);
    }
    const bytes = statSync(a).size + statSync(b).size;
    const total = bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
    const t = onTerminal(['merge', a, b, '--db', join(tmp, 'merged-tty.sqlite')]);
    expect(t.code, t.tty).toBe(0);
    const re = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(t.tty).toMatch(new RegExp(`merge: report 1 of 2 \\(${re(a)}\\), 0 B of ${re(total)} \\(0%\\)(?:, 0 B/s)?, 0 flows`));
    expect(t.tty).toMatch(new RegExp(`merge: report 2 of 2 \\(${re(b)}\\), [\\d.]+ (?:KiB|MiB) of ${re(total)} \\(\\d+%\\), [\\d.]+ (?:B|KiB|MiB)/s, \\d+ flows`));
    expect(screen(t.tty).replace(/\n+$/, '')).toBe('');
    const q = onTerminal(['merge', a, b, '--db', join(tmp, 'merged-quiet.sqlite'), '--quiet']);
    expect(q.code, q.tty).toBe(0);
    expect(q.tty).toBe('');
    expect(q.out.replaceAll('merged-quiet', 'merged-tty')).toBe(t.out);
  }, 120_000);

  it('report on a terminal: the step it is at, then subscriber rows done of the whole; cleared at the end', () => {
    const db = join(tmp, 'report-src.sqlite');
    const scan = runCli(['scan', join(ROOT, 'fixtures', 'demo', 'home-miners.pcapng'), '--subscriber-net', '100.64.0.0/10', '--subscriber-net', 'fd00::/8', '--db', db]);
    expect(scan.code, scan.err).toBe(0);
    const html = join(tmp, 'report-tty.html');
    const t = onTerminal(['report', '--html', html, '--db', db], { MINERWATCH_PROGRESS_AFTER_MS: '0' });
    expect(t.code, t.tty).toBe(0);
    const rows = (readFileSync(html, 'utf8').match(/<tr data-testid="subscriber-row"/g) ?? []).length;
    expect(rows).toBeGreaterThan(0);
    expect(t.tty).toContain('report: summing up the report');
    expect(t.tty).toContain('report: reading mining flows');
    expect(t.tty).toContain(`report: subscriber rows, 0 of ${rows} subscribers (0%)`);
    expect(screen(t.tty).replace(/\n+$/, '')).toBe('');
    const q = onTerminal(['report', '--html', join(tmp, 'report-quiet.html'), '--db', db, '--quiet'], { MINERWATCH_PROGRESS_AFTER_MS: '0' });
    expect(q.code, q.tty).toBe(0);
    expect(q.tty).toBe('');
    // The same page either way, but for the minute it says it was generated.
    const page = (f: string): string => readFileSync(f, 'utf8').replace(/Generated: [^<]*<\/p>/, 'Generated: </p>');
    expect(page(join(tmp, 'report-quiet.html'))).toBe(page(html));
  }, 120_000);
});
