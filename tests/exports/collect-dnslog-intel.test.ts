/**
 * `--dns-log` and `--intel` take effect in `minerwatch collect` as they do in `scan`. A collected
 * TLS flow to a web server is not mining on its own, and is when a resolver log says its client was
 * just answered that address for a listed pool name; a collected pool-like flow to a server no rule
 * lists is only suspect, and is mining when an intel folder lists the address. Real CLI in child
 * processes on 127.0.0.1, fed the export datagrams of corpus captures; each flow's addresses and
 * start come from the corpus (the nfdump CSV made beside each export capture, and the mining labels),
 * the lookup and the listing from the test's own design.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT } from '../helpers.js';
import { collectAll } from '../support/collector.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-collect-dnslog-intel-'));
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
const V9 = join(CORPUS, 'netflow/generated/v9');
const DEADLINE_MS = 60_000;

/** A conversation of an export capture: its flow as nfdump printed it (CSV beside the capture). */
interface Conversation {
  capture: string;
  client: string;
  server: string;
  serverPort: number;
}

/** TLS to a Google web server (nDPI's google_ssl capture). */
const WEB: Conversation = { capture: 'ndpi__google_ssl', client: '172.31.3.224', server: '216.58.212.100', serverPort: 443 };
/** A mining stream (corpus labels) to a server that rules/endpoints does not list. */
const UNLISTED_POOL: Conversation = { capture: 'ndpi__mining', client: '147.229.13.222', server: '185.71.66.39', serverPort: 9999 };
/** A pool host name rules/endpoints/pools.yaml lists (domain entry). */
const POOL_NAME = 'pool.supportxmr.com';

interface FlowRow {
  label: string;
  confidence: string;
  rules: string;
  reason: string;
}

/** Collect a capture's datagrams with `extra` options; the stored row of the conversation's flow and its evidence kinds. */
async function collectWith(name: string, c: Conversation, extra: string[]): Promise<{ flow: FlowRow; kinds: string[] }> {
  const db = join(tmp, `${name}.sqlite`);
  const run = await collectAll(db, extra, join(V9, `${c.capture}.export.pcap`), name, DEADLINE_MS);
  expect(run.code, run.stderr).toBe(0);
  const d = new Database(db, { readonly: true });
  try {
    const flows = d.prepare('SELECT id, label, confidence, rules, reason FROM flows WHERE client = ? AND server = ? AND server_port = ?').all(c.client, c.server, c.serverPort) as Array<FlowRow & { id: number }>;
    expect(flows.length, `one ${c.client} → ${c.server}:${c.serverPort} flow in ${db}`).toBe(1);
    const kinds = d.prepare('SELECT DISTINCT kind FROM evidence WHERE flow_id = ? ORDER BY kind').pluck().all(flows[0]!.id) as string[];
    const { id: _id, ...flow } = flows[0]!;
    return { flow, kinds };
  } finally {
    d.close();
  }
}

/** When the conversation starts, by nfdump (its CSV prints UTC; epoch ms). */
function conversationStart(c: Conversation): number {
  const csv = join(V9, `${c.capture}.csv`);
  const line = readFileSync(csv, 'utf8')
    .split('\n')
    .find((l) => l.split(',')[3] === c.client && l.split(',')[4] === c.server);
  expect(line, `${c.client} → ${c.server} in ${csv}`).toBeDefined();
  return Date.parse(`${line!.split(',')[0]!.replace(' ', 'T')}Z`);
}

describe('minerwatch collect --dns-log and --intel', () => {
  it.skipIf(!HAVE_CORPUS || !BUILT)('a TLS flow to a web server is mining with a resolver log in which its client was just answered that address for a listed pool name', async () => {
    const without = await collectWith('web-plain', WEB, []);
    expect(without.flow.label).not.toBe('mining');
    expect(without.kinds).not.toContain('dns-log');

    // Zeek dns.log (JSON lines): the client asked for the pool's name two minutes before the
    // conversation and was answered the server's address with a five-minute TTL.
    const asked = (conversationStart(WEB) - 120_000) / 1000;
    const dnsLog = join(tmp, 'dns.log');
    writeFileSync(
      dnsLog,
      JSON.stringify({
        ts: asked,
        uid: 'CliveDnsLog1',
        'id.orig_h': WEB.client,
        'id.orig_p': 53124,
        'id.resp_h': '192.0.2.53',
        'id.resp_p': 53,
        proto: 'udp',
        trans_id: 4711,
        rtt: 0.012,
        query: POOL_NAME,
        qclass: 1,
        qclass_name: 'C_INTERNET',
        qtype: 1,
        qtype_name: 'A',
        rcode: 0,
        rcode_name: 'NOERROR',
        AA: false,
        TC: false,
        RD: true,
        RA: true,
        Z: 0,
        answers: [WEB.server],
        TTLs: [300.0],
        rejected: false,
      }) + '\n',
    );
    const withDns = await collectWith('web-dns-log', WEB, ['--dns-log', dnsLog]);
    expect(withDns.flow.label).toBe('mining');
    expect(withDns.kinds).toContain('dns-log');
    expect(withDns.flow.reason).toContain(POOL_NAME);
  }, 180_000);

  it.skipIf(!HAVE_CORPUS || !BUILT)('a pool-like flow to an unlisted server is mining with an intel folder that lists the address', async () => {
    const without = await collectWith('pool-plain', UNLISTED_POOL, []);
    expect(without.flow.label).not.toBe('mining');
    expect(without.kinds.filter((k) => k.startsWith('endpoint'))).toEqual([]);

    // An intel folder (the rules/endpoints schema) listing the server's address with its port, observed the day the conversation started.
    const intel = join(tmp, 'intel');
    mkdirSync(intel, { recursive: true });
    const day = new Date(conversationStart(UNLISTED_POOL)).toISOString().slice(0, 10);
    writeFileSync(
      join(intel, 'observed.yaml'),
      `source: "collect test: the server of a labelled mining stream"\nadded: ${day}\nkind: pool\nentries:\n  - ip: "${UNLISTED_POOL.server}"\n    pool: "unknown"\n    ports: [${UNLISTED_POOL.serverPort}]\n`,
    );
    const withIntel = await collectWith('pool-intel', UNLISTED_POOL, ['--intel', intel]);
    expect(withIntel.flow.label).toBe('mining');
    expect(withIntel.kinds.some((k) => k.startsWith('endpoint'))).toBe(true);
  }, 180_000);
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
if (!BUILT) console.warn('dist/ is not built (npm run build): the collect --dns-log/--intel tests are skipped');
