/**
 * The decode case of `npm run bench` (BENCH_CASES=decode): the flow-export inputs of the exports
 * case read through the real readers and decoders into a sink that only counts — no flow table,
 * classifier or report. It tells the input side of the exports case from the rest: the end-to-end
 * time of that case minus this one is what the flow table, the classifier and the report cost.
 * A scan hashes each input (sha256) on a worker thread while it parses; the reader waits for the
 * hash at the end, so the hash alone is timed too: when it takes longer than the parse, it is the
 * input side's time.
 */
import { Anomalies } from '../src/anomalies.js';
import { FlowExportDecoder } from '../src/decode/flowexport.js';
import { decodePacket, PacketStatus, PacketView } from '../src/decode/packet.js';
import { plausibleExportDatagram } from '../src/flow/exportsource.js';
import { hashFileInWorker } from '../src/io/hash.js';
import { readCapture, type InputSink } from '../src/io/input.js';

export interface DecodeResult {
  label: string;
  records: number;
  /** Read, parse and decode (waiting for the hash at the end, as a scan does). */
  seconds: number;
  /** sha256 of the file on the worker thread, alone. */
  hashSeconds: number;
}

function since(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Read `path` (a capture of export datagrams, or nfdump CSV) and count the records it yields. */
export async function decodeOnly(label: string, path: string): Promise<DecodeResult> {
  const decoder = new FlowExportDecoder();
  const view = new PacketView();
  let records = 0;
  const count = (): void => {
    records++;
  };
  const ignore = (): void => undefined;
  const sink: InputSink = {
    time: 0,
    offset: 0,
    packet(linktype, buf, off, caplen, origLen) {
      if (decodePacket(linktype, buf, off, caplen, origLen, view) !== PacketStatus.Transport || view.proto !== 17) return;
      if (!plausibleExportDatagram(buf, view.payloadOffset, view.payloadLength)) return;
      decoder.decode(buf, view.payloadOffset, view.payloadLength, '192.0.2.1', count, ignore, count);
    },
    record: count,
    recordNumeric: count,
    exportMessage(buf, off, len, exporter) {
      decoder.decode(buf, off, len, exporter, count, ignore, count);
    },
  };
  let t0 = process.hrtime.bigint();
  await hashFileInWorker(path);
  const hashSeconds = since(t0);
  t0 = process.hrtime.bigint();
  await readCapture(path, sink, new Anomalies());
  return { label, records, seconds: since(t0), hashSeconds };
}
