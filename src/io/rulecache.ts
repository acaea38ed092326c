/**
 * A cache of compiled rule sets, keyed by the rule set's digest (sha256 over every file's path and
 * bytes), the tool's version and the compiler's digest (sha256 over the bytes of the rule compiler's
 * modules as loaded, so a rebuilt compiler at the same version never gets a rule set compiled by
 * another), so a scan does not re-parse ~12,000 lines of endpoint YAML each time (about 0.6 s).
 * Only rule sets that compiled without errors are cached. The cache lives in the user's cache folder
 * (`$XDG_CACHE_HOME/minerwatch` or `~/.cache/minerwatch`, mode 0700); any problem reading or writing
 * it falls back to compiling. `MINERWATCH_NO_RULE_CACHE=1` turns it off. The folder is bounded: a
 * hit marks its entry used (its modification time), and storing an entry removes the least recently
 * used ones beyond {@link MAX_ENTRIES} (each rule set with ~12,000 endpoints is about 1.2 MB, and
 * intel updated daily, or a rule edit, makes a new one).
 *
 * Intel folders (`--intel DIR`) are cached the same way, apart: an entry holds the endpoint entries
 * a folder compiled to (before `--intel`'s exclusions, which depend on the scan's options), keyed by
 * the folder's path as given (each entry names its file) and its files' paths and bytes, and by the
 * compiler's digest. A folder that is read daily (a resolved list, what probes learned) then costs
 * a scan a JSON read instead of YAML parsing, and a scan whose rules come from the cache loads no
 * YAML parser at all. The folder keeps the {@link MAX_ENTRIES} most recently used intel entries too.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import type { EndpointEntry, RuleSet } from '../rules/schema.js';
import type { RuleFile } from './rulefiles.js';

const FORMAT = 3;
/** Compiled rule sets kept in the cache folder, and compiled intel folders; beyond it the least recently used of each are removed. */
export const MAX_ENTRIES = 8;
/** What the cache folder keeps: compiled rule sets, and compiled intel folders. */
type EntryKind = 'rules' | 'intel';
const ENTRY: Record<EntryKind, RegExp> = { rules: /^rules-.*\.json$/, intel: /^intel-.*\.json$/ };

/**
 * Where the rule compiler's modules are, for a module in folder `here`: the rules folder beside it
 * (src/rules, or dist/src/rules when built), or, when there is none, `here` itself: the command-line
 * bundle (dist/cli, scripts/bundle.ts), whose files hold the compiler with the rest of the program.
 */
export function compilerDirFor(here: string): string {
  const rules = join(here, '..', 'rules');
  return existsSync(rules) ? rules : here;
}

/** The rule compiler's modules, as this process loaded them. */
const COMPILER_DIR = compilerDirFor(dirname(fileURLToPath(import.meta.url)));

let ownCompiler: string | null = null;

/** The packages the compiler parses and normalises with (YAML; addresses): another version may read a file otherwise. */
const COMPILER_PACKAGES = ['yaml', 'ipaddr.js'] as const;

/**
 * Name and version of each of {@link COMPILER_PACKAGES} as installed, from the package.json above
 * its resolved entry point ("name@?" when it cannot be found).
 */
export function packageVersions(): string {
  const req = createRequire(import.meta.url);
  return COMPILER_PACKAGES.map((name) => {
    try {
      for (let d = dirname(req.resolve(name)); d !== dirname(d); d = dirname(d)) {
        const pkg = join(d, 'package.json');
        if (!existsSync(pkg)) continue;
        const j = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
        if (j.name === name) return `${name}@${j.version ?? '?'}`;
      }
    } catch {
      // Unresolvable: its own name below.
    }
    return `${name}@?`;
  }).join(',');
}

/**
 * sha256 over the name and bytes of every module (`.js`, or `.ts` when run from source; not `.d.ts`)
 * in `dir`, in name order, over this cache module itself, and over the installed versions of the
 * packages the compiler parses with ({@link COMPILER_PACKAGES}). Default `dir`: the compiler this
 * process runs, hashed once per process. A folder that cannot be read gives a digest of its own
 * (`unreadable:…`) that matches no cache entry written by a readable one.
 */
export function compilerDigest(dir?: string): string {
  if (dir === undefined && ownCompiler !== null) return ownCompiler;
  const from = dir ?? COMPILER_DIR;
  const h = createHash('sha256');
  try {
    const names = readdirSync(from)
      .filter((n) => (n.endsWith('.js') || n.endsWith('.ts')) && !n.endsWith('.d.ts'))
      .sort();
    const self = fileURLToPath(import.meta.url);
    const modules = withImports(names.map((n) => join(from, n)));
    for (const [path, bytes] of [...modules].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) h.update(`${relative(from, path)}\0`).update(bytes).update('\0');
    // This module too, once: the compiler's closure holds it already when the compiler imports it.
    if (!modules.has(self)) h.update(readFileSync(self));
    h.update(`\0${packageVersions()}`);
  } catch (e) {
    return `unreadable:${(e as Error).message}`;
  }
  const d = h.digest('hex');
  if (dir === undefined) ownCompiler = d;
  return d;
}
/** Relative module specifiers in a module's text: `from './x.js'`, `import './x.js'`, `import('./x.js')`. */
const RELATIVE_IMPORT = /\b(?:from|import)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g;

/**
 * The modules `files` are, with every module they import by a relative path, and those modules'
 * own, read once each: what the compiler's output can depend on beyond its own folder (address
 * parsing, network keys). A specifier ending in `.js` that names no file is looked up as `.ts`
 * (running from the sources); one that names neither is left out.
 */
function withImports(files: readonly string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const queue = [...files];
  while (queue.length) {
    const f = queue.pop()!;
    if (out.has(f)) continue;
    const bytes = readFileSync(f);
    out.set(f, bytes);
    for (const m of bytes.toString('utf8').matchAll(RELATIVE_IMPORT)) {
      const t = existing(resolve(dirname(f), m[1]!));
      if (t !== null && !out.has(t)) queue.push(t);
    }
  }
  return out;
}

/** `path` when it names a file, else its `.ts` twin for a `.js` path when that exists, else null. */
function existing(path: string): string | null {
  if (existsSync(path)) return path;
  if (!path.endsWith('.js')) return null;
  const ts = path.slice(0, -3) + '.ts';
  return existsSync(ts) ? ts : null;
}

/** Same digest the compiler computes (path and bytes of every file, in path order). */
export function ruleFilesDigest(files: readonly RuleFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.path + '\0' + f.text + '\0');
  return h.digest('hex');
}

function cacheDir(): string | null {
  if (process.env.MINERWATCH_NO_RULE_CACHE) return null;
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : '');
  return base ? join(base, 'minerwatch') : null;
}

/** The compiler digest as it appears in entry names. */
function compilerTag(compiler: string): string {
  return createHash('sha256').update(compiler).digest('hex').slice(0, 16);
}

function fileFor(dir: string, digest: string, toolVersion: string, compiler: string): string {
  return join(dir, `rules-${toolVersion}-${compilerTag(compiler)}-${digest}.json`);
}

/**
 * The entry {@link store} wrote at `path` for this compiler when `valid` says it is the one asked
 * for (it is then marked used), else null: a missing, unreadable or foreign entry is a miss.
 */
function load<T>(path: string, compiler: string, valid: (o: T) => boolean): T | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as T & { format: number; compiler: string };
    if (o.format !== FORMAT || o.compiler !== compiler || !valid(o)) return null;
    markUsed(path);
    return o;
  } catch {
    return null;
  }
}

/**
 * The cached rule set for this rule digest, compiled by this tool version and this compiler
 * (`compiler`: {@link compilerDigest} of the running compiler unless given), or null.
 */
export function loadCachedRules(digest: string, toolVersion: string, compiler: string = compilerDigest()): RuleSet | null {
  const dir = cacheDir();
  if (!dir) return null;
  const o = load<{ ruleSet: RuleSet & { policy: { miningPorts: number[] } } }>(fileFor(dir, digest, toolVersion, compiler), compiler, (x) => x.ruleSet.digest === digest);
  if (!o) return null;
  const rs = o.ruleSet;
  return { ...rs, policy: { ...rs.policy, miningPorts: new Set(rs.policy.miningPorts) } };
}

/** Store a rule set that compiled cleanly, under the compiler that compiled it (best effort; errors are ignored). */
export function storeCachedRules(rs: RuleSet, toolVersion: string, compiler: string = compilerDigest()): void {
  const dir = cacheDir();
  if (!dir) return;
  store(dir, fileFor(dir, rs.digest, toolVersion, compiler), 'rules', () =>
    JSON.stringify({ format: FORMAT, compiler, ruleSet: { ...rs, policy: { ...rs.policy, miningPorts: [...rs.policy.miningPorts] } } }),
  );
}

/** Write an entry through a temporary file (a reader never sees half of one), then prune its kind (best effort). */
function store(dir: string, path: string, kind: EntryKind, json: () => string): void {
  // Per thread: the scan workers of one process share its pid.
  const tmp = `${path}.${process.pid}-${threadId}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, json(), { mode: 0o600 });
    renameSync(tmp, path);
    pruneCache(dir, MAX_ENTRIES, kind);
  } catch {
    // A read-only home or a full disk only costs the next scan the compile time.
    remove(tmp);
  }
}

/**
 * The cache key of an intel folder: the folder's path as given (its entries name their files by
 * it), and `filesDigest`, its files' {@link ruleFilesDigest}.
 */
export function intelFolderKey(folder: string, filesDigest: string): string {
  return createHash('sha256').update(`${folder}\0${filesDigest}`).digest('hex');
}

function intelFileFor(dir: string, key: string, compiler: string): string {
  return join(dir, `intel-${compilerTag(compiler)}-${key}.json`);
}

/** The endpoint entries an intel folder compiled to ({@link intelFolderKey}), by this compiler, or null. */
export function loadCachedIntel(key: string, compiler: string = compilerDigest()): EndpointEntry[] | null {
  const dir = cacheDir();
  if (!dir) return null;
  return load<{ key: string; entries: EndpointEntry[] }>(intelFileFor(dir, key, compiler), compiler, (x) => x.key === key && Array.isArray(x.entries))?.entries ?? null;
}

/** Store what an intel folder compiled to, when every file compiled cleanly (best effort). */
export function storeCachedIntel(key: string, entries: readonly EndpointEntry[], compiler: string = compilerDigest()): void {
  const dir = cacheDir();
  if (!dir) return;
  store(dir, intelFileFor(dir, key, compiler), 'intel', () => JSON.stringify({ format: FORMAT, compiler, key, entries }));
}

/** A cache hit is a use: its modification time says when it was last used (best effort). */
function markUsed(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // Read-only cache: entries then age by when they were written.
  }
}

/**
 * Remove the least recently used entries of one kind (rule sets unless said) of `dir` beyond `keep`
 * (and that kind's temporary files of writers that died more than an hour ago). Best effort: a file
 * another process removed first is skipped. Returns the names removed.
 */
export function pruneCache(dir: string, keep: number, kind: EntryKind = 'rules'): string[] {
  const entries: Array<{ name: string; used: number }> = [];
  const removed: string[] = [];
  const hourAgo = Date.now() - 3_600_000;
  for (const name of readdirSync(dir)) {
    const stale = name.startsWith(`${kind}-`) && name.endsWith('.tmp');
    if (!ENTRY[kind].test(name) && !stale) continue;
    let used: number;
    try {
      used = statSync(join(dir, name)).mtimeMs;
    } catch {
      continue;
    }
    if (stale) {
      if (used < hourAgo && remove(join(dir, name))) removed.push(name);
    } else entries.push({ name, used });
  }
  // Newest first; ties by name, so two processes pruning at once remove the same entries.
  entries.sort((a, b) => b.used - a.used || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries.slice(Math.max(0, keep))) if (remove(join(dir, e.name))) removed.push(e.name);
  return removed;
}

function remove(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}
