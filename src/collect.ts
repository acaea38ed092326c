/**
 * The live collector: NetFlow v5/v9 and IPFIX datagrams received over UDP are decoded, paired into
 * flows, classified and written to the report as they finish, like nfcapd feeding a classifier.
 * Flows finish when no record has joined them for the join gap (by the exporters' clocks) or, so
 * that a quiet exporter cannot hold flows forever, for the join gap by the collector's own clock.
 */
import { Anomalies } from './anomalies.js';
import { Classifier } from './classify/classify.js';
import { DEFAULT_EXPORT_OPTIONS, ExportFlowAssembler, type ExportAssemblerOptions } from './flow/exports.js';
import { ExportDatagrams } from './flow/exportsource.js';
import type { RuleSet } from './rules/schema.js';
import type { FlowRecord, Verdict } from './types.js';

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
  anomalies: number;
}

export class Collector {
  readonly anomalies = new Anomalies();
  readonly classifier: Classifier;
  private readonly assembler: ExportFlowAssembler;
  private readonly datagrams = new ExportDatagrams();
  private notExport = 0;
  private received = 0;
  private miningFlows = 0;
  private flows = 0;

  constructor(
    rules: RuleSet,
    consume: (f: FlowRecord, v: Verdict) => void,
    opts: Partial<ExportAssemblerOptions> = {},
    readonly source = 'udp',
  ) {
    this.classifier = new Classifier(rules);
    this.assembler = new ExportFlowAssembler({ ...DEFAULT_EXPORT_OPTIONS, servicePorts: this.classifier.servicePorts, ...opts }, (f) => {
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

  /** Finish every open flow (on shutdown). */
  flush(): void {
    this.assembler.flush();
  }

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
      anomalies: this.anomalies.total,
    };
  }

  private assemblerGap(): number {
    return this.assembler.joinGapMs;
  }
}
