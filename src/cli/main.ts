/**
 * The command-line program. This is the one place errors become exit codes:
 * 0 success, 1 an input could not be read or rules are invalid, 2 bad usage, 3 the report could
 * not be written part-way (disk full, I/O error), 70 an internal error, 130 a second SIGINT or
 * SIGTERM (the only exit made before a command returns: {@link stopOnSignals}).
 */
import { Command, CommanderError, Option } from 'commander';
import { InputError, ReportError, RuleError, UsageError } from '../errors.js';
import { DEFAULT_RULES_DIR, toolVersion } from './paths.js';
import { levelsAtLeast } from '../confidence.js';
import { registerIntel } from './intel.js';
import { decimalNumber, portNumber, wholeNumber } from './numbers.js';
import { registerProbe } from './probe.js';

const CONFIDENCE = levelsAtLeast('low', false);

/** Streams the program writes to (tests pass their own). */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Exit status of a command quit at once by a second signal (128 + SIGINT, as shells report it). */
export const QUIT_AT_ONCE = 130;

/** A long command's hold on SIGINT and SIGTERM (see {@link stopOnSignals}). */
export interface StopSignals {
  /** Aborted at the first signal: the command stops reading and finishes what it has. */
  readonly signal: AbortSignal;
  /**
   * Give the signals back (the command is done, or failed), after the event loop has polled once
   * more: a signal that arrived while the command ran synchronously (closing the run) is acted on
   * then, not lost with the handlers.
   */
  release(): Promise<void>;
}

/**
 * How a long command (scan, collect) stops. The first SIGINT or SIGTERM calls `first` (to say what
 * happens now) and aborts {@link StopSignals.signal}: the command writes what it read and returns as
 * usual. A second one quits with status {@link QUIT_AT_ONCE} as soon as JavaScript runs again, even
 * while the command is still finishing, after `lastWords` (which marks the run abandoned, so the next
 * scan removes what it wrote); a `lastWords` that throws does not keep the process alive. Handlers
 * run between event-loop turns: a second signal during a synchronous stretch (the closing
 * transaction) is acted on when it ends.
 */
export function stopOnSignals(o: { first: (sig: NodeJS.Signals) => void; lastWords?: () => void }): StopSignals {
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) {
      try {
        o.lastWords?.();
      } catch {
        // The next scan finds the run's process gone and removes what it wrote all the same.
      }
      process.exit(QUIT_AT_ONCE);
    }
    o.first(sig);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    release: async () => {
      // Signals caught during the last synchronous stretch are dispatched in the event loop's next
      // poll phase. One setImmediate resolves before it (in the check phase of the turn under way:
      // such a signal was then lost with the handlers); the second resolves after it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Set when whoever reads our standard output has gone (`minerwatch watchlist | head`). */
let stdoutGone = false;

const processIo: Io = {
  out: (s) => {
    if (!stdoutGone) process.stdout.write(s);
  },
  err: (s) => process.stderr.write(s),
};

/**
 * A closed pipe on standard output is not an error of ours: stop writing to it and finish the
 * work (a scan still completes its report). Anything else on the stream still surfaces.
 */
function watchStdout(): void {
  if (process.stdout.listenerCount('error') > 0) return;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutGone = true;
  });
}

/** The options `collect` and `consume` share: who flows belong to, the rules and intelligence, flow joining, what is kept and said. */
function liveOptions(cmd: Command, reading: string): Command {
  return cmd
    .option('--subscriber-net <cidr>', 'subscriber address range (repeatable)', collect, [])
    .option('--subscribers <file>', 'subscriber directory CSV, as for scan: prefix,subscriber,account,type,region (longest prefix wins)')
    .option('--nat-log <file>', 'carrier-grade NAT log CSV (repeatable), as for scan', collect, [])
    .option('--nat-ipfix <file>', `NAT events exported as IPFIX or NetFlow v9 (repeatable), as for scan; read before ${reading}`, collect, [])
    .option('--nat-deterministic <spec>', 'deterministic NAT (RFC 7422) (repeatable), as for scan', collect, [])
    .option('--radius <file>', `RADIUS accounting, FreeRADIUS detail or CSV (repeatable), as for scan; read before ${reading}`, collect, [])
    .option('--rules <dir>', 'rule folder', DEFAULT_RULES_DIR)
    .option('--lenient-rules', 'run with the valid rules even when some are invalid')
    .option('--dns-log <file>', `resolver log (repeatable), as for scan; read before ${reading}`, collect, [])
    .option('--intel <path>', 'intel folder or report (repeatable), as for scan', collect, [])
    .option('--stats-interval <seconds>', 'print counters this often (stderr)', decimalNumber('--stats-interval', 'seconds'), 60)
    .option('--join-gap <seconds>', 'a record joins a flow whose last record is at most this old', decimalNumber('--join-gap', 'seconds'), 300)
    .option('--quiet', 'no periodic counters')
    .addOption(new Option('--keep-flows <which>', 'flows written to the report (exports: flagged ones unless all)').choices(['auto', 'all', 'flagged']).default('auto'));
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('minerwatch')
    .description('Find cryptocurrency mining in packet captures, per subscriber, with the evidence for every verdict.')
    .version(toolVersion())
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(run minerwatch --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  minerwatch scan capture.pcapng --db report.sqlite
  minerwatch scan /data/captures/ --subscriber-net 100.64.0.0/10 --json
  minerwatch watchlist --db report.sqlite --min-confidence medium --format csv > watchlist.csv
  minerwatch flows --db report.sqlite --format jsonl`,
    );

  program
    .command('scan')
    .description('read captures (pcap, pcapng, with any NetFlow/IPFIX datagrams in them) and flow exports (IPFIX files, nfcapd files, nfdump CSV, JSON flows), gzip or not, - for stdin; classify every flow; write the SQLite report')
    .argument('<input...>', 'capture or flow-export files or folders (format sniffed from content; a pipe or device is refused: give it as - on stdin)')
    .option('--db <file>', 'report database to create or add to', 'minerwatch.sqlite')
    .option('--subscriber-net <cidr>', 'subscriber address range (repeatable); default: every client address', collect, [])
    .option('--subscribers <file>', 'subscriber directory CSV: prefix,subscriber,account,type,region (longest prefix wins)')
    .option('--power <file>', 'metered energy CSV: subscriber,start,end,kwh; marks whether each subscriber\'s metered use fits the mining estimate')
    .option('--nat-log <file>', 'carrier-grade NAT log CSV (repeatable): start,end,private_ip,public_ip,port_start,port_end', collect, [])
    .option('--nat-ipfix <file>', 'NAT events exported as IPFIX or NetFlow v9 (RFC 8158: sessions, port blocks; an IPFIX file or a capture of export datagrams), repeatable', collect, [])
    .option('--nat-deterministic <spec>', 'deterministic NAT (RFC 7422) with no logs: PRIVATE_CIDR=PUBLIC_CIDR:FIRST_PORT-LAST_PORT/PORTS_PER_SUBSCRIBER (repeatable)', collect, [])
    .option('--radius <file>', "RADIUS accounting (repeatable): FreeRADIUS detail files, or CSV time,event,account,session,address (event start, interim, stop, accounting-on or accounting-off; time ISO 8601 or epoch seconds; address an IP or prefix, several separated by spaces). A flow's client address (after NAT) maps to the account that held it at the flow's start (within 5 s of a session's start or end when none held it then), routed networks (Framed-Route, Framed-IP-Netmask) included", collect, [])
    .option('--dns-log <file>', 'resolver log (repeatable): dnstap (Frame Streams), Zeek dns.log (TSV or JSON), or a capture; a subscriber\'s lookups of listed pool names bind the answered addresses for the TTL plus 30 min', collect, [])
    .option('--intel <path>', 'dated pool intelligence (repeatable): a folder of endpoint files (minerwatch intel resolve, probe --out) or a report whose payload-proven pool endpoints are learned', collect, [])
    .option('--rules <dir>', 'rule folder', DEFAULT_RULES_DIR)
    .option('--lenient-rules', 'scan with the valid rules even when some rules are invalid')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--idle-timeout <seconds>', 'finish a flow after this long without packets', decimalNumber('--idle-timeout', 'seconds'), 300)
    .option('--active-timeout <seconds>', 'cut flows longer than this into consecutive records', decimalNumber('--active-timeout', 'seconds'), 1800)
    .option('--max-flows <n>', 'flows held in memory at once; the oldest idle one is finished beyond it', wholeNumber('--max-flows'), 1 << 19)
    .option('--collector-port <port>', 'UDP port whose payloads in captures are always NetFlow/IPFIX (repeatable; otherwise recognised by header)', (v: string, prev: number[]) => [...prev, portNumber('--collector-port')(v)], [] as number[])
    .option('--no-exports', 'do not decode NetFlow/IPFIX datagrams found in captures')
    .option('--join-gap <seconds>', 'flow exports: a record joins a flow whose last activity is at most this old', decimalNumber('--join-gap', 'seconds'), 300)
    .addOption(
      new Option('--keep-flows <which>', 'flows written to the report: auto = all from packets, flagged ones from flow exports')
        .choices(['auto', 'all', 'flagged'])
        .default('auto'),
    )
    .option(
      '--workers <n>',
      'worker threads, each holding the flows of a share of client networks (/24, /64); results are those of one worker. Default: the cores less 2 (the writer and hash threads), at least 1, when the inputs add up to 64 MiB or more, else 1',
      wholeNumber('--workers'),
    )
    .option('--quiet', 'no progress line on standard error (shown only when it is a terminal)')
    .addHelpText(
      'after',
      `
Examples:
  minerwatch scan office.pcap home.pcapng.gz --db report.sqlite
  tcpdump -w - -i eth0 | minerwatch scan - --db live.sqlite
  minerwatch scan captures/ --subscriber-net 100.64.0.0/10 --subscriber-net 2001:db8::/32 --json

An input already complete in the report is not read again; one it holds only in part (interrupted,
failed, or written by a killed run) is read again and replaces its earlier rows. Ctrl-C writes what
was read and marks the cut input interrupted (again to quit at once).
Exit status: 0 every input read; 1 an input could not be read, the scan was interrupted, or rules
are invalid; 2 bad usage or a file that is not a report; 3 the report could not be written part-way
(disk full, I/O error); 130 a second signal.`,
    )
    .action(async (inputs: string[], o) => {
      const { runScan } = await import('./scan.js');
      setExit(await runScan(inputs, o, io));
    });

  program
    .command('rescore')
    .description('re-decide an existing report without scanning again: resolver logs, intelligence, a subscriber directory, NAT mappings or metered power given now apply to every stored flow and subscriber, in one transaction')
    .option('--db <file>', 'report database', 'minerwatch.sqlite')
    .option('--dns-log <file>', 'resolver log (repeatable), as for scan', collect, [])
    .option('--intel <path>', 'intel folder or report (repeatable), as for scan', collect, [])
    .option('--subscribers <file>', 'subscriber directory CSV: maps every stored flow to its subscriber again')
    .option('--subscriber-net <cidr>', 'subscriber address range (repeatable); default: the nets of the report\'s last run', collect, [])
    .option('--nat-log <file>', 'carrier-grade NAT log CSV (repeatable)', collect, [])
    .option('--nat-ipfix <file>', 'NAT events exported as IPFIX or NetFlow v9 (repeatable)', collect, [])
    .option('--nat-deterministic <spec>', 'deterministic NAT (RFC 7422) (repeatable)', collect, [])
    .option('--radius <file>', 'RADIUS accounting, FreeRADIUS detail or CSV (repeatable): maps every stored flow to the account that held its address', collect, [])
    .option('--power <file>', 'metered energy CSV: subscriber,start,end,kwh')
    .option('--rules <dir>', 'rule folder', DEFAULT_RULES_DIR)
    .option('--lenient-rules', 'run with the valid rules even when some rules are invalid')
    .option('--json', 'print a machine-readable summary on stdout')
    .addHelpText('after', '\nExamples:\n  minerwatch rescore --db province.sqlite --dns-log resolver-2026-12-01.dnstap --intel intel/\n  minerwatch rescore --db province.sqlite --subscribers directory.csv')
    .action(async (o) => {
      const { runRescore } = await import('./scan.js');
      setExit(await runRescore(o, io));
    });

  liveOptions(
    program
      .command('collect')
      .description('receive NetFlow v5/v9 and IPFIX over UDP like nfcapd, classify continuously, commit to the report')
      .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:2055 or [::]:4739')
      .option('--db <file>', 'report database to create or add to', 'minerwatch.sqlite'),
    'collecting',
  )
    .option('--max-flows <n>', 'open flows held at once; beyond it the least recently joined is finished early and written (about 1 KiB each)', wholeNumber('--max-flows'), 1 << 16)
    .option('--commit-interval <seconds>', 'finish idle flows and commit them this often', decimalNumber('--commit-interval', 'seconds'), 10)
    .addHelpText(
      'after',
      `
Example:
  minerwatch collect --listen 0.0.0.0:2055 --db live.sqlite --subscriber-net 100.64.0.0/10
  minerwatch collect --listen 0.0.0.0:2055 --db live.sqlite --subscribers directory.csv --nat-log cgnat.csv
  softflowd -i eth0 -n 127.0.0.1:2055 -v 9     # any NetFlow/IPFIX exporter pointed at it`,
    )
    .action(async (o) => {
      const { runCollect } = await import('./collect.js');
      setExit(await runCollect(o, io));
    });

  liveOptions(
    program
      .command('consume')
      .description('join a Kafka consumer group and read flow messages (GoFlow2 protobuf or JSON, or NetFlow/IPFIX datagrams) into this member\'s shard report, exactly once per segment')
      .requiredOption('--brokers <host:port,...>', 'Kafka bootstrap servers')
      .requiredOption('--topic <name>', 'topic to read')
      .requiredOption('--group <id>', 'consumer group: members share the topic\'s partitions')
      .addOption(new Option('--format <format>', 'what a record value holds: GoFlow2 -format=bin (varint-delimited FlowMessage), GoFlow2 JSON, or raw NetFlow v5/v9/IPFIX datagrams keyed by exporter').choices(['goflow2-pb', 'goflow2-json', 'netflow-datagrams']).default('goflow2-pb'))
      .option('--db <file>', 'this member\'s shard report (merge the members\' reports for the whole)', 'minerwatch.sqlite')
      .option('--segment-messages <n>', 'offsets per segment: a segment\'s flows are cut at its end, it is committed to the report and then to Kafka as one', wholeNumber('--segment-messages'), 100_000)
      .option('--segment-seconds <s>', 'a segment open this long is cut at its last message once its partition is read to the end: bounds the time from a message to its committed verdict on a quiet partition', decimalNumber('--segment-seconds', 'seconds'), 60)
      .option('--output-topic <name>', 'also produce flagged flows (at each segment) and subscriber rows (at the end) as JSON rows to this topic')
      .option('--client-id <id>', 'Kafka client id', 'minerwatch')
      .option('--session-timeout <seconds>', 'the group gives a silent member\'s partitions to others after this long', decimalNumber('--session-timeout', 'seconds'))
      .option('--max-messages <n>', 'stop after this many messages (bounded loads, tests)', wholeNumber('--max-messages')),
    'consuming',
  )
    .option('--max-flows <n>', 'open flows held per partition; beyond it the least recently joined is finished early and written', wholeNumber('--max-flows'), 1 << 16)
    .addHelpText(
      'after',
      `
Example (three members of one group, then one report):
  minerwatch consume --brokers kafka1:9092 --topic flows --group minerwatch --db shard-a.sqlite
  minerwatch merge shard-a.sqlite shard-b.sqlite shard-c.sqlite --db all.sqlite`,
    )
    .action(async (o) => {
      const { runConsume } = await import('./consume.js');
      setExit(await runConsume(o, io));
    });

  program
    .command('produce')
    .description('read any input scan reads and publish its flows to Kafka as GoFlow2 flow messages keyed by subscriber (loading files, tests)')
    .argument('<input...>', 'captures or flow exports, as for scan')
    .requiredOption('--brokers <host:port,...>', 'Kafka bootstrap servers')
    .requiredOption('--topic <name>', 'topic to write')
    .addOption(new Option('--format <format>', 'message encoding').choices(['goflow2-pb', 'goflow2-json']).default('goflow2-pb'))
    .option('--partitions <n>', 'create the topic with this many partitions when it does not exist', wholeNumber('--partitions'))
    .addOption(new Option('--compression <codec>', 'record batch compression').choices(['none', 'gzip', 'snappy', 'lz4']).default('none'))
    .option('--batch <n>', 'messages per send', wholeNumber('--batch'), 1000)
    .addHelpText('after', '\nExample:\n  minerwatch produce --brokers 127.0.0.1:9092 --topic flows --partitions 6 day1.pcap exports.csv')
    .action(async (inputs: string[], o) => {
      const { runProduce } = await import('./produce.js');
      setExit(await runProduce({ ...o, inputs }, io));
    });

  program
    .command('merge')
    .description('combine reports (several days, collectors or operators) into one; inputs already present (same sha256) are not copied twice')
    .argument('<report...>', 'report databases to merge')
    .requiredOption('--db <file>', 'the merged report (created, or added to)')
    .option('--rules <dir>', 'rule folder whose policy decides peer evidence again', DEFAULT_RULES_DIR)
    .option('--quiet', 'no progress line on standard error (shown only when it is a terminal)')
    .addHelpText('after', '\nExample:\n  minerwatch merge day1.sqlite day2.sqlite collector-b.sqlite --db week.sqlite')
    .action(async (reports: string[], o: { db: string; rules: string; quiet?: boolean }) => {
      const { runMerge } = await import('./merge.js');
      setExit(await runMerge(reports, o, io));
    });

  // Administration outputs: summary table and self-contained HTML report (src/cli/summary.ts).
  program
    .command('summary')
    .description('the administration summary: mining subscribers and flows by coin, type and region, hashrate and energy, with the method')
    .option('--db <file>', 'report database', 'minerwatch.sqlite')
    .addOption(new Option('--min-confidence <level>', 'lowest confidence counted').choices(CONFIDENCE).default('medium'))
    .option('--lang <lang>', 'zh-CN or en (default: from LC_ALL/LC_MESSAGES/LANG)')
    .option('--tz <zone>', 'time zone times are shown in: an IANA name (Asia/Shanghai) or an offset (+08:00); abbreviations such as CST are refused (ambiguous)', 'UTC')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--pseudonymise <key>', 'replace subscriber ids, accounts and subscriber addresses with keyed pseudonyms (p- + 16 hex of HMAC-SHA256; same key, same pseudonym, so regions can join lists; servers stay); key of at least 16 bytes, kept secret')
    .addHelpText('after', '\nExample:\n  minerwatch summary --db report.sqlite --lang zh-CN --tz Asia/Shanghai')
    .action(async (o) => {
      const { runSummary } = await import('./summary.js');
      runSummary(o, io);
    });
  program
    .command('report')
    .description('write one self-contained HTML report (summary, charts, searchable subscriber table with evidence and timelines), readable by its owner only (0600)')
    .requiredOption('--html <file>', 'HTML file to write (- for standard output)')
    .option('--db <file>', 'report database', 'minerwatch.sqlite')
    .addOption(new Option('--min-confidence <level>', 'lowest confidence shown').choices(CONFIDENCE).default('medium'))
    .option('--lang <lang>', 'zh-CN or en (default: from LC_ALL/LC_MESSAGES/LANG)')
    .option('--tz <zone>', 'time zone times are shown in: an IANA name (Asia/Shanghai) or an offset (+08:00); abbreviations such as CST are refused (ambiguous)', 'UTC')
    .option('--pseudonymise <key>', 'replace subscriber ids, accounts and subscriber addresses with keyed pseudonyms (p- + 16 hex of HMAC-SHA256; same key, same pseudonym, so regions can join lists; servers stay); key of at least 16 bytes, kept secret')
    .option('--quiet', 'no progress line on a terminal')
    .addHelpText('after', '\nExample:\n  minerwatch report --html report.html --db report.sqlite --lang zh-CN --tz Asia/Shanghai')
    .action(async (o) => {
      const { runReport } = await import('./summary.js');
      await runReport(o, io);
    });

  program
    .command('flows')
    .description('list flows from a report (mining and suspect ones unless --all)')
    .option('--db <file>', 'report database', 'minerwatch.sqlite')
    .option('--all', 'every flow, not only mining/suspect')
    .addOption(new Option('--min-confidence <level>', 'lowest confidence shown').choices(CONFIDENCE).default('low'))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'jsonl']).default('table'))
    .option('--tz <zone>', 'write times in this zone: an IANA name (Asia/Shanghai) or an offset (+08:00), as 2026-11-21 08:00:00 +08:00; abbreviations such as CST are refused (ambiguous). Default: ISO 8601 UTC')
    .option('--subscriber <id>', 'only the flows of this subscriber (its id as the report stores it)')
    .option('--id <n>', 'only the flow with this flows.id, whatever its label (repeatable)', (v: string, prev: number[]) => [...prev, wholeNumber('--id')(v)], [] as number[])
    .addHelpText('after', '\nExamples:\n  minerwatch flows --db report.sqlite --min-confidence high --format jsonl\n  minerwatch flows --db report.sqlite --subscriber 100.64.0.11 --all\n  minerwatch flows --db report.sqlite --id 5 --id 8 --format jsonl')
    .action(async (o) => {
      const { runFlows } = await import('./query.js');
      await runFlows(o, io);
    });

  program
    .command('explain')
    .description('everything the report holds behind one subscriber\'s verdict: why, each mining flow with its evidence (rule id@rev, what matched, excerpt, endpoint entry, resolver-log lookup), the hashrate arithmetic and the attribution chain')
    .argument('<subscriber-or-address>', 'a subscriber id, a directory account, a client address, or (with --pseudonymise) a pseudonym of one')
    .option('--db <file>', 'report database', 'minerwatch.sqlite')
    .option('--all', 'every flow of the subscriber, not only mining/suspect')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--tz <zone>', 'write times in this zone: an IANA name (Asia/Shanghai) or an offset (+08:00), as 2026-11-21 08:00:00 +08:00; abbreviations such as CST are refused (ambiguous). Default: ISO 8601 UTC')
    .option('--pseudonymise <key>', 'show keyed pseudonyms instead of subscriber ids, accounts and subscriber addresses (as watchlist does; servers stay); the argument may then be a pseudonym')
    .addHelpText(
      'after',
      `
Examples:
  minerwatch explain 100.64.0.11 --db report.sqlite
  minerwatch explain alice --db report.sqlite --tz Asia/Shanghai --format json
  minerwatch explain p-3f2a9c0d1e4b5a67 --db report.sqlite --pseudonymise "$(cat region-key.txt)"

Exit status: 0 explained; 1 the report holds no such subscriber or address, or the argument matches
several (they are listed); 2 bad usage or a file that is not a report.`,
    )
    .action(async (target: string, o) => {
      const { runExplain } = await import('./explain.js');
      await runExplain(target, o, io);
    });

  program
    .command('watchlist')
    .description('one row per subscriber with mining evidence')
    .option('--db <file>', 'report database', 'minerwatch.sqlite')
    .addOption(new Option('--min-confidence <level>', 'lowest confidence listed').choices(CONFIDENCE).default('medium'))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'json', 'jsonl']).default('table'))
    .option('--type <type>', 'only subscribers of this type (from --subscribers at scan time): residential, enterprise, government, university, internet-cafe …')
    .option('--region <region>', 'only subscribers of this region or city')
    .option('--coin <ticker>', 'only subscribers mining this coin, e.g. XMR')
    .option('--prefix <cidr>', 'only subscribers whose address is inside this range')
    .option('--since <time>', 'only subscribers active at or after this date/time (UTC)')
    .option('--until <time>', 'only subscribers active at or before this date/time (UTC)')
    .option('--bom', 'CSV: start with a UTF-8 byte-order mark (for Excel)')
    .option('--lang <lang>', 'table and CSV headers in zh-CN or en (default from the locale); JSON keys do not change')
    .option('--tz <zone>', 'write times in this zone: an IANA name (Asia/Shanghai) or an offset (+08:00), as 2026-11-21 08:00:00 +08:00; abbreviations such as CST are refused (ambiguous). Default: ISO 8601 UTC')
    .option('--pseudonymise <key>', 'replace subscriber ids, accounts and subscriber addresses with keyed pseudonyms (p- + 16 hex of HMAC-SHA256; same key, same pseudonym, so regions can join lists; servers stay); key of at least 16 bytes, kept secret')
    .addHelpText('after', '\nExamples:\n  minerwatch watchlist --db report.sqlite --format csv --bom > watchlist.csv\n  minerwatch watchlist --db report.sqlite --type university --coin XMR --since 2026-11-01 --format jsonl')
    .action(async (o) => {
      const { runWatchlist } = await import('./query.js');
      await runWatchlist(o, io);
    });

  const rules = program.command('rules').description('inspect and validate detection rules');
  rules
    .command('check')
    .description('validate every rule file; report each bad entry with file, line and field')
    .argument('[dir]', 'rule folder', DEFAULT_RULES_DIR)
    .action(async (dir: string) => {
      const { runRulesCheck } = await import('./rules.js');
      setExit(runRulesCheck(dir, io));
    });
  rules
    .command('list')
    .description('list rules: id, rev, family, side, description')
    .option('--rules <dir>', 'rule folder', DEFAULT_RULES_DIR)
    .action(async (o: { rules: string }) => {
      const { runRulesList } = await import('./rules.js');
      setExit(runRulesList(o.rules, io));
    });
  rules
    .command('test')
    .description('scan inputs in memory and show which rules fired on which flows (no report written)')
    .argument('<input...>', 'capture files or folders')
    .option('--rules <dir>', 'rule folder', DEFAULT_RULES_DIR)
    .option('--all', 'also list flows without evidence')
    .option('--dns-log <file>', 'resolver log (repeatable), as for scan', collect, [])
    .option('--intel <path>', 'intel folder or report (repeatable), as for scan', collect, [])
    .option('--lenient-rules', 'test with the valid rules even when some are invalid')
    .option('--tz <zone>', 'write flow times in this zone: an IANA name (Asia/Shanghai) or an offset (+08:00); abbreviations such as CST are refused (ambiguous). Default: ISO 8601 UTC')
    .addHelpText('after', '\nExample:\n  minerwatch rules test fixtures/rules/stratum-v1-subscribe.pcap --rules ./my-rules')
    .action(async (inputs: string[], o: { rules: string; all?: boolean; lenientRules?: boolean; dnsLog: string[]; intel: string[]; tz?: string }) => {
      const { runRulesTest } = await import('./rules.js');
      setExit(await runRulesTest(inputs, o, io));
    });
  registerIntel(program, io, setExit);
  registerProbe(program, io, setExit);
  return program;
}

/** Run the program with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  if (io === processIo) watchStdout();
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander already printed the message.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      io.err(`minerwatch: ${e.message}\n`);
      return 2;
    }
    if (e instanceof InputError || e instanceof RuleError) {
      io.err(`minerwatch: ${e.message}\n`);
      return 1;
    }
    if (e instanceof ReportError) {
      io.err(`minerwatch: ${e.message}\n`);
      return 3;
    }
    io.err(`minerwatch: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}
