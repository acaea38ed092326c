/**
 * The command-line bundle (dist/cli, scripts/bundle.ts) stays whole while it is rebuilt: test
 * files rebuild while others start the CLI, and an operator may rebuild while a scan runs. Every
 * file is renamed into place, the pieces before the entries that import them, and old pieces go
 * last, so at any moment each entry and every file it imports, and theirs, is there in full. The
 * real build script in child processes, watched from this one; then the CLI runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const DIR = join(ROOT, 'dist', 'cli');
const SCRIPT = join(ROOT, 'dist', 'scripts', 'bundle.js');
const BUILT = existsSync(SCRIPT) && existsSync(join(DIR, 'minerwatch.js'));
if (!BUILT) console.warn('skipping the bundle test: dist/ is not built (npm run build)');

const ENTRIES = ['minerwatch.js', 'writer-thread.js', 'scan-worker.js'];
/** Relative imports of a bundle file as the bundler writes them: `from "./x.js"`, `import "./x.js"` (a line's start) and `import("./x.js")`. */
const IMPORT = /(?:\bfrom\s*|^import\s*|\bimport\s*\(\s*)"(\.\/[^"]+)"/gm;

/** What is missing or empty now among the entries and everything they import, transitively ([] when whole). */
function missing(): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const queue = [...ENTRIES];
  while (queue.length) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    let text: string;
    try {
      text = readFileSync(join(DIR, name), 'utf8');
    } catch (e) {
      out.push(`${name}: ${(e as NodeJS.ErrnoException).code}`);
      continue;
    }
    if (text.length === 0) out.push(`${name}: empty`);
    for (const m of text.matchAll(IMPORT)) queue.push(m[1]!.slice(2));
  }
  return out;
}

describe.skipIf(!BUILT)('the command-line bundle', () => {
  it('is whole at every moment of a rebuild, and the CLI runs from it afterwards', async () => {
    expect(missing()).toEqual([]);
    const before = readdirSync(DIR).filter((n) => n.endsWith('.js')).length;
    expect(before).toBeGreaterThan(ENTRIES.length);
    let looks = 0;
    const broken: string[] = [];
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, [SCRIPT], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      let done = false;
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => ((done = true), resolve(code))));
      // Look as often as the event loop lets the child's exit through.
      while (!done) {
        looks++;
        const m = missing();
        if (m.length) broken.push(`round ${round}: ${m.join(', ')}`);
        await new Promise((r) => setImmediate(r));
      }
      expect(await exited, err).toBe(0);
    }
    expect(looks).toBeGreaterThan(30);
    expect(broken).toEqual([]);
    // The same build makes the same files, and no piece of an earlier build is left.
    expect(readdirSync(DIR).filter((n) => n.endsWith('.js')).length).toBe(before);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'minerwatch'), '--version'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  }, 60_000);
});
