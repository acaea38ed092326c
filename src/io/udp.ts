/** The collector's socket: UDP datagrams from exporters, with a large receive buffer. */
import { createSocket, type Socket } from 'node:dgram';
import { UsageError } from '../errors.js';

/** Parse `HOST:PORT`, `[v6]:PORT` or `PORT`. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(s) ?? /^()()(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) throw new UsageError(`--listen ${JSON.stringify(s)}: expected HOST:PORT (port 0: any free port), e.g. 127.0.0.1:2055 or [::1]:4739`);
  return { host: m[1] || m[2] || '0.0.0.0', port };
}

export function listenUdp(
  host: string,
  port: number,
  onDatagram: (buf: Buffer, from: string) => void,
): Promise<{ socket: Socket; address: string; port: number }> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
    socket.once('error', (e) => reject(new UsageError(`cannot listen on ${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    socket.on('message', (msg, rinfo) => onDatagram(msg, rinfo.address));
    socket.bind(port, host, () => {
      try {
        // Bursts from busy exporters: a small buffer drops datagrams (nfcapd uses -B for the same reason).
        socket.setRecvBufferSize(32 << 20);
      } catch {
        // The kernel cap (net.core.rmem_max) may be lower; the socket still works.
      }
      const a = socket.address();
      resolve({ socket, address: a.address, port: a.port });
    });
  });
}
