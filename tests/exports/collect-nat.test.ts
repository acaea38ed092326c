/**
 * `minerwatch collect --nat-deterministic` and `--nat-ipfix` map collected flows behind a
 * carrier-grade NAT as `scan` does: the public address and port of a collected mining flow go back
 * to the private address the NAT gave them, and the directory's subscriber of that address is the
 * flow's subscriber. Real CLI in a child process on 127.0.0.1, fed the export datagrams of the
 * corpus's nDPI mining capture; the flow's public side comes from the corpus labels, the NAT from the
 * test's design (RFC 7422 port blocks; an RFC 8158 port-block allocation in IPFIX written here from
 * RFC 7011 and the IANA element numbers).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CORPUS, CORPUS_SKIP_REASON, HAVE_CORPUS, ROOT } from '../helpers.js';
import { collectAll } from '../support/collector.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-collect-nat-'));
const BUILT = existsSync(join(ROOT, 'dist', 'cli', 'minerwatch.js'));
const EXPORTS = join(CORPUS, 'netflow/generated/v9/ndpi__mining.export.pcap');
const DEADLINE_MS = 60_000;

/** A labelled mining stream of the capture (labels/plaintext-mining-streams.tsv): its client side, taken as the NAT's public side. */
const PUBLIC_IP = '192.168.2.148';
const PUBLIC_PORT = 46838;
const SERVER = '94.23.199.191';

/** Collect the capture with `extra` options; the mining flow's subscriber and NAT note, and the subscriber rows. */
async function collectWith(name: string, extra: string[]): Promise<{ subscriber: string | null; nat: string | null; rows: Array<{ subscriber: string; account: string | null }> }> {
  const db = join(tmp, `${name}.sqlite`);
  const run = await collectAll(db, extra, EXPORTS, name, DEADLINE_MS);
  expect(run.code, run.stderr).toBe(0);
  const d = new Database(db, { readonly: true });
  try {
    const flow = d.prepare('SELECT subscriber, nat, label FROM flows WHERE client = ? AND client_port = ? AND server = ?').get(PUBLIC_IP, PUBLIC_PORT, SERVER) as { subscriber: string | null; nat: string | null; label: string } | undefined;
    expect(flow, `the ${PUBLIC_IP}:${PUBLIC_PORT} → ${SERVER} flow`).toBeDefined();
    expect(flow!.label).toBe('mining');
    const rows = d.prepare('SELECT subscriber, account FROM subscribers ORDER BY subscriber').all() as Array<{ subscriber: string; account: string | null }>;
    return { subscriber: flow!.subscriber, nat: flow!.nat, rows };
  } finally {
    d.close();
  }
}

function directoryFile(privateIp: string): string {
  const path = join(tmp, `directory-${privateIp}.csv`);
  writeFileSync(path, `prefix,subscriber,account,type,region\n${privateIp}/32,behind-cgnat,acct-cgnat,residential,region-nat\n`);
  return path;
}

const u16 = (v: number): number[] => [v >> 8, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const u64 = (v: number): number[] => [...u32(Math.floor(v / 2 ** 32)), ...u32(v % 2 ** 32)];
const ip4 = (a: string): number[] => a.split('.').map(Number);

/**
 * One IPFIX message (RFC 7011 §3.1) with a template set (§3.4.1) and a data set: a NAT port-block
 * allocation (RFC 8158 natEvent 16) of `public` ports `first`..`last` to `privateIp` at `atMs`.
 * IANA elements: observationTimeMilliseconds 323, sourceIPv4Address 8, postNATSourceIPv4Address 225,
 * natEvent 230, portRangeStart 361, portRangeEnd 362.
 */
function portBlockAllocation(atMs: number, privateIp: string, publicIp: string, first: number, last: number): Uint8Array {
  const fields: Array<[number, number]> = [[323, 8], [8, 4], [225, 4], [230, 1], [361, 2], [362, 2]];
  const template = [...u16(300), ...u16(fields.length), ...fields.flatMap(([id, len]) => [...u16(id), ...u16(len)])];
  const templateSet = [...u16(2), ...u16(4 + template.length), ...template];
  const record = [...u64(atMs), ...ip4(privateIp), ...ip4(publicIp), 16, ...u16(first), ...u16(last)];
  const dataSet = [...u16(300), ...u16(4 + record.length), ...record];
  const body = [...templateSet, ...dataSet];
  return Uint8Array.from([...u16(10), ...u16(16 + body.length), ...u32(Math.floor(atMs / 1000)), ...u32(1), ...u32(1), ...body]);
}

describe('minerwatch collect behind a carrier-grade NAT', () => {
  it.skipIf(!HAVE_CORPUS || !BUILT)('--nat-deterministic: the flow goes to the private address whose port block holds its public port', async () => {
    const plain = await collectWith('nat-none', ['--subscribers', directoryFile('10.99.0.45')]);
    expect(plain.subscriber).toBe(PUBLIC_IP);
    expect(plain.nat).toBeNull();
    // RFC 7422: one public address, ports 1024-65535 in 64 blocks of 1008 for 64 private addresses
    // in order: port 46838 is in block floor((46838 - 1024) / 1008) = 45, that of 10.99.0.45.
    const behind = await collectWith('nat-deterministic', ['--subscribers', directoryFile('10.99.0.45'), '--nat-deterministic', `10.99.0.0/26=${PUBLIC_IP}/32:1024-65535/1008`]);
    expect(behind.subscriber).toBe('behind-cgnat');
    expect(behind.nat).not.toBeNull();
    expect(behind.rows).toContainEqual({ subscriber: 'behind-cgnat', account: 'acct-cgnat' });
  }, 180_000);

  it.skipIf(!HAVE_CORPUS || !BUILT)('--nat-ipfix: the flow goes to the private address a port-block allocation event gave its public port', async () => {
    // The capture's streams of 2017-12-25 (nfdump's CSV beside it); the block is allocated that midnight and never released.
    const events = join(tmp, 'nat-events.ipfix');
    writeFileSync(events, portBlockAllocation(Date.UTC(2017, 11, 25), '10.88.0.5', PUBLIC_IP, 46000, 46999));
    const behind = await collectWith('nat-ipfix', ['--subscribers', directoryFile('10.88.0.5'), '--nat-ipfix', events]);
    expect(behind.subscriber).toBe('behind-cgnat');
    expect(behind.nat).not.toBeNull();
    expect(behind.rows).toContainEqual({ subscriber: 'behind-cgnat', account: 'acct-cgnat' });
  }, 180_000);
});
if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);
if (!BUILT) console.warn('dist/ is not built (npm run build): the collect NAT tests are skipped');
