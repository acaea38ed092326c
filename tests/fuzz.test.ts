/**
 * The decoder contract under seeded mutation: every fixture capture, and 300 mutations of each
 * (byte flips, truncation, 4-byte overwrites with 0xffffffff / 0 / 0x7fffffff, duplicated and
 * deleted ranges), must be read to the end or rejected with InputError — never another exception,
 * never a hang — and every TCP/UDP packet the decoder accepts must land in exactly one flow.
 * decodePacket itself must return a PacketStatus for any bytes of any length, and must not look at
 * bytes beyond the captured length.
 *
 * readCapture needs each case written to a file, and hashes it, so the bulk of the mutations run
 * through the same reader classes readCapture drives (sniffFormat + PcapParser/PcapngParser over a
 * ByteWindow + PacketIngest + FlowTable), whole and in random chunks; readCapture itself and
 * scanInputs (with the project rules) run on the originals and on a sample of the mutations.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Anomalies } from '../src/anomalies.js';
import { LINKTYPE, PACKET_STATUS_COUNT, PacketStatus, PacketView, decodePacket } from '../src/decode/packet.js';
import { InputError } from '../src/errors.js';
import { PacketIngest } from '../src/flow/ingest.js';
import { DEFAULT_FLOW_OPTIONS, FlowTable } from '../src/flow/table.js';
import { readCapture, sniffFormat } from '../src/io/input.js';
import { ByteWindow } from '../src/io/joiner.js';
import { PcapParser, type CaptureParser } from '../src/io/pcap.js';
import { PcapngParser } from '../src/io/pcapng.js';
import { scanInputs } from '../src/scan.js';
import { IpProto, TcpFlag, ethernet, ipv4, ipv6, nullLoopback, sll, sll2, tcp, udp, utf8 } from './support/builders.js';
import type { FlowRecord } from '../src/types.js';
import { FIXTURES, projectRules } from './helpers.js';
import { mulberry32 } from './support/random.js';
// The mutations are shared with `npm run fuzz` (scripts/fuzz.ts).
import { mutate } from './support/fuzz.js';

const MUTATIONS_PER_FIXTURE = 300;
/** A single case slower than this is treated as a hang (the inputs are a few KiB). */
const CASE_BUDGET_MS = 2_000;


function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function listCaptures(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listCaptures(p));
    else if (!name.endsWith('.md') && !name.endsWith('.json')) out.push(p);
  }
  return out;
}

const CAPTURES = listCaptures(FIXTURES);

interface Outcome {
  rejected: boolean;
  packets: number;
  transportPackets: number;
  flowPackets: number;
}

/**
 * Read `bytes` as readCapture reads a file (sniff, parser over a ByteWindow, PacketIngest, FlowTable),
 * in one piece or in the given chunk sizes; InputError means "rejected", anything else propagates.
 */
function readBytes(name: string, bytes: Uint8Array, chunk: (() => number) | null): Outcome {
  const anomalies = new Anomalies();
  const flows: FlowRecord[] = [];
  const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 32 }, (f) => flows.push(f));
  const ingest = new PacketIngest(table, anomalies);
  ingest.begin(name, 0);
  try {
    const kind = sniffFormat(bytes.subarray(0, 8));
    if (kind === null) return { rejected: true, packets: 0, transportPackets: 0, flowPackets: 0 };
    if (kind === 'gzip') bytes = gunzipSync(bytes);
    const inner = kind === 'gzip' ? sniffFormat(bytes.subarray(0, 8)) : kind;
    if (inner === null || inner === 'gzip') return { rejected: true, packets: 0, transportPackets: 0, flowPackets: 0 };
    const parser: CaptureParser = inner === 'pcap' ? new PcapParser(name, anomalies, ingest) : new PcapngParser(name, anomalies, ingest);
    const win = new ByteWindow(256);
    let pos = 0;
    while (pos < bytes.length) {
      const n = chunk ? Math.min(bytes.length - pos, chunk()) : bytes.length;
      win.append(bytes.subarray(pos, pos + n));
      pos += n;
      parser.parse(win, false);
    }
    parser.parse(win, true);
    expect(parser.packets).toBe(ingest.counts().packets);
  } catch (e) {
    if (e instanceof InputError) return { rejected: true, packets: ingest.counts().packets, transportPackets: 0, flowPackets: 0 };
    throw e;
  }
  table.flush();
  const c = ingest.counts();
  return { rejected: false, packets: c.packets, transportPackets: c.transportPackets, flowPackets: flows.reduce((n, f) => n + f.packetsC2S + f.packetsS2C, 0) };
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
}

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fuzz: capture readers never throw anything but InputError', () => {
  it('finds the fixture captures', () => {
    const rel = CAPTURES.map((p) => relative(FIXTURES, p));
    for (const dir of ['formats/', 'link/', 'demo/', 'rules/']) expect(rel.some((r) => r.startsWith(dir)), dir).toBe(true);
    expect(CAPTURES.length).toBeGreaterThanOrEqual(30);
  });

  it(`${MUTATIONS_PER_FIXTURE} seeded mutations of every fixture, read whole and in random chunks`, () => {
    const failures: string[] = [];
    let cases = 0;
    let rejected = 0;
    let withPackets = 0;
    for (const path of CAPTURES) {
      const rel = relative(FIXTURES, path);
      const original = new Uint8Array(readFileSync(path));
      // Mutate what the parser sees: a .gz fixture is mutated decompressed.
      const base = original[0] === 0x1f && original[1] === 0x8b ? new Uint8Array(gunzipSync(original)) : original;
      const rnd = mulberry32(seedOf(rel));
      for (let i = -1; i < MUTATIONS_PER_FIXTURE; i++) {
        const m = i < 0 ? { bytes: base, what: ['original'] } : mutate(base, rnd);
        const chunkSeed = Math.floor(rnd() * 2 ** 32);
        const chunkRnd = mulberry32(chunkSeed);
        for (const chunked of [false, true]) {
          cases++;
          const t = performance.now();
          try {
            const o = readBytes(rel, m.bytes, chunked ? () => 1 + Math.floor(chunkRnd() * 300) : null);
            if (o.rejected) rejected++;
            else {
              if (o.packets > 0) withPackets++;
              if (o.flowPackets !== o.transportPackets) {
                failures.push(`${rel} #${i} ${m.what.join(' ')}${chunked ? ` chunks(seed ${chunkSeed})` : ''}: ${o.transportPackets} transport packets but ${o.flowPackets} in flows`);
              }
            }
          } catch (e) {
            failures.push(`${rel} #${i} ${m.what.join(' ')}${chunked ? ` chunks(seed ${chunkSeed})` : ''}: ${describeError(e)}`);
          }
          const ms = performance.now() - t;
          if (ms > CASE_BUDGET_MS) failures.push(`${rel} #${i} ${m.what.join(' ')}: took ${ms.toFixed(0)} ms`);
        }
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(cases).toBe(CAPTURES.length * (MUTATIONS_PER_FIXTURE + 1) * 2);
    // The mutations must not all be trivially rejected: most inputs still deliver packets.
    expect(withPackets).toBeGreaterThan(cases / 2);
    expect(rejected).toBeGreaterThan(0);
  });

  it('readCapture on every original fixture, and on gzip-compressed mutations of them', async () => {
    const failures: string[] = [];
    for (const path of CAPTURES) {
      const rel = relative(FIXTURES, path);
      try {
        await readCapture(path, new PacketIngest(new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 32 }, () => undefined), new Anomalies()), new Anomalies());
      } catch (e) {
        if (!(e instanceof InputError)) failures.push(`${rel}: ${describeError(e)}`);
      }
    }
    // gzip inputs are streamed (no hashing worker): cheap enough to run many mutations end to end,
    // both of the decompressed capture (re-compressed) and of the compressed bytes themselves.
    const rnd = mulberry32(0x9e3779b9);
    let n = 0;
    for (const path of CAPTURES) {
      const rel = relative(FIXTURES, path);
      const original = new Uint8Array(readFileSync(path));
      const plain = original[0] === 0x1f && original[1] === 0x8b ? new Uint8Array(gunzipSync(original)) : original;
      for (let i = 0; i < 8; i++) {
        const m = mutate(plain, rnd);
        let gz: Uint8Array = new Uint8Array(gzipSync(m.bytes));
        const what = [...m.what];
        if (i % 2 === 1) {
          const again = mutate(gz, rnd);
          // Keep the gzip magic so the stream path is taken.
          if (again.bytes.length >= 2) {
            again.bytes[0] = 0x1f;
            again.bytes[1] = 0x8b;
          }
          gz = again.bytes;
          what.push('| gz:', ...again.what);
        }
        const file = join(tmp, `gz-${n++}.pcap.gz`);
        writeFileSync(file, gz);
        const flows: FlowRecord[] = [];
        const anomalies = new Anomalies();
        const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 32 }, (f) => flows.push(f));
        const ingest = new PacketIngest(table, anomalies);
        ingest.begin(file, 0);
        try {
          await readCapture(file, ingest, anomalies);
          table.flush();
          const c = ingest.counts();
          const inFlows = flows.reduce((k, f) => k + f.packetsC2S + f.packetsS2C, 0);
          if (inFlows !== c.transportPackets) failures.push(`${rel} gz #${i} ${what.join(' ')}: ${c.transportPackets} transport packets, ${inFlows} in flows`);
        } catch (e) {
          if (!(e instanceof InputError)) failures.push(`${rel} gz #${i} ${what.join(' ')}: ${describeError(e)}`);
        }
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
  });

  it('scanInputs with the project rules over mutated files: only InputError is recorded, every transport packet is in a flow', async () => {
    const rnd = mulberry32(0xdecaf);
    const paths: string[] = [];
    const what = new Map<string, string>();
    for (const path of CAPTURES) {
      const rel = relative(FIXTURES, path);
      const original = new Uint8Array(readFileSync(path));
      const plain = original[0] === 0x1f && original[1] === 0x8b ? new Uint8Array(gunzipSync(original)) : original;
      for (let i = 0; i < 2; i++) {
        const m = mutate(plain, rnd);
        const file = join(tmp, `scan-${paths.length}-${rel.replace(/[/.]/g, '_')}`);
        writeFileSync(file, m.bytes);
        paths.push(file);
        what.set(file, `${rel} ${m.what.join(' ')}`);
      }
    }
    const perInput = new Array<number>(paths.length).fill(0);
    let flowPackets = 0;
    const summary = await scanInputs(
      paths,
      projectRules(),
      (flow, verdict) => {
        perInput[flow.inputIndex]!++;
        flowPackets += flow.packetsC2S + flow.packetsS2C;
        expect(['mining', 'suspect', 'none']).toContain(verdict.label);
      },
      { flow: { maxFlows: 64 } },
    );
    expect(summary.inputs).toHaveLength(paths.length);
    // Inputs that could not be read carry their InputError message; the rest have none.
    for (const s of summary.inputs) {
      if (s.error !== null) expect(s.error, what.get(s.path)).toContain(s.path);
    }
    expect(summary.inputs.filter((s) => s.error === null).length).toBeGreaterThan(paths.length / 2);
    expect(flowPackets).toBe(summary.inputs.reduce((n, s) => n + s.transportPackets, 0));
    expect(summary.flows).toBe(perInput.reduce((a, b) => a + b, 0));
  });
});

/** Every link type the decoder knows, plus ones it does not. */
const LINK_TYPES = [LINKTYPE.NULL, LINKTYPE.ETHERNET, 12, 14, LINKTYPE.RAW, LINKTYPE.LOOP, LINKTYPE.LINUX_SLL, LINKTYPE.IPV4, LINKTYPE.IPV6, LINKTYPE.LINUX_SLL2, 105, 9999];

/** Valid frames for a link type, as seeds for structured noise. */
function seedFrames(lt: number): Uint8Array[] {
  const seg = tcp(40001, 3333, 0xfffffff0, 1, TcpFlag.PSH | TcpFlag.ACK, utf8('{"method":"mining.subscribe"}\n'), { options: new Uint8Array([1, 1, 1, 1]) });
  const ips = [
    ipv4('10.0.0.1', '203.0.113.5', IpProto.TCP, seg, { options: new Uint8Array([0x94, 4, 0, 0]) }),
    ipv4('10.0.0.1', '203.0.113.5', IpProto.UDP, udp(5353, 53, utf8('q'))),
    ipv6('fd00::1', '2001:db8::5', IpProto.TCP, seg, { extHeaders: [{ type: 0 }, { type: 43 }, { type: 44 }, { type: 60 }] }),
    ipv6('fd00::1', '2001:db8::5', IpProto.UDP, udp(5353, 53, utf8('q'))),
  ];
  switch (lt) {
    case LINKTYPE.ETHERNET:
      return ips.flatMap((ip) => [ethernet(ip), ethernet(ip, { vlans: [1, 2] }), ethernet(ip, { mpls: [5, 6] }), ethernet(ip, { pppoe: { session: 9 } })]);
    case LINKTYPE.LINUX_SLL:
      return ips.map((ip) => sll(ip));
    case LINKTYPE.LINUX_SLL2:
      return ips.map((ip) => sll2(ip));
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP:
      return ips.flatMap((ip) => [nullLoopback(ip, true), nullLoopback(ip, false)]);
    default:
      return ips;
  }
}

function snapshot(st: PacketStatus, v: PacketView, off: number): string {
  if (st !== PacketStatus.Transport) return `${st}@${v.errorOffset - off}`;
  return [st, v.warning, v.ipVersion, v.proto, v.ipOffset - off, v.ipLength, v.src4, v.dst4, v.src6 - off, v.dst6 - off, v.srcPort, v.dstPort, v.tcpFlags, v.tcpSeq, v.payloadOffset - off, v.payloadLength].join(',');
}

describe('fuzz: decodePacket on random bytes', () => {
  it('returns a PacketStatus for random and mutated frames of 0..2000 bytes, never reading past caplen', () => {
    const rnd = mulberry32(0x5eed5);
    const int = (n: number) => Math.floor(rnd() * n);
    const failures: string[] = [];
    const statuses = new Set<number>();
    const view = new PacketView();
    const table = new FlowTable({ ...DEFAULT_FLOW_OPTIONS, maxFlows: 64 }, () => undefined);
    const PAD = 64;
    let ts = 1_700_000_000_000;
    for (const lt of LINK_TYPES) {
      const seeds = seedFrames(lt);
      for (let i = 0; i < 3000; i++) {
        let frame: Uint8Array;
        let caplen: number;
        let origLen: number;
        const mode = i % 3;
        if (mode === 0) {
          // Random bytes; short lengths are as likely as long ones, so every header boundary is hit.
          frame = new Uint8Array(int(2) === 0 ? int(2001) : int(100));
          for (let j = 0; j < frame.length; j++) frame[j] = int(256);
          // Give the random bytes a chance to get past the link header.
          if (int(2) === 0) {
            if (lt === LINKTYPE.ETHERNET && frame.length >= 14) frame.set([[0x08, 0x00], [0x86, 0xdd], [0x81, 0x00], [0x88, 0x47], [0x88, 0x64]][int(5)]!, 12);
            else if ((lt === LINKTYPE.RAW || lt === LINKTYPE.IPV4 || lt === LINKTYPE.IPV6) && frame.length >= 1) frame[0] = (int(2) ? 0x40 : 0x60) | (frame[0]! & 0x0f);
          }
          caplen = frame.length;
          origLen = int(3) === 0 ? caplen + 1 + int(1500) : caplen;
        } else if (mode === 1) {
          // A valid frame with a few random mutations.
          frame = mutate(seeds[int(seeds.length)]!, rnd).bytes.subarray(0, 2000);
          caplen = frame.length;
          origLen = int(3) === 0 ? caplen + 1 + int(1500) : caplen;
        } else {
          // A valid frame cut at every kind of boundary: snapped (origLen = full length) or a whole short frame.
          const full = seeds[int(seeds.length)]!;
          frame = full.subarray(0, int(full.length + 1));
          caplen = frame.length;
          origLen = int(2) === 0 ? full.length : caplen;
        }
        // The same frame between different surrounding bytes: a decoder that reads outside
        // [off, off+caplen) gives different answers.
        const results: string[] = [];
        for (const fill of [0x00, 0xff]) {
          const buf = new Uint8Array(PAD + frame.length + PAD).fill(fill);
          buf.set(frame, PAD);
          let st: PacketStatus;
          try {
            st = decodePacket(lt, buf, PAD, caplen, origLen, view);
          } catch (e) {
            failures.push(`lt ${lt} len ${caplen}: threw ${describeError(e)}`);
            continue;
          }
          if (!Number.isInteger(st) || st < 0 || st >= PACKET_STATUS_COUNT) failures.push(`lt ${lt}: status ${String(st)}`);
          statuses.add(st);
          results.push(snapshot(st, view, PAD));
          if (st === PacketStatus.Transport) {
            const end = PAD + caplen;
            const ok =
              view.payloadOffset >= PAD &&
              view.payloadLength >= 0 &&
              view.payloadOffset + view.payloadLength <= end &&
              view.ipOffset >= PAD &&
              view.ipOffset < end &&
              (view.proto === 6 || view.proto === 17) &&
              (view.ipVersion === 4 || (view.src6 + 16 <= end && view.dst6 + 16 <= end));
            if (!ok) failures.push(`lt ${lt} len ${caplen} orig ${origLen}: view out of bounds ${snapshot(st, view, PAD)}`);
            else {
              ts += 1;
              try {
                view.time = ts;
                table.add(view, buf, 0);
              } catch (e) {
                failures.push(`lt ${lt}: FlowTable.add threw ${describeError(e)}`);
              }
            }
          }
        }
        if (results.length === 2 && results[0] !== results[1]) failures.push(`lt ${lt} len ${caplen} orig ${origLen}: depends on bytes outside the capture: ${results[0]} vs ${results[1]}`);
        if (failures.length > 20) break;
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
    // The noise reached deep into the decoder, not just the first length check.
    for (const s of [PacketStatus.Transport, PacketStatus.NonIp, PacketStatus.IpOther, PacketStatus.LinkTruncated, PacketStatus.LinkUnsupported, PacketStatus.Ipv4Bad, PacketStatus.TcpBad]) {
      expect(statuses.has(s), PacketStatus[s]).toBe(true);
    }
    table.flush();
  });
});
