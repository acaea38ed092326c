/**
 * Small TCP services on 127.0.0.1 (random ports) for the probe tests: four pools answering as the
 * protocols' public documents show, and services that are not pools. Each records the lines it
 * received per connection and when each connection came.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface Service {
  port: number;
  /** Lines received, per connection, in connection order. */
  connections: string[][];
  /** When each connection was accepted, ms since the epoch. */
  opened: number[];
  close: () => Promise<void>;
}

type Reply = (msg: Record<string, unknown>, socket: Socket) => void;

const line = (socket: Socket, ...values: unknown[]): void => {
  socket.write(values.map((v) => `${typeof v === 'string' ? v : JSON.stringify(v)}\n`).join(''));
};

function track(): Pick<Service, 'connections' | 'opened'> & { onSocket: (s: Socket) => string[] } {
  const connections: string[][] = [];
  const opened: number[] = [];
  return {
    connections,
    opened,
    onSocket: (s: Socket) => {
      const lines: string[] = [];
      connections.push(lines);
      opened.push(Date.now());
      s.on('error', () => undefined);
      return lines;
    },
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** A newline-delimited JSON service: `reply` answers each message. */
export async function jsonService(reply: Reply): Promise<Service> {
  const sockets = new Set<Socket>();
  const server = createServer();
  const t = track();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const lines = t.onSocket(socket);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(text);
        let msg: unknown;
        try {
          msg = JSON.parse(text);
        } catch {
          socket.destroy();
          return;
        }
        reply(msg as Record<string, unknown>, socket);
      }
    });
  });
  const port = await listen(server);
  return { port, connections: t.connections, opened: t.opened, close: closer(server, sockets) };
}

const unknownMethod = (m: Record<string, unknown>) => ({ id: m.id ?? null, result: null, error: [20, 'Unknown method', null] });

/**
 * Stratum V1 (braiins.com/stratum-v1/docs): the subscribe result carries the subscriptions,
 * extranonce1 and the extranonce2 size; the pool then sets the difficulty and sends a job.
 */
export function stratumPool(): Promise<Service> {
  return jsonService((m, s) => {
    if (m.method !== 'mining.subscribe') return line(s, unknownMethod(m));
    line(
      s,
      { id: m.id, result: [[['mining.set_difficulty', 'b4b6693b72a50c7116db18d6497cac52'], ['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f']], '08000002', 4], error: null },
      { id: null, method: 'mining.set_difficulty', params: [2048] },
      {
        id: null,
        method: 'mining.notify',
        params: [
          'bf',
          '4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000',
          '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008',
          '072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000',
          [],
          '00000002',
          '1c2ac4af',
          '504e86b9',
          false,
        ],
      },
    );
  });
}

/** CryptoNote (xmrig doc/STRATUM.md): login answers a session id, the first job and status OK. */
export function cryptonotePool(): Promise<Service> {
  return jsonService((m, s) => {
    if (m.method !== 'login') return line(s, { id: m.id ?? null, jsonrpc: '2.0', error: { code: -1, message: 'Unauthenticated' } });
    line(s, {
      id: m.id,
      jsonrpc: '2.0',
      error: null,
      result: {
        id: '83f7b7b0-5b4e-4b0c-9f3f-2d1c1b0e6a77',
        job: {
          blob: '0c0cd9e4d1a106b0ef8ba9a27ec4e7e1c4a6b5e0f1f32f6c7d8f1a9b2c3d4e5f6a7b8c9d0e1f200000000ab1c5e3e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081920a',
          job_id: 'b5Y1mhcLcrMWp9yY2wG8bX7xZ3nA',
          target: 'b88d0600',
          algo: 'rx/0',
          height: 3000000,
          seed_hash: '8a2b6a0fc3a4e2e1d6b8f0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b',
        },
        extensions: ['algo', 'keepalive'],
        status: 'OK',
      },
    });
  });
}

/**
 * ETHPROXY (open-ethereum-pool docs/STRATUM.md): eth_submitLogin answers `true`; work (header hash,
 * seed hash, boundary) comes with eth_getWork.
 */
export function ethproxyPool(): Promise<Service> {
  return jsonService((m, s) => {
    if (m.method === 'eth_submitLogin') return line(s, { id: m.id, jsonrpc: '2.0', result: true });
    if (m.method === 'eth_getWork')
      return line(s, {
        id: m.id,
        jsonrpc: '2.0',
        result: [
          '0x9f4b0d94c7e0f2a5a3c1b6d8e7f9a0b1c2d3e4f5061728394a5b6c7d8e9f0a1b',
          '0x5b2c6f0d1e3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192',
          '0x0000000112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba',
        ],
      });
    line(s, { id: m.id ?? null, jsonrpc: '2.0', error: { code: -1, message: 'Unknown method' } });
  });
}

/**
 * EthereumStratum/2.0.0: mining.hello answers the protocol, encoding and session limits; a session
 * that does not start with mining.hello is closed.
 */
export function ethereumStratum2Pool(): Promise<Service> {
  return jsonService((m, s) => {
    if (m.method !== 'mining.hello') return void s.end();
    line(s, { id: m.id, result: { proto: 'EthereumStratum/2.0.0', encoding: 'plain', resume: '1', timeout: 'b4', maxerrors: '5', node: 'Geth/v1.10.26' } });
  });
}

/** A JSON-RPC service that knows none of the methods (JSON-RPC 2.0 error -32601). */
export function jsonRpcService(): Promise<Service> {
  return jsonService((m, s) => line(s, { jsonrpc: '2.0', id: m.id ?? null, error: { code: -32601, message: 'Method not found' } }));
}

/** Sends every line back. */
export function echoService(): Promise<Service> {
  return jsonService((m, s) => line(s, m));
}

/** Accepts connections and never says anything. */
export function silentService(): Promise<Service> {
  return jsonService(() => undefined);
}

/** Node's own HTTP server: a JSON line is no HTTP request, so it answers 400 and closes. */
export async function httpService(): Promise<Service> {
  const server = createHttpServer((_req, res) => res.end('ok\n'));
  const sockets = new Set<Socket>();
  const t = track();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const lines = t.onSocket(socket);
    socket.on('data', (d) => lines.push(d.toString('utf8')));
  });
  const port = await listen(server);
  return { port, connections: t.connections, opened: t.opened, close: closer(server, sockets) };
}

/** A port nothing listens on: bound once to get a free number, then closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Answers every connection with an endless stream of bytes and no line end. */
export async function floodService(): Promise<Service> {
  const sockets = new Set<Socket>();
  const server = createServer();
  const t = track();
  const chunk = Buffer.alloc(16384, 0x41);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    t.onSocket(socket);
    const pump = (): void => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on('drain', pump);
    pump();
  });
  const port = await listen(server);
  return { port, connections: t.connections, opened: t.opened, close: closer(server, sockets) };
}
