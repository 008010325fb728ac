// The reclaim scheduler (ARCHITECTURE.md §5): the one owner of every grant extent between its
// allocation and its free. It receives what the bridge learns about a pool's backing
// (allocated, grown, let go, new evidence or oracle verdicts) and the passing of time,
// keeps the deferred set and the policy's timers, and asks its policy what to attempt.
// Every end of foreign access goes through the GrantBackend, which refuses while the
// remote side maps the grant, exactly as Xen does.
//
// No clock inside: every entry point takes `now` (ms) from its caller — the live driver
// passes performance.now(), a replay passes trace time — so a replay is a pure function
// of its inputs. Time never runs backwards here: an earlier `now` counts as the latest
// one seen. Before an entry point acts at `now`, every timer due at or before `now`
// fires, each at its own time, in time order.
//
// Sparse extents (grant mode's pools, bridge/grants/types.ts) hold refs page by page:
// cover() grants the pages a new buffer needs (with the policy's 'pressure' turn when
// the table is full, as for an allocation), uncover() gives back those no live buffer
// covers. A page the remote side still maps cannot be given back (sim, as Xen); it is
// kept aside and tried again at the extent's next uncover, unless a buffer covers it
// again first; whatever is left goes when the whole extent is reclaimed. refsInUse
// counts granted refs, so a 512 MiB pool with two 4 MiB buffers counts ~2 048.

import { GrantTableFullError, PageSet } from '../bridge/grants/index.js';
import type {
  EndAccessResult,
  GrantBackend,
  GrantExtent,
  PageRange,
  RemoteMappingSource,
} from '../bridge/grants/index.js';
import type { MappingVerdict } from '../bridge/oracle/index.js';
import { evidenceRank } from '../bridge/shm/index.js';
import type { EvidenceLevel, UnmapFacts } from '../bridge/shm/index.js';
import { SchedulerStateError } from './errors.js';
import { MinHeap } from './heap.js';
import type { GrantId, GrantInfo, GrantPhase, PolicyContext, ReclaimPolicy } from './types.js';

/** What the bridge knows about a pool's unmapping when it reports it. */
export type GrantFacts = UnmapFacts;

/** Observers of what the scheduler does (metrics, replays, tests); all optional. */
export interface SchedulerListener {
  /** An endForeignAccess call went to the backend. */
  attempted?(id: GrantId, result: EndAccessResult, at: number): void;
  /** A retired grant's refs went back to the table. `wasCached`: it had been cached. */
  freed?(id: GrantId, at: number, wasCached: boolean): void;
  /** A retired grant was proven unmapped and kept for reuse. */
  cached?(id: GrantId, at: number): void;
  /** refsInUse or deferredRefs changed. */
  changed?(at: number, refsInUse: number, deferredRefs: number): void;
  /** A grant's evidence rose to `level` (told at retirement, by the bridge, or by a probe). */
  evidence?(id: GrantId, level: EvidenceLevel, at: number): void;
}

export interface ReclaimSchedulerOptions {
  readonly backend: GrantBackend;
  readonly policy: ReclaimPolicy;
  /** The E3 oracle behind probe() and cache(); without it every probe is 'unavailable'. */
  readonly oracle?: RemoteMappingSource;
  /**
   * Where probe() and cache() get their verdict. 'ask' (default): from `oracle`, at once
   * (a replay's model of the compositor). 'pushed': the last verdict update() brought
   * from the bridge's one E3 poller (the mapping watcher), so that a policy's re-checks
   * never read /proc themselves; none yet counts as 'mapped'. Once the poller has given
   * up on a file ('unavailable'), `oracle` is asked again.
   */
  readonly verdicts?: 'ask' | 'pushed';
  readonly listener?: SchedulerListener;
}

export interface SchedulerStats {
  /** Fresh extents from the backend. */
  readonly allocations: number;
  /** Cached extents handed to a new pool instead. */
  readonly reuses: number;
  /**
   * Allocations (and page grants of sparse extents) that failed for lack of refs even
   * after the policy's pressure turn.
   */
  readonly allocationFailures: number;
  /** Pages of sparse extents granted, and given back, while their pools lived. */
  readonly pagesGranted: number;
  readonly pagesReleased: number;
  /** Page releases refused because the remote side still mapped the page. */
  readonly pageReleaseFailures: number;
  readonly retired: number;
  /** Retired extents whose refs went back to the table. */
  readonly freed: number;
  /** endForeignAccess calls made through this scheduler, and those refused. */
  readonly endAccessAttempts: number;
  readonly endAccessFailures: number;
  readonly probes: number;
  readonly timerEvents: number;
  /** Refs allocated and not freed; its peak. */
  readonly refsInUse: number;
  readonly peakRefsInUse: number;
  /** Refs retired (or ended) and not yet freed or cached: the deferred queue; its peak. */
  readonly deferredRefs: number;
  readonly maxDeferredRefs: number;
  readonly cachedRefs: number;
}

interface GrantRecord {
  /** Replaced when the extent grows. Never shown to a policy (it carries the fd). */
  extent: GrantExtent;
  /** What policies see; mutated only here. */
  readonly info: MutableInfo;
  /**
   * Sparse: pages no buffer covers that the backend could not give back (still mapped
   * remotely), tried again at the next uncover. Invariant: granted, and not covered.
   */
  readonly stranded: PageSet | undefined;
}

type MutableInfo = { -readonly [K in keyof GrantInfo]: GrantInfo[K] };

type Counter = Exclude<keyof SchedulerStats, 'refsInUse' | 'deferredRefs' | 'cachedRefs'>;

export class ReclaimScheduler {
  private readonly backend: GrantBackend;
  private readonly policy: ReclaimPolicy;
  private readonly oracle: RemoteMappingSource | undefined;
  private readonly pushed: boolean;
  private readonly listener: SchedulerListener;
  /** Every grant not yet freed, by id. Invariant: a record's phase is never 'freed'. */
  private readonly records = new Map<GrantId, GrantRecord>();
  /** Ids in phase 'retired', in retirement order (a Set keeps insertion order). */
  private readonly retiredOrder = new Set<GrantId>();
  /** Wake-up times asked for by the policy; `timerKeys` dedupes equal times. */
  private readonly timers = new MinHeap<number>();
  private readonly timerKeys = new Set<number>();
  /** Ids cached since their last retirement (cached → ended → freed tells the listener). */
  private readonly everCached = new Set<GrantId>();
  private time = 0;
  /** Invariant: refsInUse = Σ pages over records; deferredRefs over retired|ended ones. */
  private refsInUse = 0;
  private deferredRefs = 0;
  private cachedRefs = 0;
  private readonly counters: Record<Counter, number> = {
    allocations: 0,
    reuses: 0,
    allocationFailures: 0,
    pagesGranted: 0,
    pagesReleased: 0,
    pageReleaseFailures: 0,
    retired: 0,
    freed: 0,
    endAccessAttempts: 0,
    endAccessFailures: 0,
    probes: 0,
    timerEvents: 0,
    peakRefsInUse: 0,
    maxDeferredRefs: 0,
  };
  private readonly ctx: PolicyContext;

  constructor(options: ReclaimSchedulerOptions) {
    this.backend = options.backend;
    this.policy = options.policy;
    this.oracle = options.oracle;
    this.pushed = options.verdicts === 'pushed';
    this.listener = options.listener ?? {};
    this.ctx = this.makeContext();
  }

  get policyName(): string {
    return this.policy.name;
  }

  /** The latest time seen. */
  get now(): number {
    return this.time;
  }

  /**
   * An extent of `pages` pages for a new pool: a cached extent the policy offers, or
   * fresh refs from the backend — or, with `sparse`, an extent with no page granted yet
   * (cover grants them). When the table is full the policy gets one 'pressure' turn,
   * then the allocation is tried once more; GrantTableFullError if it still fails.
   */
  acquire(pages: number, now: number, options: { readonly sparse?: boolean } = {}): GrantExtent {
    this.advance(now);
    const sparse = options.sparse === true;
    return this.underPressure(pages, () => {
      const reused = sparse ? undefined : this.policy.reuse?.(pages, this.ctx);
      if (reused !== undefined) return this.reuse(reused, pages);
      const extent = this.backend.allocate(pages, { sparse });
      this.counters.allocations++;
      const granted = this.backend.grantedPages(extent);
      const rec: GrantRecord = {
        extent,
        info: {
          id: extent.id,
          pages: granted,
          span: extent.pages,
          sparse: extent.sparse,
          phase: 'in-use',
          evidence: 'E0',
          oracle: undefined,
          allocatedAt: this.time,
          retiredAt: undefined,
          attempts: 0,
        },
        stranded: extent.sparse ? new PageSet() : undefined,
      };
      this.records.set(extent.id, rec);
      this.addRefs(granted, 0);
      this.policy.handle({ type: 'allocated', grant: rec.info }, this.ctx);
      return extent;
    });
  }

  /**
   * A buffer of the pool now covers `range` of its sparse extent: grants the pages not
   * granted yet (pressure turn as in acquire; GrantTableFullError, nothing granted, if
   * the table stays full). Returns the pages newly granted; 0 for a whole extent.
   */
  cover(extent: GrantExtent, range: PageRange, now: number): number {
    this.advance(now);
    const rec = this.recordOf(extent, 'cover', ['in-use']);
    // Covered again: no longer a page to give back.
    rec.stranded?.remove(range);
    const granted = this.underPressure(range.end - range.first, () =>
      this.backend.grantPages(rec.extent, range),
    );
    if (granted > 0) {
      rec.info.pages += granted;
      this.counters.pagesGranted += granted;
      this.addRefs(granted, 0);
    }
    return granted;
  }

  /**
   * No live buffer covers `range` of the sparse extent any more: gives its pages back,
   * with any left from earlier tries. Pages the remote side still maps stay granted and
   * are tried again next time. Returns the pages given back now.
   */
  uncover(extent: GrantExtent, range: PageRange, now: number): number {
    this.advance(now);
    const rec = this.recordOf(extent, 'uncover', ['in-use']);
    const stranded = rec.stranded;
    if (stranded === undefined) return 0;
    const tries = [range, ...stranded.ranges()];
    stranded.clear();
    let released = 0;
    for (const r of tries) {
      const result = this.backend.releasePages(rec.extent, r);
      released += result.released;
      if (result.stillMapped > 0) {
        stranded.add(r);
        this.counters.pageReleaseFailures += result.stillMapped;
      }
    }
    if (released > 0) {
      rec.info.pages -= released;
      this.counters.pagesReleased += released;
      this.addRefs(-released, 0);
    }
    return released;
  }

  /** wl_shm_pool.resize: grows an in-use extent through the backend; returns the new one. */
  grow(extent: GrantExtent, pages: number, now: number): GrantExtent {
    this.advance(now);
    const rec = this.recordOf(extent, 'grow', ['in-use']);
    const grown = this.backend.grow(rec.extent, pages);
    const granted = this.backend.grantedPages(grown);
    const more = granted - rec.info.pages;
    rec.extent = grown;
    rec.info.pages = granted;
    rec.info.span = grown.pages;
    this.addRefs(more, 0);
    return grown;
  }

  /** The owner let go of the extent: from now on the policy decides when to reclaim it. */
  retire(extent: GrantExtent, facts: GrantFacts, now: number): void {
    this.advance(now);
    const rec = this.recordOf(extent, 'retire', ['in-use']);
    const info = rec.info;
    info.phase = 'retired';
    info.retiredAt = this.time;
    info.attempts = 0;
    const rose = evidenceRank(facts.evidence) > evidenceRank(info.evidence);
    info.evidence = facts.evidence;
    info.oracle = facts.oracle;
    if (rose) this.listener.evidence?.(info.id, info.evidence, this.time);
    this.retiredOrder.add(info.id);
    this.counters.retired++;
    this.addRefs(0, info.pages);
    this.policy.handle({ type: 'retired', grant: info }, this.ctx);
  }

  /**
   * News about a grant: higher evidence, or an oracle verdict. Kept for any grant; the
   * policy hears of it only for a retired one. Evidence never goes down.
   */
  update(extent: GrantExtent, facts: GrantFacts, now: number): void {
    this.advance(now);
    const rec = this.records.get(extent.id);
    if (rec === undefined || rec.extent !== extent) return; // already reclaimed: old news
    const info = rec.info;
    const higher = evidenceRank(facts.evidence) > evidenceRank(info.evidence);
    const verdict = facts.oracle !== undefined && facts.oracle !== info.oracle;
    if (!higher && !verdict) return;
    if (higher) {
      info.evidence = facts.evidence;
      this.listener.evidence?.(info.id, info.evidence, this.time);
    }
    if (verdict) info.oracle = facts.oracle;
    if (info.phase === 'retired') this.policy.handle({ type: 'evidence', grant: info }, this.ctx);
  }

  /** Fires every timer due at or before `now`, each at its own time, in order. */
  advance(now: number): void {
    let prepared = false;
    for (;;) {
      const due = this.timers.peekKey();
      if (due === undefined || due > now) break;
      if (!prepared) {
        prepared = true;
        this.prefetch();
      }
      this.timers.pop();
      this.timerKeys.delete(due);
      if (due > this.time) this.time = due;
      this.counters.timerEvents++;
      this.policy.handle({ type: 'timer' }, this.ctx);
    }
    if (now > this.time) this.time = now;
  }

  /** When the next timer is due (undefined: none asked for). */
  nextDueAt(): number | undefined {
    return this.timers.peekKey();
  }

  /** The facts about a grant (undefined once freed). */
  grant(id: GrantId): GrantInfo | undefined {
    return this.records.get(id)?.info;
  }

  /** Every grant not yet freed (for operators' views: status, metrics). */
  grants(): IterableIterator<GrantInfo> {
    const records = this.records.values();
    return (function* () {
      for (const rec of records) yield rec.info;
    })();
  }

  /** The extent a grant id stands for now (replays and tests). */
  extentOf(id: GrantId): GrantExtent | undefined {
    return this.records.get(id)?.extent;
  }

  stats(): SchedulerStats {
    return {
      ...this.counters,
      refsInUse: this.refsInUse,
      deferredRefs: this.deferredRefs,
      cachedRefs: this.cachedRefs,
    };
  }

  /** Drops every timer; grants left stay with the backend (its close() deals with them). */
  close(): void {
    this.timers.clear();
    this.timerKeys.clear();
  }

  // --- the policy's context ----------------------------------------------------------

  private makeContext(): PolicyContext {
    // Closures, not `this`-bound methods: an interceptor may build its own context with
    // this one as prototype and override a few methods (see recycle).
    const methods: Omit<PolicyContext, 'now' | 'refsInUse' | 'refsTotal'> = {
      grant: (id) => this.records.get(id)?.info,
      retired: () => [...this.retiredOrder].map((id) => this.records.get(id)!.info),
      endAccess: (id) => this.endAccess(id),
      free: (id) => this.free(id),
      reclaim: (id) => {
        const result = this.endAccess(id);
        if (result === 'ok') this.free(id);
        return result;
      },
      probe: (id) => this.probe(this.live(id, 'probe')),
      cache: (id) => this.cache(id),
      wakeAt: (at) => {
        const t = Math.max(at, this.time);
        if (this.timerKeys.has(t)) return;
        this.timerKeys.add(t);
        this.timers.push(t, t);
      },
    };
    const refsTotal = (): number => {
      const total = this.backend.stats().refsTotal;
      return Number.isFinite(total) && total > 0 ? total : Infinity;
    };
    return Object.defineProperties(methods, {
      now: { get: () => this.time, enumerable: true },
      refsInUse: { get: () => this.refsInUse, enumerable: true },
      refsTotal: { get: refsTotal, enumerable: true },
    }) as PolicyContext;
  }

  private endAccess(id: GrantId): EndAccessResult {
    const rec = this.live(id, 'endAccess');
    const info = rec.info;
    if (info.phase === 'ended') return 'ok';
    if (info.phase !== 'retired' && info.phase !== 'cached') {
      throw new SchedulerStateError('endAccess', id, info.phase);
    }
    const result = this.backend.endForeignAccess(rec.extent);
    info.attempts++;
    this.counters.endAccessAttempts++;
    if (result === 'still-mapped') this.counters.endAccessFailures++;
    this.listener.attempted?.(id, result, this.time);
    if (result === 'ok') {
      if (info.phase === 'cached') {
        this.cachedRefs -= info.pages;
        this.deferredRefs += info.pages;
      }
      this.retiredOrder.delete(id);
      info.phase = 'ended';
    }
    return result;
  }

  private free(id: GrantId): void {
    const rec = this.live(id, 'free');
    const info = rec.info;
    if (info.phase !== 'ended') throw new SchedulerStateError('free', id, info.phase);
    const wasCached = this.everCached.has(id);
    this.backend.free(rec.extent);
    this.records.delete(id);
    this.everCached.delete(id);
    info.phase = 'freed';
    this.counters.freed++;
    this.addRefs(-info.pages, -info.pages);
    this.listener.freed?.(id, this.time, wasCached);
  }

  /**
   * Timers are due: the policy may probe or end access to any retired grant. One look
   * for all of them (RemoteMappingSource.prefetch) makes each question that follows in
   * this turn free; it changes no answer, so a replay is unaffected. With verdicts
   * 'pushed' there is nothing to prepare: probes read the bridge's one E3 poller.
   */
  private prefetch(): void {
    if (this.pushed || this.oracle?.prefetch === undefined || this.retiredOrder.size < 2) return;
    const extents: GrantExtent[] = [];
    for (const id of this.retiredOrder) extents.push(this.records.get(id)!.extent);
    this.oracle.prefetch(extents);
  }

  private probe(rec: GrantRecord): MappingVerdict {
    this.counters.probes++;
    const last = rec.info.oracle;
    if (this.pushed && last !== 'unavailable') {
      const verdict = last ?? 'mapped';
      if (verdict === 'unmapped' && rec.info.phase === 'retired') rec.info.evidence = 'E3';
      return verdict;
    }
    const answer = this.oracle?.isMapped(rec.extent) ?? 'unknown';
    const verdict: MappingVerdict =
      answer === 'unknown' ? 'unavailable' : answer ? 'mapped' : 'unmapped';
    rec.info.oracle = verdict;
    if (verdict === 'unmapped' && rec.info.phase === 'retired' && rec.info.evidence !== 'E3') {
      rec.info.evidence = 'E3';
      this.listener.evidence?.(rec.info.id, 'E3', this.time);
    }
    return verdict;
  }

  private cache(id: GrantId): boolean {
    const rec = this.live(id, 'cache');
    const info = rec.info;
    if (info.phase !== 'retired') throw new SchedulerStateError('cache', id, info.phase);
    if (info.sparse) return false; // see PolicyContext.cache
    if (this.probe(rec) !== 'unmapped') return false;
    info.phase = 'cached';
    this.retiredOrder.delete(id);
    this.everCached.add(id);
    this.cachedRefs += info.pages;
    this.addRefs(0, -info.pages);
    this.listener.cached?.(id, this.time);
    return true;
  }

  private reuse(id: GrantId, pages: number): GrantExtent {
    const rec = this.live(id, 'reuse');
    const info = rec.info;
    if (info.phase !== 'cached') throw new SchedulerStateError('reuse', id, info.phase);
    if (info.pages !== pages) {
      throw new SchedulerStateError('reuse', id, `${info.pages} pages (wanted ${pages})`);
    }
    this.cachedRefs -= info.pages;
    this.everCached.delete(id);
    info.phase = 'in-use';
    info.evidence = 'E0';
    info.oracle = undefined;
    info.allocatedAt = this.time;
    info.retiredAt = undefined;
    info.attempts = 0;
    this.counters.reuses++;
    this.policy.handle({ type: 'allocated', grant: info }, this.ctx);
    return rec.extent;
  }

  /**
   * Runs `attempt`; when the table is full the policy gets one 'pressure' turn for
   * `pages` and the attempt is made once more (counted as a failure if it fails again).
   */
  private underPressure<T>(pages: number, attempt: () => T): T {
    for (let turn = 0; ; turn++) {
      try {
        return attempt();
      } catch (err) {
        if (!(err instanceof GrantTableFullError)) throw err;
        if (turn > 0) {
          this.counters.allocationFailures++;
          throw err;
        }
        this.policy.handle({ type: 'pressure', pages }, this.ctx);
      }
    }
  }

  private live(id: GrantId, operation: string): GrantRecord {
    const rec = this.records.get(id);
    if (rec === undefined) throw new SchedulerStateError(operation, id, 'freed');
    return rec;
  }

  private recordOf(
    extent: GrantExtent,
    operation: string,
    phases: readonly GrantPhase[],
  ): GrantRecord {
    const rec = this.records.get(extent.id);
    if (rec === undefined || rec.extent !== extent) {
      throw new SchedulerStateError(operation, extent.id, 'unknown (freed or replaced)');
    }
    if (!phases.includes(rec.info.phase)) {
      throw new SchedulerStateError(operation, extent.id, rec.info.phase);
    }
    return rec;
  }

  private addRefs(inUse: number, deferred: number): void {
    this.refsInUse += inUse;
    this.deferredRefs += deferred;
    if (this.refsInUse > this.counters.peakRefsInUse) this.counters.peakRefsInUse = this.refsInUse;
    if (this.deferredRefs > this.counters.maxDeferredRefs) {
      this.counters.maxDeferredRefs = this.deferredRefs;
    }
    this.listener.changed?.(this.time, this.refsInUse, this.deferredRefs);
  }
}
