/** Small text files the tool is configured with (subscriber directories, NAT logs): read whole, bounded. */
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

export function readTextFile(path: string, what: string, maxBytes = 512 << 20): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    throw new UsageError(`${what} ${path}: cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > maxBytes) throw new UsageError(`${what} ${path}: ${size} bytes is more than the ${maxBytes} this tool reads`);
  return readFileSync(path, 'utf8');
}
