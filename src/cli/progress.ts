/**
 * The progress line of long commands (scan, merge, probe): on a terminal's standard error, one line
 * that says how much is done of the whole, the rate, what was found so far and the time left. It is
 * drawn from a sample the command gives (counters it keeps anyway), on an unref'd timer, and only
 * when standard error is a terminal and `--quiet` is not given; otherwise nothing of it is written.
 * The line is cleared before any other output of the command and at the end, so the command's own
 * lines read as they would without it. Drawing is log-update's (it erases what it drew, wrapped
 * lines included).
 */
import type { Io } from './main.js';

/** What a progress line shows at one moment. */
export interface ProgressSample {
  /** Work done, in `unit`s. */
  done: number;
  /** The whole of the work in `unit`s, or null when it is not known (standard input). */
  total: number | null;
  /** `bytes` (shown as KiB, MiB, GiB) or a noun counted as a whole number (`targets`, `reports`). */
  unit: 'bytes' | string;
  /** Where the work stands, shown before the amounts (e.g. `input 2 of 5`, `writing the report`). */
  stage?: string;
  /** Facts found so far, shown after the rate, in order (e.g. `1204 flows`, `3 mining`). */
  found?: readonly string[];
}

/** A running progress line. */
export interface ProgressLine {
  /** The command's streams, with the line cleared before each write. */
  readonly io: Io;
  /** Whether anything is drawn at all (standard error a terminal, not quiet). */
  readonly shown: boolean;
  /** Draw now, if the line is due (for steps that hold the event loop, such as a merge's transaction). */
  draw(): void;
  /** Clear the line and stop drawing; the streams stay usable. */
  stop(): void;
}

/** How often the line is drawn. */
export const PROGRESS_DRAW_MS = 250;

/**
 * The line appears only once the work has taken this long (a quick command shows none); the
 * environment's MINERWATCH_PROGRESS_AFTER_MS (milliseconds, 0 for at once) overrides it.
 */
export const PROGRESS_DELAY_MS = 1000;

function delayFromEnvironment(): number {
  const v = process.env.MINERWATCH_PROGRESS_AFTER_MS;
  const n = v === undefined || v.trim() === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : PROGRESS_DELAY_MS;
}

/** The rate is taken over this much of the most recent work. */
const RATE_WINDOW_MS = 5000;

/** How a progress line is started: what it is for, whether it is wanted, and where it draws. */
export interface ProgressOptions {
  /** The command, shown first (`scan`, `merge`, `probe`). */
  label: string;
  /** `--quiet`: no line. */
  quiet?: boolean;
  /** Read on each draw; must be cheap (counters, not a walk over the data). */
  sample: () => ProgressSample;
  /** Where the line goes; process.stderr unless given. Nothing is drawn unless it is a terminal. */
  stream?: NodeJS.WriteStream;
  /** Overrides {@link PROGRESS_DELAY_MS} and the environment. */
  delayMs?: number;
}

/**
 * Start a progress line. When standard error is not a terminal, or `quiet` is set, the line is
 * inert: `io` is the one given and nothing else is ever written.
 */
export async function startProgress(io: Io, o: ProgressOptions): Promise<ProgressLine> {
  const stream = o.stream ?? process.stderr;
  if (o.quiet || stream.isTTY !== true) return { io, shown: false, draw: () => undefined, stop: () => undefined };
  // Loaded only for a terminal: runs into files and pipes never load it.
  const { createLogUpdate } = await import('log-update');
  // The cursor stays as it is: hiding it would make log-update install exit and signal handlers.
  const render = createLogUpdate(stream, { showCursor: true });
  const started = Date.now();
  const delay = o.delayMs ?? delayFromEnvironment();
  // From the start: the first line drawn already has a rate.
  const history: Array<{ t: number; done: number }> = [{ t: started, done: o.sample().done }];
  let drawn = false;
  let stopped = false;
  const clear = (): void => {
    if (!drawn) return;
    render.clear();
    drawn = false;
  };
  const draw = (): void => {
    if (stopped) return;
    const now = Date.now();
    const s = o.sample();
    history.push({ t: now, done: s.done });
    while (history.length > 2 && now - history[1]!.t >= RATE_WINDOW_MS) history.shift();
    if (now - started < delay) return;
    render(progressText(o.label, s, history));
    drawn = true;
  };
  const timer = setInterval(draw, PROGRESS_DRAW_MS).unref();
  return {
    shown: true,
    io: {
      out: (s) => {
        clear();
        io.out(s);
      },
      err: (s) => {
        clear();
        io.err(s);
      },
    },
    draw,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      clear();
    },
  };
}

/**
 * The line for a sample: `label: stage, DONE of TOTAL (P%), RATE/s, found…, ETA M:SS`, from the
 * samples of the last few seconds (oldest first) for the rate and the time left.
 */
export function progressText(label: string, s: ProgressSample, history: ReadonlyArray<{ t: number; done: number }>): string {
  const amount = (n: number): string => (s.unit === 'bytes' ? bytesText(n) : `${Math.round(n)} ${s.unit}`);
  const parts: string[] = [];
  if (s.stage) parts.push(s.stage);
  const percent = s.total === null ? '' : ` (${s.total > 0 ? Math.floor((100 * Math.min(s.done, s.total)) / s.total) : 100}%)`;
  if (s.total === null) parts.push(amount(s.done));
  else if (s.unit === 'bytes') parts.push(`${amount(s.done)} of ${amount(s.total)}${percent}`);
  else parts.push(`${Math.round(s.done)} of ${amount(s.total)}${percent}`);
  const first = history[0];
  const last = history[history.length - 1];
  const rate = first && last && last.t > first.t ? ((last.done - first.done) * 1000) / (last.t - first.t) : null;
  // Once all is done the rate is of no use (what remains, such as writing a report, is not in units).
  if (rate !== null && (s.total === null || s.done < s.total)) parts.push(s.unit === 'bytes' ? `${bytesText(rate)}/s` : `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} ${s.unit}/s`);
  parts.push(...(s.found ?? []));
  if (s.total !== null && rate !== null && rate > 0 && s.done < s.total) parts.push(`ETA ${durationText((s.total - s.done) / rate)}`);
  return `${label}: ${parts.join(', ')}`;
}

/** `812 B`, `1.5 KiB`, `150.0 MiB`, `2.3 GiB`. */
export function bytesText(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** `0:07`, `12:30`, `3:05:00`. */
function durationText(seconds: number): string {
  const t = Math.ceil(seconds);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
