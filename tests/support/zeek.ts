/**
 * Zeek's TSV dns.log as Zeek writes it (base/protocols/dns/main.zeek, DNS::Info, with the ASCII
 * writer's header): Zeek is not packaged, so tests write its logs from the documented schema.
 */

/** DNS::Info's columns and their types, in the order Zeek writes them. */
export const ZEEK_DNS_FIELDS = ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'trans_id', 'rtt', 'query', 'qclass', 'qclass_name', 'qtype', 'qtype_name', 'rcode', 'rcode_name', 'AA', 'TC', 'RD', 'RA', 'Z', 'answers', 'TTLs', 'rejected'];
export const ZEEK_DNS_TYPES = ['time', 'string', 'addr', 'port', 'addr', 'port', 'enum', 'count', 'interval', 'string', 'count', 'string', 'count', 'string', 'count', 'string', 'bool', 'bool', 'bool', 'bool', 'count', 'vector[string]', 'vector[interval]', 'bool'];

/** A whole dns.log: the header (opened at `stamp`, Zeek's `YYYY-MM-DD-HH-MM-SS`), one line per record, the close line. */
export function zeekDnsTsv(records: readonly (readonly string[])[], stamp: string): string {
  const head = [
    '#separator \\x09',
    '#set_separator\t,',
    '#empty_field\t(empty)',
    '#unset_field\t-',
    '#path\tdns',
    `#open\t${stamp}`,
    `#fields\t${ZEEK_DNS_FIELDS.join('\t')}`,
    `#types\t${ZEEK_DNS_TYPES.join('\t')}`,
  ];
  return [...head, ...records.map((r) => r.join('\t')), `#close\t${stamp}`, ''].join('\n');
}
