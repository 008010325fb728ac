// A model of a Xen grant table (v1), for passthrough mode and for replaying traces
// through the reclaim policies without Xen: a fixed number of refs, the first few
// reserved, a remote map count per ref, and end-of-foreign-access that fails while any
// page is still mapped, as gnttab_try_end_foreign_access does. The remote side is driven
// by the caller (a simulated compositor calls simulateRemoteMap/Unmap). No fds, no
// memory: an accounting model only (extent.fd/ptr/file are undefined).

import { ExtentNotShareableError, ExtentStateError, GrantTableFullError } from './errors.js';
import { type BackendStats, type CommonGrantOptions, ExtentLedger } from './ledger.js';
import type {
  EndAccessResult,
  GrantBackend,
  GrantExtent,
  GrantRef,
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

export class SimGrantBackend implements GrantBackend, RemoteMappingSource {
  readonly name = 'sim' as const;
  /** Refs in the table, reserved ones included. */
  readonly tableSize: number;
  private readonly ledger = new ExtentLedger<undefined>('sim');
  private readonly onStillMappedAtClose: CommonGrantOptions['onStillMappedAtClose'];
  /**
   * 1 while a ref belongs to a live extent. Invariant: refs below
   * GNTTAB_NR_RESERVED_ENTRIES are never marked (never handed out).
   */
  private readonly taken: Uint8Array;
  /**
   * Remote mappings per ref. Invariant: non-zero only for refs of a live extent whose
   * foreign access has not ended (an ended grant cannot be mapped; end access fails
   * while this is non-zero).
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

  /** Takes the `pages` lowest free refs (not necessarily contiguous, as in Xen). */
  allocate(pages: number): GrantExtent {
    this.ledger.assertOpen('allocate');
    this.ledger.checkPages(pages);
    if (pages > this.freeCount) throw new GrantTableFullError('sim', pages, this.freeCount);
    const refs: GrantRef[] = [];
    for (let ref = this.lowestFree; refs.length < pages; ref++) {
      if (this.taken[ref] === 0) {
        this.taken[ref] = 1;
        refs.push(ref);
      }
    }
    this.freeCount -= pages;
    this.lowestFree = (refs[refs.length - 1] ?? this.lowestFree) + 1;
    return this.ledger.add(
      {
        id: this.ledger.takeId(),
        refs,
        fd: undefined,
        fdOffset: 0,
        ptr: undefined,
        file: undefined,
      },
      undefined,
    );
  }

  /** A model has no pages to share. */
  shareFd(extent: GrantExtent): number {
    this.ledger.entry(extent, 'shareFd');
    throw new ExtentNotShareableError('sim');
  }

  /** Takes more free refs for a granted extent (they need not be contiguous). */
  grow(extent: GrantExtent, pages: number): GrantExtent {
    this.ledger.assertOpen('grow');
    this.ledger.entry(extent, 'grow');
    if (pages <= extent.pages) return extent;
    this.ledger.checkPages(pages);
    const more = pages - extent.pages;
    if (more > this.freeCount) throw new GrantTableFullError('sim', more, this.freeCount);
    const refs = [...extent.refs];
    for (let ref = this.lowestFree; refs.length < pages; ref++) {
      if (this.taken[ref] === 0) {
        this.taken[ref] = 1;
        refs.push(ref);
      }
    }
    this.freeCount -= more;
    this.lowestFree = (refs[refs.length - 1] ?? this.lowestFree) + 1;
    return this.ledger.replace(extent, { refs, ptr: undefined }, undefined);
  }

  /**
   * All or nothing over the extent's refs: 'still-mapped' (nothing ended) if any page
   * has a remote mapping, else every ref ends. (Per ref this is exactly
   * gnttab_try_end_foreign_access; checking all first keeps an extent from ending half.)
   * Ending an already ended extent is 'ok' again (and counted).
   */
  endForeignAccess(extent: GrantExtent): EndAccessResult {
    this.ledger.assertOpen('endForeignAccess');
    const entry = this.ledger.entry(extent, 'endForeignAccess');
    const result = this.anyMapped(extent) ? 'still-mapped' : 'ok';
    return this.ledger.recordEnd(entry, result);
  }

  /** Returns the refs to the free pool. Throws ExtentStateError unless access has ended. */
  free(extent: GrantExtent): void {
    this.ledger.assertOpen('free');
    this.ledger.remove(extent);
    this.release(extent.refs);
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
    const stillMapped = entries.map((e) => e.extent).filter((x) => this.anyMapped(x));
    for (const { extent } of entries) {
      for (const ref of extent.refs) this.mapCount[ref] = 0;
      this.release(extent.refs);
    }
    this.ledger.recordStillMappedAtClose(stillMapped.length);
    if (stillMapped.length > 0) this.onStillMappedAtClose?.(stillMapped);
  }

  // --- the remote side -------------------------------------------------------------

  /** The remote domain maps every page of the extent once more. */
  simulateRemoteMap(extent: GrantExtent): void {
    this.ledger.assertOpen('simulateRemoteMap');
    const entry = this.ledger.entry(extent, 'simulateRemoteMap');
    // Xen refuses to map a grant whose access was ended (GNTST_general_error).
    if (entry.phase === 'ended') {
      throw new ExtentStateError('sim', 'simulateRemoteMap', extent.id, 'ended');
    }
    for (const ref of extent.refs) this.mapCount[ref] = (this.mapCount[ref] ?? 0) + 1;
  }

  /** The remote domain drops one mapping of every page; each page must be mapped. */
  simulateRemoteUnmap(extent: GrantExtent): void {
    this.ledger.assertOpen('simulateRemoteUnmap');
    this.ledger.entry(extent, 'simulateRemoteUnmap');
    if (extent.refs.some((ref) => this.mapCount[ref] === 0)) {
      throw new ExtentStateError('sim', 'simulateRemoteUnmap', extent.id, 'not-mapped');
    }
    for (const ref of extent.refs) this.mapCount[ref] = (this.mapCount[ref] ?? 1) - 1;
  }

  /** RemoteMappingSource: the model's own truth ('unknown' for another backend's extent). */
  isMapped(extent: GrantExtent): boolean | 'unknown' {
    if (this.ledger.isForeign(extent)) return 'unknown';
    return this.ledger.entryIfLive(extent, 'isMapped') !== undefined && this.anyMapped(extent);
  }

  /** Remote mappings of one ref (0 for a free or reserved ref). */
  remoteMapCount(ref: GrantRef): number {
    return this.mapCount[ref] ?? 0;
  }

  private anyMapped(extent: GrantExtent): boolean {
    return extent.refs.some((ref) => (this.mapCount[ref] ?? 0) > 0);
  }

  private release(refs: readonly GrantRef[]): void {
    for (const ref of refs) {
      this.taken[ref] = 0;
      if (ref < this.lowestFree) this.lowestFree = ref;
    }
    this.freeCount += refs.length;
  }
}
