/**
 * The rotated case of `npm run bench` (BENCH_CASES=rotated): the files case's parts of the NetFlow v9
 * capture scanned one run each into one growing report, as a collector's rotated files are when a
 * scan runs after each rotation. Two reports side by side, file by file: one as a scan leaves it
 * (its close settles the run's own subscribers when the report is known settled:
 * src/report/settle.ts), and one whose `settled` row is removed before every scan, so that every
 * close settles the whole report (what every close did before). Per run: wall time and the flows
 * the close looked at again; at the end the two reports are compared (verdicts, evidence rows with
 * their row ids, subscriber rows), which must be identical.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decidedRows, forgetSettled } from '../tests/support/report-snapshot.js';

export interface RotatedCase {
  root: string;
  /** The folder of parts (bench/files.ts) and the intel folder the exports case's scans load. */
  folder: string;
  intel: string;
  data: string;
  /** Parts scanned (the first ones, in name order); all when larger. */
  files: number;
}

interface Run {
  ms: number;
  lookedAt: number;
  settled: number | null;
}

function scan(root: string, input: string, intel: string, db: string): Run {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(root, 'bin', 'minerwatch'), 'scan', input, '--intel', intel, '--db', db, '--json', '--quiet', '--workers', '1'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`scan ${input} into ${db} exited ${r.status}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { addedUp: { flows: number } | null; settledSubscribers: number | null };
  return { ms, lookedAt: j.addedUp?.flows ?? 0, settled: j.settledSubscribers };
}

/** What two reports decided, compared table by table. */
function compare(a: string, b: string): Array<{ table: string; rows: number; same: boolean }> {
  const x = decidedRows(a);
  const y = decidedRows(b);
  return (Object.keys(x) as Array<keyof typeof x>).map((table) => ({ table, rows: x[table].length, same: JSON.stringify(x[table]) === JSON.stringify(y[table]) }));
}

export function rotatedCase(c: RotatedCase): void {
  const parts = readdirSync(c.folder)
    .filter((n) => n.endsWith('.pcap'))
    .sort()
    .slice(0, c.files)
    .map((n) => join(c.folder, n));
  const scoped = join(c.data, 'rotated-scoped.sqlite');
  const whole = join(c.data, 'rotated-whole.sqlite');
  for (const db of [scoped, whole]) for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  console.log(`\nrotated: ${parts.length} parts of the NetFlow v9 capture (${c.folder}), one scan each into one report; side by side, file by file, a report whose every close settles the whole report`);
  const runs: Array<{ scoped: Run; whole: Run }> = [];
  parts.forEach((p, i) => {
    const s = scan(c.root, p, c.intel, scoped);
    if (i > 0) forgetSettled(whole);
    const w = scan(c.root, p, c.intel, whole);
    runs.push({ scoped: s, whole: w });
    if ((i + 1) % 48 === 0 || i === parts.length - 1)
      console.log(
        `run ${i + 1}: own subscribers ${s.ms.toFixed(0)} ms (looked at ${s.lookedAt} flows, settled ${s.settled === null ? 'the whole report' : `${s.settled} subscribers`}); whole report ${w.ms.toFixed(0)} ms (looked at ${w.lookedAt} flows)`,
      );
  });
  const sum = (k: 'scoped' | 'whole', from = 0): number => runs.slice(from).reduce((a, r) => a + r[k].ms, 0);
  const last = Math.max(0, runs.length - 48);
  const n = runs.length - last;
  console.log(`all ${runs.length} runs: own subscribers ${(sum('scoped') / 1000).toFixed(1)} s, whole report ${(sum('whole') / 1000).toFixed(1)} s; the last ${n}: ${(sum('scoped', last) / n).toFixed(0)} ms against ${(sum('whole', last) / n).toFixed(0)} ms a run`);
  const cmp = compare(scoped, whole);
  console.log(`the two reports: ${cmp.map((t) => `${t.table} ${t.rows} rows ${t.same ? 'identical' : 'DIFFERENT'}`).join(', ')}`);
  if (cmp.some((t) => !t.same)) console.warn('warning: the report of scoped settles differs from the report of whole-report settles');
  for (const db of [scoped, whole]) for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
}
