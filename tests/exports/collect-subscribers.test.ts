/**
 * `minerwatch collect` maps collected flows to subscribers as `scan` does: a subscriber directory
 * and a NAT log given on its command line decide whose each flow is, and the report's subscriber
 * rows carry the directory's account, type and region. Real CLI in a child process on 127.0.0.1,
 * fed the export datagrams of a corpus capture over UDP; the addresses the directory and NAT log
 * name are read from the capture by tshark, not by minerwatch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT, waitFor } from '../helpers.js';
import { exportDatagrams, sendAll, startCollector } from '../support/collector.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-collect-subs-'));
const HAVE_TSHARK = spawnSync('sh', ['-c', 'command -v tshark'], { stdio: 'ignore' }).status === 0;
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
const EXPORTS = join(CORPUS, 'netflow/generated/v9/ndpi__mining.export.pcap');
const DEADLINE_MS = 60_000;

/** Every flow record's source and destination (address, port) as tshark's NetFlow dissector reads them. */
function tsharkRecords(path: string): Array<{ src: string; dst: string; srcPort: number; dstPort: number }> {
  const port = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'udp.dstport'], { encoding: 'utf8', timeout: DEADLINE_MS }).stdout.trim().split('\n')[0]!;
  const r = spawnSync('tshark', ['-r', path, '-d', `udp.port==${port},cflow`, '-T', 'fields', '-E', 'separator=/t', '-e', 'cflow.srcaddr', '-e', 'cflow.dstaddr', '-e', 'cflow.srcport', '-e', 'cflow.dstport'], {
    encoding: 'utf8',
    timeout: DEADLINE_MS,
  });
  expect(r.status, r.stderr).toBe(0);
  const out: Array<{ src: string; dst: string; srcPort: number; dstPort: number }> = [];
  for (const line of r.stdout.trim().split('\n')) {
    const [src, dst, sp, dp] = line.split('\t').map((f) => f.split(','));
    src!.forEach((s, i) => out.push({ src: s, dst: dst![i]!, srcPort: Number(sp![i]), dstPort: Number(dp![i]) }));
  }
  return out;
}

describe('minerwatch collect with a subscriber directory and a NAT log', () => {
  it('rejects a bad directory line before listening, as scan does (exit 2, file and line named, no report)', async () => {
    const dir = join(tmp, 'bad-directory.csv');
    writeFileSync(dir, 'prefix,subscriber,account,type,region\n10.0.0.0/8,campus,acct,university,Brno\n10.1.0.0/33,lab,acct2,university,Brno\n');
    const db = join(tmp, 'never.sqlite');
    let err = '';
    const code = await main(['collect', '--listen', '127.0.0.1:0', '--db', db, '--subscribers', dir], { out: () => undefined, err: (s) => (err += s) });
    expect(code).toBe(2);
    expect(err).toContain('subscribers file not applied (1 bad line(s))');
    expect(err).toContain(`${dir}:3: prefix "10.1.0.0/33" is not an IP address or CIDR`);
    expect(existsSync(db)).toBe(false);
  });

  it('rejects a bad NAT log line before listening (exit 2, file and line named)', async () => {
    const log = join(tmp, 'bad-nat.csv');
    writeFileSync(log, 'start,end,private_ip,public_ip,port_start,port_end\n2017-11-11T00:00:00Z,2017-11-12T00:00:00Z,10.0.0.1,not-an-address,1024,2047\n');
    let err = '';
    const code = await main(['collect', '--listen', '127.0.0.1:0', '--db', join(tmp, 'never2.sqlite'), '--nat-log', log], { out: () => undefined, err: (s) => (err += s) });
    expect(code).toBe(2);
    expect(err).toContain(`NAT mapping not applied (1 problem(s)):\n  ${log}:2: expected IP addresses in private_ip and public_ip`);
  });

  it.skipIf(!HAVE_CORPUS || !HAVE_TSHARK || !BUILT)('each collected flow goes to the directory subscriber of its (NAT-mapped) client; mining subscribers carry account, type and region', async () => {
    const records = tsharkRecords(EXPORTS);
    expect(records.length).toBe(8);
    // A conversation's initiator: the side on a dynamic port (RFC 6335: 49152-65535).
    const natted = records.find((r) => r.srcPort >= 49152)!;
    expect(natted).toBeDefined();
    const addresses = [...new Set(records.flatMap((r) => [r.src, r.dst]))].sort();
    const privateIp = '10.20.30.40';
    const entry = (a: string, i: number) => ({ prefix: `${a}/32`, subscriber: `sub-${i}`, account: `acct-${i}`, type: i % 2 ? 'enterprise' : 'university', region: `region-${i}` });
    const rows = [...addresses.map(entry), { prefix: `${privateIp}/32`, subscriber: 'behind-nat', account: 'acct-nat', type: 'residential', region: 'region-nat' }];
    const directory = join(tmp, 'directory.csv');
    writeFileSync(directory, ['prefix,subscriber,account,type,region', ...rows.map((r) => `${r.prefix},${r.subscriber},${r.account},${r.type},${r.region}`)].join('\n') + '\n');
    const byAddress = new Map(rows.map((r) => [r.prefix.replace(/\/32$/, ''), r]));
    // The NAT log hands the initiator's public address and port to a private address for the day of the capture.
    const natLog = join(tmp, 'nat.csv');
    writeFileSync(natLog, `start,end,private_ip,public_ip,port_start,port_end\n2017-11-01T00:00:00Z,2018-01-31T00:00:00Z,${privateIp},${natted.src},${natted.srcPort},${natted.srcPort}\n`);

    const db = join(tmp, 'collect-subs.sqlite');
    const { child, port, stderr } = await startCollector(db, ['--subscribers', directory, '--nat-log', natLog], DEADLINE_MS);
    await sendAll(port, await exportDatagrams(EXPORTS));
    await waitFor(() => /records 8,/.test(stderr()), { what: 'the collector to count the 8 flow records sent' });
    const closed = new Promise<number | null>((r) => child.on('close', r));
    child.kill('SIGINT');
    expect(await closed, stderr()).toBe(0);

    const d = new Database(db, { readonly: true });
    try {
      const flows = d.prepare("SELECT client, client_port, server, label, subscriber, nat FROM flows WHERE source = 'export'").all() as Array<{ client: string; client_port: number; server: string; label: string; subscriber: string | null; nat: string | null }>;
      expect(flows.length).toBe(4);
      for (const f of flows) {
        const behindNat = f.client === natted.src && f.client_port === natted.srcPort;
        expect(f.subscriber, `${f.client}:${f.client_port} → ${f.server}`).toBe(behindNat ? 'behind-nat' : byAddress.get(f.client)!.subscriber);
        if (behindNat) expect(f.nat).not.toBeNull();
      }
      expect(flows.some((f) => f.client === natted.src && f.client_port === natted.srcPort)).toBe(true);
      const mining = flows.filter((f) => f.label === 'mining');
      expect(mining.length).toBeGreaterThan(0);
      const subscribers = new Map((d.prepare('SELECT subscriber, account, type, region FROM subscribers').all() as Array<{ subscriber: string; account: string; type: string; region: string }>).map((s) => [s.subscriber, s]));
      for (const f of mining) {
        const want = rows.find((r) => r.subscriber === f.subscriber)!;
        expect(subscribers.get(f.subscriber!)).toEqual({ subscriber: want.subscriber, account: want.account, type: want.type, region: want.region });
      }
      // The directory is in the report as given, with its source.
      expect(d.prepare('SELECT count(*) FROM subscriber_info WHERE source = ?').pluck().get(directory)).toBe(rows.length);
    } finally {
      d.close();
    }
  }, 120_000);
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
if (!HAVE_TSHARK) console.warn('tshark not installed (Debian package tshark): the collect-with-subscribers test is skipped');
if (!BUILT) console.warn('dist/ is not built (npm run build): the collect-with-subscribers test is skipped');
