/**
 * Active confirmation of suspected pool servers: each probe opens its own TCP connection, sends
 * one protocol's opening request (see requests.ts) and reads the reply for a bounded time and
 * size. Whether the reply is a pool's is decided by the rule set's own server-side message rules,
 * through the same matchers a scan uses, never by patterns written here.
 */
import { connect, type Socket } from 'node:net';
import { httpHeads } from '../classify/http.js';
import { jsonMessages } from '../classify/messages.js';
import { matchMessages, printable, type PayloadHit } from '../classify/payload.js';
import type { PayloadRule } from '../rules/schema.js';
import { PROBE_REQUESTS, type ProbeIdentity, type ProbeProtocol, type ProbeRequest, type ProbeTarget } from './requests.js';

/**
 * `pool`: a reply matched a server-side mining rule; `not-pool`: answered, no mining message;
 * `silent`: connected, nothing came back before the timeout or the close; `refused`: nothing
 * listens; `timeout`: no connection within the timeout; `error`: any other socket failure.
 */
export type ProbeStatus = 'pool' | 'not-pool' | 'silent' | 'refused' | 'timeout' | 'error';

/** One protocol's request to one server and what came of it. */
export interface ProbeResult {
  target: ProbeTarget;
  protocol: ProbeProtocol;
  /** Methods sent, in order (the opening request, and the follow-up when it was sent). */
  sent: string[];
  /** When the connection was opened, ms since the epoch. */
  time: number;
  status: ProbeStatus;
  /** For `pool`: the rule that matched the reply, the message it names, and the coin it implies. */
  ruleId: string | null;
  rev: number | null;
  matched: string | null;
  coin: string | null;
  /** A bounded printable excerpt of the reply (for `pool`, the matched message); null when none came. */
  excerpt: string | null;
  /** Reply bytes read (at most the size bound). */
  replyBytes: number;
  /** The socket error, if any. */
  error: string | null;
}

/** Every probe of one target, with the target's overall status. */
export interface TargetOutcome {
  target: ProbeTarget;
  /** `pool` when any probe confirmed it; else the most telling of the probes' statuses. */
  status: ProbeStatus;
  results: ProbeResult[];
}

export interface ProbeOptions {
  /** The rule set's payload rules; only `side: server` JSON and HTTP rules are used. */
  rules: readonly PayloadRule[];
  identity: ProbeIdentity;
  /** Per connection, from opening it to the last byte read, ms. */
  timeoutMs: number;
  /** New connections per second, over all targets. */
  rate: number;
  /** Connections open at once. */
  concurrency: number;
  /** Reply bytes read per connection (default 8 KiB). */
  maxReplyBytes?: number;
  /** After a reply that proved nothing, how long to wait for more before closing, ms (default 1000). */
  quietMs?: number;
  /** Stops starting new connections (running ones finish). */
  signal?: AbortSignal;
}

export const DEFAULT_MAX_REPLY_BYTES = 8192;
const DEFAULT_QUIET_MS = 1000;
const EXCERPT_MAX = 200;

/** The rules that can confirm a server: messages a pool sends. */
export function serverRules(rules: readonly PayloadRule[]): PayloadRule[] {
  return rules.filter((r) => r.side === 'server' && (r.on === 'json' || r.on === 'http'));
}

/** The first server-side rule hit in a reply, through the scan's own matchers. */
export function matchReply(reply: Uint8Array, rules: readonly PayloadRule[], time: number): PayloadHit | null {
  const hits = matchMessages(rules, 'json', jsonMessages(reply), 'server', time);
  if (hits.length) return hits[0]!;
  return matchMessages(rules, 'http', httpHeads(reply), 'server', time)[0] ?? null;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Send one protocol's request to one server and judge the reply. Never rejects. */
export function probeOnce(target: ProbeTarget, request: ProbeRequest, opts: ProbeOptions): Promise<ProbeResult> {
  const rules = serverRules(opts.rules);
  const maxBytes = opts.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
  const quietMs = Math.min(opts.quietMs ?? DEFAULT_QUIET_MS, opts.timeoutMs);
  return new Promise((resolve) => {
    const time = Date.now();
    const reply = new Uint8Array(maxBytes);
    let size = 0;
    let connected = false;
    let timedOut = false;
    let finished = false;
    let failure: NodeJS.ErrnoException | null = null;
    let hit: PayloadHit | null = null;
    let quiet: NodeJS.Timeout | null = null;
    const sent: string[] = [];

    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (quiet) clearTimeout(quiet);
      socket.destroy();
      const bytes = reply.subarray(0, size);
      if (!hit && size > 0) hit = matchReply(bytes, rules, time);
      let status: ProbeStatus;
      if (hit) status = 'pool';
      else if (size > 0) status = 'not-pool';
      else if (!connected) status = timedOut ? 'timeout' : failure?.code === 'ECONNREFUSED' ? 'refused' : 'error';
      else status = failure && failure.code !== 'ECONNRESET' ? 'error' : 'silent';
      resolve({
        target,
        protocol: request.protocol,
        sent,
        time,
        status,
        ruleId: hit?.rule.id ?? null,
        rev: hit?.rule.rev ?? null,
        matched: hit?.evidence.matched ?? null,
        coin: hit?.rule.coin ?? null,
        excerpt: hit ? hit.evidence.excerpt : size > 0 ? printable(utf8.decode(bytes.subarray(0, EXCERPT_MAX * 4)), EXCERPT_MAX) : null,
        replyBytes: size,
        error: failure ? (failure.code ?? failure.message) : timedOut && size === 0 ? `no ${connected ? 'reply' : 'connection'} within ${opts.timeoutMs} ms` : null,
      });
    };

    const deadline = setTimeout(() => {
      timedOut = true;
      finish();
    }, opts.timeoutMs);

    const socket: Socket = connect({ host: target.host, port: target.port, noDelay: true });
    socket.on('connect', () => {
      connected = true;
      sent.push(request.method);
      socket.write(request.line(target, opts.identity));
    });
    socket.on('data', (chunk: Buffer) => {
      if (finished) return;
      const take = Math.min(chunk.length, maxBytes - size);
      reply.set(chunk.subarray(0, take), size);
      size += take;
      // Messages are lines: judge whenever a line may have completed.
      if (chunk.indexOf(0x0a) >= 0 || size >= maxBytes) {
        const bytes = reply.subarray(0, size);
        hit = matchReply(bytes, rules, time);
        if (hit || size >= maxBytes) return finish();
        const next = request.followUp;
        if (next && sent.length === 1 && jsonMessages(bytes).some((m) => next.after(m.value))) {
          sent.push(next.method);
          socket.write(next.line);
        }
      }
      if (quiet) clearTimeout(quiet);
      quiet = setTimeout(finish, quietMs);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      failure = e;
      finish();
    });
    socket.on('close', finish);
  });
}

/** How telling a status is, for a target's overall status (higher wins). */
const WEIGHT: Record<ProbeStatus, number> = { pool: 5, 'not-pool': 4, silent: 3, error: 2, timeout: 1, refused: 0 };

/** A target's overall status from its probes. */
export function targetStatus(results: readonly ProbeResult[]): ProbeStatus {
  let best: ProbeStatus = 'error';
  let w = -1;
  for (const r of results)
    if (WEIGHT[r.status] > w) {
      best = r.status;
      w = WEIGHT[r.status];
    }
  return best;
}

/**
 * Probe every target with every protocol, at most `rate` new connections per second and
 * `concurrency` open at once. `onTarget` is called as each target's last probe ends, in the order
 * targets finish. Resolves to the outcomes in target order (targets whose probes were not all sent
 * because of `signal` carry the ones that were).
 */
export async function probeTargets(targets: readonly ProbeTarget[], opts: ProbeOptions, onTarget?: (o: TargetOutcome) => void): Promise<TargetOutcome[]> {
  if (!(opts.rate > 0) || !(opts.concurrency >= 1) || !(opts.timeoutMs > 0)) throw new RangeError('probe rate, concurrency and timeout must be positive');
  const jobs: Array<{ t: number; request: ProbeRequest }> = [];
  targets.forEach((_, t) => {
    for (const request of PROBE_REQUESTS) jobs.push({ t, request });
  });
  const results: ProbeResult[][] = targets.map(() => []);
  const interval = 1000 / opts.rate;
  let nextStart = 0;
  let next = 0;
  // Workers waiting for their start time; one abort listener wakes them all.
  const waiting = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiting) w();
  };
  opts.signal?.addEventListener('abort', wake, { once: true });
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        waiting.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      waiting.add(done);
    });
  const worker = async (): Promise<void> => {
    while (next < jobs.length && !opts.signal?.aborted) {
      const job = jobs[next++]!;
      const now = Date.now();
      const at = Math.max(now, nextStart);
      nextStart = at + interval;
      if (at > now) await sleep(at - now);
      if (opts.signal?.aborted) break;
      const r = await probeOnce(targets[job.t]!, job.request, opts);
      const list = results[job.t]!;
      list.push(r);
      if (list.length === PROBE_REQUESTS.length) onTarget?.(outcome(targets[job.t]!, list));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(Math.floor(opts.concurrency), Math.max(jobs.length, 1)) }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', wake);
  }
  return targets.map((t, i) => outcome(t, results[i]!)).filter((o) => o.results.length > 0);
}

function outcome(target: ProbeTarget, results: ProbeResult[]): TargetOutcome {
  const order = (p: ProbeProtocol): number => PROBE_REQUESTS.findIndex((r) => r.protocol === p);
  const sorted = [...results].sort((a, b) => order(a.protocol) - order(b.protocol));
  return { target, status: targetStatus(sorted), results: sorted };
}
