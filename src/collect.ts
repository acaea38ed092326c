/**
 * The live collector: NetFlow v5/v9 and IPFIX datagrams received over UDP are decoded, paired into
 * flows, classified and written to the report as they finish, like nfcapd feeding a classifier.
 * Flows finish when no record has joined them for the join gap (by the exporters' clocks) or, so
 * that a quiet exporter cannot hold flows forever, for the join gap by the collector's own clock.
 *
 * Memory is bounded by the options, whatever arrives: at most `maxFlows` open flows (the least
 * recently joined is finished early beyond it, and written), `maxTemplates` templates and as many
 * keys of data sets waiting for their template, `maxPendingPerTemplate` waiting sets per key and
 * 16 MiB of waiting bytes in all (src/decode/templates.ts); anomalies keep counts and 5 samples per
 * code. Datagrams are decoded as they arrive, none is queued.
 */
import { Anomalies } from './anomalies.js';
import { Classifier } from './classify/classify.js';
import { DEFAULT_EXPORT_OPTIONS, ExportFlowAssembler, type ExportAssemblerOptions } from './flow/exports.js';
import { ExportDatagrams } from './flow/exportsource.js';
import type { RuleSet } from './rules/schema.js';
import type { FlowRecord, Verdict } from './types.js';

/** What the collector holds at most (see the module comment). */
export interface CollectorLimits extends ExportAssemblerOptions {
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
  private readonly assembler: ExportFlowAssembler;
  private readonly datagrams: ExportDatagrams;
  private notExport = 0;
  private received = 0;
  private miningFlows = 0;
  private flows = 0;

  constructor(
    rules: RuleSet,
    consume: (f: FlowRecord, v: Verdict) => void,
    opts: Partial<CollectorLimits> = {},
    readonly source = 'udp',
  ) {
    const limits = { ...DEFAULT_COLLECT_LIMITS, ...opts };
    this.classifier = new Classifier(rules);
    this.datagrams = new ExportDatagrams({ maxTemplates: limits.maxTemplates, maxPendingPerTemplate: limits.maxPendingPerTemplate });
    this.assembler = new ExportFlowAssembler({ joinGapMs: limits.joinGapMs, maxFlows: limits.maxFlows, servicePorts: this.classifier.servicePorts }, (f) => {
      const v = this.classifier.classify(f);
      this.flows++;
      if (v.label === 'mining') this.miningFlows++;
      consume(f, v);
    });
    this.datagrams.bind(source, this.anomalies, (r) => this.assembler.add(r, 0));
  }

  /** One received datagram from `exporter`. */
  datagram(buf: Uint8Array, exporter: string, nowMs: number): void {
    this.received++;
    this.assembler.arrival = nowMs;
    const before = this.datagrams.decoder.stats.datagrams;
    this.datagrams.datagram(buf, 0, buf.length, exporter, 0);
    if (this.datagrams.decoder.stats.datagrams === before) this.notExport++;
  }

  /** Finish idle flows: by the exporters' clocks, and by ours (`nowMs`) for quiet exporters. */
  tick(nowMs: number): void {
    this.assembler.expire();
    this.assembler.expireBefore(nowMs - this.assemblerGap());
  }

  /** Finish every open flow (on shutdown), and count the flows finished early under `flow.evicted`. */
  flush(): void {
    this.assembler.flush();
    this.anomalies.addCount('flow.evicted', this.assembler.evicted - this.evictedCounted);
    this.evictedCounted = this.assembler.evicted;
  }

  private evictedCounted = 0;

  counters(): CollectorCounters {
    const s = this.datagrams.decoder.stats;
    return {
      datagrams: this.received,
      notExport: this.notExport,
      records: s.records,
      templates: s.templates,
      templateMisses: s.templateMisses,
      pendingDropped: s.pendingDropped,
      flows: this.flows,
      miningFlows: this.miningFlows,
      activeFlows: this.assembler.active,
      evictedFlows: this.assembler.evicted,
      anomalies: this.anomalies.total,
    };
  }

  private assemblerGap(): number {
    return this.assembler.joinGapMs;
  }
}
