// The scheduler in a running bridge: grant mode (bridge/shm/grant-mode.ts) asks this for
// extents, hands it the ones it lets go and passes on what the bridge's E3 poller learns
// about them; this supplies the clock (performance.now) and a single timer on the event
// loop for the scheduler's next due time. Everything that decides lives in the scheduler
// and its policy, which stay clock-free (so replays are deterministic).

import type { GrantExtent, PageRange } from '../bridge/grants/index.js';
import type { ExtentReclaimer } from '../bridge/shm/index.js';
import { type GrantFacts, ReclaimScheduler, type ReclaimSchedulerOptions } from './scheduler.js';

export type { ExtentReclaimer };

export interface LiveReclaimerOptions extends ReclaimSchedulerOptions {
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

  /** retire()'s `freed` callbacks, by grant, until the grant is freed. */
  private readonly whenFreed = new Map<number, () => void>();

  constructor(options: LiveReclaimerOptions) {
    const listener = options.listener;
    this.scheduler = new ReclaimScheduler({
      ...options,
      listener: {
        ...listener,
        freed: (id, at, wasCached) => {
          const freed = this.whenFreed.get(id);
          this.whenFreed.delete(id);
          listener?.freed?.(id, at, wasCached);
          freed?.();
        },
      },
    });
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

  retire(extent: GrantExtent, facts: GrantFacts, freed?: () => void): void {
    if (freed !== undefined) this.whenFreed.set(extent.id, freed);
    try {
      this.scheduler.retire(extent, facts, this.clock());
    } finally {
      this.arm();
    }
  }

  update(extent: GrantExtent, facts: GrantFacts): void {
    try {
      this.scheduler.update(extent, facts, this.clock());
    } finally {
      this.arm();
    }
  }

  close(): void {
    this.closed = true;
    this.whenFreed.clear();
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
