/**
 * Streaming share meter: counts the shares a miner submits over the whole life of a JSON-RPC
 * mining connection (not just the payload prefix), with the difficulty or target each share was
 * worth and whether the pool accepted it, so the report can estimate hashrate.
 *
 * Its lines come from {@link TcpLineStream} (both directions, TCP sequence order, bounded); what
 * the methods mean is in sharemethods.ts. Only flows whose payload starts with `{` are metered, and
 * a meter that sees no mining message in its first {@link PROBE_BYTES} gives up, so other
 * JSON-over-TCP costs a bounded amount. Of a line longer than {@link MAX_LINE} bytes (Bitcoin
 * `mining.notify` with merkle branches, Equihash submits with their 1344-byte solutions) only the
 * head is kept, which is enough to count a submit. Replies are `{"id":…,"result":true|false,"error":…}`
 * (Stratum) or `{"result":{"status":"OK"}}` (CryptoNote); ETHPROXY work packages
 * `["0xheader","0xseed","0xboundary", …]` set the work (hashes = 2^256/boundary); a CryptoNote
 * login result carries the first job.
 *
 * Allocation: only metered flows pay, per complete line (one latin1 string and one JSON.parse),
 * which for mining sessions is a handful of messages a minute.
 */
import type { ShareCounts } from '../types.js';
import { TcpLineStream } from './linestream.js';
import { hashesFromCompactTarget, hashesFromTarget256, shareMethodRole } from './sharemethods.js';

export { MAX_LINE } from './linestream.js';
export { hashesFromCompactTarget, hashesFromTarget256 } from './sharemethods.js';

/** Bytes (both directions) a meter reads looking for a mining message before it gives up. */
export const PROBE_BYTES = 8192;
/** Submits waiting for a reply that are remembered (oldest forgotten first). */
const MAX_PENDING = 64;
/** Largest miner-reported hashrate kept (H/s). */
const MAX_REPORTED_HS = 1e16;
/** Recent CryptoNote job ids remembered with their targets. */
const MAX_JOBS = 16;

const METHOD_IN_HEAD = /"method"\s*:\s*"([^"]{1,64})"/;
const ID_IN_HEAD = /^\s*\{\s*(?:[^{}]*?,\s*)?"id"\s*:\s*(?:(-?\d{1,20})|"([^"]{0,64})")/;
const JOB_ID_IN_HEAD = /"job_id"\s*:\s*"([^"]{1,64})"/;
const WORK_BOUNDARY = /^0x[0-9a-fA-F]{1,64}$/;
const NUMERIC = /^\s*[0-9.eE+-]{1,32}\s*$/;

/** Work one share is worth: in difficulty units (algorithm-dependent) or in expected hashes. */
interface Work {
  diff: number;
  hashes: number;
}

/** Counts the shares of one TCP connection; the table drops it once {@link dead} (no mining message within the probe budget). */
export class ShareMeter extends TcpLineStream {
  private mining = false;
  private probed = 0;
  // Current work per share, as the pool last set it.
  private curDiff = NaN;
  private curHashes = NaN;
  private readonly jobs = new Map<string, number>();
  private algorithm: string | null = null;

  /** Submits awaiting a reply, by id (a miner may reuse an id: first in, first answered). */
  private readonly pending = new Map<string, Array<Work & { dir: number }>>();
  private pendingCount = 0;
  private submitted = 0;
  private accepted = 0;
  private rejected = 0;
  private replies = 0;
  private submittedDiff = 0;
  private submittedHashes = 0;
  private acceptedDiff = 0;
  private acceptedHashes = 0;
  private unknownSubmitted = 0;
  private unknownAccepted = 0;
  private firstShare = 0;
  private lastShare = 0;
  private reported: number | null = null;

  protected admit(len: number): boolean {
    if (this.mining) return true;
    this.probed += len;
    return this.probed <= PROBE_BYTES;
  }

  protected onLine(dir: number, b: Buffer, n: number, truncated: boolean, ts: number): void {
    if (truncated) this.longLine(dir, b, n, ts);
    else this.line(dir, b, n, ts);
  }

  /**
   * A line longer than MAX_LINE, of which the head is kept. Only a submit matters here (Equihash
   * solutions make a `mining.submit` ~2.9 kB); its method, id and job id sit near the start.
   */
  private longLine(dir: number, b: Buffer, n: number, ts: number): void {
    const head = b.toString('latin1', 0, n);
    const method = METHOD_IN_HEAD.exec(head)?.[1];
    const role = method === undefined ? undefined : shareMethodRole(method);
    if (role === undefined) return;
    // Long mining lines (Bitcoin mining.notify with merkle branches) still prove a mining session.
    this.mining = true;
    if (role !== 'submit' && role !== 'job-submit') return;
    const idm = ID_IN_HEAD.exec(head);
    const id = idm ? (idm[1] !== undefined ? Number(idm[1]) : idm[2]) : null;
    let work = this.currentWork();
    if (role === 'job-submit') {
      const job = JOB_ID_IN_HEAD.exec(head)?.[1];
      const h = job !== undefined ? this.jobs.get(job) : undefined;
      if (h !== undefined) work = { diff: NaN, hashes: h };
    }
    this.submit(dir, id, work, ts);
  }

  private line(dir: number, b: Buffer, n: number, ts: number): void {
    let s = 0;
    while (s < n && (b[s] === 0x20 || b[s] === 0x09 || b[s] === 0x0d)) s++;
    if (s >= n || b[s] !== 0x7b) return;
    let msg: unknown;
    try {
      msg = JSON.parse(b.toString('latin1', s, n));
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return;
    this.message(dir, msg as Record<string, unknown>, ts);
  }

  private message(dir: number, m: Record<string, unknown>, ts: number): void {
    if (typeof m.method === 'string') {
      const role = shareMethodRole(m.method);
      if (role === undefined) return;
      this.mining = true;
      const params = m.params;
      switch (role) {
        case 'difficulty': {
          const d = Array.isArray(params) ? numberOf(params[0]) : NaN;
          if (d > 0 && Number.isFinite(d)) {
            this.curDiff = d;
            this.curHashes = NaN;
          }
          return;
        }
        case 'target': {
          const h = Array.isArray(params) ? hashesFromTarget256(params[0]) : NaN;
          if (h > 0) {
            this.curHashes = h;
            this.curDiff = NaN;
          }
          return;
        }
        case 'work': {
          if (isObject(params)) {
            const h = hashesFromTarget256(params.target);
            if (h > 0) {
              this.curHashes = h;
              this.curDiff = NaN;
            }
            if (typeof params.algo === 'string') this.algorithm = bounded(params.algo);
          }
          return;
        }
        case 'job':
          if (isObject(params)) this.cryptonoteJob(params);
          return;
        case 'login':
          if (isObject(params) && Array.isArray(params.algo) && typeof params.algo[0] === 'string') this.algorithm ??= bounded(params.algo[0]);
          return;
        case 'submit':
          this.submit(dir, m.id, this.currentWork(), ts);
          return;
        case 'job-submit': {
          const job = isObject(params) && typeof params.job_id === 'string' ? this.jobs.get(params.job_id) : undefined;
          this.submit(dir, m.id, job !== undefined ? { diff: NaN, hashes: job } : this.currentWork(), ts);
          return;
        }
        case 'hashrate': {
          const h = Array.isArray(params) ? hexNumber(params[0]) : NaN;
          // One connection reporting more than 10 PH/s is not a miner's figure.
          if (h >= 0 && h <= MAX_REPORTED_HS) this.reported = h;
          return;
        }
        case 'session':
          return;
      }
    }
    // A reply.
    if (!('result' in m) && !('error' in m)) return;
    const result = m.result;
    // ETHPROXY work package: result (or a push with id 0) of [header, seed, boundary, …].
    if (Array.isArray(result) && result.length >= 3 && typeof result[2] === 'string' && WORK_BOUNDARY.test(result[2])) {
      const h = hashesFromTarget256(result[2]);
      if (h > 0) {
        this.curHashes = h;
        this.curDiff = NaN;
        this.mining = true;
      }
      return;
    }
    // CryptoNote login result: {id, job:{…}, status}.
    if (isObject(result) && isObject(result.job)) {
      this.mining = true;
      this.cryptonoteJob(result.job);
    }
    const key = idKey(m.id);
    if (key === null) return;
    const q = this.pending.get(key);
    const p = q?.[0];
    if (p === undefined || p.dir === dir) return;
    if (q!.length === 1) this.pending.delete(key);
    else q!.shift();
    this.pendingCount--;
    this.replies++;
    const ok = (result === true || (isObject(result) && typeof result.status === 'string' && result.status.toUpperCase() === 'OK')) && (m.error === null || m.error === undefined || m.error === false);
    if (ok) {
      this.accepted++;
      if (p.diff > 0) this.acceptedDiff += p.diff;
      else if (p.hashes > 0) this.acceptedHashes += p.hashes;
      else this.unknownAccepted++;
    } else this.rejected++;
  }

  private cryptonoteJob(job: Record<string, unknown>): void {
    const t = job.target;
    if (typeof t !== 'string') return;
    const h = hashesFromCompactTarget(t);
    if (!(h > 0)) return;
    this.curHashes = h;
    this.curDiff = NaN;
    if (typeof job.algo === 'string') this.algorithm = bounded(job.algo);
    if (typeof job.job_id === 'string') {
      if (this.jobs.size >= MAX_JOBS) this.jobs.delete(this.jobs.keys().next().value as string);
      this.jobs.set(job.job_id, h);
    }
  }

  private currentWork(): Work {
    return { diff: this.curDiff, hashes: this.curHashes };
  }

  private submit(dir: number, id: unknown, w: Work, ts: number): void {
    this.submitted++;
    if (this.firstShare === 0) this.firstShare = ts;
    if (ts > this.lastShare) this.lastShare = ts;
    if (w.diff > 0) this.submittedDiff += w.diff;
    else if (w.hashes > 0) this.submittedHashes += w.hashes;
    else this.unknownSubmitted++;
    const key = idKey(id);
    if (key === null) return;
    if (this.pendingCount >= MAX_PENDING) {
      // Forget the oldest id's submits: they will not be answered now.
      const [oldKey, oldQ] = this.pending.entries().next().value as [string, unknown[]];
      this.pending.delete(oldKey);
      this.pendingCount -= oldQ.length;
    }
    const q = this.pending.get(key);
    if (q) q.push({ ...w, dir });
    else this.pending.set(key, [{ ...w, dir }]);
    this.pendingCount++;
  }

  /** The counts at the end of the flow (held segments taken across their holes), or null when there is nothing to report. */
  end(): ShareCounts | null {
    this.flushAhead();
    return this.submitted > 0 || this.reported !== null ? this.snapshot() : null;
  }

  /** The counts so far. With replies seen, accepted shares count; without, submitted ones. */
  snapshot(): ShareCounts {
    this.flushAhead();
    const answered = this.replies > 0;
    return {
      submitted: this.submitted,
      accepted: this.accepted,
      rejected: this.rejected,
      answered,
      counted: answered ? this.accepted : this.submitted,
      difficulty: answered ? this.acceptedDiff : this.submittedDiff,
      hashes: answered ? this.acceptedHashes : this.submittedHashes,
      unknownWork: answered ? this.unknownAccepted : this.unknownSubmitted,
      reportedHashrate: this.reported,
      algorithm: this.algorithm,
      firstShare: this.firstShare,
      lastShare: this.lastShare,
      gaps: this.gaps,
    };
  }

  /**
   * Start counting afresh for the next piece of a connection cut by the active timeout, keeping
   * what the pool set (difficulty, targets, jobs, algorithm) and the line state.
   */
  restart(): void {
    this.submitted = this.accepted = this.rejected = this.replies = 0;
    this.submittedDiff = this.submittedHashes = this.acceptedDiff = this.acceptedHashes = 0;
    this.unknownSubmitted = this.unknownAccepted = 0;
    this.firstShare = this.lastShare = 0;
    this.reported = null;
    this.gaps = 0;
    // Replies to submits of the previous piece are still matched, and count in the new one with their work.
  }
}

/** A JSON number, or a numeric string; NaN for anything else (never coerces objects, which could throw). */
function numberOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  return NaN;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function idKey(id: unknown): string | null {
  if (typeof id === 'number' || typeof id === 'string') return String(id).slice(0, 64);
  return null;
}

function bounded(s: string): string {
  return s.slice(0, 32).replace(/[^\x20-\x7e]/g, '?');
}

/** Hex number like `0x1dcd6500` (eth_submitHashrate), or NaN. */
function hexNumber(v: unknown): number {
  if (typeof v !== 'string' || !WORK_BOUNDARY.test(v)) return NaN;
  return Number(BigInt(v));
}
