/**
 * Real captures nobody on the team wrote (../shared/corpus/pcap). Skipped with a message when the
 * corpus is absent.
 *
 * TSHARK: IPv4/IPv6 packets whose outermost transport is TCP or UDP, per file, from Debian's
 * TShark 4.0.17 with reassembly off:
 *   tshark -r F -n -o ip.defragment:FALSE -o ipv6.defragment:FALSE -o tcp.desegment_tcp_streams:FALSE \
 *     -T fields -E occurrence=f -e frame.protocols -e ip.frag_offset
 * counting frames whose first ip/ipv6 token (IPv6 extension headers skipped) is followed by tcp or
 * udp, IPv4 non-first fragments excluded. An independent byte-level parser gave the same numbers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, packetsOf, projectRules, scanFiles } from '../helpers.js';
import { scanInputs, type ScanOptions } from '../../src/scan.js';
import { prefaultWorkBuffers } from '../../src/flow/touched.js';

const TSHARK: Record<string, number> = {
  'pcap/benign/ndpi__bittorrent.pcap': 299,
  'pcap/benign/ndpi__dns.pcap': 5,
  'pcap/benign/ndpi__google_ssl.pcap': 28,
  'pcap/benign/ndpi__http.pcapng': 10,
  'pcap/benign/ndpi__irc.pcap': 29,
  'pcap/benign/ndpi__jabber.pcap': 358,
  'pcap/benign/ndpi__long_tls_certificate.pcap': 47,
  'pcap/benign/ndpi__quic.pcap': 518,
  'pcap/benign/ndpi__ssh.pcap': 295,
  'pcap/benign/ndpi__starcraft_battle.pcap': 795,
  'pcap/benign/ndpi__steam.pcapng': 48,
  'pcap/benign/ndpi__synscan.pcap': 2011,
  'pcap/benign/ndpi__telnet.pcap': 92,
  'pcap/benign/ndpi__whatsapp.pcap': 679,
  'pcap/benign/ndpi__youtube_quic.pcap': 289,
  'pcap/crypto-nonmining/ndpi__bitcoin.pcap': 529,
  'pcap/crypto-nonmining/ndpi__ethereum.pcap': 2000,
  'pcap/mining/ndpi__mining.pcapng': 673,
  'pcap/mining/nesfit__cgminer.s2.pcapng': 1753,
  'pcap/mining/nesfit__eth-eu1.nanopool.org.pcapng': 209,
  'pcap/mining/nesfit__xmr.suprnova.cc.pcapng': 43,
  'pcap/mining/nesfit__zec-eu1.nanopool.org.pcapng': 87,
  'pcap/mining/takeshi__miner_9816a3d.pcap': 1000,
  'pcap/mining/zeekcm__coinhive-stratum.pcap': 320,
};

const RANK: Record<string, number> = { none: 0, low: 1, medium: 2, high: 3 };

interface Label {
  capture: string;
  client: string;
  server: string;
}

function labels(): Label[] {
  const lines = readFileSync(join(CORPUS, 'labels/plaintext-mining-streams.tsv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [capture, client, server] = l.split('\t');
    return { capture: capture!, client: client!, server: server! };
  });
}

describe.skipIf(!HAVE_CORPUS)('pcap corpus', () => {
  it.each(Object.entries(TSHARK))('%s: packets in flows equal tshark count (%i)', async (file, expected) => {
    const { summary, flows } = await scanFiles([join(CORPUS, file)]);
    expect(summary.inputs[0]!.error).toBeNull();
    expect(flows.reduce((n, f) => n + packetsOf(f.flow), 0)).toBe(expected);
    expect(summary.inputs[0]!.transportPackets).toBe(expected);
  });

  const byCapture = new Map<string, Label[]>();
  if (HAVE_CORPUS) for (const l of labels()) byCapture.set(l.capture, [...(byCapture.get(l.capture) ?? []), l]);

  it.each([...byCapture.keys()])('%s: every labelled plaintext mining stream is mining at >= medium', async (capture) => {
    const { flows } = await scanFiles([join(CORPUS, capture)]);
    const key = (a: string, b: string): string => [a, b].sort().join(' ');
    const found = new Map(flows.filter((f) => f.verdict.label === 'mining' && RANK[f.verdict.confidence]! >= 2).map((f) => [key(`${f.flow.client}:${f.flow.clientPort}`, `${f.flow.server}:${f.flow.serverPort}`), f]));
    const missing = byCapture.get(capture)!.filter((l) => !found.has(key(l.client, l.server)));
    expect(missing).toEqual([]);
  });

  it.each(Object.keys(TSHARK).filter((f) => f.startsWith('pcap/mining/')))('%s yields a mining subscriber', async (file) => {
    const { flows } = await scanFiles([join(CORPUS, file)]);
    const subs = new Set(flows.filter((f) => f.verdict.label === 'mining' && RANK[f.verdict.confidence]! >= 2).map((f) => f.flow.client));
    expect(subs.size).toBeGreaterThan(0);
  });

  it.each(Object.keys(TSHARK).filter((f) => !f.startsWith('pcap/mining/')))('%s yields no flow at medium or above and no mining subscriber', async (file) => {
    const { flows } = await scanFiles([join(CORPUS, file)]);
    expect(flows.filter((f) => f.verdict.label === 'mining' || RANK[f.verdict.confidence]! >= 2).map((f) => f.verdict.reason)).toEqual([]);
  });

  it('every capture gives the same verdicts, evidence and reasons when records borrow the payload buffers (as the scan command reads)', async () => {
    const verdicts = async (file: string, opts: ScanOptions): Promise<string[]> => {
      const out: string[] = [];
      // Read during the call: a borrowed payload is valid only then.
      await scanInputs([join(CORPUS, file)], projectRules(), (f, v) => out.push(JSON.stringify([f.client, f.clientPort, f.server, f.serverPort, f.payloadC2S.length, f.payloadS2C.length, v])), opts);
      return out;
    };
    let flows = 0;
    let withPayload = 0;
    for (const file of Object.keys(TSHARK)) {
      prefaultWorkBuffers(false);
      const copied = await verdicts(file, {});
      const borrowed = await verdicts(file, { flow: { payloadViews: true }, prefaultWorkBuffers: true });
      expect(borrowed, file).toEqual(copied);
      flows += copied.length;
      withPayload += copied.filter((c) => !c.includes(',0,0,{')).length;
    }
    prefaultWorkBuffers(false);
    expect(flows).toBeGreaterThan(2000);
    expect(withPayload).toBeGreaterThan(500);
  });

  it('takeshi: the miner caught mid-session, whose pool port 45700 is above its own 42168, is oriented by the pool port and confirmed by its messages (it sends submit)', async () => {
    const { flows } = await scanFiles([join(CORPUS, 'pcap/mining/takeshi__miner_9816a3d.pcap')]);
    const m = flows.filter((f) => f.verdict.label === 'mining');
    expect(m).toHaveLength(1);
    expect(m[0]!.flow).toMatchObject({ client: '10.0.0.104', clientPort: 42168, server: '49.12.80.39', serverPort: 45700, orientation: 'port' });
    expect(m[0]!.verdict.evidence.some((e) => e.kind === 'payload' && e.side === 'client')).toBe(true);
  });
});

if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
