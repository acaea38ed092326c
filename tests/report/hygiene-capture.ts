/**
 * A capture whose wire strings are hostile: a Stratum V1 miner whose agent and worker names carry
 * markup, event handlers, ANSI sequences and U+202E; an HTTP request to a pool name whose Host
 * header carries the same (raw ESC and BEL bytes: HTTP heads are read as latin1); and a TLS
 * ClientHello whose SNI carries them.
 */
import { LinkType, pcapFile, tcpSession, tlsClientHello, type SessionMessage, type TimedPacket } from '../support/builders.js';

export const RLO = '\u202e';
export const ANSI = '\x1b[2J\x1b]0;pwned-title\x07';
export const HOSTILE_AGENT = `=cmd|' /C calc'!A0 ${RLO}<img src=x onerror="document.title='pwned-agent'">${ANSI}`;
export const HOSTILE_WORKER = `${RLO}4evilwallet.rig1<script>document.title='pwned-worker'</script>${ANSI}`;
export const HOSTILE_SUBMIT_WORKER = `@SUM(1+1)${RLO}<svg onload="document.title='pwned-svg'">`;
export const HOSTILE_HOST = `x${RLO}<svg onload=document.title='pwned-host'>${ANSI}.c3pool.com`;
export const HOSTILE_SNI = `x${RLO}<script>document.title='pwned-sni'</script>${ANSI}.c3pool.com`;

const line = (...messages: unknown[]): string => messages.map((m) => `${JSON.stringify(m)}\n`).join('');

const T0 = Date.UTC(2026, 10, 20, 8, 0, 0);

/** One subscriber (`client`) mining with hostile names, one HTTP and one TLS flow with hostile host names. */
export function hostileCapture(client = '100.64.0.21'): Uint8Array {
  const notify = (job: string, ntime: string) => ({
    id: null,
    method: 'mining.notify',
    params: [job, '4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000', '01000000010000', '072f736c7573682f', [], '20000000', '1c2ac4af', ntime, true],
  });
  const stratum: SessionMessage[] = [
    { from: 'client', gapMs: 2, data: line({ id: 1, method: 'mining.subscribe', params: [HOSTILE_AGENT] }) },
    { from: 'server', gapMs: 40, data: line({ id: 1, result: [[['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f']], '08000002', 4], error: null }) },
    { from: 'client', gapMs: 3, data: line({ id: 2, method: 'mining.authorize', params: [HOSTILE_WORKER, 'x'] }) },
    { from: 'server', gapMs: 40, data: line({ id: 2, result: true, error: null }, { id: null, method: 'mining.set_difficulty', params: [8192] }, notify('4e21', '6553f1a0')) },
    { from: 'client', gapMs: 30_000, data: line({ id: 3, method: 'mining.submit', params: [HOSTILE_SUBMIT_WORKER, '4e21', '00000001', '6553f1a0', '0badf00d'] }) },
    { from: 'server', gapMs: 40, data: line({ id: 3, result: true, error: null }) },
  ];
  const http: SessionMessage[] = [
    { from: 'client', gapMs: 2, data: `GET /api/stats HTTP/1.1\r\nHost: ${HOSTILE_HOST}\r\nUser-Agent: ${ANSI}\r\n\r\n` },
    { from: 'server', gapMs: 30, data: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}' },
  ];
  const tls: SessionMessage[] = [{ from: 'client', gapMs: 2, data: tlsClientHello(HOSTILE_SNI, 7) }];
  const packets: TimedPacket[] = [
    ...tcpSession({ client: [client, 40021], server: ['198.51.100.20', 3333], start: T0, rttMs: 40, messages: stratum }),
    ...tcpSession({ client: [client, 40022], server: ['198.51.100.30', 80], start: T0 + 5_000, rttMs: 30, messages: http }),
    ...tcpSession({ client: [client, 40023], server: ['198.51.100.40', 443], start: T0 + 6_000, rttMs: 30, messages: tls }),
  ].sort((a, b) => a.ts - b.ts);
  return pcapFile(
    LinkType.RAW,
    packets.map((p) => ({ ts: p.ts, data: p.ip })),
  );
}
