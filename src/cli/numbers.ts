/**
 * Numbers on the command line, read one way by every command: decimal digits, and for amounts an
 * optional fraction. Number() alone also takes `0x10` as 16, `1e3` as 1000, `0b11` as 3 and spaces
 * around the digits, which nobody means by a count, a port or a number of seconds. Not
 * src/io/csv.ts's readers: that module loads ipaddr.js, 50 ms more for every command, `--version`
 * included.
 */
import { UsageError } from '../errors.js';

/** A count (flows, workers, messages, an id): a whole number from 1 to `max`, in decimal digits. */
export function wholeNumber(flag: string, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? 'of at least 1' : `from 1 to ${max}`;
  return (v) => {
    const n = /^[1-9]\d{0,14}$/.test(v) ? Number(v) : 0;
    if (!(n >= 1 && n <= max)) throw new UsageError(`${flag} expects a whole number ${range}, in decimal digits, got ${JSON.stringify(v)}`);
    return n;
  };
}

/**
 * An amount above 0 and at most `max`, in decimal digits with an optional fraction (`300`, `0.5`):
 * `seconds` when `unit` is 'seconds', else a plain number (a rate).
 */
export function decimalNumber(flag: string, unit: 'seconds' | 'number', max = Infinity): (v: string) => number {
  const example = unit === 'seconds' && max >= 300 ? 300 : 5;
  const what = `${unit === 'seconds' ? 'seconds, a decimal number' : 'a number'} above 0${max < Infinity ? ` and at most ${max}` : ''}, like ${example} or 0.5`;
  return (v) => {
    const n = /^\d{1,15}(\.\d{1,9})?$/.test(v) ? Number(v) : 0;
    if (!(n > 0 && n <= max)) throw new UsageError(`${flag} expects ${what}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** A UDP or TCP port: a whole number from 1 to 65535, in decimal digits. */
export function portNumber(flag: string): (v: string) => number {
  return (v) => {
    const n = /^[1-9]\d{0,4}$/.test(v) ? Number(v) : 0;
    if (n < 1 || n > 65535) throw new UsageError(`${flag} expects a port from 1 to 65535, got ${JSON.stringify(v)}`);
    return n;
  };
}
