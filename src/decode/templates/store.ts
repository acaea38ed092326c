/**
 * The template store shared by NetFlow v9 and IPFIX: templates per (protocol version, exporter,
 * observation domain / source id, template id), data sets held until their template arrives, and
 * the sampling and clock state that options data teaches per domain.
 *
 * A template that arrives again replaces the old one (RFC 7011 §8.1 "template refresh" over UDP,
 * RFC 3954 §5.2). The store is bounded: beyond `maxTemplates` the least recently defined template
 * is forgotten.
 *
 * Data sets whose template has not been seen are buffered, bounded, and decoded when the template
 * arrives. Exporters over UDP send templates only periodically (every few minutes, or every N
 * packets), so a collector started mid-stream, or one that lost the datagram carrying the
 * template, would otherwise throw away every record until the next refresh — for a busy exporter
 * that is minutes of flows, exactly the minutes a short mining session may sit in. The buffer is
 * bounded three ways (sets per template key, number of keys, total bytes) because an exporter that
 * never sends the template, or a flood of forged datagrams, must not grow memory without limit;
 * what falls beyond the bound is counted as `pendingDropped`.
 *
 * @see RFC 3954 §5.2, §5.3 (v9 template and options template FlowSets), §9 (collector side)
 * @see RFC 7011 §3.4 (template records), §8 (template management)
 */
import type { ExportStats } from '../flowexport.js';
import type { CompiledTemplate } from './compile.js';

/** Length value that marks an IPFIX variable-length field in a template. @see RFC 7011 §7 */
export const VARLEN = 65535;

/** One field specifier of a template. */
export interface FieldSpec {
  id: number;
  /** Private Enterprise Number, 0 for IANA elements (and always 0 in NetFlow v9). */
  enterprise: number;
  /** Length in bytes; {@link VARLEN} for an IPFIX variable-length field. */
  length: number;
}

/** A (data or options) template as received. */
export interface Template {
  version: 9 | 10;
  id: number;
  options: boolean;
  /** Number of leading scope fields (0 for data templates). In v9 these are scope types, not IEs. */
  scopeCount: number;
  fields: FieldSpec[];
  /** Smallest record length (a variable-length field counts 1 byte). Always > 0. */
  minLength: number;
  /** True when any field is variable-length. */
  varlen: boolean;
  /** Decoding program, compiled from `fields` on first use. */
  compiled?: CompiledTemplate;
  /** Its key in the store, set when stored (a refresh then builds no key). */
  storeKey?: string;
}

/** What the data records of one message need from its header. */
export interface MessageHeader {
  version: 9 | 10;
  exporter: string;
  domain: number;
  /** Export time, Unix ms (v9 unix_secs, IPFIX export time). */
  exportMs: number;
  /** v9 header sysUptime in ms; null for IPFIX. */
  sysUptime: number | null;
}

/** A data set held until its template arrives: a copy of the set body and its header context. */
export interface PendingSet {
  header: MessageHeader;
  templateId: number;
  body: Uint8Array;
  /** Offset of the set body within its datagram (for anomalies). */
  offset: number;
  /** The origin and input the caller gave its datagram ({@link RecordContext.origin}): where the set was read. */
  origin: number;
  input: string;
}

/** Sampling and clock state learnt from options data, per (version, exporter, domain). */
export interface DomainState {
  /** Sampling interval from options data without a sampler id, or the last one seen. */
  sampling: number | null;
  /** Sampling interval per sampler / selector id. */
  samplers: Map<number, number>;
  /** systemInitTimeMilliseconds from options data (IPFIX sysUpTime-relative times). */
  sysInitMs: number | null;
}

/** Bytes of buffered data sets held at once, over all templates. */
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Sampler ids remembered per domain. */
export const MAX_SAMPLERS = 256;

function key(version: number, exporter: string, domain: number, id: number): string {
  return `${version}|${domain}|${id}|${exporter}`;
}

function domainKey(version: number, exporter: string, domain: number): string {
  return `${version}|${domain}|${exporter}`;
}

/** Bounded cache of templates, buffered data sets and per-domain sampling state. */
export class TemplateCache {
  private readonly templates = new Map<string, Template>();
  private readonly pending = new Map<string, PendingSet[]>();
  private readonly domains = new Map<string, DomainState>();
  private pendingBytes = 0;

  constructor(
    readonly maxTemplates: number,
    readonly maxPendingPerTemplate: number,
    private readonly stats: ExportStats,
  ) {}

  get size(): number {
    return this.templates.size;
  }

  /**
   * The last template found (data sets of one exporter mostly use one or two templates): its
   * lookup skips building the key. Cleared whenever a template is stored, withdrawn or evicted.
   */
  private hit: Template | undefined = undefined;
  private hitExporter = '';
  private hitDomain = -1;
  private hitVersion = 0;
  private hitId = -1;

  get(version: 9 | 10, exporter: string, domain: number, id: number): Template | undefined {
    const h = this.hit;
    if (h !== undefined && id === this.hitId && domain === this.hitDomain && version === this.hitVersion && exporter === this.hitExporter) return h;
    const t = this.templates.get(key(version, exporter, domain, id));
    if (t !== undefined) {
      this.hit = t;
      this.hitExporter = exporter;
      this.hitDomain = domain;
      this.hitVersion = version;
      this.hitId = id;
    }
    return t;
  }

  /** Store (or refresh) a template and return the data sets that were waiting for it. */
  set(exporter: string, domain: number, t: Template): PendingSet[] {
    const k = key(t.version, exporter, domain, t.id);
    this.hit = undefined;
    // Exporters re-send their templates every few seconds: an unchanged one keeps its compiled form.
    const old = this.templates.get(k);
    if (old !== undefined && old.compiled !== undefined && t.compiled === undefined && sameFields(old, t)) t.compiled = old.compiled;
    t.storeKey = k;
    this.templates.delete(k);
    this.templates.set(k, t);
    this.newest = t;
    this.stats.templates++;
    while (this.templates.size > this.maxTemplates) {
      const oldest = this.templates.keys().next().value;
      if (oldest === undefined) break;
      this.templates.delete(oldest);
    }
    const waiting = this.pending.get(k);
    if (!waiting) return [];
    this.pending.delete(k);
    for (const s of waiting) this.pendingBytes -= s.body.length;
    return waiting;
  }

  /** The template stored last (the newest in the eviction order). */
  private newest: Template | undefined = undefined;

  /**
   * Count a template received again with the same fields as stored template `t` (found with
   * {@link get}), and make it the most recently defined, as {@link set} would; it builds nothing.
   * No data set can be waiting for a template that is stored.
   */
  refresh(t: Template): void {
    this.stats.templates++;
    if (t === this.newest) return;
    const k = t.storeKey;
    if (k === undefined || this.templates.get(k) !== t) return;
    this.templates.delete(k);
    this.templates.set(k, t);
    this.newest = t;
  }

  /** Forget one template. */
  withdraw(version: 9 | 10, exporter: string, domain: number, id: number): void {
    this.hit = undefined;
    this.templates.delete(key(version, exporter, domain, id));
  }

  /** Forget every data (or every options) template of one exporter and domain. */
  withdrawAll(version: 9 | 10, exporter: string, domain: number, options: boolean): void {
    this.hit = undefined;
    const prefix = `${version}|${domain}|`;
    for (const [k, t] of this.templates) {
      if (k.startsWith(prefix) && k.endsWith(`|${exporter}`) && k === key(version, exporter, domain, t.id) && t.options === options) {
        this.templates.delete(k);
      }
    }
  }

  /** Buffer a data set whose template is unknown; false (and counted) when a bound is reached. */
  hold(exporter: string, domain: number, set: PendingSet): boolean {
    const k = key(set.header.version, exporter, domain, set.templateId);
    let list = this.pending.get(k);
    if (
      (list && list.length >= this.maxPendingPerTemplate) ||
      this.pendingBytes + set.body.length > MAX_PENDING_BYTES ||
      this.maxPendingPerTemplate <= 0
    ) {
      this.stats.pendingDropped++;
      return false;
    }
    if (!list) {
      if (this.pending.size >= this.maxTemplates) {
        const oldest = this.pending.keys().next();
        if (!oldest.done) {
          const dropped = this.pending.get(oldest.value) ?? [];
          for (const s of dropped) this.pendingBytes -= s.body.length;
          this.stats.pendingDropped += dropped.length;
          this.pending.delete(oldest.value);
        }
      }
      list = [];
      this.pending.set(k, list);
    }
    list.push(set);
    this.pendingBytes += set.body.length;
    return true;
  }

  /** Sampling/clock state of one domain (created on first use, bounded like the templates). */
  domain(version: 9 | 10, exporter: string, domain: number): DomainState {
    const last = this.lastDomain;
    if (last !== undefined && domain === this.lastDomainId && version === this.lastDomainVersion && exporter === this.lastDomainExporter) return last;
    const k = domainKey(version, exporter, domain);
    let d = this.domains.get(k);
    if (!d) {
      if (this.domains.size >= this.maxTemplates) {
        const oldest = this.domains.keys().next();
        if (!oldest.done) this.domains.delete(oldest.value);
      }
      d = { sampling: null, samplers: new Map(), sysInitMs: null };
      this.domains.set(k, d);
    }
    // Domains are only evicted above, when another one is made: the remembered one is then `d`.
    this.lastDomain = d;
    this.lastDomainExporter = exporter;
    this.lastDomainId = domain;
    this.lastDomainVersion = version;
    return d;
  }

  private lastDomain: DomainState | undefined = undefined;
  private lastDomainExporter = '';
  private lastDomainId = -1;
  private lastDomainVersion = 0;
}

/** Whether two templates have the same fields (a refresh of the same template): then they compile alike. */
export function sameFields(a: Template, b: Template): boolean {
  if (a.version !== b.version || a.options !== b.options || a.scopeCount !== b.scopeCount || a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!;
    const y = b.fields[i]!;
    if (x.id !== y.id || x.enterprise !== y.enterprise || x.length !== y.length) return false;
  }
  return true;
}

/**
 * Most fields one template may hold. Exporters send tens (nfdump's largest, all of Cisco's and
 * Juniper's well under 100; IPFIX with enterprise fields a little more); a datagram could declare
 * 16,000. The cap keeps the template cache's memory (`maxTemplates` templates) bounded by the
 * option, not by what a sender claims.
 */
export const MAX_TEMPLATE_FIELDS = 512;

/** Build a template from its field list; null when no record could ever have a byte. */
export function makeTemplate(version: 9 | 10, id: number, options: boolean, scopeCount: number, fields: FieldSpec[]): Template | null {
  let minLength = 0;
  let varlen = false;
  for (const f of fields) {
    if (f.length === VARLEN && version === 10) {
      varlen = true;
      minLength += 1;
    } else {
      minLength += f.length;
    }
  }
  if (minLength === 0) return null;
  return { version, id, options, scopeCount, fields, minLength, varlen };
}
