// The bridge between the E3 oracle and a grant backend: a RemoteMappingSource that asks
// a MappingOracle about an extent's backing file. Kept apart so backends do not depend
// on /proc and the oracle does not depend on grants.

import type { MappingOracle } from '../oracle/types.js';
import type { GrantExtent, RemoteMappingSource } from './types.js';

/**
 * prefetch asks about every extent in one look (MappingOracle.verdicts): one /proc walk
 * for all the extents a scheduler's timers are about to probe or end.
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
    prefetch(extents: readonly GrantExtent[]): void {
      // Within the oracle's CPU budget only: between looks, single questions are answered
      // from the last walk's 'mapped' (system-oracle.ts), which only delays a reclaim.
      if (performance.now() < oracle.notBefore()) return;
      const questions = [];
      for (const extent of extents)
        if (extent.file !== undefined) questions.push({ file: extent.file });
      if (questions.length > 1) oracle.verdicts(questions);
    },
  };
}
