/** `minerwatch rules check|list`, and the rule loading every command shares. */
import { RuleError, UsageError } from '../errors.js';
import { readRuleFiles } from '../io/rulefiles.js';
import { loadCachedRules, ruleFilesDigest, storeCachedRules } from '../io/rulecache.js';
import { compileRules, type LoadReport } from '../rules/loader.js';
import { toolVersion } from './paths.js';
import type { Io } from './main.js';
import { toTable } from '../report/format.js';
import { endpointText } from '../ip.js';

export function loadRuleDir(dir: string): LoadReport {
  return compileRules(readRuleFiles(dir));
}

/** Load rules for a scan: invalid rules stop it (exit 1) unless lenient. A clean rule set is cached by digest. */
export function loadRulesForScan(dir: string, lenient: boolean, io: Io): LoadReport {
  const files = readRuleFiles(dir);
  const version = toolVersion();
  const cached = loadCachedRules(ruleFilesDigest(files), version);
  if (cached) {
    return { ruleSet: cached, errors: [], good: cached.payload.length, bad: 0, endpoints: cached.endpoints.length, badEndpoints: 0, files: files.length };
  }
  const rep = compileRules(files);
  if (!rep.errors.length) storeCachedRules(rep.ruleSet, version);
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
  io.out(toTable(['id', 'rev', 'family', 'side', 'description'], rows));
  for (const e of rep.errors) io.err(`minerwatch: rule error: ${e.message}\n`);
  return rep.errors.length ? 1 : 0;
}

/** `rules test INPUT...`: scan in memory and show which rules fired on which flows. */
export async function runRulesTest(inputs: string[], o: { rules: string; all?: boolean; lenientRules?: boolean; dnsLog?: string[]; intel?: string[]; tz?: string }, io: Io): Promise<number> {
  const { checkZone, formatTime } = await import('../i18n.js');
  const tz = o.tz === undefined ? undefined : checkZone(o.tz);
  const { scanInputs } = await import('../scan.js');
  const { expandInputs, stderrNote } = await import('./scan.js');
  const { withIntel } = await import('../aggregate/load.js');
  const { inertText } = await import('../report/format.js');
  const loaded = loadRulesForScan(o.rules, o.lenientRules ?? false, io);
  const rep = { ...loaded, ruleSet: withIntel(loaded.ruleSet, o.intel ?? [], stderrNote(io)).ruleSet };
  let shown = 0;
  let failed = 0;
  await scanInputs(expandInputs(inputs), rep.ruleSet, (f, v) => {
    if (!v.evidence.length && !o.all) return;
    shown++;
    io.out(`${endpointText(f.client, f.clientPort)} -> ${endpointText(f.server, f.serverPort)} ${f.transport} ${tz === undefined ? new Date(f.firstSeen).toISOString() : formatTime(f.firstSeen, tz)}  ${v.label}/${v.confidence}${v.outcome ? ` (${v.outcome})` : ''}\n`);
    // Matched text and excerpts came off the wire: shown inert (src/report/format.ts).
    for (const e of v.evidence) io.out(`    ${e.ruleId}@${e.rev}  ${e.kind}/${e.side}  ${inertText(e.matched)}${e.excerpt ? `  | ${inertText(e.excerpt.slice(0, 100))}` : ''}\n`);
  }, { dnsLogs: o.dnsLog ?? [] }, {
    endInput: (_i, _info, _c, _a, error) => {
      if (error) {
        failed++;
        io.err(`minerwatch: ${error}\n`);
      }
    },
  });
  io.out(`${shown} flow(s) with evidence\n`);
  return failed ? 1 : 0;
}
