// The scheduler in a running bridge: GrantBacking asks this for extents, hands it the
// ones whose client let go (and the evidence that follows), and hears back when one is
// settled (access ended, or cached), so that the pool's tracking ends with it. This
// supplies the clock (performance.now) and a single timer on the event loop for the
// scheduler's next due time. Everything that decides lives in the scheduler and its
// policy, which stay clock-free (so replays are deterministic).

import type {
  GrantBackend,
  GrantExtent,
  PageRange,
  RemoteMappingSource,
} from '../bridge/grants/types.js';
import { type GrantFacts, ReclaimScheduler, type SchedulerListener } from './scheduler.js';
import type { MappingVerdict } from '../bridge/oracle/types.js';
import type { GrantId, ReclaimPolicy } from './types.js';

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
  /**
   * The client let go of the pool; its extent is the scheduler's to reclaim. `settled`
   * is called once if the scheduler ends access to it or caches it for reuse, with what
   * the oracle says of it at that moment (inside the scheduler's turn: it must not call
   * back into the reclaimer).
   */
  retire(extent: GrantExtent, facts: GrantFacts, settled?: (verdict: MappingVerdict) => void): void;
  /** New evidence or an oracle verdict for a retired extent (old news is ignored). */
  update(extent: GrantExtent, facts: GrantFacts): void;
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
        attempted: (id, result, at) => {
          outer?.attempted?.(id, result, at);
          if (result === 'ok') this.settle(id);
        },
        freed: (id, at, wasCached) => outer?.freed?.(id, at, wasCached),
        cached: (id, at) => {
          outer?.cached?.(id, at);
          this.settle(id);
        },
        changed: (at, inUse, deferred) => outer?.changed?.(at, inUse, deferred),
        evidence: (id, level, at) => outer?.evidence?.(id, level, at),
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
