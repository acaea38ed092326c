/**
 * Template-driven decoding shared by NetFlow v9 and IPFIX, in four parts (the shape of goflow2's
 * decoder / template system / producer split):
 *
 * - templates/store.ts: the bounded template store per exporter and observation domain, data sets
 *   held until their template arrives, and per-domain sampling and clock state;
 * - templates/compile.ts: a template's fields, read against the element table (ie.ts), compiled
 *   into ops over a per-record scratch of numeric slots;
 * - templates/walk.ts: the data-set walker that runs those ops over each record of a set;
 * - templates/emit.ts: a decoded record made into a {@link NumericRecord} or {@link ExportRecord}.
 *
 * This module re-exports their public parts so importers need only one path.
 *
 * @see RFC 3954 §5.2, §5.3, §9; RFC 7011 §3.4, §7, §8
 */
export {
  MAX_PENDING_BYTES,
  MAX_TEMPLATE_FIELDS,
  TemplateCache,
  VARLEN,
  makeTemplate,
  sameFields,
  type DomainState,
  type FieldSpec,
  type MessageHeader,
  type PendingSet,
  type Template,
} from './templates/store.js';
export { Scratch, compileTemplate, type CompiledTemplate } from './templates/compile.js';
export { decodeDataSet, handleDataSet, storeTemplate, type RecordContext } from './templates/walk.js';
export { readUnsigned } from './templates/reader.js';
export { formatIpv4At, newNumericRecord, type NumericRecord } from './templates/emit.js';
