/**
 * `minerwatch probe`: opt-in active confirmation of suspected pool servers. Only this command
 * sends traffic to servers, and only to the targets it is given or the report names.
 */
import type Database from 'better-sqlite3';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { decimalNumber, wholeNumber } from './numbers.js';
import type { Io } from './main.js';
import { DEFAULT_RULES_DIR, toolVersion } from './paths.js';
import type { TargetOutcome } from '../probe/probe.js';

/** Options as commander hands them over (numbers still text; checked in {@link runProbe}). */
export interface ProbeCliOptions {
  db?: string;
  target?: string[];
  targets?: string;
  minSubscribers?: string;
  minFlows?: string;
  maxTargets?: string;
  rate?: string;
  concurrency?: string;
  timeout?: string;
  rules?: string;
  lenientRules?: boolean;
  out?: string;
  /** Zone of the times on the per-target lines and of the --out file's day (UTC without it). */
  tz?: string;
  /** No progress line. */
  quiet?: boolean;
}

const SAFETY = `
What it sends: to every target, four TCP connections, one per protocol, each carrying one JSON line:
  Stratum V1         {"id":1,"method":"mining.subscribe","params":["minerwatch-probe/VERSION"]}
  CryptoNote         {"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"minerwatch-probe","pass":"x","agent":"minerwatch-probe/VERSION"}}
  ETHPROXY           {"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["minerwatch-probe","x"]}
                     and, only if the server answers that with "result": true, on the same connection
                     {"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[]}
  EthereumStratum/2  {"id":1,"method":"mining.hello","params":{"agent":"minerwatch-probe/VERSION","host":"TARGET IP","port":"TARGET PORT in hex","proto":"EthereumStratum/2.0.0"}}
No shares, no work and no wallet are ever sent. Each reply is read for at most --timeout seconds and
8 KiB and judged by the rule set's server-side rules (a pool's subscribe result, job, work package
...). Probing servers you do not operate contacts third parties: do it only with the authority to.

Examples:
  minerwatch probe --db report.sqlite --min-subscribers 2 --out intel/
  minerwatch probe --target 203.0.113.5:3333 --target [2001:db8::5]:4444 --timeout 3
  minerwatch probe --targets suspects.txt --db report.sqlite --rate 2 --concurrency 2`;

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Add the `probe` command to the program; the work is imported only when it runs. */
export function registerProbe(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('probe')
    .description('opt-in: actively confirm suspected pool servers by sending each one mining-protocol opening request per protocol (sends traffic; needs the authority to probe)')
    .option('--db <file>', 'report: probe its suspected servers (unless targets are given) and record every probe in its probes table')
    .option('--target <ip:port>', 'server to probe, e.g. 203.0.113.5:3333 or [2001:db8::5]:3333 (repeatable; replaces the report\'s suspects)', collect, [])
    .option('--targets <file>', 'file of IP:PORT lines (# starts a comment; replaces the report\'s suspects)')
    .option('--min-subscribers <n>', 'with --db: only servers suspected for at least this many subscribers', '1')
    .option('--min-flows <n>', 'with --db: only servers of at least this many suspect/mining flows', '1')
    .option('--max-targets <n>', 'probe at most this many servers (the most telling first)', '1000')
    .option('--rate <n>', 'new connections per second, over all targets', '5')
    .option('--concurrency <n>', 'connections open at once', '4')
    .option('--timeout <seconds>', 'per connection, from opening it to the last byte read', '5')
    .option('--rules <dir>', 'rule folder whose server-side rules judge the replies', DEFAULT_RULES_DIR)
    .option('--lenient-rules', 'probe with the valid rules even when some rules are invalid')
    .option('--out <dir>', 'write confirmed pools to DIR/probe-YYYY-MM-DD.yaml (the rules/endpoints schema; merged into it if it exists)')
    .option('--tz <zone>', 'write the times of the per-target lines, and the day of the --out file (its name and added:), in this zone: an IANA name (Asia/Shanghai) or an offset (+08:00), as 2026-11-21 08:00:00 +08:00; abbreviations such as CST are refused (ambiguous). Default: ISO 8601 UTC')
    .option('--quiet', 'no progress line on standard error (shown only when it is a terminal)')
    .addHelpText('after', () => SAFETY.replaceAll('VERSION', toolVersion()))
    .action(async (o: ProbeCliOptions) => {
      setExit(await runProbe(o, io));
    });
}

/** Run `minerwatch probe`; resolves to the exit code. @throws UsageError on bad usage. */
export async function runProbe(o: ProbeCliOptions, io: Io): Promise<number> {
  const minSubscribers = wholeNumber('--min-subscribers', 1e9)(o.minSubscribers ?? '1');
  const minFlows = wholeNumber('--min-flows', 1e12)(o.minFlows ?? '1');
  const maxTargets = wholeNumber('--max-targets', 1_000_000)(o.maxTargets ?? '1000');
  const rate = decimalNumber('--rate', 'number', 1000)(o.rate ?? '5');
  const concurrency = wholeNumber('--concurrency', 1024)(o.concurrency ?? '4');
  const timeoutS = decimalNumber('--timeout', 'seconds', 600)(o.timeout ?? '5');
  const { checkZone, dayOf, formatTime } = await import('../i18n.js');
  const tz = o.tz === undefined ? undefined : checkZone(o.tz);

  const { existsSync, mkdirSync, renameSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { readTextFile } = await import('../io/textfile.js');
  const { parseTargetsFile, suspectServers, targetArgument, uniqueTargets } = await import('../probe/targets.js');
  const { probeIdentity, targetText, PROBE_REQUESTS } = await import('../probe/requests.js');
  const { probeTargets, serverRules } = await import('../probe/probe.js');

  const explicit = [...(o.target ?? []).map(targetArgument)];
  if (o.targets) explicit.push(...parseTargetsFile(readTextFile(o.targets, 'targets file', 64 << 20), o.targets));
  if (o.targets && !explicit.length) throw new UsageError(`probe: ${o.targets} lists no targets`);
  if (!explicit.length && !o.db) throw new UsageError('probe: no targets; give --db REPORT (its suspected servers), --target IP:PORT or --targets FILE');

  const { loadRulesForScan } = await import('./rules.js');
  const rules = serverRules(loadRulesForScan(o.rules ?? DEFAULT_RULES_DIR, o.lenientRules ?? false, io).ruleSet.payload);
  if (!rules.length) throw new UsageError(`probe: the rules in ${o.rules ?? DEFAULT_RULES_DIR} have no server-side message rules to judge replies with`);

  let db: Database.Database | null = null;
  try {
    let targets = uniqueTargets(explicit);
    if (o.db) {
      if (!existsSync(o.db)) throw new UsageError(`probe: no report at ${o.db} (run minerwatch scan first)`);
      const { openReport } = await import('../report/writer.js');
      db = openReport(o.db);
      if (!explicit.length) {
        const suspects = suspectServers(db, { minSubscribers, minFlows, limit: maxTargets + 1 });
        targets = suspects;
        if (!targets.length) {
          io.out(`no suspected servers without protocol proof in ${o.db} (at least ${minSubscribers} subscriber(s) and ${minFlows} flow(s)); nothing probed\n`);
          return 0;
        }
      }
    }
    if (targets.length > maxTargets) {
      io.err(`minerwatch probe: ${explicit.length ? targets.length : 'more than ' + maxTargets} targets; probing the first ${maxTargets} (--max-targets)\n`);
      targets = targets.slice(0, maxTargets);
    }

    const version = toolVersion();
    const started = Date.now();
    io.err(
      `minerwatch probe: ${targets.length} target(s), ${PROBE_REQUESTS.map((r) => `${r.protocol} ${r.method}`).join(', ')}; ` +
        `${rate}/s, ${concurrency} at once, ${timeoutS} s each; ${rules.length} server-side rules\n`,
    );
    const { startProgress } = await import('./progress.js');
    let probed = 0;
    let pools = 0;
    const line = await startProgress(io, {
      label: 'probe',
      quiet: o.quiet,
      sample: () => ({ done: probed, total: targets.length, unit: 'targets', found: [`${pools} pool(s)`] }),
    });
    io = line.io;
    const abort = new AbortController();
    const onSignal = (): void => {
      io.err('minerwatch probe: interrupted; no new connections, recording the probes made\n');
      abort.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const logged = new Set<string>();
    const log = (t: TargetOutcome): void => {
      logged.add(targetText(t.target));
      probed++;
      if (t.status === 'pool') pools++;
      const proofs = t.results.filter((r) => r.status === 'pool');
      const detail = proofs.length
        ? `${proofs.map((r) => r.protocol).join(',')} ${proofs.map((r) => `${r.ruleId}@${r.rev}`).join(',')}`
        : `(${t.results.map((r) => `${r.protocol} ${r.status}${r.error ? `: ${r.error}` : ''}`).join('; ')})`;
      const at = t.results[0]?.time ?? Date.now();
      io.err(`${tz === undefined ? new Date(at).toISOString() : formatTime(at, tz)} ${targetText(t.target)} ${t.status} ${detail}\n`);
    };
    let outcomes: TargetOutcome[];
    try {
      outcomes = await probeTargets(targets, { rules, identity: probeIdentity(version), timeoutMs: timeoutS * 1000, rate, concurrency, signal: abort.signal }, log);
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      line.stop();
    }
    for (const t of outcomes) if (!logged.has(targetText(t.target))) log(t);

    const results = outcomes.flatMap((t) => t.results);
    if (db) {
      const { writeProbes } = await import('../probe/store.js');
      writeProbes(db, results);
    }
    const by = new Map<string, number>();
    for (const t of outcomes) by.set(t.status, (by.get(t.status) ?? 0) + 1);
    const confirmed = outcomes.filter((t) => t.status === 'pool');
    let written = '';
    if (o.out && confirmed.length) {
      const { intelEntries, intelFileName, mergeIntel, parseIntelFile, renderIntelFile } = await import('../probe/intel.js');
      mkdirSync(o.out, { recursive: true });
      // The file's day, and each entry's, in the zone asked for (as intel resolve dates its file).
      const path = join(o.out, intelFileName(started, tz));
      const existing = existsSync(path) ? parseIntelFile(readTextFile(path, 'intel file', 64 << 20), path) : null;
      const day = dayOf(started, tz);
      const file = mergeIntel(existing, intelEntries(confirmed, tz), { source: `minerwatch probe ${version}: servers that answered a mining-protocol request as pools`, added: day });
      const tmp = `${path}.tmp-${process.pid}`;
      writeFileSync(tmp, renderIntelFile(file));
      renameSync(tmp, path);
      written = `; ${confirmed.length} pool(s) in ${path}`;
    }
    io.out(
      `${outcomes.length} target(s) probed${abort.signal.aborted ? ` of ${targets.length} (interrupted)` : ''}: ` +
        `${['pool', 'not-pool', 'silent', 'refused', 'timeout', 'error'].map((s) => `${by.get(s) ?? 0} ${s}`).join(', ')}` +
        `${db ? `; ${results.length} probe(s) recorded in ${o.db}` : ''}${written}\n`,
    );
    return 0;
  } finally {
    db?.close();
  }
}
