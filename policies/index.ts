// The reclaim scheduler's public surface (DESIGN §5): the policy contract, the
// scheduler, the built-in policies and their registry, the live driver, and the trace
// replay behind `grantway bench policies`.

export * from './types.js';
export * from './errors.js';
export {
  ReclaimScheduler,
  type GrantFacts,
  type ReclaimSchedulerOptions,
  type SchedulerListener,
  type SchedulerStats,
} from './scheduler.js';
export {
  DEFAULT_POLICY,
  POLICIES,
  POLICY_NAMES,
  createPolicy,
  isPolicyName,
  parsePolicyOptions,
  policyOptionNames,
  type PolicyName,
} from './registry.js';
export { type ExtentReclaimer, LiveReclaimer, type LiveReclaimerOptions } from './live.js';
export {
  EVIDENCE_DEFAULTS,
  evidencePolicy,
  type EvidencePolicyOptions,
} from './builtin/evidence.js';
export {
  LINUX_DEFERRED_DEFAULTS,
  QUBES_FREE_PER_ITERATION,
  linuxDeferredPolicy,
  type LinuxDeferredOptions,
} from './builtin/linux-deferred.js';
export { WATERMARK_DEFAULTS, watermarkPolicy, type WatermarkOptions } from './builtin/watermark.js';
export { RECYCLE_DEFAULTS, recycleInterceptor, type RecycleOptions } from './builtin/recycle.js';
export { replayTrace, type ReplayOptions, type ReplayResult } from './replay/replay.js';
export {
  REMOTE_MODEL_NAMES,
  isRemoteModelName,
  remoteModel,
  type RemoteModel,
  type RemoteModelName,
} from './replay/remote.js';
export * from './replay/generators.js';
export {
  BENCH_POLICIES,
  loadBenchTraces,
  runBench,
  type BenchOptions,
  type BenchPolicy,
  type BenchRow,
  type BenchTrace,
} from './replay/bench.js';
export { formatMarkdown, formatTable } from './replay/table.js';
export { renderHtmlReport, type HtmlReportOptions } from './replay/html.js';
