/**
 * Exports captures through real flow tools, as an operator would: softflowd reads each capture
 * and sends NetFlow v5/v9 or IPFIX to an nfcapd collector on 127.0.0.1, and `nfdump -o csv`
 * prints what nfcapd stored. A second path keeps softflowd's export datagrams themselves, written
 * into a capture as they arrived. Every wait is on a condition with a deadline; nothing leaves
 * the loopback interface.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { IpProto, LinkType, ipv4, pcapFile, udp } from './builders.js';
import { freeUdpPort, udpReceiveQueue } from './udp.js';

/** NetFlow export version as softflowd's `-v` takes it: 5, 9, or 10 (IPFIX). */
export type ExportVersion = 5 | 9 | 10;

/** The Debian package that ships each tool this harness runs. */
export const FLOW_TOOL_PACKAGES = { softflowd: 'softflowd', nfcapd: 'nfdump', nfdump: 'nfdump' } as const;

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Why the flow tools cannot be used here (which are missing and the Debian packages that bring
 * them), or null when softflowd, nfcapd and nfdump are all installed.
 */
export function missingFlowTools(): string | null {
  const missing = (Object.keys(FLOW_TOOL_PACKAGES) as Array<keyof typeof FLOW_TOOL_PACKAGES>).filter((tool) => !onPath(tool));
  if (missing.length === 0) return null;
  const packages = [...new Set(missing.map((tool) => FLOW_TOOL_PACKAGES[tool]))];
  return `${missing.join(', ')} not installed (Debian package${packages.length > 1 ? 's' : ''} ${packages.join(', ')})`;
}

/** How softflowd exports. */
export interface ExportOptions {
  /** NetFlow version (`-v`): 5, 9 or 10 (IPFIX). Default 9. */
  version?: ExportVersion;
  /** Active timeout in seconds (softflowd's `maxlife`): a longer flow is cut into records. Default 1800. */
  activeTimeoutS?: number;
  /**
   * softflowd's flow table size (`-m`), which with `-r` is also its batch: it checks timeouts only
   * between batches of this many packets, so a flow is cut at the first batch end after its active
   * timeout. The default 8192 would let a capture of a few thousand packets run as one batch and
   * cut nothing; 16 keeps cuts within 16 packets and is above the flows any fixture capture holds
   * at once (more flows than this are expired early for room). Default 16.
   */
  maxFlows?: number;
  /** Deadline for each tool run and each wait, ms. Default 60 000. */
  deadlineMs?: number;
}

/** What softflowd said it exported from one capture (its closing statistics). */
export interface SoftflowdRun {
  capture: string;
  /** Flow records exported (a bidirectional flow is two records in v5/v9/IPFIX). */
  records: number;
  /** Export datagrams sent. */
  datagrams: number;
  stdout: string;
}

/** The result of exporting captures into nfcapd and printing them with nfdump. */
export interface NfdumpExport {
  /** The `nfdump -o csv` output file. */
  csv: string;
  /** nfcapd's data directory. */
  dataDir: string;
  /** One entry per capture, in order. */
  runs: SoftflowdRun[];
  /** Records nfcapd reported storing (its closing `Flows:` count). */
  storedRecords: number;
  nfcapdLog: string;
}

/** The result of capturing softflowd's export datagrams. */
export interface DatagramExport {
  /** A pcap (raw IPv4) of the datagrams, 127.0.0.1:softflowd → 127.0.0.1:`port`, as they arrived. */
  pcap: string;
  /** The collector port the datagrams were sent to. */
  port: number;
  runs: SoftflowdRun[];
  datagrams: number;
}

const DEFAULTS = { version: 9 as ExportVersion, activeTimeoutS: 1800, maxFlows: 16, deadlineMs: 60_000 };

async function until<T>(what: string, deadlineMs: number, check: () => T | undefined | false, stepMs = 20): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A capture softflowd can read: gzipped captures are unpacked into `dir` first. */
function plainCapture(path: string, dir: string): string {
  if (!path.endsWith('.gz')) return path;
  const out = join(dir, basename(path).replace(/\.gz$/, ''));
  writeFileSync(out, gunzipSync(readFileSync(path)));
  return out;
}

/** A UDP port on 127.0.0.1 that was free a moment ago. */
/** Runs softflowd on one capture, sending to 127.0.0.1:`port`; resolves with its statistics. */
function runSoftflowd(capture: string, port: number, opts: Required<ExportOptions>, workDir: string): Promise<SoftflowdRun> {
  const args = ['-r', capture, '-n', `127.0.0.1:${port}`, '-v', String(opts.version), '-a', '-c', 'none', '-t', `maxlife=${opts.activeTimeoutS}`, '-m', String(opts.maxFlows), '-p', join(workDir, 'softflowd.pid')];
  return new Promise((resolve, reject) => {
    const child = spawn('softflowd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.deadlineMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const m = /Flows exported: \d+ \((\d+) records\) in (\d+) packets \((\d+) failures\)/.exec(stdout);
      if (code !== 0 || !m) {
        reject(new Error(`softflowd ${args.join(' ')} ended with ${signal ?? code}: ${stderr || stdout}`));
        return;
      }
      if (m[3] !== '0') {
        reject(new Error(`softflowd failed to send ${m[3]} export datagrams for ${capture}: ${stdout}`));
        return;
      }
      resolve({ capture, records: Number(m[1]), datagrams: Number(m[2]), stdout });
    });
  });
}

interface Nfcapd {
  child: ChildProcess;
  port: number;
  log: () => string;
  exited: Promise<number | null>;
}

async function startNfcapd(dataDir: string, deadlineMs: number): Promise<Nfcapd> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const child = spawn('nfcapd', ['-b', '127.0.0.1', '-p', String(port), '-w', dataDir, '-B', '33554432'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve((exitCode = code))));
    try {
      await until('nfcapd to listen', deadlineMs, () => exitCode !== undefined || udpReceiveQueue(port) !== undefined || /Startup nfcapd/.test(log));
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      throw e;
    }
    if (exitCode === undefined) return { child, port, log: () => log, exited };
    lastError = log;
  }
  throw new Error(`nfcapd could not start on 127.0.0.1: ${lastError}`);
}

/**
 * Exports `captures` (pcap, or gzipped pcap) with softflowd, one run each, into one nfcapd on
 * 127.0.0.1 (a random free port, `-B 33554432`), stops nfcapd once it has read every datagram,
 * and writes `nfdump -R DIR -o csv` to `outCsv`.
 * @throws when a tool fails, a deadline passes, or nfcapd stored fewer records than softflowd sent.
 */
export async function exportToNfdumpCsv(captures: string[], outCsv: string, options: ExportOptions = {}): Promise<NfdumpExport> {
  const opts = { ...DEFAULTS, ...options };
  const workDir = mkdtempSync(join(tmpdir(), 'minerwatch-softflowd-'));
  const dataDir = join(workDir, 'nfcapd');
  mkdirSync(dataDir);
  const nfcapd = await startNfcapd(dataDir, opts.deadlineMs);
  const runs: SoftflowdRun[] = [];
  try {
    for (const capture of captures) runs.push(await runSoftflowd(plainCapture(capture, workDir), nfcapd.port, opts, workDir));
    // Everything softflowd sent is in nfcapd's socket or already read; wait until it is read.
    await until('nfcapd to read every export datagram', opts.deadlineMs, () => udpReceiveQueue(nfcapd.port) === 0 || udpReceiveQueue(nfcapd.port) === undefined);
  } finally {
    nfcapd.child.kill('SIGTERM');
    const timer = setTimeout(() => nfcapd.child.kill('SIGKILL'), opts.deadlineMs);
    await nfcapd.exited;
    clearTimeout(timer);
  }
  const log = nfcapd.log();
  const stored = /Ident: '[^']*' Flows: (\d+)/.exec(log);
  const sent = runs.reduce((n, r) => n + r.records, 0);
  if (!stored || Number(stored[1]) !== sent) throw new Error(`nfcapd stored ${stored?.[1] ?? 'no'} records, softflowd sent ${sent}: ${log}`);
  const dump = spawnSync('nfdump', ['-R', dataDir, '-o', 'csv'], { encoding: 'utf8', timeout: opts.deadlineMs, maxBuffer: 256 * 1024 * 1024 });
  if (dump.status !== 0) throw new Error(`nfdump -R ${dataDir} -o csv failed: ${dump.stderr}`);
  writeFileSync(outCsv, dump.stdout);
  return { csv: outCsv, dataDir, runs, storedRecords: Number(stored[1]), nfcapdLog: log };
}

/**
 * Exports `captures` with softflowd to a UDP socket on 127.0.0.1 held by this process and writes
 * the datagrams, as they arrived, into a pcap at `outPcap` (what a capture on a collector's port
 * holds). Waits until every datagram softflowd reports sending has arrived.
 * @throws when a tool fails, a deadline passes, or datagrams are lost.
 */
export async function exportToDatagramCapture(captures: string[], outPcap: string, options: ExportOptions = {}): Promise<DatagramExport> {
  const opts = { ...DEFAULTS, ...options };
  const workDir = mkdtempSync(join(tmpdir(), 'minerwatch-softflowd-'));
  const received: Array<{ ts: number; from: number; data: Buffer }> = [];
  const socket: Socket = createSocket({ type: 'udp4', recvBufferSize: 32 * 1024 * 1024 });
  socket.on('message', (data, rinfo) => received.push({ ts: Date.now(), from: rinfo.port, data }));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  const runs: SoftflowdRun[] = [];
  try {
    for (const capture of captures) runs.push(await runSoftflowd(plainCapture(capture, workDir), port, opts, workDir));
    const sent = runs.reduce((n, r) => n + r.datagrams, 0);
    await until(`${sent} export datagrams on 127.0.0.1:${port}`, opts.deadlineMs, () => received.length >= sent);
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  const packets = received.map((d, i) => ({
    ts: d.ts,
    data: ipv4('127.0.0.1', '127.0.0.1', IpProto.UDP, udp(d.from, port, d.data, { pseudo: { src: '127.0.0.1', dst: '127.0.0.1' } }), { id: i & 0xffff }),
  }));
  writeFileSync(outPcap, pcapFile(LinkType.RAW, packets));
  return { pcap: outPcap, port, runs, datagrams: received.length };
}

/** One record of `nfdump -o csv` output (the columns the tests read). */
export interface NfdumpRecord {
  /** First and last packet, ms since the epoch (nfdump prints UTC). */
  first: number;
  last: number;
  /** Duration, seconds. */
  durationS: number;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  protocol: string;
  flags: string;
  packets: number;
  bytes: number;
}

/**
 * Reads nfdump's CSV (header line, records, then a `Summary` block) written by
 * {@link exportToNfdumpCsv}. Only for checking what the exporter produced: the scanner has its own reader.
 */
export function readNfdumpCsv(path: string): NfdumpRecord[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const header = (lines[0] ?? '').split(',');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path}: nfdump CSV header lacks ${name}: ${lines[0]}`);
    return i;
  };
  const at = { ts: col('ts'), te: col('te'), td: col('td'), sa: col('sa'), da: col('da'), sp: col('sp'), dp: col('dp'), pr: col('pr'), flg: col('flg'), ipkt: col('ipkt'), ibyt: col('ibyt') };
  const time = (text: string): number => Date.parse(`${text.trim().replace(' ', 'T')}Z`);
  const out: NfdumpRecord[] = [];
  for (const line of lines.slice(1)) {
    if (line === '' || line.startsWith('Summary')) break;
    const f = line.split(',');
    out.push({
      first: time(f[at.ts]!),
      last: time(f[at.te]!),
      durationS: Number(f[at.td]),
      srcAddr: f[at.sa]!,
      dstAddr: f[at.da]!,
      srcPort: Number(f[at.sp]),
      dstPort: Number(f[at.dp]),
      protocol: f[at.pr]!.trim(),
      flags: f[at.flg]!,
      packets: Number(f[at.ipkt]),
      bytes: Number(f[at.ibyt]),
    });
  }
  return out;
}
