// The scheduler in a running bridge: GrantBacking asks this for extents and hands it
// the ones it lets go; this supplies the clock (performance.now) and a single timer on
// the event loop for the scheduler's next due time. Everything that decides lives in
// the scheduler and its policy, which stay clock-free (so replays are deterministic).

import type {
  GrantBackend,
  GrantExtent,
  PageRange,
  RemoteMappingSource,
} from '../bridge/grants/types.js';
import { type GrantFacts, ReclaimScheduler, type SchedulerListener } from './scheduler.js';
import type { ReclaimPolicy } from './types.js';

/** What GrantBacking needs from a reclaimer (bridge/shm/grant-mode.ts). */
export interface ExtentReclaimer {
  /**
   * An extent for a new pool of `pages` pages (fresh, or a recycled one); with `sparse`,
   * one with no page granted yet (cover grants them).
   */
  allocate(pages: number, options?: { readonly sparse?: boolean }): GrantExtent;
  /** A live buffer now covers `range` of a sparse extent: grants what is missing. */
  cover(extent: GrantExtent, range: PageRange): number;
  /** No live buffer covers `range` of a sparse extent any more: gives its pages back. */
  uncover(extent: GrantExtent, range: PageRange): number;
  /** The pool grew: the extent grown in place; the old object must not be used again. */
  grow(extent: GrantExtent, pages: number): GrantExtent;
  /** The bridge is done with the pool; its extent is the scheduler's to reclaim. */
  retire(extent: GrantExtent, facts: GrantFacts): void;
  /** Stops the timer (bridge shutdown); the backend's close() takes what is left. */
  close(): void;
}

export interface LiveReclaimerOptions {
  readonly backend: GrantBackend;
  readonly policy: ReclaimPolicy;
  /** The E3 oracle the policy's probes ask (the CLI's /proc/PID/maps source). */
  readonly oracle?: RemoteMappingSource;
  readonly listener?: SchedulerListener;
  /** ms; default performance.now. */
  readonly clock?: () => number;
}

export class LiveReclaimer implements ExtentReclaimer {
  readonly scheduler: ReclaimScheduler;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** The due time `timer` was armed for (Infinity: none). */
  private timerDueAt = Infinity;
  private closed = false;

  constructor(options: LiveReclaimerOptions) {
    this.scheduler = new ReclaimScheduler(options);
    this.clock = options.clock ?? (() => performance.now());
  }

  allocate(pages: number, options?: { readonly sparse?: boolean }): GrantExtent {
    try {
      return this.scheduler.acquire(pages, this.clock(), options);
    } finally {
      this.arm();
    }
  }

  cover(extent: GrantExtent, range: PageRange): number {
    try {
      return this.scheduler.cover(extent, range, this.clock());
    } finally {
      this.arm();
    }
  }

  uncover(extent: GrantExtent, range: PageRange): number {
    try {
      return this.scheduler.uncover(extent, range, this.clock());
    } finally {
      this.arm();
    }
  }

  grow(extent: GrantExtent, pages: number): GrantExtent {
    try {
      return this.scheduler.grow(extent, pages, this.clock());
    } finally {
      this.arm();
    }
  }

  retire(extent: GrantExtent, facts: GrantFacts): void {
    try {
      this.scheduler.retire(extent, facts, this.clock());
    } finally {
      this.arm();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduler.close();
  }

  /** One timer for the earliest due time; never keeps the process alive. */
  private arm(): void {
    if (this.closed) return;
    const due = this.scheduler.nextDueAt();
    if (due === undefined || due >= this.timerDueAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueAt = due;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerDueAt = Infinity;
        this.scheduler.advance(this.clock());
        this.arm();
      },
      Math.max(0, due - this.clock()),
    );
    this.timer.unref();
  }
}
