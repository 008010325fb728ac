// The door to buffer-lifetime tracking (ARCHITECTURE.md §7): what the parts above the
// bridge's runtime — the policies, the assembly's users, the harness — may use of shm.
// The lifecycle events and evidence levels, the reclaimer contract shm declares for the
// policies to implement, recorded traces and their summaries, and the Lifecycle itself.

export {
  LIFECYCLE_FORMAT,
  LIFECYCLE_VERSION,
  evidenceLevels,
  evidenceRank,
  lifecycleEventSchema,
  lifecycleHeaderSchema,
  type EvidenceLevel,
  type LifecycleEvent,
  type LifecycleEventType,
  type LifecycleHeader,
  type LifecycleSink,
} from './events.js';
export type { ExtentReclaimer, UnmapFacts } from './reclaimer.js';
export {
  TraceFileError,
  parseLifecycleTrace,
  readLifecycleTrace,
  type LifecycleTrace,
} from './trace-file.js';
export {
  formatSummary,
  latency,
  summarizeTrace,
  type LatencyStats,
  type TraceSummary,
} from './report.js';
export { Lifecycle, type LifecycleOptions } from './lifecycle.js';
export { MAX_DAMAGE_RECTS } from './state.js';
