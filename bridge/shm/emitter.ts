// Lifecycle event emission for one client: every event stamped with the client and the
// trace's time, and every event about a pool with both its wire id and its key (the
// pool's identity for the whole trace, since clients reuse ids; events.ts).

import type { LifecycleEvent, LifecycleSink } from './events.js';
import type { PoolState } from './state.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event as a tracker writes it: without the stamps. */
export type EventBody = DistributiveOmit<LifecycleEvent, 't' | 'client'>;
/** An event about a pool, without the pool's id and key. */
export type PoolEventBody = DistributiveOmit<
  Extract<LifecycleEvent, { poolKey: number }>,
  't' | 'client' | 'pool' | 'poolKey'
>;

export class LifecycleEmitter {
  constructor(
    private readonly client: number,
    /** performance.now() at t = 0 of the trace. */
    private readonly timeOrigin: number,
    private readonly sink: LifecycleSink,
  ) {}

  emit(time: number, event: EventBody): void {
    this.sink({ ...event, t: Math.max(0, time - this.timeOrigin), client: this.client });
  }

  /** An event about `pool`. */
  pool(time: number, pool: PoolState, event: PoolEventBody): void {
    const t = Math.max(0, time - this.timeOrigin);
    // One spread, not two: events are made on every commit.
    this.sink({
      ...event,
      pool: pool.id,
      poolKey: pool.key,
      t,
      client: this.client,
    });
  }
}
