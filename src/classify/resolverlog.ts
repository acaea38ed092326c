/**
 * Resolver-log evidence: a subscriber who looked up a listed pool name and was answered with
 * addresses has those addresses bound to that name, for that subscriber, from the answer's time
 * until its TTL plus a grace has passed. A flow of that subscriber to such an address in that
 * window is a flow to the pool (class pool-name); another subscriber's flow to the same address is
 * only a flow to a pool's address (class pool-address), since pools share hosting. Only lookups of
 * listed names are kept, at most `maxBindings`, oldest dropped first, so memory stays bounded on a
 * province's log (10^8 lookups a day, nearly all of them not pools).
 */
import { MAX_DATE_MS } from '../time.js';
import type { EndpointIndex } from '../rules/endpoints.js';
import type { EndpointEntry } from '../rules/schema.js';

/** One answered lookup, as the resolver-log readers deliver it (src/io/dnslog.ts). */
export interface ResolvedLookup {
  time: number;
  client: string;
  resolver: string | null;
  query: string;
  answers: ReadonlyArray<{ name: string; type: 'A' | 'AAAA' | 'CNAME'; data: string; ttl: number }>;
}

export interface LookupBinding {
  client: string;
  /** The listed name in the chain, and the chain from the query to the address. */
  name: string;
  chain: string;
  entry: EndpointEntry;
  address: string;
  /** Answer time and the end of the window (ms). */
  time: number;
  until: number;
  ttl: number;
  resolver: string | null;
  /** Index of the log file it came from. */
  log: number;
}

export interface ResolverLogOptions {
  /** Time after the TTL ran out during which a connection still counts (ms): applications resolve once and connect later, or keep using an address. */
  graceMs: number;
  /** TTLs above this are cut (s). */
  maxTtlS: number;
  /** Bindings kept at most (subscriber × address). */
  maxBindings: number;
}

export const DEFAULT_RESOLVER_LOG: ResolverLogOptions = { graceMs: 30 * 60_000, maxTtlS: 86_400, maxBindings: 1 << 21 };
/**
 * How far a log's time stamps and a flow's may disagree: the resolver (or accounting server) and the
 * exporter keep their own clocks. A flow may start this much before a lookup's answer; RADIUS
 * sessions are given the same allowance (src/aggregate/radius.ts).
 */
export const LOG_CLOCK_ALLOWANCE_MS = 5_000;
const MAX_CHAIN = 16;

export class ResolverBindings {
  /** (client, address) → binding; Map order is insertion order, oldest first. */
  private readonly own = new Map<string, LookupBinding>();
  /** address → the span any subscriber had it bound (first answer, last window end). */
  private readonly shared = new Map<string, { first: LookupBinding; until: number }>();
  /** Lookups seen, lookups of listed names, bindings made, bindings dropped to stay bounded. */
  readonly stats = { lookups: 0, listed: 0, bindings: 0, dropped: 0, excluded: 0 };
  /** Log files, by index. */
  readonly logs: string[] = [];

  constructor(
    private readonly index: EndpointIndex,
    readonly opts: ResolverLogOptions = DEFAULT_RESOLVER_LOG,
  ) {}

  /** Start a log file; returns its index for {@link add}. */
  beginLog(path: string): number {
    this.logs.push(path);
    return this.logs.length - 1;
  }

  /** Learn from one answered lookup (kept only when a name in its chain is listed). */
  add(l: ResolvedLookup, log: number): void {
    this.stats.lookups++;
    let hit: EndpointEntry | null = null;
    let name = '';
    const chain: string[] = [l.query];
    const first = this.index.domain(l.query);
    if (first && first.kind !== 'exclude') {
      hit = first;
      name = l.query;
    }
    for (const a of l.answers) {
      if (a.type !== 'CNAME') continue;
      if (chain.length < MAX_CHAIN) chain.push(a.data);
      if (!hit) {
        const e = this.index.domain(a.data);
        if (e && e.kind !== 'exclude') {
          hit = e;
          name = a.data;
        }
      }
    }
    if (!hit) return;
    this.stats.listed++;
    for (const a of l.answers) {
      if (a.type === 'CNAME') continue;
      if (this.index.excluded(a.data)) {
        this.stats.excluded++;
        continue;
      }
      const ttl = Math.max(0, Math.min(a.ttl, this.opts.maxTtlS));
      // Never past the last date (a lookup near it, plus TTL and grace): the window is written as one.
      const until = Math.min(l.time + ttl * 1000 + this.opts.graceMs, MAX_DATE_MS);
      const key = `${l.client}|${a.data}`;
      const prev = this.own.get(key);
      const b: LookupBinding = { client: l.client, name, chain: chain.join(' → '), entry: hit, address: a.data, time: l.time, until, ttl, resolver: l.resolver, log };
      if (prev) {
        this.own.delete(key);
        // Keep the first answer as the evidence, the window as the union.
        if (prev.time <= b.time && prev.until >= b.time) b.time = prev.time;
        b.until = Math.max(prev.until, until);
      }
      this.own.set(key, b);
      this.stats.bindings++;
      const s = this.shared.get(a.data);
      if (!s) this.shared.set(a.data, { first: b, until });
      else if (until > s.until) s.until = until;
      if (this.own.size > this.opts.maxBindings) {
        const oldest = this.own.keys().next().value as string;
        this.own.delete(oldest);
        this.stats.dropped++;
      }
      if (this.shared.size > this.opts.maxBindings) {
        const oldest = this.shared.keys().next().value as string;
        this.shared.delete(oldest);
      }
    }
  }

  /** The binding of `client`'s own lookup that answered `server`, if `time` is in its window. */
  ownBinding(client: string, server: string, time: number): LookupBinding | null {
    const b = this.own.get(`${client}|${server}`);
    return b && time >= b.time - LOG_CLOCK_ALLOWANCE_MS && time <= b.until ? b : null;
  }

  /** Any subscriber's binding of `server` whose span covers `time`. */
  sharedBinding(server: string, time: number): LookupBinding | null {
    const s = this.shared.get(server);
    return s && time >= s.first.time - LOG_CLOCK_ALLOWANCE_MS && time <= s.until ? s.first : null;
  }

  /** Is `server` bound at all (for prefilters)? */
  hasAddress(server: string): boolean {
    return this.shared.has(server);
  }

  get size(): number {
    return this.own.size;
  }
}
