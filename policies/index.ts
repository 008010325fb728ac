// The reclaim scheduler's door (package export `grantway/policies`; ARCHITECTURE.md §5):
// the policy contract, the scheduler, the built-in policies and their registry, and the
// live driver that implements shm's ExtentReclaimer. Trace replays and the policy bench
// have a door of their own (replay/index.ts), so a running bridge does not load them.

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
