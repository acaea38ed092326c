/**
 * Glue between a capture reader and the flow table: decode each packet into one reused view,
 * count what it was, and hand TCP/UDP packets to the table. Per-packet work allocates nothing;
 * anomalies are counted in a typed array and only their first occurrences build a message.
 */
import type { Anomalies, AnomalyCode } from '../anomalies.js';
import { decodePacket, PACKET_STATUS_ANOMALY, PACKET_STATUS_COUNT, PacketStatus, PacketView } from '../decode/packet.js';
import type { PacketSink } from '../io/pcap.js';
import { packetSource, parseIpv6Words } from './addr.js';
import { plausibleExportDatagram, type ExportDatagrams } from './exportsource.js';
import { newNumericRecord } from '../decode/templates.js';
import type { ExportFlowInput, FlowTable, NumericExportRecord } from './table.js';
import { ipv4ToInt } from '../ip.js';
import { isDateMs, MAX_DATE_MS } from '../time.js';

/** Per-input packet counters. */
export interface PacketCounts {
  packets: number;
  /** Bytes on the wire (original lengths). */
  wireBytes: number;
  /** IPv4/IPv6 packets carrying TCP or UDP directly: every one of them lands in a flow. */
  transportPackets: number;
  nonIp: number;
  ipOther: number;
  fragments: number;
  malformed: number;
  /** Flow-export records read. */
  records: number;
  /** Captured UDP packets that carried flow-export datagrams. */
  exportPackets: number;
}

export class PacketIngest implements PacketSink {
  /** Export records delivered by flow-export inputs (and export datagrams found in captures). */
  private records = 0;
  private readonly view = new PacketView();
  private readonly status = new Float64Array(PACKET_STATUS_COUNT);
  private wire = 0;
  private file = '';
  private inputIndex = 0;
  /** Packet number within the current input (1-based), as Wireshark numbers frames. */
  private ordinal = 0;

  constructor(
    /** Packets and export records (IPv4 and IPv6) go to this one table. */
    private readonly table: FlowTable,
    private readonly anomalies: Anomalies,
    /** Sees every UDP datagram from port 53 (passive DNS); only those packets pay for it. */
    private readonly onDnsResponse: ((buf: Uint8Array, off: number, len: number, tsMs: number) => void) | null = null,
    /** Decodes NetFlow/IPFIX datagrams found in captured UDP packets (null: do not look). */
    private readonly exportDatagrams: ExportDatagrams | null = null,
    /** UDP destination ports whose payloads are always taken as export datagrams (`--collector-port`). */
    private readonly collectorPorts: ReadonlySet<number> = new Set(),
  ) {}

  /** Export datagrams found in captures so far (this input). */
  exportPackets = 0;

  /** One whole export message from a flow-export file (IPFIX). */
  exportMessage(buf: Uint8Array, off: number, len: number, exporter: string, fileOffset: number): void {
    this.exportPackets++;
    this.recordAt = fileOffset;
    this.exportDatagrams?.datagram(buf, off, len, exporter, fileOffset);
  }

  /**
   * One flow-export record with text addresses (nfdump CSV, JSON flows, IPv6 from NetFlow/IPFIX).
   * The addresses are parsed once into the key's words; a record whose address text is neither
   * IPv4 nor IPv6 is not a flow: counted in {@link badAddresses} and false is returned (the reader,
   * which knows where the record is, reports it as a bad line or message).
   */
  record(r: ExportFlowInput): boolean {
    if (r.ipVersion === 4) {
      const s = ipv4ToInt(r.srcAddr);
      const d = ipv4ToInt(r.dstAddr);
      if (s >= 0 && d >= 0) {
        const n = this.numeric;
        n.src4 = s;
        n.dst4 = d;
        n.srcPort = r.srcPort;
        n.dstPort = r.dstPort;
        n.protocol = r.protocol;
        n.tcpFlags = r.tcpFlags;
        n.packets = r.packets;
        n.bytes = r.bytes;
        n.reversePackets = r.reversePackets;
        n.reverseBytes = r.reverseBytes;
        n.firstMs = r.firstMs;
        n.lastMs = r.lastMs;
        n.sampling = r.sampling;
        this.recordNumeric(n);
        return true;
      }
    } else if (parseIpv6Words(r.srcAddr, this.words, 0) && parseIpv6Words(r.dstAddr, this.words, 4)) {
      this.records++;
      if (this.badTime(r.firstMs, r.lastMs)) return true;
      this.table.addRecord6(r, this.words, this.inputIndex);
      return true;
    }
    this.records++;
    this.badAddresses++;
    return false;
  }

  /** Records of this input whose address text was not an address. */
  badAddresses = 0;

  /** One IPv4 export record with numeric addresses (the fast path: no strings, no objects). */
  recordNumeric(n: NumericExportRecord): void {
    this.records++;
    if (this.badTime(n.firstMs, n.lastMs)) return;
    this.table.addRecord(n, this.inputIndex);
  }

  /**
   * A record time no report can hold (a datagram's absolute times, or its uptime arithmetic, out of
   * range): counted and said with the datagram that carried it, and the record is not a flow.
   */
  private badTime(first: number, last: number): boolean {
    if (isDateMs(first) && isDateMs(last)) return false;
    // A record of a data set that waited for its template came in an earlier message than the one
    // being read, maybe of an earlier input.
    const p = this.recordAt >= 0 && this.exportDatagrams !== null ? this.exportDatagrams.placeOf(0) : { offset: this.recordAt, note: '' };
    // Where the record was: the message at this offset, a message the note names (an earlier input), or nowhere said.
    const which = p.note ? `export record ${this.records} this input delivered` : `export record ${this.records} of the input`;
    const where = p.offset >= 0 ? ', in the export message at this offset' : p.note ? `, in an export message${p.note}` : '';
    this.anomalies.add(
      'export.bad_time',
      this.file,
      p.offset,
      `${which}${where}: start ${first} ms, end ${last} ms; expected times within ${MAX_DATE_MS} ms of 1970 (the dates a report holds, to the year 275760); skipped`,
    );
    return true;
  }

  /** File offset of the export message whose records are being read (-1: the source gives none). */
  private recordAt = -1;

  private readonly words = new Int32Array(8);
  private readonly numeric: NumericExportRecord = newNumericRecord();

  /** Start a new input: counters restart, flows carry on across inputs. */
  begin(file: string, inputIndex: number): void {
    this.file = file;
    this.inputIndex = inputIndex;
    this.status.fill(0);
    this.wire = 0;
    this.ordinal = 0;
    this.records = 0;
    this.exportPackets = 0;
    this.badAddresses = 0;
    this.recordAt = -1;
    this.exportDatagrams?.bind(file, this.anomalies, (r) => this.record(r), (n) => this.recordNumeric(n));
  }

  /** The packet about to be delivered: its time and file offset, set by the capture parser ({@link PacketSink}). */
  time = 0;
  offset = 0;

  packet(linktype: number, buf: Uint8Array, off: number, caplen: number, origLen: number): void {
    const fileOffset = this.offset;
    this.ordinal++;
    this.wire += origLen;
    const v = this.view;
    const st = decodePacket(linktype, buf, off, caplen, origLen, v);
    this.status[st]!++;
    if (st === PacketStatus.Transport) {
      if (v.proto === 17 && v.payloadLength > 0) {
        if (v.srcPort === 53 && this.onDnsResponse !== null) this.onDnsResponse(buf, v.payloadOffset, v.payloadLength, this.time);
        // Flow exports carried in the capture: version 5, 9 or 10 in the first two bytes, then a strict check.
        const po = v.payloadOffset;
        if (this.exportDatagrams !== null && buf[po] === 0 && (buf[po + 1] === 5 || buf[po + 1] === 9 || buf[po + 1] === 10)) {
          if (this.collectorPorts.has(v.dstPort) || plausibleExportDatagram(buf, po, v.payloadLength)) this.exportDatagram(buf, v, fileOffset + (po - off));
        }
      }
      // Through the view, not as an argument: the time would be boxed for the call.
      v.time = this.time;
      this.table.add(v, buf, this.inputIndex);
      if (v.warning !== 0) {
        this.status[v.warning]!++;
        this.anomaly(PACKET_STATUS_ANOMALY[v.warning] as AnomalyCode, linktype, fileOffset, v.errorOffset - off, caplen);
      }
      return;
    }
    const code = PACKET_STATUS_ANOMALY[st];
    if (code) this.anomaly(code, linktype, fileOffset, v.errorOffset - off, caplen);
  }

  private exportDatagram(buf: Uint8Array, v: PacketView, fileOffset: number): void {
    this.exportPackets++;
    this.recordAt = fileOffset;
    this.exportDatagrams!.datagram(buf, v.payloadOffset, v.payloadLength, packetSource(v, buf), fileOffset);
  }

  private anomaly(code: AnomalyCode, linktype: number, fileOffset: number, at: number, caplen: number): void {
    this.anomalies.add(
      code,
      this.file,
      fileOffset + at,
      `packet ${this.ordinal} (link type ${linktype}, ${caplen} bytes captured): ${describe(code)} at byte ${at} of the packet`,
    );
  }

  counts(): PacketCounts {
    const s = this.status;
    let malformed = 0;
    // Includes packets that were decoded despite a warning (they are in transportPackets too).
    for (let i = 0; i < PACKET_STATUS_COUNT; i++) if (PACKET_STATUS_ANOMALY[i]) malformed += s[i]!;
    return {
      packets: this.ordinal,
      wireBytes: this.wire,
      transportPackets: s[PacketStatus.Transport]!,
      nonIp: s[PacketStatus.NonIp]!,
      ipOther: s[PacketStatus.IpOther]!,
      fragments: s[PacketStatus.Fragment]!,
      malformed,
      records: this.records,
      exportPackets: this.exportPackets,
    };
  }
}

function describe(code: string): string {
  switch (code) {
    case 'link.unsupported':
      return 'link type not supported (expected Ethernet, raw IP, Linux SLL/SLL2 or BSD loopback)';
    case 'link.truncated':
      return 'link-layer header cut short';
    case 'link.mpls_unknown_payload':
      return 'MPLS payload is neither IPv4 nor IPv6';
    case 'ipv4.bad_header':
      return 'invalid IPv4 header (version 4 and header length >= 20 expected)';
    case 'ipv4.truncated':
      return 'IPv4 total length exceeds the captured frame';
    case 'ipv6.bad_header':
      return 'invalid IPv6 header or extension header chain';
    case 'ipv6.truncated':
      return 'IPv6 payload length exceeds the captured frame';
    case 'tcp.bad_header':
      return 'TCP data offset below 5 words';
    case 'tcp.truncated':
      return 'TCP header cut short';
    case 'udp.truncated':
      return 'UDP header cut short';
    case 'udp.bad_length':
      return 'UDP length below 8';
    default:
      return code;
  }
}
