/** Evidence from names and peers, through the real pipeline on generated captures. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FIXTURES, scanFiles } from '../helpers.js';

describe('pool names', () => {
  it('TLS SNI naming a listed pool makes the flow mining, with the list entry as provenance', async () => {
    const { flows } = await scanFiles([join(FIXTURES, 'names/pool-sni.pcap')]);
    const f = flows.find((x) => x.flow.serverPort === 14433)!;
    expect(f.verdict.label).toBe('mining');
    const sni = f.verdict.evidence.find((e) => e.kind === 'sni')!;
    expect(sni).toMatchObject({ ruleId: 'MW-NAME-SNI', rev: 1, side: 'client' });
    expect(sni.matched).toMatch(/^xmr-eu1\.nanopool\.org \(pool nanopool/);
    expect(sni.excerpt).toMatch(/endpoints\/pools\.yaml:\d+; source /);
    expect(f.verdict.attributes).toMatchObject({ serverName: 'xmr-eu1.nanopool.org', pool: 'nanopool' });
  });

  it('a DNS answer in the same data binds the pool name to the address of a later TLS flow without SNI', async () => {
    const { flows, summary } = await scanFiles([join(FIXTURES, 'names/pool-dns.pcap')]);
    expect(summary.dnsBindings).toBe(1);
    const tls = flows.find((x) => x.flow.transport === 'tcp')!;
    expect(tls.verdict.label).toBe('mining');
    const dns = tls.verdict.evidence.find((e) => e.kind === 'dns')!;
    expect(dns.matched).toMatch(/^203\.0\.113\.77 resolved from gulf\.moneroocean\.stream \(pool MoneroOcean/);
    expect(dns.time).toBeLessThan(tls.flow.firstSeen);
    const query = flows.find((x) => x.flow.transport === 'udp')!;
    expect(query.verdict).toMatchObject({ label: 'suspect', confidence: 'medium', outcome: 'pool name looked up' });
  });

  it('a login glued behind a SOCKS5 CONNECT is parsed; the CONNECT names the pool', async () => {
    const { flows } = await scanFiles([join(FIXTURES, 'names/socks5-pool.pcap')]);
    expect(flows).toHaveLength(1);
    const v = flows[0]!.verdict;
    expect(v).toMatchObject({ label: 'mining', confidence: 'high', outcome: 'two-sided protocol' });
    expect(v.evidence.some((e) => e.kind === 'payload' && e.side === 'client' && e.matched === 'login')).toBe(true);
    expect(v.evidence.some((e) => e.kind === 'payload' && e.side === 'server')).toBe(true);
    expect(v.evidence.find((e) => e.ruleId === 'MW-NAME-SOCKS')!.matched).toMatch(/^SOCKS5 CONNECT xmr\.pool\.minergate\.com:45700 \(pool MinerGate/);
    expect(v.attributes).toMatchObject({ serverName: 'xmr.pool.minergate.com', agent: expect.stringMatching(/^XMRig\/6\.21\.0/), coin: 'XMR' });
  });

  it('a SOCKS5 proxy carrying an ordinary web request is no evidence', async () => {
    const { flows } = await scanFiles([join(FIXTURES, 'names/socks5-web.pcap')]);
    expect(flows.map((f) => [f.verdict.label, f.verdict.attributes.serverName])).toEqual([['none', 'www.example.com']]);
  });

  it('an SNI naming an ordinary site is no evidence', async () => {
    const { flows } = await scanFiles([join(FIXTURES, 'names/benign-sni.pcap')]);
    expect(flows.every((f) => f.verdict.label === 'none')).toBe(true);
    expect(flows[0]!.verdict.attributes.serverName).toBe('www.example.com');
  });
});

describe('peer evidence', () => {
  it('after the scan, the subscriber\'s TLS flow to a proven pool server becomes mining (medium) with a peer fact', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'minerwatch-peer-')), 'peer.sqlite');
    let out = '';
    const code = await main(['scan', join(FIXTURES, 'names/peer.pcap'), '--db', db, '--json'], { out: (s) => (out += s), err: () => undefined });
    expect(code).toBe(0);
    expect(JSON.parse(out).peerChanges).toBe(1);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT id, server_port, label, confidence, outcome, rules FROM flows ORDER BY server_port').all() as Array<Record<string, unknown>>;
    const peer = d.prepare("SELECT e.* FROM evidence e JOIN flows f ON f.id = e.flow_id WHERE e.kind = 'peer'").all() as Array<Record<string, unknown>>;
    const subs = d.prepare('SELECT subscriber, mining_flows FROM subscribers').all();
    d.close();
    expect(rows.map((r) => [r.server_port, r.label, r.confidence])).toEqual([
      [443, 'mining', 'medium'],
      [3333, 'mining', 'high'],
    ]);
    expect(rows[0]!.outcome).toBe('peer of a proven pool session');
    expect(String(rows[0]!.rules)).toContain('MW-PEER');
    expect(peer).toHaveLength(1);
    expect(peer[0]).toMatchObject({ rule_id: 'MW-PEER', rev: 1, matched: `same subscriber and server as proven flow #${rows[1]!.id}` });
    expect(subs).toEqual([{ subscriber: '10.0.0.90', mining_flows: 2 }]);
  });
});
