/**
 * What a run is told about the network besides its inputs: who sits behind an address (subscriber
 * nets, the subscriber directory, NAT logs, NAT event exports, deterministic NAT, RADIUS accounting),
 * metered power, and
 * dated pool intelligence. Every file is read and checked before a report is opened, so a bad line
 * stops the run before anything is written; `scan`, `rescore` and `collect` load them here alike.
 */
import { SubscriberDirectory } from './directory.js';
import { NatMapper, natRecordsFromEvents, parseDeterministic, parseNatLog, type NatEvent } from './nat.js';
import { NatEventSink } from './natevents.js';
import { parsePowerReadings, type PowerReading } from './power.js';
import { parseRadiusLog, RadiusIndex, radiusSessionsFromEvents, type RadiusEvent } from './radius.js';
import { parseSubscriberNets, type SubscriberNet } from './subscriber.js';
import { Anomalies } from '../anomalies.js';
import { UsageError } from '../errors.js';
import { readCapture } from '../io/input.js';
import { readTextFile } from '../io/textfile.js';
import { EndpointIndex } from '../rules/endpoints.js';
import { loadIntel, type IntelSource } from '../rules/intel.js';
import type { RuleSet } from '../rules/schema.js';

/** One progress line for the operator (stderr), without the program name or a newline. */
export type LoadNote = (line: string) => void;

/** The command-line options this module reads (scan's names; all optional). */
export interface LoadOptions {
  subscriberNet?: readonly string[];
  /** Subscriber directory CSV. */
  subscribers?: string;
  /** Metered energy CSV. */
  power?: string;
  natLog?: readonly string[];
  natDeterministic?: readonly string[];
  /** NAT events exported as IPFIX or NetFlow v9 (files or captures of export datagrams). */
  natIpfix?: readonly string[];
  /** Intel folders or reports whose proven pool endpoints are learned. */
  intel?: readonly string[];
  /** RADIUS accounting: FreeRADIUS detail files or the RADIUS CSV. */
  radius?: readonly string[];
}

/** Everything {@link loadRunContext} read, checked. */
export interface RunContext {
  /** The rule set given, with the `--intel` endpoints added (the same object when none were given). */
  ruleSet: RuleSet;
  intel: IntelSource[];
  nets: SubscriberNet[];
  directory: SubscriberDirectory | null;
  nat: NatMapper | null;
  /** Who held a dynamic address when (RADIUS accounting); null when none was given. */
  radius: RadiusIndex | null;
  power: PowerReading[] | null;
}

/**
 * Read and check everything the options name, in this order: subscriber nets, intel, the subscriber
 * directory, NAT (logs, formulas, event exports), RADIUS accounting, power readings.
 *
 * @throws UsageError naming the option or each bad file line (up to 20 of them); an intel file that
 *   does not validate throws as {@link loadIntel} does, with its file and line.
 */
export async function loadRunContext(ruleSet: RuleSet, o: LoadOptions, note: LoadNote): Promise<RunContext> {
  const nets = parseSubscriberNets(o.subscriberNet ?? []);
  const withIntelAdded = withIntel(ruleSet, o.intel ?? [], note);
  const directory = o.subscribers ? loadDirectory(o.subscribers) : null;
  const nat = await loadNat(o.natLog ?? [], o.natDeterministic ?? [], o.natIpfix ?? [], note);
  const radius = loadRadius(o.radius ?? [], note);
  const power = o.power ? loadPower(o.power) : null;
  return { ruleSet: withIntelAdded.ruleSet, intel: withIntelAdded.sources, nets, directory, nat, radius, power };
}

/** The first 20 bad lines of a file, one per line, and how many more. */
function badLines(what: string, path: string, errors: ReadonlyArray<{ line: number; message: string }>): UsageError {
  const shown = errors.slice(0, 20).map((e) => `${path}:${e.line}: ${e.message}`).join('\n  ');
  return new UsageError(`${what} not applied (${errors.length} bad line(s)):\n  ${shown}${errors.length > 20 ? `\n  … ${errors.length - 20} more` : ''}`);
}

/**
 * Read and validate a subscriber directory: all of it, or none.
 * @throws UsageError listing the bad lines.
 */
export function loadDirectory(path: string): SubscriberDirectory {
  const { directory, errors } = SubscriberDirectory.parse(readTextFile(path, 'subscribers file'));
  if (!directory) throw badLines('subscribers file', path, errors);
  return directory;
}

/**
 * Metered energy readings: all valid, or none.
 * @throws UsageError listing the bad lines.
 */
export function loadPower(path: string): PowerReading[] {
  const { readings, errors } = parsePowerReadings(readTextFile(path, 'power file'));
  if (!readings) throw badLines('power file', path, errors);
  return readings;
}

/**
 * NAT logs, NAT event exports and formulas, all of them valid; null when none is given. Events of
 * every export file are paired together, so a create in one rotated file pairs with its delete in
 * the next.
 * @throws UsageError listing every problem (up to 20).
 */
export async function loadNat(logs: readonly string[], formulas: readonly string[], eventFiles: readonly string[] = [], note?: LoadNote): Promise<NatMapper | null> {
  if (!logs.length && !formulas.length && !eventFiles.length) return null;
  const nat = new NatMapper();
  const problems: string[] = [];
  for (const f of formulas) {
    const r = parseDeterministic(f);
    if (typeof r === 'string') problems.push(`--nat-deterministic: ${r}`);
    else nat.addFormula(r);
  }
  for (const path of logs) {
    const { records, errors } = parseNatLog(readTextFile(path, 'NAT log'));
    for (const e of errors) problems.push(`${path}:${e.line}: ${e.message}`);
    if (!errors.length) nat.addRecords(records);
  }
  const events: NatEvent[] = [];
  for (const path of eventFiles) {
    const anomalies = new Anomalies();
    const sink = new NatEventSink(anomalies);
    sink.begin(path);
    try {
      await readCapture(path, sink, anomalies);
    } catch (e) {
      problems.push(`${path}: ${(e as Error).message}`);
      continue;
    }
    const { records, ignored } = natRecordsFromEvents(sink.events);
    if (!records.length) {
      problems.push(
        `${path}: no NAT translations found in ${sink.records} export record(s): ${sink.withoutNat} without RFC 8158 NAT fields (natEvent, postNATSourceIPv4Address, postNAPTSourceTransportPort, portRangeStart/End), ${ignored} that translate nothing`,
      );
      continue;
    }
    for (const e of sink.events) events.push({ ...e, ordinal: events.length + 1, exporter: e.exporter });
    const bad = [...anomalies.counts.values()].reduce((a, b) => a + b, 0);
    note?.(`${path}: ${sink.events.length} NAT event(s)${ignored ? `, ${ignored} that map nothing` : ''}${bad ? `, ${bad} anomal${bad === 1 ? 'y' : 'ies'} while decoding` : ''}`);
  }
  if (events.length && !problems.length) {
    const { records } = natRecordsFromEvents(events);
    nat.addRecords(records);
    note?.(`NAT events → ${records.length} assignment(s)`);
  }
  if (problems.length) throw new UsageError(`NAT mapping not applied (${problems.length} problem(s)):\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … ${problems.length - 20} more` : ''}`);
  return nat;
}

/**
 * RADIUS accounting files (FreeRADIUS detail or the RADIUS CSV), all of them valid; null when none
 * is given. The records of every file are paired together, so a Start in one rotated file pairs with
 * its Stop in the next. Unknown detail attributes and records that map nothing are skipped (counted
 * in the note); a line that cannot be read stops the run.
 * @throws UsageError listing every bad line (up to 20) with its file and line.
 */
export function loadRadius(paths: readonly string[], note?: LoadNote): RadiusIndex | null {
  if (!paths.length) return null;
  const problems: string[] = [];
  const events: RadiusEvent[] = [];
  for (const path of paths) {
    const r = parseRadiusLog(readTextFile(path, 'RADIUS accounting file'), path);
    for (const e of r.errors) problems.push(`${path}:${e.line}: ${e.message}`);
    if (r.errors.length) continue;
    for (const e of r.events) events.push(e);
    const kinds = new Map<string, number>();
    for (const e of r.events) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    const parts = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
    note?.(
      `${path}: ${r.format === 'detail' ? 'FreeRADIUS detail' : 'RADIUS CSV'}, ${r.events.length} accounting record(s)${parts ? ` (${parts})` : ''}${r.skipped ? `, ${r.skipped} that map nothing (other status types, no address)` : ''}${r.timeFallbacks ? `, ${r.timeFallbacks} Event-Timestamp(s) not read (zone abbreviation), timed by Timestamp instead` : ''}${r.routesIgnored ? `, ${r.routesIgnored} routed network(s) not taken (the rest of their records read), the first ${r.firstIgnoredRoute}` : ''}`,
    );
  }
  if (problems.length) throw new UsageError(`RADIUS accounting not applied (${problems.length} problem(s)):\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … ${problems.length - 20} more` : ''}`);
  const { sessions, unpaired } = radiusSessionsFromEvents(events);
  note?.(`RADIUS accounting → ${sessions.length} session(s)${unpaired ? `, ${unpaired} Stop(s) without a Start or Acct-Session-Time that map nothing` : ''}`);
  return new RadiusIndex(sessions);
}

/**
 * The rule set with intel folders and reports added to its endpoints (dated, with provenance), one
 * note per source; a bad intel file stops the run with its file and line.
 */
export function withIntel(ruleSet: RuleSet, paths: readonly string[], note: LoadNote): { ruleSet: RuleSet; sources: IntelSource[] } {
  if (!paths.length) return { ruleSet, sources: [] };
  const index = new EndpointIndex(ruleSet.endpoints);
  const { entries, sources } = loadIntel(paths, { exclude: (a) => index.excluded(a) });
  for (const s of sources) note(`intel ${s.path}: ${s.entries} endpoint(s)${s.skipped ? `, ${s.skipped} skipped (shared front-ends)` : ''}`);
  return { ruleSet: { ...ruleSet, endpoints: [...ruleSet.endpoints, ...entries] }, sources };
}
