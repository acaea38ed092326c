/**
 * Classifies one finished flow. Matchers state facts — protocol messages (JSON-RPC, HTTP heads),
 * handshake fingerprints, server names (TLS SNI, HTTP Host, DNS answers seen in the same data),
 * listed addresses, mining ports — and the policy turns the classes of those facts into a label and
 * a confidence. A flow whose orientation was only guessed from ports is turned round when its
 * messages show the guess was wrong (a pool answering from a high port, a session caught mid-way).
 */
import { decodeDns, decodeDnsOverTcp, dnsDatagrams, type DnsMessage } from '../decode/dns.js';
import { decodeClientHello, looksLikeTls } from '../decode/tls.js';
import { socksClientPreamble, socksServerPreamble } from '../decode/socks.js';
import { DecodeError } from '../errors.js';
import { nameSoftware } from '../rules/agents.js';
import { EndpointIndex } from '../rules/endpoints.js';
import type { EndpointEntry, RuleSet } from '../rules/schema.js';
import type { ExportFlowView } from '../flow/table.js';
import { servicePortSet } from '../flow/orient.js';
import type { Attributes, Evidence, FlowRecord, Verdict } from '../types.js';
import { behaviourPoints, scoreBehaviour } from './behaviour.js';
import { matchHandshake } from './handshake.js';
import { httpHeads } from './http.js';
import { jsonMessages, type JsonMessage } from './messages.js';
import { matchMessages, printable, type PayloadHit } from './payload.js';
import { PassiveDns, plausibleDnsHeader } from './pdns.js';
import { classesOf, decide } from './policy.js';
import { addressWeight } from './intelage.js';
import type { ResolverBindings } from './resolverlog.js';

const MAX_WORKERS = 8;
const WORKER_MAX_CHARS = 256;
const AGENT_MAX_CHARS = 128;

/** Ids of the built-in matchers (their data lives in rules/endpoints and rules/policy.yaml). */
export const BUILTIN = {
  sni: { id: 'MW-NAME-SNI', rev: 1 },
  host: { id: 'MW-NAME-HTTP-HOST', rev: 1 },
  dns: { id: 'MW-NAME-DNS-ANSWER', rev: 1 },
  dnsQuery: { id: 'MW-DNS-QUERY', rev: 1 },
  address: { id: 'MW-ENDPOINT-ADDRESS', rev: 1 },
  port: { id: 'MW-PORT', rev: 1 },
  peer: { id: 'MW-PEER', rev: 1 },
  dnsLog: { id: 'MW-DNS-LOG', rev: 1 },
  socks: { id: 'MW-NAME-SOCKS', rev: 1 },
} as const;

/**
 * Told of a flow payload that looked like a protocol message a matcher reads but did not decode:
 * `tls.bad_client_hello` (the client's first bytes), `dns.bad_message` (a query to port 53).
 * `message` names the flow, where in its payload the decoder stopped, and what it expected.
 */
export type DecodeErrorSink = (code: 'tls.bad_client_hello' | 'dns.bad_message', flow: FlowRecord, message: string) => void;

/** What {@link Classifier.flowEvidence} reads of a flow (a flow being classified, or one stored in a report). */
export type FlowEvidenceInput = Pick<
  FlowRecord,
  'client' | 'server' | 'serverPort' | 'firstSeen' | 'lastSeen' | 'source' | 'packetsC2S' | 'packetsS2C' | 'bytesC2S' | 'bytesS2C' | 'tcpFlagsC2S' | 'tcpFlagsS2C' | 'transport' | 'records'
>;

/** Swap client and server in place (used when the messages prove the port guess wrong). */
export function reverseFlow(f: FlowRecord): void {
  [f.client, f.server] = [f.server, f.client];
  [f.clientPort, f.serverPort] = [f.serverPort, f.clientPort];
  [f.packetsC2S, f.packetsS2C] = [f.packetsS2C, f.packetsC2S];
  [f.bytesC2S, f.bytesS2C] = [f.bytesS2C, f.bytesC2S];
  [f.tcpFlagsC2S, f.tcpFlagsS2C] = [f.tcpFlagsS2C, f.tcpFlagsC2S];
  [f.payloadC2S, f.payloadS2C] = [f.payloadS2C, f.payloadC2S];
  [f.payloadTimeC2S, f.payloadTimeS2C] = [f.payloadTimeS2C, f.payloadTimeC2S];
  [f.firstSegmentC2S, f.firstSegmentS2C] = [f.firstSegmentS2C, f.firstSegmentC2S];
  f.orientation = 'payload';
}

/** JSON messages of one direction; UDP datagrams are split first. */
function messagesOf(f: FlowRecord, p: Uint8Array): JsonMessage[] {
  if (f.transport === 'tcp') return jsonMessages(p);
  const out: JsonMessage[] = [];
  for (const d of dnsDatagrams(p)) out.push(...jsonMessages(d));
  return out;
}

export class Classifier {
  readonly index: EndpointIndex;
  readonly pdns: PassiveDns;
  /** The policy's pool ports as a bitmap, for orienting flows whose handshake was not seen. */
  readonly servicePorts: Uint8Array;
  /** Resolver-log bindings (`--dns-log`), when given. */
  resolver: ResolverBindings | null = null;

  /** @param onDecodeError told of every payload that looked like TLS or DNS and did not decode (otherwise they are skipped uncounted). */
  constructor(
    readonly rules: RuleSet,
    private readonly onDecodeError: DecodeErrorSink | null = null,
  ) {
    this.index = new EndpointIndex(rules.endpoints);
    this.pdns = new PassiveDns(this.index);
    this.servicePorts = servicePortSet(rules.policy.miningPorts);
  }

  /** Classify a flow. May re-orient it (see {@link reverseFlow}). */
  classify(flow: FlowRecord): Verdict {
    const rules = this.rules.payload;
    let hitsC: PayloadHit[] = [];
    let hitsS: PayloadHit[] = [];
    // A miner behind a SOCKS proxy: its pool protocol starts after the proxy's preamble.
    let socks = flow.transport === 'tcp' ? socksClientPreamble(flow.payloadC2S) : null;
    if (!socks && flow.transport === 'tcp' && flow.orientation === 'port' && socksClientPreamble(flow.payloadS2C)) {
      reverseFlow(flow);
      socks = socksClientPreamble(flow.payloadC2S);
    }
    const pc = socks ? flow.payloadC2S.subarray(socks.length) : flow.payloadC2S;
    const ps = socks ? flow.payloadS2C.subarray(socksServerPreamble(flow.payloadS2C, socks.version)) : flow.payloadS2C;
    if (pc.length || ps.length) {
      const jc = messagesOf(flow, pc);
      const js = messagesOf(flow, ps);
      hitsC = matchMessages(rules, 'json', jc, 'client', flow.payloadTimeC2S);
      hitsS = matchMessages(rules, 'json', js, 'server', flow.payloadTimeS2C);
      if (flow.transport === 'tcp') {
        hitsC.push(...matchMessages(rules, 'http', httpHeads(pc), 'client', flow.payloadTimeC2S));
        hitsS.push(...matchMessages(rules, 'http', httpHeads(ps), 'server', flow.payloadTimeS2C));
      }
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
    const evidence: Evidence[] = hits.map((h) => h.evidence);
    const attrs = this.attributes(hits);

    // Handshake fingerprints (Stratum V2).
    for (const r of rules) {
      if (r.on !== 'handshake') continue;
      const m = matchHandshake(r.handshake, flow);
      if (m)
        evidence.push({
          ruleId: r.id,
          rev: r.rev,
          kind: 'handshake',
          side: 'client',
          family: r.family,
          matched: `first payloads ${flow.firstSegmentC2S}/${flow.firstSegmentS2C} bytes, client entropy ${m.entropy.toFixed(2)} bits/byte`,
          excerpt: hex(flow.payloadC2S.subarray(0, 24)),
          offset: 0,
          time: flow.payloadTimeC2S,
        });
    }

    // Names: TLS SNI and HTTP Host from the client; DNS answers seen for the server's address.
    let poolEntry: EndpointEntry | null = null;
    const sni = this.sni(flow, pc);
    if (sni) {
      attrs.serverName = sni;
      const e = this.index.domain(sni);
      if (e && e.kind !== 'exclude') {
        poolEntry = e;
        evidence.push(nameEvidence('sni', BUILTIN.sni, sni, e, flow.payloadTimeC2S));
      }
    }
    // The destination a SOCKS client asked its proxy for.
    if (socks) {
      attrs.serverName ??= socks.host;
      const e = this.index.domain(socks.host);
      if (e && e.kind !== 'exclude') {
        poolEntry ??= e;
        evidence.push({ ...nameEvidence('host', BUILTIN.socks, socks.host, e, flow.payloadTimeC2S), matched: `SOCKS${socks.version} CONNECT ${socks.host}:${socks.port} (${describe(e)})` });
      }
    }
    const host = this.httpHost(flow, pc);
    if (host) {
      attrs.serverName ??= host;
      const e = this.index.domain(host);
      if (e && e.kind !== 'exclude') {
        poolEntry ??= e;
        evidence.push(nameEvidence('host', BUILTIN.host, host, e, flow.payloadTimeC2S));
      }
    }
    const bound = this.pdns.lookup(flow.server);
    if (bound) {
      attrs.serverName ??= bound.name;
      poolEntry ??= bound.entry;
      evidence.push({
        ...nameEvidence('dns', BUILTIN.dns, bound.name, bound.entry, bound.time),
        matched: `${flow.server} resolved from ${bound.name} (${describe(bound.entry)})`,
      });
    }
    // DNS queries for pool names (the lookup itself, from the subscriber's resolver flow).
    for (const q of this.poolQueries(flow)) {
      evidence.push(nameEvidence('dns-query', BUILTIN.dnsQuery, q.name, q.entry, flow.payloadTimeC2S));
      attrs.serverName ??= q.name;
      poolEntry ??= q.entry;
    }
    // Established: data both ways (payload seen for packet flows; more than one packet each way for exports).
    const established = flow.source === 'export' ? flow.packetsC2S > 1 && flow.packetsS2C > 1 : flow.payloadC2S.length > 0 && flow.payloadS2C.length > 0;
    const fo = this.flowEvidence(flow, hits.length === 0, established);
    evidence.push(...fo.evidence);
    if (fo.serverName) attrs.serverName ??= fo.serverName;
    poolEntry ??= fo.poolEntry;

    if (poolEntry) {
      attrs.pool = poolEntry.pool === 'unknown' ? null : poolEntry.pool;
      if (!attrs.coin && poolEntry.coins.length === 1) attrs.coin = poolEntry.coins[0]!;
    }
    const d = decide(this.rules.policy, classesOf(evidence));
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
   * The evidence a flow's counters and endpoints give, without its payload: a resolver-log lookup
   * that bound the server to a pool name, a listed address weighed by its age, a pool port, and the
   * behaviour score (only where no protocol spoke). Used on every flow, and again when a report is
   * re-decided from its stored flows with new intelligence.
   */
  flowEvidence(flow: FlowEvidenceInput, noProtocol: boolean, established: boolean): { evidence: Evidence[]; poolEntry: EndpointEntry | null; serverName: string | null } {
    const evidence: Evidence[] = [];
    let poolEntry: EndpointEntry | null = null;
    let serverName: string | null = null;
    const policy = this.rules.policy;
    // Resolver logs: the subscriber's own lookup of a listed name, else anyone's (weaker).
    const r = this.resolver;
    if (r) {
      const own = r.ownBinding(flow.client, flow.server, flow.firstSeen);
      const b = own ?? r.sharedBinding(flow.server, flow.firstSeen);
      if (b) {
        poolEntry = b.entry;
        serverName = b.name;
        evidence.push({
          ruleId: BUILTIN.dnsLog.id,
          rev: BUILTIN.dnsLog.rev,
          kind: own ? 'dns-log' : 'dns-log-shared',
          side: 'server',
          family: 'endpoint',
          matched: `${own ? '' : `another subscriber (${b.client}) was told: `}${b.chain} → ${b.address} at ${new Date(b.time).toISOString()}${b.resolver ? ` by ${b.resolver}` : ''}, TTL ${b.ttl} s, window to ${new Date(b.until).toISOString()} (${describe(b.entry)})`,
          excerpt: printable(`${r.logs[b.log] ?? 'resolver log'}; ${provenance(b.entry)}`, 200),
          offset: 0,
          time: b.time,
        });
      }
    }
    // Listed addresses: weak on their own (pools sit behind shared hosting and CDNs), and weaker with age.
    const addr = this.index.address(flow.server, flow.serverPort);
    let listed = false;
    if (addr) {
      const w = addressWeight(addr.entry, flow.firstSeen, policy.intelAge);
      if (w.weight >= policy.intelAge.minWeight && w.weight > 0) {
        listed = true;
        poolEntry ??= addr.entry;
        const exact = addr.how === 'ip:port' || addr.entry.ports.includes(flow.serverPort);
        evidence.push({
          ruleId: BUILTIN.address.id,
          rev: BUILTIN.address.rev,
          kind: exact ? 'endpoint-port' : 'endpoint',
          side: 'server',
          family: 'endpoint',
          matched: `${flow.server}:${flow.serverPort} listed (${addr.how}${exact && addr.how !== 'ip:port' ? ', documented port' : ''}; ${describe(addr.entry)}; ${w.note})`,
          excerpt: provenance(addr.entry),
          offset: 0,
          time: flow.firstSeen,
        });
      }
    }
    // A typical pool port, on an established flow that carried data both ways: the weakest evidence.
    const miningPort = policy.miningPorts.has(flow.serverPort);
    if (miningPort && established)
      evidence.push({
        ruleId: BUILTIN.port.id,
        rev: BUILTIN.port.rev,
        kind: 'port',
        side: 'server',
        family: 'port',
        matched: `server port ${flow.serverPort}`,
        excerpt: '',
        offset: 0,
        time: flow.firstSeen,
      });
    // Behaviour: only where no protocol spoke (exports, encrypted sessions).
    const cfg = policy.behaviour;
    if (cfg && noProtocol && established) {
      const b = scoreBehaviour(cfg, flow, { miningPort, listedAddress: listed });
      if (b.score >= cfg.weakAt) {
        const strong = b.score >= cfg.strongAt;
        evidence.push({
          ruleId: cfg.id,
          rev: cfg.rev,
          kind: strong ? 'behaviour' : 'behaviour-weak',
          side: 'client',
          family: 'behaviour',
          matched: `score ${b.score} (${strong ? 'strong' : 'weak'}; strong at ${cfg.strongAt}, weak at ${cfg.weakAt}): ${b.scored.map((t) => `${t.name} ${t.value} +${t.points}`).join(', ')}`,
          excerpt: '',
          offset: 0,
          time: flow.firstSeen,
        });
      }
    }
    return { evidence, poolEntry, serverName };
  }

  /**
   * For an IPv4 export flow, before its record is built: true when no evidence could apply — the
   * server address is not DNS-bound to a pool, not listed, not a pool port, and the behaviour score
   * stays below `weak_at`. Such a flow would be classified `none`; skipping it changes no verdict.
   */
  exportFlowIsQuiet(v: ExportFlowView): boolean {
    if (this.rules.policy.miningPorts.has(v.serverPort)) return false;
    const ip = v.serverIp4;
    if (this.pdns.size > 0 && this.pdns.lookup(`${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`)) return false;
    if (this.index.address4(ip, v.serverPort)) return false;
    if (this.resolver && this.resolver.size > 0 && this.resolver.hasAddress(`${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`)) return false;
    const cfg = this.rules.policy.behaviour;
    if (cfg && v.packetsC2S > 1 && v.packetsS2C > 1 && behaviourPoints(cfg, v, { miningPort: false, listedAddress: false }) >= cfg.weakAt) return false;
    return true;
  }

  private sni(flow: FlowRecord, p: Uint8Array): string | null {
    if (flow.transport !== 'tcp' || !looksLikeTls(p, 0, p.length)) return null;
    try {
      return decodeClientHello(p, 0, p.length).sni;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.onDecodeError?.('tls.bad_client_hello', flow, `${flowName(flow)}: ClientHello in the client's first ${p.length} payload byte(s): ${e.code} at byte ${e.offset}: ${e.message}`);
      return null;
    }
  }

  private httpHost(flow: FlowRecord, p: Uint8Array): string | null {
    if (flow.transport !== 'tcp') return null;
    const heads = httpHeads(p);
    const h = (heads[0]?.value.headers as Record<string, string> | undefined)?.host;
    return h ? h.replace(/:\d+$/, '').toLowerCase() : null;
  }

  private poolQueries(flow: FlowRecord): Array<{ name: string; entry: EndpointEntry }> {
    if (flow.serverPort !== 53 || flow.payloadC2S.length === 0) return [];
    const msgs: DnsMessage[] = [];
    const tryDecode = (what: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        this.onDecodeError?.('dns.bad_message', flow, `${flowName(flow)}: ${what}: ${e.code} at byte ${e.offset}: ${e.message}`);
      }
    };
    // One malformed datagram must not hide the queries in the others.
    if (flow.transport === 'udp') {
      let n = 0;
      for (const d of dnsDatagrams(flow.payloadC2S)) {
        n++;
        if (plausibleDnsHeader(d, 0, d.length, false)) tryDecode(`DNS query in client datagram ${n} (${d.length} bytes)`, () => msgs.push(decodeDns(d)));
      }
    } else tryDecode(`DNS over TCP in the client's first ${flow.payloadC2S.length} payload byte(s)`, () => msgs.push(...decodeDnsOverTcp(flow.payloadC2S)));
    const out = new Map<string, EndpointEntry>();
    for (const m of msgs)
      for (const q of m.questions) {
        const e = this.index.domain(q.name);
        if (e && e.kind !== 'exclude' && out.size < 8) out.set(q.name, e);
      }
    return [...out].map(([name, entry]) => ({ name, entry }));
  }

  private attributes(hits: readonly PayloadHit[]): Attributes {
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
    let software: string | null = null;
    if (agent) {
      const s = nameSoftware(this.rules.agents, agent);
      if (s) {
        software = s.version ? `${s.software} ${s.version}` : s.software;
        if (!coin && s.coins.length === 1) coin = s.coins[0]!;
      }
    }
    return { coin, agent, software, workers, pool: null, serverName: null };
  }
}

function nameEvidence(kind: 'sni' | 'host' | 'dns' | 'dns-query', id: { id: string; rev: number }, name: string, e: EndpointEntry, time: number): Evidence {
  return {
    ruleId: id.id,
    rev: id.rev,
    kind,
    side: kind === 'dns' ? 'server' : 'client',
    family: 'endpoint',
    matched: `${name} (${describe(e)})`,
    excerpt: provenance(e),
    offset: 0,
    time,
  };
}

/** `tcp 10.0.0.1:50000 → 192.0.2.1:443, first packet 2024-…Z`: enough to find the flow in the capture. */
function flowName(f: FlowRecord): string {
  const at = Number.isFinite(f.firstSeen) ? new Date(f.firstSeen).toISOString() : String(f.firstSeen);
  return `${f.transport} ${f.client}:${f.clientPort} → ${f.server}:${f.serverPort}, first packet ${at}`;
}

function describe(e: EndpointEntry): string {
  const m = e.match;
  const what = 'domain' in m ? `domain ${m.domain}` : 'suffix' in m ? `*.${m.suffix}` : 'ip' in m ? `ip ${m.ip}${m.port ? `:${m.port}` : ''}` : `cidr ${m.cidr}`;
  return `${e.kind} ${e.pool}${e.coins.length ? ` ${e.coins.join('/')}` : ''}; ${what}`;
}

function provenance(e: EndpointEntry): string {
  return printable(`${e.origin.file}:${e.origin.line}; source ${e.source}; added ${e.added}`, 200);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
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

function reason(flow: FlowRecord, c: readonly PayloadHit[], s: readonly PayloadHit[], evidence: readonly Evidence[], label: string, outcome: string | null): string {
  if (!evidence.length) return 'no mining evidence';
  const parts: string[] = [];
  if (c.length) parts.push(`client sent ${distinct(c)}`);
  if (s.length) parts.push(`server sent ${distinct(s)}`);
  for (const e of evidence) if (e.kind !== 'payload' && e.kind !== 'http') parts.push(`${e.kind}: ${e.matched}`);
  const fams = [...new Set([...c, ...s].map((h) => h.rule.family))];
  const head = `${label}${outcome ? ` (${outcome})` : ''}${fams.length ? `: ${fams.join('+')}` : ''} with ${flow.server}:${flow.serverPort}`;
  return `${head} — ${parts.join('; ')}`;
}
