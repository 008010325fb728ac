// The door to trace replays and the policy bench (`grantway bench policies`,
// `npm run bench:policies`; ARCHITECTURE.md §5): every policy run, clock-free, against
// recorded or generated traces and a model of the compositor.

export { replayTrace, type ReplayOptions, type ReplayResult } from './replay.js';
export {
  REMOTE_MODEL_NAMES,
  isRemoteModelName,
  remoteModel,
  type RemoteModel,
  type RemoteModelName,
} from './remote.js';
export * from './generators.js';
export {
  BENCH_POLICIES,
  loadBenchTraces,
  runBench,
  type BenchOptions,
  type BenchPolicy,
  type BenchRow,
  type BenchTrace,
} from './bench.js';
export { formatMarkdown, formatTable } from './table.js';
export { renderHtmlReport, ticks, type HtmlReportOptions } from './html.js';
