/** Carrier-grade NAT mapping: port blocks over time, sessions, ambiguity, deterministic NAT, and a scan using it. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { NatMapper, parseDeterministic, parseNatLog } from '../../src/aggregate/nat.js';
import { main } from '../../src/cli/main.js';
import { FIXTURES } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-nat-'));
const T = (s: string): number => Date.parse(`${s}Z`);

const LOG = `start,end,private_ip,public_ip,port_start,port_end
2026-11-01T00:00:00,2026-11-01T12:00:00,100.64.0.5,203.0.113.1,1024,2047
2026-11-01T12:00:00,,100.64.0.9,203.0.113.1,1024,2047
2026-11-01T00:00:00,,100.64.0.6,203.0.113.1,2048,3071
2026-11-01T06:00:00,2026-11-01T07:00:00,100.64.0.7,203.0.113.1,3100,3100
2026-11-01T06:30:00,2026-11-01T08:00:00,100.64.0.8,203.0.113.1,3100,3100
`;

describe('NAT logs', () => {
  const { records, errors } = parseNatLog(LOG);
  const nat = new NatMapper();
  nat.addRecords(records);

  it('maps a public address and port at a time to the private address of that time', () => {
    expect(errors).toEqual([]);
    expect(nat.map('203.0.113.1', 1500, T('2026-11-01T03:00:00'))).toMatchObject({ status: 'mapped', privateIp: '100.64.0.5' });
    // The same block was reassigned at noon.
    expect(nat.map('203.0.113.1', 1500, T('2026-11-01T13:00:00'))).toMatchObject({ status: 'mapped', privateIp: '100.64.0.9' });
    expect(nat.map('203.0.113.1', 2048, T('2026-11-02T00:00:00'))).toMatchObject({ status: 'mapped', privateIp: '100.64.0.6' });
    expect(nat.map('203.0.113.1', 3100, T('2026-11-01T06:10:00'))).toMatchObject({ status: 'mapped', privateIp: '100.64.0.7' });
  });

  it('says missing or ambiguous instead of guessing', () => {
    expect(nat.map('203.0.113.1', 4000, T('2026-11-01T03:00:00'))).toMatchObject({ status: 'missing' });
    expect(nat.map('203.0.113.1', 3100, T('2026-11-01T09:00:00'))).toMatchObject({ status: 'missing' });
    const amb = nat.map('203.0.113.1', 3100, T('2026-11-01T06:45:00'));
    expect(amb).toMatchObject({ status: 'ambiguous' });
    expect(amb!.how).toMatch(/2 NAT records .* \(lines [56], [56]\)/);
    expect(nat.map('198.51.100.1', 1500, T('2026-11-01T03:00:00'))).toBeNull();
  });

  it('reports bad lines with their numbers', () => {
    const bad = parseNatLog('start,end,private_ip,public_ip,port_start,port_end\nyesterday,,10.0.0.1,203.0.113.1,1,2\n2026-11-01T00:00:00,,10.0.0.1,not-ip,1,2\n2026-11-01T00:00:00,,10.0.0.1,203.0.113.1,9,2\n');
    expect(bad.errors.map((e) => e.line)).toEqual([2, 3, 4]);
  });
});

describe('deterministic NAT (RFC 7422)', () => {
  it('refuses a row with fewer or more fields than the header (its columns would shift)', () => {
    // Line 2 lacks its end (an open assignment is written with an empty end, not without one): its
    // private address would be read as the end time, its ports shifted; line 3 has one field too many.
    const r = parseNatLog('start,end,private_ip,public_ip,port_start,port_end\n2026-11-01T00:00:00,10.0.0.1,203.0.113.1,1024,2047\n2026-11-01T00:00:00,,10.0.0.2,203.0.113.1,2048,3071,x\n2026-11-01T00:00:00,,10.0.0.3,203.0.113.1,3072,4095\n');
    expect(r.errors).toEqual([
      { line: 2, message: 'expected 6 fields like the header, got 5' },
      { line: 3, message: 'expected 6 fields like the header, got 7' },
    ]);
    expect(r.records.map((x) => x.privateIp)).toEqual(['10.0.0.3']);
  });

  it('maps port blocks back to private addresses with no logs', () => {
    const f = parseDeterministic('100.64.0.0/24=203.0.113.0/29:1024-65535/1024');
    expect(typeof f).toBe('object');
    const nat = new NatMapper();
    nat.addFormula(f as Exclude<typeof f, string>);
    // 63 blocks of 1024 ports per public address: private .0-.62 on 203.0.113.0, .63- on .1.
    expect(nat.map('203.0.113.0', 1024, 0)).toMatchObject({ status: 'mapped', privateIp: '100.64.0.0' });
    expect(nat.map('203.0.113.0', 2048 + 5, 0)).toMatchObject({ status: 'mapped', privateIp: '100.64.0.1' });
    expect(nat.map('203.0.113.1', 1024, 0)).toMatchObject({ status: 'mapped', privateIp: '100.64.0.63' });
    expect(nat.map('203.0.113.0', 80, 0)).toMatchObject({ status: 'missing' });
    expect(parseDeterministic('100.64.0.0/16=203.0.113.0/30:1024-65535/1024')).toMatch(/holds only/);
  });
});

describe('scan with --nat-log', () => {
  it('the subscriber is the private address; a flow with no NAT record stays public and says so', async () => {
    // Treat the fixture's client 10.0.0.70 as a NAT public address for this test.
    const log = join(tmp, 'nat.csv');
    writeFileSync(log, 'start,end,private_ip,public_ip,port_start,port_end\n2023-11-14T00:00:00,2023-11-15T00:00:00,192.168.50.7,10.0.0.70,40000,41999\n2023-11-14T00:00:00,2023-11-15T00:00:00,192.168.50.8,10.0.0.80,50000,50999\n');
    const db = join(tmp, 'nat.sqlite');
    let err = '';
    const code = await main(['scan', join(FIXTURES, 'names/pool-sni.pcap'), join(FIXTURES, 'names/pool-dns.pcap'), '--db', db, '--nat-log', log], { out: () => undefined, err: (s) => (err += s) });
    expect(err).toBe('');
    expect(code).toBe(0);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare("SELECT client, client_port, subscriber, nat FROM flows WHERE label = 'mining' ORDER BY client").all() as Array<Record<string, string>>;
    d.close();
    expect(rows[0]).toMatchObject({ client: '10.0.0.70', subscriber: '192.168.50.7' });
    expect(rows[0]!.nat).toMatch(/^mapped: NAT log line 2: 192\.168\.50\.7 → 10\.0\.0\.70:40000-41999$/);
    expect(rows[1]).toMatchObject({ client: '10.0.0.80', subscriber: '10.0.0.80' });
    expect(rows[1]!.nat).toMatch(/^missing: no NAT record for 10\.0\.0\.80:41080/);
  });

  it('a bad NAT log stops the scan before anything is written', async () => {
    const log = join(tmp, 'bad-nat.csv');
    writeFileSync(log, 'start,end,private_ip,public_ip,port_start,port_end\n2023-11-14T00:00:00,,192.168.50.7,10.0.0.70,5,1\n');
    let err = '';
    const code = await main(['scan', join(FIXTURES, 'names/pool-sni.pcap'), '--db', join(tmp, 'never.sqlite'), '--nat-log', log], { out: () => undefined, err: (s) => (err += s) });
    expect(code).toBe(2);
    expect(err).toMatch(/NAT mapping not applied \(1 problem\(s\)\):\n {2}.*bad-nat\.csv:2: expected port_start <= port_end/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(tmp, 'never.sqlite'))).toBe(false);
  });
});
