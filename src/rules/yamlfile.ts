/** Shared YAML handling for rule files: parse with line positions, report errors at file:line. */
import { createRequire } from 'node:module';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { RuleError } from '../errors.js';
import { readTime } from '../io/csv.js';

export const ID_RE = /^[A-Z0-9][A-Z0-9-]{2,63}$/;
export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** A day as rule files write it, YYYY-MM-DD, that the calendar has: 2026-02-30 is refused, not read as March 2. */
export function isDay(x: unknown): x is string {
  return typeof x === 'string' && DATE_RE.test(x) && readTime(x).ok;
}
export const COIN_RE = /^[A-Z0-9]{2,10}$/;

/** Largest rule file parsed: the biggest bundled one is ~170 KiB; a bigger file is a mistake or an attack. */
export const MAX_RULE_FILE_BYTES = 4 << 20;
/** Longest line parsed: bundled lines are under 300 characters. */
export const MAX_RULE_LINE_CHARS = 64 << 10;
/** Deepest flow nesting (`[`/`{`) parsed: the YAML parser's cost grows steeply with it. */
export const MAX_FLOW_DEPTH = 64;
/** Aliases expanded per document: refuses alias bombs ("billion laughs") before they expand. */
export const MAX_ALIAS_COUNT = 1000;

/**
 * Cheap checks that bound the parser's cost, done before parsing: size, line length, binary bytes,
 * flow nesting. Returns the first problem as [line, message], or null.
 */
export function precheckYaml(text: string): [number, string] | null {
  if (text.length > MAX_RULE_FILE_BYTES) return [1, `file is ${text.length} characters; a rule file holds at most ${MAX_RULE_FILE_BYTES}`];
  let line = 1;
  let lineStart = 0;
  let depth = 0;
  let quote = 0;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      if (i - lineStart > MAX_RULE_LINE_CHARS) return [line, `line is ${i - lineStart} characters long; a rule file line holds at most ${MAX_RULE_LINE_CHARS}`];
      line++;
      lineStart = i + 1;
      comment = false;
      // A line starting at column 0 with a plain character ends any flow collection: the depth
      // count must not grow from unbalanced brackets inside plain scalars on many lines.
      const n = text.charCodeAt(i + 1);
      if (quote === 0 && n === n && n !== 32 && n !== 9 && n !== 10 && n !== 13 && n !== 0x5b && n !== 0x7b && n !== 0x5d && n !== 0x7d && n !== 0x2c) depth = 0;
      continue;
    }
    if ((c < 32 && c !== 9 && c !== 13) || c === 0x7f || c === 0xfffd) {
      return [line, c === 0xfffd ? 'bytes that are not UTF-8 text' : `control character 0x${c.toString(16).padStart(2, '0')} at column ${i - lineStart + 1}: expected YAML text`];
    }
    if (comment) continue;
    if (quote !== 0) {
      if (c === quote) quote = 0;
      else if (c === 0x5c && quote === 0x22) i++;
      continue;
    }
    if (c === 0x23 && (i === lineStart || text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9)) comment = true;
    else if ((c === 0x22 || c === 0x27) && (i === lineStart || ' \t[{,:-'.includes(text[i - 1]!))) quote = c;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_FLOW_DEPTH) return [line, `collections nested more than ${MAX_FLOW_DEPTH} deep`];
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  if (text.length - lineStart > MAX_RULE_LINE_CHARS) return [line, `line is ${text.length - lineStart} characters long; a rule file line holds at most ${MAX_RULE_LINE_CHARS}`];
  return null;
}

let yamlModule: typeof import('yaml') | null = null;

/**
 * The yaml library, loaded on first use: a scan whose compiled rules come from the rule cache
 * parses no YAML, and loading the library costs a short scan a tenth of its start-up.
 */
function yaml(): typeof import('yaml') {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

/** One rule file being compiled: its parsed document, line lookup and collected errors. */
export class FileContext {
  readonly lc: LineCounter = new (yaml().LineCounter)();
  readonly doc: Document;
  readonly errors: RuleError[] = [];
  /** The document as plain data; undefined when it has errors. */
  readonly value: unknown;
  constructor(
    readonly file: string,
    text: string,
  ) {
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const bad = precheckYaml(text);
    if (bad) {
      this.doc = new (yaml().Document)(null);
      this.errors.push(new RuleError(file, bad[0], '(file)', bad[1]));
      return;
    }
    try {
      // The core schema only: no custom tags, so a rule file cannot construct objects or code.
      this.doc = yaml().parseDocument(text, { lineCounter: this.lc, uniqueKeys: true, prettyErrors: false, strict: true, schema: 'core' });
    } catch (e) {
      this.doc = new (yaml().Document)(null);
      this.errors.push(new RuleError(file, 1, '(yaml)', `cannot be parsed: ${(e as Error).message}`));
      return;
    }
    for (const e of this.doc.errors) {
      const line = this.lc.linePos(e.pos[0]).line;
      this.errors.push(new RuleError(file, line, '(yaml)', e.message.split('\n')[0] ?? 'invalid YAML'));
    }
    for (const w of this.doc.warnings) {
      const line = this.lc.linePos(w.pos[0]).line;
      this.errors.push(new RuleError(file, line, '(yaml)', w.message.split('\n')[0] ?? 'YAML warning'));
    }
    if (this.errors.length) return;
    try {
      this.value = this.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      // Unresolved aliases and alias bombs surface only when the document is turned into data.
      const m = (e as Error).message;
      const alias = /Unresolved alias[^:]*: (.*)$/.exec(m);
      const at = alias ? this.aliasLine(alias[1]!) : 1;
      this.errors.push(
        new RuleError(
          file,
          at,
          '(yaml)',
          alias ? `alias *${alias[1]} has no anchor &${alias[1]} before it` : /alias count/.test(m) ? `aliases expand more than ${MAX_ALIAS_COUNT} times: expected plain data` : `cannot be read: ${m}`,
        ),
      );
    }
  }

  private aliasLine(name: string): number {
    let found = 1;
    visitAliases(this.doc.contents, (n) => {
      if (found === 1 && n.source === name && n.range) found = this.lc.linePos(n.range[0]).line;
    });
    return found;
  }

  /** Line of the node at `path`, or of its nearest ancestor that exists. */
  line(path: (string | number)[]): number {
    for (let p = path; ; p = p.slice(0, -1)) {
      const node = (p.length === 0 ? this.doc.contents : this.doc.getIn(p, true)) as YamlNode | undefined;
      const r = node && (node as { range?: [number, number, number] }).range;
      if (r) return this.lc.linePos(r[0]).line;
      if (p.length === 0) return 1;
    }
  }

  err(path: (string | number)[], field: string, message: string): void {
    this.errors.push(new RuleError(this.file, this.line(path), field, message));
  }
}

function visitAliases(node: unknown, f: (n: { source: string; range?: [number, number, number] }) => void, depth = 0): void {
  if (!node || typeof node !== 'object' || depth > 10_000) return;
  const { isAlias, isCollection, isPair } = yaml();
  if (isAlias(node)) f(node as unknown as { source: string; range?: [number, number, number] });
  else if (isCollection(node)) for (const it of node.items) visitAliases(it, f, depth + 1);
  else if (isPair(node)) {
    visitAliases(node.key, f, depth + 1);
    visitAliases(node.value, f, depth + 1);
  }
}

export function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function asList(x: unknown): unknown[] {
  return Array.isArray(x) ? x : x === undefined ? [] : [x];
}

/** YAML may read an unquoted date as a Date; rules want the text. */
export function dateText(x: unknown): unknown {
  return x instanceof Date ? x.toISOString().slice(0, 10) : x;
}
