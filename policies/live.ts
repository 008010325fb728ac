// The scheduler in a running bridge: grant mode (bridge/shm/grant-mode.ts) asks this for
// extents, hands it the ones whose client let go (once the compositor has their fd) and
// passes on what the bridge's E3 poller learns about them, and hears back when one is
// settled (access ended, or cached), so that the pool's tracking ends with it. This
// supplies the clock (performance.now) and a single timer on the event loop for the
// scheduler's next due time. Everything that decides lives in the scheduler and its
// policy, which stay clock-free (so replays are deterministic).

import type { GrantExtent, PageRange, RemoteMappingSource } from '../bridge/grants/index.js';
import type { MappingVerdict } from '../bridge/oracle/index.js';
import type { ExtentReclaimer } from '../bridge/shm/index.js';
import { type GrantFacts, ReclaimScheduler, type ReclaimSchedulerOptions } from './scheduler.js';
import type { GrantId } from './types.js';

export type { ExtentReclaimer };

export interface LiveReclaimerOptions extends ReclaimSchedulerOptions {
  /** ms; default performance.now. */
  readonly clock?: () => number;
}

export class LiveReclaimer implements ExtentReclaimer {
  readonly scheduler: ReclaimScheduler;
  private readonly clock: () => number;
  private readonly remote: RemoteMappingSource | undefined;
  /** Who to tell when a retired extent's access is ended or it is cached, by grant id. */
  private readonly settling = new Map<GrantId, (verdict: MappingVerdict) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** The due time `timer` was armed for (Infinity: none). */
  private timerDueAt = Infinity;
  private closed = false;

  constructor(options: LiveReclaimerOptions) {
    const outer = options.listener;
    this.remote = options.oracle;
    this.scheduler = new ReclaimScheduler({
      ...options,
      listener: {
        ...outer,
        attempted: (id, result, at) => {
          outer?.attempted?.(id, result, at);
          if (result === 'ok') this.settle(id);
        },
        cached: (id, at) => {
          outer?.cached?.(id, at);
          this.settle(id);
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

  retire(
    extent: GrantExtent,
    facts: GrantFacts,
    settled?: (verdict: MappingVerdict) => void,
  ): void {
    if (settled !== undefined) this.settling.set(extent.id, settled);
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
    this.settling.clear();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduler.close();
  }

  /**
   * Access to a retired extent was ended, or it was cached: whoever retired it learns
   * what the oracle says now — in this turn, the answer the backend's own check or the
   * cache's probe just got (one look; bridge/oracle/system-oracle.ts), so 'unmapped'
   * wherever the oracle can see.
   */
  private settle(id: GrantId): void {
    const settled = this.settling.get(id);
    if (settled === undefined) return;
    this.settling.delete(id);
    const extent = this.scheduler.extentOf(id);
    const mapped = extent === undefined ? 'unknown' : (this.remote?.isMapped(extent) ?? 'unknown');
    settled(mapped === 'unknown' ? 'unavailable' : mapped ? 'mapped' : 'unmapped');
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
