// The bridge as a library (package export `grantway/bridge`): assembleBridge puts a
// whole bridge together — relay, buffer-lifetime tracking, grant backend, E3 oracle and
// the reclaim scheduler with its policy — exactly as `grantway proxy` runs it
// (ARCHITECTURE.md §3). What else a user of the assembly meets is re-exported here.

export {
  assembleBridge,
  policyOf,
  type AssembledBridge,
  type AssemblyOptions,
  type BackendChoice,
  type ReclaimFigures,
} from './assembly/assemble.js';
export { Bridge, type BridgeOptions } from './relay/bridge.js';
export type { ClientLimits } from './relay/limits.js';
export type { TraceSink } from './relay/session.js';
export { ProtocolRegistry } from './protocol/registry.js';
export { createLogger, silentLogger } from './log.js';
export type { LifecycleEvent, LifecycleSink, EvidenceLevel } from './shm/index.js';
export type { Lifecycle } from './shm/index.js';
