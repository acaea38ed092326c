/**
 * `--radius` against a real FreeRADIUS: Debian's freeradius runs in the foreground on 127.0.0.1
 * (free ports, a config written to a temp dir beside the packaged dictionary), its `detail` module
 * writes the accounting records that radclient sends (Start, Stop, an Interim-Update alone, a Start
 * left open, routed networks by Framed-Route, Framed-IP-Netmask and Framed-IPv6-Route) for the client addresses of the mining flows in a corpus capture, timed around those
 * flows as tshark reads them; the scan with `--radius DETAILFILE` must name each flow's account for
 * the session's window and not outside it. Needs the Debian packages freeradius and freeradius-utils.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRadiusDetail, RadiusIndex, radiusSessionsFromEvents } from '../../src/aggregate/radius.js';
import { main } from '../../src/cli/main.js';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS } from '../helpers.js';
import { stopChild } from '../support/child.js';

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const HAVE_RADIUS = have('freeradius') && have('radclient') && existsSync('/etc/freeradius/3.0/dictionary');
const HAVE_TSHARK = have('tshark');
const CAPTURE = join(CORPUS, 'pcap/mining/ndpi__mining.pcapng');
const SKIP = !HAVE_RADIUS
  ? 'freeradius or radclient not installed: FreeRADIUS test skipped (apt-get install freeradius freeradius-utils)'
  : !HAVE_CORPUS
    ? CORPUS_SKIP_REASON
    : !HAVE_TSHARK
      ? 'tshark not installed: FreeRADIUS test skipped (apt-get install tshark)'
      : null;
if (SKIP) console.warn(SKIP);

const SECRET = 'minerwatch-test-secret';
const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-freeradius-'));
let server: ChildProcess | null = null;

/** A UDP port free on 127.0.0.1 just now. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** Each TCP connection's opening SYN as tshark reads it: time (s), client, server. */
function synsOf(path: string): Array<{ time: number; client: string; server: string }> {
  const r = spawnSync('tshark', ['-r', path, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0', '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ip.dst'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
    .map(([t, c, s]) => ({ time: Number(t), client: c!, server: s! }));
}

function radiusConf(dir: string, acctPort: number, authPort: number): string {
  return `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = \${exec_prefix}/sbin
raddbdir = ${dir}
confdir = \${raddbdir}
modconfdir = \${confdir}/mods-config
run_dir = \${raddbdir}/run
logdir = \${raddbdir}/log
radacctdir = \${raddbdir}/radacct
db_dir = \${raddbdir}
libdir = /usr/lib/freeradius
pidfile = \${run_dir}/radiusd.pid
name = freeradius
max_request_time = 10
cleanup_delay = 0
max_requests = 256
hostname_lookups = no
log {
  destination = stdout
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
thread pool {
  start_servers = 1
  max_servers = 2
  min_spare_servers = 1
  max_spare_servers = 2
}
client localhost {
  ipaddr = 127.0.0.1
  secret = ${SECRET}
}
modules {
  always ok {
    rcode = ok
  }
  detail {
    filename = \${radacctdir}/detail
    escape_filenames = no
    permissions = 0600
    header = "%t"
  }
}
server default {
  listen {
    type = acct
    ipaddr = 127.0.0.1
    port = ${acctPort}
  }
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${authPort}
  }
  authorize {
    ok
  }
  authenticate {
  }
  preacct {
    ok
  }
  accounting {
    detail
    ok
  }
}
`;
}

/** Start freeradius in the foreground; resolves once it says it is ready (at most 20 s). */
async function startFreeradius(dir: string): Promise<ChildProcess> {
  const child = spawn('freeradius', ['-X', '-d', dir], { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`freeradius not ready within 20 s:\n${log.slice(-2000)}`)), 20_000);
    const seen = (b: Buffer): void => {
      log += b.toString();
      if (log.includes('Ready to process requests')) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`freeradius exited with ${code}:\n${log.slice(-2000)}`));
    });
  });
  return child;
}

afterAll(async () => {
  if (server) await stopChild(server);
});

describe.skipIf(SKIP !== null)('--radius with a detail file written by FreeRADIUS', () => {
  it('maps each mining flow to the account radclient sent for its time, and not outside the session', { timeout: 120_000 }, async () => {
    const syns = synsOf(CAPTURE);
    const toPool = (client: string, server: string): number => {
      const s = syns.find((x) => x.client === client && x.server === server);
      expect(s, `${client} → ${server} in ${CAPTURE}`).toBeDefined();
      return s!.time;
    };
    // Two pool sessions of one client 8 s apart, one of another client, one of a third years earlier.
    const first = toPool('192.168.2.148', '94.23.199.191');
    const second = toPool('192.168.2.148', '116.211.167.195');
    const other = toPool('192.168.2.92', '178.32.196.217');
    const old = toPool('147.229.13.222', '185.71.66.39');
    expect(second - first).toBeGreaterThan(6);

    const conf = join(tmp, 'raddb');
    for (const d of ['run', 'log', 'radacct', 'mods-config']) mkdirSync(join(conf, d), { recursive: true });
    copyFileSync('/etc/freeradius/3.0/dictionary', join(conf, 'dictionary'));
    writeFileSync(join(conf, 'radiusd.conf'), radiusConf(conf, await freePort(), await freePort()));
    server = await startFreeradius(conf);
    const acctPort = Number(/port = (\d+)/.exec(readFileSync(join(conf, 'radiusd.conf'), 'utf8'))![1]);

    const s = (t: number): number => Math.floor(t);
    const packets = [
      // alice holds 192.168.2.148 from a minute before the first pool session until 4 s after it began.
      ['Acct-Status-Type = Start', 'User-Name = "alice"', 'Acct-Session-Id = "A-1"', 'NAS-IP-Address = 127.0.0.1', 'Framed-IP-Address = 192.168.2.148', 'Delegated-IPv6-Prefix = 2001:db8:a::/56', `Event-Timestamp = ${s(first) - 60}`],
      ['Acct-Status-Type = Stop', 'User-Name = "alice"', 'Acct-Session-Id = "A-1"', 'NAS-IP-Address = 127.0.0.1', 'Framed-IP-Address = 192.168.2.148', 'Acct-Session-Time = 64', `Event-Timestamp = ${s(first) + 4}`],
      // bob's session on the same address is known only from an Interim-Update, a second before the second pool session.
      ['Acct-Status-Type = Interim-Update', 'User-Name = "bob"', 'Acct-Session-Id = "B-1"', 'NAS-IP-Address = 127.0.0.1', 'Framed-IP-Address = 192.168.2.148', 'Acct-Session-Time = 600', `Event-Timestamp = ${s(second) - 1}`],
      // carol's Start has no Stop: open. Her line is routed: 192.168.2.0/25 behind her router's address.
      ['Acct-Status-Type = Start', 'User-Name = "carol"', 'Acct-Session-Id = "C-1"', 'NAS-IP-Address = 127.0.0.1', 'Framed-IP-Address = 10.1.1.1', 'Framed-Route = "192.168.2.0/25 10.1.1.1 1"', `Event-Timestamp = ${s(other) - 30}`],
      // frank routes a network by netmask and an IPv6 route; no capture address is in them.
      ['Acct-Status-Type = Start', 'User-Name = "frank"', 'Acct-Session-Id = "F-1"', 'NAS-IP-Address = 127.0.0.1', 'Framed-IP-Address = 198.51.100.9', 'Framed-IP-Netmask = 255.255.255.248', 'Framed-IPv6-Route = "2001:db8:f::/48 :: 1"', `Event-Timestamp = ${s(other) - 30}`],
      // dave held 147.229.13.222 only long after that address's pool session.
      ['Acct-Status-Type = Start', 'User-Name = "dave"', 'Acct-Session-Id = "D-1"', 'NAS-IP-Address = 127.0.0.1', 'Framed-IP-Address = 147.229.13.222', `Event-Timestamp = ${s(old) + 86_400}`],
    ];
    for (const p of packets) {
      // One packet per radclient run, so the detail file keeps this order.
      const r = spawnSync('radclient', ['-r', '2', '-t', '3', `127.0.0.1:${acctPort}`, 'acct', SECRET], { input: p.join('\n') + '\n', encoding: 'utf8', timeout: 20_000, env: { ...process.env, TZ: 'UTC' } });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('Received Accounting-Response');
    }
    await stopChild(server);
    server = null;

    const detail = join(conf, 'radacct', 'detail');
    const text = readFileSync(detail, 'utf8');
    expect(text.match(/^\tAcct-Status-Type = /gm)).toHaveLength(6);
    expect(text).toContain('\tDelegated-IPv6-Prefix = 2001:db8:a::/56');
    expect(text).toContain('\tFramed-Route = "192.168.2.0/25 10.1.1.1 1"');
    expect(text).toContain('\tFramed-IP-Netmask = 255.255.255.248');

    // frank's networks, as read back from the file FreeRADIUS wrote.
    const parsed = parseRadiusDetail(text, detail);
    expect(parsed.errors).toEqual([]);
    const index = new RadiusIndex(radiusSessionsFromEvents(parsed.events).sessions);
    const who = (ip: string): string | null => {
      const r = index.lookup(ip, s(other) * 1000);
      return r && r.status === 'mapped' ? `${r.session.account} ${r.prefix.text}` : r ? r.status : null;
    };
    expect(who('198.51.100.14')).toBe('frank 198.51.100.8/29');
    expect(who('198.51.100.16')).toBeNull();
    expect(who('2001:db8:f:42::1')).toBe('frank 2001:db8:f::/48');
    expect(who('192.168.2.92')).toBe('carol 192.168.2.0/25');

    const db = join(tmp, 'report.sqlite');
    let err = '';
    const code = await main(['scan', CAPTURE, '--db', db, '--radius', detail], { out: () => undefined, err: (x) => (err += x) });
    expect(code, err).toBe(0);
    expect(err).toContain(`${detail}: FreeRADIUS detail, 6 accounting record(s)`);

    const d = new Database(db, { readonly: true });
    try {
      const flow = (client: string, server: string): { subscriber: string; nat: string | null; label: string } =>
        d.prepare('SELECT subscriber, nat, label FROM flows WHERE client = ? AND server = ?').get(client, server) as { subscriber: string; nat: string | null; label: string };
      // Records are in the order sent: alice's Start and Stop open with the first and second date lines.
      const dateLines = text.split('\n').flatMap((l, k) => (/^\S/.test(l) ? [k + 1] : []));
      expect(dateLines).toHaveLength(6);
      const a = flow('192.168.2.148', '94.23.199.191');
      expect(a.label).toBe('mining');
      expect(a.subscriber).toBe('alice');
      expect(a.nat).toContain(`radius mapped: "alice" (session "A-1") held 192.168.2.148 from ${detail}:${dateLines[0]} Start ${new Date((s(first) - 60) * 1000).toISOString().replace('.000Z', 'Z')}`);
      expect(a.nat).toContain(`to ${detail}:${dateLines[1]} Stop ${new Date((s(first) + 4) * 1000).toISOString().replace('.000Z', 'Z')}`);
      // 8 s later the same address is bob's, from his Interim-Update: not alice's.
      const b = flow('192.168.2.148', '116.211.167.195');
      expect(b.label).toBe('mining');
      expect(b.subscriber).toBe('bob');
      expect(b.nat).toContain('(session "B-1")');
      expect(b.nat).toContain('Interim-Update');
      const c = flow('192.168.2.92', '178.32.196.217');
      expect(c.subscriber).toBe('carol');
      expect(c.nat).toContain('still open (no Stop)');
      // Through the route: the flow's address is not the one the session was given.
      expect(c.nat).toContain('"carol" (session "C-1") held 192.168.2.0/25');
      // Outside dave's session: the flow stays on its address, and says why.
      const o = flow('147.229.13.222', '185.71.66.39');
      expect(o.subscriber).toBe('147.229.13.222');
      expect(o.nat).toMatch(/^radius missing: no session held 147\.229\.13\.222/);

      const subs = (d.prepare("SELECT subscriber, mining_flows FROM subscribers ORDER BY subscriber").all() as Array<{ subscriber: string; mining_flows: number }>).map((r) => [r.subscriber, r.mining_flows]);
      expect(subs).toEqual([
        ['147.229.13.222', 1],
        ['alice', 1],
        ['bob', 1],
        ['carol', 1],
      ]);
    } finally {
      d.close();
    }
    let out = '';
    expect(await main(['watchlist', '--db', db, '--min-confidence', 'low', '--format', 'json'], { out: (x) => (out += x), err: () => undefined })).toBe(0);
    const rows = JSON.parse(out) as Array<{ subscriber: string }>;
    expect(rows.map((r) => r.subscriber).sort()).toEqual(['147.229.13.222', 'alice', 'bob', 'carol']);
  });
});
