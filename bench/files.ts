/**
 * The files case of `npm run bench` (BENCH_CASES=files): the exports case's NetFlow v9 capture cut
 * into many files of whole packets, as an operator's collector rotates them (nfcapd writes one file
 * every five minutes: 288 a day per exporter), and `minerwatch scan` of the folder against the
 * scan of the one file, side by side in alternating runs. What a folder costs beyond its records
 * is the per-input work: opening, hashing, the report's input rows and commits.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Cut the classic pcap `src` into about `parts` files of about equal size under `dir` (whole
 * packets, the same global header); fewer when packets are large against the share of each.
 */
export function splitPcap(src: string, dir: string, parts: number): string[] {
  const buf = readFileSync(src);
  const magic = buf.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${src}: a little-endian classic pcap was expected`);
  const header = buf.subarray(0, 24);
  const target = Math.ceil((buf.length - 24) / parts);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  let pos = 24;
  while (pos < buf.length) {
    const start = pos;
    while (pos < buf.length && pos - start < target) pos += 16 + buf.readUInt32LE(pos + 8);
    const path = join(dir, `part-${String(out.length).padStart(4, '0')}.pcap`);
    const fd = openSync(path, 'w');
    writeSync(fd, header);
    writeSync(fd, buf.subarray(start, pos));
    closeSync(fd);
    out.push(path);
  }
  return out;
}

/** The folder of files cut from `src`, made once (kept while its files add up to the source's packets). */
export function splitFolder(src: string, dir: string, parts: number): string {
  const want = statSync(src).size - 24;
  let have = -1;
  try {
    const names = readdirSync(dir).filter((n) => n.endsWith('.pcap'));
    if (names.length > 0) have = names.reduce((a, n) => a + statSync(join(dir, n)).size - 24, 0);
  } catch {
    // Not made yet.
  }
  if (have !== want) splitPcap(src, dir, parts);
  return dir;
}
