/**
 * The live collector: NetFlow v5/v9 and IPFIX datagrams received over UDP are decoded, paired into
 * flows, classified and written to the report as they finish, like nfcapd feeding a classifier.
 * It is the pipeline (src/pipeline.ts) with the UDP datagram source and the flow table's export
 * flows only. Flows finish when no record has joined them for the join gap (by the exporters'
 * clocks) or, so that a quiet exporter cannot hold flows forever, for the join gap by the
 * collector's own clock.
 *
 * Memory is bounded by the options, whatever arrives: at most `maxFlows` open flows (the least
 * recently joined is finished early beyond it, and written), `maxTemplates` templates and as many
 * keys of data sets waiting for their template, `maxPendingPerTemplate` waiting sets per key and
 * 16 MiB of waiting bytes in all (src/decode/templates.ts); anomalies keep counts and 5 samples per
 * code. Datagrams are decoded as they arrive, none is queued.
 */
import { Anomalies } from './anomalies.js';
import type { Classifier } from './classify/classify.js';
import { DEFAULT_EXPORT_OPTIONS, type ExportJoinOptions } from './flow/table.js';
import { DatagramSource, Pipeline } from './pipeline.js';
import type { RuleSet } from './rules/schema.js';
import type { FlowRecord, Verdict } from './types.js';

/** What the collector holds at most (see the module comment). */
export interface CollectorLimits extends ExportJoinOptions {
  /** Templates kept, over all exporters and observation domains (least recently stored dropped). */
  maxTemplates: number;
  /** Data sets buffered per unknown template key until its template arrives. */
  maxPendingPerTemplate: number;
}

/**
 * The collector's defaults: smaller than a file scan's (which reads a bounded input) because a
 * listening socket takes whatever anyone sends for as long as it runs.
 */
export const DEFAULT_COLLECT_LIMITS: CollectorLimits = { ...DEFAULT_EXPORT_OPTIONS, maxFlows: 1 << 16, maxTemplates: 1024, maxPendingPerTemplate: 16 };

export interface CollectorCounters {
  datagrams: number;
  notExport: number;
  records: number;
  templates: number;
  templateMisses: number;
  pendingDropped: number;
  flows: number;
  miningFlows: number;
  activeFlows: number;
  /** Flows finished early because `maxFlows` were open (each still classified and written). */
  evictedFlows: number;
  anomalies: number;
}

export class Collector {
  readonly anomalies = new Anomalies();
  readonly classifier: Classifier;
  readonly pipeline: Pipeline;
  private readonly udp: DatagramSource;
  private evictedCounted = 0;

  constructor(
    rules: RuleSet,
    consume: (f: FlowRecord, v: Verdict) => void,
    opts: Partial<CollectorLimits> = {},
    readonly source = 'udp',
  ) {
    const limits = { ...DEFAULT_COLLECT_LIMITS, ...opts };
    // Export flows only: no room is kept for packet flows.
    this.pipeline = new Pipeline(rules, { flow: { maxFlows: 0 }, exports: { joinGapMs: limits.joinGapMs, maxFlows: limits.maxFlows } });
    this.pipeline.addSink((f, v) => consume(f, v));
    this.classifier = this.pipeline.classifier;
    this.udp = new DatagramSource(this.pipeline, this.anomalies, { maxTemplates: limits.maxTemplates, maxPendingPerTemplate: limits.maxPendingPerTemplate }, source);
  }

  /** One received datagram from `exporter`. */
  datagram(buf: Uint8Array, exporter: string, nowMs: number): void {
    this.udp.datagram(buf, exporter, nowMs);
  }

  /** Finish idle flows: by the exporters' clocks, and by ours (`nowMs`) for quiet exporters. */
  tick(nowMs: number): void {
    this.udp.tick(nowMs);
  }

  /** Finish every open flow (on shutdown), and count the flows finished early under `flow.evicted`. */
  flush(): void {
    this.pipeline.flush();
    const evicted = this.pipeline.table.evicted;
    this.anomalies.addCount('flow.evicted', evicted - this.evictedCounted);
    this.evictedCounted = evicted;
  }

  counters(): CollectorCounters {
    const s = this.udp.datagrams.decoder.stats;
    return {
      datagrams: this.udp.received,
      notExport: this.udp.notExport,
      records: s.records,
      templates: s.templates,
      templateMisses: s.templateMisses,
      pendingDropped: s.pendingDropped,
      flows: this.pipeline.flows,
      miningFlows: this.pipeline.miningFlows,
      activeFlows: this.pipeline.table.active,
      evictedFlows: this.pipeline.table.evicted,
      anomalies: this.anomalies.total,
    };
  }
}
