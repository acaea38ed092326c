/**
 * Who is the subscriber of a flow: by default its client address; with subscriber nets, the
 * endpoint inside them (longest prefix wins when nets overlap), and no one when neither is.
 */
import ipaddr from 'ipaddr.js';
import { UsageError } from '../errors.js';
import type { SubscriberDirectory } from './directory.js';

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
  ) {}

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
