/**
 * Where the lines of a text input start, in bytes: the tests' own count of the offsets the line
 * readers (nfdump CSV, JSON-lines flows, Zeek dns.log) give a bad line, from the input the test
 * wrote. A string is counted in its UTF-8 bytes (as `writeFileSync` and `Buffer.from` write it).
 * Lines end in LF; a CR before it is the end of the line before, so CRLF input is counted as it is.
 */

/** The bytes of a test's input: a string as UTF-8, bytes as they are. */
function bytesOf(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
}

/**
 * The byte offset where each line starts (index 0 is line 1). `skipBom`: the reader skips a UTF-8
 * byte order mark that opens the input, so line 1 starts after it.
 */
export function lineStarts(input: string | Uint8Array, options: { skipBom?: boolean } = {}): number[] {
  const b = bytesOf(input);
  const bom = options.skipBom === true && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
  const starts = [bom ? 3 : 0];
  // An LF that ends the input opens no line of its own.
  for (let i = 0; i < b.length - 1; i++) if (b[i] === 0x0a) starts.push(i + 1);
  return starts;
}

/** The byte offset where line `n` (1-based) starts; throws when the input has no line `n`. */
export function lineStart(input: string | Uint8Array, n: number, options: { skipBom?: boolean } = {}): number {
  const at = lineStarts(input, options)[n - 1];
  if (!Number.isInteger(n) || n < 1 || at === undefined) throw new Error(`the input has no line ${n}`);
  return at;
}
