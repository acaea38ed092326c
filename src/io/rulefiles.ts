/** Reads the rule folder: every `*.yaml`/`*.yml` below it, in path order. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UsageError } from '../errors.js';

export interface RuleFile {
  /** Path relative to the rule folder, with forward slashes. */
  path: string;
  text: string;
}

/** Most rule bytes read, so a wrong `--rules` folder cannot exhaust memory. */
const MAX_RULE_BYTES = 64 << 20;

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
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(name)) {
        total += s.size;
        if (total > MAX_RULE_BYTES) throw new UsageError(`rules folder ${dir} holds more than ${MAX_RULE_BYTES} bytes of YAML`);
        out.push({ path: relative(dir, p).split('\\').join('/'), text: readFileSync(p, 'utf8') });
      }
    }
  };
  walk(dir);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
