/** Shared YAML handling for rule files: parse with line positions, report errors at file:line. */
import { LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { RuleError } from '../errors.js';

export const ID_RE = /^[A-Z0-9][A-Z0-9-]{2,63}$/;
export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
export const COIN_RE = /^[A-Z0-9]{2,10}$/;

/** One rule file being compiled: its parsed document, line lookup and collected errors. */
export class FileContext {
  readonly lc = new LineCounter();
  readonly doc: Document;
  readonly errors: RuleError[] = [];
  constructor(
    readonly file: string,
    text: string,
  ) {
    // The core schema only: no custom tags, so a rule file cannot construct objects or code.
    this.doc = parseDocument(text, { lineCounter: this.lc, uniqueKeys: true, prettyErrors: false, strict: true, schema: 'core' });
    for (const e of this.doc.errors) {
      const line = this.lc.linePos(e.pos[0]).line;
      this.errors.push(new RuleError(file, line, '(yaml)', e.message.split('\n')[0] ?? 'invalid YAML'));
    }
    for (const w of this.doc.warnings) {
      const line = this.lc.linePos(w.pos[0]).line;
      this.errors.push(new RuleError(file, line, '(yaml)', w.message.split('\n')[0] ?? 'YAML warning'));
    }
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
