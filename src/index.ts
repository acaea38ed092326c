/**
 * minerwatch as a library: the stages the CLI is made of, grouped as the pipeline runs
 * (io → decode → flow → classify → aggregate → report). Named re-exports only; nothing here runs on
 * import. The CLI (`bin/minerwatch`) is a thin shell over the same functions.
 *
 * @example
 * ```ts
 * import { loadRules, DEFAULT_RULES_DIR, scanInputs } from 'minerwatch';
 * const { ruleSet } = loadRules(DEFAULT_RULES_DIR);
 * const summary = await scanInputs(['capture.pcap'], ruleSet, (flow, verdict) => {
 *   if (verdict.label === 'mining') console.log(flow.client, '→', flow.server, verdict.reason);
 * });
 * ```
 */

// Rules: signatures, pool endpoints and names, policy, algorithms.
export { DEFAULT_RULES_DIR } from './cli/paths.js';
export { loadRuleDir as loadRules } from './cli/rules.js';
export { compileRules, type LoadReport } from './rules/loader.js';
export type { RuleSet } from './rules/schema.js';

// Pipeline: inputs in, classified flows out.
export { scanInputs, loadResolverLogs, type ScanOptions, type ScanSummary, type InputSummary, type FlowConsumer, type DnsLogSummary } from './scan.js';
export { Pipeline, DatagramSource, jsonLinesSink, type FlowSink, type PipelineOptions, type ScanHooks } from './pipeline.js';
export { Collector, DEFAULT_COLLECT_LIMITS, type CollectorLimits, type CollectorCounters } from './collect.js';

// io: captures, flow exports and resolver logs, recognised by content.
export { readCapture, sniffFormat, type InputInfo, type InputSink } from './io/input.js';
export { readDnsLog, sniffDnsLog, type DnsLookup, type DnsLogFormat, type DnsLogInfo } from './io/dnslog.js';

// decode: wire formats.
export { FlowExportDecoder, looksLikeFlowExport, type ExportRecord, type ExportAnomaly, type ExportStats } from './decode/flowexport.js';
export { decodeDns, decodeDnsOverTcp, type DnsMessage } from './decode/dns.js';
export { formatIpv4, formatIpv6, formatIpv6Words, ipv4ToInt } from './ip.js';

// flow: the one flow table (packets and export records), and the record it takes from exports.
export { FlowTable, DEFAULT_FLOW_OPTIONS, DEFAULT_EXPORT_OPTIONS, type FlowTableOptions, type ExportJoinOptions, type ExportFlowInput, type NumericExportRecord, type ExportCounters } from './flow/table.js';

// classify: a flow's verdict with its evidence.
export { Classifier } from './classify/classify.js';

// aggregate: who a flow belongs to (subscriber nets, directory, CGNAT, RADIUS accounting) and what is loaded for a run.
export { loadRunContext, type LoadOptions, type RunContext } from './aggregate/load.js';
export { SubscriberMap, parseSubscriberNets } from './aggregate/subscriber.js';
export { RadiusIndex, parseRadiusLog, parseRadiusDetail, parseRadiusCsv, radiusSessionsFromEvents, type RadiusSession, type RadiusResult } from './aggregate/radius.js';

// report: the SQLite report, its readers and its state.
export { openReport, ReportWriter, type RunInfo, type RunClose } from './report/writer.js';
export { policyRedecide } from './report/policy-redecide.js';
export { SCHEMA_VERSION } from './report/schema.js';
export { summarize, type Summary } from './report/summary.js';
export { iterateFlows, iterateWatchlist, type FlowRow, type WatchRow, type WatchFilter } from './report/queries.js';
export { incompleteInputs, describeIncomplete, type IncompleteInput } from './report/runs.js';
export { mergeReport } from './report/merge.js';
export { renderHtml, type HtmlOptions } from './report/html.js';
export { findExplainCandidates, explainVerdict, explainTally, iterateExplainFlows, explainHashrate, explainAttribution, attributionSteps, type ExplainSubject } from './report/explain.js';

// Errors and anomalies.
export { DecodeError, InputError, ReportError, RuleError, UsageError } from './errors.js';
export { Anomalies, ANOMALY_CODES, type AnomalyCode, type AnomalySample } from './anomalies.js';

// Types shared by the stages.
export type { FlowRecord, Verdict, Evidence, Attributes, Label, Confidence, Transport, InputFormat, ShareCounts } from './types.js';
