/** `minerwatch rules check|list`, and the rule loading every command shares. */
import { RuleError, UsageError } from '../errors.js';
import { readRuleFiles } from '../io/rulefiles.js';
import { compileRules, type LoadReport } from '../rules/loader.js';
import type { Io } from './main.js';
import { toTable } from '../report/format.js';

export function loadRuleDir(dir: string): LoadReport {
  return compileRules(readRuleFiles(dir));
}

/** Load rules for a scan: invalid rules stop it (exit 1) unless lenient. */
export function loadRulesForScan(dir: string, lenient: boolean, io: Io): LoadReport {
  const rep = loadRuleDir(dir);
  if (rep.errors.length) {
    for (const e of rep.errors) io.err(`minerwatch: rule error: ${e.message}\n`);
    if (!lenient) throw new RuleError(rep.errors[0]!.file, rep.errors[0]!.line, rep.errors[0]!.field, `${rep.errors.length} rule error(s); fix them or pass --lenient-rules (first: ${rep.errors[0]!.message})`);
    io.err(`minerwatch: --lenient-rules: scanning with ${rep.good} valid rules, ${rep.bad} skipped\n`);
  }
  if (rep.good === 0) throw new UsageError(`no valid rules in ${dir}`);
  return rep;
}

export function runRulesCheck(dir: string, io: Io): number {
  const rep = loadRuleDir(dir);
  for (const e of rep.errors) io.out(`${e.message}\n`);
  io.out(`${rep.files} files, ${rep.good} rules valid, ${rep.bad} invalid, ${rep.errors.length} errors; rule set ${rep.ruleSet.digest.slice(0, 16)}\n`);
  return rep.errors.length ? 1 : 0;
}

export function runRulesList(dir: string, io: Io): number {
  const rep = loadRuleDir(dir);
  const rows = rep.ruleSet.payload.map((r) => ({ id: r.id, rev: r.rev, family: r.family, side: r.side, description: r.description }));
  io.out(toTable(['id', 'rev', 'family', 'side', 'description'], rows, 100));
  for (const e of rep.errors) io.err(`minerwatch: rule error: ${e.message}\n`);
  return rep.errors.length ? 1 : 0;
}
