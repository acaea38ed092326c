/**
 * Passive DNS: DNS answers seen in the same data that bind a pool domain to addresses. A later (or
 * concurrent) flow to such an address is a flow to that pool, with the binding's name and time as
 * evidence. Only pool names are kept, at most {@link MAX_BINDINGS} addresses.
 */
import { decodeDns, DNS_TYPE, type DnsMessage } from '../decode/dns.js';
import { DecodeError } from '../errors.js';
import type { EndpointIndex } from '../rules/endpoints.js';
import type { EndpointEntry } from '../rules/schema.js';

export const MAX_BINDINGS = 1 << 20;

/**
 * Cheap header test before decoding: standard query opcode, 1-64 questions, and for a response
 * 1-256 answers. Port 53 also carries junk, and decoding it would cost an exception per datagram.
 */
export function plausibleDnsHeader(buf: Uint8Array, off: number, len: number, response: boolean): boolean {
  if (len < 17) return false;
  const flags = buf[off + 2]!;
  const qd = (buf[off + 4]! << 8) | buf[off + 5]!;
  const an = (buf[off + 6]! << 8) | buf[off + 7]!;
  if ((flags & 0x80) !== (response ? 0x80 : 0) || (flags & 0x78) !== 0 || qd === 0 || qd > 64) return false;
  return response ? an > 0 && an <= 256 : an === 0;
}

export interface Binding {
  /** The pool name that was asked for (or the CNAME on the way that matched). */
  name: string;
  entry: EndpointEntry;
  /** When the answer was seen (ms). */
  time: number;
  ttl: number;
}

export class PassiveDns {
  private readonly byAddress = new Map<string, Binding>();
  /** Responses decoded, bindings made. */
  responses = 0;
  bindings = 0;

  constructor(private readonly index: EndpointIndex) {}

  /**
   * Feed one UDP datagram from port 53. A datagram whose header looks like a DNS response but whose
   * body does not decode is returned as its {@link DecodeError} (for the caller to count under
   * `dns.bad_message`, with the input it came from), never thrown; null otherwise.
   */
  observe(buf: Uint8Array, off: number, len: number, time: number): DecodeError | null {
    if (!plausibleDnsHeader(buf, off, len, true)) return null;
    let m: DnsMessage;
    try {
      m = decodeDns(buf, off, len);
    } catch (e) {
      if (e instanceof DecodeError) return e;
      throw e;
    }
    if (!m.response || m.answers.length === 0) return null;
    this.responses++;
    this.learn(m, time);
    return null;
  }

  /** Learn the pool bindings of one decoded response. */
  learn(m: DnsMessage, time: number): void {
    // A name in the chain (question, CNAME owners and targets) that is a pool name makes every address in the answer a pool address.
    let hit: { name: string; entry: EndpointEntry } | null = null;
    for (const q of m.questions) {
      const e = this.index.domain(q.name);
      if (e) {
        hit = { name: q.name, entry: e };
        break;
      }
    }
    if (!hit)
      for (const a of m.answers) {
        const e = this.index.domain(a.name) ?? (a.type === DNS_TYPE.CNAME ? this.index.domain(a.data) : null);
        if (e) {
          hit = { name: a.type === DNS_TYPE.CNAME && !this.index.domain(a.name) ? a.data : a.name, entry: e };
          break;
        }
      }
    if (!hit) return;
    for (const a of m.answers) {
      if (a.type !== DNS_TYPE.A && a.type !== DNS_TYPE.AAAA) continue;
      if (this.index.excluded(a.data)) continue;
      if (!this.byAddress.has(a.data) && this.byAddress.size >= MAX_BINDINGS) continue;
      this.byAddress.set(a.data, { name: hit.name, entry: hit.entry, time, ttl: a.ttl });
      this.bindings++;
    }
  }

  lookup(address: string): Binding | null {
    return this.byAddress.get(address) ?? null;
  }

  get size(): number {
    return this.byAddress.size;
  }
}
