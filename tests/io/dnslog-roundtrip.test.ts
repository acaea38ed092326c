/**
 * scripts/corpus-dnslog.ts round trip: capture → Zeek dns.log → readDnsLog gives the lookups that
 * readDnsLog gives on the capture itself (names, answers and their inferred types and owners,
 * TTLs, clients, resolvers, times to the microsecond Zeek keeps).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import { readDnsLog, type DnsLookup } from '../../src/io/dnslog.js';
import { concatBytes, dnsAResponse, ethernet, ipv4, LinkType, pcapFile, udp, utf8 } from '../support/builders.js';
import { writeZeekDnsLog } from '../../scripts/corpus-dnslog.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT } from '../helpers.js';

const DIR = mkdtempSync(join(tmpdir(), 'minerwatch-dnslog-rt-'));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

async function lookups(path: string): Promise<{ lookups: DnsLookup[]; anomalies: Anomalies; format: string }> {
  const out: DnsLookup[] = [];
  const anomalies = new Anomalies();
  const info = await readDnsLog(path, (l) => out.push(l), anomalies);
  return { lookups: out, anomalies, format: info.format };
}

async function roundTrip(capture: string): Promise<void> {
  let text = '';
  await writeZeekDnsLog(capture, (t) => (text += t), new Anomalies());
  const log = join(DIR, `${capture.split('/').at(-1)}.dns.log`);
  writeFileSync(log, text);
  const direct = await lookups(capture);
  const viaZeek = await lookups(log);
  expect(viaZeek.format).toBe('zeek-tsv');
  expect(viaZeek.anomalies.total).toBe(0);
  const micro = (l: DnsLookup): DnsLookup => ({ ...l, time: Math.round(l.time * 1000) });
  expect(viaZeek.lookups.map(micro)).toEqual(direct.lookups.map(micro));
  expect(direct.lookups.length).toBeGreaterThan(0);
  // The header Zeek writes, and its #close.
  const lines = text.split('\n');
  expect(lines.slice(0, 5)).toEqual(['#separator \\x09', '#set_separator\t,', '#empty_field\t(empty)', '#unset_field\t-', '#path\tdns']);
  expect(lines[5]).toMatch(/^#open\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/);
  expect(lines[6]!.split('\t').slice(1)).toEqual('ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected'.split(' '));
  expect(lines[7]).toMatch(/^#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring/);
  expect(lines.at(-2)).toMatch(/^#close\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/);
}

describe('corpus-dnslog round trip', () => {
  it('a built capture with a CNAME chain, odd bytes in a name and several responses', async () => {
    // A response for a name with a comma and a tab in a label, answered by a CNAME then an A record.
    const name = (labels: string[]): Uint8Array => concatBytes(...labels.map((l) => concatBytes(new Uint8Array([l.length]), utf8(l))), new Uint8Array([0]));
    const header = new Uint8Array([0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
    const question = concatBytes(name(['we,ird\tx', 'example']), new Uint8Array([0, 1, 0, 1]));
    const target = name(['ed,ge', 'example']);
    const cname = concatBytes(new Uint8Array([0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, target.length]), target);
    const a = new Uint8Array([0xc0, 12 + question.length + 12, 0, 1, 0, 1, 0, 0, 0, 20, 0, 4, 192, 0, 2, 77]);
    const odd = concatBytes(header, question, cname, a);
    const pkt = (t: number, payload: Uint8Array, dst = '100.64.0.11'): { ts: number; data: Uint8Array } => ({
      ts: t,
      data: ethernet(ipv4('10.0.0.53', dst, 17, udp(53, 40000, payload, { pseudo: { src: '10.0.0.53', dst } }))),
    });
    const capture = join(DIR, 'built.pcap');
    writeFileSync(
      capture,
      pcapFile(LinkType.ETHERNET, [pkt(1700000000123.456, dnsAResponse(5, 'pool.example', ['198.51.100.1', '198.51.100.2'])), pkt(1700000001000, odd, '100.64.0.12')]),
    );
    await roundTrip(capture);
    expect((await lookups(capture)).lookups[1]!.query).toBe('we,ird\\009x.example');
  });

  describe.skipIf(!HAVE_CORPUS)('corpus captures', () => {
    for (const name of ['mining/zeekcm__coinhive-stratum.pcap', 'benign/ndpi__starcraft_battle.pcap', 'benign/ndpi__dns.pcap']) {
      it(name, () => roundTrip(join(CORPUS, 'pcap', name)));
    }
  });
  if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);

  it('the built script writes the same log to standard output', async () => {
    const script = join(ROOT, 'dist/scripts/corpus-dnslog.js');
    if (!existsSync(script)) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT });
    const capture = join(DIR, 'built.pcap');
    const r = spawnSync('node', [script, capture], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    let text = '';
    await writeZeekDnsLog(capture, (t) => (text += t), new Anomalies());
    expect(r.stdout).toBe(text);
    expect(r.stderr).toMatch(/2 lookups, 0 skipped, 0 anomalies/);
    expect(readFileSync(capture).length).toBeGreaterThan(0);
  });
});
