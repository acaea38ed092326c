/**
 * How a long command stops (stopOnSignals, src/cli/main.ts): signals that arrive while the command
 * runs synchronously (a scan's close waiting on another process's lock) are acted on when it ends,
 * even when the command gives the signals back right after. Each case runs in its own process,
 * which signals itself while its thread is blocked.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BUILT = existsSync(MAIN);
if (!BUILT) console.warn('skipping the signal tests: dist/ is not built (npm run build)');

/** Run a module that sends itself `signals` SIGINTs while blocked, then gives the handlers back; its status and output. */
function blockedThrough(signals: number): { status: number | null; out: string } {
  const script = `
    import { stopOnSignals } from ${JSON.stringify(pathToFileURL(MAIN).href)};
    const s = stopOnSignals({ first: (sig) => console.log('first ' + sig), lastWords: () => console.log('last words') });
    // Sent, and caught, while this thread runs on without the event loop (as in a synchronous close).
    for (let i = 0; i < ${signals}; i++) process.kill(process.pid, 'SIGINT');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    await s.release();
    console.log('released, stopped ' + s.signal.aborted);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: r.stdout };
}

describe.skipIf(!BUILT)('signals caught while a command is blocked', () => {
  it('one SIGINT is acted on before the handlers are given back: the command knows it was stopped', () => {
    expect(blockedThrough(1)).toEqual({ status: 0, out: 'first SIGINT\nreleased, stopped true\n' });
  });

  it('a second SIGINT quits at once with 130, after its last words', () => {
    expect(blockedThrough(2)).toEqual({ status: 130, out: 'first SIGINT\nlast words\n' });
  });
});
