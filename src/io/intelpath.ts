/**
 * What an `--intel` path is (a folder of endpoint YAML files or a SQLite report, told by its magic
 * bytes, never by its name) and the sha256 of a report file, read in bounded chunks.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { InputError } from '../errors.js';

/** The 16 bytes every SQLite 3 database file starts with. @see https://www.sqlite.org/fileformat.html#the_database_header */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

const CHUNK = 1 << 22;

/**
 * `folder` for a directory, `sqlite` for a file that starts with the SQLite 3 header.
 * @throws InputError when the path is missing, unreadable or neither.
 */
export function sniffIntelPath(path: string): 'folder' | 'sqlite' {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new InputError(path, 0, `cannot open intel: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (st.isDirectory()) return 'folder';
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  let n: number;
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    n = readSync(fd, head, 0, head.length, 0);
  } catch (e) {
    throw new InputError(path, 0, `cannot read intel: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (n === SQLITE_MAGIC.length && head.equals(SQLITE_MAGIC)) return 'sqlite';
  const shown = n ? JSON.stringify(head.subarray(0, n).toString('latin1')) : 'an empty file';
  throw new InputError(
    path,
    0,
    `not intel: expected a folder of endpoint YAML files (e.g. intel/ holding resolved-2026-11-21.yaml) or a minerwatch report (a SQLite file, starting "SQLite format 3\\0"); got ${shown}`,
  );
}

/** Hex sha256 of a file's bytes, read in 4 MiB chunks. @throws InputError when it cannot be read. */
export function sha256OfFile(path: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  let fd: number | null = null;
  let pos = 0;
  try {
    fd = openSync(path, 'r');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } catch (e) {
    throw new InputError(path, pos, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    if (fd !== null) closeSync(fd);
  }
  return h.digest('hex');
}
