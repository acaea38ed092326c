/**
 * Memory for the payload prefixes' working buffers, touched before the scan thread writes to it.
 *
 * The first write to a page of fresh memory takes a page fault: about 10 µs per 4 KiB page on the
 * project's machine (a virtual machine). The working buffers of the flows open at once are the
 * largest block of fresh memory a scan writes (tens of MiB on a subscriber link), and their faults
 * fell on the reading thread, inside its copies of payload. A helper thread now allocates the
 * slabs those buffers are carved from, writes one byte in each page (the fault is taken there, on
 * another core), and posts them; the reading thread takes a ready slab when it needs one, without
 * waiting, and allocates one of its own as before when none is ready.
 *
 * A slab is a plain ArrayBuffer, transferred (its memory moves to the reading thread), not a
 * SharedArrayBuffer: V8 copies into and out of shared memory with its own relaxed-atomic copy loop
 * instead of the C library's memmove, and payload copies into these buffers are most of the packet
 * path's copying. Shared slabs cost the flows case's scan thread more in those copies than the page
 * faults they spared it: with no slabs from the helper at all, it used 1.94-1.95 s of CPU against
 * 2.03 s with shared ones (two runs each); with transferred ones, 1.81 s against 1.96 s (medians of
 * eight alternated runs on a busy host; wall 2.37 s against 2.43 s). The transfer detaches the
 * buffer in the helper, whose typed-array code is one loop; the reading thread only receives.
 *
 * Off until a command turns it on ({@link prefaultWorkBuffers}): it starts a thread, and only a scan
 * of real traffic gains. Even then the thread starts with the second slab a thread's prefixes need,
 * so a small input never starts it. Each JavaScript thread (a scan worker) has its own.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { helperNice, LOWER_PRIORITY_SOURCE } from '../priority.js';

/** Slabs touched and posted ahead of the reading thread's need (each a slab's bytes of memory). */
const AHEAD = 8;

// The thread lowers its own priority first (src/priority.ts). A byte written per 4 KiB takes each
// page's fault; larger pages take theirs at the first.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
${LOWER_PRIORITY_SOURCE}
const { port, bytes, ahead } = workerData;
const make = () => {
  const ab = new ArrayBuffer(bytes);
  const u = new Uint8Array(ab);
  for (let i = 0; i < bytes; i += 4096) u[i] = 0;
  // The memory need not start on a page: the last one may begin after the last 4 KiB step.
  u[bytes - 1] = 0;
  port.postMessage(ab, [ab]);
};
for (let i = 0; i < ahead; i++) make();
parentPort.on('message', make);
`;

let enabled = false;

/** Turn touched slabs on or off for this thread's payload prefixes (a scan turns them on). */
export function prefaultWorkBuffers(on: boolean): void {
  enabled = on;
}

/** What this thread's helper did: whether it started, slabs taken from it, and slabs the reading thread made itself. */
export interface PrefaultStats {
  started: boolean;
  taken: number;
  missed: number;
}

/** Hands out slabs a helper thread touched, for one slab size. */
export class TouchedSlabs {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private dead = false;
  private asked = 0;
  private taken = 0;
  private missed = 0;

  constructor(private readonly bytes: number) {}

  /**
   * A touched slab if one is ready, else null (the caller allocates its own). The first call starts
   * nothing: a thread's first slab is its own, and the helper starts with the second.
   */
  take(): ArrayBuffer | null {
    if (!enabled || this.dead) return null;
    if (this.asked++ === 0) return null;
    if (this.port === null) {
      this.start();
      this.missed++;
      return null;
    }
    const m = receiveMessageOnPort(this.port);
    if (m === undefined) {
      this.missed++;
      return null;
    }
    this.taken++;
    // One more, to stay AHEAD slabs ahead.
    this.worker!.postMessage(1);
    return m.message as ArrayBuffer;
  }

  stats(): PrefaultStats {
    return { started: this.port !== null, taken: this.taken, missed: this.missed };
  }

  private start(): void {
    try {
      const { port1, port2 } = new MessageChannel();
      // No execArgv: the source is CommonJS, whatever --input-type the process was started with.
      const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { port: port2, bytes: this.bytes, ahead: AHEAD, nice: helperNice() }, transferList: [port2] });
      // Neither keeps the process alive: slabs are taken synchronously, never awaited.
      w.unref();
      port1.unref();
      w.on('error', () => this.stop());
      w.on('exit', () => this.stop());
      this.worker = w;
      this.port = port1;
    } catch {
      // No thread (a process or thread limit): slabs are the reading thread's own, as without it.
      this.dead = true;
    }
  }

  private stop(): void {
    this.dead = true;
    this.port?.close();
  }
}
