/**
 * Streaming share meter: counts the shares a miner submits over the whole life of a JSON-RPC
 * mining connection (not just the payload prefix), with the difficulty or target each share was
 * worth and whether the pool accepted it, so the report can estimate hashrate.
 *
 * It reads newline-delimited JSON-RPC in both directions, in TCP sequence order per direction
 * (retransmissions skipped, a gap drops the partial line and is counted). Only flows whose payload
 * starts with `{` are metered, and a meter that sees no mining message in its first
 * {@link PROBE_BYTES} gives up, so other JSON-over-TCP costs a bounded amount. Of a line longer than
 * {@link MAX_LINE} bytes (Bitcoin `mining.notify` with merkle branches, Equihash submits with their
 * 1344-byte solutions) only the head is kept, which is enough to count a submit.
 *
 * What is understood (protocol facts, not detection; classification stays with the rules):
 * - Stratum V1 and EthereumStratum/1.0.0: `mining.set_difficulty [d]` (difficulty units, turned into
 *   hashes later by the algorithm's multiplier), `mining.set_target [hex]` (Equihash; a 256-bit target),
 *   `mining.submit`, replies `{"id":…,"result":true|false,"error":…}`.
 * - EthereumStratum/2.0.0: `mining.set {target}`, `mining.submit`.
 * - CryptoNote (XMRig and pools): the login result's `job` and `job` pushes with a compact `target`
 *   (4 or 8 bytes little-endian hex: difficulty = 2^32/t or 2^64/t hashes), `submit` naming its
 *   `job_id`, replies `{"result":{"status":"OK"}}`; the login's `algo` list names the algorithm.
 * - ETHPROXY: work packages `["0xheader","0xseed","0xboundary", …]` (hashes = 2^256/boundary),
 *   `eth_submitWork`, and the miner's own `eth_submitHashrate ["0x…"]` (H/s).
 *
 * Allocation: only metered flows pay, per complete line (one latin1 string and one JSON.parse),
 * which for mining sessions is a handful of messages a minute.
 */
import type { ShareCounts } from '../types.js';

/** Longest line parsed whole; of longer ones only this much of the head is kept. */
export const MAX_LINE = 1024;
/** Bytes (both directions) a meter reads looking for a mining message before it gives up. */
export const PROBE_BYTES = 8192;
/** Submits waiting for a reply that are remembered (oldest forgotten first). */
const MAX_PENDING = 64;
/** Out-of-order segments held per flow, and the largest held. */
const MAX_AHEAD = 4;
const MAX_AHEAD_BYTES = 4096;
/** Largest miner-reported hashrate kept (H/s). */
const MAX_REPORTED_HS = 1e16;
/** Recent CryptoNote job ids remembered with their targets. */
const MAX_JOBS = 16;

const MINING_METHODS = new Set([
  'mining.subscribe',
  'mining.authorize',
  'mining.configure',
  'mining.submit',
  'mining.notify',
  'mining.set_difficulty',
  'mining.set_target',
  'mining.set_extranonce',
  'mining.extranonce.subscribe',
  'mining.hello',
  'mining.set',
  'login',
  'job',
  'submit',
  'keepalived',
  'eth_submitLogin',
  'eth_getWork',
  'eth_submitWork',
  'eth_submitHashrate',
]);

const LATIN1 = new TextDecoder('latin1');
const TWO_256 = 2 ** 256;
const TWO_64 = 2 ** 64;
const TWO_32 = 2 ** 32;

/** Work one share is worth: in difficulty units (algorithm-dependent) or in expected hashes. */
interface Work {
  diff: number;
  hashes: number;
}

class LineBuffer {
  buf = new Uint8Array(256);
  length = 0;
  /** After a gap: drop bytes until the next newline. */
  skipping = false;
  /** The current line is longer than MAX_LINE; only its head is kept. */
  truncated = false;
  nextSeq = 0;
  seqSet = false;
}

export class ShareMeter {
  /** No mining message within the probe budget: the table drops the meter. */
  dead = false;
  private mining = false;
  private probed = 0;
  private readonly dirs = [new LineBuffer(), new LineBuffer()];
  /** Segments that arrived ahead of a hole, waiting for it to fill. */
  private readonly ahead: Array<{ dir: number; seq: number; bytes: Uint8Array; ts: number }> = [];

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
  private gaps = 0;

  /** Where direction `dir`'s data starts (its SYN + 1), when the handshake was seen: a first data segment lost is then a gap too. */
  expect(dir: number, seq: number): void {
    const d = this.dirs[dir]!;
    if (d.seqSet) return;
    d.seqSet = true;
    d.nextSeq = seq;
  }

  /**
   * One TCP segment of direction `dir` (0 or 1). `seq` is the sequence number of its first byte
   * (after any SYN). Bytes already seen are skipped; a segment that arrives ahead of its
   * predecessor is held (a few, bounded) until the hole fills; a hole that does not fill drops
   * the partial line and is counted.
   */
  segment(dir: number, seq: number, buf: Uint8Array, off: number, len: number, ts: number): void {
    this.expect(dir, seq);
    const d = this.dirs[dir]!;
    if (((seq - d.nextSeq) | 0) > 0) {
      // Too much is waiting: give up on the nearest hole of this direction first.
      if (this.ahead.length >= MAX_AHEAD) this.giveUpHole(dir);
      if (((seq - d.nextSeq) | 0) > 0 && this.ahead.length < MAX_AHEAD && len <= MAX_AHEAD_BYTES) {
        this.ahead.push({ dir, seq, bytes: buf.slice(off, off + len), ts });
        return;
      }
    }
    this.accept(dir, seq, buf, off, len, ts);
    this.drain(dir);
  }

  /** Take a segment in order (trimming what was already seen), or across a hole. */
  private accept(dir: number, seq: number, buf: Uint8Array, off: number, len: number, ts: number): void {
    if (this.dead) return;
    const d = this.dirs[dir]!;
    const delta = (seq - d.nextSeq) | 0;
    if (delta < 0) {
      // Retransmission (or a late segment): keep only the new tail, if any.
      if (-delta >= len) return;
      off -= delta;
      len += delta;
    } else if (delta > 0) {
      this.gaps++;
      d.length = 0;
      d.truncated = false;
      // Resume at once when the segment after the hole starts a message; else at the next line.
      d.skipping = buf[off] !== 0x7b;
    }
    d.nextSeq = (seq + (delta < 0 ? -delta : 0) + len) | 0;
    if (!this.mining) {
      this.probed += len;
      if (this.probed > PROBE_BYTES) {
        this.dead = true;
        return;
      }
    }
    this.feed(dir, d, buf, off, len, ts);
  }

  /** Feed held segments of `dir` that the stream has now reached. */
  private drain(dir: number): void {
    const d = this.dirs[dir]!;
    for (let i = 0; i < this.ahead.length; ) {
      const h = this.ahead[i]!;
      if (h.dir === dir && ((h.seq - d.nextSeq) | 0) <= 0) {
        this.ahead.splice(i, 1);
        this.accept(dir, h.seq, h.bytes, 0, h.bytes.length, h.ts);
        i = 0;
      } else i++;
    }
  }

  /** Accept the nearest held segment of `dir` across its hole (or, with none, any direction's). */
  private giveUpHole(dir: number): void {
    let best = -1;
    for (let i = 0; i < this.ahead.length; i++) {
      const h = this.ahead[i]!;
      if (h.dir !== dir) continue;
      if (best < 0 || ((h.seq - this.ahead[best]!.seq) | 0) < 0) best = i;
    }
    if (best < 0) best = 0;
    const [h] = this.ahead.splice(best, 1);
    if (!h) return;
    this.accept(h.dir, h.seq, h.bytes, 0, h.bytes.length, h.ts);
    this.drain(h.dir);
  }

  /** At the end of the flow: what is still held went past holes that never filled. */
  private flushAhead(): void {
    while (this.ahead.length) this.giveUpHole(this.ahead[0]!.dir);
  }

  private feed(dir: number, d: LineBuffer, buf: Uint8Array, off: number, len: number, ts: number): void {
    const end = off + len;
    let p = off;
    while (p < end) {
      let nl = p;
      while (nl < end && buf[nl] !== 0x0a) nl++;
      if (!d.skipping) {
        // Keep at most MAX_LINE bytes of a line: the head of a long one still names its method and id.
        const n = Math.min(nl - p, MAX_LINE - d.length);
        if (n < nl - p) d.truncated = true;
        if (n > 0) {
          if (d.length + n > d.buf.length) {
            let cap = d.buf.length;
            while (cap < d.length + n) cap *= 2;
            const nb = new Uint8Array(Math.min(cap, MAX_LINE));
            nb.set(d.buf.subarray(0, d.length));
            d.buf = nb;
          }
          d.buf.set(buf.subarray(p, p + n), d.length);
          d.length += n;
        }
      }
      if (nl === end) return;
      // A complete line.
      if (!d.skipping && d.length > 0) {
        if (d.truncated) this.longLine(dir, d.buf, d.length, ts);
        else this.line(dir, d.buf, d.length, ts);
      }
      d.length = 0;
      d.skipping = false;
      d.truncated = false;
      p = nl + 1;
    }
  }

  /**
   * A line longer than MAX_LINE, of which the head is kept. Only a submit matters here (Equihash
   * solutions make a `mining.submit` ~2.9 kB); its method, id and job id sit near the start.
   */
  private longLine(dir: number, b: Uint8Array, n: number, ts: number): void {
    const head = LATIN1.decode(b.subarray(0, n));
    const method = /"method"\s*:\s*"([^"]{1,64})"/.exec(head)?.[1];
    if (method === undefined || !MINING_METHODS.has(method)) return;
    // Long mining lines (Bitcoin mining.notify with merkle branches) still prove a mining session.
    this.mining = true;
    if (method !== 'mining.submit' && method !== 'submit' && method !== 'eth_submitWork') return;
    const idm = /^\s*\{\s*(?:[^{}]*?,\s*)?"id"\s*:\s*(?:(-?\d{1,20})|"([^"]{0,64})")/.exec(head);
    const id = idm ? (idm[1] !== undefined ? Number(idm[1]) : idm[2]) : null;
    let work = this.currentWork();
    if (method === 'submit') {
      const job = /"job_id"\s*:\s*"([^"]{1,64})"/.exec(head)?.[1];
      const h = job !== undefined ? this.jobs.get(job) : undefined;
      if (h !== undefined) work = { diff: NaN, hashes: h };
    }
    this.submit(dir, id, work, ts);
  }

  private line(dir: number, b: Uint8Array, n: number, ts: number): void {
    let s = 0;
    while (s < n && (b[s] === 0x20 || b[s] === 0x09 || b[s] === 0x0d)) s++;
    if (s >= n || b[s] !== 0x7b) return;
    let msg: unknown;
    try {
      msg = JSON.parse(LATIN1.decode(b.subarray(s, n)));
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return;
    this.message(dir, msg as Record<string, unknown>, ts);
  }

  private message(dir: number, m: Record<string, unknown>, ts: number): void {
    const method = typeof m.method === 'string' ? m.method : null;
    if (method !== null) {
      if (!MINING_METHODS.has(method)) return;
      this.mining = true;
      const params = m.params;
      switch (method) {
        case 'mining.set_difficulty': {
          const d = Array.isArray(params) ? numberOf(params[0]) : NaN;
          if (d > 0 && Number.isFinite(d)) {
            this.curDiff = d;
            this.curHashes = NaN;
          }
          return;
        }
        case 'mining.set_target': {
          const h = Array.isArray(params) ? hashesFromTarget256(params[0]) : NaN;
          if (h > 0) {
            this.curHashes = h;
            this.curDiff = NaN;
          }
          return;
        }
        case 'mining.set': {
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
        case 'mining.submit':
        case 'eth_submitWork':
          this.submit(dir, m.id, this.currentWork(), ts);
          return;
        case 'submit': {
          const job = isObject(params) && typeof params.job_id === 'string' ? this.jobs.get(params.job_id) : undefined;
          this.submit(dir, m.id, job !== undefined ? { diff: NaN, hashes: job } : this.currentWork(), ts);
          return;
        }
        case 'eth_submitHashrate': {
          const h = Array.isArray(params) ? hexNumber(params[0]) : NaN;
          // One connection reporting more than 10 PH/s is not a miner's figure.
          if (h >= 0 && h <= MAX_REPORTED_HS) this.reported = h;
          return;
        }
        default:
          return;
      }
    }
    // A reply.
    if (!('result' in m) && !('error' in m)) return;
    const result = m.result;
    // ETHPROXY work package: result (or a push with id 0) of [header, seed, boundary, …].
    if (Array.isArray(result) && result.length >= 3 && typeof result[2] === 'string' && /^0x[0-9a-fA-F]{1,64}$/.test(result[2])) {
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
  if (typeof v === 'string' && /^\s*[0-9.eE+-]{1,32}\s*$/.test(v)) return Number(v);
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
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(v)) return NaN;
  return Number(BigInt(v));
}

/**
 * Expected hashes per share for a 256-bit big-endian target (`0x…` or bare hex, up to 64 digits):
 * 2^256 / target. NaN when absent or zero.
 */
export function hashesFromTarget256(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  const hex = v.startsWith('0x') || v.startsWith('0X') ? v.slice(2) : v;
  if (!/^[0-9a-fA-F]{1,64}$/.test(hex)) return NaN;
  // A number: EthereumStratum/2.0.0 sends its target with the leading zeros trimmed.
  const t = Number(BigInt('0x' + hex));
  return t > 0 ? TWO_256 / t : NaN;
}

/**
 * Expected hashes per share for a CryptoNote pool target: 4 bytes little-endian hex (difficulty =
 * 2^32 / t) or 8 bytes (2^64 / t), as XMRig reads it. NaN when malformed or zero.
 */
export function hashesFromCompactTarget(hex: string): number {
  if (hex.length !== 8 && hex.length !== 16) return NaN;
  if (!/^[0-9a-fA-F]+$/.test(hex)) return NaN;
  let t = 0;
  for (let i = hex.length - 2; i >= 0; i -= 2) t = t * 256 + parseInt(hex.slice(i, i + 2), 16);
  if (t === 0) return NaN;
  return (hex.length === 8 ? TWO_32 : TWO_64) / t;
}
