/**
 * Who is the subscriber of a flow: by default its client address; with subscriber nets, the
 * endpoint inside them (longest prefix wins when nets overlap), and no one when neither is. Behind
 * CGNAT the public address is first mapped back to the private one; a dynamic address is mapped to
 * the account that held it then (RADIUS accounting), and that account to the directory's subscriber.
 */
import ipaddr from '../ipaddr.js';
import { UsageError } from '../errors.js';
import { ADDRESS_FORMS, canonicalIpv4ToInt, ipv4ToInt } from '../ip.js';
import { readCidr } from '../io/csv.js';
import { IPV4_MASKS, inIpv6Net, parseLookupV6 } from './netkey.js';
import type { FlowRecord } from '../types.js';
import type { DirectoryEntry, SubscriberDirectory } from './directory.js';
import type { NatMapper } from './nat.js';
import type { RadiusIndex, RadiusResult } from './radius.js';
import { inertJson } from '../report/format.js';

export interface SubscriberNet {
  text: string;
  addr: ipaddr.IPv4 | ipaddr.IPv6;
  bits: number;
}

/** Parse `--subscriber-net` values; a bad one is a usage error naming it. */
export function parseSubscriberNets(cidrs: readonly string[]): SubscriberNet[] {
  return cidrs.map((text) => {
    const net = readCidr(text);
    if (net === null) throw new UsageError(`--subscriber-net ${JSON.stringify(text)} is not a CIDR; expected e.g. 100.64.0.0/10 or 2001:db8::/32 (the address: ${ADDRESS_FORMS})`);
    const [addr, bits] = net;
    return { text, addr, bits };
  });
}

export class SubscriberMap {
  constructor(
    private readonly nets: readonly SubscriberNet[],
    private readonly directory: SubscriberDirectory | null = null,
    private readonly nat: NatMapper | null = null,
    private readonly radius: RadiusIndex | null = null,
  ) {
    for (const n of nets) {
      if (n.addr.kind() === 'ipv4') {
        const mask = IPV4_MASKS[n.bits]!;
        this.v4Nets.push({ net: ipv4ToInt(n.addr.toString()) & mask, mask, bits: n.bits });
      } else this.v6Nets.push({ bytes: n.addr.toByteArray(), bits: n.bits });
    }
  }

  /** The subscriber nets as numbers (IPv4: network and mask) and bytes (IPv6), for {@link bestPrefix}. */
  private readonly v4Nets: Array<{ net: number; mask: number; bits: number }> = [];
  private readonly v6Nets: Array<{ bytes: number[]; bits: number }> = [];
  private readonly v6 = new Uint8Array(16);

  /** Directory entries by account (built at the first RADIUS match): the subscriber id an account maps to, or null when several do. */
  private byAccount: Map<string, DirectoryEntry | null> | null = null;

  /**
   * Who a flow belongs to. Behind carrier-grade NAT the client address is a public one: it is first
   * mapped back to the private address with the flow's client port and start time; when that
   * mapping is missing or ambiguous the flow stays on the public address and `nat` says why. The
   * address (the private one after NAT) is then looked up in the RADIUS sessions at the flow's start
   * (the server address when the client is in none, as a capture caught mid-session may swap them):
   * the account that held it is the subscriber, or the directory's subscriber whose account column
   * names it. `nat` is the whole attribution chain, its steps joined by `; `: the NAT step as before,
   * then `radius mapped: …` (account, session id, address, the Start and Stop records by file:line
   * and time), `radius ambiguous: …` or `radius missing: …`; null when no step applied.
   */
  resolve(f: Pick<FlowRecord, 'client' | 'clientPort' | 'server' | 'firstSeen'>): { subscriber: string | null; nat: string | null } {
    let client = f.client;
    let chain: string | null = null;
    if (this.nat && !this.nat.empty && this.nat.isPublic(f.client)) {
      const r = this.nat.map(f.client, f.clientPort, f.firstSeen);
      if (r && r.status === 'mapped') {
        client = r.privateIp;
        chain = `mapped: ${r.how}`;
      } else if (r) chain = `${r.status}: ${r.how}`;
    }
    if (this.radius && !this.radius.empty) {
      const r: RadiusResult = this.radius.lookup(client, f.firstSeen) ?? this.radius.lookup(f.server, f.firstSeen);
      if (r) {
        let step = `radius ${r.status}: ${r.how}`;
        let subscriber: string | null = null;
        if (r.status === 'mapped') {
          const { id, how } = this.accountSubscriber(r.session.account);
          subscriber = id;
          if (how) step += `; ${how}`;
        }
        chain = chain === null ? step : `${chain}; ${step}`;
        if (subscriber !== null) return { subscriber, nat: chain };
      }
    }
    return { subscriber: this.subscriberOf(client, f.server), nat: chain };
  }

  /** The subscriber of an account: the directory's id for it (its account column), else the account itself. */
  private accountSubscriber(account: string): { id: string; how: string | null } {
    if (!this.directory) return { id: account, how: null };
    if (!this.byAccount) {
      this.byAccount = new Map();
      for (const e of this.directory.entries) {
        if (e.account === null) continue;
        const had = this.byAccount.get(e.account);
        this.byAccount.set(e.account, had === undefined || (had !== null && had.subscriber === e.subscriber) ? (had ?? e) : null);
      }
    }
    const e = this.byAccount.get(account);
    if (e === undefined) return { id: account, how: null };
    if (e === null) return { id: account, how: `account in the directory under several subscribers: kept as ${inertJson(account)}` };
    return { id: e.subscriber, how: `directory line ${e.line}: account ${inertJson(account)} is subscriber ${inertJson(e.subscriber)}` };
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

  /**
   * The longest subscriber net holding the address (its prefix length), -1 for none. Dotted quads
   * and IPv6 text are read without ipaddr (an IPv4-mapped address stays IPv6, as ipaddr.parse
   * leaves it); any other form (a part with a leading zero, which ipaddr reads as octal, a dotted
   * IPv6 tail, a zone index) is parsed by ipaddr as before.
   */
  private bestPrefix(ip: string): number {
    const n4 = canonicalIpv4ToInt(ip);
    if (n4 >= 0) {
      let best = -1;
      for (const n of this.v4Nets) if (n.bits > best && (n4 & n.mask) === n.net) best = n.bits;
      return best;
    }
    if (parseLookupV6(ip, this.v6) >= 0) {
      let best = -1;
      for (const n of this.v6Nets) if (n.bits > best && inIpv6Net(this.v6, n.bytes, n.bits)) best = n.bits;
      return best;
    }
    return this.bestPrefixParsed(ip);
  }

  private bestPrefixParsed(ip: string): number {
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
