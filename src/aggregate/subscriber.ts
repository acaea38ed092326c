/**
 * Who is the subscriber of a flow: by default its client address; with subscriber nets, the
 * endpoint inside them (longest prefix wins when nets overlap), and no one when neither is.
 */
import ipaddr from 'ipaddr.js';
import { UsageError } from '../errors.js';
import type { FlowRecord } from '../types.js';
import type { SubscriberDirectory } from './directory.js';
import type { NatMapper } from './nat.js';

export interface SubscriberNet {
  text: string;
  addr: ipaddr.IPv4 | ipaddr.IPv6;
  bits: number;
}

/** Parse `--subscriber-net` values; a bad one is a usage error naming it. */
export function parseSubscriberNets(cidrs: readonly string[]): SubscriberNet[] {
  return cidrs.map((text) => {
    try {
      const [addr, bits] = ipaddr.parseCIDR(text);
      return { text, addr, bits };
    } catch {
      throw new UsageError(`--subscriber-net ${JSON.stringify(text)} is not a CIDR; expected e.g. 100.64.0.0/10 or 2001:db8::/32`);
    }
  });
}

export class SubscriberMap {
  constructor(
    private readonly nets: readonly SubscriberNet[],
    private readonly directory: SubscriberDirectory | null = null,
    private readonly nat: NatMapper | null = null,
  ) {}

  /**
   * Who a flow belongs to. Behind carrier-grade NAT the client address is a public one: it is first
   * mapped back to the private address with the flow's client port and start time; when that
   * mapping is missing or ambiguous the flow stays on the public address and `nat` says why.
   */
  resolve(f: Pick<FlowRecord, 'client' | 'clientPort' | 'server' | 'firstSeen'>): { subscriber: string | null; nat: string | null } {
    if (this.nat && !this.nat.empty && this.nat.isPublic(f.client)) {
      const r = this.nat.map(f.client, f.clientPort, f.firstSeen);
      if (r && r.status === 'mapped') return { subscriber: this.subscriberOf(r.privateIp, f.server), nat: `mapped: ${r.how}` };
      if (r) return { subscriber: this.subscriberOf(f.client, f.server), nat: `${r.status}: ${r.how}` };
    }
    return { subscriber: this.subscriberOf(f.client, f.server), nat: null };
  }

  /**
   * The subscriber of a flow: the directory's id for the client (else the server) address when a
   * directory is given and maps one of them; otherwise the endpoint inside the subscriber nets, or
   * the client address when no nets are given; null when neither endpoint is in the nets.
   */
  subscriberOf(client: string, server: string): string | null {
    if (this.directory) {
      const e = this.directory.lookup(client) ?? this.directory.lookup(server);
      if (e) return e.subscriber;
    }
    if (this.nets.length === 0) return client;
    const c = this.bestPrefix(client);
    const s = this.bestPrefix(server);
    if (c < 0 && s < 0) return null;
    return c >= s ? client : server;
  }

  private bestPrefix(ip: string): number {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.parse(ip);
    } catch {
      return -1;
    }
    let best = -1;
    for (const n of this.nets) {
      if (n.addr.kind() !== addr.kind()) continue;
      if (n.bits > best && (addr as ipaddr.IPv4).match(n.addr as ipaddr.IPv4, n.bits)) best = n.bits;
    }
    return best;
  }
}
