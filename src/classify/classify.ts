/**
 * Classifies one finished flow. Matchers state facts — protocol messages (JSON-RPC, HTTP heads),
 * handshake fingerprints, server names (TLS SNI, HTTP Host, DNS answers seen in the same data),
 * listed addresses, mining ports — and the policy turns the classes of those facts into a label and
 * a confidence. Each matcher (src/classify/matchers/) declares the traits a flow needs for it to
 * apply ({@link NEED}); a flow runs only the matchers it selects. A flow whose orientation was only
 * guessed from ports is turned round when its messages show the guess was wrong (a pool answering
 * from a high port, a session caught mid-way).
 */
import { EndpointIndex } from '../rules/endpoints.js';
import type { EndpointEntry, RuleSet } from '../rules/schema.js';
import type { ExportFlowView } from '../flow/table.js';
import { servicePortSet } from '../flow/orient.js';
import { endpointText } from '../ip.js';
import type { Evidence, FlowRecord, Verdict } from '../types.js';
import { behaviourFacts, behaviourReaches } from './behaviour.js';
import { FOUND, NEED, factTraits, findingsOf, flowTraits, RETRAIT, selects, type DecodeErrorSink, type FlowEvidenceInput, type FlowFacts, type Matcher, type MatchEnv } from './matcher.js';
import { classifyMatchers, flowMatchers } from './matchers/index.js';
import type { PayloadHit } from './payload.js';
import { PassiveDns } from './pdns.js';
import { classesOf, decide, NO_EVIDENCE_DECISION, NO_EVIDENCE_REASON } from './policy.js';
import type { ResolverBindings } from './resolverlog.js';

export { BUILTIN } from './evidence.js';
export { NEED, type DecodeErrorSink, type FlowEvidenceInput } from './matcher.js';
export { reverseFlow } from './reverse.js';

export class Classifier implements MatchEnv {
  readonly index: EndpointIndex;
  readonly pdns: PassiveDns;
  /** The policy's pool ports as a bitmap, for orienting flows whose handshake was not seen. */
  readonly servicePorts: Uint8Array;
  /** Resolver-log bindings (`--dns-log`), when given. */
  resolver: ResolverBindings | null = null;
  /** Every matcher the rules have data for, in evidence order. */
  private readonly matchers: readonly Matcher[];
  /** The matchers of counters and endpoints alone, for {@link flowEvidence}. */
  private readonly factMatchers: ReadonlyArray<Matcher<FlowFacts>>;

  /** @param onDecodeError told of every payload that looked like TLS or DNS and did not decode (otherwise they are skipped uncounted). */
  constructor(
    readonly rules: RuleSet,
    readonly onDecodeError: DecodeErrorSink | null = null,
  ) {
    this.index = new EndpointIndex(rules.endpoints);
    this.pdns = new PassiveDns(this.index);
    this.servicePorts = servicePortSet(rules.policy.miningPorts);
    this.matchers = classifyMatchers(rules);
    this.factMatchers = flowMatchers(rules);
  }

  /** Classify a flow. May re-orient it (see {@link reverseFlow}). */
  classify(flow: FlowRecord): Verdict {
    const ctx = findingsOf(flow);
    let traits = flowTraits(ctx, this);
    // An index loop: the flows still open at an input's end are classified in code V8 may have
    // thrown away (a deoptimisation), where for-of makes an iterator result per matcher.
    const ms = this.matchers;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      if (!selects(m, traits)) continue;
      const found = m.run(ctx, this, traits);
      if (found & RETRAIT) traits = flowTraits(ctx, this) | (traits & FOUND);
      traits |= found & FOUND;
    }
    const { attrs, evidence, hitsC, hitsS } = ctx;
    if (ctx.loggedName) attrs.serverName ??= ctx.loggedName;
    const poolEntry = ctx.poolEntry;
    if (poolEntry) {
      attrs.pool = poolEntry.pool === 'unknown' ? null : poolEntry.pool;
      if (!attrs.coin && poolEntry.coins.length === 1) attrs.coin = poolEntry.coins[0]!;
    }
    // Most flows have no evidence: their decision is always the same, with no set of classes made.
    const d = evidence.length === 0 ? NO_EVIDENCE_DECISION : decide(this.rules.policy, classesOf(evidence));
    return {
      label: d.label,
      confidence: d.confidence,
      evidence,
      attributes: attrs,
      outcome: d.outcome?.name ?? null,
      reason: reason(flow, hitsC, hitsS, evidence, d.label, d.outcome?.name ?? null),
    };
  }

  /**
   * Names of the matchers a flow selects by its own traits, in evidence order: what
   * {@link classify} starts with (a matcher's findings, such as a protocol spoken, can drop later ones).
   */
  matchersFor(flow: FlowRecord): string[] {
    const traits = flowTraits(findingsOf(flow), this);
    return this.matchers.filter((m) => selects(m, traits)).map((m) => m.name);
  }

  /**
   * The evidence a flow's counters and endpoints give, without its payload: a resolver-log lookup
   * that bound the server to a pool name, a listed address weighed by its age, a pool port, and the
   * behaviour score (only where no protocol spoke). Used on every flow, and again when a report is
   * re-decided from its stored flows with new intelligence. `listed`: the server counts as listed
   * before the matchers run (a listing a re-decision keeps from an earlier `--intel`, which the
   * behaviour score weighs as it weighs one found now).
   */
  flowEvidence(flow: FlowEvidenceInput, noProtocol: boolean, established: boolean, listed = false): { evidence: Evidence[]; poolEntry: EndpointEntry | null; serverName: string | null } {
    const ctx: FlowFacts = { flow, evidence: [], poolEntry: null, loggedName: null, listed };
    const traits = factTraits(flow, this, established) | (noProtocol ? 0 : NEED.PROTOCOL);
    for (const m of this.factMatchers) if (selects(m, traits)) m.run(ctx, this, traits);
    return { evidence: ctx.evidence, poolEntry: ctx.poolEntry, serverName: ctx.loggedName };
  }

  /**
   * For an IPv4 export flow, before its record is built: true when no evidence could apply — the
   * server address is not DNS-bound to a pool, not listed, not a pool port, and the behaviour score
   * stays below `weak_at`. Such a flow would be classified `none`; skipping it changes no verdict.
   */
  exportFlowIsQuiet(v: ExportFlowView): boolean {
    if (this.rules.policy.miningPorts.has(v.serverPort)) return false;
    const ip = v.serverIp4;
    const bound = this.pdns.size > 0;
    const logged = this.resolver !== null && this.resolver.size > 0;
    // The dotted address is built only when a binding table could hold it.
    const dotted = bound || logged ? `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}` : '';
    if (bound && this.pdns.lookup(dotted)) return false;
    if (this.index.address4(ip, v.serverPort)) return false;
    if (logged && this.resolver!.hasAddress(dotted)) return false;
    const cfg = this.rules.policy.behaviour;
    if (cfg && v.packetsC2S > 1 && v.packetsS2C > 1 && behaviourReaches(cfg, v, behaviourFacts(false, false), cfg.weakAt)) return false;
    return true;
  }
}

function distinct(hits: readonly PayloadHit[]): string {
  return [...new Set(hits.map((h) => h.rule.name))].join(', ');
}

function reason(flow: FlowRecord, c: readonly PayloadHit[], s: readonly PayloadHit[], evidence: readonly Evidence[], label: string, outcome: string | null): string {
  if (!evidence.length) return NO_EVIDENCE_REASON;
  const parts: string[] = [];
  if (c.length) parts.push(`client sent ${distinct(c)}`);
  if (s.length) parts.push(`server sent ${distinct(s)}`);
  for (const e of evidence) if (e.kind !== 'payload' && e.kind !== 'http') parts.push(`${e.kind}: ${e.matched}`);
  const fams = [...new Set([...c, ...s].map((h) => h.rule.family))];
  const head = `${label}${outcome ? ` (${outcome})` : ''}${fams.length ? `: ${fams.join('+')}` : ''} with ${endpointText(flow.server, flow.serverPort)}`;
  return `${head} — ${parts.join('; ')}`;
}
