/**
 * Times no date can hold (more than 8.64e15 ms from 1970, past the year 275760) in a pcapng
 * interface's timestamps, in IPFIX records and in an nfdump file written by Debian's nfcapd are
 * counted anomalies, with the file and the offset: the packet or record is skipped, the rest is
 * read, and the report stays one every report command can read (before, such flows were stored and
 * `summary`, `watchlist` and `flows` refused the report as damaged). Times before 1970, which an
 * exporter without a clock sends, are still flows.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ethernet, ipv4, LinkType, pcapFile, pcapngFile, tcpSession, udp, type PcapngSection } from '../support/builders.js';
import { missingNfdump, nfcapdFiles, sendPaced, startNfcapd } from '../support/nfcapd.js';
import { runMain } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-times-'));
const T0 = Date.UTC(2025, 5, 1, 8, 0, 0);
/** 1e16 ms: past the largest date (8.64e15 ms). */
const FAR = 1e16;

/** Scan `path`, then read the report with the commands that format its times; the scan's input summary. */
async function scanAndRead(path: string, extra: string[] = []): Promise<{ input: { packets: number; records: number; flows: number; anomalies: Record<string, number> }; db: string }> {
  const db = join(tmp, `${path.split('/').pop()}.sqlite`);
  const r = await runMain(['scan', path, '--db', db, '--json', ...extra]);
  expect(r.code, r.err).toBe(0);
  const j = JSON.parse(r.out) as { inputs: Array<{ packets: number; records: number; flows: number; anomalies: Record<string, number> }> };
  for (const args of [['summary'], ['watchlist', '--min-confidence', 'low'], ['flows', '--all']]) {
    const q = await runMain([...args, '--db', db]);
    expect(q.code, `${args[0]}: ${q.err}`).toBe(0);
  }
  return { input: j.inputs[0]!, db };
}

function samples(db: string): Array<{ code: string; offset: number; message: string }> {
  const d = new Database(db, { readonly: true });
  const rows = d.prepare('SELECT code, offset, message FROM anomaly_samples ORDER BY rowid').all() as Array<{ code: string; offset: number; message: string }>;
  d.close();
  return rows;
}

/** Big-endian bytes. */
const u16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];
const u32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const u64 = (v: bigint): number[] => [...u32(Number(v >> 32n)), ...u32(Number(v & 0xffffffffn))];

/**
 * An IPFIX message (RFC 7011) with template 256 (addresses, ports, protocol, packets, octets,
 * flowStartMilliseconds, flowEndMilliseconds) and one record per [start, end] given.
 */
function ipfixMessage(times: Array<[bigint, bigint]>, sets: { template: boolean; data: boolean } = { template: true, data: true }): Uint8Array {
  const fields = [[8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [2, 8], [1, 8], [152, 8], [153, 8]];
  const tpl = [...u16(256), ...u16(fields.length), ...fields.flatMap(([id, len]) => [...u16(id!), ...u16(len!)])];
  const recs = times.flatMap(([s, e], i) => [100, 64, 0, 10 + i, 198, 51, 100, 7, ...u16(40000 + i), ...u16(3333), 6, ...u64(20n), ...u64(2000n), ...u64(s), ...u64(e)]);
  const body = [...(sets.template ? [...u16(2), ...u16(4 + tpl.length), ...tpl] : []), ...(sets.data ? [...u16(256), ...u16(4 + recs.length), ...recs] : [])];
  return Uint8Array.from([...u16(10), ...u16(16 + body.length), ...u32(Math.floor(T0 / 1000) + 600), ...u32(1), ...u32(0), ...body]);
}

const GOOD: [bigint, bigint] = [BigInt(T0), BigInt(T0 + 300_000)];

describe('times no date can hold', () => {
  it('pcapng: a packet timed past the year 275760 by its interface is counted and skipped', async () => {
    const session = tcpSession({ client: ['100.64.0.9', 50001], server: ['198.51.100.7', 3333], start: T0, messages: [{ from: 'client', data: '{"id":1,"method":"login"}\n' }] });
    const interfaces = [{ linktype: LinkType.ETHERNET, tsresol: 0 }];
    const section: PcapngSection = { interfaces, packets: session.map((p, i) => ({ iface: 0, ts: i === 1 ? FAR : p.ts, data: ethernet(p.ip) })) };
    const path = join(tmp, 'far-interface.pcapng');
    writeFileSync(path, pcapngFile([section]));
    const { input, db } = await scanAndRead(path);
    expect(input.anomalies).toEqual({ 'pcapng.bad_time': 1 });
    expect(input.packets).toBe(session.length - 1);
    // The block's offset: the section header, the interface and the first packet's block before it.
    const before = pcapngFile([{ interfaces, packets: section.packets.slice(0, 1) }]).length;
    const [s] = samples(db);
    expect(s).toMatchObject({ code: 'pcapng.bad_time', offset: before });
    expect(s!.message).toMatch(/packet time 10000000000000 s \(interface 0: 1 units per second, offset 0 s\) is outside the dates a report holds; expected within 8640000000000 s of 1970; skipped/);
  });

  it('IPFIX in a capture: a record with a start or end past any date is counted with its message, the others are flows', async () => {
    const message = ipfixMessage([GOOD, [BigInt(FAR), BigInt(T0)], [BigInt(T0), 2n ** 64n - 1n]]);
    const frame = ethernet(ipv4('192.0.2.1', '192.0.2.9', 17, udp(9995, 4739, message)));
    const path = join(tmp, 'ipfix-far.pcap');
    writeFileSync(path, pcapFile(LinkType.ETHERNET, [{ ts: T0 + 600_000, data: frame }]));
    const { input, db } = await scanAndRead(path, ['--keep-flows', 'all']);
    expect(input.anomalies).toEqual({ 'export.bad_time': 2 });
    expect(input.records).toBe(3);
    const d = new Database(db, { readonly: true });
    expect(d.prepare("SELECT first_seen, last_seen FROM flows WHERE source = 'export'").all()).toEqual([{ first_seen: T0, last_seen: T0 + 300_000 }]);
    d.close();
    // pcap header (24) + record header (16) + Ethernet (14) + IPv4 (20) + UDP (8): the message's first byte.
    const got = samples(db);
    expect(got.map((x) => [x.code, x.offset])).toEqual([
      ['export.bad_time', 82],
      ['export.bad_time', 82],
    ]);
    expect(got[0]!.message).toBe('export record 2 of the input, in the export message at this offset: start 10000000000000000 ms, end ' + T0 + ' ms; expected times within 8640000000000000 ms of 1970 (the dates a report holds, to the year 275760); skipped');
  });

  it('IPFIX file: a record of a data set that waited for its template is said at the message that carried it, not the template\'s', async () => {
    // Message 1 (offset 0): the data set alone; message 2 (offset 0 + its length): the template, which releases it.
    const held = ipfixMessage([GOOD, [BigInt(FAR), BigInt(T0)]], { template: false, data: true });
    const template = ipfixMessage([], { template: true, data: false });
    const path = join(tmp, 'held.ipfix');
    writeFileSync(path, Uint8Array.from([...held, ...template]));
    const { input, db } = await scanAndRead(path, ['--keep-flows', 'all']);
    expect(input.anomalies).toEqual({ 'ipfix.template_missing': 1, 'export.bad_time': 1 });
    expect(input.records).toBe(2);
    // The data set's header follows the 16-byte message header; the bad record is in message 1, at 0.
    expect(samples(db).map((x) => [x.code, x.offset])).toEqual([
      ['ipfix.template_missing', 16],
      ['export.bad_time', 0],
    ]);
    const d = new Database(db, { readonly: true });
    expect(d.prepare("SELECT first_seen, last_seen FROM flows WHERE source = 'export'").all()).toEqual([{ first_seen: T0, last_seen: T0 + 300_000 }]);
    d.close();
  });

  it('rotated captures: a data set held at the end of one file and released by its exporter\'s template in the next is said in the first file', async () => {
    const capture = (path: string, message: Uint8Array, ts: number): void =>
      writeFileSync(path, pcapFile(LinkType.ETHERNET, [{ ts, data: ethernet(ipv4('192.0.2.1', '192.0.2.9', 17, udp(9995, 4739, message))) }]));
    const first = join(tmp, 'rotated-1.pcap');
    const second = join(tmp, 'rotated-2.pcap');
    capture(first, ipfixMessage([[BigInt(FAR), BigInt(T0)]], { template: false, data: true }), T0 + 600_000);
    capture(second, ipfixMessage([GOOD], { template: true, data: true }), T0 + 601_000);
    const db = join(tmp, 'rotated.sqlite');
    const r = await runMain(['scan', first, second, '--db', db, '--json', '--keep-flows', 'all']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { inputs: Array<{ path: string; anomalies: Record<string, number> }> };
    // Counted where the record was delivered (the second file's read), said where its bytes are.
    expect(j.inputs.map((i) => [i.path, i.anomalies])).toEqual([
      [first, { 'ipfix.template_missing': 1 }],
      [second, { 'export.bad_time': 1 }],
    ]);
    // The second file holds no byte of it: no offset there, and the message names the first file and the offset in it.
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT i.path, s.code, s.offset, s.message FROM anomaly_samples s JOIN inputs i ON i.id = s.input_id ORDER BY s.rowid').all() as Array<{ path: string; code: string; offset: number; message: string }>;
    d.close();
    // The message starts at byte 82 of the first capture (headers as above), its data set 16 bytes in.
    expect(rows.map((x) => [x.path, x.code, x.offset])).toEqual([
      [first, 'ipfix.template_missing', 98],
      [second, 'export.bad_time', -1],
    ]);
    expect(rows[1]!.message).toBe(
      `export record 1 this input delivered, in an export message (a data set held for its template from ${first}, at byte 82 of it): start ${FAR} ms, end ${T0} ms; expected times within 8640000000000000 ms of 1970 (the dates a report holds, to the year 275760); skipped`,
    );
  });

  it('NetFlow v5 from an exporter whose clock was never set: its records are flows dated before 1970, not dropped', async () => {
    // RFC-less but fixed layout (Cisco): a 24-byte header, then 48-byte records; times are the
    // exporter's uptime (ms) at the flow's first and last packet, unix_secs 0 (clock not set).
    const header = [...u16(5), ...u16(1), ...u32(10_000_000), ...u32(0), ...u32(0), ...u32(0), 0, 0, ...u16(0)];
    const record = [100, 64, 0, 20, 198, 51, 100, 7, 0, 0, 0, 0, ...u16(1), ...u16(2), ...u32(40), ...u32(4000), ...u32(9_000_000), ...u32(9_500_000), ...u16(40001), ...u16(3333), 0, 0x18, 6, 0, ...u16(0), ...u16(0), 24, 24, ...u16(0)];
    const frame = ethernet(ipv4('192.0.2.1', '192.0.2.9', 17, udp(9995, 2055, Uint8Array.from([...header, ...record]))));
    const path = join(tmp, 'v5-no-clock.pcap');
    writeFileSync(path, pcapFile(LinkType.ETHERNET, [{ ts: T0, data: frame }]));
    const { input, db } = await scanAndRead(path, ['--keep-flows', 'all']);
    expect(input.anomalies).toEqual({});
    expect(input.records).toBe(1);
    const d = new Database(db, { readonly: true });
    // Export time 0 less the uptime between each packet and the export.
    expect(d.prepare("SELECT first_seen, last_seen FROM flows WHERE source = 'export'").all()).toEqual([{ first_seen: -1_000_000, last_seen: -500_000 }]);
    d.close();
  });

  it.skipIf(missingNfdump() !== null)('nfcapd file: a record nfcapd stored with such a time is a bad record of its block', async () => {
    const dir = mkdtempSync(join(tmp, 'nfcapd-'));
    const nf = await startNfcapd(dir, []);
    await sendPaced(nf.port, [ipfixMessage([GOOD, [BigInt(FAR), BigInt(FAR) + 1000n]])]);
    await nf.stop();
    const [file] = nfcapdFiles(dir);
    expect(file, 'nfcapd wrote a file').toBeDefined();
    const { input, db } = await scanAndRead(file!, ['--keep-flows', 'all']);
    expect(input.anomalies).toEqual({ 'nfcapd.bad_record': 1 });
    const [s] = samples(db);
    expect(s!.message).toMatch(/^record \d+ of \d+ at block byte \d+: start 10000000000000000 ms or end 10000000000001000 ms outside the dates a report holds \(expected within 8640000000000000 ms of 1970\); skipped$/);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT first_seen, last_seen FROM flows').all()).toEqual([{ first_seen: T0, last_seen: T0 + 300_000 }]);
    d.close();
  }, 60_000);
});
