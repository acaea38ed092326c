/**
 * DNS and TLS payloads that look like their protocol but do not decode are counted per input, in
 * the report's `anomalies` and `anomaly_samples` and in `scan --json`, never swallowed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  dnsAResponse,
  dnsQuery,
  ethernet,
  LinkType,
  pcapFile,
  seededBytes,
  tcpSession,
  tlsClientHello,
  udpExchange,
  type TimedPacket,
} from '../support/builders.js';
import { runMain } from '../helpers.js';

const T0 = Date.UTC(2024, 2, 1, 12, 0, 0);

/** RFC 8446 §4.1.2: record (5) + handshake header (4) + legacy_version (2) + random (32) + session id (1 + 32), then cipher_suites' u16 length. */
const CIPHER_SUITES_LENGTH_AT = 5 + 4 + 2 + 32 + 1 + 32;

function badClientHello(): Uint8Array {
  const hello = tlsClientHello('pool.example.org', 11).slice();
  // An odd length running far past the handshake body: no valid ClientHello has it.
  hello[CIPHER_SUITES_LENGTH_AT] = 0xff;
  hello[CIPHER_SUITES_LENGTH_AT + 1] = 0xfd;
  return hello;
}

/** Responses whose header says "response, 1 question, 1 answer" but whose body is broken (RFC 1035 §4.1). */
function badResponses(): Uint8Array[] {
  const whole = dnsAResponse(0x1234, 'pool.example.org', ['192.0.2.7']);
  // The answer's RDATA (RDLENGTH 4) cut after one byte.
  const cut = whole.subarray(0, whole.length - 3);
  // The answer's owner name is a compression pointer past the end of the message.
  const pointer = whole.slice();
  const answerAt = whole.length - 16;
  pointer[answerAt] = 0xc0;
  pointer[answerAt + 1] = 0xff;
  // A question label of 63 bytes with 10 present.
  const label = concatBytes(new Uint8Array([0x12, 0x35, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 63]), seededBytes(3, 10));
  return [cut, pointer, label];
}

/** A query (QR 0, 1 question) whose question name runs past the message. */
function badQuery(): Uint8Array {
  return concatBytes(new Uint8Array([0x77, 0x01, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 40]), seededBytes(9, 12));
}

function capture(): Uint8Array {
  const packets: TimedPacket[] = [
    // A good TLS session and a broken one.
    ...tcpSession({ client: ['100.64.0.5', 50001], server: ['192.0.2.80', 443], start: T0, messages: [{ from: 'client', data: tlsClientHello('www.example.com', 1) }, { from: 'server', data: seededBytes(2, 200) }] }),
    ...tcpSession({ client: ['100.64.0.5', 50002], server: ['192.0.2.81', 443], start: T0 + 1000, messages: [{ from: 'client', data: badClientHello() }, { from: 'server', data: seededBytes(4, 200) }] }),
    // Not TLS at all on 443: not a TLS decode error.
    ...tcpSession({ client: ['100.64.0.5', 50003], server: ['192.0.2.82', 443], start: T0 + 2000, messages: [{ from: 'client', data: 'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n' }] }),
    // Resolver traffic: a good query and answer, then three broken answers and one broken query.
    ...udpExchange({
      client: ['100.64.0.6', 40000],
      server: ['198.51.100.53', 53],
      start: T0 + 3000,
      messages: [
        { from: 'client', data: dnsQuery(0x1234, 'pool.example.org') },
        { from: 'server', data: dnsAResponse(0x1234, 'pool.example.org', ['192.0.2.7']) },
        ...badResponses().map((data) => ({ from: 'server' as const, data })),
      ],
    }),
    ...udpExchange({ client: ['100.64.0.6', 40001], server: ['198.51.100.53', 53], start: T0 + 4000, messages: [{ from: 'client', data: badQuery() }] }),
  ];
  packets.sort((a, b) => a.ts - b.ts);
  return pcapFile(LinkType.ETHERNET, packets.map((p) => ({ ts: p.ts, data: ethernet(p.ip) })));
}


describe('DNS and TLS decode errors', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-decode-anomalies-'));
  const pcap = join(tmp, 'broken-dns-tls.pcap');
  writeFileSync(pcap, capture());

  it('are counted per input in scan --json and in the report, with samples naming what was expected', async () => {
    const db = join(tmp, 'r.sqlite');
    const r = await runMain(['scan', pcap, '--db', db, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { inputs: Array<{ anomalies: Record<string, number> }> };
    // 3 broken answers from port 53 and 1 broken query to it; 1 broken ClientHello.
    expect(j.inputs[0]!.anomalies['dns.bad_message']).toBe(4);
    expect(j.inputs[0]!.anomalies['tls.bad_client_hello']).toBe(1);

    const d = new Database(db, { readonly: true });
    const counts = Object.fromEntries((d.prepare('SELECT code, count FROM anomalies').all() as Array<{ code: string; count: number }>).map((x) => [x.code, x.count]));
    expect(counts).toMatchObject({ 'dns.bad_message': 4, 'tls.bad_client_hello': 1 });
    const samples = d.prepare("SELECT code, offset, message FROM anomaly_samples WHERE code IN ('dns.bad_message', 'tls.bad_client_hello') ORDER BY code").all() as Array<{ code: string; offset: number; message: string }>;
    d.close();
    expect(samples).toHaveLength(5);
    const tls = samples.find((s) => s.code === 'tls.bad_client_hello')!;
    expect(tls.message).toContain('100.64.0.5:50002 → 192.0.2.81:443');
    expect(tls.message).toMatch(/ClientHello/);
    expect(samples.filter((s) => s.code === 'dns.bad_message' && s.message.includes('DNS query') && s.message.includes('100.64.0.6:40001'))).toHaveLength(1);
    expect(samples.filter((s) => s.code === 'dns.bad_message' && s.message.includes('DNS response from port 53'))).toHaveLength(3);
  });

  it('tshark agrees on which DNS packets are malformed', () => {
    const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.warn('tshark not installed (Debian package tshark): cross-check skipped');
      return;
    }
    const t = spawnSync('tshark', ['-r', pcap, '-n', '-Y', 'udp.port == 53 && _ws.malformed', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
    expect(t.status).toBe(0);
    expect(t.stdout.trim().split('\n').filter(Boolean)).toHaveLength(4);
  });
});
