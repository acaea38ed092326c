/**
 * An IPv6 endpoint is written `[addr]:port` wherever a verdict, report column or explain line names
 * one: unbracketed, `2001:db8::3333:8008` reads as an address with no port. The demo capture holds
 * an ethproxy flow from fd00::1:10 port 50110 to 2001:db8::3333 port 8008.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeEntry, flowName } from '../../src/classify/evidence.js';
import { endpointText } from '../../src/ip.js';
import type { EndpointEntry } from '../../src/rules/schema.js';
import type { FlowRecord } from '../../src/types.js';
import { FIXTURES, runMain } from '../helpers.js';

describe('endpointText', () => {
  it('brackets IPv6 addresses and leaves IPv4 addresses and names as they are', () => {
    expect(endpointText('2001:db8::3333', 8008)).toBe('[2001:db8::3333]:8008');
    expect(endpointText('fd00::1:10', 50110)).toBe('[fd00::1:10]:50110');
    expect(endpointText('::1', 0)).toBe('[::1]:0');
    expect(endpointText('203.0.113.10', 3333)).toBe('203.0.113.10:3333');
    expect(endpointText('pool.example', 4444)).toBe('pool.example:4444');
  });

  it('names both ends of an IPv6 flow with brackets in decode-error text', () => {
    const f = { transport: 'tcp', client: 'fd00::1:10', clientPort: 50110, server: '2001:db8::3333', serverPort: 8008, firstSeen: Date.parse('2023-11-14T22:13:22Z') } as FlowRecord;
    expect(flowName(f)).toBe('tcp [fd00::1:10]:50110 → [2001:db8::3333]:8008, first packet 2023-11-14T22:13:22.000Z');
  });

  it('names an IPv6 ip:port endpoint entry with brackets', () => {
    const e = { kind: 'pool', pool: 'example', coins: ['ETH'], match: { ip: '2001:db8::3333', port: 8008 } } as unknown as EndpointEntry;
    expect(describeEntry(e)).toBe('pool example ETH; ip [2001:db8::3333]:8008');
    expect(describeEntry({ ...e, match: { ip: '2001:db8::3333', port: null } })).toBe('pool example ETH; ip 2001:db8::3333');
  });
});

describe('explain and watchlist on the demo report', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'minerwatch-v6ep-')), 'demo.sqlite');
  beforeAll(async () => {
    expect((await runMain(['scan', join(FIXTURES, 'demo'), '--db', db])).code).toBe(0);
  });

  it('explain writes the flow line, reason, rollup and attribution with bracketed IPv6 endpoints', async () => {
    const r = await runMain(['explain', 'fd00::1:10', '--db', db]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Flow \d+: \[fd00::1:10\]:50110 → \[2001:db8::3333\]:8008 tcp,/m);
    expect(r.out).toMatch(/^ {2}reason: mining \(two-sided protocol\): ethproxy with \[2001:db8::3333\]:8008 — /m);
    expect(r.out).toMatch(/^ {2}rollup: .*strongest: mining \(two-sided protocol\): ethproxy with \[2001:db8::3333\]:8008 — /m);
    expect(r.out).toMatch(/^ {2}attribution: client \[fd00::1:10\]:50110 at /m);
    // No endpoint anywhere is the bare address run into its port.
    expect(r.out).not.toMatch(/2001:db8::3333:8008|fd00::1:10:50110/);
  });

  it('the watch-list evidence and servers agree on the bracketed form', async () => {
    const r = await runMain(['watchlist', '--db', db, '--format', 'json']);
    expect(r.code).toBe(0);
    const rows = r.out.trim().startsWith('[') ? (JSON.parse(r.out) as Record<string, unknown>[]) : r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const carol = rows.find((w) => w.subscriber === 'fd00::1:10')!;
    expect(carol.servers).toEqual(['[2001:db8::3333]:8008']);
    expect(String(carol.evidence)).toContain('ethproxy with [2001:db8::3333]:8008 — ');
    expect(String(carol.evidence)).not.toContain('2001:db8::3333:8008');
    // IPv4 endpoints are unchanged.
    expect(rows.map((w) => String(w.evidence)).join('\n')).toMatch(/with 203\.0\.113\.10:3333 — /);
  });
});
