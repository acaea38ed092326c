/**
 * What the gzip capture tests expect is read off Debian's `gzip` and `tshark`, never off the reader
 * under test: the packets tshark finds in what `gzip -dc` writes of a file.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** Why tests that need `gzip` and `tshark` are skipped (`what`: which tests), or null when both run. */
export function gzipToolsMissing(what: string): string | null {
  const missing = ['gzip', 'tshark'].filter((t) => {
    const r = spawnSync(t, ['--version'], { encoding: 'utf8' });
    return r.error !== undefined || r.status !== 0;
  });
  const reason = missing.length ? `${missing.join(', ')} not installed (Debian packages gzip, tshark): ${what} skipped` : null;
  if (reason) console.warn(reason);
  return reason;
}

/**
 * The packets tshark reads from what `gzip -dc` writes of `file` (gzip writes what it decompressed,
 * then complains of a cut or damage; tshark reports a cut record itself), and how many bytes that
 * was. The decompressed bytes are left in `plain`.
 */
export function zcatPackets(file: string, plain: string): { packets: number; bytes: number } {
  const z = spawnSync('gzip', ['-dc', file], { maxBuffer: 1 << 26 });
  writeFileSync(plain, z.stdout);
  const t = spawnSync('tshark', ['-r', plain, '-n', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
  return { packets: t.stdout.split('\n').filter((l) => l.trim() !== '').length, bytes: (z.stdout as Buffer).length };
}
