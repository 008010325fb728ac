// Collects E3 evidence: once a client has let go of a pool (destroyed it and all its
// buffers, or left), asks the mapping oracle, with backoff, whether the compositor
// still maps the pool's file, until it does not (or the oracle cannot tell). One look at /proc answers for every pool waiting on the
// same compositor, so all pools share one timer and one read per tick.

import type { MappingOracle, MappingVerdict } from '../oracle/types.js';
import type { PoolState } from './state.js';
import type { ShmTracker } from './tracker.js';

export interface BackoffOptions {
  /** First look this long after the pool was destroyed. */
  readonly initialMs: number;
  readonly factor: number;
  /** Looks are never further apart than this (bounds the E3 latency). */
  readonly maxMs: number;
}

/** Defaults sized for the reclaim-latency target: an unmap is seen within one 60 Hz frame. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1, factor: 2, maxMs: 8 };

interface Watched {
  readonly tracker: ShmTracker;
  readonly pool: PoolState;
  readonly oracle: MappingOracle;
  dueAt: number;
  delayMs: number;
}

export class MappingWatcher {
  private readonly watched = new Map<PoolState, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Infinity;
  looks = 0;

  constructor(
    /** The oracle for a compositor pid (cached by the caller or not; called per watch). */
    private readonly oracleFor: (pid: number) => MappingOracle,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get pending(): number {
    return this.watched.size;
  }

  watch(tracker: ShmTracker, pool: PoolState): void {
    if (this.watched.has(pool)) return;
    if (pool.mappedFile === undefined) {
      // Nothing the oracle could look for: say so at once rather than guess.
      tracker.onOracle(pool, 'unavailable', this.now());
      return;
    }
    const oracle = this.oracleFor(tracker.context.upstreamPid);
    const delayMs = this.backoff.initialMs;
    this.watched.set(pool, { tracker, pool, oracle, dueAt: this.now() + delayMs, delayMs });
    this.schedule();
  }

  unwatch(pool: PoolState): void {
    this.watched.delete(pool);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private schedule(): void {
    let next = Infinity;
    for (const w of this.watched.values()) next = Math.min(next, w.dueAt);
    if (next === Infinity || next >= this.timerDueAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueAt = next;
    this.timer = setTimeout(() => this.tick(), Math.max(0, next - this.now()));
  }

  private tick(): void {
    this.timer = undefined;
    this.timerDueAt = Infinity;
    const now = this.now();
    // Group the due pools by oracle so each compositor's maps are read once.
    const due = new Map<MappingOracle, Watched[]>();
    for (const w of this.watched.values()) {
      if (w.dueAt > now) continue;
      const group = due.get(w.oracle);
      if (group === undefined) due.set(w.oracle, [w]);
      else group.push(w);
    }
    for (const [oracle, group] of due) {
      const verdicts: MappingVerdict[] = oracle.verdicts(
        group.map((w) => w.pool.mappedFile ?? w.pool.file),
      );
      this.looks++;
      const at = this.now();
      group.forEach((w, i) => {
        const verdict = verdicts[i] ?? 'unavailable';
        if (verdict !== 'mapped') this.watched.delete(w.pool);
        else {
          w.delayMs = Math.min(this.backoff.maxMs, w.delayMs * this.backoff.factor);
          w.dueAt = at + w.delayMs;
        }
        w.tracker.onOracle(w.pool, verdict, at);
      });
    }
    this.schedule();
  }
}
