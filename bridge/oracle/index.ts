// The mapping oracle's public surface (ARCHITECTURE.md §2, E3): the types, the oracle a bridge
// runs (the kernel's answer where it has one, a walk over /proc otherwise), the walk
// itself, the plain holder check that judges it in tests and the demo, the pure maps
// parser and dev_t helpers, and the poll backoff.

export type {
  Blindness,
  BlindnessKind,
  FileIdentity,
  MappingOracle,
  MappingQuestion,
  MappingVerdict,
} from './types.js';
export {
  DEFAULT_CPU_BUDGET,
  SystemOracle,
  type SystemOracleOptions,
  type SystemOracleStats,
} from './system-oracle.js';
export { ProcScanner, type ScanItem, type ScanStats, type ScanVerdict } from './proc-scan.js';
export { askSoleHolder, type SoleHolderAnswer } from './sole-holder.js';
export { holdersOf, unreadableProcesses, type Holder, type HolderReport } from './holders.js';
export { fileKey, MapsParseError, parseMappedFiles, type MappedFiles } from './maps.js';
export { devMajor, devMinor, makeDev } from './dev-t.js';
export { Backoff, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { E3_BLIND_MESSAGE } from './types.js';
