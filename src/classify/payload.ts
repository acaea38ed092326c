/**
 * Message matchers: JSON-RPC lines and HTTP heads tested against signature conditions.
 * Matching states facts (evidence); it does not decide what they mean (see policy.ts).
 */
import type { MessageMatch, PayloadRule, ValueType } from '../rules/schema.js';
import type { Evidence, Side } from '../types.js';
import { getPath, type JsonMessage } from './messages.js';

const HEX_RE = /^(0x)?[0-9a-fA-F]+$/;
const EXCERPT_MAX = 200;

function typeOk(v: unknown, t: ValueType): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'hex':
      return typeof v === 'string' && v.length > 0 && v.length <= 4096 && HEX_RE.test(v);
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
  }
}

/** Does one message satisfy every condition? */
export function matches(m: MessageMatch, msg: Record<string, unknown>): boolean {
  if (m.methods) {
    const method = msg.method;
    if (typeof method !== 'string' || !m.methods.includes(method)) return false;
  }
  for (const p of m.has) if (getPath(msg, p) === undefined) return false;
  for (const t of m.types) if (!typeOk(getPath(msg, t.path), t.type)) return false;
  for (const e of m.equals) if (!e.values.includes(getPath(msg, e.path) as string)) return false;
  for (const l of m.lengths) {
    const v = getPath(msg, l.path);
    if ((typeof v !== 'string' && !Array.isArray(v)) || !l.values.includes(v.length)) return false;
  }
  for (const pr of m.prefix) {
    const v = getPath(msg, pr.path);
    if (typeof v !== 'string') return false;
    const low = v.toLowerCase();
    if (!pr.values.some((x) => low.startsWith(x))) return false;
  }
  return true;
}

/** One rule hit: the evidence plus the message it came from (for extraction). */
export interface PayloadHit {
  rule: PayloadRule;
  evidence: Evidence;
  message: Record<string, unknown>;
}

/** Run the rules of one kind (`json` or `http`) over the messages one direction carried. */
export function matchMessages(rules: readonly PayloadRule[], on: 'json' | 'http', messages: readonly JsonMessage[], direction: Side, time: number): PayloadHit[] {
  const hits: PayloadHit[] = [];
  for (const msg of messages) {
    for (const rule of rules) {
      if (rule.on !== on || !matches(rule.match, msg.value)) continue;
      hits.push({
        rule,
        message: msg.value,
        evidence: {
          ruleId: rule.id,
          rev: rule.rev,
          kind: on === 'json' ? 'payload' : 'http',
          side: direction,
          family: rule.family,
          matched: rule.name,
          excerpt: printable(msg.text, EXCERPT_MAX),
          offset: msg.offset,
          time,
        },
      });
      // Every rule that matches states its fact: an EthereumStratum subscribe is also a Stratum
      // subscribe, and one HTTP head can carry X-Mining-Extensions and a miner User-Agent.
    }
  }
  return hits;
}

/** Bounded, single-line, printable excerpt. */
export function printable(s: string, max: number): string {
  const t = s.replace(/[\x00-\x1f\x7f]/g, '.');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
