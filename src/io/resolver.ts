/**
 * Resolves host names to addresses with node's `dns.promises.Resolver` (c-ares: real DNS queries
 * to the system's resolvers or to one given server), with TTLs and the CNAME chain, a bounded
 * number of names in flight and a bounded time per query. A name that fails is a result, not an
 * error: `resolveNames` never rejects for DNS answers.
 */
import { promises as dns } from 'node:dns';
import { UsageError } from '../errors.js';
import { canonicalAddress, endpointText } from '../ip.js';

/** One address a name resolved to. */
export interface ResolvedAddress {
  /** Address text as every path writes it (src/ip.ts canonicalAddress). */
  address: string;
  family: 4 | 6;
  /** Seconds, as the resolver answered (c-ares gives the smallest TTL along a CNAME chain). */
  ttl: number;
}

/** What one name resolved to, or why it did not. */
export interface NameResolution {
  name: string;
  /** CNAME targets in order (`name` → chain[0] → chain[1] …); empty when the name has none. */
  chain: string[];
  addresses: ResolvedAddress[];
  /** `NXDOMAIN`, `SERVFAIL`, `REFUSED`, `timeout`, `no A/AAAA records`, …; null when an address was found. */
  error: string | null;
  /** ISO 8601 time (UTC, seconds) the answers arrived. */
  at: string;
}

export interface ResolveOptions {
  /** `IP` or `IP:port` / `[IPv6]:port` of the server to ask; null for the system's resolvers. */
  server: string | null;
  /** Names in flight at once. */
  concurrency: number;
  /** Most time one query may take, ms (retries included). */
  timeoutMs: number;
  /** Called as each name finishes (progress). */
  onResult?: (r: NameResolution) => void;
}

/** CNAMEs followed from one name before it counts as failed. */
export const MAX_CNAME_DEPTH = 8;
/** Addresses kept per name and family: more is no pool's DNS. */
const MAX_ADDRESSES = 64;
/** c-ares tries per query; with its doubling per try, two tries of a third of the budget fit in it. */
const TRIES = 2;

/**
 * The server form `Resolver.setServers` takes, from `HOST:PORT`, `[IPv6]:PORT` or a bare address
 * (port 53). Only address literals: resolving the resolver's own name would need a resolver.
 * @throws UsageError for anything else.
 */
export function parseResolverAddress(text: string): string {
  const bad = (): never => {
    throw new UsageError(`--resolver expects an address and port, e.g. 127.0.0.1:53 or [2001:db8::53]:53, got ${JSON.stringify(text)}`);
  };
  let host = text;
  let port = '53';
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1]!;
    port = v6[2] ?? '53';
  } else if (/^[^:]+:\d+$/.test(text)) {
    [host, port] = text.split(':') as [string, string];
  }
  const a = canonicalAddress(host);
  if (a === null) bad();
  const p = Number(port);
  if (!Number.isInteger(p) || p < 1 || p > 65535) bad();
  return endpointText(a!, p);
}

/** How the resolver is named in provenance: the server given, or the system's servers. */
export function resolverLabel(server: string | null): string {
  if (server) return server;
  const servers = new dns.Resolver().getServers();
  return `system resolver (${servers.length ? servers.join(', ') : 'none configured'})`;
}

const ERROR_NAMES: Record<string, string> = {
  ENOTFOUND: 'NXDOMAIN',
  ESERVFAIL: 'SERVFAIL',
  EREFUSED: 'REFUSED',
  ETIMEOUT: 'timeout',
  ENODATA: 'no A/AAAA records',
  ECONNREFUSED: 'connection refused',
  EFORMERR: 'FORMERR',
  EBADRESP: 'bad response',
  ECANCELLED: 'cancelled',
};

function errorName(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (code && ERROR_NAMES[code]) ?? code ?? String((e as Error)?.message ?? e);
}

/** Resolve every name (A and AAAA, following CNAMEs); results in the order of `names`. */
export async function resolveNames(names: readonly string[], opts: ResolveOptions): Promise<NameResolution[]> {
  const resolver = new dns.Resolver({ timeout: Math.max(1, Math.floor(opts.timeoutMs / (2 ** TRIES - 1))), tries: TRIES });
  if (opts.server) resolver.setServers([opts.server]);
  const guardMs = opts.timeoutMs + 1000;
  const query = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), guardMs);
    });
    return Promise.race([p, guard]).finally(() => clearTimeout(timer));
  };
  const results: NameResolution[] = new Array(names.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const i = next++;
      const r = await resolveOne(names[i]!, query, resolver);
      results[i] = r;
      opts.onResult?.(r);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, names.length)) }, worker));
  } finally {
    resolver.cancel();
  }
  return results;
}

async function resolveOne(name: string, query: <T>(p: Promise<T>) => Promise<T>, resolver: dns.Resolver): Promise<NameResolution> {
  const chain: string[] = [];
  let chainError: string | null = null;
  for (let cur = name; ; ) {
    let targets: string[];
    try {
      targets = await query(resolver.resolveCname(cur));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A resolver that does not answer at all would not answer the address queries either.
      if (!chain.length && (code === 'ETIMEOUT' || code === 'ECONNREFUSED')) return { name, chain, addresses: [], error: errorName(e), at: now() };
      // No CNAME here (NODATA) ends the chain; other failures on the name itself show again in the
      // address queries (some servers answer NXDOMAIN for a type they hold no record of).
      if (code !== 'ENODATA' && chain.length) chainError = `${errorName(e)} (CNAME target ${cur})`;
      break;
    }
    const target = targets[0]?.toLowerCase().replace(/\.$/, '');
    if (!target) break;
    if (target === name || chain.includes(target)) {
      chainError = `CNAME loop at ${target}`;
      break;
    }
    chain.push(target);
    if (chain.length > MAX_CNAME_DEPTH) {
      chainError = `CNAME chain longer than ${MAX_CNAME_DEPTH}`;
      break;
    }
    cur = target;
  }
  const [v4, v6] = await Promise.allSettled([query(resolver.resolve4(name, { ttl: true })), query(resolver.resolve6(name, { ttl: true }))]);
  const at = now();
  if (chainError) return { name, chain, addresses: [], error: chainError, at };
  const addresses: ResolvedAddress[] = [];
  for (const [res, family] of [[v4, 4], [v6, 6]] as const) {
    if (res.status !== 'fulfilled') continue;
    for (const rec of res.value.slice(0, MAX_ADDRESSES)) {
      const address = canonicalAddress(rec.address);
      if (address !== null) addresses.push({ address, family, ttl: rec.ttl });
    }
  }
  if (addresses.length) return { name, chain, addresses, error: null, at };
  const errors = [v4, v6].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorName(r.reason));
  const telling = errors.find((e) => e !== ERROR_NAMES.ENODATA) ?? errors[0] ?? 'no A/AAAA records';
  return { name, chain, addresses: [], error: telling, at };
}

/** The time now, ISO 8601 UTC to the second. */
function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}
