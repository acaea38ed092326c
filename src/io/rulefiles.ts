/** Reads the rule folder: every `*.yaml`/`*.yml` below it, in path order. */
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import { RuleError, UsageError } from '../errors.js';
import { MAX_RULE_FILE_BYTES } from '../rules/yamlfile.js';

export interface RuleFile {
  /** Path relative to the rule folder, with forward slashes. */
  path: string;
  text: string;
}

/** Most rule bytes read, so a wrong `--rules` folder cannot exhaust memory. */
const MAX_RULE_BYTES = 64 << 20;

function statOrThrow(p: string): Stats {
  try {
    return statSync(p);
  } catch (e) {
    throw new UsageError(`cannot read rule file ${p}: ${(e as Error).message}`);
  }
}

/**
 * Every rule file below `dir`. A missing folder is a UsageError; a single file over
 * MAX_RULE_FILE_BYTES is a RuleError naming it, refused without being read.
 */
export function readRuleFiles(dir: string): RuleFile[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`rules folder not found: ${dir}`);
  }
  if (!st.isDirectory()) throw new UsageError(`rules path is not a folder: ${dir}`);
  const out: RuleFile[] = [];
  let total = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const s = statOrThrow(p);
      if (s.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(name)) {
        if (!s.isFile()) throw new UsageError(`rule file ${p} is not a regular file`);
        const rel = relative(dir, p).split('\\').join('/');
        // Refused before reading: the parser's cost and memory grow with the file.
        if (s.size > MAX_RULE_FILE_BYTES) throw new RuleError(rel, 1, '(file)', `file is ${s.size} bytes; a rule file holds at most ${MAX_RULE_FILE_BYTES}`);
        total += s.size;
        if (total > MAX_RULE_BYTES) throw new UsageError(`rules folder ${dir} holds more than ${MAX_RULE_BYTES} bytes of YAML`);
        let text: string;
        try {
          text = readFileSync(p, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read rule file ${p}: ${(e as Error).message}`);
        }
        out.push({ path: rel, text });
      }
    }
  };
  walk(dir);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
