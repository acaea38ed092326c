/** CSV texts whose first line names their columns: the operator's NAT logs, RADIUS CSVs and subscriber directories. */
import { csvLines } from './csv.js';

/** A problem with a line of a headed CSV text, numbered as an editor shows it. */
export interface HeadedCsvError {
  line: number;
  message: string;
}

/**
 * One data line of a headed CSV text: its number, a field by column name ('' when absent), and how
 * many fields it had against the header's (a reader whose columns would shift under a short or long
 * row refuses one whose `width` is not `headerWidth`).
 */
export interface HeadedCsvRow {
  line: number;
  get: (column: string) => string;
  width: number;
  headerWidth: number;
}

/**
 * What is wrong with a row of `width` fields under a header of `headerWidth`, in the words every
 * headed reader uses; null when it fits. With `fewer`, a row may leave out trailing columns, and
 * only a longer one (an unquoted comma shifting its values) is wrong.
 */
export function widthProblem(headerWidth: number, width: number, fewer = false): string | null {
  if (width === headerWidth || (fewer && width < headerWidth)) return null;
  return fewer ? `expected at most ${headerWidth} fields like the header, got ${width} (a comma inside a field must be quoted)` : `expected ${headerWidth} fields like the header, got ${width}`;
}

/** The error for a row of another width than its header's ({@link widthProblem}). */
export function widthError(row: HeadedCsvRow, fewer = false): HeadedCsvError | null {
  const message = widthProblem(row.headerWidth, row.width, fewer);
  return message === null ? null : { line: row.line, message };
}

/**
 * The data lines of a CSV text (blank lines and `#` comments skipped) whose first line names its
 * columns, in any case and order. `columns` reads the header (its names lowercased, and the fields
 * as written): the positions to read rows by, name to index (aliases may be added), or a message
 * saying what the header lacks. Problems go to `errors` with their line: a line that cannot be split
 * (`header: …` when it is the first), a refused header (after which no row is given, though lines
 * that cannot be split are still named), and `empty` at line 1 when the text has no line at all.
 */
export function* headedCsvRows(
  text: string,
  columns: (names: string[], fields: string[]) => Map<string, number> | string,
  empty: string,
  errors: HeadedCsvError[],
): Generator<HeadedCsvRow> {
  let cols: Map<string, number> | null = null;
  let headerWidth = 0;
  for (const { line, fields, error } of csvLines(text, { comments: true })) {
    if (fields === null) {
      errors.push({ line, message: `${cols ? '' : 'header: '}${error}` });
      cols ??= new Map();
      continue;
    }
    if (!cols) {
      headerWidth = fields.length;
      const found = columns(fields.map((x) => x.toLowerCase()), fields);
      if (typeof found === 'string') {
        errors.push({ line, message: found });
        cols = new Map();
      } else cols = found;
      continue;
    }
    if (cols.size === 0) continue;
    const at = cols;
    yield { line, get: (k) => fields[at.get(k) ?? -1] ?? '', width: fields.length, headerWidth };
  }
  if (!cols) errors.push({ line: 1, message: empty });
}

/** The header's columns by name, as {@link headedCsvRows} reads rows by. */
export function columnsByName(names: readonly string[]): Map<string, number> {
  return new Map(names.map((x, k) => [x, k]));
}
