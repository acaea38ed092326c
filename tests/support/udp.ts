/** Loopback UDP helpers for tests that run real collectors and resolvers on 127.0.0.1. */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

/** A UDP port on 127.0.0.1 that was free a moment ago (bound, read, closed). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * The receive queue (bytes) of the UDP socket bound to 127.0.0.1:`port`, from /proc/net/udp, or
 * undefined when no such socket exists.
 */
export function udpReceiveQueue(port: number): number | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return undefined;
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) return parseInt((f[4] ?? '0:0').split(':')[1] ?? '0', 16);
  }
  return undefined;
}
