/**
 * Debian's dnsmasq as a test DNS server: on 127.0.0.1 only (a random free port), answering only
 * what the test tells it (no upstream, no hosts file, no config file).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freeUdpPort } from './udp.js';

/** Path of dnsmasq (on PATH or in /usr/sbin), or '' when it is not installed (Debian package dnsmasq-base). */
export const DNSMASQ = spawnSync('sh', ['-c', 'command -v dnsmasq || command -v /usr/sbin/dnsmasq'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '';

/** The options every test server starts with: foreground, loopback only on `port`, nothing read from the machine. */
export function dnsmasqBaseArgs(port: number): string[] {
  return ['--no-daemon', '--no-resolv', '--no-hosts', '--listen-address=127.0.0.1', `--port=${port}`, '--bind-interfaces', '--conf-file=/dev/null', '--pid-file='];
}

/**
 * Start dnsmasq with `args(port)` on a free loopback port; resolves once it says it started (5 s a
 * try, five tries, a new port each), or rejects with what it last wrote.
 */
export async function startDnsmasq(args: (port: number) => string[]): Promise<{ child: ChildProcess; port: number }> {
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeUdpPort();
    const child = spawn(DNSMASQ, args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
    const ok = await new Promise<boolean>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve(false), 5000);
      child.stderr!.on('data', (d: Buffer) => {
        text += d.toString();
        if (/started, version/.test(text)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        last = text;
        resolve(false);
      });
    });
    if (ok) return { child, port };
    child.kill('SIGKILL');
  }
  throw new Error(`dnsmasq did not start: ${last}`);
}
