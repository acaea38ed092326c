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
import type { NumericExportRecord } from '../src/flow/table.js';
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

/**
 * A sink for {@link readCapture} that decodes flow-export records only: a capture's UDP datagrams
 * that look like NetFlow or IPFIX (taken as one exporter's), an nfcapd file's messages, and the rows
 * of CSV or JSON flows. Records with text addresses go to `onRecord`, IPv4 records with numeric ones
 * to `onNumeric`; anomalies are dropped.
 */
export function exportRecordSink(onRecord: () => void, onNumeric: (r: NumericExportRecord) => void): InputSink {
  const decoder = new FlowExportDecoder();
  const view = new PacketView();
  const ignore = (): void => undefined;
  return {
    time: 0,
    offset: 0,
    packet(linktype, buf, off, caplen, origLen) {
      if (decodePacket(linktype, buf, off, caplen, origLen, view) !== PacketStatus.Transport || view.proto !== 17) return;
      if (!plausibleExportDatagram(buf, view.payloadOffset, view.payloadLength)) return;
      decoder.decode(buf, view.payloadOffset, view.payloadLength, '192.0.2.1', onRecord, ignore, onNumeric);
    },
    record: onRecord,
    recordNumeric: onNumeric,
    exportMessage(buf, off, len, exporter) {
      decoder.decode(buf, off, len, exporter, onRecord, ignore, onNumeric);
    },
  };
}

/** Read `path` (a capture of export datagrams, or nfdump CSV) and count the records it yields. */
export async function decodeOnly(label: string, path: string): Promise<DecodeResult> {
  let records = 0;
  const count = (): void => {
    records++;
  };
  const sink = exportRecordSink(count, count);
  let t0 = process.hrtime.bigint();
  await hashFileInWorker(path);
  const hashSeconds = since(t0);
  t0 = process.hrtime.bigint();
  await readCapture(path, sink, new Anomalies());
  return { label, records, seconds: since(t0), hashSeconds };
}
