/**
 * The hashing thread (src/io/hash.ts): one thread hashes every file of the process, in order,
 * with the digests node:crypto gives; a file that cannot be read fails its own request only; and
 * an idle thread does not keep the process alive, nor does one started ahead of any request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFileInWorker, hashThreadsStarted } from '../../src/io/hash.js';

const dir = mkdtempSync(join(tmpdir(), 'minerwatch-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): { path: string; sha256: string } {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

describe('hashFileInWorker', () => {
  it('hashes many files, several in flight, on one thread', async () => {
    const before = hashThreadsStarted();
    // Sizes around the thread's 4 MiB read buffer, an empty file, and many small ones.
    const sizes = [0, 1, 1000, (1 << 22) - 1, 1 << 22, (1 << 22) + 1, 9_000_001, ...Array.from({ length: 40 }, (_, i) => 100 + i)];
    const files = sizes.map((n, i) => file(`f${i}`, randomBytes(n)));
    const got = await Promise.all(files.map((f) => hashFileInWorker(f.path)));
    expect(got).toEqual(files.map((f, i) => ({ sha256: f.sha256, size: sizes[i] })));
    // One thread for all of them (at most one started here).
    expect(hashThreadsStarted() - before).toBeLessThanOrEqual(1);
    const again = await hashFileInWorker(files[3]!.path);
    expect(again.sha256).toBe(files[3]!.sha256);
    expect(hashThreadsStarted() - before).toBeLessThanOrEqual(1);
  });

  it('fails only the request for a file that cannot be read', async () => {
    const ok = file('ok', Buffer.from('minerwatch'));
    const missing = join(dir, 'does-not-exist');
    const [a, b, c] = await Promise.allSettled([hashFileInWorker(ok.path), hashFileInWorker(missing), hashFileInWorker(ok.path)]);
    expect(a).toEqual({ status: 'fulfilled', value: { sha256: ok.sha256, size: 10 } });
    expect(b.status).toBe('rejected');
    expect(String((b as PromiseRejectedResult).reason)).toMatch(/ENOENT/);
    expect(c).toEqual({ status: 'fulfilled', value: { sha256: ok.sha256, size: 10 } });
  });

  it('lets the process end once nothing is being hashed', () => {
    const f = file('exit', randomBytes(5000));
    // The compiled module (npm test builds first); the child exits by itself or is killed at the timeout.
    const mod = new URL('../../dist/src/io/hash.js', import.meta.url).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const { hashFileInWorker } = await import(${JSON.stringify(mod)}); const h = await hashFileInWorker(${JSON.stringify(f.path)}); console.log(h.sha256);`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(f.sha256);
  });
});

describe('startHashThread', () => {
  /** Runs `body` (an async module body, `hash` the compiled module) in a fresh process; its output, or why it did not end by itself. */
  function child(body: string): { status: number | null; signal: NodeJS.Signals | null; out: string } {
    const mod = new URL('../../dist/src/io/hash.js', import.meta.url).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const hash = await import(${JSON.stringify(mod)});\n${body}`], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, signal: r.signal, out: r.stdout.trim() };
  }

  it('starts the one thread ahead of any request, and the requests then use it', () => {
    const f = file('ahead', randomBytes(70_000));
    const r = child(`
      hash.startHashThread();
      hash.startHashThread();
      const ahead = hash.hashThreadsStarted();
      const h = await hash.hashFileInWorker(${JSON.stringify(f.path)});
      console.log(JSON.stringify({ ahead, after: hash.hashThreadsStarted(), sha256: h.sha256 }));`);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ ahead: 1, after: 1, sha256: f.sha256 });
  });

  it('does not keep the process alive when nothing is asked of it (every input already in the report)', () => {
    const r = child(`hash.startHashThread(); console.log(hash.hashThreadsStarted());`);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.out).toBe('1');
  });
});
