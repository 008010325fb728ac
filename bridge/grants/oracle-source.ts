// The bridge between the E3 oracle and a grant backend: a RemoteMappingSource that asks
// a MappingOracle about an extent's backing file. Kept apart so backends do not depend
// on /proc and the oracle does not depend on grants.

import type { MappingOracle } from '../oracle/types.js';
import type { GrantExtent, RemoteMappingSource } from './types.js';

/**
 * 'mapped' → true, 'unmapped' → false, 'unavailable' → 'unknown'; an extent without a
 * file identity (sim, gntalloc) → 'unknown'. Pass the bridge's one oracle (the mapping
 * watcher's): right after the watcher's verdict on an extent, in the same turn, the
 * oracle answers from that look instead of looking again.
 */
export function oracleMappingSource(oracle: MappingOracle): RemoteMappingSource {
  return {
    isMapped(extent: GrantExtent): boolean | 'unknown' {
      if (extent.file === undefined) return 'unknown';
      const verdict = oracle.verdict({ file: extent.file });
      return verdict === 'unavailable' ? 'unknown' : verdict === 'mapped';
    },
  };
}
