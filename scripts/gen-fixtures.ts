/**
 * Writes the test and demo captures under fixtures/ together with fixtures/expected.json.
 * Output is deterministic: fixed timestamps, a seeded PRNG, no clock reads.
 *
 * Run from the repository root: `npx tsc -p tsconfig.json && node dist/scripts/gen-fixtures.js`.
 */
import { PACKAGE_ROOT } from '../src/cli/paths.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

import {
  IpProto,
  LinkType,
  concatBytes,
  dnsAResponse,
  dnsQuery,
  ethernet,
  ipv4,
  nullLoopback,
  pcapFile,
  pcapngFile,
  sll,
  sll2,
  tcp,
  tcpSession,
  tlsApplicationData,
  tlsClientHello as buildClientHello,
  tlsClientHelloSessionId,
  tlsServerHello as buildServerHello,
  udp,
  udpExchange,
  utf8,
  type EthernetOptions,
  type PcapRecord,
  type PcapngPacket,
  type SessionMessage,
  type TimedPacket,
} from '../tests/support/builders.js';
import { mulberry32 } from '../tests/support/random.js';

/** Capture time of the first packet in every fixture: 2023-11-14T22:13:20Z. */
export const BASE_TS = 1_700_000_000_000;

/** A mining conversation a correct scan must report. */
export interface ExpectedMining {
  client: string;
  server: string;
  serverPort: number;
  /**
   * The '+'-joined distinct families of the payload/HTTP rule evidence, in evidence order
   * (`stratum-v1`, `monero`, `ethproxy`, `ethereumstratum`, `getwork`, or e.g.
   * `ethereumstratum+stratum-v1`); '' when the verdict rests on names only (SNI, DNS answer).
   */
  family: string;
  confidence: 'high' | 'medium';
}

/** What scanning one fixture must produce (the shape of each fixtures/expected.json entry). */
export interface ExpectedResult {
  /** Container format; `unknown` for inputs that are not a capture at all. */
  format: 'pcap' | 'pcapng' | 'unknown';
  /** Every packet record the reader can deliver. */
  packets: number;
  /** Well-formed IPv4/IPv6 packets whose transport (after extension headers) is TCP or UDP; non-first fragments excluded. */
  ipTransportPackets: number;
  /** Bidirectional 5-tuple flows. */
  flows: number;
  mining: ExpectedMining[];
  anomalies?: string[];
  error?: string;
}

/** Generated fixture files (path relative to fixtures/) and their expectations. */
export interface FixtureSet {
  files: Map<string, Uint8Array>;
  expected: Record<string, ExpectedResult>;
}

/** Deterministic hex strings and bytes drawn from one seeded stream. */
class Noise {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  hex(chars: number): string {
    return Array.from(this.bytes(Math.ceil(chars / 2)), (b) => b.toString(16).padStart(2, '0'))
      .join('')
      .slice(0, chars);
  }
}

/** A packet placed in a scenario, tagged with its flow (undefined for packets that make no flow). */
interface ScenarioPacket extends TimedPacket {
  flowKey: string | undefined;
  /** Link-layer addresses of the subscriber side, for Ethernet framing. */
  clientMac: string;
}

const ROUTER_MAC = '02:00:00:00:ff:fe';
const DEFAULT_CLIENT_MAC = '02:00:00:00:00:01';

/** The packets of one capture, with the bookkeeping needed to state its expected counts. */
class Scenario {
  readonly packets: ScenarioPacket[] = [];
  readonly mining: ExpectedMining[] = [];

  /** Adds one conversation (all its packets share a flow). */
  flow(packets: TimedPacket[], transport: 'tcp' | 'udp', client: [string, number], server: [string, number], clientMac = DEFAULT_CLIENT_MAC): this {
    const key = `${transport} ${client[0]}:${client[1]} ${server[0]}:${server[1]}`;
    for (const packet of packets) this.packets.push({ ...packet, flowKey: key, clientMac });
    return this;
  }

  /** Adds a packet that is not part of any flow (a non-first fragment, a malformed packet). */
  loose(packet: TimedPacket, clientMac = DEFAULT_CLIENT_MAC): this {
    this.packets.push({ ...packet, flowKey: undefined, clientMac });
    return this;
  }

  expectMining(entry: ExpectedMining): this {
    this.mining.push(entry);
    return this;
  }

  /** Packets in capture order (stable by time). */
  ordered(): ScenarioPacket[] {
    return this.packets
      .map((packet, index) => ({ packet, index }))
      .sort((a, b) => a.packet.ts - b.packet.ts || a.index - b.index)
      .map(({ packet }) => packet);
  }
}

/** Counts of a packet sequence as the scanner should see them. */
function countsOf(packets: ScenarioPacket[]): Pick<ExpectedResult, 'packets' | 'ipTransportPackets' | 'flows'> {
  const keys = new Set<string>();
  let transport = 0;
  for (const packet of packets) {
    if (packet.flowKey === undefined) continue;
    transport++;
    keys.add(packet.flowKey);
  }
  return { packets: packets.length, ipTransportPackets: transport, flows: keys.size };
}

function ethernetFraming(packet: ScenarioPacket, extra: EthernetOptions = {}): EthernetOptions {
  const fromClient = packet.from === 'client';
  return {
    ...extra,
    srcMac: fromClient ? packet.clientMac : ROUTER_MAC,
    dstMac: fromClient ? ROUTER_MAC : packet.clientMac,
  };
}

/** Turns packets into classic pcap records using a link-layer wrapper. */
function records(packets: ScenarioPacket[], wrap: (packet: ScenarioPacket) => Uint8Array): PcapRecord[] {
  return packets.map((packet) => ({ ts: packet.ts, data: wrap(packet) }));
}

const asEthernet =
  (extra: EthernetOptions = {}) =>
  (packet: ScenarioPacket): Uint8Array =>
    ethernet(packet.ip, ethernetFraming(packet, extra));

function ndjson(...messages: unknown[]): string {
  return messages.map((message) => (typeof message === 'string' ? message : JSON.stringify(message)) + '\n').join('');
}

// ---------------------------------------------------------------------------------------------
// Protocol payloads

const STRATUM_SUBSCRIBE_RESULT = {
  id: 1,
  result: [
    [
      ['mining.set_difficulty', '1'],
      ['mining.notify', 'ae6812eb4cd7735a302a8a9dd95cf71f'],
    ],
    '08000002',
    4,
  ],
  error: null,
};

function stratumNotify(noise: Noise, jobId: string, clean: boolean, ntime: string): unknown {
  return {
    id: null,
    method: 'mining.notify',
    params: [
      jobId,
      '4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000',
      '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008',
      '072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000',
      [noise.hex(64), noise.hex(64)],
      '20000000',
      '1c2ac4af',
      ntime,
      clean,
    ],
  };
}

/** The short Stratum V1 conversation used by the link-layer and format fixtures. */
function shortStratumMessages(noise: Noise): SessionMessage[] {
  return [
    { from: 'client', data: ndjson({ id: 1, method: 'mining.subscribe', params: ['cgminer/4.10.0'] }), gapMs: 2 },
    { from: 'server', data: ndjson(STRATUM_SUBSCRIBE_RESULT), gapMs: 30 },
    { from: 'client', data: ndjson({ id: 2, method: 'mining.authorize', params: ['bc1qexampleworker.linktest', 'x'] }), gapMs: 3 },
    {
      from: 'server',
      data: ndjson({ id: 2, result: true, error: null }, { id: null, method: 'mining.set_difficulty', params: [1024] }),
      gapMs: 30,
    },
    { from: 'server', data: ndjson(stratumNotify(noise, '1f', true, '6553f100')), gapMs: 5 },
  ];
}

function dnsTxtResponse(id: number, name: string, text: Uint8Array): Uint8Array {
  const query = dnsQuery(id, name, 16);
  const header = query.slice(0, 12);
  header[2] = 0x81;
  header[3] = 0x80;
  header[7] = 1;
  const strings: Uint8Array[] = [];
  for (let offset = 0; offset < text.length; offset += 255) {
    const chunk = text.subarray(offset, offset + 255);
    strings.push(new Uint8Array([chunk.length]), chunk);
  }
  const rdata = concatBytes(...strings);
  const answer = new Uint8Array([0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0x01, 0x2c, rdata.length >> 8, rdata.length & 0xff]);
  return concatBytes(header, query.subarray(12), answer, rdata);
}

// ---------------------------------------------------------------------------------------------
// Shared small scenario: DNS lookup of the pool, then a short Stratum V1 session.

interface Endpoints {
  client: string;
  server: string;
  dns: string;
}

const V4: Endpoints = { client: '192.168.1.10', server: '203.0.113.5', dns: '198.51.100.53' };
const V6: Endpoints = { client: 'fd00::10', server: '2001:db8::5', dns: '2001:db8::53' };

interface SmallSessionOptions {
  start?: number;
  rttMs?: number;
  ipv4Options?: Uint8Array;
  ipv6ExtHeaders?: Parameters<typeof tcpSession>[0]['ipv6ExtHeaders'];
  dnsClientPort?: number;
}

function smallSession(endpoints: Endpoints, opts: SmallSessionOptions = {}): Scenario {
  const start = opts.start ?? BASE_TS;
  const noise = new Noise(0x5eed0001);
  const ipOpts = {
    ...(opts.ipv4Options ? { ipv4Options: opts.ipv4Options } : {}),
    ...(opts.ipv6ExtHeaders ? { ipv6ExtHeaders: opts.ipv6ExtHeaders } : {}),
  };
  const dnsClient: [string, number] = [endpoints.client, opts.dnsClientPort ?? 53001];
  const dnsServer: [string, number] = [endpoints.dns, 53];
  const stratumClient: [string, number] = [endpoints.client, 40001];
  const stratumServer: [string, number] = [endpoints.server, 3333];
  return new Scenario()
    .flow(
      udpExchange({
        client: dnsClient,
        server: dnsServer,
        start,
        messages: [
          { from: 'client', data: dnsQuery(0x1a2b, 'pool.example.net') },
          { from: 'server', data: dnsAResponse(0x1a2b, 'pool.example.net', ['203.0.113.5']), gapMs: 12.5 },
        ],
        ...ipOpts,
      }),
      'udp',
      dnsClient,
      dnsServer,
    )
    .flow(
      tcpSession({
        client: stratumClient,
        server: stratumServer,
        start: start + 20,
        rttMs: opts.rttMs ?? 24,
        messages: shortStratumMessages(noise),
        ...ipOpts,
      }),
      'tcp',
      stratumClient,
      stratumServer,
    )
    .expectMining({ client: endpoints.client, server: endpoints.server, serverPort: 3333, family: 'stratum-v1', confidence: 'high' });
}

// ---------------------------------------------------------------------------------------------
// fixtures/demo

const MONERO_WALLET = '4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2bYXZKKQ';

function moneroJob(noise: Noise, jobId: string, height: number): Record<string, unknown> {
  return { blob: noise.hex(152), job_id: jobId, target: 'b88d0600', algo: 'rx/0', height, seed_hash: noise.hex(64) };
}

function demoHomeMiners(): { data: Uint8Array; expected: ExpectedResult } {
  const noise = new Noise(0xde0001);
  const scenario = new Scenario();

  // Subscriber 100.64.0.11: XMRig mining Monero.
  const xmrigClient: [string, number] = ['100.64.0.11', 51234];
  const moneroPool: [string, number] = ['203.0.113.10', 3333];
  const xmrigMessages: SessionMessage[] = [
    {
      from: 'client',
      gapMs: 2,
      data: ndjson({
        id: 1,
        jsonrpc: '2.0',
        method: 'login',
        params: {
          login: `${MONERO_WALLET}.rig1`,
          pass: 'x',
          agent: 'XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0',
          algo: ['rx/0'],
        },
      }),
    },
    {
      from: 'server',
      gapMs: 45,
      segments: 2,
      data: ndjson({ id: 1, jsonrpc: '2.0', error: null, result: { id: 'a1b2c3', job: moneroJob(noise, 'j1', 3000000), status: 'OK' } }),
    },
  ];
  const submit = (id: number, jobId: string, nonce: string, gapMs: number): SessionMessage[] => [
    {
      from: 'client',
      gapMs,
      data: ndjson({ id, jsonrpc: '2.0', method: 'submit', params: { id: 'a1b2c3', job_id: jobId, nonce, result: noise.hex(64) } }),
    },
    { from: 'server', gapMs: 44, data: ndjson({ id, jsonrpc: '2.0', error: null, result: { status: 'OK' } }) },
  ];
  const job = (jobId: string, height: number, gapMs: number): SessionMessage => ({
    from: 'server',
    gapMs,
    data: ndjson({ jsonrpc: '2.0', method: 'job', params: moneroJob(noise, jobId, height) }),
  });
  xmrigMessages.push(
    ...submit(2, 'j1', 'deadbeef', 40_000),
    job('j2', 3000001, 80_000),
    ...submit(3, 'j2', noise.hex(8), 70_000),
    job('j3', 3000002, 100_000),
    ...submit(4, 'j3', noise.hex(8), 90_000),
    job('j4', 3000003, 110_000),
    ...submit(5, 'j4', noise.hex(8), 100_000),
  );
  scenario
    .flow(
      tcpSession({ client: xmrigClient, server: moneroPool, start: BASE_TS + 5_000, rttMs: 44, messages: xmrigMessages }),
      'tcp',
      xmrigClient,
      moneroPool,
      '02:00:00:40:00:0b',
    )
    .expectMining({ client: xmrigClient[0], server: moneroPool[0], serverPort: 3333, family: 'monero', confidence: 'high' });

  // Subscriber 100.64.0.12: an ASIC running cgminer against a Stratum V1 pool.
  const cgminerClient: [string, number] = ['100.64.0.12', 40122];
  const stratumPool: [string, number] = ['198.51.100.20', 4444];
  const worker = 'bc1qexampleworker.antminer01';
  const stratumSubmit = (id: number, jobId: string, ntime: string, gapMs: number): SessionMessage[] => [
    { from: 'client', gapMs, data: ndjson({ id, method: 'mining.submit', params: [worker, jobId, noise.hex(8), ntime, noise.hex(8)] }) },
    { from: 'server', gapMs: 60, data: ndjson({ id, result: true, error: null }) },
  ];
  const cgminerMessages: SessionMessage[] = [
    { from: 'client', gapMs: 2, data: ndjson({ id: 1, method: 'mining.subscribe', params: ['cgminer/4.10.0'] }) },
    { from: 'server', gapMs: 61, data: ndjson(STRATUM_SUBSCRIBE_RESULT) },
    { from: 'client', gapMs: 3, data: ndjson({ id: 2, method: 'mining.authorize', params: [worker, 'x'] }) },
    {
      from: 'server',
      gapMs: 62,
      data: ndjson(
        { id: 2, result: true, error: null },
        { id: null, method: 'mining.set_difficulty', params: [8192] },
        stratumNotify(noise, '4e21', true, '6553f1a0'),
      ),
    },
    ...stratumSubmit(3, '4e21', '6553f1a0', 45_000),
    ...stratumSubmit(4, '4e21', '6553f1c8', 70_000),
    { from: 'server', gapMs: 60_000, data: ndjson(stratumNotify(noise, '4e22', false, '6553f2b4')) },
    ...stratumSubmit(5, '4e22', '6553f2b4', 80_000),
    ...stratumSubmit(6, '4e22', '6553f2f0', 95_000),
    { from: 'server', gapMs: 90_000, data: ndjson(stratumNotify(noise, '4e23', true, '6553f44a')) },
    ...stratumSubmit(7, '4e23', '6553f44a', 85_000),
    ...stratumSubmit(8, '4e23', '6553f4a0', 100_000),
  ];
  scenario
    .flow(
      tcpSession({ client: cgminerClient, server: stratumPool, start: BASE_TS + 12_000, rttMs: 61, messages: cgminerMessages }),
      'tcp',
      cgminerClient,
      stratumPool,
      '02:00:00:40:00:0c',
    )
    .expectMining({ client: cgminerClient[0], server: stratumPool[0], serverPort: 4444, family: 'stratum-v1', confidence: 'high' });

  // Subscriber 100.64.0.13: ordinary household traffic only.
  const householdMac = '02:00:00:40:00:0d';
  const household = '100.64.0.13';
  const dnsClient: [string, number] = [household, 53211];
  const dnsServer: [string, number] = ['198.51.100.53', 53];
  scenario.flow(
    udpExchange({
      client: dnsClient,
      server: dnsServer,
      start: BASE_TS + 1_000,
      messages: [
        { from: 'client', data: dnsQuery(0x3c01, 'www.example.com') },
        { from: 'server', data: dnsAResponse(0x3c01, 'www.example.com', ['203.0.113.80']), gapMs: 9 },
      ],
    }),
    'udp',
    dnsClient,
    dnsServer,
    householdMac,
  );
  const httpClient: [string, number] = [household, 53212];
  const httpServer: [string, number] = ['203.0.113.80', 80];
  const html = '<!doctype html>\n<html><head><title>Example</title></head><body><p>Hello.</p></body></html>\n';
  scenario.flow(
    tcpSession({
      client: httpClient,
      server: httpServer,
      start: BASE_TS + 1_020,
      rttMs: 18,
      messages: [
        { from: 'client', data: 'GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n' },
        {
          from: 'server',
          gapMs: 20,
          data: `HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${html.length}\r\n\r\n${html}`,
        },
      ],
    }),
    'tcp',
    httpClient,
    httpServer,
    householdMac,
  );
  const tlsClient: [string, number] = [household, 53214];
  const tlsServer: [string, number] = ['203.0.113.44', 443];
  scenario.flow(
    tcpSession({
      client: tlsClient,
      server: tlsServer,
      start: BASE_TS + 3_000,
      rttMs: 22,
      messages: [
        { from: 'client', data: tlsClientHello(noise, 'shop.example.org') },
        { from: 'server', gapMs: 23, data: tlsServerHello(noise) },
      ],
    }),
    'tcp',
    tlsClient,
    tlsServer,
    householdMac,
  );
  const echoClient: [string, number] = [household, 53220];
  const echoServer: [string, number] = ['203.0.113.90', 7000];
  scenario.flow(
    tcpSession({
      client: echoClient,
      server: echoServer,
      start: BASE_TS + 20_000,
      rttMs: 15,
      messages: [
        { from: 'client', data: ndjson('{"jsonrpc":"2.0","method":"echo","params":["hi"],"id":1}') },
        { from: 'server', gapMs: 16, data: ndjson('{"jsonrpc":"2.0","result":["hi"],"id":1}') },
      ],
    }),
    'tcp',
    echoClient,
    echoServer,
    householdMac,
  );

  const ordered = scenario.ordered();
  const packets: PcapngPacket[] = ordered.map((packet, index) => {
    const out: PcapngPacket = { iface: 0, ts: packet.ts, data: ethernet(packet.ip, ethernetFraming(packet)) };
    if (index === 0) out.comment = 'minerwatch demo: generated by scripts/gen-fixtures.ts';
    return out;
  });
  const data = pcapngFile([{ interfaces: [{ linktype: LinkType.ETHERNET, tsresol: 6 }], packets }]);
  return { data, expected: { format: 'pcapng', ...countsOf(ordered), mining: scenario.mining } };
}

/** A structurally valid TLS 1.3 ClientHello record with an SNI extension. */
function tlsClientHello(noise: Noise, serverName: string): Uint8Array {
  const u16 = (n: number): number[] => [n >> 8, n & 0xff];
  const name = utf8(serverName);
  const sni = concatBytes(
    new Uint8Array([...u16(0x0000), ...u16(name.length + 5), ...u16(name.length + 3), 0, ...u16(name.length)]),
    name,
  );
  const supportedVersions = new Uint8Array([...u16(0x002b), ...u16(5), 4, 0x03, 0x04, 0x03, 0x03]);
  const groups = new Uint8Array([...u16(0x000a), ...u16(4), ...u16(2), ...u16(0x001d)]);
  const sigAlgs = new Uint8Array([...u16(0x000d), ...u16(6), ...u16(4), ...u16(0x0403), ...u16(0x0804)]);
  const keyShare = concatBytes(new Uint8Array([...u16(0x0033), ...u16(38), ...u16(36), ...u16(0x001d), ...u16(32)]), noise.bytes(32));
  const extensions = concatBytes(sni, supportedVersions, groups, sigAlgs, keyShare);
  const ciphers = new Uint8Array([...u16(6), ...u16(0x1301), ...u16(0x1302), ...u16(0x1303)]);
  const body = concatBytes(
    new Uint8Array([0x03, 0x03]),
    noise.bytes(32),
    new Uint8Array([32]),
    noise.bytes(32),
    ciphers,
    new Uint8Array([1, 0]),
    new Uint8Array(u16(extensions.length)),
    extensions,
  );
  const handshake = concatBytes(new Uint8Array([1, 0, body.length >> 8, body.length & 0xff]), body);
  return concatBytes(new Uint8Array([0x16, 0x03, 0x01, ...u16(handshake.length)]), handshake);
}

/** A TLS 1.3 ServerHello, ChangeCipherSpec and one opaque application-data record. */
function tlsServerHello(noise: Noise): Uint8Array {
  const u16 = (n: number): number[] => [n >> 8, n & 0xff];
  const extensions = concatBytes(
    new Uint8Array([...u16(0x002b), ...u16(2), 0x03, 0x04]),
    new Uint8Array([...u16(0x0033), ...u16(36), ...u16(0x001d), ...u16(32)]),
    noise.bytes(32),
  );
  const body = concatBytes(
    new Uint8Array([0x03, 0x03]),
    noise.bytes(32),
    new Uint8Array([32]),
    noise.bytes(32),
    new Uint8Array([...u16(0x1301), 0]),
    new Uint8Array(u16(extensions.length)),
    extensions,
  );
  const handshake = concatBytes(new Uint8Array([2, 0, body.length >> 8, body.length & 0xff]), body);
  const appData = noise.bytes(180);
  return concatBytes(
    new Uint8Array([0x16, 0x03, 0x03, ...u16(handshake.length)]),
    handshake,
    new Uint8Array([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]),
    new Uint8Array([0x17, 0x03, 0x03, ...u16(appData.length)]),
    appData,
  );
}

function httpPost(host: string, body: string): string {
  return `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

function httpJsonResponse(body: string): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nVary: Origin\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

function ethereumNodeMessages(host: string): SessionMessage[] {
  const exchanges: Array<[string, string]> = [
    ['{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}', '{"jsonrpc":"2.0","id":1,"result":"0x1280a4f"}\n'],
    [
      '{"jsonrpc":"2.0","method":"eth_getBalance","params":["0x742d35cc6634c0532925a3b844bc454e4438f44e","latest"],"id":2}',
      '{"jsonrpc":"2.0","id":2,"result":"0x1b1ae4d6e2ef500000"}\n',
    ],
    [
      '{"jsonrpc":"2.0","method":"eth_call","params":[{"to":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","data":"0x18160ddd"},"latest"],"id":3}',
      '{"jsonrpc":"2.0","id":3,"result":"0x0000000000000000000000000000000000000000000000000009f8ee3b5b7a30"}\n',
    ],
  ];
  return exchanges.flatMap(([request, response], i): SessionMessage[] => [
    { from: 'client', gapMs: i === 0 ? 2 : 1_500, data: httpPost(host, request) },
    { from: 'server', gapMs: 3, data: httpJsonResponse(response) },
  ]);
}

function demoOffice(): { data: Uint8Array; expected: ExpectedResult } {
  const noise = new Noise(0xde0002);
  const scenario = new Scenario();
  const minerClient: [string, number] = ['fd00::1:10', 50110];
  const proxy: [string, number] = ['2001:db8::3333', 8008];
  const hex = (n: number): string => `0x${noise.hex(n)}`;
  const ethproxyMessages: SessionMessage[] = [
    {
      from: 'client',
      gapMs: 2,
      data: ndjson('{"worker": "", "jsonrpc": "2.0", "params": ["0x8f2b6f0cfb8ed5c3f3d3e6e7b9d6f1e3a2b4c5d6.rig7", "x"], "id": 2, "method": "eth_submitLogin"}'),
    },
    { from: 'server', gapMs: 30, data: ndjson('{"id":2,"jsonrpc":"2.0","result":true}') },
    { from: 'client', gapMs: 3, data: ndjson('{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"}') },
    {
      from: 'server',
      gapMs: 30,
      data: ndjson(`{"id":3,"jsonrpc":"2.0","result":["${hex(64)}","${hex(64)}","0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e"]}`),
    },
    {
      from: 'client',
      gapMs: 5_000,
      data: ndjson(`{"worker": "", "jsonrpc": "2.0", "params": ["0x000000000000000000000000000000000000000000000000000000001dcd6500", "${hex(64)}"], "id": 9, "method": "eth_submitHashrate"}`),
    },
    { from: 'server', gapMs: 30, data: ndjson('{"id":9,"jsonrpc":"2.0","result":true}') },
    {
      from: 'server',
      gapMs: 12_000,
      data: ndjson(`{"id":0,"jsonrpc":"2.0","result":["${hex(64)}","${hex(64)}","0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e","0xf4240"]}`),
    },
    {
      from: 'client',
      gapMs: 20_000,
      data: ndjson(`{"worker": "", "jsonrpc": "2.0", "params": ["${hex(16)}", "${hex(64)}", "${hex(64)}"], "id": 4, "method": "eth_submitWork"}`),
    },
    { from: 'server', gapMs: 30, data: ndjson('{"id":4,"jsonrpc":"2.0","result":true}') },
  ];
  scenario
    .flow(tcpSession({ client: minerClient, server: proxy, start: BASE_TS + 2_000, rttMs: 30, messages: ethproxyMessages }), 'tcp', minerClient, proxy, '02:00:00:64:00:10')
    .expectMining({ client: minerClient[0], server: proxy[0], serverPort: 8008, family: 'ethproxy', confidence: 'high' });

  const dappClient: [string, number] = ['fd00::1:20', 50220];
  const node: [string, number] = ['2001:db8::8545', 8545];
  scenario.flow(
    tcpSession({ client: dappClient, server: node, start: BASE_TS + 4_000, rttMs: 2, messages: ethereumNodeMessages('[2001:db8::8545]:8545') }),
    'tcp',
    dappClient,
    node,
    '02:00:00:64:00:20',
  );
  const ordered = scenario.ordered();
  const data = pcapFile(LinkType.ETHERNET, records(ordered, asEthernet({ vlans: [100] })));
  return { data, expected: { format: 'pcap', ...countsOf(ordered), mining: scenario.mining } };
}

// ---------------------------------------------------------------------------------------------
// fixtures/link

/** IPv4 Record Route option with room for two addresses, padded by the builder to 12 bytes. */
const RECORD_ROUTE_OPTION = new Uint8Array([7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0]);

function fragmentsScenario(): Scenario {
  const noise = new Noise(0xf4a9);
  const client: [string, number] = ['10.0.0.5', 40000];
  const server: [string, number] = ['198.51.100.53', 53];
  const scenario = new Scenario();
  const query = dnsQuery(0x7e57, 'big.example.net', 16);
  const text = utf8(noise.hex(3000));
  const response = dnsTxtResponse(0x7e57, 'big.example.net', text);
  scenario.flow(udpExchange({ client, server, start: BASE_TS, messages: [{ from: 'client', data: query }] }), 'udp', client, server);
  const datagram = udp(server[1], client[1], response, { pseudo: { src: server[0], dst: client[0] } });
  const pieceSize = 1480;
  const id = 0x4242;
  for (let offset = 0, index = 0; offset < datagram.length; offset += pieceSize, index++) {
    const piece = datagram.subarray(offset, offset + pieceSize);
    const more = offset + pieceSize < datagram.length;
    const packet: TimedPacket = {
      ts: BASE_TS + 14 + index * 0.02,
      ip: ipv4(server[0], client[0], IpProto.UDP, piece, { id, ttl: 54, fragOffset8: offset / 8, moreFragments: more }),
      from: 'server',
    };
    if (index === 0) scenario.flow([packet], 'udp', client, server);
    else scenario.loose(packet);
  }
  return scenario;
}

function linkFixtures(add: (path: string, data: Uint8Array, expected: ExpectedResult) => void): void {
  const pcapOf = (path: string, scenario: Scenario, linktype: number, wrap: (p: ScenarioPacket) => Uint8Array): void => {
    const ordered = scenario.ordered();
    add(path, pcapFile(linktype, records(ordered, wrap)), { format: 'pcap', ...countsOf(ordered), mining: scenario.mining });
  };
  pcapOf('link/ethernet.pcap', smallSession(V4), LinkType.ETHERNET, asEthernet({ padToMinimum: true }));
  pcapOf('link/vlan.pcap', smallSession(V4), LinkType.ETHERNET, asEthernet({ vlans: [100] }));
  pcapOf('link/qinq.pcap', smallSession(V4), LinkType.ETHERNET, asEthernet({ vlans: [200, 100] }));
  pcapOf('link/mpls.pcap', smallSession(V4), LinkType.ETHERNET, asEthernet({ mpls: [16001, 24] }));
  pcapOf('link/pppoe.pcap', smallSession(V4), LinkType.ETHERNET, asEthernet({ pppoe: { session: 0x1234 } }));
  pcapOf('link/sll.pcap', smallSession(V4), LinkType.LINUX_SLL, (p) => sll(p.ip, { outgoing: p.from === 'client' }));
  pcapOf('link/raw.pcap', smallSession(V4), LinkType.RAW, (p) => p.ip);
  pcapOf('link/raw-ipv4.pcap', smallSession(V4), LinkType.IPV4, (p) => p.ip);
  pcapOf('link/raw-ipv6.pcap', smallSession(V6), LinkType.IPV6, (p) => p.ip);
  pcapOf('link/null.pcap', smallSession(V4), LinkType.NULL, (p) => nullLoopback(p.ip));
  pcapOf('link/ipv6-ext.pcap', smallSession(V6, { ipv6ExtHeaders: [{ type: 0 }, { type: 60 }] }), LinkType.ETHERNET, asEthernet());
  pcapOf('link/ipv4-options.pcap', smallSession(V4, { ipv4Options: RECORD_ROUTE_OPTION }), LinkType.ETHERNET, asEthernet());
  pcapOf('link/fragments.pcap', fragmentsScenario(), LinkType.ETHERNET, asEthernet());

  const sll2Scenario = smallSession(V4);
  const ordered = sll2Scenario.ordered();
  const sll2Data = pcapngFile([
    {
      interfaces: [{ linktype: LinkType.LINUX_SLL2 }],
      packets: ordered.map((p) => ({ iface: 0, ts: p.ts, data: sll2(p.ip, { outgoing: p.from === 'client' }) })),
    },
  ]);
  add('link/sll2.pcapng', sll2Data, { format: 'pcapng', ...countsOf(ordered), mining: sll2Scenario.mining });
}

// ---------------------------------------------------------------------------------------------
// fixtures/formats

function formatFixtures(add: (path: string, data: Uint8Array, expected: ExpectedResult) => void): void {
  // Odd round-trip time so timestamps carry sub-microsecond parts (visible in the nanosecond files).
  const scenario = smallSession(V4, { rttMs: 24.3217 });
  const ordered = scenario.ordered();
  const expected: ExpectedResult = { format: 'pcap', ...countsOf(ordered), mining: scenario.mining };
  const frames = records(ordered, asEthernet());
  const usecLe = pcapFile(LinkType.ETHERNET, frames);
  add('formats/pcap-usec-le.pcap', usecLe, expected);
  add('formats/pcap-usec-be.pcap', pcapFile(LinkType.ETHERNET, frames, { bigEndian: true }), expected);
  add('formats/pcap-nsec-le.pcap', pcapFile(LinkType.ETHERNET, frames, { nanos: true }), expected);
  add('formats/pcap-nsec-be.pcap', pcapFile(LinkType.ETHERNET, frames, { nanos: true, bigEndian: true }), expected);
  add('formats/ethernet.pcap.gz', new Uint8Array(gzipSync(usecLe, { level: 9 })), expected);

  // multi.pcapng: section 1 (little-endian) has Ethernet µs + raw IP ns interfaces; section 2 is big-endian.
  const stratum = ordered.filter((p) => p.flowKey?.startsWith('tcp'));
  const dns = ordered.filter((p) => p.flowKey?.startsWith('udp'));
  const section1: PcapngPacket[] = [
    ...dns.map((p): PcapngPacket => ({ iface: 1, ts: p.ts, data: p.ip })),
    ...stratum.map((p, i): PcapngPacket => {
      const packet: PcapngPacket = { iface: 0, ts: p.ts, data: ethernet(p.ip, ethernetFraming(p)) };
      // Two pure ACKs from the client as simple packet blocks (no timestamp, interface 0).
      if (i === 2 || i === stratum.length - 1) packet.simple = true;
      if (i === 3) packet.comment = 'first Stratum payload';
      return packet;
    }),
  ];
  const laterLookup = smallSession(V4, { start: BASE_TS + 60_000, dnsClientPort: 53002 });
  const laterDns = laterLookup.ordered().filter((p) => p.flowKey?.startsWith('udp'));
  const multi = pcapngFile([
    {
      interfaces: [{ linktype: LinkType.ETHERNET }, { linktype: LinkType.RAW, tsresol: 9 }],
      packets: section1,
      unknownBlocks: true,
    },
    {
      bigEndian: true,
      interfaces: [{ linktype: LinkType.ETHERNET, tsresol: 9, snaplen: 65535 }],
      packets: laterDns.map((p) => ({ iface: 0, ts: p.ts, data: ethernet(p.ip, ethernetFraming(p)) })),
    },
  ]);
  const all = [...ordered, ...laterDns];
  add('formats/multi.pcapng', multi, { format: 'pcapng', ...countsOf(all), mining: scenario.mining });
}

// ---------------------------------------------------------------------------------------------
// fixtures/rules

interface RuleCase {
  path: string;
  client: [string, number];
  server: [string, number];
  messages: SessionMessage[];
  handshake?: boolean;
  close?: boolean;
  mining?: Pick<ExpectedMining, 'family' | 'confidence'>;
}

function ruleFixtures(add: (path: string, data: Uint8Array, expected: ExpectedResult) => void): void {
  const noise = new Noise(0x0e1e5);
  const worker = 'bc1qexampleworker.s19';
  const cases: RuleCase[] = [
    {
      path: 'rules/stratum-v1-subscribe.pcap',
      client: ['10.0.0.21', 41001],
      server: ['203.0.113.21', 3333],
      mining: { family: 'stratum-v1', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson({ id: 1, method: 'mining.subscribe', params: ['bmminer/2.0.0'] }) },
        { from: 'server', gapMs: 40, data: ndjson(STRATUM_SUBSCRIBE_RESULT) },
        { from: 'client', gapMs: 2, data: ndjson({ id: 2, method: 'mining.authorize', params: [worker, 'x'] }) },
        {
          from: 'server',
          gapMs: 40,
          data: ndjson({ id: 2, result: true, error: null }, { id: null, method: 'mining.set_difficulty', params: [65536] }, stratumNotify(noise, '7a01', true, '6553f100')),
        },
        { from: 'client', gapMs: 9_000, data: ndjson({ id: 3, method: 'mining.submit', params: [worker, '7a01', '00000001', '6553f100', noise.hex(8)] }) },
        { from: 'server', gapMs: 40, data: ndjson({ id: 3, result: true, error: null }) },
      ],
    },
    {
      path: 'rules/stratum-v1-midsession.pcap',
      client: ['10.0.0.22', 41002],
      server: ['198.51.100.22', 4444],
      handshake: false,
      close: false,
      mining: { family: 'stratum-v1', confidence: 'high' },
      messages: [
        { from: 'server', data: ndjson(stratumNotify(noise, '91aa', false, '6553f200')) },
        { from: 'server', gapMs: 15_000, data: ndjson({ id: null, method: 'mining.set_difficulty', params: [16384] }) },
        { from: 'client', gapMs: 8_000, data: ndjson({ id: 41, method: 'mining.submit', params: [worker, '91aa', '0000a3f1', '6553f200', noise.hex(8)] }) },
        { from: 'server', gapMs: 35, data: ndjson({ id: 41, result: true, error: null }) },
        { from: 'server', gapMs: 20_000, data: ndjson(stratumNotify(noise, '91ab', true, '6553f25a')) },
        { from: 'client', gapMs: 11_000, data: ndjson({ id: 42, method: 'mining.submit', params: [worker, '91ab', '0000a3f2', '6553f25a', noise.hex(8)] }) },
      ],
    },
    {
      path: 'rules/stratum-v1-client-only.pcap',
      client: ['10.0.0.23', 41003],
      server: ['203.0.113.23', 3333],
      mining: { family: 'stratum-v1', confidence: 'medium' },
      messages: [
        { from: 'client', data: ndjson({ id: 1, method: 'mining.subscribe', params: ['cgminer/4.10.0'] }) },
        { from: 'client', gapMs: 1, data: ndjson({ id: 2, method: 'mining.authorize', params: [worker, 'x'] }) },
      ],
    },
    {
      // Zcash/Equihash Stratum (nanopool-style): subscribe with a nonce1, authorize, mining.set_target
      // with a 256-bit hex target, notify with 8 params, submit with an Equihash solution.
      path: 'rules/stratum-v1-zcash.pcap',
      client: ['10.0.0.25', 41005],
      server: ['198.51.100.25', 6666],
      mining: { family: 'stratum-v1', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson({ id: 1, method: 'mining.subscribe', params: ['nheqminer/0.5c', null, 'zec-eu1.example.org', '6666'] }) },
        { from: 'server', gapMs: 45, data: ndjson({ id: 1, result: [null, '9e8a2c11'], error: null }) },
        { from: 'client', gapMs: 2, data: ndjson({ id: 2, method: 'mining.authorize', params: ['t1exampleZcashAddress.rig3', 'x'] }) },
        {
          from: 'server',
          gapMs: 45,
          data: ndjson(
            { id: 2, result: true, error: null },
            { id: null, method: 'mining.set_target', params: ['0083126e978d4fdf3b645a1cac083126e978d4fdf3b645a1cac083126e978d4f'] },
            { id: null, method: 'mining.notify', params: ['5f1a', '04000000', noise.hex(64), noise.hex(64), '0000000000000000000000000000000000000000000000000000000000000000', '5b5a6e1e', '1c0a4f2b', true] },
          ),
        },
        { from: 'client', gapMs: 25_000, data: ndjson({ id: 4, method: 'mining.submit', params: ['t1exampleZcashAddress.rig3', '5f1a', '5b5a6e1e', noise.hex(56), `fd4005${noise.hex(200)}`] }) },
        { from: 'server', gapMs: 45, data: ndjson({ id: 4, result: true, error: null }) },
      ],
    },
    {
      path: 'rules/monero-xmrig.pcap',
      client: ['10.0.0.24', 41004],
      server: ['203.0.113.24', 3333],
      mining: { family: 'monero', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson('{"method": "login", "params": {"agent": "XMRig/6.20.0", "pass": "x", "login": "wallet1"}, "id": 1, "jsonrpc": "2.0"}') },
        {
          from: 'server',
          gapMs: 50,
          data: ndjson({ id: 1, jsonrpc: '2.0', error: null, result: { id: '5f0e1a', job: moneroJob(noise, 'k1', 3100000), extensions: ['algo', 'nicehash', 'keepalive'], status: 'OK' } }),
        },
        { from: 'client', gapMs: 30_000, data: ndjson(`{"method": "submit", "params": {"id": "5f0e1a", "job_id": "k1", "nonce": "${noise.hex(8)}", "result": "${noise.hex(64)}"}, "id": 2, "jsonrpc": "2.0"}`) },
        { from: 'server', gapMs: 50, data: ndjson({ id: 2, jsonrpc: '2.0', error: null, result: { status: 'OK' } }) },
      ],
    },
    {
      path: 'rules/monero-midsession.pcap',
      client: ['10.0.0.25', 41005],
      server: ['198.51.100.25', 10128],
      handshake: false,
      close: false,
      mining: { family: 'monero', confidence: 'high' },
      messages: [
        { from: 'server', data: ndjson({ jsonrpc: '2.0', method: 'job', params: moneroJob(noise, 'm7', 3100007) }) },
        { from: 'client', gapMs: 25_000, data: ndjson({ id: 12, jsonrpc: '2.0', method: 'submit', params: { id: '9c9c01', job_id: 'm7', nonce: noise.hex(8), result: noise.hex(64) } }) },
        { from: 'server', gapMs: 45, data: ndjson({ id: 12, jsonrpc: '2.0', error: null, result: { status: 'OK' } }) },
        { from: 'server', gapMs: 40_000, data: ndjson({ jsonrpc: '2.0', method: 'job', params: moneroJob(noise, 'm8', 3100008) }) },
        { from: 'client', gapMs: 30_000, data: ndjson({ id: 13, jsonrpc: '2.0', method: 'submit', params: { id: '9c9c01', job_id: 'm8', nonce: noise.hex(8), result: noise.hex(64) } }) },
      ],
    },
    {
      path: 'rules/ethproxy.pcap',
      client: ['10.0.0.26', 41006],
      server: ['203.0.113.26', 8008],
      mining: { family: 'ethproxy', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson('{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["0x3c2d8e1a4b5f6c7d8e9f0a1b2c3d4e5f60718293","x"],"worker":"rig2"}') },
        { from: 'server', gapMs: 30, data: ndjson('{"id":1,"jsonrpc":"2.0","result":true}') },
        { from: 'client', gapMs: 2, data: ndjson('{"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[],"worker":"rig2"}') },
        { from: 'server', gapMs: 30, data: ndjson(`{"id":2,"jsonrpc":"2.0","result":["0x${noise.hex(64)}","0x${noise.hex(64)}","0x0000000112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba"]}`) },
        { from: 'client', gapMs: 15_000, data: ndjson(`{"id":3,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x${noise.hex(16)}","0x${noise.hex(64)}","0x${noise.hex(64)}"],"worker":"rig2"}`) },
        { from: 'server', gapMs: 30, data: ndjson('{"id":3,"jsonrpc":"2.0","result":true}') },
      ],
    },
    {
      path: 'rules/jsonrpc-echo.pcap',
      client: ['10.0.0.31', 41011],
      server: ['203.0.113.31', 3333],
      messages: [
        { from: 'client', data: ndjson('{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}') },
        { from: 'server', gapMs: 20, data: ndjson('{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}') },
      ],
    },
    {
      path: 'rules/ethereum-node-rpc.pcap',
      client: ['10.0.0.32', 41012],
      server: ['203.0.113.32', 8545],
      messages: ethereumNodeMessages('203.0.113.32:8545'),
    },
    {
      path: 'rules/zabbix.pcap',
      client: ['10.0.0.33', 41013],
      server: ['203.0.113.33', 10051],
      messages: [
        { from: 'client', data: zabbixFrame('{"request":"active checks","host":"web01"}') },
        { from: 'server', gapMs: 4, data: zabbixFrame('{"response":"success","data":[]}') },
      ],
    },
    {
      path: 'rules/lsp.pcap',
      client: ['10.0.0.34', 41014],
      server: ['203.0.113.34', 2087],
      messages: [
        {
          from: 'client',
          data: lspFrame('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":4242,"rootUri":"file:///home/dev/project","capabilities":{"textDocument":{"hover":{"contentFormat":["markdown","plaintext"]}}}}}'),
        },
        {
          from: 'server',
          gapMs: 60,
          data: lspFrame('{"jsonrpc":"2.0","id":1,"result":{"capabilities":{"hoverProvider":true,"textDocumentSync":2},"serverInfo":{"name":"example-ls","version":"1.2.0"}}}'),
        },
        { from: 'client', gapMs: 2, data: lspFrame('{"jsonrpc":"2.0","method":"initialized","params":{}}') },
      ],
    },
    {
      path: 'rules/stratum-lookalike.pcap',
      client: ['10.0.0.35', 41015],
      server: ['203.0.113.35', 7777],
      messages: [
        { from: 'client', data: ndjson('{"type":"hello","user":"sam"}') },
        { from: 'server', gapMs: 25, data: ndjson('{"type":"welcome","room":"general"}') },
        { from: 'client', gapMs: 4_000, data: ndjson('{"type":"message","text":"how do I call mining.subscribe?"}') },
        { from: 'server', gapMs: 25, data: ndjson('{"type":"message","from":"alex","text":"send mining.subscribe then mining.authorize, see the docs"}') },
      ],
    },
  ];
  cases.push(...stratumExtensionCases(), ...moneroVariantCases(), ...ethereumStratumCases(), ...getworkCases(), ...handshakeCases());
  for (const rule of cases) {
    const scenario = new Scenario().flow(
      tcpSession({ client: rule.client, server: rule.server, start: BASE_TS, rttMs: 20, messages: rule.messages, handshake: rule.handshake ?? true, close: rule.close ?? true }),
      'tcp',
      rule.client,
      rule.server,
    );
    if (rule.mining) scenario.expectMining({ client: rule.client[0], server: rule.server[0], serverPort: rule.server[1], ...rule.mining });
    const ordered = scenario.ordered();
    add(rule.path, pcapFile(LinkType.ETHERNET, records(ordered, asEthernet())), { format: 'pcap', ...countsOf(ordered), mining: scenario.mining });
  }
}

/** Stratum V1 with the BIP 310 / NiceHash extensions an ASIC uses (version rolling and friends). */
function stratumExtensionCases(): RuleCase[] {
  const noise = new Noise(0x0e1e6);
  const worker = 'bc1qexampleworker.s19xp';
  return [
    {
      path: 'rules/stratum-v1-extensions.pcap',
      client: ['10.0.0.41', 41021],
      server: ['203.0.113.41', 3333],
      mining: { family: 'stratum-v1', confidence: 'high' },
      messages: [
        {
          from: 'client',
          data: ndjson('{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}'),
        },
        { from: 'server', gapMs: 40, data: ndjson('{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}') },
        { from: 'client', gapMs: 2, data: ndjson({ id: 2, method: 'mining.subscribe', params: ['bmminer/2.0.0'] }) },
        { from: 'server', gapMs: 40, data: ndjson({ ...STRATUM_SUBSCRIBE_RESULT, id: 2 }) },
        { from: 'client', gapMs: 2, data: ndjson('{"id":3,"method":"mining.extranonce.subscribe","params":[]}') },
        { from: 'client', gapMs: 1, data: ndjson('{"id":4,"method":"mining.suggest_difficulty","params":[1024]}') },
        { from: 'client', gapMs: 1, data: ndjson({ id: 5, method: 'mining.authorize', params: [worker, 'x'] }) },
        {
          from: 'server',
          gapMs: 40,
          data: ndjson(
            { id: 3, result: true, error: null },
            { id: 4, result: true, error: null },
            { id: 5, result: true, error: null },
            '{"id":null,"method":"mining.set_extranonce","params":["08000003",4]}',
            { id: null, method: 'mining.set_difficulty', params: [1024] },
            stratumNotify(noise, '7a02', true, '6553f180'),
          ),
        },
        { from: 'client', gapMs: 3, data: ndjson('{"id":7,"method":"mining.get_transactions","params":["7a02"]}') },
        { from: 'server', gapMs: 40, data: ndjson({ id: 7, result: [], error: null }) },
        { from: 'client', gapMs: 6_000, data: ndjson({ id: 8, method: 'mining.submit', params: [worker, '7a02', '00000001', '6553f180', noise.hex(8), '00a6c000'] }) },
        { from: 'server', gapMs: 40, data: ndjson({ id: 8, result: true, error: null }) },
      ],
    },
  ];
}

/** CryptoNote pool sessions of other miners: an idle XMRig keepalive, xmr-stak, a MinerGate-style client. */
function moneroVariantCases(): RuleCase[] {
  const noise = new Noise(0x0e1e7);
  const stakWallet = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';
  return [
    {
      path: 'rules/monero-keepalive.pcap',
      client: ['10.0.0.42', 41022],
      server: ['198.51.100.42', 10128],
      mining: { family: 'monero', confidence: 'high' },
      messages: [
        {
          from: 'client',
          data: ndjson({
            id: 1,
            jsonrpc: '2.0',
            method: 'login',
            params: { login: `${MONERO_WALLET}.rig4`, pass: 'x', agent: 'XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0', algo: ['rx/0'] },
          }),
        },
        {
          from: 'server',
          gapMs: 50,
          data: ndjson({ id: 1, jsonrpc: '2.0', error: null, result: { id: '5f0e1a', job: moneroJob(noise, 'q1', 3100100), extensions: ['algo', 'nicehash', 'keepalive'], status: 'OK' } }),
        },
        { from: 'client', gapMs: 60_000, data: ndjson('{"id":2,"jsonrpc":"2.0","method":"keepalived","params":{"id":"5f0e1a"}}') },
        { from: 'server', gapMs: 50, data: ndjson('{"id":2,"jsonrpc":"2.0","error":null,"result":{"status":"KEEPALIVED"}}') },
      ],
    },
    {
      // xmr-stak 2.x: no jsonrpc member in its requests, rigid in the login.
      path: 'rules/monero-xmrstak.pcap',
      client: ['10.0.0.43', 41023],
      server: ['203.0.113.43', 3333],
      mining: { family: 'monero', confidence: 'high' },
      messages: [
        {
          from: 'client',
          data: ndjson(`{"method":"login","params":{"login":"${stakWallet}","pass":"x","rigid":"","agent":"xmr-stak/2.10.8/5a3f9d1/master/lin/cpu/monero/0"},"id":1}`),
        },
        {
          from: 'server',
          gapMs: 55,
          data: ndjson({ id: 1, jsonrpc: '2.0', error: null, result: { id: '7c3e51', job: { blob: noise.hex(152), job_id: 's1', target: '711b0d00' }, status: 'OK' } }),
        },
        { from: 'server', gapMs: 40_000, data: ndjson({ jsonrpc: '2.0', method: 'job', params: { blob: noise.hex(152), job_id: 's2', target: '711b0d00' } }) },
        {
          from: 'client',
          gapMs: 25_000,
          data: ndjson(`{"method":"submit","params":{"id":"7c3e51","job_id":"s2","nonce":"${noise.hex(8)}","result":"${noise.hex(64)}"},"id":2}`),
        },
        { from: 'server', gapMs: 55, data: ndjson({ id: 2, jsonrpc: '2.0', error: null, result: { status: 'OK' } }) },
      ],
    },
    {
      // MinerGate-style client: an e-mail account as login, jsonrpc last in the pushed job.
      path: 'rules/monero-minergate.pcap',
      client: ['10.0.0.44', 41024],
      server: ['198.51.100.44', 45700],
      mining: { family: 'monero', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson('{"method":"login","params":{"login":"miner@example.org","pass":"x","agent":"minergate-cli/4.04"},"id":1}') },
        {
          from: 'server',
          gapMs: 70,
          data: ndjson({ id: 1, jsonrpc: '2.0', error: null, result: { id: '2b8f0c', job: { blob: noise.hex(152), job_id: 'g1', target: 'b88d0600' }, status: 'OK' } }),
        },
        { from: 'server', gapMs: 35_000, data: ndjson(`{"method":"job","params":{"blob":"${noise.hex(152)}","job_id":"g2","target":"b88d0600"},"jsonrpc":"2.0"}`) },
        {
          from: 'client',
          gapMs: 20_000,
          data: ndjson(`{"method":"submit","params":{"id":"2b8f0c","job_id":"g2","nonce":"${noise.hex(8)}","result":"${noise.hex(64)}"},"id":2}`),
        },
        { from: 'server', gapMs: 70, data: ndjson({ id: 2, jsonrpc: '2.0', error: null, result: { status: 'OK' } }) },
      ],
    },
  ];
}

/** NiceHash EthereumStratum/1.0.0 and EthereumStratum/2.0.0 sessions. */
function ethereumStratumCases(): RuleCase[] {
  const account = '0x3c2d8e1a4b5f6c7d8e9f0a1b2c3d4e5f60718293';
  return [
    {
      path: 'rules/ethereumstratum-v1.pcap',
      client: ['10.0.0.45', 41025],
      server: ['203.0.113.45', 3353],
      // The generic Stratum V1 rules (authorize, set_difficulty, notify) fire on the shared method names too.
      mining: { family: 'ethereumstratum+stratum-v1', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson('{"id":1,"method":"mining.subscribe","params":["ethminer/0.19.0","EthereumStratum/1.0.0"]}') },
        { from: 'server', gapMs: 35, data: ndjson('{"id":1,"result":[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f","EthereumStratum/1.0.0"],"080c"],"error":null}') },
        { from: 'client', gapMs: 2, data: ndjson(`{"id":2,"method":"mining.authorize","params":["${account}.rig5","x"]}`) },
        {
          from: 'server',
          gapMs: 35,
          data: ndjson(
            '{"id":2,"result":true,"error":null}',
            '{"id":null,"method":"mining.set_difficulty","params":[0.5]}',
            '{"id":null,"method":"mining.notify","params":["bf0488aa","abad8f99f3918bf903c6a909d9bbc0fdfa5a2f4b9cb1196175ec825c6610126c","645cf20198c2f3861e947d4f67e3ab63b7b2e24dcc9095bd9123e7b33371f6cc",true]}',
          ),
        },
        { from: 'client', gapMs: 12_000, data: ndjson(`{"id":4,"method":"mining.submit","params":["${account}.rig5","bf0488aa","6a909d9bbc0f"]}`) },
        { from: 'server', gapMs: 35, data: ndjson('{"id":4,"result":true,"error":null}') },
      ],
    },
    {
      // EthereumStratum/2.0.0 as in its specification: hex port/limits, a new session subscribes
      // without params, authorize answers a worker token, mining.set before mining.notify.
      path: 'rules/ethereumstratum-v2.pcap',
      client: ['10.0.0.46', 41026],
      server: ['198.51.100.46', 4444],
      mining: { family: 'ethereumstratum+stratum-v1', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson('{"id":0,"method":"mining.hello","params":{"agent":"lolMiner/1.52","host":"eth.example.org","port":"115c","proto":"EthereumStratum/2.0.0"}}') },
        {
          from: 'server',
          gapMs: 30,
          data: ndjson('{"id":0,"result":{"proto":"EthereumStratum/2.0.0","encoding":"plain","resume":"1","timeout":"12c","maxerrors":"5","node":"Geth/v1.10.26"}}'),
        },
        { from: 'client', gapMs: 2, data: ndjson('{"id":1,"method":"mining.subscribe"}') },
        { from: 'server', gapMs: 30, data: ndjson('{"id":1,"result":"s-12345"}') },
        { from: 'client', gapMs: 2, data: ndjson(`{"id":2,"method":"mining.authorize","params":["${account}.rig9","x"]}`) },
        {
          from: 'server',
          gapMs: 30,
          data: ndjson(
            '{"id":2,"result":"w-1"}',
            '{"method":"mining.set","params":{"epoch":"dc","target":"0112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba","algo":"ethash","extranonce":"af4c"}}',
            '{"method":"mining.notify","params":["bf0488aa","6526d5","645cf20198c2f3861e947d4f67e3ab63b7b2e24dcc9095bd9123e7b33371f6cc","0"]}',
          ),
        },
        { from: 'client', gapMs: 60_000, data: ndjson('{"id":5,"method":"mining.noop"}') },
        { from: 'server', gapMs: 30, data: ndjson('{"id":5}') },
      ],
    },
  ];
}

/** getwork / getblocktemplate (BIP 22/23) over HTTP and raw TCP, and a bitcoind RPC negative. */
function getworkCases(): RuleCase[] {
  const noise = new Noise(0x0e1e8);
  const getworkRequest = '{"method": "getwork", "params": [], "id":0}';
  const getworkResult = JSON.stringify({
    result: {
      midstate: noise.hex(64),
      data: `20000000${noise.hex(64)}${noise.hex(64)}6553f1801705ae3a00000000000000800000000000000000000000000000000000000000000000000000000000000000000000000000000080020000`,
      hash1: '00000000000000000000000000000000000000000000000000000000000000000000008000000000000000000000000000000000000000000000000000010000',
      target: 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000',
    },
    error: null,
    id: 0,
  });
  const request = (headers: string[], body: string): string =>
    `POST / HTTP/1.1\r\n${[...headers, `Content-Length: ${utf8(body).length}`].join('\r\n')}\r\n\r\n${body}`;
  const response = (headers: string[], body: string): string =>
    `HTTP/1.1 200 OK\r\n${[...headers, `Content-Length: ${utf8(body).length}`].join('\r\n')}\r\n\r\n${body}`;
  const gbtTemplate = JSON.stringify({
    result: {
      version: 536870912,
      previousblockhash: `00000000000000000002${noise.hex(44)}`,
      transactions: [],
      coinbasevalue: 625000000,
      target: '0000000000000000000538940000000000000000000000000000000000000000',
      mintime: 1700000000,
      mutable: ['time', 'transactions', 'prevblock'],
      noncerange: '00000000ffffffff',
      sigoplimit: 80000,
      sizelimit: 4000000,
      curtime: 1700000100,
      bits: '17053894',
      height: 820000,
    },
    error: null,
    id: 0,
  });
  const bitcoind = ['Content-Type: application/json', 'Date: Tue, 14 Nov 2023 22:13:20 GMT'];
  const python = (body: string): string =>
    request(
      ['Host: 198.51.100.50:8332', 'User-Agent: python-requests/2.31.0', 'Accept-Encoding: gzip, deflate', 'Accept: */*', 'Connection: keep-alive', 'Authorization: Basic cnBjdXNlcjpycGNwYXNz', 'Content-Type: application/json'],
      body,
    );
  const best = `00000000000000000002${noise.hex(44)}`;
  const previous = `00000000000000000001${noise.hex(44)}`;
  const txids = [noise.hex(64), noise.hex(64), noise.hex(64)];
  return [
    {
      path: 'rules/getwork-http.pcap',
      client: ['10.0.0.47', 41027],
      server: ['203.0.113.47', 8332],
      mining: { family: 'getwork', confidence: 'high' },
      messages: [
        {
          from: 'client',
          data: request(
            [
              'Host: pool.example.org:8332',
              'Authorization: Basic dXNlcjpwYXNz',
              'Accept: */*',
              'Accept-Encoding: deflate, gzip',
              'Content-Type: application/json',
              'User-Agent: cgminer/4.10.0',
              'X-Mining-Extensions: longpoll midstate rollntime submitold',
              'X-Mining-Hashrate: 1000000000',
            ],
            getworkRequest,
          ),
        },
        {
          from: 'server',
          gapMs: 45,
          data: response(['Content-Type: application/json', 'X-Long-Polling: /LP', 'X-Roll-NTime: expire=120', 'X-Stratum: stratum+tcp://pool.example.org:3333'], `${getworkResult}\n`),
        },
      ],
    },
    {
      path: 'rules/getwork-tcp.pcap',
      client: ['10.0.0.48', 41028],
      server: ['198.51.100.48', 9332],
      mining: { family: 'getwork', confidence: 'high' },
      messages: [
        { from: 'client', data: ndjson(getworkRequest) },
        { from: 'server', gapMs: 45, data: ndjson(getworkResult) },
      ],
    },
    {
      path: 'rules/getblocktemplate-http.pcap',
      client: ['10.0.0.49', 41029],
      server: ['203.0.113.49', 8332],
      mining: { family: 'getwork', confidence: 'high' },
      messages: [
        {
          from: 'client',
          data: request(
            ['Host: 203.0.113.49:8332', 'Authorization: Basic dXNlcjpwYXNz', 'Accept: */*', 'Content-Type: application/json', 'User-Agent: bfgminer/5.5.0', 'X-Mining-Extensions: longpoll'],
            '{"id":0,"method":"getblocktemplate","params":[{"capabilities":["coinbasetxn","workid","coinbase/append"],"rules":["segwit"]}]}',
          ),
        },
        { from: 'server', gapMs: 60, data: response(bitcoind, `${gbtTemplate}\n`) },
      ],
    },
    {
      // A block explorer reading a node: keep-alive POSTs without X-Mining headers; request bodies
      // end without a newline (as python-requests sends them), bitcoind ends each reply with one.
      path: 'rules/bitcoind-rpc.pcap',
      client: ['10.0.0.50', 41030],
      server: ['198.51.100.50', 8332],
      messages: [
        { from: 'client', data: python('{"jsonrpc":"1.0","id":"1","method":"getblockchaininfo","params":[]}') },
        {
          from: 'server',
          gapMs: 4,
          data: response(
            bitcoind,
            `${JSON.stringify({
              result: {
                chain: 'main',
                blocks: 820000,
                headers: 820000,
                bestblockhash: best,
                difficulty: 64678587803496.8,
                time: 1699999900,
                mediantime: 1699997500,
                verificationprogress: 0.9999987,
                initialblockdownload: false,
                chainwork: `0000000000000000000000000000000000000000${noise.hex(24)}`,
                size_on_disk: 598312563104,
                pruned: false,
                warnings: '',
              },
              error: null,
              id: '1',
            })}\n`,
          ),
        },
        { from: 'client', gapMs: 500, data: python('{"jsonrpc":"1.0","id":"2","method":"getbestblockhash","params":[]}') },
        { from: 'server', gapMs: 2, data: response(bitcoind, `${JSON.stringify({ result: best, error: null, id: '2' })}\n`) },
        { from: 'client', gapMs: 500, data: python(`{"jsonrpc":"1.0","id":"3","method":"getblock","params":["${best}",1]}`) },
        {
          from: 'server',
          gapMs: 6,
          data: response(
            bitcoind,
            `${JSON.stringify({
              result: {
                hash: best,
                confirmations: 1,
                height: 820000,
                version: 536870912,
                versionHex: '20000000',
                merkleroot: noise.hex(64),
                time: 1699999900,
                mediantime: 1699997500,
                nonce: 2864217211,
                bits: '17053894',
                difficulty: 64678587803496.8,
                chainwork: `0000000000000000000000000000000000000000${noise.hex(24)}`,
                nTx: txids.length,
                previousblockhash: previous,
                strippedsize: 812345,
                size: 1587234,
                weight: 3993269,
                tx: txids,
              },
              error: null,
              id: '3',
            })}\n`,
          ),
        },
      ],
    },
  ];
}

/** Random-looking binary frames of 40 to 300 bytes, alternating client and server. */
function randomFrames(noise: Noise, exchanges: number, gapMs: number): SessionMessage[] {
  const out: SessionMessage[] = [];
  const length = (): number => 40 + (((noise.bytes(1)[0]! << 8) | noise.bytes(1)[0]!) % 261);
  for (let i = 0; i < exchanges; i++) {
    out.push({ from: 'client', gapMs: i === 0 ? 3 : gapMs, data: noise.bytes(length()) });
    out.push({ from: 'server', gapMs: 30, data: noise.bytes(length()) });
  }
  return out;
}

/** An SSH binary packet (RFC 4253 §6) with a payload in the clear, padded to a multiple of 8. */
function sshPacket(noise: Noise, payload: Uint8Array): Uint8Array {
  let padding = 8 - ((payload.length + 5) % 8);
  if (padding < 4) padding += 8;
  const length = payload.length + padding + 1;
  return concatBytes(new Uint8Array([length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, padding]), payload, noise.bytes(padding));
}

function sshString(data: Uint8Array | string): Uint8Array {
  const bytes = utf8(data);
  return concatBytes(new Uint8Array([bytes.length >>> 24, (bytes.length >> 16) & 0xff, (bytes.length >> 8) & 0xff, bytes.length & 0xff]), bytes);
}

/** SSH_MSG_KEXINIT (RFC 4253 §7.1) with a random cookie and OpenSSH-like algorithm lists. */
function sshKexinit(noise: Noise, server: boolean): Uint8Array {
  const lists = [
    server ? 'sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256' : 'sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ext-info-c',
    server ? 'rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519' : 'ssh-ed25519-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256',
    'chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr',
    'chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr',
    'umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com',
    'umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com',
    'none,zlib@openssh.com',
    'none,zlib@openssh.com',
    '',
    '',
  ];
  return concatBytes(new Uint8Array([20]), noise.bytes(16), ...lists.map((list) => sshString(list)), new Uint8Array([0, 0, 0, 0, 0]));
}

/**
 * An encrypted SSH packet under chacha20-poly1305@openssh.com (OpenSSH's default): encrypted
 * 4-byte length, `blocks` * 8 bytes of ciphertext, 16-byte Poly1305 tag — all random-looking.
 */
function sshEncrypted(noise: Noise, blocks: number): Uint8Array {
  return noise.bytes(4 + blocks * 8 + 16);
}

/** Stratum V2 Noise handshake shapes (suspect only) and two negatives that must not look like it. */
function handshakeCases(): RuleCase[] {
  const noise = new Noise(0x0e1e9);
  const sv2 = (path: string, client: [string, number], serverFirst: number): RuleCase => ({
    path,
    client,
    server: ['203.0.113.42', 34255],
    messages: [
      { from: 'client', data: noise.bytes(64) },
      { from: 'server', gapMs: 40, data: noise.bytes(serverFirst) },
      ...randomFrames(noise, 3, 2_000),
    ],
  });
  return [
    sv2('rules/stratum-v2-handshake.pcap', ['10.0.0.51', 41031], 234),
    sv2('rules/stratum-v2-handshake-170.pcap', ['10.0.0.52', 41032], 170),
    {
      path: 'rules/random-64-then-100.pcap',
      client: ['10.0.0.53', 41033],
      server: ['198.51.100.55', 4000],
      messages: [
        { from: 'client', data: noise.bytes(64) },
        { from: 'server', gapMs: 40, data: noise.bytes(100) },
        ...randomFrames(noise, 3, 2_000),
      ],
    },
    {
      path: 'rules/ssh-banner.pcap',
      client: ['10.0.0.54', 41034],
      server: ['203.0.113.54', 22],
      messages: [
        { from: 'server', gapMs: 5, data: 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n' },
        { from: 'client', gapMs: 1, data: 'SSH-2.0-OpenSSH_9.6\r\n' },
        { from: 'client', gapMs: 1, data: sshPacket(noise, sshKexinit(noise, false)) },
        { from: 'server', gapMs: 2, data: sshPacket(noise, sshKexinit(noise, true)) },
        // SSH_MSG_KEX_ECDH_INIT with the client's curve25519 key; the reply with host key, key and signature.
        { from: 'client', gapMs: 1, data: sshPacket(noise, concatBytes(new Uint8Array([30]), sshString(noise.bytes(32)))) },
        {
          from: 'server',
          gapMs: 3,
          data: concatBytes(
            sshPacket(
              noise,
              concatBytes(
                new Uint8Array([31]),
                sshString(concatBytes(sshString('ssh-ed25519'), sshString(noise.bytes(32)))),
                sshString(noise.bytes(32)),
                sshString(concatBytes(sshString('ssh-ed25519'), sshString(noise.bytes(64)))),
              ),
            ),
            sshPacket(noise, new Uint8Array([21])),
          ),
        },
        { from: 'client', gapMs: 1, data: concatBytes(sshPacket(noise, new Uint8Array([21])), sshEncrypted(noise, 4)) },
        { from: 'server', gapMs: 20, data: sshEncrypted(noise, 4) },
        { from: 'client', gapMs: 1, data: sshEncrypted(noise, 8) },
        { from: 'server', gapMs: 20, data: sshEncrypted(noise, 6) },
      ],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// fixtures/names

/**
 * A TLS 1.3 session: ClientHello (SNI optional), the server's first flight, the client's
 * ChangeCipherSpec and Finished, then `exchanges` application-data rounds (client request, server
 * answer; lengths drawn from the seed).
 */
function tlsSessionMessages(sni: string | null, seed: number, exchanges: number, gapMs: number, rttMs: number): SessionMessage[] {
  const hello = buildClientHello(sni, seed);
  const noise = new Noise(seed + 1);
  const size = (min: number, span: number): number => min + (noise.bytes(1)[0]! % span);
  const messages: SessionMessage[] = [
    { from: 'client', gapMs: 2, data: hello },
    { from: 'server', gapMs: rttMs, segments: 2, data: buildServerHello(seed + 2, tlsClientHelloSessionId(hello), [1180, 264, 53]) },
    { from: 'client', gapMs: 2, data: concatBytes(new Uint8Array([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]), tlsApplicationData(seed + 10, 53)) },
  ];
  for (let i = 0; i < exchanges; i++) {
    messages.push(
      { from: 'client', gapMs: i === 0 ? 1 : gapMs, data: tlsApplicationData(seed + 20 + 2 * i, size(120, 200)) },
      { from: 'server', gapMs: rttMs, data: tlsApplicationData(seed + 21 + 2 * i, size(200, 400)) },
    );
  }
  return messages;
}

function nameFixtures(add: (path: string, data: Uint8Array, expected: ExpectedResult) => void): void {
  const write = (path: string, scenario: Scenario): void => {
    const ordered = scenario.ordered();
    add(path, pcapFile(LinkType.ETHERNET, records(ordered, asEthernet())), { format: 'pcap', ...countsOf(ordered), mining: scenario.mining });
  };
  const tlsFlow = (scenario: Scenario, client: [string, number], server: [string, number], start: number, messages: SessionMessage[], mac?: string): Scenario =>
    scenario.flow(tcpSession({ client, server, start, rttMs: 30, messages }), 'tcp', client, server, mac);

  // TLS to a pool port with the pool's name in the SNI, small packets at a steady rate: the pool
  // name plus (weak) pool-like behaviour is high (rules/policy.yaml).
  {
    const client: [string, number] = ['10.0.0.70', 41070];
    const server: [string, number] = ['198.51.100.70', 14433];
    const scenario = tlsFlow(new Scenario(), client, server, BASE_TS, tlsSessionMessages('xmr-eu1.nanopool.org', 0x5a1001, 4, 20_000, 30));
    write('names/pool-sni.pcap', scenario.expectMining({ client: client[0], server: server[0], serverPort: server[1], family: '', confidence: 'high' }));
  }

  // DNS lookup of a pool name, then TLS without SNI to the address in the answer.
  {
    const dnsClient: [string, number] = ['10.0.0.80', 53080];
    const dnsServer: [string, number] = ['198.51.100.53', 53];
    const client: [string, number] = ['10.0.0.80', 41080];
    const server: [string, number] = ['203.0.113.77', 10128];
    const scenario = new Scenario().flow(
      udpExchange({
        client: dnsClient,
        server: dnsServer,
        start: BASE_TS,
        messages: [
          { from: 'client', data: dnsQuery(0x4d01, 'gulf.moneroocean.stream') },
          { from: 'server', gapMs: 12, data: dnsAResponse(0x4d01, 'gulf.moneroocean.stream', [server[0]]) },
        ],
      }),
      'udp',
      dnsClient,
      dnsServer,
    );
    tlsFlow(scenario, client, server, BASE_TS + 112, tlsSessionMessages(null, 0x5a1002, 4, 20_000, 30));
    write('names/pool-dns.pcap', scenario.expectMining({ client: client[0], server: server[0], serverPort: server[1], family: '', confidence: 'high' }));
  }

  // Ordinary HTTPS: a name that is no pool.
  {
    const client: [string, number] = ['10.0.0.71', 41071];
    const server: [string, number] = ['203.0.113.90', 443];
    write('names/benign-sni.pcap', tlsFlow(new Scenario(), client, server, BASE_TS, tlsSessionMessages('www.example.com', 0x5a1003, 3, 400, 25)));
  }

  // One subscriber, one server: a proven Stratum V1 session, then TLS without SNI to the same host.
  // Only the Stratum flow is mining in the scan; the TLS flow becomes mining through peer evidence
  // when the report is written (checked by a report test, not by expected.json).
  {
    const noise = new Noise(0x5a1004);
    const worker = 'bc1qexampleworker.peer01';
    const mac = '02:00:00:00:00:5a';
    const stratumClient: [string, number] = ['10.0.0.90', 41090];
    const stratumServer: [string, number] = ['198.51.100.60', 3333];
    const scenario = new Scenario().flow(
      tcpSession({
        client: stratumClient,
        server: stratumServer,
        start: BASE_TS,
        rttMs: 40,
        messages: [
          { from: 'client', data: ndjson({ id: 1, method: 'mining.subscribe', params: ['cgminer/4.12.1'] }) },
          { from: 'server', gapMs: 40, data: ndjson(STRATUM_SUBSCRIBE_RESULT) },
          { from: 'client', gapMs: 2, data: ndjson({ id: 2, method: 'mining.authorize', params: [worker, 'x'] }) },
          {
            from: 'server',
            gapMs: 40,
            data: ndjson({ id: 2, result: true, error: null }, { id: null, method: 'mining.set_difficulty', params: [4096] }, stratumNotify(noise, '5c01', true, '6553f100')),
          },
          { from: 'client', gapMs: 15_000, data: ndjson({ id: 3, method: 'mining.submit', params: [worker, '5c01', '00000002', '6553f100', noise.hex(8)] }) },
          { from: 'server', gapMs: 40, data: ndjson({ id: 3, result: true, error: null }) },
        ],
      }),
      'tcp',
      stratumClient,
      stratumServer,
      mac,
    );
    scenario.expectMining({ client: stratumClient[0], server: stratumServer[0], serverPort: stratumServer[1], family: 'stratum-v1', confidence: 'high' });
    tlsFlow(scenario, ['10.0.0.90', 41091], ['198.51.100.60', 443], BASE_TS + 60_000, tlsSessionMessages(null, 0x5a1005, 4, 20_000, 40), mac);
    write('names/peer.pcap', scenario);
  }
}

/** A SOCKS5 CONNECT request for a host name (RFC 1928 section 4, ATYP 3). */
function socks5Connect(host: string, port: number): Uint8Array {
  const name = utf8(host);
  return concatBytes(new Uint8Array([5, 1, 0, 3, name.length]), name, new Uint8Array([port >> 8, port & 255]));
}

/** The proxy's success reply with an IPv4 bound address. */
const SOCKS5_REPLY = new Uint8Array([5, 0, 0, 1, 198, 51, 100, 80, 0xc3, 0x50]);

/** A client's session through a SOCKS5 proxy: greeting, then the CONNECT with the tunnelled protocol's first message glued behind it. */
function socksSession(client: [string, number], proxy: [string, number], host: string, port: number, first: Uint8Array, answer: Uint8Array, more: SessionMessage[] = []): TimedPacket[] {
  return tcpSession({
    client,
    server: proxy,
    start: BASE_TS,
    rttMs: 35,
    messages: [
      { from: 'client', data: new Uint8Array([5, 1, 0]) },
      { from: 'server', gapMs: 35, data: new Uint8Array([5, 0]) },
      { from: 'client', gapMs: 1, data: concatBytes(socks5Connect(host, port), first) },
      { from: 'server', gapMs: 80, data: concatBytes(SOCKS5_REPLY, answer) },
      ...more,
    ],
  });
}

function socksFixtures(add: (path: string, data: Uint8Array, expected: ExpectedResult) => void): void {
  const write = (path: string, scenario: Scenario): void => {
    const ordered = scenario.ordered();
    add(path, pcapFile(LinkType.ETHERNET, records(ordered, asEthernet())), { format: 'pcap', ...countsOf(ordered), mining: scenario.mining });
  };
  // XMRig told to use a SOCKS5 proxy: greeting, then CONNECT with the pool's name and the login in
  // one segment (the login glued behind the CONNECT), then the pool's answers behind the proxy's.
  {
    const noise = new Noise(0x50c5);
    const client: [string, number] = ['10.0.0.95', 41095];
    const proxy: [string, number] = ['198.51.100.80', 1080];
    const login = ndjson({ id: 1, jsonrpc: '2.0', method: 'login', params: { login: '48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD', pass: 'x', agent: 'XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0', algo: ['rx/0'] } });
    const job = ndjson({ id: 1, jsonrpc: '2.0', error: null, result: { id: 'e1f2', job: moneroJob(noise, 'k1', 3100000), status: 'OK' } });
    const session = socksSession(client, proxy, 'xmr.pool.minergate.com', 45700, utf8(login), utf8(job), [
      { from: 'client', gapMs: 30_000, data: ndjson({ id: 2, jsonrpc: '2.0', method: 'submit', params: { id: 'e1f2', job_id: 'k1', nonce: noise.hex(4), result: noise.hex(32) } }) },
      { from: 'server', gapMs: 40, data: ndjson({ id: 2, jsonrpc: '2.0', error: null, result: { status: 'OK' } }) },
    ]);
    const scenario = new Scenario().flow(session, 'tcp', client, proxy);
    write('names/socks5-pool.pcap', scenario.expectMining({ client: client[0], server: proxy[0], serverPort: proxy[1], family: 'monero', confidence: 'high' }));
  }
  // A proxy carrying an ordinary web request: no evidence.
  {
    const client: [string, number] = ['10.0.0.96', 41096];
    const proxy: [string, number] = ['198.51.100.81', 1080];
    const request = utf8('GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n');
    const page = utf8('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>');
    write('names/socks5-web.pcap', new Scenario().flow(socksSession(client, proxy, 'www.example.com', 80, request, page), 'tcp', client, proxy));
  }
}

function zabbixFrame(json: string): Uint8Array {
  const body = utf8(json);
  const header = new Uint8Array(13);
  header.set(utf8('ZBXD'), 0);
  header[4] = 0x01;
  new DataView(header.buffer).setBigUint64(5, BigInt(body.length), true);
  return concatBytes(header, body);
}

function lspFrame(json: string): string {
  return `Content-Length: ${utf8(json).length}\r\n\r\n${json}`;
}

// ---------------------------------------------------------------------------------------------
// fixtures/bad

function badFixtures(add: (path: string, data: Uint8Array, expected: ExpectedResult) => void): void {
  const nothing = { packets: 0, ipTransportPackets: 0, flows: 0, mining: [] };
  add('bad/empty.pcap', new Uint8Array(0), { format: 'unknown', ...nothing, error: 'empty' });
  add('bad/garbage.bin', new Noise(0x6a7ba6e).bytes(64), { format: 'unknown', ...nothing, error: 'unrecognised' });

  const scenario = smallSession(V4);
  const ordered = scenario.ordered();
  const frames = records(ordered, asEthernet());
  const valid = pcapFile(LinkType.ETHERNET, frames);
  add('bad/truncated-header.pcap', valid.slice(0, 12), { format: 'pcap', ...nothing, error: 'truncated' });

  // The last record's header promises its full frame, but the file ends halfway through the data.
  const lastFrame = frames[frames.length - 1]!;
  const truncated = valid.slice(0, valid.length - Math.ceil(lastFrame.data.length / 2));
  add('bad/truncated-record.pcap', truncated, {
    format: 'pcap',
    ...countsOf(ordered.slice(0, -1)),
    mining: scenario.mining,
    anomalies: ['pcap.truncated_record'],
  });

  // The client's FIN record claims a captured length of 0x7fffffff. A reader that resynchronises on
  // the next plausible record header recovers the records after it; only the bad one is lost.
  const finIndex = ordered.findIndex((p, i) => i > 0 && p.flowKey?.startsWith('tcp') && (p.ip[20 + 13]! & 0x01) === 1);
  let offset = 24;
  for (let i = 0; i < finIndex; i++) offset += 16 + frames[i]!.data.length;
  const oversized = valid.slice();
  new DataView(oversized.buffer).setUint32(offset + 8, 0x7fffffff, true);
  add('bad/caplen-over-snaplen.pcap', oversized, {
    format: 'pcap',
    ...countsOf(ordered.filter((_, i) => i !== finIndex)),
    mining: scenario.mining,
    anomalies: ['pcap.record_too_long', 'capture.resync_skipped'],
  });

  add('bad/unknown-linktype.pcap', pcapFile(147, frames), {
    format: 'pcap',
    packets: frames.length,
    ipTransportPackets: 0,
    flows: 0,
    mining: [],
    anomalies: ['link.unsupported'],
  });

  const dns = ordered.filter((p) => p.flowKey?.startsWith('udp'));
  const goodBlocks = pcapngFile([
    { interfaces: [{ linktype: LinkType.ETHERNET }], packets: dns.map((p) => ({ iface: 0, ts: p.ts, data: ethernet(p.ip, ethernetFraming(p)) })) },
  ]);
  const badBlock = new Uint8Array(12);
  const badView = new DataView(badBlock.buffer);
  badView.setUint32(0, 0x00000006, true);
  badView.setUint32(4, 5, true);
  add('bad/bad-pcapng.pcapng', concatBytes(goodBlocks, badBlock), {
    format: 'pcapng',
    ...countsOf(dns),
    mining: [],
    anomalies: ['pcapng.bad_block_length', 'capture.resync_skipped'],
  });

  // Malformed IP/TCP between a well-formed DNS query and its answer. The truncated IPv4 packet still
  // holds a complete TCP header, so it is decoded (with an anomaly) and makes a flow; the packet with
  // TCP data offset 3 cannot be decoded and makes none.
  const [query, answer] = dns;
  const cutClient: [string, number] = [V4.client, 40077];
  const cutServer: [string, number] = [V4.server, 3333];
  const segment = tcp(cutClient[1], cutServer[1], 1000, 2000, 0x18, utf8('{"id":1,"method":"mining.subscribe","params":[]}\n'.repeat(2)));
  const whole = ipv4(cutClient[0], cutServer[0], IpProto.TCP, segment, { id: 77, dontFragment: true });
  const cutIp = whole.slice(0, 60); // total length field still says the full size
  const badOffset = tcp(cutClient[1], cutServer[1], 1000, 2000, 0x18, utf8('x'));
  badOffset[12] = 0x30; // data offset 3 words (< 5)
  const badTcpIp = ipv4(cutClient[0], cutServer[0], IpProto.TCP, badOffset, { id: 78, dontFragment: true });
  const malformed: Array<{ ts: number; data: Uint8Array }> = [
    { ts: query!.ts, data: ethernet(query!.ip, ethernetFraming(query!)) },
    { ts: query!.ts + 1, data: ethernet(cutIp) },
    { ts: query!.ts + 2, data: ethernet(badTcpIp) },
    { ts: answer!.ts, data: ethernet(answer!.ip, ethernetFraming(answer!)) },
  ];
  add('bad/truncated-ip.pcap', pcapFile(LinkType.ETHERNET, malformed), {
    format: 'pcap',
    packets: 4,
    ipTransportPackets: 3,
    flows: 2,
    mining: [],
    anomalies: ['ipv4.truncated', 'tcp.bad_header'],
  });
}

// ---------------------------------------------------------------------------------------------

/** Builds every fixture in memory. */
export function buildFixtures(): FixtureSet {
  const files = new Map<string, Uint8Array>();
  const expected: Record<string, ExpectedResult> = {};
  const add = (path: string, data: Uint8Array, result: ExpectedResult): void => {
    if (files.has(path)) throw new Error(`duplicate fixture ${path}`);
    if (data.length >= 64 * 1024) throw new Error(`fixture ${path} is ${data.length} bytes (limit 64 KiB)`);
    files.set(path, data);
    expected[path] = result;
  };
  const homeMiners = demoHomeMiners();
  add('demo/home-miners.pcapng', homeMiners.data, homeMiners.expected);
  const office = demoOffice();
  add('demo/office.pcap', office.data, office.expected);
  linkFixtures(add);
  formatFixtures(add);
  ruleFixtures(add);
  nameFixtures(add);
  socksFixtures(add);
  badFixtures(add);
  return { files, expected };
}

/** expected.json text: keys sorted, two-space indentation, trailing newline. */
export function expectedJson(expected: Record<string, ExpectedResult>): string {
  const sorted: Record<string, ExpectedResult> = {};
  for (const key of Object.keys(expected).sort()) sorted[key] = expected[key]!;
  return JSON.stringify(sorted, null, 2) + '\n';
}

function main(): void {
  const outDir = resolve(process.argv[2] ?? join(PACKAGE_ROOT, 'fixtures'));
  const { files, expected } = buildFixtures();
  for (const [path, data] of files) {
    const target = join(outDir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, data);
  }
  writeFileSync(join(outDir, 'expected.json'), expectedJson(expected));
  process.stdout.write(`wrote ${files.size} fixtures and expected.json to ${outDir}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
