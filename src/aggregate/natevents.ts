/**
 * NAT events from flow exports (`scan --nat-ipfix FILE`): reads IPFIX files, raw export streams and
 * captures of export datagrams, decodes them with the same decoders as flow exports, and keeps the
 * records that carry RFC 8158 NAT elements (natEvent, post-NAT source address and port, port
 * ranges) as {@link NatEvent}s for the CGNAT mapping. Everything else in the input is ignored.
 */
import type { Anomalies } from '../anomalies.js';
import { decodePacket, PacketStatus, PacketView } from '../decode/packet.js';
import { FlowExportDecoder, type ExportRecord } from '../decode/flowexport.js';
import { isNatClose, type NatEvent } from './nat.js';
import type { InputSink } from '../io/input.js';
import { packetSource } from '../flow/addr.js';
import { placeIn } from '../flow/exportsource.js';

export class NatEventSink implements InputSink {
  readonly events: NatEvent[] = [];
  /** Export records read, and those without NAT elements (not used). */
  records = 0;
  withoutNat = 0;
  private readonly decoder = new FlowExportDecoder();
  private readonly view = new PacketView();
  private file = '';

  constructor(private readonly anomalies: Anomalies) {}

  begin(file: string): void {
    this.file = file;
  }

  /** Set by the capture parser before each packet ({@link PacketSink}); a packet's time is not read. */
  time = 0;
  offset = 0;

  packet(linktype: number, buf: Uint8Array, off: number, caplen: number, origLen: number): void {
    const fileOffset = this.offset;
    const v = this.view;
    if (decodePacket(linktype, buf, off, caplen, origLen, v) !== PacketStatus.Transport || v.proto !== 17 || v.payloadLength < 4) return;
    const po = v.payloadOffset;
    if (buf[po] !== 0 || (buf[po + 1] !== 9 && buf[po + 1] !== 10)) return;
    this.exportMessage(buf, po, v.payloadLength, packetSource(v, buf), fileOffset + (po - off));
  }

  exportMessage(buf: Uint8Array, off: number, len: number, exporter: string, fileOffset: number): void {
    this.decoder.decode(
      buf,
      off,
      len,
      exporter,
      (r) => this.add(r),
      // A data set that waited for its template is said at the message that carried it.
      (a) => {
        const p = placeIn(this.decoder, this.file, a.offset);
        this.anomalies.add(a.code, this.file, p.offset, `exporter ${exporter}: ${a.message}${p.note}`);
      },
      undefined,
      fileOffset,
      this.file,
    );
  }

  /** nfdump CSV rows carry no NAT elements here. */
  record(): void {
    this.records++;
    this.withoutNat++;
  }

  private add(r: ExportRecord): void {
    this.records++;
    const n = r.nat;
    if (!n || n.postSrcAddr === null || !r.srcAddr) {
      this.withoutNat++;
      return;
    }
    // A post-NAT port of 0 is how some exporters say "not translated": the port stays the private one.
    const publicPort = n.postSrcPort === 0 ? r.srcPort : n.postSrcPort;
    this.events.push({
      time: eventTime(r),
      event: n.event,
      privateIp: r.srcAddr,
      privatePort: r.srcPort,
      publicIp: n.postSrcAddr,
      publicPort,
      portRangeStart: n.portRangeStart,
      portRangeEnd: n.portRangeEnd,
      lastMs: r.lastMs,
      remote: r.dstAddr ? `${r.dstAddr}#${r.dstPort}` : null,
      exporter: r.exporter,
      ordinal: this.events.length + 1,
    });
  }
}

/** When the event happened: a closing event at the record's end, any other at its start. */
function eventTime(r: ExportRecord): number {
  return r.nat?.event != null && isNatClose(r.nat.event) ? r.lastMs : r.firstMs;
}
