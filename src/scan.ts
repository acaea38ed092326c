/**
 * Scanning files: the file source of the pipeline (src/pipeline.ts), io → decode → flow → classify
 * → sinks. Kept as the module the CLI and library users import `scanInputs` and its types from.
 */
export {
  scanInputs,
  loadResolverLogs,
  type ScanOptions,
  type ScanSummary,
  type ScanHooks,
  type InputSummary,
  type FlowConsumer,
  type DnsLogSummary,
} from './pipeline.js';
