// Turns what the bridge already reports about pools and grants into the two reclaim
// latencies operators watch: from a client letting go of a pool to E3 (the compositor
// no longer maps it), and from E3 to the extent being freed (what the reclaim policy
// adds). The tracker's pool hooks give the first, the scheduler's listener the second;
// both fire once per pool or grant, never per message.

import type { SchedulerListener } from '../../policies/index.js';
import type { GrantId } from '../../policies/index.js';
import type { PoolHooks } from '../shm/tracker.js';

export interface ReclaimTimingSink {
  /** A pool reached E3, `ms` after the client let go of it. */
  letGoToE3(ms: number): void;
  /** A grant was freed, `ms` after it was known unmapped (E3). */
  e3ToFreed(ms: number): void;
}

export function reclaimTimingHooks(sink: ReclaimTimingSink): {
  poolHooks: PoolHooks;
  schedulerListener: SchedulerListener;
} {
  /** When each grant not yet freed was known unmapped. */
  const unmappedAt = new Map<GrantId, number>();
  return {
    poolHooks: {
      poolEvidence: (_tracker, pool, time) => {
        if (pool.evidence === 'E3' && pool.letGoAt !== undefined) {
          sink.letGoToE3(time - pool.letGoAt);
        }
      },
    },
    schedulerListener: {
      evidence: (id, level, at) => {
        if (level === 'E3' && !unmappedAt.has(id)) unmappedAt.set(id, at);
      },
      freed: (id, at) => {
        const since = unmappedAt.get(id);
        unmappedAt.delete(id);
        if (since !== undefined) sink.e3ToFreed(at - since);
      },
    },
  };
}
