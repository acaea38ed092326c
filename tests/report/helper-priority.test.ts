/**
 * A scan's helper threads run behind its reading thread: on Linux the report writer's thread of a
 * scan, the input's hashing thread and the thread that touches payload slabs raise their own nice value by 10 (MINERWATCH_HELPER_NICE sets
 * the step, 0 turns it off), and a live collector's writer thread keeps the process's. Each thread's
 * nice value is read from the kernel's record of it (/proc/self/task/TID/stat), for the threads the
 * built writer and the hashing code start in this process.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prefaultWorkBuffers, TouchedSlabs } from '../../src/flow/touched.js';
import { hashFileInWorker } from '../../src/io/hash.js';
import { DEFAULT_HELPER_NICE, helperNice } from '../../src/priority.js';
import { ROOT } from '../helpers.js';
import { flowRecord, noneVerdict } from '../support/records.js';

const LINUX = process.platform === 'linux' && existsSync('/proc/self/task');
const DIST = join(ROOT, 'dist', 'src', 'report');
const BUILT = existsSync(join(DIST, 'writer-thread.js'));
if (!LINUX) console.warn('skipping the helper-priority thread tests: per-thread nice values are Linux’s');
if (!BUILT) console.warn('skipping the writer-thread priority tests: dist/ is not built (npm run build)');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-priority-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every thread of this process and its nice value (field 19 of its stat line). */
function threadNice(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces), from field 3 (state) on.
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), Number(f[19 - 3]));
    } catch {
      // The thread ended while listed.
    }
  }
  return out;
}

/**
 * The nice values of threads started since `before` and still running, once at least one is there,
 * or with `want` once one has that value (a thread exists before its first statement lowers its
 * priority); waits up to 10 s.
 */
async function newThreads(before: Map<number, number>, want?: number): Promise<number[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const now = threadNice();
    const fresh = [...now].filter(([t]) => !before.has(t)).map(([, n]) => n);
    if ((want === undefined ? fresh.length > 0 : fresh.includes(want)) || Date.now() > until) return fresh;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const NONE = noneVerdict();

/**
 * Run `f` with MINERWATCH_HELPER_NICE as given (unset for undefined, as by default), whatever the
 * caller's environment holds, then put the variable back as it was.
 */
async function withStep<T>(step: string | undefined, f: () => Promise<T>): Promise<T> {
  const saved = process.env.MINERWATCH_HELPER_NICE;
  if (step === undefined) delete process.env.MINERWATCH_HELPER_NICE;
  else process.env.MINERWATCH_HELPER_NICE = step;
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.MINERWATCH_HELPER_NICE;
    else process.env.MINERWATCH_HELPER_NICE = saved;
  }
}

describe('helper thread priority', () => {
  it('is a step of 10 on Linux by default, MINERWATCH_HELPER_NICE from 0 to 19 otherwise, and none elsewhere', () => {
    expect(DEFAULT_HELPER_NICE).toBe(10);
    expect(helperNice({}, 'linux')).toBe(10);
    expect(helperNice({ MINERWATCH_HELPER_NICE: '0' }, 'linux')).toBe(0);
    expect(helperNice({ MINERWATCH_HELPER_NICE: '4' }, 'linux')).toBe(4);
    expect(helperNice({ MINERWATCH_HELPER_NICE: '40' }, 'linux')).toBe(19);
    // Not a step: the default.
    expect(helperNice({ MINERWATCH_HELPER_NICE: '-5' }, 'linux')).toBe(10);
    expect(helperNice({ MINERWATCH_HELPER_NICE: 'low' }, 'linux')).toBe(10);
    // A nice value is the whole process's there: the reading thread would be slowed too.
    expect(helperNice({}, 'darwin')).toBe(0);
    expect(helperNice({ MINERWATCH_HELPER_NICE: '5' }, 'win32')).toBe(0);
  });

  it.skipIf(!LINUX)('the hashing thread runs 10 below the thread that reads', async () => {
    const base = getPriority();
    const file = join(tmp, 'input.bin');
    writeFileSync(file, Buffer.alloc(1 << 20, 7));
    const before = threadNice();
    const h = await withStep(undefined, () => hashFileInWorker(file));
    expect(h.size).toBe(1 << 20);
    expect(await newThreads(before)).toContain(Math.min(19, base + 10));
  });

  it.skipIf(!LINUX)('the thread that touches payload slabs runs 10 below the thread that reads', async () => {
    const base = getPriority();
    prefaultWorkBuffers(true);
    try {
      const slabs = new TouchedSlabs(1 << 16);
      const before = threadNice();
      // The second request starts the thread.
      await withStep(undefined, async () => {
        slabs.take();
        slabs.take();
      });
      expect(slabs.stats().started).toBe(true);
      const want = Math.min(19, base + 10);
      expect(await newThreads(before, want)).toContain(want);
    } finally {
      prefaultWorkBuffers(false);
    }
  });

  describe.skipIf(!LINUX || !BUILT)('the report writer thread', () => {
    /** Start a run of `command` and fill one batch, so the writer thread starts; the new threads' nice values. */
    async function writerThreadNice(command: 'scan' | 'collect', step?: string): Promise<number[]> {
      const { openReport, ReportWriter } = (await import(join(DIST, 'writer.js'))) as typeof import('../../src/report/writer.js');
      const { BATCH_FLOWS } = (await import(join(DIST, 'writer-batch.js'))) as typeof import('../../src/report/writer-batch.js');
      return withStep(step, async () => {
        const db = openReport(join(tmp, `${command}-${step ?? 'default'}.sqlite`));
        try {
          const w = new ReportWriter(db, { toolVersion: 'test', rulesetDigest: 'test', rules: '', options: {}, command });
          const before = threadNice();
          for (let i = 0; i < BATCH_FLOWS; i++) w.addFlow(flowRecord({ clientPort: 1024 + (i % 60000), firstSeen: Date.UTC(2026, 10, 21) + i }), NONE, null, '100.64.1.2');
          // Committed by the thread: it has started (and set its priority) and is still there.
          w.flush();
          expect(db.prepare('SELECT count(*) FROM flows').pluck().get()).toBe(BATCH_FLOWS);
          const fresh = await newThreads(before);
          w.finish({ packets: 0, anomalies: 0, interrupted: false });
          return fresh;
        } finally {
          db.close();
        }
      });
    }

    it('of a scan runs 10 below the scan', async () => {
      expect(await writerThreadNice('scan')).toContain(Math.min(19, getPriority() + 10));
    });

    it('of a live collector keeps the process’s priority', async () => {
      const fresh = await writerThreadNice('collect');
      expect(fresh.length).toBeGreaterThan(0);
      expect(new Set(fresh)).toEqual(new Set([getPriority()]));
    });

    it('of a scan keeps the process’s priority with MINERWATCH_HELPER_NICE=0, and takes the step it gives', async () => {
      const off = await writerThreadNice('scan', '0');
      expect(off.length).toBeGreaterThan(0);
      expect(new Set(off)).toEqual(new Set([getPriority()]));
      expect(await writerThreadNice('scan', '3')).toContain(Math.min(19, getPriority() + 3));
    });
  });
});
