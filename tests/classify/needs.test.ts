/**
 * Matcher selection by flow traits, on flows read from real captures: export records (no payload)
 * never reach a payload matcher, a plaintext pool session reaches the message matchers, and the
 * evidence of an export flow is exactly what its counters and endpoints give.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/classify/classify.js';
import { CORPUS, CORPUS_SKIP_REASON, FIXTURES, HAVE_CORPUS, projectRules, scanFiles } from '../helpers.js';

const PAYLOAD_MATCHERS = ['socks-streams', 'json-signatures', 'http-signatures', 'message-sides', 'handshake-signatures', 'tls-sni', 'socks-name', 'http-host', 'dns-query'];

describe('matcher selection', () => {
  if (!HAVE_CORPUS) console.warn(CORPUS_SKIP_REASON);

  it.skipIf(!HAVE_CORPUS)('export records select no payload matcher, and their evidence is what counters and endpoints give', async () => {
    const rules = projectRules();
    const { flows } = await scanFiles([join(CORPUS, 'netflow/generated/ipfix/nesfit__cgminer.s2.export.pcap')], {}, rules);
    const exported = flows.filter((x) => x.flow.source === 'export');
    expect(exported.length).toBeGreaterThan(100);
    const c = new Classifier(rules);
    let listed = 0;
    for (const { flow, verdict } of exported) {
      expect(flow.payloadC2S.length + flow.payloadS2C.length).toBe(0);
      const selected = c.matchersFor(flow);
      expect(selected.filter((m) => PAYLOAD_MATCHERS.includes(m))).toEqual([]);
      expect(selected).toContain('listed-address');
      const established = flow.packetsC2S > 1 && flow.packetsS2C > 1;
      expect(c.flowEvidence(flow, true, established).evidence).toEqual(verdict.evidence);
      if (verdict.evidence.some((e) => e.kind === 'endpoint' || e.kind === 'endpoint-port')) listed++;
    }
    // The capture's pool is listed: the address matcher ran and found it.
    expect(listed).toBeGreaterThan(0);
  });

  it('a plaintext Stratum session selects the message matchers; the protocol it speaks keeps the behaviour score out', async () => {
    const rules = projectRules();
    const { flows } = await scanFiles([join(FIXTURES, 'rules/ethereumstratum-v1.pcap')], {}, rules);
    const tcp = flows.filter((x) => x.flow.transport === 'tcp' && x.flow.payloadC2S.length > 0 && x.flow.payloadS2C.length > 0);
    expect(tcp.length).toBeGreaterThan(0);
    const c = new Classifier(rules);
    for (const { flow, verdict } of tcp) {
      expect(c.matchersFor(flow)).toEqual(expect.arrayContaining(['socks-streams', 'json-signatures', 'http-signatures', 'message-sides', 'tls-sni', 'http-host']));
      expect(c.matchersFor(flow)).not.toContain('dns-query');
      expect(verdict.evidence.some((e) => e.kind === 'payload')).toBe(true);
      expect(verdict.evidence.some((e) => e.family === 'behaviour')).toBe(false);
    }
  });

  it('a SOCKS5 client gets the SOCKS name matcher only once its preamble is found', async () => {
    const rules = projectRules();
    const { flows } = await scanFiles([join(FIXTURES, 'names/socks5-pool.pcap')], {}, rules);
    expect(flows).toHaveLength(1);
    const c = new Classifier(rules);
    // Before any matcher runs, no flow has the SOCKS trait; the CONNECT's name shows it was found.
    expect(c.matchersFor(flows[0]!.flow)).not.toContain('socks-name');
    expect(flows[0]!.verdict.evidence.some((e) => e.ruleId === 'MW-NAME-SOCKS')).toBe(true);
  });
});
