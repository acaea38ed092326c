/**
 * `minerwatch explain SUBSCRIBER|ADDRESS`: everything a report holds behind one subscriber's verdict
 * — the verdict and why, each mining flow with its evidence (rule id@rev, what matched, the
 * excerpt, the endpoint entry, the resolver-log lookup), the hashrate arithmetic and the
 * attribution chain — as text or one JSON document, written as it is read.
 */
import ipaddr from '../ipaddr.js';
import { checkZone, formatTime } from '../i18n.js';
import { UsageError } from '../errors.js';
import { endpointText } from '../ip.js';
import { formatHashrate, formatKwh, inertJson, inertText } from '../report/format.js';
import {
  attributionSteps,
  explainAttribution,
  explainHashrate,
  explainTally,
  explainVerdict,
  findExplainCandidates,
  iterateExplainFlows,
  type ExplainCandidate,
  type ExplainEvidence,
  type ExplainFlow,
  type ExplainHashrate,
  type ExplainSubject,
} from '../report/explain.js';
import { pseudonymiser, type Pseudonymiser } from '../report/pseudonym.js';
import { incompleteInputs } from '../report/runs.js';
import { beginRead } from '../report/queries.js';
import { openReport, reportReadError } from '../report/writer.js';
import { CONFIDENCE_LEVELS, confidenceRank } from '../confidence.js';
import { shareHashrate, shareRelErr } from '../aggregate/hashrate.js';
import type { Io } from './main.js';
import { incompleteWarning, ListingOutput, NotInReport } from './query.js';

/** Options of `minerwatch explain`. */
export interface ExplainCliOptions {
  db: string;
  format: string;
  /** Zone times are written in (IANA name or offset); ISO 8601 UTC when not given. */
  tz?: string;
  /** Key for pseudonyms: the argument may be one, and the output shows them instead of ids and addresses. */
  pseudonymise?: string;
  /** Every flow of the subject, not only mining and suspect ones. */
  all?: boolean;
}

/** Offsets listed for a run of like evidence rows in text; the rest are counted. */
const TEXT_OFFSETS = 8;

/** How one subject's values are shown: times in the zone, ids and addresses as pseudonyms with a key. */
interface Shown {
  at: (ms: number) => string;
  id: (v: string) => string;
  /** Text naming the subject (`own`: its ids and addresses), and any other subscriber a shared lookup names. */
  text: (v: string, own: readonly string[]) => string;
  /** An attribution step: with a key, every address in it (the private one a NAT record names, a RADIUS session's) as well. */
  chain: (v: string, own: readonly string[]) => string;
}

/** Address-like tokens: dotted quads, and colon-separated hex groups checked as IPv6 below. */
const ADDRESS_TOKEN = /\b\d{1,3}(?:\.\d{1,3}){3}\b|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}/g;

function shown(tz: string | undefined, p: Pseudonymiser | null): Shown {
  // A resolver-log binding seen by another client names that client (`another subscriber (ADDRESS) was told`).
  const others = (v: string): string => v.replace(/another subscriber \(([^)]+)\)/g, (_, a: string) => `another subscriber (${p!.of(a)})`);
  return {
    at: tz === undefined ? (ms) => new Date(ms).toISOString() : (ms) => formatTime(ms, tz),
    id: p ? (v) => p.of(v) : (v) => v,
    text: p ? (v, own) => p.text(others(v), own) : (v) => v,
    // A range (`10.0.0.0/23` of a deterministic NAT rule) is the operator's configuration, not one subscriber's address.
    chain: p ? (v, own) => p.text(v, own).replace(ADDRESS_TOKEN, (t, at: number, all: string) => (all[at + t.length] !== '/' && ipaddr.isValid(t) ? p.of(t) : t)) : (v) => v,
  };
}

function describeSubject(c: ExplainCandidate, show: Shown): string {
  const who = c.subject.kind === 'subscriber' ? `subscriber ${show.id(c.subject.subscriber)}` : `client ${show.id(c.subject.client)} (no subscriber)`;
  return `${who}: matched as ${c.matched}, ${c.flows} flow${c.flows === 1 ? '' : 's'} ${show.at(c.firstSeen)} – ${show.at(c.lastSeen)}`;
}

/**
 * Consecutive evidence rows that say the same thing (rule, revision, kind, side, what matched):
 * a long session repeats `mining.submit` hundreds of times, which text shows once with its count.
 */
function runsOf(evidence: readonly ExplainEvidence[]): ExplainEvidence[][] {
  const out: ExplainEvidence[][] = [];
  for (const e of evidence) {
    const last = out[out.length - 1];
    const h = last?.[0];
    if (h && h.ruleId === e.ruleId && h.rev === e.rev && h.kind === e.kind && h.side === e.side && h.matched === e.matched) last!.push(e);
    else out.push([e]);
  }
  return out;
}

/** What the excerpt of a kind of evidence is: the endpoint entry and its source, the resolver log, the message. */
function excerptLabel(e: ExplainEvidence): string {
  if (e.kind.startsWith('dns-log')) return 'resolver log';
  if (e.family === 'endpoint' || e.kind.startsWith('endpoint')) return 'endpoint entry';
  return 'excerpt';
}

function matchedLabel(e: ExplainEvidence): string {
  return e.kind.startsWith('dns-log') ? 'lookup' : 'matched';
}

function flowText(f: ExplainFlow, show: Shown, own: readonly string[]): string {
  const t = (v: string): string => inertText(show.text(v, own));
  const lines: string[] = [];
  const cli = show.id(f.client);
  lines.push(`Flow ${f.id}: ${endpointText(cli, f.clientPort)} → ${endpointText(f.server, f.serverPort)} ${f.transport}, ${show.at(f.firstSeen)} – ${show.at(f.lastSeen)}, ${f.packets} packets, ${f.bytes} bytes (${f.source}${f.input !== null ? ` from ${inertText(f.input)}` : ''})`);
  lines.push(`  verdict: ${f.label}, ${f.confidence}${f.outcome ? ` (${inertText(f.outcome)})` : ''}`);
  lines.push(`  reason: ${t(f.reason)}`);
  const facts = [
    f.coin && `coin ${inertText(f.coin)}`,
    f.software && `software ${inertText(f.software)}`,
    f.agent && `agent ${inertText(f.agent)}`,
    f.workers.length ? `workers ${inertText(f.workers.join(' '))}` : '',
    f.pool && `pool ${inertText(f.pool)}`,
    f.serverName && `server name ${inertText(f.serverName)}`,
  ].filter(Boolean);
  if (facts.length) lines.push(`  ${facts.join('; ')}`);
  lines.push(`  evidence (${f.evidence.length} row${f.evidence.length === 1 ? '' : 's'}):`);
  for (const run of runsOf(f.evidence)) {
    const e = run[0]!;
    const offsets = run.slice(0, TEXT_OFFSETS).map((x) => x.offset);
    const where = e.kind === 'payload' || e.kind === 'handshake' || e.kind === 'http' || e.kind === 'sni' ? ` at offset${run.length > 1 ? 's' : ''} ${offsets.join(', ')}${run.length > TEXT_OFFSETS ? ` … (${run.length - TEXT_OFFSETS} more)` : ''}` : '';
    const times = run.length > 1 ? `${show.at(e.time)} – ${show.at(run[run.length - 1]!.time)}` : show.at(e.time);
    lines.push(`    ${inertText(e.ruleId)}@${e.rev}  ${inertText(e.kind)}, ${inertText(e.side)} side, ${inertText(e.family)}${run.length > 1 ? ` ×${run.length}` : ''}${where}, ${times}`);
    lines.push(`      ${matchedLabel(e)}: ${t(e.matched)}`);
    if (e.excerpt) lines.push(`      ${excerptLabel(e)}: ${t(e.excerpt)}${run.length > 1 && run.some((x) => x.excerpt !== e.excerpt) ? ' (the first; the others differ)' : ''}`);
  }
  if (f.shares !== null || f.sharesSubmitted !== null || f.reportedHs !== null) {
    const parts = [
      f.sharesSubmitted !== null ? `${f.sharesSubmitted} submitted` : '',
      f.sharesAccepted !== null ? `${f.sharesAccepted} accepted` : '',
      f.sharesRejected !== null ? `${f.sharesRejected} rejected` : '',
      f.shares !== null ? `${f.shares} counted (${f.sharesAccepted !== null ? 'accepted: the pool answered' : 'submitted: no answers seen'})` : '',
      f.shareHashes !== null ? `${f.shareHashes} expected hashes${f.algorithm ? ` (${inertText(f.algorithm)})` : ''}` : '',
      f.reportedHs !== null ? `the miner reports ${f.reportedHs} H/s` : '',
    ].filter(Boolean);
    lines.push(`  shares: ${parts.join(', ')}`);
  }
  lines.push(`  attribution: client ${endpointText(cli, f.clientPort)} at ${show.at(f.firstSeen)}`);
  const c = (v: string): string => inertText(show.chain(v, own));
  for (const step of attributionSteps(f.attribution.nat === null || f.attribution.nat === undefined ? null : String(f.attribution.nat))) lines.push(`    → ${c(step)}`);
  for (const [k, v] of Object.entries(f.attribution)) if (k !== 'subscriber' && k !== 'nat' && v !== null) lines.push(`    → ${inertText(k)}: ${c(String(v))}`);
  const sub = f.attribution.subscriber;
  lines.push(`    → ${sub === null || sub === undefined ? 'no subscriber (neither endpoint in the subscriber nets)' : `subscriber ${show.id(String(sub))}`}`);
  return lines.join('\n') + '\n\n';
}

function flowJson(f: ExplainFlow, show: Shown, own: readonly string[]): unknown {
  const t = (v: string): string => show.text(v, own);
  const c = (v: string): string => show.chain(v, own);
  const attribution: Record<string, string | number | null> = {};
  for (const [k, v] of Object.entries(f.attribution)) attribution[k] = v === null ? null : k === 'subscriber' ? show.id(String(v)) : typeof v === 'string' ? c(v) : v;
  const nat = f.attribution.nat;
  return {
    ...f,
    client: show.id(f.client),
    attributionSteps: attributionSteps(typeof nat === 'string' ? nat : null).map(c),
    firstSeen: show.at(f.firstSeen),
    lastSeen: show.at(f.lastSeen),
    reason: t(f.reason),
    attribution,
    evidence: f.evidence.map((e) => ({ ...e, matched: t(e.matched), excerpt: t(e.excerpt), time: show.at(e.time) })),
  };
}

/** The figures behind a hashrate row, worked out again from the stored hashes, time and shares. */
function hashrateWork(h: ExplainHashrate): { rateHs: number | null; relErr: number | null; kwhPerDayLow: number | null; kwhPerDayHigh: number | null } {
  const rateHs = shareHashrate(h.hashes, h.seconds, h.shares);
  return {
    rateHs,
    relErr: shareRelErr(h.shares),
    kwhPerDayLow: h.powerWLow !== null ? (h.powerWLow * 24) / 1000 : null,
    kwhPerDayHigh: h.powerWHigh !== null ? (h.powerWHigh * 24) / 1000 : null,
  };
}

function hashrateText(rows: readonly ExplainHashrate[]): string {
  if (!rows.length) return 'Hashrate\n  not measured: no valued shares and no rate reported by the miner on its flows\n\n';
  const lines = ['Hashrate (per coin; hashes of different algorithms do not add)'];
  for (const h of rows) {
    const w = hashrateWork(h);
    const what = `${inertText(h.coin ?? 'unknown coin')}${h.algorithm ? ` (${inertText(h.algorithm)})` : ''}`;
    const unit = h.unit;
    if (w.rateHs !== null) {
      lines.push(`  ${what}: ${h.hashes} expected hashes ÷ ${h.seconds} s mined (${h.flows === 1 ? 'the span of its flow' : `the union of its ${h.flows} flows' spans`}) = ${formatHashrate(w.rateHs, unit)}`);
      lines.push(`    error: 1/√${h.shares} shares = ±${Math.round(w.relErr! * 100)}%${h.unvalued ? `; ${h.unvalued} share${h.unvalued === 1 ? '' : 's'} not valued (no difficulty seen, or the algorithm is unknown)` : ''}`);
    } else lines.push(`  ${what}: not measured from shares (${h.shares} valued, ${h.unvalued} not valued) over ${h.seconds} s of ${h.flows} flow${h.flows === 1 ? '' : 's'}`);
    if (h.reportedHs !== null) lines.push(`    the miner's own figure: ${formatHashrate(h.reportedHs, unit)} (each flow's rate × its duration, summed, ÷ the time mined)`);
    if (h.powerWLow !== null && h.powerWHigh !== null && w.rateHs !== null) {
      const eff = h.jPerHLow !== null && h.jPerHHigh !== null ? ` × ${h.jPerHLow.toPrecision(3)} – ${h.jPerHHigh.toPrecision(3)} J/${unit.replace(/\/s$/, '')}` : '';
      lines.push(`    power: ${formatHashrate(w.rateHs, unit)}${eff} = ${h.powerWLow.toPrecision(3)} – ${h.powerWHigh.toPrecision(3)} W; × 24 h ÷ 1000 = ${formatKwh(w.kwhPerDayLow!)} – ${formatKwh(w.kwhPerDayHigh!)} kWh/day`);
      if (h.hardware || h.efficiencySource) lines.push(`    efficiency from: ${inertText([h.hardware, h.efficiencySource].filter(Boolean).join('; '))}`);
    } else if (w.rateHs !== null) lines.push(`    power: not estimated (the efficiency of ${inertText(h.algorithm ?? 'this algorithm')} is not documented in the rule set)`);
  }
  return lines.join('\n') + '\n\n';
}

function verdictText(db: string, c: ExplainCandidate, verdict: ReturnType<typeof explainVerdict>, tally: ReturnType<typeof explainTally>, show: Shown, own: readonly string[]): string {
  const lines: string[] = [];
  lines.push(`${describeSubject(c, show)}, in ${inertText(db)}`);
  lines.push('');
  if (verdict) {
    const mining = tally.filter((x) => x.label === 'mining');
    const byOutcome = new Map<string, number>();
    for (const x of mining) if (x.confidence === verdict.confidence) byOutcome.set(x.outcome ?? 'no outcome', (byOutcome.get(x.outcome ?? 'no outcome') ?? 0) + x.flows);
    lines.push(`Verdict: mining, confidence ${verdict.confidence}`);
    lines.push(`  why: the highest confidence of its ${verdict.miningFlows} mining flow${verdict.miningFlows === 1 ? '' : 's'}; at ${verdict.confidence} decided by ${[...byOutcome].map(([o, n]) => `${inertText(o)} (${n} flow${n === 1 ? '' : 's'})`).join(', ')}`);
    const listedAt = CONFIDENCE_LEVELS.filter((l) => l !== 'none' && confidenceRank(l) <= confidenceRank(verdict.confidence));
    lines.push(`  watch list: listed at --min-confidence ${listedAt.join(', ')}${confidenceRank(verdict.confidence) >= confidenceRank('medium') ? ' (listed by default)' : ' (not at the default, medium)'}`);
    lines.push(`  rollup: ${inertText(show.text(verdict.evidence, own))}`);
    const facts = [
      `seen ${show.at(verdict.firstSeen)} – ${show.at(verdict.lastSeen)}`,
      verdict.coins.length && `coins ${verdict.coins.join(' ')}`,
      verdict.pools.length && `pools ${verdict.pools.join(' ')}`,
      verdict.servers.length && `servers ${verdict.servers.join(' ')}`,
      verdict.agents.length && `software ${verdict.agents.join(' ')}`,
      verdict.workers.length && `workers ${verdict.workers.join(' ')}`,
      verdict.powerCheck && `metered power: ${verdict.powerCheck}${verdict.powerNote ? ` (${show.text(verdict.powerNote, own)})` : ''}`,
    ].filter(Boolean) as string[];
    lines.push(`  ${inertText(facts.join('; '))}`);
  } else {
    const suspect = tally.filter((x) => x.label === 'suspect').reduce((n, x) => n + x.flows, 0);
    lines.push(`Verdict: not mining${suspect ? `, ${suspect} suspect flow${suspect === 1 ? '' : 's'}` : ''}`);
    lines.push(`  why: none of its flows was decided mining${c.subject.kind === 'client' ? ' (and its flows have no subscriber: not in the watch list)' : ', so it is not in the watch list'}`);
  }
  lines.push(`  flows by verdict: ${tally.map((x) => `${x.label} ${x.confidence}${x.outcome ? ` (${inertText(x.outcome)})` : ''} ${x.flows}`).join('; ')}`);
  return lines.join('\n') + '\n\n';
}

function attributionText(a: ReturnType<typeof explainAttribution>, c: ExplainCandidate, show: Shown, own: readonly string[]): string {
  const lines = ['Attribution'];
  if (a.directory) {
    const d = a.directory;
    const prefixes = typeof d.prefixes === 'string' ? (JSON.parse(d.prefixes) as string[]) : [];
    const rest = Object.entries(d)
      .filter(([k, v]) => !['subscriber', 'prefixes', 'source'].includes(k) && v !== null && v !== undefined)
      .map(([k, v]) => `${k} ${k === 'account' ? show.id(String(v)) : String(v)}`);
    lines.push(`  directory entry (${inertText(String(d.source ?? 'unknown file'))}): ${prefixes.map((x) => show.id(x)).join(', ')} → subscriber ${show.id(String(d.subscriber))}${rest.length ? `; ${inertText(rest.join(', '))}` : ''}`);
  } else if (c.subject.kind === 'subscriber')
    lines.push('  directory entry: none; the subscriber id is the client address (a subscriber net, or every client address)');
  else lines.push('  directory entry: none; the client is outside the subscriber nets, so its flows have no subscriber');
  lines.push(`  client addresses (first seen first):`);
  for (const x of a.addresses) lines.push(`    ${show.id(x.address)} ${show.at(x.firstSeen)} – ${show.at(x.lastSeen)}, ${x.flows} flow${x.flows === 1 ? '' : 's'}`);
  if (a.moreAddresses) lines.push(`    … ${a.moreAddresses} more`);
  lines.push(`  attribution steps (NAT record, accounting session, directory line): ${a.steps.map((x) => `${inertText(show.chain(x.outcome, own))}: ${x.flows} flow${x.flows === 1 ? '' : 's'}`).join(', ')} (per flow on its attribution lines)`);
  return lines.join('\n') + '\n';
}

/** Explain one subscriber or address; see the module comment. */
export async function runExplain(target: string, o: ExplainCliOptions, io: Io): Promise<void> {
  if (o.format !== 'text' && o.format !== 'json') throw new UsageError(`--format ${JSON.stringify(o.format)}: expected text or json`);
  const tz = o.tz === undefined ? undefined : checkZone(o.tz);
  const p = pseudonymiser(o.pseudonymise);
  if (!p && /^p-[0-9a-f]{16}$/.test(target)) {
    // Said before anything is read: without the key a pseudonym cannot match.
    throw new UsageError(`${target} is a pseudonym; give the key it was made with: --pseudonymise KEY`);
  }
  const show = shown(tz, p);
  const db = openReport(o.db, { readonly: true });
  const out = new ListingOutput(io.out);
  const endRead = beginRead(db);
  try {
    const found = findExplainCandidates(db, target, p);
    if (!found.length)
      throw new NotInReport(o.db, `${JSON.stringify(inertText(target))} is no subscriber id, account or client address in the report${p ? ', nor the pseudonym of one under this key' : ''} (minerwatch watchlist --min-confidence low lists the subscribers with evidence)`);
    if (found.length > 1)
      throw new NotInReport(o.db, `${JSON.stringify(inertText(target))} matches ${found.length} subjects; explain one of them by its subscriber id:\n${found.map((c) => `  ${inertText(describeSubject(c, show))}`).join('\n')}`);
    const c = found[0]!;
    const warning = incompleteWarning(o.db, incompleteInputs(db), 'flows');
    if (warning) io.err(warning);
    const s: ExplainSubject = c.subject;
    const verdict = explainVerdict(db, s);
    const tally = explainTally(db, s);
    const attribution = explainAttribution(db, s);
    const hashrate = explainHashrate(db, s);
    const account = verdict?.account ?? (attribution.directory?.account as string | null | undefined) ?? null;
    const own = [s.kind === 'subscriber' ? s.subscriber : s.client, ...(account ? [account] : []), ...attribution.addresses.map((x) => x.address)];
    if (o.format === 'json') {
      const subject = s.kind === 'subscriber' ? { subscriber: show.id(s.subscriber), account: account === null ? null : show.id(account) } : { client: show.id(s.client) };
      const head = {
        report: o.db,
        // The argument as typed may be the id or address a pseudonymised output must not name.
        query: p && !/^p-[0-9a-f]{16}$/.test(target) ? p.of(target) : target,
        matched: c.matched,
        ...subject,
        verdict: verdict && { ...verdict, account: account === null ? null : show.id(account), evidence: show.text(verdict.evidence, own), firstSeen: show.at(verdict.firstSeen), lastSeen: show.at(verdict.lastSeen) },
        tally,
      };
      await out.write(inertJson(head).replace(/\}$/, ',"flows":['));
      let n = 0;
      for (const f of iterateExplainFlows(db, s, !!o.all)) {
        await out.write((n++ ? ',' : '') + inertJson(flowJson(f, show, [...own, f.client])));
        if (out.closed) return;
      }
      const directory = attribution.directory && {
        ...attribution.directory,
        subscriber: show.id(String(attribution.directory.subscriber)),
        account: typeof attribution.directory.account === 'string' ? show.id(attribution.directory.account) : null,
        prefixes: typeof attribution.directory.prefixes === 'string' ? (JSON.parse(attribution.directory.prefixes) as string[]).map((x) => show.id(x)) : [],
      };
      const tail = {
        hashrate: hashrate.map((h) => ({ ...h, ...hashrateWork(h) })),
        attribution: {
          directory,
          addresses: attribution.addresses.map((x) => ({ ...x, address: show.id(x.address), firstSeen: show.at(x.firstSeen), lastSeen: show.at(x.lastSeen) })),
          moreAddresses: attribution.moreAddresses,
          steps: attribution.steps,
        },
      };
      await out.write('],' + inertJson(tail).slice(1) + '\n');
    } else {
      await out.write(verdictText(o.db, c, verdict, tally, show, own));
      let n = 0;
      for (const f of iterateExplainFlows(db, s, !!o.all)) {
        n++;
        await out.write(flowText(f, show, [...own, f.client]));
        if (out.closed) return;
      }
      if (!n) await out.write(`No ${o.all ? '' : 'mining or suspect '}flows${o.all ? '' : ' (--all lists every flow)'}\n\n`);
      await out.write(hashrateText(hashrate));
      await out.write(attributionText(attribution, c, show, own));
    }
  } catch (e) {
    throw reportReadError(o.db, e);
  } finally {
    out.end();
    endRead();
    db.close();
  }
}
