/**
 * Writes the flow-log fixtures under fixtures/flowlogs/: captures of miners and of benign
 * long-lived applications, built to be exported through a real flow exporter (softflowd → nfcapd
 * → nfdump) so that a test can state what flow-only evidence must conclude per subscriber.
 * Output is deterministic: fixed timestamps on 2026-11-10 (UTC), a seeded PRNG, no clock reads.
 * Files are gzipped pcaps (an hour of a game's packets would otherwise be over a megabyte); the
 * capture inside is what is deterministic, the gzip bytes depend on the zlib version.
 *
 * Run from the repository root: `npx tsc -p tsconfig.json && node dist/scripts/gen-flowlog-fixtures.js`.
 */
import { PACKAGE_ROOT } from '../src/cli/paths.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

import {
  LinkType,
  concatBytes,
  pcapFile,
  seededBytes,
  tcpSession,
  tlsApplicationData,
  tlsClientHello,
  tlsClientHelloSessionId,
  tlsServerHello,
  udpExchange,
  utf8,
  type Peer,
  type SessionMessage,
  type TimedPacket,
} from '../tests/support/builders.js';
import { mulberry32 } from '../tests/support/random.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Midnight UTC of the capture day, 2026-11-10. Every fixture's packets fall on this day. */
export const CAPTURE_DAY_MS = Date.UTC(2026, 10, 10);

/** The date the test intel list was published (YYYY-MM-DD): the day before the captures. */
export const INTEL_ADDED = '2026-11-09';

/** A pool endpoint the test intel list names (exact IP and port). */
export interface ListedPoolEndpoint {
  ip: string;
  port: number;
  pool: string;
  coins: string[];
}

/** The verdict a correct flow-only scan must give a fixture's subscriber. */
export type FlowlogVerdict = 'listed' | 'absent';

/** One fixture: a capture of one subscriber's traffic and what must be concluded about it. */
export interface FlowlogFixture {
  /** Path relative to fixtures/flowlogs/ (a gzipped pcap). */
  file: string;
  /** The subscriber's address (100.64.0.0/10). */
  subscriber: string;
  /** `listed`: on the watch list at medium or above; `absent`: never on it at medium or above. */
  verdict: FlowlogVerdict;
  /** The conversations, client side first: `tcp`/`udp`, client port, server address and port. */
  conversations: Array<{ transport: 'tcp' | 'udp'; clientPort: number; server: string; serverPort: number }>;
  /** Packets in the capture (what a flow exporter must account for). */
  packets: number;
  /** Sum of the IP total lengths of the packets (what an exporter counts as bytes). */
  ipBytes: number;
}

const POOL_A: ListedPoolEndpoint = { ip: '203.0.113.10', port: 3333, pool: 'Test pool A', coins: ['XMR'] };
const POOL_B: ListedPoolEndpoint = { ip: '203.0.113.20', port: 45700, pool: 'Test pool B', coins: ['XMR'] };
const POOL_TLS: ListedPoolEndpoint = { ip: '203.0.113.40', port: 443, pool: 'Test pool TLS', coins: ['XMR'] };

/** The fifteen endpoints the fail-over miner tries, in its order; it stays on the last one. */
const FAILOVER: ListedPoolEndpoint[] = [
  ['198.51.100.101', 3333],
  ['198.51.100.102', 3333],
  ['198.51.100.103', 4444],
  ['198.51.100.104', 5555],
  ['198.51.100.105', 7777],
  ['198.51.100.106', 14444],
  ['198.51.100.107', 3333],
  ['198.51.100.108', 443],
  ['198.51.100.109', 9999],
  ['198.51.100.110', 3333],
  ['198.51.100.111', 4444],
  ['198.51.100.112', 10128],
  ['198.51.100.113', 5555],
  ['198.51.100.114', 20535],
  ['198.51.100.115', 3333],
].map(([ip, port]) => ({ ip: ip as string, port: port as number, pool: 'Test pool C', coins: ['XMR'] }));

/**
 * Every endpoint the test intel list names, sorted by address then port (the order rule files
 * keep). The benign web visit (fixture h) goes to {@link POOL_TLS}, which is listed.
 */
export const LISTED_POOL_ENDPOINTS: readonly ListedPoolEndpoint[] = [POOL_A, POOL_B, POOL_TLS, ...FAILOVER].sort(
  (a, b) => ipNumber(a.ip) - ipNumber(b.ip) || a.port - b.port,
);

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/**
 * The test intel list as an endpoint rule file (the schema of rules/endpoints/README.md): one
 * `ip` + `port` entry per listed pool endpoint.
 */
export function testIntelYaml(): string {
  const lines = [
    '# Test intel list for the flow-log fixtures (fixtures/flowlogs/README.md). Documentation addresses only.',
    'source: "minerwatch flow-log fixtures: test intel list (scripts/gen-flowlog-fixtures.ts)"',
    `added: ${INTEL_ADDED}`,
    'kind: pool',
    'entries:',
  ];
  for (const e of LISTED_POOL_ENDPOINTS) {
    lines.push(`  - ip: "${e.ip}"`, `    port: ${e.port}`, `    pool: "${e.pool}"`, `    coins: [${e.coins.map((c) => `"${c}"`).join(', ')}]`);
  }
  return lines.join('\n') + '\n';
}

/** Uniform draws from one seeded stream. */
class Draw {
  private readonly next: () => number;
  private seedCounter: number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
    this.seedCounter = seed * 1000;
  }

  /** A float in [lo, hi). */
  real(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor((hi - lo + 1) * this.next());
  }

  /** A fresh seed for seeded payload bytes. */
  seed(): number {
    return ++this.seedCounter;
  }

  /** An exponential draw with the given mean (Poisson arrivals), capped at 5 means. */
  exp(mean: number): number {
    return Math.min(5 * mean, -mean * Math.log(1 - this.next()));
  }
}

/** A message at an absolute time (ms since the epoch). */
interface TimedMessage {
  at: number;
  from: Peer;
  data: Uint8Array;
}

const MSS = 1400;

/** Bytes kept of each packet (`tcpdump -s 64`): IP and TCP/UDP headers and the first payload bytes. */
export const SNAPLEN = 64;

function segmentsFor(length: number): number {
  return Math.max(1, Math.ceil(length / MSS));
}

/**
 * Packets of a TCP conversation whose messages happen at given absolute times: the builder takes
 * gaps since the previous packet, so the gaps are derived from how far the builder's clock has run
 * (the handshake takes one round trip, each segment half a round trip until its ACK).
 */
function tcpAt(
  client: [string, number],
  server: [string, number],
  start: number,
  events: TimedMessage[],
  opts: { rttMs: number; close: boolean; handshake?: boolean },
): TimedPacket[] {
  const handshake = opts.handshake ?? true;
  let now = start + (handshake ? opts.rttMs : 0);
  const messages: SessionMessage[] = [...events]
    .sort((a, b) => a.at - b.at)
    .map((e) => {
      const gapMs = Math.max(2, e.at - now);
      const segments = segmentsFor(e.data.length);
      now += gapMs + (segments * opts.rttMs) / 2 + (segments - 1) * 0.05;
      return { from: e.from, data: e.data, gapMs, segments };
    });
  return tcpSession({ client, server, start, messages, rttMs: opts.rttMs, close: opts.close, handshake });
}

/** Datagrams of a UDP conversation at given absolute times. */
function udpAt(client: [string, number], server: [string, number], events: TimedMessage[]): TimedPacket[] {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  if (sorted.length === 0) return [];
  let now = sorted[0]!.at;
  const messages: SessionMessage[] = sorted.map((e, i) => {
    const gapMs = i === 0 ? 0 : Math.max(0.5, e.at - now);
    now += gapMs;
    return { from: e.from, data: e.data, gapMs };
  });
  return udpExchange({ client, server, start: sorted[0]!.at, messages });
}

/** A TLS application-data record of `total` bytes on the wire (header included). */
function tlsBytes(draw: Draw, total: number): Uint8Array {
  return tlsApplicationData(draw.seed(), Math.max(1, total - 5));
}

/** The opening of a TLS 1.3 session: ClientHello, the server's flight, the client's Finished. */
function tlsOpening(draw: Draw, at: number, sni: string | null): TimedMessage[] {
  const hello = tlsClientHello(sni, draw.seed());
  const flight = tlsServerHello(draw.seed(), tlsClientHelloSessionId(hello));
  return [
    { at, from: 'client', data: hello },
    { at: at + 60, from: 'server', data: flight },
    { at: at + 120, from: 'client', data: concatBytes(tlsApplicationData(draw.seed(), 1), tlsBytes(draw, 74)) },
  ];
}

/**
 * A miner's pool session over TLS (no plaintext): login and first job, then until `end` the pool
 * pushes a job every 20–90 s (100–400 B), the miner submits a share every 10–60 s (~150 B) and
 * the pool answers each (~70 B); after 50 s without sending anything the miner sends a keepalive.
 */
function minerEvents(draw: Draw, start: number, end: number, withTlsOpening: boolean): TimedMessage[] {
  const events: TimedMessage[] = [];
  let t = start;
  if (withTlsOpening) {
    events.push(...tlsOpening(draw, t, null));
    t += 200;
  }
  events.push({ at: t + 50, from: 'client', data: tlsBytes(draw, draw.int(280, 340)) });
  events.push({ at: t + 130, from: 'server', data: tlsBytes(draw, draw.int(380, 420)) });
  let nextJob = t + draw.real(20_000, 90_000);
  let nextShare = t + draw.real(10_000, 60_000);
  let lastClient = t + 50;
  while (true) {
    const nextKeepalive = lastClient + 50_000;
    const at = Math.min(nextJob, nextShare, nextKeepalive);
    if (at >= end) break;
    if (at === nextJob) {
      events.push({ at, from: 'server', data: tlsBytes(draw, draw.int(100, 400)) });
      nextJob = at + draw.real(20_000, 90_000);
    } else if (at === nextShare) {
      events.push({ at, from: 'client', data: tlsBytes(draw, draw.int(140, 160)) });
      events.push({ at: at + draw.real(45, 90), from: 'server', data: tlsBytes(draw, draw.int(60, 80)) });
      lastClient = at;
      nextShare = at + draw.real(10_000, 60_000);
    } else {
      events.push({ at, from: 'client', data: tlsBytes(draw, draw.int(85, 95)) });
      events.push({ at: at + draw.real(45, 90), from: 'server', data: tlsBytes(draw, draw.int(60, 70)) });
      lastClient = at;
    }
  }
  return events;
}

interface Built {
  fixture: FlowlogFixture;
  packets: TimedPacket[];
}

function fixture(
  file: string,
  subscriber: string,
  verdict: FlowlogVerdict,
  parts: Array<{ transport: 'tcp' | 'udp'; clientPort: number; server: string; serverPort: number; packets: TimedPacket[] }>,
): Built {
  const packets = parts.flatMap((p) => p.packets).sort((a, b) => a.ts - b.ts);
  return {
    fixture: {
      file,
      subscriber,
      verdict,
      conversations: parts.map(({ transport, clientPort, server, serverPort }) => ({ transport, clientPort, server, serverPort })),
      packets: packets.length,
      ipBytes: packets.reduce((n, p) => n + p.ip.length, 0),
    },
    packets,
  };
}

function tcpPart(client: [string, number], server: [string, number], packets: TimedPacket[]) {
  return { transport: 'tcp' as const, clientPort: client[1], server: server[0], serverPort: server[1], packets };
}

function udpPart(client: [string, number], server: [string, number], packets: TimedPacket[]) {
  return { transport: 'udp' as const, clientPort: client[1], server: server[0], serverPort: server[1], packets };
}

/** 1. One pool connection held for ~3 h 05 min to a listed IP:port (3333), TLS-wrapped. */
function minerLongSession(): Built {
  const draw = new Draw(101);
  const client: [string, number] = ['100.64.10.1', 51234];
  const server: [string, number] = [POOL_A.ip, POOL_A.port];
  const start = CAPTURE_DAY_MS + 6 * HOUR + 2 * MINUTE;
  const events = minerEvents(draw, start, start + 3 * HOUR + 5 * MINUTE, true);
  return fixture('p1-miner-3h-listed-3333.pcap.gz', client[0], 'listed', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 42, close: false }))]);
}

/** 2. The same kind of miner whose pool port (45700) is above its own ephemeral port (40012). */
function minerHighPoolPort(): Built {
  const draw = new Draw(102);
  const client: [string, number] = ['100.64.10.2', 40012];
  const server: [string, number] = [POOL_B.ip, POOL_B.port];
  const start = CAPTURE_DAY_MS + 7 * HOUR + 31 * MINUTE;
  const events = minerEvents(draw, start, start + 2 * HOUR + 10 * MINUTE, true);
  return fixture('p2-miner-pool-port-above-client-port.pcap.gz', client[0], 'listed', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 55, close: false }))]);
}

/**
 * 3. A miner failing over through its pool list: fourteen short connections to distinct listed
 * IP:port pairs (login, a refusal, close; 5 s retry pause), then it holds the fifteenth for 70 min.
 */
function minerFailover(): Built {
  const draw = new Draw(103);
  const subscriber = '100.64.10.3';
  const parts: ReturnType<typeof tcpPart>[] = [];
  let t = CAPTURE_DAY_MS + 9 * HOUR + 14 * MINUTE;
  FAILOVER.forEach((pool, i) => {
    const client: [string, number] = [subscriber, 49152 + 311 * (i + 1)];
    const server: [string, number] = [pool.ip, pool.port];
    const last = i === FAILOVER.length - 1;
    const events = last
      ? minerEvents(draw, t, t + 70 * MINUTE, true)
      : [...tlsOpening(draw, t, null), { at: t + 260, from: 'client' as const, data: tlsBytes(draw, draw.int(280, 340)) }, { at: t + 340, from: 'server' as const, data: tlsBytes(draw, draw.int(90, 130)) }];
    parts.push(tcpPart(client, server, tcpAt(client, server, t, events, { rttMs: 38 + i, close: !last })));
    t += 5_000 + draw.int(400, 900);
  });
  return fixture('p3-miner-failover-15-listed-endpoints.pcap.gz', subscriber, 'listed', parts);
}

/** 4. A miner over TLS on port 443 to a listed pool IP:port, ~2 h. */
function minerTls443(): Built {
  const draw = new Draw(104);
  const client: [string, number] = ['100.64.10.4', 58812];
  const server: [string, number] = [POOL_TLS.ip, POOL_TLS.port];
  const start = CAPTURE_DAY_MS + 12 * HOUR + 3 * MINUTE;
  const events = minerEvents(draw, start, start + 2 * HOUR, true);
  return fixture('p4-miner-tls-443-listed.pcap.gz', client[0], 'listed', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 31, close: false }))]);
}

/**
 * a. An IRC client idle in a channel for 8 h: registration and MOTD, then the server PINGs every
 * 2–4 min and the client PONGs; now and then a channel message arrives (mean every 6 min).
 */
function ircIdle(): Built {
  const draw = new Draw(201);
  const client: [string, number] = ['100.64.20.1', 50411];
  const server: [string, number] = ['198.51.100.30', 6667];
  const start = CAPTURE_DAY_MS + 8 * HOUR + 47 * MINUTE;
  const end = start + 8 * HOUR;
  const host = 'irc.example.net';
  const events: TimedMessage[] = [
    { at: start + 20, from: 'client', data: utf8('NICK night_owl\r\nUSER night_owl 0 * :Night Owl\r\n') },
    { at: start + 400, from: 'server', data: utf8(`:${host} 001 night_owl :Welcome to the Example IRC Network night_owl\r\n:${host} 002 night_owl :Your host is ${host}\r\n`) },
    { at: start + 500, from: 'server', data: utf8(Array.from({ length: 24 }, (_, i) => `:${host} 372 night_owl :- message of the day line ${i + 1}: be excellent to each other\r\n`).join('')) },
    { at: start + 2_000, from: 'client', data: utf8('JOIN #example\r\n') },
    { at: start + 2_300, from: 'server', data: utf8(`:night_owl!~no@100.64.20.1 JOIN #example\r\n:${host} 353 night_owl = #example :night_owl alice bob carol dave\r\n:${host} 366 night_owl #example :End of /NAMES list.\r\n`) },
  ];
  for (let t = start + draw.real(120_000, 240_000); t < end; t += draw.real(120_000, 240_000)) {
    events.push({ at: t, from: 'server', data: utf8(`PING :${host}\r\n`) });
    events.push({ at: t + draw.real(40, 120), from: 'client', data: utf8(`PONG :${host}\r\n`) });
  }
  const nicks = ['alice', 'bob', 'carol', 'dave'];
  for (let t = start + draw.exp(6 * MINUTE); t < end; t += draw.exp(6 * MINUTE)) {
    const text = 'x'.repeat(draw.int(10, 140));
    events.push({ at: t, from: 'server', data: utf8(`:${nicks[draw.int(0, 3)]}!~u@198.51.100.9 PRIVMSG #example :${text}\r\n`) });
  }
  return fixture('n-a-irc-idle-8h.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 48, close: false }))]);
}

/**
 * b. An XMPP client connected for 8 h: stream header and STARTTLS in the clear, then TLS; the
 * client sends a whitespace keepalive every 60–90 s, the server pushes presence now and then
 * (mean every 8 min) and pings (XEP-0199) every 5 min.
 */
function xmppClient(): Built {
  const draw = new Draw(202);
  const client: [string, number] = ['100.64.20.2', 44102];
  const server: [string, number] = ['198.51.100.31', 5222];
  const start = CAPTURE_DAY_MS + 8 * HOUR + 5 * MINUTE;
  const end = start + 8 * HOUR;
  const events: TimedMessage[] = [
    { at: start + 10, from: 'client', data: utf8("<?xml version='1.0'?><stream:stream to='example.net' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>") },
    { at: start + 80, from: 'server', data: utf8("<?xml version='1.0'?><stream:stream from='example.net' id='c2s_7731' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>") },
    { at: start + 150, from: 'client', data: utf8("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") },
    { at: start + 220, from: 'server', data: utf8("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") },
    ...tlsOpening(draw, start + 300, 'example.net'),
    { at: start + 600, from: 'client', data: tlsBytes(draw, 420) },
    { at: start + 700, from: 'server', data: tlsBytes(draw, 1_300) },
    { at: start + 900, from: 'client', data: tlsBytes(draw, 260) },
    { at: start + 1_000, from: 'server', data: tlsBytes(draw, 2_100) },
  ];
  for (let t = start + draw.real(60_000, 90_000); t < end; t += draw.real(60_000, 90_000)) events.push({ at: t, from: 'client', data: tlsBytes(draw, 23) });
  for (let t = start + 5 * MINUTE; t < end; t += 5 * MINUTE) {
    events.push({ at: t + 7, from: 'server', data: tlsBytes(draw, draw.int(110, 130)) });
    events.push({ at: t + 7 + draw.real(40, 90), from: 'client', data: tlsBytes(draw, draw.int(95, 110)) });
  }
  for (let t = start + draw.exp(8 * MINUTE); t < end; t += draw.exp(8 * MINUTE)) events.push({ at: t, from: 'server', data: tlsBytes(draw, draw.int(200, 600)) });
  return fixture('n-b-xmpp-8h.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 36, close: false }))]);
}

/**
 * c. A long-lived TLS session on 443 to an unlisted server for 4 h (a push-notification channel):
 * HTTP/2 PINGs every 30–60 s answered by the server, small notifications pushed now and then.
 */
function tlsKeepalive(): Built {
  const draw = new Draw(203);
  const client: [string, number] = ['100.64.20.3', 60123];
  const server: [string, number] = ['198.51.100.32', 443];
  const start = CAPTURE_DAY_MS + 10 * HOUR + 11 * MINUTE;
  const end = start + 4 * HOUR;
  const events: TimedMessage[] = [...tlsOpening(draw, start, 'push.example.com'), { at: start + 250, from: 'client', data: tlsBytes(draw, 520) }, { at: start + 340, from: 'server', data: tlsBytes(draw, 310) }];
  for (let t = start + draw.real(30_000, 60_000); t < end; t += draw.real(30_000, 60_000)) {
    events.push({ at: t, from: 'client', data: tlsBytes(draw, 39) });
    events.push({ at: t + draw.real(30, 80), from: 'server', data: tlsBytes(draw, 39) });
  }
  for (let t = start + draw.exp(4 * MINUTE); t < end; t += draw.exp(4 * MINUTE)) {
    events.push({ at: t, from: 'server', data: tlsBytes(draw, draw.int(120, 700)) });
    events.push({ at: t + draw.real(50, 150), from: 'client', data: tlsBytes(draw, 39) });
  }
  return fixture('n-c-tls-keepalive-443-4h.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 24, close: false }))]);
}

/**
 * d. An online game over UDP for 1 h on a fixed 2 Hz tick: the client sends its input every
 * 500 ms and the server a state update every 500 ms (small datagrams, perfectly steady, at a rate
 * no pool session has: 240 packets a minute).
 */
function gamingUdp(): Built {
  const draw = new Draw(204);
  const client: [string, number] = ['100.64.20.4', 27005];
  const server: [string, number] = ['198.51.100.33', 27015];
  const start = CAPTURE_DAY_MS + 19 * HOUR + 40 * MINUTE;
  const end = start + HOUR;
  const events: TimedMessage[] = [];
  const frame = (sequence: number, length: number): Uint8Array => {
    const out = new Uint8Array(length);
    new DataView(out.buffer).setUint32(0, sequence);
    // Mostly unchanged state with a few changing bytes, as game deltas are.
    out[8 + (sequence % 16)] = draw.int(0, 255);
    return out;
  };
  let sequence = 0;
  for (let t = start; t < end; t += 500) {
    events.push({ at: t, from: 'client', data: frame(++sequence, 48) });
    events.push({ at: t + 21, from: 'server', data: frame(sequence, sequence % 10 === 0 ? 180 : 72) });
  }
  return fixture('n-d-gaming-udp-27015-1h.pcap.gz', client[0], 'absent', [udpPart(client, server, udpAt(client, server, events))]);
}

/**
 * e1. OpenVPN over UDP 1194 for 2 h: control-channel handshake, keepalive pings every 10 s both
 * ways, a renegotiation every hour, and bursts of the user's traffic now and then.
 */
function openvpn(): Built {
  const draw = new Draw(205);
  const client: [string, number] = ['100.64.20.5', 41567];
  const server: [string, number] = ['198.51.100.34', 1194];
  const start = CAPTURE_DAY_MS + 13 * HOUR + 2 * MINUTE;
  const end = start + 2 * HOUR;
  const events: TimedMessage[] = [];
  const handshake = (at: number): void => {
    const sizes: Array<[Peer, number]> = [['client', 54], ['server', 66], ['client', 1250], ['server', 1250], ['server', 1250], ['client', 780], ['server', 420], ['client', 120], ['server', 110]];
    sizes.forEach(([from, size], i) => events.push({ at: at + i * 35, from, data: seededBytes(draw.seed(), size) }));
  };
  handshake(start);
  for (let h = start + HOUR; h < end; h += HOUR) handshake(h);
  for (let t = start + 10_000; t < end; t += 10_000) {
    events.push({ at: t, from: 'client', data: seededBytes(draw.seed(), 41) });
    events.push({ at: t + draw.real(30, 60), from: 'server', data: seededBytes(draw.seed(), 41) });
  }
  for (let t = start + draw.exp(12 * MINUTE); t < end; t += draw.exp(12 * MINUTE)) {
    for (let i = 0; i < draw.int(6, 16); i++) {
      events.push({ at: t + i * 80, from: 'client', data: seededBytes(draw.seed(), draw.int(80, 300)) });
      events.push({ at: t + i * 80 + 40, from: 'server', data: seededBytes(draw.seed(), draw.int(200, 1300)) });
    }
  }
  return fixture('n-e1-openvpn-udp-1194-2h.pcap.gz', client[0], 'absent', [udpPart(client, server, udpAt(client, server, events))]);
}

/**
 * e2. WireGuard over UDP 51820 for 2 h: handshake initiation/response every 2 min while in use,
 * persistent keepalives every 25 s, bursts of the user's traffic.
 */
function wireguard(): Built {
  const draw = new Draw(206);
  const client: [string, number] = ['100.64.20.6', 38211];
  const server: [string, number] = ['198.51.100.35', 51820];
  const start = CAPTURE_DAY_MS + 14 * HOUR + 20 * MINUTE;
  const end = start + 2 * HOUR;
  const events: TimedMessage[] = [];
  for (let t = start; t < end; t += 2 * MINUTE + draw.real(0, 5_000)) {
    events.push({ at: t, from: 'client', data: concatBytes(new Uint8Array([1, 0, 0, 0]), seededBytes(draw.seed(), 144)) });
    events.push({ at: t + draw.real(30, 70), from: 'server', data: concatBytes(new Uint8Array([2, 0, 0, 0]), seededBytes(draw.seed(), 88)) });
  }
  for (let t = start + 25_000; t < end; t += 25_000) {
    events.push({ at: t, from: 'client', data: concatBytes(new Uint8Array([4, 0, 0, 0]), seededBytes(draw.seed(), 28)) });
    events.push({ at: t + draw.real(30, 70), from: 'server', data: concatBytes(new Uint8Array([4, 0, 0, 0]), seededBytes(draw.seed(), 28)) });
  }
  for (let t = start + draw.exp(15 * MINUTE); t < end; t += draw.exp(15 * MINUTE)) {
    for (let i = 0; i < draw.int(6, 14); i++) {
      events.push({ at: t + i * 90, from: 'client', data: concatBytes(new Uint8Array([4, 0, 0, 0]), seededBytes(draw.seed(), draw.int(90, 300))) });
      events.push({ at: t + i * 90 + 45, from: 'server', data: concatBytes(new Uint8Array([4, 0, 0, 0]), seededBytes(draw.seed(), draw.int(300, 1300))) });
    }
  }
  return fixture('n-e2-wireguard-udp-51820-2h.pcap.gz', client[0], 'absent', [udpPart(client, server, udpAt(client, server, events))]);
}

/**
 * e3. IPsec with NAT traversal, UDP 4500 on both ends, for 2 h: IKE_AUTH exchange, NAT keepalives
 * (one 0xFF byte) every 20 s, dead-peer detection every 60 s, rekeying hourly, ESP bursts.
 */
function ipsecNatT(): Built {
  const draw = new Draw(207);
  const client: [string, number] = ['100.64.20.7', 4500];
  const server: [string, number] = ['198.51.100.36', 4500];
  const start = CAPTURE_DAY_MS + 15 * HOUR + 5 * MINUTE;
  const end = start + 2 * HOUR;
  const spiI = seededBytes(draw.seed(), 8);
  const spiR = seededBytes(draw.seed(), 8);
  const messageIds = { client: 0, server: 0 };
  // Non-ESP marker, then an IKEv2 header (RFC 7296 §3.1) and encrypted payload bytes.
  const ike = (from: Peer, exchange: number, size: number): Uint8Array => {
    const header = new Uint8Array(4 + 28);
    header.set(spiI, 4);
    header.set(spiR, 12);
    const view = new DataView(header.buffer);
    view.setUint8(20, exchange === 34 ? 33 : 46);
    view.setUint8(21, 0x20);
    view.setUint8(22, exchange);
    view.setUint8(23, from === 'client' ? 0x08 : 0x20);
    view.setUint32(24, messageIds[from]++);
    view.setUint32(28, 28 + size);
    return concatBytes(header, seededBytes(draw.seed(), size));
  };
  const espSequence = { client: 0, server: 0 };
  const esp = (from: Peer, size: number): Uint8Array => {
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(0, from === 'client' ? 0xc3512a07 : 0x9e04b611);
    new DataView(header.buffer).setUint32(4, ++espSequence[from]);
    return concatBytes(header, seededBytes(draw.seed(), size));
  };
  const events: TimedMessage[] = [];
  const exchange = (at: number, type: number, sizes: Array<[Peer, number]>): void => sizes.forEach(([from, size], i) => events.push({ at: at + i * 40, from, data: ike(from, type, size) }));
  exchange(start, 35, [['client', 1100], ['server', 1150]]);
  for (let t = start + HOUR; t < end; t += HOUR) exchange(t, 36, [['client', 320], ['server', 320]]);
  for (let t = start + 20_000; t < end; t += 20_000) events.push({ at: t, from: 'client', data: new Uint8Array([0xff]) });
  for (let t = start + 60_000 + 3_000; t < end; t += 60_000) exchange(t, 37, [['client', 48], ['server', 48]]);
  for (let t = start + draw.exp(10 * MINUTE); t < end; t += draw.exp(10 * MINUTE)) {
    for (let i = 0; i < draw.int(6, 16); i++) {
      events.push({ at: t + i * 70, from: 'client', data: esp('client', draw.int(100, 320)) });
      events.push({ at: t + i * 70 + 35, from: 'server', data: esp('server', draw.int(300, 1350)) });
    }
  }
  return fixture('n-e3-ipsec-nat-t-udp-4500-2h.pcap.gz', client[0], 'absent', [udpPart(client, server, udpAt(client, server, events))]);
}

/**
 * f. A 21-minute Redis session on port 4444 (a "pool port") to an unlisted server: an application
 * polls a queue every 8–15 s (RESP in the clear) and gets a small reply.
 */
function redis4444(): Built {
  const draw = new Draw(208);
  const client: [string, number] = ['100.64.20.8', 52998];
  const server: [string, number] = ['198.51.100.37', 4444];
  const start = CAPTURE_DAY_MS + 11 * HOUR + 30 * MINUTE;
  const end = start + 21 * MINUTE;
  const events: TimedMessage[] = [
    { at: start + 5, from: 'client', data: utf8('*2\r\n$4\r\nAUTH\r\n$16\r\nexample-password\r\n') },
    { at: start + 50, from: 'server', data: utf8('+OK\r\n') },
  ];
  for (let t = start + 1_000; t < end - 5_000; t += draw.real(8_000, 15_000)) {
    events.push({ at: t, from: 'client', data: utf8('*3\r\n$5\r\nLPOP\r\n$10\r\njobs:video\r\n$1\r\n5\r\n') });
    const items = draw.int(0, 2);
    const reply = items === 0 ? '*-1\r\n' : `*${items}\r\n` + Array.from({ length: items }, () => `$36\r\n${'0123456789abcdef0123456789abcdef0123'}\r\n`).join('');
    events.push({ at: t + draw.real(1, 3), from: 'server', data: utf8(reply) });
  }
  events.push({ at: end - 2_000, from: 'client', data: utf8('*1\r\n$4\r\nQUIT\r\n') });
  events.push({ at: end - 1_990, from: 'server', data: utf8('+OK\r\n') });
  return fixture('n-f-redis-4444-21min.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 2, close: true }))]);
}

/**
 * g. An idle interactive SSH session for 5 h: version exchange and key exchange, a few commands,
 * then only the client's keepalive (ServerAliveInterval 60) answered by the server.
 */
function sshIdle(): Built {
  const draw = new Draw(209);
  const client: [string, number] = ['100.64.20.9', 56001];
  const server: [string, number] = ['198.51.100.38', 22];
  const start = CAPTURE_DAY_MS + 7 * HOUR + 3 * MINUTE;
  const end = start + 5 * HOUR;
  const events: TimedMessage[] = [
    { at: start + 5, from: 'client', data: utf8('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n') },
    { at: start + 40, from: 'server', data: utf8('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n') },
    { at: start + 60, from: 'client', data: seededBytes(draw.seed(), 1_560) },
    { at: start + 100, from: 'server', data: seededBytes(draw.seed(), 1_080) },
    { at: start + 150, from: 'client', data: seededBytes(draw.seed(), 1_240) },
    { at: start + 260, from: 'server', data: seededBytes(draw.seed(), 1_120) },
    { at: start + 300, from: 'client', data: seededBytes(draw.seed(), 16) },
  ];
  let t = start + 2_000;
  for (let i = 0; i < 30; i++) {
    t += draw.real(300, 4_000);
    events.push({ at: t, from: 'client', data: seededBytes(draw.seed(), 36) });
    events.push({ at: t + 30, from: 'server', data: seededBytes(draw.seed(), i % 5 === 4 ? draw.int(200, 1_300) : 36) });
  }
  for (t = t + 60_000; t < end; t += 60_000) {
    events.push({ at: t, from: 'client', data: seededBytes(draw.seed(), 100) });
    events.push({ at: t + draw.real(30, 70), from: 'server', data: seededBytes(draw.seed(), 28) });
  }
  return fixture('n-g-ssh-idle-5h.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 30, close: false }))]);
}

/**
 * h. One short web visit (a TLS page load, a few seconds) to the listed pool endpoint
 * 203.0.113.40:443 — the pool's web site on the same address as its TLS stratum port.
 */
function webVisitListed(): Built {
  const draw = new Draw(210);
  const client: [string, number] = ['100.64.20.10', 61522];
  const server: [string, number] = [POOL_TLS.ip, POOL_TLS.port];
  const start = CAPTURE_DAY_MS + 16 * HOUR + 48 * MINUTE;
  const events: TimedMessage[] = [
    ...tlsOpening(draw, start, 'www.example.org'),
    { at: start + 200, from: 'client', data: tlsBytes(draw, 420) },
    { at: start + 290, from: 'server', data: tlsBytes(draw, 2_600) },
    { at: start + 900, from: 'client', data: tlsBytes(draw, 380) },
    { at: start + 990, from: 'server', data: tlsBytes(draw, 900) },
  ];
  return fixture('n-h-one-web-visit-to-listed-pool-address.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 45, close: true }))]);
}

/** i. A short connection to port 3333 on an unlisted server: a few bytes each way, then closed. */
function port3333Short(): Built {
  const draw = new Draw(211);
  const client: [string, number] = ['100.64.20.11', 47310];
  const server: [string, number] = ['198.51.100.77', 3333];
  const start = CAPTURE_DAY_MS + 17 * HOUR + 22 * MINUTE;
  const events: TimedMessage[] = [
    { at: start + 10, from: 'client', data: seededBytes(draw.seed(), 84) },
    { at: start + 90, from: 'server', data: seededBytes(draw.seed(), 61) },
  ];
  return fixture('n-i-short-flow-to-unlisted-3333.pcap.gz', client[0], 'absent', [tcpPart(client, server, tcpAt(client, server, start, events, { rttMs: 40, close: true }))]);
}

/** Every flow-log fixture: its file name, capture bytes and what must be concluded about it. */
export interface FlowlogFixtureSet {
  /** File name (as in {@link FlowlogFixture.file}) → the pcap bytes before gzip. */
  files: Map<string, Uint8Array>;
  fixtures: FlowlogFixture[];
}

/**
 * Builds every flow-log fixture in memory: classic pcaps (microsecond timestamps, raw IPv4, each
 * packet cut to {@link SNAPLEN} bytes with its original length kept), as they are before gzip.
 */
export function buildFlowlogFixtures(): FlowlogFixtureSet {
  const built = [
    minerLongSession(),
    minerHighPoolPort(),
    minerFailover(),
    minerTls443(),
    ircIdle(),
    xmppClient(),
    tlsKeepalive(),
    gamingUdp(),
    openvpn(),
    wireguard(),
    ipsecNatT(),
    redis4444(),
    sshIdle(),
    webVisitListed(),
    port3333Short(),
  ];
  const files = new Map<string, Uint8Array>();
  for (const b of built) {
    if (files.has(b.fixture.file)) throw new Error(`duplicate fixture ${b.fixture.file}`);
    for (const p of b.packets) if (p.ts < CAPTURE_DAY_MS || p.ts >= CAPTURE_DAY_MS + 24 * HOUR) throw new Error(`${b.fixture.file}: packet outside the capture day`);
    files.set(b.fixture.file, pcapFile(LinkType.RAW, b.packets.map((p) => ({ ts: p.ts, data: p.ip })), { snaplen: SNAPLEN }));
  }
  return { files, fixtures: built.map((b) => b.fixture) };
}

function main(): void {
  const outDir = resolve(process.argv[2] ?? join(PACKAGE_ROOT, 'fixtures', 'flowlogs'));
  mkdirSync(outDir, { recursive: true });
  const { files } = buildFlowlogFixtures();
  let total = 0;
  for (const [path, data] of files) {
    const packed = gzipSync(data, { level: 9 });
    writeFileSync(join(outDir, path), packed);
    total += packed.length;
  }
  process.stdout.write(`wrote ${files.size} flow-log fixtures (${total} bytes) to ${outDir}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
