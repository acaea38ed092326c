/**
 * The packet path allocates nothing per packet: scans of two generated subscriber captures, one seven
 * times the other, with V8's sampling heap profiler on (a sample every KiB allocated, collected
 * objects included). What the pcap parser's loop and the ingest's per-packet call allocate grows by
 * next to nothing per packet from the one to the other; a packet's time passed from the parser as
 * an argument was boxed, 16 bytes a packet. The difference leaves out what does not grow with the
 * packets (the engine's warm-up, before the loop is compiled). Per-flow allocations (the finished
 * flows' records) are sampled in the same runs, so the profiles are not empty. The built program
 * (dist/src, as tsc emitted it) in child processes, on real bytes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBenchCapture } from '../../bench/gen-capture.js';
import { ROOT, runModulesCli } from '../helpers.js';

const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
if (!BUILT) console.warn('skipping the packet allocation test: dist/ is not built (npm run build)');

const tmp = mkdtempSync(join(tmpdir(), 'minerwatch-packet-alloc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface ProfileNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: ProfileNode[];
}

/** Bytes sampled as allocated by each function (by name and the file it is in). */
function allocatedBy(profile: { head: ProfileNode }): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (n: ProfileNode): void => {
    const key = `${n.callFrame.functionName} ${n.callFrame.url.replace(/^.*\/dist\//, '')}`;
    out.set(key, (out.get(key) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  return out;
}

/** Bytes the profile of a scan of `capture` saw allocated by each function, and the scan's packets and flows. */
function scanProfile(capture: string, name: string): { by: Map<string, number>; packets: number; flows: number } {
  const profile = join(tmp, `${name}.heapprofile`);
  const hook = join(tmp, `${name}.mjs`);
  writeFileSync(
    hook,
    `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
// Worker threads (the report writer, the hashing thread) load this too: the scan thread alone is sampled.
if (isMainThread) {
const s = new Session();
s.connect();
s.post('HeapProfiler.enable');
s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
process.on('exit', () => s.post('HeapProfiler.stopSampling', (err, r) => writeFileSync(${JSON.stringify(profile)}, err ? '' : JSON.stringify(r.profile))));
}
`,
  );
  // The program module by module (dist/src), not its bundle: the profile then names each function's file.
  const r = runModulesCli(['scan', capture, '--db', join(tmp, `${name}.sqlite`), '--json', '--workers', '1'], 240_000, { NODE_OPTIONS: `--import=${hook}` });
  expect(r.code, r.err).toBe(0);
  const got = JSON.parse(r.out) as { inputs: Array<{ packets: number }>; flows: number };
  return { by: allocatedBy(JSON.parse(readFileSync(profile, 'utf8')) as { head: ProfileNode }), packets: got.inputs[0]!.packets, flows: got.flows };
}

describe.skipIf(!BUILT)('packet path allocations', () => {
  it('the parser and the ingest allocate next to nothing per packet (sampled: under half a boxed number a packet more from one capture to one seven times as large)', () => {
    const runs = [24_000_000, 168_000_000].map((bytes, i) => {
      const capture = join(tmp, `subscriber-${i}.pcap`);
      const gen = generateBenchCapture(capture, bytes, 20261207, 'subscriber');
      const p = scanProfile(capture, `run-${i}`);
      expect(p.packets).toBe(gen.packets);
      // The flows' records are sampled: the profile saw the run.
      expect(p.by.get('toRecord src/flow/slots.js') ?? 0).toBeGreaterThan(p.flows * 100);
      // The per-packet functions were on the stack of those samples: a renamed one would read 0 here and pass.
      expect(p.by.has('parse src/io/pcap.js') && p.by.has('packet src/flow/ingest.js')).toBe(true);
      return { packets: p.packets, perPacket: (p.by.get('parse src/io/pcap.js') ?? 0) + (p.by.get('packet src/flow/ingest.js') ?? 0) };
    });
    const more = runs[1]!.packets - runs[0]!.packets;
    expect(more).toBeGreaterThan(200_000);
    // A boxed time per packet would be 16 bytes each. DNS responses, a share of the packets, still
    // hand their time to the resolver-binding handler as a number (about 1.5 bytes a packet here);
    // the margin is for the engine compiling the loop later in one run than in the other.
    expect((runs[1]!.perPacket - runs[0]!.perPacket) / more).toBeLessThan(8);
  }, 300_000);
});
