/**
 * Reads of a report through a memory map, for the passes that read much of it at once (deciding a
 * run's flows again at its end, `rescore`).
 *
 * Those passes run on a connection whose page cache is empty: at the end of a run (a scan's, a live
 * collector's, a consumer's) the rows were written by the writer thread's own connection, and
 * `rescore` opens the report afresh. Every page read then costs a fresh page-cache buffer (memory
 * touched for the first time, about 10 µs a page on the project's machine) and a copy. Mapped, a
 * page is read where the operating system's cache holds it. Only the pass runs mapped: SQLite turns
 * an I/O error under a map into a signal rather than an error code, so the map is kept to the
 * passes that gain from it, and the connection's own setting (none by default) comes back after.
 */
import type Database from 'better-sqlite3';

/** Most bytes of the file mapped (SQLite reads pages past it as usual). */
const MAPPED_BYTES = 1 << 30;

/** Run `fn` with the reads of `db` mapped, then put the connection's map size back as it was (an in-memory database runs it as it is). */
export function withMappedReads<T>(db: Database.Database, fn: () => T): T {
  if (db.memory) return fn();
  const before = Number(db.pragma('mmap_size', { simple: true }));
  db.pragma(`mmap_size = ${Math.max(before, MAPPED_BYTES)}`);
  try {
    return fn();
  } finally {
    db.pragma(`mmap_size = ${before}`);
  }
}
