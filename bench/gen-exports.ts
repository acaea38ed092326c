/**
 * Deterministic flow-export benchmark input: the same flows written three ways under `dir` —
 *
 * - `exports-v9.pcap`: NetFlow v9 datagrams (template 256, re-sent every 20 datagrams) captured as
 *   Ethernet/IPv4/UDP from exporter 192.0.2.1:50000 to collector 192.0.2.2:2055;
 * - `exports-ipfix.pcap`: the same records as IPFIX messages (template 256 in set 2) to port 4739;
 * - `exports.csv`: the same records as nfdump 1.7 CSV (`nfdump -o csv`), Summary block included.
 *
 * Traffic: about a million subscribers in 100.64.0.0/10 talking to about 50 k servers (web over TCP,
 * QUIC, DNS); every conversation gives one record per direction per active-timeout slice (300 s), and
 * the records come out ordered by the end of their slice, as an exporter emits them. About 0.1 % of
 * conversations are mining-like sessions (TCP to port 3333/4444, 30–120 minutes, ~20 packets/min of
 * ~100-byte packets each way). Seeded PRNG and a fixed base time (2026-11-01T00:00:00Z): the same
 * bytes every run.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../tests/support/random.js';


export const EXPORT_BENCH_VERSION = 2;
const BASE_MS = Date.UTC(2026, 10, 1, 0, 0, 0);
/** The exporter booted an hour before the first flow (sysUptime base for v9). */
const BOOT_MS = BASE_MS - 3_600_000;
const ACTIVE_TIMEOUT_MS = 300_000;
const SUBSCRIBER_POOL = 1_200_000;
const SERVER_POOL = 50_000;
const MINING_SERVERS = 40;
const MINING_CLIENT_POOL = 3_000;
/** Conversations started per second of simulated time. */
const RATE_PER_S = 270;
const TEMPLATE_EVERY = 20;
const EXPORTER = 0xc0000201; // 192.0.2.1
const COLLECTOR = 0xc0000202; // 192.0.2.2
const EXPORTER_PORT = 50000;

export interface ExportBenchStats {
  version: number;
  seed: number;
  /** Flow records written (the same in each of the three files). */
  records: number;
  conversations: number;
  subscribers: number;
  servers: number;
  v9Datagrams: number;
  ipfixDatagrams: number;
  v9Bytes: number;
  ipfixBytes: number;
  csvBytes: number;
  miningSessions: number;
  miningRecords: number;
  miningClients: number;
  /**
   * The pool servers the mining sessions reach (IPv4, dotted) and their ports: an operator knows
   * them as listed pool endpoints (the bench writes them as an intel file, dated the day before).
   */
  miningServers: string[];
  miningPorts: number[];
  firstMs: number;
  lastMs: number;
}

/** One record as the three writers need it. */
interface Rec {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  packets: number;
  bytes: number;
  first: number;
  last: number;
  /** 0 client → server, 1 server → client (nfdump's `dir`). */
  dir: number;
}

interface Conv {
  client: number;
  server: number;
  cport: number;
  sport: number;
  proto: number;
  mining: boolean;
  oneWay: boolean;
  start: number;
  end: number;
  /** Start of the current slice. */
  sliceStart: number;
  /** End of the current slice: the heap key. */
  sliceEnd: number;
  /** Packets per ms each way (client, server), for slicing. */
  cRate: number;
  sRate: number;
  cSize: number;
  sSize: number;
}

/** Min-heap of conversations by the end of their current slice. */
class Heap {
  private a: Conv[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Conv | undefined {
    return this.a[0];
  }
  push(c: Conv): void {
    const a = this.a;
    let i = a.length;
    a.push(c);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.sliceEnd <= c.sliceEnd) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = c;
  }
  pop(): Conv | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && a[r]!.sliceEnd < a[l]!.sliceEnd ? r : l;
      if (a[m]!.sliceEnd >= last.sliceEnd) break;
      a[i] = a[m]!;
      i = m;
    }
    a[i] = last;
    return top;
  }
}

/** Buffered file writer. */
class Out {
  readonly buf: Buffer;
  used = 0;
  written = 0;
  private readonly fd: number;
  constructor(
    path: string,
    private readonly chunk = 8 << 20,
  ) {
    this.fd = openSync(path, 'w');
    this.buf = Buffer.alloc(chunk + 65536);
  }
  /** Make sure `n` more bytes fit. */
  reserve(n: number): void {
    if (this.used + n > this.chunk) this.flush();
  }
  flush(): void {
    if (this.used) writeSync(this.fd, this.buf, 0, this.used);
    this.written += this.used;
    this.used = 0;
  }
  close(): number {
    this.flush();
    closeSync(this.fd);
    return this.written;
  }
}

function pcapHeader(o: Out): void {
  const b = o.buf;
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt32LE(65535, 16);
  b.writeUInt32LE(1, 20);
  o.used = 24;
}

/** Frame header (pcap record + Ethernet + IPv4 + UDP) at `p` for a UDP payload of `len`; returns the payload offset. */
function frame(b: Buffer, p: number, tsMs: number, ipId: number, dport: number, len: number): number {
  const ipLen = 20 + 8 + len;
  const caplen = 14 + ipLen;
  const sec = Math.floor(tsMs / 1000);
  b.writeUInt32LE(sec, p);
  b.writeUInt32LE((tsMs - sec * 1000) * 1000, p + 4);
  b.writeUInt32LE(caplen, p + 8);
  b.writeUInt32LE(caplen, p + 12);
  p += 16;
  // Ethernet: collector MAC, exporter MAC, IPv4.
  b.writeUInt32BE(0x02000000, p);
  b.writeUInt16BE(0x0002, p + 4);
  b.writeUInt32BE(0x02000000, p + 6);
  b.writeUInt16BE(0x0001, p + 10);
  b.writeUInt16BE(0x0800, p + 12);
  p += 14;
  b[p] = 0x45;
  b[p + 1] = 0;
  b.writeUInt16BE(ipLen, p + 2);
  b.writeUInt16BE(ipId & 0xffff, p + 4);
  b.writeUInt16BE(0x4000, p + 6);
  b[p + 8] = 64;
  b[p + 9] = 17;
  b.writeUInt32BE(EXPORTER, p + 12);
  b.writeUInt32BE(COLLECTOR, p + 16);
  // IPv4 header checksum.
  b.writeUInt16BE(0, p + 10);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[p + i]! << 8) | b[p + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, p + 10);
  p += 20;
  b.writeUInt16BE(EXPORTER_PORT, p);
  b.writeUInt16BE(dport, p + 2);
  b.writeUInt16BE(8 + len, p + 4);
  b.writeUInt16BE(0, p + 6); // no UDP checksum
  return p + 8;
}

const FRAME_OVERHEAD = 16 + 14 + 20 + 8;

// v9 template 256: (type, length) pairs.
const V9_FIELDS: Array<[number, number]> = [
  [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 1], [2, 4], [1, 4], [22, 4], [21, 4],
];
const V9_REC = V9_FIELDS.reduce((s, f) => s + f[1], 0); // 30
const IPFIX_FIELDS: Array<[number, number]> = [
  [8, 4], [12, 4], [7, 2], [11, 2], [4, 1], [6, 2], [2, 8], [1, 8], [152, 8], [153, 8],
];
const IPFIX_REC = IPFIX_FIELDS.reduce((s, f) => s + f[1], 0); // 47
const TEMPLATE_SET_LEN = 4 + 4 + 4 * 10;

function writeTemplate(b: Buffer, p: number, setId: number, fields: Array<[number, number]>): number {
  b.writeUInt16BE(setId, p);
  b.writeUInt16BE(TEMPLATE_SET_LEN, p + 2);
  b.writeUInt16BE(256, p + 4);
  b.writeUInt16BE(fields.length, p + 6);
  let q = p + 8;
  for (const [t, l] of fields) {
    b.writeUInt16BE(t, q);
    b.writeUInt16BE(l, q + 2);
    q += 4;
  }
  return q;
}

const FLAG_CHARS = 'CEUAPRSF';
const flagText: string[] = [];
for (let f = 0; f < 256; f++) {
  let s = '';
  for (let i = 0; i < 8; i++) s += f & (0x80 >> i) ? FLAG_CHARS[i] : '.';
  flagText.push(s);
}
const PROTO_NAME: Record<number, string> = { 6: 'TCP', 17: 'UDP' };
const CSV_HEADER =
  'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,' +
  'mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n';
/** opkt, obyt, in, out, sas, das, smk, dmk, dtos (then dir). */
const CSV_BEFORE_DIR = ',0,0,0,0,0,0,0,0,0,';
/** nh … exid (then tr); the router address is the exporter's. */
const CSV_AFTER_DIR =
  ',0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,' +
  '0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,192.0.2.1,0/0,1,';

const ipText = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));
/** `YYYY-MM-DD HH:MM:SS` (UTC) of a time in ms; the date part is cached per day. */
let dayCache = -1;
let dayText = '';
function timeText(ms: number): string {
  const s = Math.floor(ms / 1000);
  const day = Math.floor(s / 86400);
  if (day !== dayCache) {
    dayCache = day;
    dayText = new Date(day * 86400_000).toISOString().slice(0, 10) + ' ';
  }
  const r = s - day * 86400;
  return dayText + pad2(Math.floor(r / 3600)) + ':' + pad2(Math.floor(r / 60) % 60) + ':' + pad2(r % 60);
}

/**
 * Write the three files into `dir`; returns what was generated. At least `records` records (the
 * last conversations' records are all written, so a few more).
 */
export function generateExportBench(dir: string, records = 5_000_000, seed = 20261101): ExportBenchStats {
  const rnd = mulberry32(seed);
  // Server addresses: public-looking, hashed over 11.0.0.0–99.255.255.255 and 128.0.0.0–223.255.255.255.
  const servers = new Uint32Array(SERVER_POOL);
  for (let i = 0; i < SERVER_POOL; i++) {
    const h = Math.imul(i + 1, 0x9e3779b1) >>> 0;
    const firstOctet = rnd() < 0.5 ? 11 + (h % 89) : 128 + (h % 96);
    servers[i] = ((firstOctet << 24) | (Math.floor(rnd() * 0xfffffe) + 1)) >>> 0;
  }
  const subscriberSeen = new Uint8Array(SUBSCRIBER_POOL);
  const serverSeen = new Uint8Array(SERVER_POOL);
  const subscriber = (i: number): number => (0x64400000 + i * 3 + 1) >>> 0; // 100.64.0.1 … inside 100.64.0.0/10
  const miningPool: number[] = [];
  for (let i = 0; i < MINING_CLIENT_POOL; i++) miningPool.push(Math.floor(rnd() * SUBSCRIBER_POOL));
  const miningClients = new Set<number>();

  const v9 = new Out(join(dir, 'exports-v9.pcap'));
  const ipfix = new Out(join(dir, 'exports-ipfix.pcap'));
  const csv = new Out(join(dir, 'exports.csv'));
  pcapHeader(v9);
  pcapHeader(ipfix);
  csv.used = csv.buf.write(CSV_HEADER, 0, 'latin1');

  // Pending records of the datagram being built (shared by both binary formats and the CSV).
  const batch: Rec[] = [];
  for (let i = 0; i < 32; i++) batch.push({ src: 0, dst: 0, sport: 0, dport: 0, proto: 0, flags: 0, packets: 0, bytes: 0, first: 0, last: 0, dir: 0 });
  let batchN = 0;
  let batchTarget = 24 + Math.floor(rnd() * 5);
  let v9Datagrams = 0;
  let ipfixDatagrams = 0;
  let ipfixSeq = 0;
  let written = 0;
  let totalBytes = 0;
  let totalPackets = 0;
  let firstMs = Infinity;
  let lastMs = 0;
  let miningRecords = 0;

  const flushBatch = (now: number): void => {
    if (batchN === 0) return;
    let maxLast = 0;
    for (let i = 0; i < batchN; i++) if (batch[i]!.last > maxLast) maxLast = batch[i]!.last;
    // The exporter sends a few ms after the last record ended; header times are in whole seconds,
    // rounded up so that no record ends after the header's time.
    const sendMs = Math.max(now, maxLast) + 1 + Math.floor(rnd() * 20);
    const headerSecs = Math.ceil(sendMs / 1000);
    const withTemplate = v9Datagrams % TEMPLATE_EVERY === 0;

    // NetFlow v9.
    {
      const dataLen = 4 + batchN * V9_REC;
      const dataPadded = (dataLen + 3) & ~3;
      const len = 20 + (withTemplate ? TEMPLATE_SET_LEN : 0) + dataPadded;
      v9.reserve(FRAME_OVERHEAD + len);
      const b = v9.buf;
      let p = frame(b, v9.used, sendMs, v9Datagrams, 2055, len);
      const uptime = headerSecs * 1000 - BOOT_MS;
      b.writeUInt16BE(9, p);
      b.writeUInt16BE(batchN + (withTemplate ? 1 : 0), p + 2);
      b.writeUInt32BE(uptime, p + 4);
      b.writeUInt32BE(headerSecs, p + 8);
      b.writeUInt32BE(v9Datagrams, p + 12); // package sequence
      b.writeUInt32BE(0, p + 16); // source id
      p += 20;
      if (withTemplate) p = writeTemplate(b, p, 0, V9_FIELDS);
      b.writeUInt16BE(256, p);
      b.writeUInt16BE(dataPadded, p + 2);
      p += 4;
      for (let i = 0; i < batchN; i++) {
        const r = batch[i]!;
        b.writeUInt32BE(r.src, p);
        b.writeUInt32BE(r.dst, p + 4);
        b.writeUInt16BE(r.sport, p + 8);
        b.writeUInt16BE(r.dport, p + 10);
        b[p + 12] = r.proto;
        b[p + 13] = r.flags;
        b.writeUInt32BE(r.packets, p + 14);
        b.writeUInt32BE(r.bytes, p + 18);
        b.writeUInt32BE(r.first - BOOT_MS, p + 22);
        b.writeUInt32BE(r.last - BOOT_MS, p + 26);
        p += V9_REC;
      }
      b.fill(0, p, p + (dataPadded - dataLen));
      p += dataPadded - dataLen;
      v9.used = p;
      v9Datagrams++;
    }

    // IPFIX.
    {
      const len = 16 + (withTemplate ? TEMPLATE_SET_LEN : 0) + 4 + batchN * IPFIX_REC;
      ipfix.reserve(FRAME_OVERHEAD + len);
      const b = ipfix.buf;
      let p = frame(b, ipfix.used, sendMs, ipfixDatagrams, 4739, len);
      b.writeUInt16BE(10, p);
      b.writeUInt16BE(len, p + 2);
      b.writeUInt32BE(headerSecs, p + 4);
      b.writeUInt32BE(ipfixSeq >>> 0, p + 8); // data records sent before this message
      b.writeUInt32BE(0, p + 12); // observation domain
      p += 16;
      if (withTemplate) p = writeTemplate(b, p, 2, IPFIX_FIELDS);
      b.writeUInt16BE(256, p);
      b.writeUInt16BE(4 + batchN * IPFIX_REC, p + 2);
      p += 4;
      for (let i = 0; i < batchN; i++) {
        const r = batch[i]!;
        b.writeUInt32BE(r.src, p);
        b.writeUInt32BE(r.dst, p + 4);
        b.writeUInt16BE(r.sport, p + 8);
        b.writeUInt16BE(r.dport, p + 10);
        b[p + 12] = r.proto;
        b.writeUInt16BE(r.flags, p + 13);
        b.writeUInt32BE(0, p + 15);
        b.writeUInt32BE(r.packets, p + 19);
        b.writeUInt32BE(0, p + 23);
        b.writeUInt32BE(r.bytes, p + 27);
        b.writeUInt32BE(Math.floor(r.first / 4294967296), p + 31);
        b.writeUInt32BE(r.first % 4294967296, p + 35);
        b.writeUInt32BE(Math.floor(r.last / 4294967296), p + 39);
        b.writeUInt32BE(r.last % 4294967296, p + 43);
        p += IPFIX_REC;
      }
      ipfix.used = p;
      ipfixSeq += batchN;
      ipfixDatagrams++;
    }

    // nfdump CSV: `tr` is when the collector received the datagram.
    const d = new Date(sendMs).toISOString();
    const tr = d.slice(0, 10) + ' ' + d.slice(11, 23) + '\n';
    for (let i = 0; i < batchN; i++) {
      const r = batch[i]!;
      const line =
        timeText(r.first) + ',' + timeText(r.last) + ',' + ((r.last - r.first) / 1000).toFixed(3) + ',' +
        ipText(r.src) + ',' + ipText(r.dst) + ',' + r.sport + ',' + r.dport + ',' + PROTO_NAME[r.proto] + ',' +
        flagText[r.flags] + ',0,0,' + r.packets + ',' + r.bytes + CSV_BEFORE_DIR + r.dir + CSV_AFTER_DIR + tr;
      csv.reserve(line.length);
      csv.used += csv.buf.write(line, csv.used, 'latin1');
    }

    batchN = 0;
    batchTarget = 24 + Math.floor(rnd() * 5);
  };

  const addRecord = (src: number, dst: number, sport: number, dport: number, proto: number, flags: number, packets: number, bytes: number, first: number, last: number, dir: number, now: number): void => {
    const r = batch[batchN++]!;
    r.src = src;
    r.dst = dst;
    r.sport = sport;
    r.dport = dport;
    r.proto = proto;
    r.flags = proto === 6 ? flags : 0;
    r.packets = packets;
    r.bytes = bytes;
    r.first = first;
    r.last = last;
    r.dir = dir;
    written++;
    totalBytes += bytes;
    totalPackets += packets;
    if (first < firstMs) firstMs = first;
    if (last > lastMs) lastMs = last;
    if (batchN >= batchTarget) flushBatch(now);
  };

  /** Emit the records of a conversation's current slice; returns false when it is finished. */
  const emitSlice = (c: Conv): boolean => {
    const s = c.sliceStart;
    const e = c.sliceEnd;
    const firstSlice = s === c.start;
    const lastSlice = e >= c.end;
    const span = e - s;
    const cPk = Math.max(1, Math.round(c.cRate * span * (0.9 + rnd() * 0.2)));
    const cBy = Math.min(0xffffffff, Math.max(cPk * 40, Math.round(cPk * c.cSize * (0.9 + rnd() * 0.2))));
    let cFlags = 0x10 | 0x08;
    let sFlags = 0x10 | 0x08;
    if (firstSlice) {
      cFlags |= 0x02;
      sFlags |= 0x02;
    }
    if (lastSlice) {
      cFlags |= 0x01;
      sFlags |= 0x01;
    }
    addRecord(c.client, c.server, c.cport, c.sport, c.proto, cFlags, cPk, cBy, s, e, 0, e);
    if (c.mining) miningRecords++;
    if (!c.oneWay) {
      const sPk = Math.max(1, Math.round(c.sRate * span * (0.9 + rnd() * 0.2)));
      const sBy = Math.min(0xffffffff, Math.max(sPk * 40, Math.round(sPk * c.sSize * (0.9 + rnd() * 0.2))));
      // The reply starts a round trip later and ends a little before.
      const rtt = Math.min(span, 5 + Math.floor(rnd() * 60));
      const sFirst = firstSlice ? s + Math.floor(rtt / 2) : s;
      const sLast = Math.max(sFirst, lastSlice ? e - Math.floor(rtt / 4) : e);
      addRecord(c.server, c.client, c.sport, c.cport, c.proto, sFlags, sPk, sBy, sFirst, sLast, 1, e);
      if (c.mining) miningRecords++;
    }
    if (lastSlice) return false;
    c.sliceStart = e;
    c.sliceEnd = Math.min(c.end, e + ACTIVE_TIMEOUT_MS);
    return true;
  };

  const heap = new Heap();
  let conversations = 0;
  let miningSessions = 0;
  let scheduled = 0;
  let now = BASE_MS;

  while (scheduled < records) {
    // Next conversation start (Poisson arrivals); records of slices that ended before it come out first.
    now += Math.max(1, Math.round((-Math.log(1 - rnd()) * 1000) / RATE_PER_S));
    while (heap.size && heap.peek()!.sliceEnd <= now) {
      const c = heap.pop()!;
      if (emitSlice(c)) heap.push(c);
    }
    conversations++;
    const mining = rnd() < 0.001;
    let ci: number;
    let server: number;
    let proto = 6;
    let sport: number;
    let dur: number;
    let cRate: number;
    let sRate: number;
    let cSize: number;
    let sSize: number;
    let oneWay = false;
    if (mining) {
      miningSessions++;
      ci = miningPool[Math.floor(rnd() * MINING_CLIENT_POOL)]!;
      miningClients.add(ci);
      const si = Math.floor(rnd() * MINING_SERVERS);
      server = servers[si]!;
      serverSeen[si] = 1;
      sport = rnd() < 0.5 ? 3333 : 4444;
      dur = (30 + rnd() * 90) * 60_000;
      cRate = (20 * (0.8 + rnd() * 0.4)) / 60_000;
      sRate = (20 * (0.8 + rnd() * 0.4)) / 60_000;
      cSize = 90 + rnd() * 20;
      sSize = 95 + rnd() * 30;
    } else {
      ci = Math.floor(rnd() * SUBSCRIBER_POOL);
      // Popular servers get more traffic (squared uniform skews towards low indexes).
      const u = rnd();
      const si = MINING_SERVERS + Math.floor(u * u * (SERVER_POOL - MINING_SERVERS));
      server = servers[si]!;
      serverSeen[si] = 1;
      const k = rnd();
      if (k < 0.08) {
        // DNS: one query, one answer.
        proto = 17;
        sport = 53;
        dur = 1 + rnd() * 40;
        cRate = sRate = 1 / dur;
        cSize = 60 + rnd() * 30;
        sSize = 90 + rnd() * 200;
      } else {
        if (k < 0.2) {
          proto = 17;
          sport = 443; // QUIC
        } else sport = rnd() < 0.85 ? 443 : 80;
        const d = rnd();
        // Mostly short, some minutes long, a few long enough for several active-timeout slices.
        dur = d < 0.7 ? 50 + rnd() * 30_000 : d < 0.95 ? 30_000 + rnd() * 270_000 : 300_000 + rnd() * 3_300_000;
        const pk = d < 0.7 ? 4 + rnd() * 60 : 20 + rnd() * 2000;
        cRate = pk / dur;
        sRate = (pk * (1 + rnd() * 2)) / dur;
        cSize = 60 + rnd() * 500;
        sSize = 300 + rnd() * 1150;
        oneWay = proto === 6 && rnd() < 0.02; // unanswered SYNs
      }
    }
    subscriberSeen[ci] = 1;
    const start = now;
    const end = start + Math.max(1, Math.round(dur));
    const slices = Math.ceil((end - start) / ACTIVE_TIMEOUT_MS);
    scheduled += slices * (oneWay ? 1 : 2);
    const c: Conv = {
      client: subscriber(ci),
      server,
      cport: 1024 + Math.floor(rnd() * 64000),
      sport,
      proto,
      mining,
      oneWay,
      start,
      end,
      sliceStart: start,
      sliceEnd: Math.min(end, start + ACTIVE_TIMEOUT_MS),
      cRate,
      sRate,
      cSize,
      sSize,
    };
    heap.push(c);
  }
  while (heap.size) {
    const c = heap.pop()!;
    now = Math.max(now, c.sliceEnd);
    if (emitSlice(c)) heap.push(c);
  }
  flushBatch(now);

  // nfdump's closing summary.
  const secs = Math.max(1, (lastMs - firstMs) / 1000);
  const summary =
    'Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n' +
    `${written},${totalBytes},${totalPackets},${Math.round((totalBytes * 8) / secs)},${Math.round(totalPackets / secs)},${Math.round(totalBytes / Math.max(1, totalPackets))}\n`;
  csv.reserve(summary.length);
  csv.used += csv.buf.write(summary, csv.used, 'latin1');

  const v9Bytes = v9.close();
  const ipfixBytes = ipfix.close();
  const csvBytes = csv.close();
  let subscribers = 0;
  for (let i = 0; i < SUBSCRIBER_POOL; i++) subscribers += subscriberSeen[i]!;
  let serverCount = 0;
  for (let i = 0; i < SERVER_POOL; i++) serverCount += serverSeen[i]!;
  return {
    version: EXPORT_BENCH_VERSION,
    seed,
    records: written,
    conversations,
    subscribers,
    servers: serverCount,
    v9Datagrams,
    ipfixDatagrams,
    v9Bytes,
    ipfixBytes,
    csvBytes,
    miningSessions,
    miningRecords,
    miningClients: miningClients.size,
    miningServers: Array.from(servers.subarray(0, MINING_SERVERS), (a) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`),
    miningPorts: [3333, 4444],
    firstMs,
    lastMs,
  };
}
