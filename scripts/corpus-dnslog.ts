/**
 * A Zeek dns.log (tab-separated, with Zeek's full header and #close) from the DNS responses in a
 * capture, read with readDnsLog: gives the resolver-log tests and demos a Zeek log of real traffic.
 *
 *   npm run build && node dist/scripts/corpus-dnslog.js CAPTURE > dns.log
 *
 * What a lookup does not carry is written unset (`-`): ports, transaction id, round trip, query
 * class, the header flags. `ts` is the response's time (so rtt is unset), answers are the A, AAAA
 * and CNAME records in message order, TTLs in seconds. `#open`/`#close` are the first and last
 * response times (UTC), so the output depends on the capture alone.
 */
import { pathToFileURL } from 'node:url';
import { Anomalies } from '../src/anomalies.js';
import { readDnsLog, type DnsLogInfo, type DnsLookup } from '../src/io/dnslog.js';

/** Zeek's dns.log columns (DNS::Info), in Zeek's order. */
export const ZEEK_DNS_FIELDS = [
  ['ts', 'time'],
  ['uid', 'string'],
  ['id.orig_h', 'addr'],
  ['id.orig_p', 'port'],
  ['id.resp_h', 'addr'],
  ['id.resp_p', 'port'],
  ['proto', 'enum'],
  ['trans_id', 'count'],
  ['rtt', 'interval'],
  ['query', 'string'],
  ['qclass', 'count'],
  ['qclass_name', 'string'],
  ['qtype', 'count'],
  ['qtype_name', 'string'],
  ['rcode', 'count'],
  ['rcode_name', 'string'],
  ['AA', 'bool'],
  ['TC', 'bool'],
  ['RD', 'bool'],
  ['RA', 'bool'],
  ['Z', 'count'],
  ['answers', 'vector[string]'],
  ['TTLs', 'vector[interval]'],
  ['rejected', 'bool'],
] as const;

const QTYPE_NAMES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 43: 'DS', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: '*' };
const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE' };

/** Zeek's escaping: the separators, backslash and unprintable bytes as `\xHH`. */
function escape(s: string, inSet: boolean): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte < 0x20 || byte >= 0x7f || byte === 0x5c || (inSet && byte === 0x2c)) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}

/** ms since the epoch as Zeek's `time`: seconds with six decimals. */
function zeekTime(ms: number): string {
  let sec = Math.floor(ms / 1000);
  let micro = Math.round((ms - sec * 1000) * 1000);
  if (micro >= 1_000_000) {
    sec += 1;
    micro -= 1_000_000;
  }
  return `${sec}.${String(micro).padStart(6, '0')}`;
}

/** Zeek's `#open`/`#close` stamp, in UTC. */
function zeekStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/** Zeek's dns.log header up to `#types`. */
export function zeekDnsHeader(openMs: number): string {
  return [
    '#separator \\x09',
    '#set_separator\t,',
    '#empty_field\t(empty)',
    '#unset_field\t-',
    '#path\tdns',
    `#open\t${zeekStamp(openMs)}`,
    `#fields\t${ZEEK_DNS_FIELDS.map(([n]) => n).join('\t')}`,
    `#types\t${ZEEK_DNS_FIELDS.map(([, t]) => t).join('\t')}`,
  ].join('\n');
}

/** One dns.log line for a lookup; `index` makes its uid. */
export function zeekDnsLine(l: DnsLookup, index: number): string {
  const isAddress = l.resolver !== null && (/^[0-9.]+$/.test(l.resolver) || l.resolver.includes(':'));
  const answers = l.answers.length === 0 ? '(empty)' : l.answers.map((a) => escape(a.data, true)).join(',');
  const ttls = l.answers.length === 0 ? '(empty)' : l.answers.map((a) => a.ttl.toFixed(6)).join(',');
  return [
    zeekTime(l.time),
    `C${index.toString(36).padStart(17, '0')}`,
    l.client,
    '-',
    isAddress ? l.resolver : '-',
    '-',
    'udp',
    '-',
    '-',
    escape(l.query, false),
    '-',
    '-',
    String(l.qtype),
    QTYPE_NAMES[l.qtype] ?? `query-${l.qtype}`,
    String(l.rcode),
    RCODE_NAMES[l.rcode] ?? `rcode-${l.rcode}`,
    '-',
    '-',
    '-',
    '-',
    '-',
    answers,
    ttls,
    '-',
  ].join('\t');
}

/**
 * Write the dns.log of `capture`'s DNS responses through `out`, line by line (header before the
 * first line, `#close` after the last). Problems in the capture are counted in `anomalies`.
 */
export async function writeZeekDnsLog(capture: string, out: (text: string) => void, anomalies: Anomalies): Promise<DnsLogInfo> {
  let index = 0;
  let first = NaN;
  let last = NaN;
  const info = await readDnsLog(
    capture,
    (l) => {
      if (index === 0) {
        first = l.time;
        out(`${zeekDnsHeader(l.time)}\n`);
      }
      last = Math.max(Number.isNaN(last) ? l.time : last, l.time);
      out(`${zeekDnsLine(l, ++index)}\n`);
    },
    anomalies,
  );
  if (index === 0) out(`${zeekDnsHeader(0)}\n`);
  out(`#close\t${zeekStamp(Number.isNaN(last) ? (Number.isNaN(first) ? 0 : first) : last)}\n`);
  return info;
}

async function main(): Promise<void> {
  const capture = process.argv[2];
  if (capture === undefined || process.argv.length > 3) {
    console.error('usage: node dist/scripts/corpus-dnslog.js CAPTURE > dns.log');
    process.exitCode = 2;
    return;
  }
  const anomalies = new Anomalies();
  try {
    const info = await writeZeekDnsLog(capture, (t) => process.stdout.write(t), anomalies);
    if (info.format !== 'capture') console.error(`${capture}: read as ${info.format}, not a capture`);
    console.error(`${capture}: ${info.lookups} lookups, ${info.skipped} skipped, ${anomalies.total} anomalies`);
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
