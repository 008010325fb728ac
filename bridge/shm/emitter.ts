// Lifecycle event emission for one client: every event stamped with the client and the
// trace's time, and every event about a pool with both its wire id and its key (the
// pool's identity for the whole trace, since clients reuse ids; events.ts).

import type { EvidenceLevel, LifecycleEvent, LifecycleSink } from './events.js';
import type { PoolState, Rect } from './state.js';

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

  /**
   * For events of any type: one spread site for every shape, which V8 handles in its
   * runtime (a megamorphic clone, then a property definition per stamp: ~10k
   * instructions an event). The events of every frame have their own methods below.
   */
  emit(time: number, event: EventBody): void {
    this.sink({ ...event, t: this.stamp(time), client: this.client });
  }

  // The events of every commit cycle: one object literal each, with the keys in the
  // order emit() and pool() give them (a record's bytes do not change).

  /** A buffer attached and committed to a surface (`damage` as for emit). */
  committed(time: number, buffer: number, surface: number, damage: Rect[] | null): void {
    this.sink({
      type: 'buffer-committed',
      buffer,
      surface,
      damage,
      t: this.stamp(time),
      client: this.client,
    });
  }

  /** The compositor released a buffer. */
  released(time: number, buffer: number): void {
    this.sink({
      type: 'buffer-released',
      buffer,
      t: this.stamp(time),
      client: this.client,
    });
  }

  /** A pool's evidence level changed. */
  evidence(time: number, pool: PoolState, level: EvidenceLevel): void {
    this.sink({
      type: 'evidence',
      level,
      pool: pool.id,
      poolKey: pool.key,
      t: this.stamp(time),
      client: this.client,
    });
  }

  /** The trace's time of `time` (performance.now()): never before its start. */
  private stamp(time: number): number {
    return Math.max(0, time - this.timeOrigin);
  }

  /** An event about `pool` (rarer ones: one spread site, as emit). */
  pool(time: number, pool: PoolState, event: PoolEventBody): void {
    this.sink({
      ...event,
      pool: pool.id,
      poolKey: pool.key,
      t: this.stamp(time),
      client: this.client,
    });
  }
}
