/**
 * Dated pool intelligence for `--intel`: folders of endpoint YAML files (the rules/endpoints
 * schema, e.g. what `minerwatch intel resolve` writes) and minerwatch reports, whose proven pool
 * endpoints are learned as IP:port entries dated by the flow that proved them.
 */
import { basename, join } from 'node:path';
import { RuleError } from '../errors.js';
import { sha256OfFile, sniffIntelPath } from '../io/intelpath.js';
import { intelFolderKey, loadCachedIntel, ruleFilesDigest, storeCachedIntel } from '../io/rulecache.js';
import { readRuleFiles, type RuleFile } from '../io/rulefiles.js';
import { readLearnedEndpoints, type LearnedEndpoint } from '../report/learned.js';
import { compileEndpointFile } from './endpoints.js';
import { compareAddresses } from './resolved.js';
import type { EndpointEntry } from './schema.js';
import { COIN_RE, FileContext, isObj } from './yamlfile.js';

/** One `--intel` path as loaded. */
export interface IntelSource {
  path: string;
  kind: 'folder' | 'report';
  /** Entries loaded from it. */
  entries: number;
  /** Report: sha256 of the file. Folder: sha256 over every YAML file's relative path and bytes, in path order (as the rule set digest). */
  sha256?: string;
  /** Entries or endpoints left out because `exclude` answered true for their address. */
  skipped: number;
}

/**
 * Loads intel folders (endpoint YAML files, same schema as rules/endpoints) and minerwatch reports
 * (learned endpoints). Folder entries keep their own `added` and `source`; `ip` entries whose
 * address `exclude` covers are skipped and counted. A report gives one `ip` + `port` entry per
 * server address and port that a mining flow proved with protocol bytes (payload or HTTP evidence),
 * dated (UTC) by the earliest such flow, its source naming the report, its sha256 and flow ids.
 * @throws RuleError with file and line for an invalid YAML file; InputError for a path that is
 * neither a folder nor a SQLite file, or a database that is not a minerwatch report.
 */
export function loadIntel(paths: readonly string[], opts: { exclude: (address: string) => boolean }): { entries: EndpointEntry[]; sources: IntelSource[] } {
  const entries: EndpointEntry[] = [];
  const sources: IntelSource[] = [];
  for (const path of paths) {
    const loaded = sniffIntelPath(path) === 'folder' ? loadIntelFolder(path, opts.exclude) : loadIntelReport(path, opts.exclude);
    entries.push(...loaded.entries);
    sources.push(loaded.source);
  }
  return { entries, sources };
}

function loadIntelFolder(path: string, exclude: (address: string) => boolean): { entries: EndpointEntry[]; source: IntelSource } {
  const files = readRuleFiles(path);
  const sha256 = ruleFilesDigest(files);
  // A folder read before, unchanged, comes compiled from the cache (src/io/rulecache.ts).
  const key = intelFolderKey(path, sha256);
  const compiled = loadCachedIntel(key) ?? compileIntelFolder(path, files, key);
  const entries: EndpointEntry[] = [];
  let skipped = 0;
  for (const e of compiled) {
    if ('ip' in e.match && exclude(e.match.ip)) skipped++;
    else entries.push(e);
  }
  return { entries, source: { path, kind: 'folder', entries: entries.length, sha256, skipped } };
}

/** Every entry of an intel folder's files, cached under `key` when all of them are valid. @throws RuleError as {@link loadIntel} does. */
function compileIntelFolder(path: string, files: readonly RuleFile[], key: string): EndpointEntry[] {
  const errors: RuleError[] = [];
  const entries: EndpointEntry[] = [];
  for (const f of files) {
    const ctx = new FileContext(join(path, f.path), f.text);
    if (!ctx.errors.length) {
      const root = ctx.doc.toJS() as unknown;
      if (!isObj(root)) ctx.err([], '(file)', 'expected an endpoint list: source, added, kind and entries (see rules/endpoints/README.md)');
      else for (const e of compileEndpointFile(ctx, root).good) entries.push(e);
    }
    errors.push(...ctx.errors);
  }
  const first = errors[0];
  if (first) {
    const own = first.message.slice(`${first.file}:${first.line}: ${first.field}: `.length);
    throw new RuleError(first.file, first.line, first.field, errors.length > 1 ? `${own} (${errors.length} errors in intel folder ${path})` : own);
  }
  storeCachedIntel(key, entries);
  return entries;
}

function loadIntelReport(path: string, exclude: (address: string) => boolean): { entries: EndpointEntry[]; source: IntelSource } {
  const sha256 = sha256OfFile(path);
  const { endpoints, skipped } = readLearnedEndpoints(path, exclude);
  const entries = endpoints
    .sort((a, b) => compareAddresses(a.address, b.address) || a.port - b.port)
    .map((ep) => learnedEntry(path, sha256, ep));
  return { entries, source: { path, kind: 'report', entries: entries.length, sha256, skipped } };
}

/** The endpoint entry for one learned server:port; line 0 in its origin: it comes from no text line. */
function learnedEntry(path: string, sha256: string, ep: LearnedEndpoint): EndpointEntry {
  const ids = ep.flowIds.map((id) => `#${id}`).join(', ');
  const more = ep.flows > ep.flowIds.length ? ', …' : '';
  const pools = ep.pools.filter((p) => p !== 'unknown');
  return {
    match: { ip: ep.address, port: ep.port },
    pool: pools.length ? pools.join(' / ') : 'unknown',
    coins: ep.coins.filter((c) => COIN_RE.test(c)).sort(),
    ports: [],
    kind: 'pool',
    source: `learned from report ${path} (sha256 ${sha256.slice(0, 12)}): flows ${ids}${more} (${ep.flows} in all)`,
    added: new Date(ep.firstSeen).toISOString().slice(0, 10),
    reference: null,
    dates: 'observed',
    subdomains: false,
    origin: { file: basename(path), line: 0 },
  };
}
