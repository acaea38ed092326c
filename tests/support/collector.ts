/**
 * Driving a real `minerwatch collect` process on 127.0.0.1: the export datagrams of a capture,
 * a collector started on a free port, and the datagrams sent to it in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { Anomalies } from '../../src/anomalies.js';
import { decodePacket, PacketStatus, PacketView } from '../../src/decode/packet.js';
import { readCapture } from '../../src/io/input.js';
import { ROOT, waitFor } from '../helpers.js';

/** The UDP payloads of a capture of export datagrams, in order. */
export async function exportDatagrams(path: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const v = new PacketView();
  await readCapture(
    path,
    {
      time: 0,
      offset: 0,
      packet(lt, buf, off, caplen, orig) {
        if (decodePacket(lt, buf, off, caplen, orig, v) === PacketStatus.Transport && v.proto === 17) out.push(Buffer.from(buf.subarray(v.payloadOffset, v.payloadOffset + v.payloadLength)));
      },
      record() {},
      exportMessage() {},
    },
    new Anomalies(),
  );
  return out;
}

/**
 * Start the collector on a free loopback port (committing and printing counters every second,
 * keeping every flow) with `extra` options; resolves once it says where it listens.
 */
export function startCollector(db: string, extra: readonly string[] = [], timeoutMs = 20_000): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'minerwatch'), 'collect', '--listen', '127.0.0.1:0', '--db', db, '--commit-interval', '1', '--stats-interval', '1', '--keep-flows', 'all', ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const timer = setTimeout(() => reject(new Error(`collector did not start: ${err}`)), timeoutMs);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /collecting NetFlow v5\/v9 and IPFIX on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => err });
      }
    });
    child.on('exit', (code) => reject(new Error(`collector exited ${code}: ${err}`)));
  });
}

/** Send `datagrams` to 127.0.0.1:`port`, one after another. */
export function sendAll(port: number, datagrams: readonly Buffer[]): Promise<void> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      if (i >= datagrams.length) {
        s.close();
        resolve();
        return;
      }
      s.send(datagrams[i++]!, port, '127.0.0.1', next);
    };
    next();
  });
}

/**
 * Run `collect` into `db` (with `extra` options), send it every export datagram of the capture
 * `exports`, wait until it has received them all and finished every flow, then stop it with SIGINT;
 * resolves to its exit code and standard error. A collector that does not stop is killed.
 */
export async function collectAll(db: string, extra: readonly string[], exports: string, name: string, timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  const { child, port, stderr } = await startCollector(db, ['--join-gap', '1', ...extra], timeoutMs);
  const closed = new Promise<number | null>((r) => child.on('close', r));
  try {
    const datagrams = await exportDatagrams(exports);
    await sendAll(port, datagrams);
    await waitFor(() => new RegExp(`datagrams ${datagrams.length} \\(`).test(stderr()) && /open 0,/.test(stderr()), { what: `the collector (${name}) to receive every datagram and finish every flow`, timeoutMs });
    child.kill('SIGINT');
    return { code: await closed, stderr: stderr() };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
