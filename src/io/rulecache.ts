/**
 * A cache of compiled rule sets, keyed by the rule set's digest (sha256 over every file's path and
 * bytes), so a scan does not re-parse ~12,000 lines of endpoint YAML each time (about 0.6 s).
 * Only rule sets that compiled without errors are cached. The cache lives in the user's cache folder
 * (`$XDG_CACHE_HOME/minerwatch` or `~/.cache/minerwatch`, mode 0700); any problem reading or writing
 * it falls back to compiling. `MINERWATCH_NO_RULE_CACHE=1` turns it off.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RuleSet } from '../rules/schema.js';
import type { RuleFile } from './rulefiles.js';

const FORMAT = 2;

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

function fileFor(dir: string, digest: string, toolVersion: string): string {
  return join(dir, `rules-${toolVersion}-${digest}.json`);
}

/** The cached rule set for this digest, or null. */
export function loadCachedRules(digest: string, toolVersion: string): RuleSet | null {
  const dir = cacheDir();
  if (!dir) return null;
  try {
    const o = JSON.parse(readFileSync(fileFor(dir, digest, toolVersion), 'utf8')) as { format: number; ruleSet: RuleSet & { policy: { miningPorts: number[] } } };
    if (o.format !== FORMAT || o.ruleSet.digest !== digest) return null;
    const rs = o.ruleSet;
    return { ...rs, policy: { ...rs.policy, miningPorts: new Set(rs.policy.miningPorts) } };
  } catch {
    return null;
  }
}

/** Store a rule set that compiled cleanly (best effort; errors are ignored). */
export function storeCachedRules(rs: RuleSet, toolVersion: string): void {
  const dir = cacheDir();
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = fileFor(dir, rs.digest, toolVersion);
    const tmp = `${path}.${process.pid}.tmp`;
    const json = JSON.stringify({ format: FORMAT, ruleSet: { ...rs, policy: { ...rs.policy, miningPorts: [...rs.policy.miningPorts] } } });
    writeFileSync(tmp, json, { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    // A read-only home or a full disk only costs the next scan the compile time.
  }
}
