/**
 * Writing nfdump binary files with Debian's real nfcapd: a collector on 127.0.0.1 (random free
 * port) in a temporary directory, export datagrams sent to it in order and paced so its socket
 * never overflows, then SIGTERM so it closes and renames its file. Every wait has a deadline;
 * nothing leaves the loopback interface. Used by tests/io/nfcapd.test.ts and bench/nfcapd.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freeUdpPort, udpReceiveQueue } from './udp.js';

/** nfcapd's compression flags as nfdump 1.7.1's `nfcapd -h` lists them (ZSTD is not built in). */
export const NFCAPD_COMPRESSION = { none: [] as string[], lzo: ['-z'], bz2: ['-j'], lz4: ['-y'] } as const;
export type NfcapdCompression = keyof typeof NFCAPD_COMPRESSION;

/** Why nfcapd/nfdump cannot be used here (and the Debian package), or null. */
export function missingNfdump(): string | null {
  const missing = ['nfcapd', 'nfdump'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
  return missing.length ? `${missing.join(', ')} not installed (Debian package nfdump)` : null;
}

async function until(what: string, deadlineMs: number, check: () => boolean): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A running nfcapd. */
export interface RunningNfcapd {
  port: number;
  child: ChildProcess;
  /** SIGTERM, wait for it to close its file (SIGKILL after the deadline); resolves with its log. */
  stop(): Promise<string>;
}

/** Start nfcapd on 127.0.0.1 writing into `dir` with `flags` (compression); one file per hour. */
export async function startNfcapd(dir: string, flags: readonly string[], deadlineMs = 30_000): Promise<RunningNfcapd> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const child = spawn('nfcapd', ['-b', '127.0.0.1', '-p', String(port), '-w', dir, '-t', '3600', '-B', '33554432', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    let code: number | null | undefined;
    const exited = new Promise<void>((resolve) => child.on('close', (c) => ((code = c), resolve())));
    await until('nfcapd to listen', deadlineMs, () => code !== undefined || udpReceiveQueue(port) !== undefined);
    if (code !== undefined) {
      last = log;
      continue;
    }
    const stop = async (): Promise<string> => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
      await exited;
      clearTimeout(timer);
      return log;
    };
    return { port, child, stop };
  }
  throw new Error(`nfcapd could not start on 127.0.0.1: ${last}`);
}

/**
 * Send `datagrams` to 127.0.0.1:`port` in order, waiting whenever the receiver's queue holds more
 * than 4 MiB, and until it is empty at the end.
 */
export async function sendPaced(port: number, datagrams: readonly Uint8Array[], deadlineMs = 600_000): Promise<void> {
  const s = createSocket('udp4');
  try {
    for (let i = 0; i < datagrams.length; i++) {
      await new Promise<void>((resolve, reject) => s.send(datagrams[i]!, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      if (i % 64 === 63) await until('nfcapd to read its socket', deadlineMs, () => (udpReceiveQueue(port) ?? 0) < 4 << 20);
    }
    await until('nfcapd to read every datagram', deadlineMs, () => (udpReceiveQueue(port) ?? 0) === 0);
  } finally {
    s.close();
  }
}

/** The finished nfcapd files in `dir` (not `nfcapd.current.*`), sorted. */
export function nfcapdFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^nfcapd\.\d{12}$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** nfcapd's closing count of stored flows (`Flows: N`), summed over its idents. */
export function storedFlows(log: string): number {
  let n = 0;
  for (const m of log.matchAll(/Ident: '[^']*' Flows: (\d+)/g)) n += Number(m[1]);
  return n;
}
