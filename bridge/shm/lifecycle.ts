// Buffer-lifetime tracking for one bridge: a tracker per session, the mapping watcher
// (the one E3 poller) that collects evidence for all of them, grant mode's backing with
// the reclaimer it hands extents to, and the sinks that receive the lifecycle events
// (the --record file, tests). The bridge assembly (bridge/assembly/) builds one with
// everything it needs; this module knows nothing of policies.

import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import type { BackoffOptions } from '../oracle/backoff.js';
import type { GrantBackend } from '../grants/types.js';
import type { ObserverFactory } from '../relay/observer.js';
import type { MappingOracle } from '../oracle/types.js';
import type { LifecycleEvent, LifecycleSink } from './events.js';
import { CopyThreads, defaultCopyThreads, sharedCopyThreads } from './copy-threads.js';
import { GrantBacking } from './grant-mode.js';
import { MappingWatcher } from './mapping-watcher.js';
import type { ExtentReclaimer } from './reclaimer.js';
import { LifecycleRecorder } from './recorder.js';
import type { ShmBudget } from './shm-budget.js';
import type { PoolHooks, ShmTracker } from './tracker.js';
import { shmTrackerFactory } from './tracker-factory.js';

export interface LifecycleOptions {
  /** Recorded in the trace header; grant mode itself is switched on by `grants`. */
  readonly mode: 'passthrough' | 'grant';
  /** Write every event to this file as JSON lines (--record). */
  readonly recordPath?: string;
  /** Where the recorder says that it had to stop (a full disk); default: nowhere. */
  readonly log?: Logger;
  /** What produced the trace, for the record header. */
  readonly source?: string;
  /**
   * The bridge's E3 oracle (one for every session; the grant backend's remote source
   * should ask the same one); without it, evidence stops at E2.
   */
  readonly oracle?: MappingOracle;
  /** How the mapping watcher backs off on a file still mapped (default DEFAULT_BACKOFF). */
  readonly pollBackoff?: BackoffOptions;
  /** More receivers of every event. */
  readonly sinks?: readonly LifecycleSink[];
  /** More observers of pools (let go, evidence, forgotten), after the mapping watcher. */
  readonly poolHooks?: PoolHooks;
  /** maxShmTotalAll across the bridge's clients (without it, only per-client limits). */
  readonly budget?: ShmBudget;
  /** Decode damage (needed by grant mode and worth having in a record). */
  readonly trackDamage?: boolean;
  /**
   * Grant mode: the backend that backs every pool, and the reclaimer (the reclaim
   * scheduler) that extents come from and go back to, whose policy decides when they are
   * freed. The backend is closed with the lifecycle.
   */
  readonly grants?: {
    readonly backend: GrantBackend;
    readonly reclaimer: ExtentReclaimer;
    /**
     * Threads that copy big commits off the event loop (copy-threads.ts): how many (the
     * process's shared pool of that size), or a pool of the caller's; 0: every copy
     * runs on the event loop. Default: defaultCopyThreads().
     */
    readonly copyThreads?: number | CopyThreads;
    /** Grant pools whole, as before sparse extents (a benchmark's baseline). */
    readonly whole?: boolean;
  };
}

export class Lifecycle {
  readonly factory: ObserverFactory;
  readonly trackers = new Set<ShmTracker>();
  readonly watcher: MappingWatcher | undefined;
  /** Grant mode's backing (undefined in passthrough mode). */
  readonly backing: GrantBacking | undefined;
  /** Grant mode's backend (its stats: refs in use), undefined in passthrough mode. */
  readonly backend: GrantBackend | undefined;
  private readonly recorder: LifecycleRecorder | undefined;
  /** Events seen so far, by type (for summaries and tests). */
  readonly counts = new Map<LifecycleEvent['type'], number>();

  constructor(options: LifecycleOptions) {
    const timeOrigin = performance.now();
    this.recorder =
      options.recordPath === undefined
        ? undefined
        : new LifecycleRecorder(
            options.recordPath,
            {
              startedAt: new Date(Date.now()).toISOString(),
              mode: options.mode,
              source: options.source ?? 'grantway',
            },
            options.log,
          );
    this.watcher =
      options.oracle === undefined
        ? undefined
        : new MappingWatcher(options.oracle, options.pollBackoff);
    this.backend = options.grants?.backend;
    const grants = options.grants;
    const threads = grants?.copyThreads ?? defaultCopyThreads();
    this.backing =
      grants === undefined
        ? undefined
        : new GrantBacking(grants.backend, grants.reclaimer, {
            whole: grants.whole,
            log: options.log,
            threads:
              threads instanceof CopyThreads
                ? threads
                : threads > 0
                  ? sharedCopyThreads(threads, options.log ?? silentLogger)
                  : undefined,
          });
    const sinks = [...(options.sinks ?? [])];
    if (this.recorder !== undefined) sinks.push(this.recorder.record);
    const watcher = this.watcher;
    this.factory = shmTrackerFactory(
      {
        timeOrigin,
        trackDamage:
          options.grants !== undefined || (options.trackDamage ?? options.recordPath !== undefined),
        backing: this.backing,
        budget: options.budget,
        watchesMappings: watcher !== undefined,
        sink: (event) => {
          this.counts.set(event.type, (this.counts.get(event.type) ?? 0) + 1);
          for (const sink of sinks) sink(event);
        },
        hooks: {
          poolLetGo: (tracker, pool) => {
            watcher?.watch(tracker, pool);
            options.poolHooks?.poolLetGo?.(tracker, pool);
          },
          poolForgotten: (tracker, pool) => {
            watcher?.unwatch(pool);
            options.poolHooks?.poolForgotten?.(tracker, pool);
          },
          poolEvidence: (tracker, pool, time) =>
            options.poolHooks?.poolEvidence?.(tracker, pool, time),
        },
      },
      (tracker) => {
        // Finished trackers hold nothing; dropping them here keeps a long-lived bridge flat.
        for (const t of this.trackers) if (t.finished) this.trackers.delete(t);
        this.trackers.add(tracker);
      },
    );
  }

  /**
   * Resolves once no pool waits for E3 evidence any more, or after `timeoutMs`: lets a
   * short run end with complete evidence in its record.
   */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    if (this.backing !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.backing.whenIdle(),
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    while ((this.watcher?.pending ?? 0) > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Events the recorder could not write (after a write failed); 0 without --record. */
  get droppedRecords(): number {
    return this.recorder?.dropped ?? 0;
  }

  /**
   * Stops watching, releases every tracker's fds, and closes the record file — or, with
   * `discardRecord` (the bridge never started), removes it if it was made for this run.
   */
  close(options: { discardRecord?: boolean } = {}): void {
    this.watcher?.close();
    for (const tracker of this.trackers) tracker.dispose();
    this.trackers.clear();
    // Copies still in flight use extents and mappings: the backing and the backend
    // close once they are done (at once when none runs).
    const closeGrants = (): void => {
      this.backing?.close();
      this.backend?.close();
    };
    if (this.backing === undefined || this.backing.copiesInFlight === 0) closeGrants();
    else void this.backing.whenIdle().then(closeGrants);
    if (options.discardRecord === true) this.recorder?.discard();
    else this.recorder?.close();
  }
}
