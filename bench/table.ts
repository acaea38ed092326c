/**
 * The table case of `npm run bench` (BENCH_CASES=table): the flow table alone, to tell its share of
 * the exports case from the decoder's (the decode case), the classifier's and the report's. The
 * exports case's NetFlow v9 capture (one exporter's datagrams) is read and decoded once, through the
 * real readers and decoder, into memory (13 numbers a record); each run then gives those records,
 * in order, to a fresh {@link FlowTable} with a scan's join options (joined into flows, which end
 * after the join gap by the records' clock) and finishes the flows left. What differs from a scan:
 * - no classifier, writer or report. In their place a prefilter reads each finished flow's counters
 *   and passes over those with fewer than three client packets, and the others become flow records
 *   that a sink drops: both ends of a finish, but not the scan's mix of them (its prefilter passes
 *   over flows the classifier's tests call quiet, most of the bench's);
 * - no service ports from the rules: flows are oriented by the port numbers alone;
 * - records with implausible times, which a scan's intake drops, are given to the table too.
 * The runs share one process: the first is also the engine's warm-up, so the best is reported
 * beside all of them. Every run must finish the same flows, with none evicted or left held.
 */
import { Anomalies } from '../src/anomalies.js';
import { newNumericRecord } from '../src/decode/templates.js';
import { DEFAULT_EXPORT_OPTIONS, DEFAULT_FLOW_OPTIONS, FlowTable, type NumericExportRecord } from '../src/flow/table.js';
import { readCapture } from '../src/io/input.js';
import { exportRecordSink } from './decode.js';

/** The record fields the table reads, in the order they are kept. */
const FIELDS = ['src4', 'dst4', 'srcPort', 'dstPort', 'protocol', 'tcpFlags', 'packets', 'bytes', 'reversePackets', 'reverseBytes', 'firstMs', 'lastMs', 'sampling'] as const;

/** One column per field, in {@link FIELDS} order. */
type Columns = ColumnsOf<typeof FIELDS>;
type ColumnsOf<T extends readonly unknown[]> = { readonly [K in keyof T]: Float64Array };

export interface TableResult {
  records: number;
  /** Flows finished in each run (the same in every run). */
  flows: number;
  /** Of those, flows the prefilter passed over. */
  passedOver: number;
  /** Each run's seconds. */
  seconds: number[];
}

/** Decode the IPv4 flow records of a capture of export datagrams into one column per field. */
async function decodeColumns(path: string): Promise<Columns> {
  let cols = FIELDS.map(() => new Float64Array(1 << 20));
  let n = 0;
  const keep = (r: NumericExportRecord): void => {
    if (n === cols[0]!.length) cols = cols.map((c) => {
      const g = new Float64Array(c.length * 2);
      g.set(c);
      return g;
    });
    for (let f = 0; f < FIELDS.length; f++) cols[f]![n] = r[FIELDS[f]!];
    n++;
  };
  const sink = exportRecordSink(() => undefined, keep);
  await readCapture(path, sink, new Anomalies());
  // Copied to their length: the grown buffers (up to twice as long) are then let go.
  return cols.map((c) => c.slice(0, n)) as unknown as Columns;
}

/** Time the flow table alone on the records of `path` (a capture of NetFlow v9 or IPFIX datagrams), `runs` times. */
export async function tableOnly(path: string, runs: number): Promise<TableResult> {
  const cols = await decodeColumns(path);
  const n = cols[0]!.length;
  const r = newNumericRecord();
  const seconds: number[] = [];
  let flows = -1;
  let passedOver = -1;
  for (let run = 0; run < runs; run++) {
    const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, exports: { ...DEFAULT_EXPORT_OPTIONS } }, () => {});
    table.prefilter = (v) => v.packetsC2S < 3;
    const [src4, dst4, srcPort, dstPort, protocol, tcpFlags, packets, bytes, reversePackets, reverseBytes, firstMs, lastMs, sampling] = cols;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      r.src4 = src4[i]!;
      r.dst4 = dst4[i]!;
      r.srcPort = srcPort[i]!;
      r.dstPort = dstPort[i]!;
      r.protocol = protocol[i]!;
      r.tcpFlags = tcpFlags[i]!;
      r.packets = packets[i]!;
      r.bytes = bytes[i]!;
      r.reversePackets = reversePackets[i]!;
      r.reverseBytes = reverseBytes[i]!;
      r.firstMs = firstMs[i]!;
      r.lastMs = lastMs[i]!;
      r.sampling = sampling[i]!;
      table.addRecord(r, 0);
    }
    table.flush();
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (table.active !== 0 || table.evicted !== 0) throw new Error(`table case, run ${run + 1}: ${table.active} flows still held and ${table.evicted} evicted after the flush`);
    if (run > 0 && (table.emitted !== flows || table.skipped !== passedOver))
      throw new Error(`table case, run ${run + 1}: ${table.emitted} flows finished (${table.skipped} passed over), where run 1 finished ${flows} (${passedOver})`);
    flows = table.emitted;
    passedOver = table.skipped;
  }
  return { records: n, flows, passedOver, seconds };
}
