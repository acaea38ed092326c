/** `minerwatch intel resolve`: the rule set's pool names resolved into a dated endpoint list. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { Io } from './main.js';
import { decimalNumber, wholeNumber } from './numbers.js';
import { DEFAULT_RULES_DIR } from './paths.js';

export interface IntelResolveOptions {
  resolver?: string;
  out: string;
  rules: string;
  concurrency: number;
  timeout: number;
  /** Zone of the file's date (its name and `added`) and of the resolution time in its source line; UTC without it. */
  tz?: string;
}

/** Failures and exclusions listed on standard error before the rest are only counted. */
const MAX_LISTED = 20;
const MAX_CONCURRENCY = 256;
const MAX_TIMEOUT_S = 60;

/** Add `intel` and its subcommand `resolve` to the program (the work is imported when run). */
export function registerIntel(program: Command, io: Io, setExit: (code: number) => void): void {
  const intel = program.command('intel').description('dated pool intelligence: endpoint lists made from DNS resolutions, for scan --intel');
  intel
    .command('resolve')
    .description("resolve every pool host name of the rule set's endpoint lists (and the apex of each suffix) and write the addresses as a dated endpoint list, DIR/resolved-YYYY-MM-DD.yaml")
    .option('--resolver <host:port>', 'DNS server to ask, an address and port, e.g. 127.0.0.1:53 (default: the system resolver)')
    .option('--out <dir>', 'folder to write resolved-YYYY-MM-DD.yaml in (created if missing)', 'intel')
    .option('--rules <dir>', 'rule folder whose endpoint lists name the hosts', DEFAULT_RULES_DIR)
    .option('--concurrency <n>', 'names resolved at once', wholeNumber('--concurrency', MAX_CONCURRENCY), 16)
    .option('--timeout <seconds>', 'most time one DNS query may take, retries included', decimalNumber('--timeout', 'seconds', MAX_TIMEOUT_S), 5)
    .option('--tz <zone>', "the day of the file (its name and added:) and the resolution time in its source line in this zone: an IANA name (Asia/Shanghai) or an offset (+08:00); abbreviations such as CST are refused (ambiguous). Default: UTC")
    .addHelpText('after', '\nExamples:\n  minerwatch intel resolve --out intel/\n  minerwatch intel resolve --resolver 192.0.2.53:53 --concurrency 32\n  minerwatch scan capture.pcap --intel intel/')
    .action(async (o: IntelResolveOptions) => {
      setExit(await runIntelResolve(o, io));
    });
}

/** Resolve, write the file, print the summary; resolves to the exit code. */
export async function runIntelResolve(o: IntelResolveOptions, io: Io): Promise<number> {
  const { parseResolverAddress, resolveNames, resolverLabel } = await import('../io/resolver.js');
  const { namesToResolve, renderResolvedFile, resolvedFileName } = await import('../rules/resolved.js');
  const { EndpointIndex } = await import('../rules/endpoints.js');
  const { loadRulesForScan } = await import('./rules.js');
  const { checkZone, dayOf, formatTime } = await import('../i18n.js');
  const tz = o.tz === undefined ? undefined : checkZone(o.tz);
  const server = o.resolver === undefined ? null : parseResolverAddress(o.resolver);
  const rules = loadRulesForScan(o.rules, false, io).ruleSet;
  const index = new EndpointIndex(rules.endpoints);
  const names = namesToResolve(rules.endpoints);
  const started = new Date();
  const day = tz === undefined ? started.toISOString().slice(0, 10) : dayOf(started.getTime(), tz);
  const resolver = resolverLabel(server);
  const answers = await resolveNames(
    names.map((n) => n.name),
    { server, concurrency: o.concurrency, timeoutMs: Math.round(o.timeout * 1000) },
  );
  const failed = answers.filter((a) => a.error !== null);
  const file = renderResolvedFile(names, answers, {
    resolver,
    date: day,
    time: tz === undefined ? started.toISOString().replace(/\.\d{3}Z$/, 'Z') : formatTime(started.getTime(), tz),
    rules: o.rules,
    excluded: (a) => index.excluded(a),
  });
  for (const f of failed.slice(0, MAX_LISTED)) io.err(`minerwatch: intel resolve: ${f.name}${f.chain.length ? ` → ${f.chain.join(' → ')}` : ''}: ${f.error}\n`);
  if (failed.length > MAX_LISTED) io.err(`minerwatch: intel resolve: … and ${failed.length - MAX_LISTED} more failed name(s)\n`);
  for (const x of file.excluded.slice(0, MAX_LISTED)) io.err(`minerwatch: intel resolve: not written, in the exclude list (shared front-end or resolver): ${x.address} (${x.names.join(', ')})\n`);
  if (file.excluded.length > MAX_LISTED) io.err(`minerwatch: intel resolve: … and ${file.excluded.length - MAX_LISTED} more excluded address(es)\n`);
  const resolved = answers.length - failed.length;
  const counts = `${names.length} names tried, ${resolved} resolved, ${file.written} addresses written, ${file.excluded.length} excluded, ${failed.length} failed`;
  if (names.length && !resolved) {
    io.err(`minerwatch: intel resolve: no name resolved via ${resolver}; nothing written (${counts})\n`);
    return 1;
  }
  const path = join(o.out, resolvedFileName(day));
  try {
    mkdirSync(o.out, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.text);
    renameSync(tmp, path);
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  io.out(`${counts}; wrote ${path}\n`);
  return 0;
}
