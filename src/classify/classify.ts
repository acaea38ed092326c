/**
 * Classifies one finished flow: payload rules produce evidence, the policy turns evidence into a
 * label and a confidence, and a reason line says why in words. A flow whose orientation was only
 * guessed from ports is turned round when its messages say the guess was wrong (a pool answering
 * from a high port, a session caught mid-way).
 */
import type { RuleSet } from '../rules/schema.js';
import type { Attributes, FlowRecord, Verdict } from '../types.js';
import { jsonMessages } from './messages.js';
import { matchDirection, printable, type PayloadHit } from './payload.js';
import { decide } from './policy.js';

const MAX_WORKERS = 8;
const WORKER_MAX_CHARS = 256;
const AGENT_MAX_CHARS = 128;

/** Swap client and server in place (used when the messages prove the port guess wrong). */
export function reverseFlow(f: FlowRecord): void {
  [f.client, f.server] = [f.server, f.client];
  [f.clientPort, f.serverPort] = [f.serverPort, f.clientPort];
  [f.packetsC2S, f.packetsS2C] = [f.packetsS2C, f.packetsC2S];
  [f.bytesC2S, f.bytesS2C] = [f.bytesS2C, f.bytesC2S];
  [f.tcpFlagsC2S, f.tcpFlagsS2C] = [f.tcpFlagsS2C, f.tcpFlagsC2S];
  [f.payloadC2S, f.payloadS2C] = [f.payloadS2C, f.payloadC2S];
  [f.payloadTimeC2S, f.payloadTimeS2C] = [f.payloadTimeS2C, f.payloadTimeC2S];
  f.orientation = 'payload';
}

/** Classify a flow. May re-orient it (see {@link reverseFlow}). */
export function classifyFlow(flow: FlowRecord, rules: RuleSet): Verdict {
  let hitsC: PayloadHit[] = [];
  let hitsS: PayloadHit[] = [];
  if (flow.payloadC2S.length || flow.payloadS2C.length) {
    hitsC = matchDirection(rules.payload, jsonMessages(flow.payloadC2S), 'client', flow.payloadTimeC2S);
    hitsS = matchDirection(rules.payload, jsonMessages(flow.payloadS2C), 'server', flow.payloadTimeS2C);
    if (flow.orientation === 'port') {
      const agree = hitsC.filter((h) => h.rule.side === 'client').length + hitsS.filter((h) => h.rule.side === 'server').length;
      const disagree = hitsC.filter((h) => h.rule.side === 'server').length + hitsS.filter((h) => h.rule.side === 'client').length;
      if (disagree > agree) {
        reverseFlow(flow);
        [hitsC, hitsS] = [hitsS, hitsC];
        for (const h of hitsC) h.evidence.side = 'client';
        for (const h of hitsS) h.evidence.side = 'server';
      }
    }
    // A message only counts from the side that sends it in its protocol.
    hitsC = hitsC.filter((h) => h.rule.side === 'client');
    hitsS = hitsS.filter((h) => h.rule.side === 'server');
  }
  const hits = [...hitsC, ...hitsS];
  const { label, confidence } = decide(rules.policy, hitsC.length > 0, hitsS.length > 0);
  return {
    label,
    confidence,
    evidence: hits.map((h) => h.evidence),
    attributes: attributes(hits),
    reason: reason(flow, hitsC, hitsS, label),
  };
}

function attributes(hits: readonly PayloadHit[]): Attributes {
  let coin: string | null = null;
  let agent: string | null = null;
  const workers: string[] = [];
  for (const h of hits) {
    if (!coin && h.rule.coin) coin = h.rule.coin;
    const { agent: ap, worker: wp } = h.rule.extract;
    if (!agent && ap) {
      const a = pathString(h.message, ap);
      if (a) agent = printable(a, AGENT_MAX_CHARS);
    }
    if (wp && workers.length < MAX_WORKERS) {
      const w = pathString(h.message, wp);
      if (w) {
        const t = printable(w, WORKER_MAX_CHARS);
        if (!workers.includes(t)) workers.push(t);
      }
    }
  }
  return { coin, agent, workers };
}

function pathString(msg: Record<string, unknown>, path: readonly string[]): string | null {
  let cur: unknown = msg;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return null;
    cur = Array.isArray(cur) ? cur[Number(seg)] : (cur as Record<string, unknown>)[seg];
  }
  return typeof cur === 'string' && cur.length > 0 ? cur : null;
}

function distinct(hits: readonly PayloadHit[]): string {
  return [...new Set(hits.map((h) => h.rule.name))].join(', ');
}

function reason(flow: FlowRecord, c: readonly PayloadHit[], s: readonly PayloadHit[], label: string): string {
  if (!c.length && !s.length) return 'no mining evidence';
  const fams = [...new Set([...c, ...s].map((h) => h.rule.family))].join('+');
  const parts: string[] = [];
  if (c.length) parts.push(`client sent ${distinct(c)}`);
  if (s.length) parts.push(`server sent ${distinct(s)}`);
  const how = c.length && s.length ? 'confirmed both ways' : 'seen one way';
  return `${label}: ${fams} ${how} with ${flow.server}:${flow.serverPort} — ${parts.join('; ')}`;
}
