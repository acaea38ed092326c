/**
 * A real Debian `unbound` for tests: listens on 127.0.0.1 on a free port, answers only from the
 * local data and zones it is given (`local-zone: "." static` answers everything else NXDOMAIN, so
 * it never recurses to the Internet), and optionally logs dnstap to a unix socket on which
 * `fstrm_capture` writes a Frame Streams file. Every wait is bounded and waits on a condition
 * (a log line, a file, a process exit).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian packages the harness needs: unbound (built with dnstap), fstrm-bin, dnsutils. */
export const UNBOUND_PACKAGES = 'unbound fstrm-bin dnsutils';

/** Why the harness cannot run here, or null when `unbound`, `fstrm_capture` and `dig` are installed. */
export function unboundSkipReason(dnstap = true): string | null {
  const missing: string[] = [];
  const tools: Array<[string, string[]]> = [
    ['unbound', ['-V']],
    ['dig', ['-v']],
  ];
  if (dnstap) tools.push(['fstrm_capture', ['-h']]);
  for (const [tool, args] of tools) {
    const r = spawnSync(tool, args, { encoding: 'utf8', timeout: 10_000 });
    if (r.error) missing.push(tool);
    else if (tool === 'unbound' && dnstap && !/--enable-dnstap/.test(`${r.stdout}${r.stderr}`)) missing.push('unbound built with --enable-dnstap');
  }
  if (missing.length === 0) return null;
  return `${missing.join(', ')} not available: real-resolver tests skipped (Debian packages: ${UNBOUND_PACKAGES})`;
}

export interface UnboundOptions {
  /** `local-zone` lines: zone name and type, e.g. `['pool.test.', 'static']`. */
  localZones?: Array<[string, string]>;
  /** `local-data` records in master-file form, e.g. `eth.pool.test. 45 IN A 198.51.100.7`. */
  localData?: string[];
  /** Zones served from zone files (unbound follows CNAME chains inside them, local-data does not). */
  authZones?: Array<{ name: string; zone: string }>;
  /** Log client queries and responses over dnstap into a Frame Streams file. */
  dnstap?: boolean;
  /** The dnstap identity unbound sends. */
  identity?: string;
}

export interface RunningUnbound {
  port: number;
  dir: string;
  /** The Frame Streams file fstrm_capture writes (complete after {@link RunningUnbound.stop}). */
  dnstapFile: string | null;
  /** `dig @127.0.0.1 -p PORT name type`: its output. */
  dig(name: string, type?: string): Promise<string>;
  /**
   * SIGTERM unbound, then fstrm_capture; resolves when both have exited (files flushed). With
   * dnstap, first waits until unbound's dnstap thread has been woken after the last `dig` returned:
   * workers queue messages and wake that thread up to a second later, and messages still queued
   * at shutdown are lost.
   */
  stop(): Promise<void>;
  /** Remove the temporary directory (after stop). */
  cleanup(): void;
}

const WAIT_MS = 15_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolve when `test()` holds (checked on every output chunk and every 20 ms), reject after `ms`. */
function waitFor(what: string, test: () => boolean, ms: number, proc?: ChildProcess, output?: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const timer = setInterval(check, 20);
    function done(err?: Error): void {
      clearInterval(timer);
      proc?.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    function onExit(code: number | null): void {
      if (!test()) done(new Error(`${what}: process exited (${code}) first; output:\n${output?.() ?? ''}`));
    }
    function check(): void {
      if (test()) done();
      else if (Date.now() - t0 > ms) done(new Error(`${what}: not within ${ms} ms; output:\n${output?.() ?? ''}`));
    }
    proc?.on('exit', onExit);
    check();
  });
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), WAIT_MS);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function capture(p: ChildProcess): () => string {
  let text = '';
  p.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}

/** Start unbound (and fstrm_capture first when dnstap is on) and wait until it serves and, with dnstap, is connected to the socket. */
export async function startUnbound(opts: UnboundOptions): Promise<RunningUnbound> {
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-unbound-'));
  const socket = join(dir, 'dnstap.sock');
  const dnstapFile = opts.dnstap ? join(dir, 'dnstap.fstrm') : null;
  let fstrm: ChildProcess | null = null;
  let ub: ChildProcess | null = null;
  let output: () => string;
  try {
    if (opts.dnstap) {
      fstrm = spawn('fstrm_capture', ['-t', 'protobuf:dnstap.Dnstap', '-u', socket, '-w', dnstapFile!], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out = capture(fstrm);
      await waitFor('fstrm_capture socket', () => existsSync(socket), WAIT_MS, fstrm, out);
    }
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(join(dir, 'unbound.conf'), config(dir, port, socket, opts));
      ub = spawn('unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out = capture(ub);
      output = out;
      try {
        await waitFor('unbound start of service', () => out().includes('start of service'), WAIT_MS, ub, out);
        if (opts.dnstap) await waitFor('unbound dnstap connection', () => out().includes('dnstap io: connected'), WAIT_MS, ub, out);
      } catch (e) {
        ub.kill('SIGTERM');
        await exited(ub);
        // Another process may have taken the port between the probe and unbound's bind.
        if (attempt < 3 && /could not open ports|bind/i.test(out())) continue;
        throw e;
      }
      const server = ub;
      const capturer = fstrm;
      const log = output;
      let mark = 0;
      return {
        port,
        dir,
        dnstapFile,
        dig: (name, type = 'A') =>
          new Promise((resolve, reject) => {
            execFile('dig', [`@127.0.0.1`, '-p', String(port), '+tries=1', '+time=3', name, type], { timeout: 10_000 }, (err, stdout) => {
              mark = log().length;
              if (err) reject(err);
              else resolve(stdout);
            });
          }),
        stop: async () => {
          if (capturer && mark > 0) {
            await waitFor('unbound dnstap thread woken after the last query', () => log().includes('dnstap io: cmd channel cmd wakeup', mark), WAIT_MS, server, log);
          }
          server.kill('SIGTERM');
          await exited(server);
          if (capturer) {
            capturer.kill('SIGTERM');
            await exited(capturer);
          }
        },
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    }
  } catch (e) {
    ub?.kill('SIGTERM');
    fstrm?.kill('SIGTERM');
    if (ub) await exited(ub);
    if (fstrm) await exited(fstrm);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function config(dir: string, port: number, socket: string, opts: UnboundOptions): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${port}`,
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: ${q(dir)}`,
    `  pidfile: ${q(join(dir, 'unbound.pid'))}`,
    '  use-syslog: no',
    '  logfile: ""',
    // 4: logs "dnstap io: connected" and "dnstap io: cmd channel cmd wakeup", the conditions the
    // harness waits for.
    '  verbosity: 4',
    '  do-ip6: no',
    '  num-threads: 1',
    '  access-control: 127.0.0.0/8 allow',
    '  module-config: "iterator"',
    '  local-zone: "." static',
  ];
  for (const [name, type] of opts.localZones ?? []) lines.push(`  local-zone: ${q(name)} ${type}`);
  for (const z of opts.authZones ?? []) lines.push(`  local-zone: ${q(z.name)} transparent`);
  for (const rr of opts.localData ?? []) lines.push(`  local-data: ${q(rr)}`);
  lines.push('remote-control:', '  control-enable: no');
  for (const [i, z] of (opts.authZones ?? []).entries()) {
    const file = join(dir, `zone${i}.zone`);
    writeFileSync(file, z.zone);
    lines.push('auth-zone:', `  name: ${q(z.name)}`, `  zonefile: ${q(file)}`, '  for-downstream: yes', '  for-upstream: yes', '  fallback-enabled: no');
  }
  if (opts.dnstap) {
    lines.push(
      'dnstap:',
      '  dnstap-enable: yes',
      `  dnstap-socket-path: ${q(socket)}`,
      '  dnstap-send-identity: yes',
      `  dnstap-identity: ${q(opts.identity ?? 'minerwatch-test')}`,
      '  dnstap-send-version: yes',
      '  dnstap-log-client-query-messages: yes',
      '  dnstap-log-client-response-messages: yes',
    );
  }
  return `${lines.join('\n')}\n`;
}
