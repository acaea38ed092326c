/** `minerwatch collect`: a live NetFlow/IPFIX collector writing the report as it goes. */
import { loadRunContext } from '../aggregate/load.js';
import { SubscriberMap } from '../aggregate/subscriber.js';
import { Collector, DEFAULT_COLLECT_LIMITS } from '../collect.js';
import { ReportError } from '../errors.js';
import { listenUdp, parseListen } from '../io/udp.js';
import { LiveRollup } from '../report/live-rollup.js';
import { policyRedecide } from '../report/policy-redecide.js';
import { redecideReport } from '../report/redecide.js';
import { openReport, ReportWriter } from '../report/writer.js';
import { loadResolverLogs } from '../scan.js';
import { stopOnSignals, type Io } from './main.js';
import { toolVersion } from './paths.js';
import { loadRulesForScan } from './rules.js';
import { keepFlow, stderrNote } from './scan.js';
import { endpointText } from '../ip.js';

export interface CollectOptions {
  listen: string;
  db: string;
  subscriberNet: string[];
  rules: string;
  lenientRules?: boolean;
  commitInterval: number;
  statsInterval: number;
  joinGap: number;
  quiet?: boolean;
  keepFlows: 'auto' | 'all' | 'flagged';
  /** Open flows held at once (default {@link DEFAULT_COLLECT_LIMITS}.maxFlows); beyond it the least recently joined is finished and written. */
  maxFlows?: number;
  dnsLog?: string[];
  intel?: string[];
  /** Subscriber directory CSV, as for scan. */
  subscribers?: string;
  natLog?: string[];
  natDeterministic?: string[];
  natIpfix?: string[];
  /** RADIUS accounting files, as for scan. */
  radius?: string[];
}

export async function runCollect(o: CollectOptions, io: Io): Promise<number> {
  const { host, port } = parseListen(o.listen);
  const loaded = loadRulesForScan(o.rules, o.lenientRules ?? false, io);
  // The directory and every NAT source are checked before the report is opened.
  const { ruleSet, nets, directory, nat, radius, intel } = await loadRunContext(loaded.ruleSet, o, stderrNote(io));
  const db = openReport(o.db);
  // Collected flows are mapped to subscribers as a scan maps them: nets, directory, NAT, RADIUS.
  const subs = new SubscriberMap(nets, directory, nat, radius);
  const writer = new ReportWriter(db, {
    toolVersion: toolVersion(),
    rulesetDigest: ruleSet.digest,
    rules: ruleSet.payload.map((r) => `${r.id}@${r.rev}`).join(','),
    algorithms: ruleSet.algorithms,
    command: 'collect',
    // As a scan records them: the intel by content, so the run can be reproduced.
    options: {
      collect: o.listen,
      subscriberNets: o.subscriberNet,
      commitInterval: o.commitInterval,
      joinGap: o.joinGap,
      maxFlows: o.maxFlows ?? DEFAULT_COLLECT_LIMITS.maxFlows,
      lenientRules: !!o.lenientRules,
      keepFlows: o.keepFlows,
      dnsLogs: o.dnsLog ?? [],
      intel: intel.map((x) => ({ path: x.path, kind: x.kind, entries: x.entries, sha256: x.sha256 ?? null })),
    },
  });
  if (directory && o.subscribers) writer.writeDirectory(directory.entries, o.subscribers);
  const inputId = writer.addInput(`udp://${o.listen}`);
  // The commit's subscribers are settled at every commit as the close settles the report (peer
  // evidence, evidence added up), so the watch list is current while the collector runs;
  // `collector` exists by the first commit.
  const live = new LiveRollup(db, {
    redecide: policyRedecide(ruleSet.policy),
    decideAgain: (d, subscribers) => void redecideReport(d, collector.classifier, { recompute: false, subscribers }),
  });
  const collector: Collector = new Collector(
    ruleSet,
    (f, v) => {
      if (!keepFlow(o.keepFlows, f.source, v.label)) return;
      const who = subs.resolve(f);
      writer.addFlow(f, v, inputId, who.subscriber, who.nat);
      live.saw(who.subscriber);
    },
    { joinGapMs: o.joinGap * 1000, maxFlows: o.maxFlows ?? DEFAULT_COLLECT_LIMITS.maxFlows },
    `udp://${o.listen}`,
  );
  // Resolver logs of the period, read before the first datagram is classified.
  for (const l of await loadResolverLogs(collector.classifier, o.dnsLog ?? []))
    io.err(l.error ? `minerwatch: --dns-log ${l.error}\n` : `minerwatch: ${l.path}: ${l.format} resolver log, ${l.lookups} answered lookup(s)\n`);
  const { socket, address, port: bound } = await listenUdp(host, port, (buf, from) => collector.datagram(buf, from, Date.now()));
  io.err(`minerwatch: collecting NetFlow v5/v9 and IPFIX on ${endpointText(address, bound)} into ${o.db} (commit every ${o.commitInterval} s; Ctrl-C to stop)\n`);
  /** Commits made (one every interval, whether or not a flow had finished since the last). */
  let commits = 0;
  const line = (): string => {
    const c = collector.counters();
    return `datagrams ${c.datagrams} (not export ${c.notExport}), records ${c.records}, templates ${c.templates}, template misses ${c.templateMisses}, dropped before template ${c.pendingDropped}, flows ${c.flows} (mining ${c.miningFlows}, open ${c.activeFlows}, finished early ${c.evictedFlows}), anomalies ${c.anomalies}, commits ${commits}`;
  };
  // A commit that cannot be written (disk full, I/O error) stops the collector with one clear line
  // (exit 3); what earlier commits wrote stays, and the run is found dead and marked by the next scan.
  // A commit writes the flows finished since the last one, then rolls up their subscribers.
  let writeError: Error | null = null;
  let stopNow: (() => void) | null = null;
  const commit = (): void => {
    if (writeError) return;
    try {
      collector.tick(Date.now());
      writer.flush();
      live.commit();
      commits++;
    } catch (e) {
      writeError = e as Error;
      stopNow?.();
    }
  };
  const commitTimer = setInterval(commit, o.commitInterval * 1000);
  const statsTimer = o.quiet ? null : setInterval(() => io.err(`minerwatch: ${line()}\n`), o.statsInterval * 1000);
  // The first signal stops collecting; the open flows are then finished and written without a
  // pause, so there is nothing for a second signal to cut short.
  const stop = stopOnSignals({ first: (sig) => io.err(`minerwatch: ${sig}: stopping, finishing open flows\n`) });
  await new Promise<void>((resolve) => {
    stop.signal.addEventListener('abort', () => resolve(), { once: true });
    stopNow = resolve;
  });
  await stop.release();
  clearInterval(commitTimer);
  if (statsTimer) clearInterval(statsTimer);
  socket.close();
  if (writeError) {
    writer.abandon();
    db.close();
    throw new ReportError(`cannot write report ${o.db} (collecting on ${o.listen}): ${(writeError as Error).message}; the flows of earlier commits are kept, the collector stopped: free space and start it again`);
  }
  collector.flush();
  const c = collector.counters();
  writer.finishInput(inputId, null, { packets: c.datagrams, wireBytes: 0, transportPackets: 0, nonIp: 0, ipOther: 0, fragments: 0, malformed: 0, records: c.records, exportPackets: c.datagrams - c.notExport }, null);
  writer.writeAnomalies(inputId, collector.anomalies);
  writer.finish({ packets: c.datagrams, anomalies: collector.anomalies.total, interrupted: false }, policyRedecide(ruleSet.policy), (d) => {
    redecideReport(d, collector.classifier, { recompute: false });
  });
  db.close();
  io.err(`minerwatch: ${line()}\n`);
  return 0;
}
