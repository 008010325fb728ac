// The grant backends' public surface (ARCHITECTURE.md §4): the interface types, the three
// backends, the factory, their errors, and the oracle adapter.

export * from './types.js';
export * from './errors.js';
export type { BackendStats, CommonGrantOptions } from './ledger.js';
export {
  createGrantBackend,
  GRANT_BACKEND_NAMES,
  isGrantBackendName,
  type GrantBackendByName,
  type GrantBackendOptionsByName,
} from './factory.js';
export {
  GNTTAB_NR_RESERVED_ENTRIES,
  GNTTAB_V1_ENTRIES_PER_FRAME,
  SIM_DEFAULT_FRAMES,
  SimGrantBackend,
  type SimGrantOptions,
} from './sim.js';
export { MEMFD_SEALS, MemfdGrantBackend, type MemfdGrantOptions } from './memfd.js';
export { GntallocGrantBackend, readGntallocLimit, type GntallocGrantOptions } from './gntalloc.js';
export { oracleMappingSource } from './oracle-source.js';
export { DelegatingBackend } from './delegating.js';
export { PageSet, pagesIn } from './page-set.js';
