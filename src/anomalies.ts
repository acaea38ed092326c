/**
 * Malformed input is a counted event, not an exception. Every anomaly has a stable dotted code
 * (`<layer>.<what>`), a count, and the first few occurrences with file, byte offset and message.
 */

/** The stable codes this tool emits, with what each means (documented in the README). */
export const ANOMALY_CODES = {
  'input.truncated_header': 'file ends inside the file header',
  'pcap.truncated_record': 'file ends inside a packet record (header or data)',
  'pcap.record_too_long': 'record length larger than the snap length or the 256 KiB maximum; reader resynchronised',
  'capture.resync_skipped': 'bytes skipped while looking for the next plausible record',
  'pcapng.bad_block_length': 'block length not a multiple of 4, below 12, over the maximum, or trailer mismatch',
  'pcapng.truncated_block': 'file ends inside a block',
  'pcapng.no_section': 'block before any section header',
  'pcapng.unknown_interface': 'packet names an interface that was not described',
  'pcapng.bad_block': 'block body too short for its type',
  'pcapng.bad_time': 'packet time outside the dates a report holds (within 8.64e15 ms of 1970, the year 275760: its interface\'s if_tsresol or if_tsoffset out of range); skipped',
  'link.unsupported': 'packet of a link type this tool does not decode',
  'link.truncated': 'link-layer header cut short',
  'link.mpls_unknown_payload': 'MPLS bottom-of-stack payload is neither IPv4 nor IPv6',
  'ipv4.bad_header': 'IPv4 header length or version invalid',
  'ipv4.truncated': 'IPv4 total length exceeds the captured bytes of a whole frame',
  'ipv6.bad_header': 'IPv6 header or extension header chain invalid',
  'ipv6.truncated': 'IPv6 payload length exceeds the captured bytes of a whole frame',
  'tcp.bad_header': 'TCP data offset below 5 words',
  'tcp.truncated': 'TCP header cut short',
  'udp.truncated': 'UDP header cut short',
  'udp.bad_length': 'UDP length field below 8 (a length beyond the IP payload is bounded by the payload)',
  'flow.evicted': 'flow table full: the least recently seen flow was finished early',
  'netflow.truncated': 'NetFlow datagram shorter than its header or records say',
  'netflow.bad_count': 'NetFlow v5 record count above 30 or not matching the datagram length',
  'v9.bad_template': 'NetFlow v9 template with impossible fields (length 0, beyond the set)',
  'v9.template_missing': 'NetFlow v9 data set whose template has not been seen (buffered, bounded)',
  'v9.bad_set_length': 'NetFlow v9 FlowSet length below 4 or beyond the datagram',
  'ipfix.bad_length': 'IPFIX message length not matching the datagram or file',
  'ipfix.bad_template': 'IPFIX template with impossible fields',
  'ipfix.template_missing': 'IPFIX data set whose template has not been seen (buffered, bounded)',
  'ipfix.bad_set_length': 'IPFIX set length below 4 or beyond the message',
  'export.unknown_version': 'a datagram taken for a flow export carries an unknown version',
  'export.bad_time': 'flow-export record whose start or end time falls outside the dates a report holds (within 8.64e15 ms of 1970, the year 275760); skipped',
  'json.bad_line': 'a JSON-lines flow record that could not be read (not JSON, missing addresses, ports, counters or times); skipped',
  'csv.bad_line': 'a CSV line that could not be read (field count, time, address, port, protocol or counter); skipped',
  'input.bad_gzip': 'gzip stream cut short or corrupt, a member whose header CRC16, CRC32 or length does not match, or bytes after the last member that are not another member or zero padding; what was decompressed before it is kept',
  'dnstap.bad_frame': 'Frame Streams frame with an impossible length (data frame over 1 MiB, control frame outside 4-512 bytes) or a malformed control frame; the reader looks for the next plausible frame',
  'dnstap.truncated': 'file ends inside a Frame Streams frame',
  'dnstap.bad_message': 'data frame that is not a dnstap protobuf message, or a response message without what a lookup needs (response message, 4- or 16-byte client address, a time a report can hold); skipped',
  'dns.bad_message': 'DNS message that does not decode: a response in a dnstap frame or a captured UDP datagram from port 53 (resolver logs: also one with no question, or a query where a response was expected), or a query in a flow to port 53 of a scanned capture; skipped',
  'tls.bad_client_hello': 'a flow whose client payload starts like a TLS ClientHello that does not decode (malformed, or cut before its server_name extension); its SNI is not known',
  'kafka.bad_message': 'a Kafka record value that is not what the consumer\'s --format says (varint framing, FlowMessage protobuf, GoFlow2 JSON, address length); skipped',
  'zeek.bad_line': 'a Zeek dns.log line (TSV or JSON) that could not be read (field count, time, answer time rtt, address, rcode, answers and TTLs); skipped',
  'nfcapd.bad_block': 'nfdump file block header that cannot be right (size 0 or over 5 MiB, no records, unknown type); the reader looks for the next plausible block header',
  'nfcapd.truncated_block': 'nfdump file ends inside a block header or block, or (closed by nfcapd) before the blocks its header counts',
  'nfcapd.resync_skipped': 'bytes of an nfdump file skipped while looking for the next plausible block header',
  'nfcapd.unsupported_block': 'nfdump file block of another layout (type 2, nfdump 1.6 records) in a version 2 file; skipped',
  'nfcapd.codec_unavailable': 'nfdump file block in a compression this run cannot decompress (LZO, when the optional package lzo is missing or MINERWATCH_NFCAPD_NO_LZO=1; LZ4, when lz4-napi has no binary for the platform); skipped',
  'nfcapd.bad_compressed_block': 'nfdump file block that does not decompress (corrupt, or over nfdump\'s 5 MiB block size); skipped',
  'nfcapd.bad_record': 'nfdump file record whose size runs past its block, or V3 flow record with a bad element, without times or addresses, or with a time outside the dates a report holds; skipped (a bad size skips the rest of its block)',
  'nfcapd.unknown_record': 'nfdump file record of a type that is neither a V3 flow nor nfdump metadata; skipped',
  'nfcapd.unknown_extension': 'V3 flow record with an extension element id nfdump 1.7 does not define; the element is skipped, the record kept',
} as const;

export type AnomalyCode = keyof typeof ANOMALY_CODES;

/** One recorded occurrence (the first few of each code are kept). */
export interface AnomalySample {
  code: string;
  file: string;
  offset: number;
  message: string;
}

/** Counts anomalies by code and keeps the first {@link Anomalies.samplesPerCode} occurrences of each. */
export class Anomalies {
  readonly counts = new Map<string, number>();
  readonly samples: AnomalySample[] = [];
  constructor(readonly samplesPerCode = 5) {}

  /** Count one occurrence. `offset` is a byte offset in `file` (-1 when not known); a line-based reader names the line in `message`. */
  add(code: AnomalyCode, file: string, offset: number, message: string): void {
    const n = (this.counts.get(code) ?? 0) + 1;
    this.counts.set(code, n);
    if (n <= this.samplesPerCode) this.samples.push({ code, file, offset, message });
  }

  /** Add `n` occurrences without samples (hot-path counters folded in at the end). */
  addCount(code: AnomalyCode, n: number): void {
    if (n > 0) this.counts.set(code, (this.counts.get(code) ?? 0) + n);
  }

  /** Add another count's occurrences (another thread's, as it crossed: counts and samples), keeping at most {@link samplesPerCode} samples a code. */
  addAll(other: { readonly counts: ReadonlyMap<string, number>; readonly samples: readonly AnomalySample[] }): void {
    const kept = new Map<string, number>();
    for (const s of this.samples) kept.set(s.code, (kept.get(s.code) ?? 0) + 1);
    for (const s of other.samples) {
      const k = kept.get(s.code) ?? 0;
      if (k >= this.samplesPerCode) continue;
      kept.set(s.code, k + 1);
      this.samples.push(s);
    }
    for (const [code, n] of other.counts) if (n > 0) this.counts.set(code, (this.counts.get(code) ?? 0) + n);
  }

  get total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }

  /** Counts as a plain sorted object, for JSON output. */
  toObject(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
