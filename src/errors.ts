/**
 * Typed errors. Decoders throw only {@link DecodeError}; the container that called them
 * catches it, counts it as an anomaly and resumes with the next record.
 */

/** Malformed wire data: a stable dotted code (see anomalies.ts) and the byte offset it was found at. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    readonly code: string,
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/** A rules file that does not validate: file, line, field, what was expected. */
export class RuleError extends Error {
  override readonly name = 'RuleError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string,
    message: string,
  ) {
    super(`${file}:${line}: ${field}: ${message}`);
  }
}

/** A problem with how the tool was called or with an input as a whole (unreadable, unknown format). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An input that cannot be read at all: names the file and the byte offset. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly file: string,
    readonly offset: number,
    message: string,
  ) {
    super(`${file}: at byte ${offset}: ${message}`);
  }
}

/**
 * A read stopped by its abort signal before the input's format was recognised: nothing was read
 * from it, and nothing is wrong with it (the scan marks it interrupted, not failed).
 */
export class InputInterrupted extends InputError {}

/**
 * The report could not be written part-way through a run (disk full, I/O error, file made
 * read-only): names the report and SQLite's reason. What was committed stays consistent; the run is
 * marked failed (or, if even that cannot be written, is found dead), and the next scan removes it.
 */
export class ReportError extends Error {
  override readonly name = 'ReportError';
}
