/**
 * dnstap from a real resolver: Debian's unbound answers dig queries from local data and an auth
 * zone (with a CNAME chain) and logs them over dnstap to fstrm_capture; the file it writes is read
 * with readDnsLog. Expected values are the records the test configured and the test's own clock.
 * The same file, gzip-compressed, cut short and with a corrupted frame length, checks the
 * compressed path and recovery on real bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Anomalies } from '../../src/anomalies.js';
import { readDnsLog, type DnsLookup, type DnsLogInfo } from '../../src/io/dnslog.js';
import { startUnbound, unboundSkipReason, type RunningUnbound } from '../support/unbound.js';

const SKIP = unboundSkipReason(true);
if (SKIP) console.warn(SKIP);

const CHAIN_ZONE = `$ORIGIN chain.test.
@ 3600 IN SOA ns.chain.test. host.chain.test. 1 3600 600 86400 60
@ 3600 IN NS ns.chain.test.
ns 3600 IN A 127.0.0.1
xmr 300 IN CNAME edge
edge 120 IN CNAME node1
node1 60 IN A 192.0.2.10
node1 60 IN AAAA 2001:db8::10
`;

async function read(path: string): Promise<{ info: DnsLogInfo; lookups: DnsLookup[]; anomalies: Anomalies }> {
  const lookups: DnsLookup[] = [];
  const anomalies = new Anomalies();
  const info = await readDnsLog(path, (l) => lookups.push(l), anomalies);
  return { info, lookups, anomalies };
}

describe.skipIf(SKIP !== null)('dnstap from unbound', () => {
  let ub: RunningUnbound;
  let file: string;
  let t0 = 0;
  let t1 = 0;
  const digs: string[] = [];

  beforeAll(async () => {
    ub = await startUnbound({
      dnstap: true,
      identity: 'resolver-test-1',
      localZones: [['pool.test.', 'static']],
      localData: ['eth.pool.test. 45 IN A 198.51.100.7', 'eth.pool.test. 45 IN A 198.51.100.8', 'eth.pool.test. 90 IN AAAA 2001:db8:0:0:1::7'],
      authZones: [{ name: 'chain.test.', zone: CHAIN_ZONE }],
    });
    t0 = Date.now();
    digs.push(await ub.dig('eth.pool.test', 'A'));
    digs.push(await ub.dig('eth.pool.test', 'AAAA'));
    digs.push(await ub.dig('XMR.Chain.Test', 'A'));
    digs.push(await ub.dig('xmr.chain.test.', 'AAAA'));
    digs.push(await ub.dig('missing.pool.test', 'A'));
    t1 = Date.now();
    await ub.stop();
    file = ub.dnstapFile!;
  });

  afterAll(() => ub?.cleanup());

  it('dig got the answers the resolver was given (the harness works)', () => {
    expect(digs[0]).toMatch(/status: NOERROR/);
    expect(digs[2]).toMatch(/edge\.chain\.test\.[\s\S]*node1\.chain\.test\.[\s\S]*192\.0\.2\.10/i);
    expect(digs[4]).toMatch(/status: NXDOMAIN/);
  });

  it('reads every client response as a lookup with names, answers, TTLs, CNAME chain, client and time', async () => {
    const { info, lookups, anomalies } = await read(file);
    expect(anomalies.total).toBe(0);
    expect(info.format).toBe('dnstap');
    expect(info.lookups).toBe(5);
    // The five client queries unbound logged too.
    expect(info.skipped).toBe(5);
    expect(info.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(info.size).toBe(readFileSync(file).length);
    for (const l of lookups) {
      expect(l.client).toBe('127.0.0.1');
      expect(l.time).toBeGreaterThanOrEqual(t0 - 1000);
      expect(l.time).toBeLessThanOrEqual(t1 + 1000);
      // unbound 1.17 fills response_address with the address it answered from.
      expect(l.resolver).toBe('127.0.0.1');
    }
    const strip = (l: DnsLookup): Omit<DnsLookup, 'time' | 'client' | 'resolver'> => ({ query: l.query, qtype: l.qtype, rcode: l.rcode, answers: l.answers });
    // unbound rotates the order of an RRset's records: the order is the one dig received.
    expect(lookups.map(strip)).toEqual([
      { query: 'eth.pool.test', qtype: 1, rcode: 0, answers: digAnswers(digs[0]!) },
      { query: 'eth.pool.test', qtype: 28, rcode: 0, answers: digAnswers(digs[1]!) },
      { query: 'xmr.chain.test', qtype: 1, rcode: 0, answers: digAnswers(digs[2]!) },
      { query: 'xmr.chain.test', qtype: 28, rcode: 0, answers: digAnswers(digs[3]!) },
      { query: 'missing.pool.test', qtype: 1, rcode: 3, answers: [] },
    ]);
    // And those are the records the resolver was given.
    const sorted = (a: DnsLookup['answers']): DnsLookup['answers'] => [...a].sort((x, y) => x.data.localeCompare(y.data));
    expect(sorted(lookups[0]!.answers)).toEqual([
      { name: 'eth.pool.test', type: 'A', data: '198.51.100.7', ttl: 45 },
      { name: 'eth.pool.test', type: 'A', data: '198.51.100.8', ttl: 45 },
    ]);
    expect(lookups[1]!.answers).toEqual([{ name: 'eth.pool.test', type: 'AAAA', data: '2001:db8::1:0:0:7', ttl: 90 }]);
    expect(lookups[2]!.answers).toEqual([
      { name: 'xmr.chain.test', type: 'CNAME', data: 'edge.chain.test', ttl: 300 },
      { name: 'edge.chain.test', type: 'CNAME', data: 'node1.chain.test', ttl: 120 },
      { name: 'node1.chain.test', type: 'A', data: '192.0.2.10', ttl: 60 },
    ]);
    expect(lookups[3]!.answers).toEqual([
      { name: 'xmr.chain.test', type: 'CNAME', data: 'edge.chain.test', ttl: 300 },
      { name: 'edge.chain.test', type: 'CNAME', data: 'node1.chain.test', ttl: 120 },
      { name: 'node1.chain.test', type: 'AAAA', data: '2001:db8::10', ttl: 60 },
    ]);
    // Times are in order of the queries.
    for (let i = 1; i < lookups.length; i++) expect(lookups[i]!.time).toBeGreaterThanOrEqual(lookups[i - 1]!.time);
  });

  it('reads the same file gzip-compressed, hashing the compressed bytes', async () => {
    const gz = join(ub.dir, 'dnstap.fstrm.gz');
    const bytes = gzipSync(readFileSync(file));
    writeFileSync(gz, bytes);
    const plain = await read(file);
    const z = await read(gz);
    expect(z.lookups).toEqual(plain.lookups);
    expect(z.info.format).toBe('dnstap');
    expect(z.info.size).toBe(bytes.length);
    expect(z.info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('a file cut inside its last frame: the complete frames are read, the cut is an anomaly at its offset', async () => {
    const bytes = readFileSync(file);
    const frames = frameOffsets(bytes);
    // Cut in the middle of the last data frame (before the STOP control frame).
    const last = frames.filter((f) => !f.control).at(-1)!;
    const cut = join(ub.dir, 'cut.fstrm');
    writeFileSync(cut, bytes.subarray(0, last.offset + 10));
    const { lookups, anomalies } = await read(cut);
    const full = await read(file);
    expect(anomalies.counts.get('dnstap.truncated')).toBe(1);
    expect(anomalies.samples[0]).toMatchObject({ code: 'dnstap.truncated', offset: last.offset });
    expect(lookups.length).toBe(full.lookups.length - 1);
  });

  it('a corrupted frame length: anomaly at its offset, reader finds the next frame and goes on', async () => {
    const bytes = Buffer.from(readFileSync(file));
    const frames = frameOffsets(bytes).filter((f) => !f.control);
    // The second data frame (a response) gets an impossible length.
    const victim = frames[1]!;
    bytes.writeUInt32BE(0x7fffffff, victim.offset);
    const bad = join(ub.dir, 'bad-length.fstrm');
    writeFileSync(bad, bytes);
    const { lookups, anomalies } = await read(bad);
    expect(anomalies.counts.get('dnstap.bad_frame')).toBe(1);
    expect(anomalies.samples.find((s) => s.code === 'dnstap.bad_frame')!.offset).toBe(victim.offset);
    expect(anomalies.counts.get('capture.resync_skipped')).toBe(1);
    expect(lookups.length).toBe(4);
    expect(lookups.map((l) => l.query)).toEqual(['eth.pool.test', 'xmr.chain.test', 'xmr.chain.test', 'missing.pool.test']);
  });
});

/** The ANSWER SECTION of dig's output, as lookups write answers (names lower-case, no trailing dot). */
function digAnswers(out: string): DnsLookup['answers'] {
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(out);
  if (!section) return [];
  return section[1]!.split('\n').map((line) => {
    const [name, ttl, , type, data] = line.split(/\s+/);
    const bare = (n: string): string => n.replace(/\.$/, '').toLowerCase();
    return { name: bare(name!), type: type as 'A' | 'AAAA' | 'CNAME', data: type === 'CNAME' ? bare(data!) : data!, ttl: Number(ttl) };
  });
}

/** Frame offsets in a Frame Streams file, walked with the framing rules written out here. */
function frameOffsets(b: Buffer): Array<{ offset: number; control: boolean }> {
  const out: Array<{ offset: number; control: boolean }> = [];
  let p = 0;
  while (p + 4 <= b.length) {
    const len = b.readUInt32BE(p);
    if (len === 0) {
      out.push({ offset: p, control: true });
      p += 8 + b.readUInt32BE(p + 4);
    } else {
      out.push({ offset: p, control: false });
      p += 4 + len;
    }
  }
  return out;
}
