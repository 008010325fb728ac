// A model of a Xen grant table (v1), for passthrough mode and for replaying traces
// through the reclaim policies without Xen: a fixed number of refs, the first few
// reserved, a remote map count per ref, and end-of-foreign-access that fails while any
// page is still mapped, as gnttab_try_end_foreign_access does. The remote side is driven
// by the caller (a simulated compositor calls simulateRemoteMap/Unmap). No fds, no
// memory: an accounting model only (extent.fd/ptr/file are undefined).
//
// Sparse extents, as Xen would do them: a page gets a ref when grantPages first asks
// for it (the lowest free one, so an extent's refs are not contiguous) and loses it when
// releasePages ends its access — ref by ref, so a page the remote side still maps keeps
// its ref (counted in stats().pageReleaseFailures) while the others go. What the remote
// side maps is the caller's to say, page range by page range: a compositor in another
// domain maps the refs of the buffers it reads (simulateRemoteMap(extent, range)); it
// cannot map a page that has no ref (GNTST_bad_gntref), nor one whose access has ended.

import { ExtentNotShareableError, ExtentStateError, GrantTableFullError } from './errors.js';
import { type BackendStats, type CommonGrantOptions, ExtentLedger } from './ledger.js';
import type {
  EndAccessResult,
  GrantBackend,
  GrantExtent,
  GrantRef,
  PageRange,
  PageRelease,
  RemoteMappingSource,
} from './types.js';

/** 4096-byte frame / 8-byte grant_entry_v1. */
export const GNTTAB_V1_ENTRIES_PER_FRAME = 512;
/** Linux's GNTTAB_NR_RESERVED_ENTRIES: refs 0–7 belong to the toolstack (xenstore, console). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const SIM_DEFAULT_FRAMES = 64;

export interface SimGrantOptions extends CommonGrantOptions {
  /** Grant table frames (default 64 → 32768 refs, 32760 usable). */
  readonly frames?: number;
}

/** Per extent: the ref of each granted page. Invariant: exactly the granted pages. */
interface SimPrivate {
  readonly refs: Map<number, GrantRef>;
}

export class SimGrantBackend implements GrantBackend, RemoteMappingSource {
  readonly name = 'sim' as const;
  readonly grantsSparsely = true;
  /** Refs in the table, reserved ones included. */
  readonly tableSize: number;
  private readonly ledger = new ExtentLedger<SimPrivate>('sim');
  private readonly onStillMappedAtClose: CommonGrantOptions['onStillMappedAtClose'];
  /**
   * 1 while a ref belongs to a live extent. Invariant: refs below
   * GNTTAB_NR_RESERVED_ENTRIES are never marked (never handed out).
   */
  private readonly taken: Uint8Array;
  /**
   * Remote mappings per ref. Invariant: non-zero only for granted refs of a live extent
   * whose foreign access has not ended (an ended grant cannot be mapped; end access
   * fails while this is non-zero).
   */
  private readonly mapCount: Uint32Array;
  /** Invariant: every ref in [RESERVED, lowestFree) is taken, so search starts here. */
  private lowestFree = GNTTAB_NR_RESERVED_ENTRIES;
  private freeCount: number;

  constructor(options: SimGrantOptions = {}) {
    const frames = options.frames ?? SIM_DEFAULT_FRAMES;
    if (!Number.isSafeInteger(frames) || frames <= 0) {
      throw new RangeError(`frames must be a positive integer, got ${frames}`);
    }
    this.tableSize = frames * GNTTAB_V1_ENTRIES_PER_FRAME;
    this.taken = new Uint8Array(this.tableSize);
    this.mapCount = new Uint32Array(this.tableSize);
    this.freeCount = this.tableSize - GNTTAB_NR_RESERVED_ENTRIES;
    this.onStillMappedAtClose = options.onStillMappedAtClose;
  }

  /**
   * A whole extent takes the `pages` lowest free refs (not necessarily contiguous, as in
   * Xen); a sparse one takes none yet.
   */
  allocate(pages: number, options: { readonly sparse?: boolean } = {}): GrantExtent {
    this.ledger.assertOpen('allocate');
    this.ledger.checkPages(pages);
    const common = { fd: undefined, fdOffset: 0, ptr: undefined, file: undefined };
    if (options.sparse === true) {
      return this.ledger.add(
        { id: this.ledger.takeId(), refs: [], sparse: pages, ...common },
        { refs: new Map() },
      );
    }
    if (pages > this.freeCount) throw new GrantTableFullError('sim', pages, this.freeCount);
    const refs = this.take(pages);
    const byPage = new Map<number, GrantRef>();
    refs.forEach((ref, page) => byPage.set(page, ref));
    return this.ledger.add({ id: this.ledger.takeId(), refs, ...common }, { refs: byPage });
  }

  /** Gives each page of `range` without a ref the lowest free one; all or nothing. */
  grantPages(extent: GrantExtent, range: PageRange): number {
    this.ledger.assertOpen('grantPages');
    const entry = this.ledger.sparseEntry(extent, 'grantPages');
    if (entry === undefined) return 0;
    this.ledger.checkRange(extent, range, 'grantPages');
    const byPage = entry.priv.refs;
    const missing: number[] = [];
    for (let page = range.first; page < range.end; page++) {
      if (!byPage.has(page)) missing.push(page);
    }
    if (missing.length > this.freeCount) {
      throw new GrantTableFullError('sim', missing.length, this.freeCount);
    }
    const refs = this.take(missing.length);
    missing.forEach((page, i) => byPage.set(page, refs[i]!));
    this.ledger.pagesChanged(entry, missing.length);
    return missing.length;
  }

  /** Ends access ref by ref: those the remote side maps stay (see the module comment). */
  releasePages(extent: GrantExtent, range: PageRange): PageRelease {
    this.ledger.assertOpen('releasePages');
    const entry = this.ledger.sparseEntry(extent, 'releasePages');
    if (entry === undefined) return { released: 0, stillMapped: 0 };
    this.ledger.checkRange(extent, range, 'releasePages');
    const byPage = entry.priv.refs;
    const ended: GrantRef[] = [];
    let stillMapped = 0;
    for (let page = range.first; page < range.end; page++) {
      const ref = byPage.get(page);
      if (ref === undefined) continue;
      if ((this.mapCount[ref] ?? 0) > 0) {
        stillMapped++;
      } else {
        byPage.delete(page);
        ended.push(ref);
      }
    }
    this.release(ended);
    this.ledger.pagesChanged(entry, -ended.length, stillMapped);
    return { released: ended.length, stillMapped };
  }

  grantedPages(extent: GrantExtent): number {
    return this.ledger.entry(extent, 'grantedPages').granted;
  }

  refsOf(extent: GrantExtent): readonly GrantRef[] {
    const { priv } = this.ledger.entry(extent, 'refsOf');
    return [...priv.refs.entries()].sort((a, b) => a[0] - b[0]).map(([, ref]) => ref);
  }

  /** A model has no bytes to clear. */
  discard(extent: GrantExtent, offset: number, length: number): void {
    this.ledger.entry(extent, 'discard');
    if (offset < 0 || length < 0) throw new RangeError(`sim: discard ${offset}+${length}`);
  }

  /** A model has no pages to share. */
  shareFd(extent: GrantExtent): number {
    this.ledger.entry(extent, 'shareFd');
    throw new ExtentNotShareableError('sim');
  }

  /**
   * A whole extent takes more free refs (they need not be contiguous); a sparse one only
   * spans more pages.
   */
  grow(extent: GrantExtent, pages: number): GrantExtent {
    this.ledger.assertOpen('grow');
    const entry = this.ledger.entry(extent, 'grow');
    if (pages <= extent.pages) return extent;
    this.ledger.checkPages(pages);
    if (extent.sparse) {
      return this.ledger.replace(extent, { pages, refs: [], ptr: undefined }, entry.priv);
    }
    const more = pages - extent.pages;
    if (more > this.freeCount) throw new GrantTableFullError('sim', more, this.freeCount);
    const fresh = this.take(more);
    fresh.forEach((ref, i) => entry.priv.refs.set(extent.pages + i, ref));
    const refs = [...extent.refs, ...fresh];
    return this.ledger.replace(extent, { pages, refs, ptr: undefined }, entry.priv);
  }

  /**
   * All or nothing over the extent's granted refs: 'still-mapped' (nothing ended) if any
   * page has a remote mapping, else every ref ends. (Per ref this is exactly
   * gnttab_try_end_foreign_access; checking all first keeps an extent from ending half.)
   * Ending an already ended extent is 'ok' again (and counted).
   */
  endForeignAccess(extent: GrantExtent): EndAccessResult {
    this.ledger.assertOpen('endForeignAccess');
    const entry = this.ledger.entry(extent, 'endForeignAccess');
    const result = this.anyMapped(entry.priv) ? 'still-mapped' : 'ok';
    return this.ledger.recordEnd(entry, result);
  }

  /** Returns the refs to the free pool. Throws ExtentStateError unless access has ended. */
  free(extent: GrantExtent): void {
    this.ledger.assertOpen('free');
    const { priv } = this.ledger.remove(extent);
    this.release([...priv.refs.values()]);
  }

  stats(): BackendStats {
    return this.ledger.stats(this.tableSize - GNTTAB_NR_RESERVED_ENTRIES);
  }

  /**
   * Drops every live extent. Those still mapped remotely are counted and passed to
   * onStillMappedAtClose (a real domain would leave them to Linux's deferred list).
   */
  close(): void {
    if (this.ledger.isClosed) return;
    const entries = this.ledger.closeAll();
    const stillMapped = entries.filter((e) => this.anyMapped(e.priv)).map((e) => e.extent);
    for (const { priv } of entries) {
      const refs = [...priv.refs.values()];
      for (const ref of refs) this.mapCount[ref] = 0;
      this.release(refs);
    }
    this.ledger.recordStillMappedAtClose(stillMapped.length);
    if (stillMapped.length > 0) this.onStillMappedAtClose?.(stillMapped);
  }

  // --- the remote side -------------------------------------------------------------

  /**
   * The remote domain maps once more the pages of `range` (every one must have a ref),
   * or, without a range, every granted page of the extent.
   */
  simulateRemoteMap(extent: GrantExtent, range?: PageRange): void {
    this.ledger.assertOpen('simulateRemoteMap');
    const entry = this.ledger.entry(extent, 'simulateRemoteMap');
    // Xen refuses to map a grant whose access was ended (GNTST_general_error).
    if (entry.phase === 'ended') {
      throw new ExtentStateError('sim', 'simulateRemoteMap', extent.id, 'ended');
    }
    const refs = this.refsIn(entry.priv, extent, range, 'simulateRemoteMap');
    for (const ref of refs) this.mapCount[ref] = (this.mapCount[ref] ?? 0) + 1;
  }

  /** The remote domain drops one mapping of each page of `range` (or of every granted page). */
  simulateRemoteUnmap(extent: GrantExtent, range?: PageRange): void {
    this.ledger.assertOpen('simulateRemoteUnmap');
    const entry = this.ledger.entry(extent, 'simulateRemoteUnmap');
    const refs = this.refsIn(entry.priv, extent, range, 'simulateRemoteUnmap');
    if (refs.some((ref) => this.mapCount[ref] === 0)) {
      throw new ExtentStateError('sim', 'simulateRemoteUnmap', extent.id, 'not-mapped');
    }
    for (const ref of refs) this.mapCount[ref] = (this.mapCount[ref] ?? 1) - 1;
  }

  /** RemoteMappingSource: the model's own truth ('unknown' for another backend's extent). */
  isMapped(extent: GrantExtent): boolean | 'unknown' {
    if (this.ledger.isForeign(extent)) return 'unknown';
    const entry = this.ledger.entryIfLive(extent, 'isMapped');
    return entry !== undefined && this.anyMapped(entry.priv);
  }

  /** Remote mappings of one ref (0 for a free or reserved ref). */
  remoteMapCount(ref: GrantRef): number {
    return this.mapCount[ref] ?? 0;
  }

  private refsIn(
    priv: SimPrivate,
    extent: GrantExtent,
    range: PageRange | undefined,
    operation: string,
  ): GrantRef[] {
    if (range === undefined) return [...priv.refs.values()];
    this.ledger.checkRange(extent, range, operation);
    const refs: GrantRef[] = [];
    for (let page = range.first; page < range.end; page++) {
      const ref = priv.refs.get(page);
      // Xen: a ref that was never granted (or was ended) cannot be mapped.
      if (ref === undefined) throw new ExtentStateError('sim', operation, extent.id, 'not-granted');
      refs.push(ref);
    }
    return refs;
  }

  private anyMapped(priv: SimPrivate): boolean {
    for (const ref of priv.refs.values()) if ((this.mapCount[ref] ?? 0) > 0) return true;
    return false;
  }

  /** Takes the `count` lowest free refs (the caller checked freeCount). */
  private take(count: number): GrantRef[] {
    const refs: GrantRef[] = [];
    for (let ref = this.lowestFree; refs.length < count; ref++) {
      if (this.taken[ref] === 0) {
        this.taken[ref] = 1;
        refs.push(ref);
      }
    }
    this.freeCount -= count;
    if (count > 0) this.lowestFree = refs[refs.length - 1]! + 1;
    return refs;
  }

  private release(refs: readonly GrantRef[]): void {
    for (const ref of refs) {
      this.taken[ref] = 0;
      if (ref < this.lowestFree) this.lowestFree = ref;
    }
    this.freeCount += refs.length;
  }
}
