/**
 * sha256 of a file on the second core: a worker thread reads the file itself (from the page cache,
 * as the parser reads it too) so hashing does not slow the packet path. Measured with
 * `npm run bench`: hashing inline cost ~17% of scan time.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
try {
  const fd = openSync(workerData.path, 'r');
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 22);
  let pos = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  closeSync(fd);
  parentPort.postMessage({ sha256: h.digest('hex'), size: pos });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

/** Hash `path` in a worker thread; resolves to hex sha256 and the byte count hashed. */
export function hashFileInWorker(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { path } });
    w.once('message', (m: { sha256?: string; size?: number; error?: string }) => {
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve({ sha256: m.sha256!, size: m.size! });
      void w.terminate();
    });
    w.once('error', reject);
  });
}
