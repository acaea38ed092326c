/**
 * The nfcapd case: the exports case's NetFlow v9 datagrams (bench/data/exports-v9.pcap) replayed
 * on 127.0.0.1 into Debian's nfcapd (LZ4, `-y`), once, giving bench/data/exports-v9.nfcapd; then,
 * side by side in one run, nfdump's own read of that file (`nfdump -r FILE -q -o null`, and
 * `-o csv > /dev/null`) and `minerwatch scan FILE` end to end, with records/s and max RSS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Anomalies } from '../src/anomalies.js';
import { decodePacket, PacketStatus, PacketView } from '../src/decode/packet.js';
import { readCapture } from '../src/io/input.js';
import { missingNfdump, nfcapdFiles, sendPaced, startNfcapd, storedFlows } from '../tests/support/nfcapd.js';

/** What the case needs from the exports case. */
export interface NfcapdBenchInput {
  root: string;
  data: string;
  /** The exports case's NetFlow v9 capture and its record count. */
  v9Pcap: string;
  records: number;
  miningClients: number;
  intel: string;
  runs: number;
}

async function datagramsOf(pcap: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const v = new PacketView();
  await readCapture(
    pcap,
    {
      time: 0,
      offset: 0,
      packet(lt, buf, off, caplen, orig) {
        if (decodePacket(lt, buf, off, caplen, orig, v) === PacketStatus.Transport && v.proto === 17) out.push(buf.slice(v.payloadOffset, v.payloadOffset + v.payloadLength));
      },
      record() {},
      exportMessage() {},
    },
    new Anomalies(),
    undefined,
    { hash: false },
  );
  return out;
}

/** The nfcapd file of the v9 capture, written once (its meta file names the capture's size). */
async function nfcapdFile(b: NfcapdBenchInput): Promise<string | null> {
  const file = join(b.data, 'exports-v9.nfcapd');
  const meta = `${file}.json`;
  const source = statSync(b.v9Pcap).size;
  try {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { source: number; bytes: number };
    if (m.source === source && existsSync(file) && statSync(file).size === m.bytes) return file;
  } catch {
    // written below
  }
  const t0 = process.hrtime.bigint();
  const datagrams = await datagramsOf(b.v9Pcap);
  const dir = mkdtempSync(join(tmpdir(), 'minerwatch-bench-nfcapd-'));
  const nfcapd = await startNfcapd(dir, ['-y']);
  let log: string;
  try {
    await sendPaced(nfcapd.port, datagrams, 900_000);
  } finally {
    log = await nfcapd.stop();
  }
  const files = nfcapdFiles(dir);
  const stored = storedFlows(log);
  if (files.length !== 1) {
    console.log(`nfcapd wrote ${files.length} files (expected 1); case skipped: ${log.slice(-400)}`);
    return null;
  }
  if (stored !== b.records) console.warn(`warning: nfcapd stored ${stored} records of the ${b.records} sent`);
  renameSync(files[0]!, file);
  rmSync(dir, { recursive: true, force: true });
  writeFileSync(meta, JSON.stringify({ source, bytes: statSync(file).size, records: stored }));
  console.log(`wrote ${file}: ${stored} records from ${datagrams.length} datagrams via nfcapd -y, ${(statSync(file).size / 1e6).toFixed(0)} MB, in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
  return file;
}

function timedShell(command: string): { seconds: number; rssMb: number | null; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'MAXRSS %M', 'sh', '-c', command], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${command} exited ${r.status}: ${r.stderr}`);
  const m = /MAXRSS (\d+)/.exec(r.stderr ?? '');
  return { seconds, rssMb: m ? Number(m[1]) / 1024 : null, stdout: r.stdout };
}

/** Runs the case and prints one line per tool (best of `runs`). */
export async function nfcapdCase(b: NfcapdBenchInput): Promise<void> {
  const missing = missingNfdump();
  if (missing) {
    console.log(`\nnfcapd: skipped, ${missing}`);
    return;
  }
  if (!existsSync('/usr/bin/time')) {
    console.log('\nnfcapd: skipped, /usr/bin/time not installed (Debian package time)');
    return;
  }
  const file = await nfcapdFile(b);
  if (!file) return;
  const { records } = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { records: number };
  console.log(`\nnfcapd: ${file}, ${records} records, ${(statSync(file).size / 1e6).toFixed(0)} MB (LZ4)`);
  const db = join(b.data, 'nfcapd.sqlite');
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const best = new Map<string, { seconds: number; rssMb: number | null }>();
  for (let i = 0; i < b.runs; i++) {
    const runs: Array<[string, { seconds: number; rssMb: number | null }]> = [];
    // nfdump's read and decode alone (`-o null` prints nothing), and its read into CSV.
    for (const out of ['null', 'csv']) {
      const nf = timedShell(`nfdump -r ${q(file)} -q -o ${out} > /dev/null`);
      console.log(`nfdump -r -o ${out} run ${i + 1}: ${nf.seconds.toFixed(2)} s, max RSS ${nf.rssMb?.toFixed(0) ?? 'n/a'} MiB`);
      runs.push([`nfdump -r FILE -q -o ${out}`, nf]);
    }
    for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
    const mw = timedShell(`${q(process.execPath)} ${q(join(b.root, 'bin', 'minerwatch'))} scan ${q(file)} --intel ${q(b.intel)} --db ${q(db)} --json --workers 1`);
    const j = JSON.parse(mw.stdout) as { subscribers: number; miningFlows: number; inputs: Array<{ records: number; anomalies: Record<string, number> }> };
    const input = j.inputs[0]!;
    if (input.records !== records) console.warn(`warning: scan read ${input.records} records, nfcapd stored ${records}`);
    if (Object.keys(input.anomalies).length) console.warn(`warning: anomalies ${JSON.stringify(input.anomalies)}`);
    if (j.subscribers !== b.miningClients) console.warn(`warning: ${j.subscribers} mining subscribers found, the generator made ${b.miningClients}`);
    console.log(`minerwatch scan run ${i + 1}: ${mw.seconds.toFixed(2)} s, ${j.miningFlows} mining flows, ${j.subscribers} subscribers, max RSS ${mw.rssMb?.toFixed(0) ?? 'n/a'} MiB`);
    runs.push(['minerwatch scan FILE', mw]);
    for (const [tool, r] of runs) {
      const prev = best.get(tool);
      if (!prev || r.seconds < prev.seconds) best.set(tool, r);
    }
  }
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  // Both tools ran in turn in this run, so load from other processes weighs on both alike.
  console.log(`\ntool                        records   best s   records/s   max RSS MiB   (load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores)`);
  for (const [tool, r] of best)
    console.log(`${tool.padEnd(26)} ${String(records).padStart(9)} ${r.seconds.toFixed(2).padStart(8)} ${Math.round(records / r.seconds).toLocaleString('en-US').padStart(11)} ${(r.rssMb?.toFixed(0) ?? 'n/a').padStart(13)}`);
}
