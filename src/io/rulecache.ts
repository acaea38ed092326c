/**
 * A cache of compiled rule sets, keyed by the rule set's digest (sha256 over every file's path and
 * bytes), the tool's version and the compiler's digest (sha256 over the bytes of the rule compiler's
 * modules as loaded, so a rebuilt compiler at the same version never gets a rule set compiled by
 * another), so a scan does not re-parse ~12,000 lines of endpoint YAML each time (about 0.6 s).
 * Only rule sets that compiled without errors are cached. The cache lives in the user's cache folder
 * (`$XDG_CACHE_HOME/minerwatch` or `~/.cache/minerwatch`, mode 0700); any problem reading or writing
 * it falls back to compiling. `MINERWATCH_NO_RULE_CACHE=1` turns it off.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuleSet } from '../rules/schema.js';
import type { RuleFile } from './rulefiles.js';

const FORMAT = 3;

/** The rule compiler's modules: src/rules (dist/rules when built), beside this module's folder. */
const COMPILER_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'rules');

let ownCompiler: string | null = null;

/**
 * sha256 over the name and bytes of every module (`.js`, or `.ts` when run from source; not `.d.ts`)
 * in `dir`, in name order, and over this cache module itself. Default `dir`: the compiler this
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
    for (const n of names) h.update(`${n}\0`).update(readFileSync(join(from, n))).update('\0');
    h.update(readFileSync(fileURLToPath(import.meta.url)));
  } catch (e) {
    return `unreadable:${(e as Error).message}`;
  }
  const d = h.digest('hex');
  if (dir === undefined) ownCompiler = d;
  return d;
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

function fileFor(dir: string, digest: string, toolVersion: string, compiler: string): string {
  return join(dir, `rules-${toolVersion}-${createHash('sha256').update(compiler).digest('hex').slice(0, 16)}-${digest}.json`);
}

/**
 * The cached rule set for this rule digest, compiled by this tool version and this compiler
 * (`compiler`: {@link compilerDigest} of the running compiler unless given), or null.
 */
export function loadCachedRules(digest: string, toolVersion: string, compiler: string = compilerDigest()): RuleSet | null {
  const dir = cacheDir();
  if (!dir) return null;
  try {
    const o = JSON.parse(readFileSync(fileFor(dir, digest, toolVersion, compiler), 'utf8')) as { format: number; compiler: string; ruleSet: RuleSet & { policy: { miningPorts: number[] } } };
    if (o.format !== FORMAT || o.compiler !== compiler || o.ruleSet.digest !== digest) return null;
    const rs = o.ruleSet;
    return { ...rs, policy: { ...rs.policy, miningPorts: new Set(rs.policy.miningPorts) } };
  } catch {
    return null;
  }
}

/** Store a rule set that compiled cleanly, under the compiler that compiled it (best effort; errors are ignored). */
export function storeCachedRules(rs: RuleSet, toolVersion: string, compiler: string = compilerDigest()): void {
  const dir = cacheDir();
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = fileFor(dir, rs.digest, toolVersion, compiler);
    const tmp = `${path}.${process.pid}.tmp`;
    const json = JSON.stringify({ format: FORMAT, compiler, ruleSet: { ...rs, policy: { ...rs.policy, miningPorts: [...rs.policy.miningPorts] } } });
    writeFileSync(tmp, json, { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    // A read-only home or a full disk only costs the next scan the compile time.
  }
}
