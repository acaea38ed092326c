/**
 * Confirmed pools as an endpoint list in the schema of `rules/endpoints/*.yaml` (see
 * rules/endpoints/README.md): file-level `source`, `added`, `kind: pool`, one `ip` + `port` entry
 * per confirmed server with its own date and the probe's evidence as `source`. Pure text in, text
 * out; the command reads and writes the file.
 */
import { canonicalAddress, parseAddressBytes } from '../ip.js';
import { UsageError } from '../errors.js';
import { dayOf } from '../i18n.js';
import { compileEndpointFile } from '../rules/endpoints.js';
import { FileContext, dateText, isObj } from '../rules/yamlfile.js';
import type { TargetOutcome } from './probe.js';
import { PROBE_REQUESTS } from './requests.js';

/** One entry as written: the keys of an endpoint entry (rules/endpoints/README.md). */
export interface IntelEntry {
  domain?: string;
  suffix?: string;
  ip?: string;
  cidr?: string;
  port?: number;
  pool: string;
  coins?: string[];
  ports?: number[];
  kind?: string;
  added?: string;
  source?: string;
  reference?: string;
}

export interface IntelFile {
  source: string;
  added: string;
  kind: string;
  entries: IntelEntry[];
}

const KEY_ORDER = ['domain', 'suffix', 'ip', 'cidr', 'port', 'pool', 'coins', 'ports', 'kind', 'added', 'source', 'reference'] as const;

/** `probe-YYYY-MM-DD.yaml` for a time (UTC date). */
export function intelFileName(time: number, tz = 'UTC'): string {
  return `probe-${dayOf(time, tz)}.yaml`;
}

/**
 * One entry per confirmed target. Its `source` names the first confirming probe (in sending order):
 * what the server answered, to which request, the rule with its revision and the reply excerpt;
 * `coins` are those the confirming rules name.
 */
export function intelEntries(outcomes: readonly TargetOutcome[], tz = 'UTC'): IntelEntry[] {
  const out: IntelEntry[] = [];
  for (const o of outcomes) {
    const pools = o.results.filter((r) => r.status === 'pool');
    const first = pools[0];
    if (!first) continue;
    const coins = [...new Set(pools.map((r) => r.coin).filter((c): c is string => c !== null))].sort();
    const request = PROBE_REQUESTS.find((r) => r.protocol === first.protocol)!;
    const sent = first.sent.length ? first.sent.join(', ') : request.method;
    const e: IntelEntry = { ip: o.target.host, port: o.target.port, pool: 'unknown' };
    if (coins.length) e.coins = coins;
    e.added = dayOf(first.time, tz);
    e.source = `minerwatch probe at ${new Date(first.time).toISOString()}: answered ${first.matched} to ${first.protocol} ${sent} (${first.ruleId}@${first.rev}): ${first.excerpt ?? ''}`;
    out.push(e);
  }
  return out;
}

/**
 * Read an existing intel file, checked with the endpoint validator.
 * @throws UsageError with every problem as file:line when it does not validate.
 */
export function parseIntelFile(text: string, file: string): IntelFile {
  const ctx = new FileContext(file, text);
  const root = ctx.errors.length ? null : (ctx.doc.toJS() as unknown);
  if (!ctx.errors.length) {
    if (!isObj(root)) ctx.err([], '(file)', 'expected an endpoint list: source, added, kind, entries');
    else compileEndpointFile(ctx, root);
  }
  if (ctx.errors.length || !isObj(root)) throw new UsageError(`${file} is not a valid endpoint list, so probe results cannot be merged into it:\n  ${ctx.errors.map((e) => e.message).join('\n  ')}`);
  const entries = (root.entries as unknown[]).map((raw) => {
    const r = raw as Record<string, unknown>;
    const e: Record<string, unknown> = {};
    for (const k of KEY_ORDER) if (r[k] !== undefined) e[k] = k === 'added' ? dateText(r[k]) : r[k];
    return e as unknown as IntelEntry;
  });
  return { source: root.source as string, added: dateText(root.added) as string, kind: (root.kind as string | undefined) ?? 'pool', entries };
}

function entryKey(e: IntelEntry): string {
  if (e.domain !== undefined) return `domain ${e.domain}`;
  if (e.suffix !== undefined) return `suffix ${e.suffix}`;
  // Checked by the endpoint validator: the text the compiled list keys it by.
  if (e.ip !== undefined) return `ip ${canonicalAddress(e.ip) ?? e.ip} ${e.port ?? ''}`;
  return `cidr ${e.cidr}`;
}

/** Address as a family and a number, for numeric order. */
function addressKey(ip: string): [number, bigint] {
  const bytes = new Uint8Array(16);
  parseAddressBytes(ip, bytes);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  // IPv4 first, an IPv4-mapped address with it (its text is the IPv4 one): IPv4 comes as ::ffff:a.b.c.d, so n says which.
  return [n >> 32n === 0xffffn ? 4 : 6, n];
}

function cmp<T extends string | number | bigint>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order rules/endpoints/README.md asks for: domains, suffixes, ips (numeric, then port), cidrs. */
export function compareEntries(a: IntelEntry, b: IntelEntry): number {
  const type = (e: IntelEntry): number => (e.domain !== undefined ? 0 : e.suffix !== undefined ? 1 : e.ip !== undefined ? 2 : 3);
  const ta = type(a);
  const tb = type(b);
  if (ta !== tb) return ta - tb;
  if (ta === 0) return cmp(a.domain!, b.domain!);
  if (ta === 1) return cmp(a.suffix!, b.suffix!);
  if (ta === 2) {
    const [fa, na] = addressKey(a.ip!);
    const [fb, nb] = addressKey(b.ip!);
    return fa - fb || cmp(na, nb) || (a.port ?? -1) - (b.port ?? -1);
  }
  const [pa, la] = a.cidr!.split('/');
  const [pb, lb] = b.cidr!.split('/');
  const [fa, na] = addressKey(pa!);
  const [fb, nb] = addressKey(pb!);
  return fa - fb || cmp(na, nb) || Number(la) - Number(lb);
}

/**
 * Add entries to a file (or start one): an endpoint already listed keeps its entry (the date it was
 * first confirmed), nothing is listed twice, and entries are sorted.
 */
export function mergeIntel(existing: IntelFile | null, entries: readonly IntelEntry[], meta: { source: string; added: string }): IntelFile {
  const byKey = new Map<string, IntelEntry>();
  for (const e of [...(existing?.entries ?? []), ...entries]) if (!byKey.has(entryKey(e))) byKey.set(entryKey(e), e);
  return {
    source: existing?.source ?? meta.source,
    added: existing?.added ?? meta.added,
    kind: existing?.kind ?? 'pool',
    entries: [...byKey.values()].sort(compareEntries),
  };
}

/**
 * A JSON string is a YAML double-quoted scalar, but YAML also refuses C1 controls and non-characters
 * (excerpts come off the wire), so those are escaped as well.
 */
function quoted(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\u009f\ufeff\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Strings double-quoted, JSON-style, as the README asks; dates bare. */
function scalar(key: string, v: unknown): string {
  if (key === 'added') return String(v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === 'number' ? String(x) : quoted(String(x)))).join(', ')}]`;
  return quoted(String(v));
}

/** The file's text. */
export function renderIntelFile(f: IntelFile): string {
  const lines = [
    '# Servers that answered `minerwatch probe` as mining pools: a reply to one of its requests matched',
    '# a server-side rule of the rule set. Each entry says when, to what and with which rule; addresses',
    '# change hands, so treat an entry as true on its date and probe again before relying on it.',
    `source: ${quoted(f.source)}`,
    `added: ${f.added}`,
    `kind: ${f.kind}`,
  ];
  if (!f.entries.length) lines.push('entries: []');
  else {
    lines.push('entries:');
    for (const e of f.entries) {
      let first = true;
      for (const k of KEY_ORDER) {
        const v = e[k];
        if (v === undefined) continue;
        lines.push(`${first ? '  - ' : '    '}${k}: ${scalar(k, v)}`);
        first = false;
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
