/**
 * Fixtures are the specification: every generated capture in fixtures/ is scanned on its own and
 * must yield exactly what fixtures/expected.json says (packets, TCP/UDP packets, flows, mining
 * verdicts with family and confidence, anomaly codes, or the input error).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, scanFiles } from './helpers.js';

interface Expected {
  format: string;
  packets: number;
  ipTransportPackets: number;
  flows: number;
  mining: Array<{ client: string; server: string; serverPort: number; family: string; confidence: string }>;
  anomalies?: string[];
  error?: string;
}

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Expected>;

describe('every fixture yields what expected.json says', () => {
  it('lists fixtures', () => expect(Object.keys(expected).length).toBeGreaterThan(30));

  it.each(Object.entries(expected))('%s', async (rel, exp) => {
    const { summary, flows } = await scanFiles([join(FIXTURES, rel)]);
    const input = summary.inputs[0]!;
    if (exp.error) {
      expect(input.error).toMatch(new RegExp(exp.error, 'i'));
      expect(input.error).toContain(rel.split('/').pop());
      expect(flows).toHaveLength(0);
      return;
    }
    expect(input.error).toBeNull();
    expect(input.format).toBe(exp.format);
    expect(input.packets).toBe(exp.packets);
    expect(input.transportPackets).toBe(exp.ipTransportPackets);
    expect(flows).toHaveLength(exp.flows);
    expect(flows.reduce((n, f) => n + f.flow.packetsC2S + f.flow.packetsS2C, 0)).toBe(exp.ipTransportPackets);
    const mining = flows
      .filter((f) => f.verdict.label === 'mining')
      .map((f) => ({
        client: f.flow.client,
        server: f.flow.server,
        serverPort: f.flow.serverPort,
        family: [...new Set(f.verdict.evidence.filter((e) => e.kind === 'payload' || e.kind === 'http').map((e) => e.family))].join('+'),
        confidence: f.verdict.confidence,
      }));
    expect(mining.sort((a, b) => a.client.localeCompare(b.client))).toEqual([...exp.mining].sort((a, b) => a.client.localeCompare(b.client)));
    expect(Object.keys(input.anomalies).sort()).toEqual([...(exp.anomalies ?? [])].sort());
  });
});
