/**
 * Deterministic resolver-log benchmark input: N answered lookups (default 10 M) written as
 *
 * - `dnslog-N.fstrm`: dnstap in Frame Streams (START, one CLIENT_RESPONSE data frame per lookup,
 *   STOP), encoded with protobufjs from the reader's own dnstap descriptor, as a resolver that logs
 *   client responses writes it;
 * - `dnslog-N.dns.log`: the same lookups as a Zeek dns.log (TSV, Zeek's header and #close).
 *
 * Traffic: a million subscribers in 100.64.0.0/10 asking four resolvers (10.0.0.53–56); names
 * drawn from 200 k ordinary sites with a skewed popularity (a few very popular), 70 % A and 30 %
 * AAAA queries, a third answered through one or two CNAMEs to a CDN, 2 % NXDOMAIN; 0.5 % of the
 * lookups are pool names from the rules' endpoint files (kind: pool). One lookup every 0.864 ms
 * (10^8 a day) from 2026-11-01T00:00:00Z. Seeded PRNG: the same bytes every run.
 *
 *   npm run build && node dist/bench/gen-dnslog.js [N] [--format dnstap|zeek|both] [--out DIR]
 */
import { openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { DnsLookup } from '../src/io/dnslog.js';
import { dnstapType, DNSTAP_CONTENT_TYPE, DNSTAP_MESSAGE_TYPE, FSTRM_CONTROL } from '../src/io/dnstap.js';
import { mulberry32 } from '../tests/support/random.js';
import { zeekDnsHeader, zeekDnsLine } from '../scripts/corpus-dnslog.js';

export const DNSLOG_BENCH_VERSION = 1;
const BASE_MS = Date.UTC(2026, 10, 1, 0, 0, 0);
const STEP_MS = 0.864;
const SUBSCRIBERS = 1_000_000;
const SITES = 200_000;
const POOL_SHARE = 0.005;
const NXDOMAIN_SHARE = 0.02;
const CNAME_SHARE = 0.33;

export interface DnsLogBenchStats {
  version: number;
  seed: number;
  lookups: number;
  poolLookups: number;
  poolNames: number;
  dnstapPath: string | null;
  dnstapBytes: number;
  zeekPath: string | null;
  zeekBytes: number;
}

/** Pool names from the rules' endpoint files of kind pool (suffix entries get a stratum host). */
export function poolNames(rulesDir: string): string[] {
  const names = new Set<string>();
  const dir = join(rulesDir, 'endpoints');
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.yaml')) continue;
    const doc = parseYaml(readFileSync(join(dir, f), 'utf8')) as { kind?: string; entries?: Array<{ domain?: string; suffix?: string }> };
    if (doc.kind !== 'pool') continue;
    for (const e of doc.entries ?? []) {
      if (typeof e.domain === 'string') names.add(e.domain.toLowerCase());
      else if (typeof e.suffix === 'string') names.add(`stratum.${e.suffix.toLowerCase()}`);
    }
  }
  return [...names].sort();
}

/** Buffered file writer: one write call per 4 MiB. */
class Out {
  private readonly buf = Buffer.allocUnsafe(1 << 22);
  private used = 0;
  bytes = 0;
  constructor(private readonly fd: number) {}
  write(b: Uint8Array): void {
    if (b.length > this.buf.length - this.used) this.flush();
    if (b.length > this.buf.length) {
      writeSync(this.fd, b);
    } else {
      this.buf.set(b, this.used);
      this.used += b.length;
    }
    this.bytes += b.length;
  }
  text(s: string): void {
    this.write(Buffer.from(s, 'utf8'));
  }
  flush(): void {
    if (this.used > 0) writeSync(this.fd, this.buf, 0, this.used);
    this.used = 0;
  }
}

function be32(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

function controlFrame(type: number, contentType: boolean): Uint8Array {
  const ct = Buffer.from(DNSTAP_CONTENT_TYPE, 'latin1');
  const body = contentType ? Buffer.concat([be32(type), be32(1), be32(ct.length), ct]) : Buffer.from(be32(type));
  return Buffer.concat([be32(0), be32(body.length), body]);
}

/** The wire-format response for a lookup (RFC 1035 §4.1): question, then the answers, owners compressed where they repeat. */
function dnsResponse(id: number, l: DnsLookup): Uint8Array {
  const parts: number[] = [id >> 8, id & 255, 0x81, 0x80 | l.rcode, 0, 1, 0, l.answers.length, 0, 0, 0, 0];
  const offsets = new Map<string, number>();
  const name = (n: string): void => {
    const at = offsets.get(n);
    if (at !== undefined) {
      parts.push(0xc0 | (at >> 8), at & 255);
      return;
    }
    if (parts.length < 0x3fff) offsets.set(n, parts.length);
    for (const label of n.split('.')) {
      parts.push(label.length);
      for (let i = 0; i < label.length; i++) parts.push(label.charCodeAt(i));
    }
    parts.push(0);
  };
  name(l.query);
  parts.push(0, l.qtype, 0, 1);
  for (const a of l.answers) {
    name(a.name);
    const type = a.type === 'A' ? 1 : a.type === 'AAAA' ? 28 : 5;
    parts.push(0, type, 0, 1, (a.ttl >>> 24) & 255, (a.ttl >>> 16) & 255, (a.ttl >>> 8) & 255, a.ttl & 255);
    const lenAt = parts.length;
    parts.push(0, 0);
    if (a.type === 'A') for (const x of a.data.split('.')) parts.push(Number(x));
    else if (a.type === 'AAAA') for (const g of expandV6(a.data)) parts.push(g >> 8, g & 255);
    else name(a.data);
    const len = parts.length - lenAt - 2;
    parts[lenAt] = len >> 8;
    parts[lenAt + 1] = len & 255;
  }
  return Uint8Array.from(parts);
}

function expandV6(s: string): number[] {
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':').map((x) => parseInt(x, 16));
  const t = tail === undefined || tail === '' ? [] : tail.split(':').map((x) => parseInt(x, 16));
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** Generate the bench files under `outDir`; returns what was written. */
export function generateDnsLogBench(outDir: string, n = 10_000_000, format: 'dnstap' | 'zeek' | 'both' = 'both', seed = 20261101, rulesDir = resolve(outDir, '..', '..', 'rules')): DnsLogBenchStats {
  const rnd = mulberry32(seed);
  const pools = poolNames(rulesDir);
  const dnstapPath = format === 'zeek' ? null : join(outDir, `dnslog-${n}.fstrm`);
  const zeekPath = format === 'dnstap' ? null : join(outDir, `dnslog-${n}.dns.log`);
  const tap = dnstapPath ? new Out(openSync(dnstapPath, 'w')) : null;
  const zeek = zeekPath ? new Out(openSync(zeekPath, 'w')) : null;
  const identity = Buffer.from('resolver-bench', 'latin1');
  tap?.write(controlFrame(FSTRM_CONTROL.START, true));
  zeek?.text(`${zeekDnsHeader(BASE_MS)}\n`);
  let poolLookups = 0;
  let time = BASE_MS;
  const client = new Uint8Array(4);
  for (let i = 0; i < n; i++) {
    time = BASE_MS + i * STEP_MS;
    const sub = Math.floor(rnd() * SUBSCRIBERS);
    const c = (100 << 24) + (64 << 16) + sub; // 100.64.0.0/10
    client[0] = c >>> 24;
    client[1] = (c >>> 16) & 255;
    client[2] = (c >>> 8) & 255;
    client[3] = c & 255;
    const resolverIndex = Math.floor(rnd() * 4);
    const isPool = rnd() < POOL_SHARE;
    // Skewed popularity: rank = SITES^u, so low ranks come up far more often.
    const site = Math.floor(SITES ** rnd()) - 1;
    const query = isPool ? pools[Math.floor(rnd() * pools.length)]! : `${rnd() < 0.5 ? 'www' : 'api'}.site${site}.example`;
    if (isPool) poolLookups++;
    const v6 = rnd() < 0.3;
    const answers: DnsLookup['answers'] = [];
    let rcode = 0;
    if (rnd() < NXDOMAIN_SHARE) rcode = 3;
    else {
      let owner = query;
      if (rnd() < CNAME_SHARE) {
        const hops = rnd() < 0.7 ? 1 : 2;
        for (let h = 0; h < hops; h++) {
          const target = h === hops - 1 ? `e${site % 997}.cdn${site % 13}.example` : `${query}.edge.example`;
          answers.push({ name: owner, type: 'CNAME', data: target, ttl: 300 });
          owner = target;
        }
      }
      const count = 1 + Math.floor(rnd() * 3);
      const ttl = isPool ? 60 : 30 + Math.floor(rnd() * 3600);
      const host = isPool ? Math.floor(rnd() * 64) : site;
      for (let k = 0; k < count; k++) {
        const data = v6 ? `2001:db8:${(host >> 8) & 0xffff}:${host & 255}::${k + 1}` : `${isPool ? 203 : 198}.${isPool ? 0 : 18 + ((host >> 16) & 1)}.${(host >> 8) & 255}.${(host + k) & 255}`;
        answers.push({ name: owner, type: v6 ? 'AAAA' : 'A', data, ttl });
      }
    }
    const l: DnsLookup = { time, client: `${client[0]}.${client[1]}.${client[2]}.${client[3]}`, resolver: `10.0.0.${53 + resolverIndex}`, query, qtype: v6 ? 28 : 1, rcode, answers };
    if (tap) {
      const sec = Math.floor(time / 1000);
      const nsec = Math.round((time - sec * 1000) * 1e6);
      const qsec = Math.floor((time - 2) / 1000);
      const payload = dnstapType().encode({
        identity,
        type: 1,
        message: {
          type: DNSTAP_MESSAGE_TYPE.CLIENT_RESPONSE,
          socketFamily: 1,
          socketProtocol: 1,
          queryAddress: client,
          responseAddress: new Uint8Array([10, 0, 0, 53 + resolverIndex]),
          queryPort: 1024 + (i % 60000),
          responsePort: 53,
          queryTimeSec: qsec,
          queryTimeNsec: Math.round((time - 2 - qsec * 1000) * 1e6),
          responseTimeSec: sec,
          responseTimeNsec: nsec,
          responseMessage: dnsResponse(i & 0xffff, l),
        },
      }).finish();
      tap.write(be32(payload.length));
      tap.write(payload);
    }
    zeek?.text(`${zeekDnsLine(l, i + 1)}\n`);
  }
  tap?.write(controlFrame(FSTRM_CONTROL.STOP, false));
  tap?.flush();
  zeek?.text(`#close\t${new Date(time).toISOString().slice(0, 19).replace('T', '-').replace(/:/g, '-')}\n`);
  zeek?.flush();
  return { version: DNSLOG_BENCH_VERSION, seed, lookups: n, poolLookups, poolNames: pools.length, dnstapPath, dnstapBytes: tap?.bytes ?? 0, zeekPath, zeekBytes: zeek?.bytes ?? 0 };
}

function main(): void {
  const args = process.argv.slice(2);
  let n = 10_000_000;
  let format: 'dnstap' | 'zeek' | 'both' = 'both';
  let out = resolve(new URL('../..', import.meta.url).pathname, 'bench', 'data');
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--format') format = args[++i] as typeof format;
    else if (a === '--out') out = resolve(args[++i]!);
    else n = Number(a);
  }
  if (!(Number.isInteger(n) && n > 0) || !['dnstap', 'zeek', 'both'].includes(format)) {
    console.error('usage: node dist/bench/gen-dnslog.js [N] [--format dnstap|zeek|both] [--out DIR]');
    process.exitCode = 2;
    return;
  }
  const t0 = Date.now();
  const stats = generateDnsLogBench(out, n, format, 20261101, resolve(new URL('../..', import.meta.url).pathname, 'rules'));
  console.log(JSON.stringify({ ...stats, seconds: (Date.now() - t0) / 1000 }, null, 2));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
