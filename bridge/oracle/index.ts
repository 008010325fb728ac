// The mapping oracle's public surface (DESIGN §2, E3): the types, the /proc reader, the
// pure maps parser and dev_t helpers it is built on, and the poll backoff.

export type { FileIdentity, MappingOracle, MappingVerdict } from './types.js';
export {
  ProcMapsOracle,
  oracleForPeer,
  type ProcMapsOracleOptions,
  type UnavailableReason,
} from './proc-maps-oracle.js';
export { fileKey, MapsParseError, parseMappedFiles, type MappedFiles } from './maps.js';
export { devMajor, devMinor, makeDev } from './dev-t.js';
export { Backoff, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
