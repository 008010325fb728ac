// What the bridge needs from a grant table, whatever backs it: Xen's (gntalloc), a
// faithful model of it (sim), or plain shared memory on any Linux (memfd). The shm
// tracker and the reclaim scheduler speak only this interface.
//
// An extent spans a pool (the compositor maps it at the pool's declared size) but need
// not grant every page of it. A *whole* extent grants all its pages at allocation (the
// only kind gntalloc can make: one IOCTL_GNTALLOC_ALLOC_GREF per extent, mapped at one
// device offset). A *sparse* extent grants none at first: grant mode grants a page when
// a live buffer of the pool first covers it and gives it back (ends foreign access to
// its ref, drops the memory) when no live buffer covers it any more — so a 512 MiB pool
// holding two 4 MiB buffers costs ~8 MiB of pages, ~2 048 refs (bridge/shm/coverage.ts).

import type { NativePointer } from '../../ffi/libc.js';

export const PAGE_SIZE = 4096;

/** The pages `size` bytes take (the last one partly used). */
export const pagesOf = (size: number): number => Math.ceil(size / PAGE_SIZE);

/** `size` bytes rounded up to whole pages. */
export const pageBytes = (size: number): number => pagesOf(size) * PAGE_SIZE;

/** A grant reference: the number the remote side maps a page by. */
export type GrantRef = number;

export type GrantBackendName = 'sim' | 'memfd' | 'gntalloc';

/**
 * Fds a backend holds for each live extent, on top of any it holds once: memfd keeps
 * each extent's memfd open; gntalloc maps every extent through one device fd; sim has
 * none. (What the per-client fd limit counts in grant mode.)
 */
export const FDS_PER_EXTENT: Readonly<Record<GrantBackendName, number>> = {
  memfd: 1,
  gntalloc: 0,
  sim: 0,
};

/** Pages [first, end) of an extent (page 0 is the pool's first page). */
export interface PageRange {
  readonly first: number;
  readonly end: number;
}

/** What releasePages did. */
export interface PageRelease {
  /** Pages whose access ended and whose refs went back to the table. */
  readonly released: number;
  /** Pages the remote side still maps: they stay granted (sim, as Xen refuses to end them). */
  readonly stillMapped: number;
}

/**
 * Pages backing one client pool. Invariants: a whole extent has `refs.length === pages`
 * and every page granted; a sparse one has `refs` empty and grants pages one by one
 * (grantPages / releasePages, refs through refsOf); once `free` has returned, nothing
 * of the extent (fd, mapping, refs) may be used.
 */
export interface GrantExtent {
  /** Unique per backend instance, never reused. */
  readonly id: number;
  /** Pages the extent spans: its fd and the bridge's mapping are this long. */
  readonly pages: number;
  /** Granted page by page (see the module comment) rather than whole at allocation. */
  readonly sparse: boolean;
  /** A whole extent's refs, one per page in order; empty for a sparse one. */
  readonly refs: readonly GrantRef[];
  /**
   * The fd the compositor receives in place of the client's pool fd (memfd: the
   * extent's memfd; gntalloc: the gntalloc device fd; sim: none). Owned by the backend.
   */
  readonly fd: number | undefined;
  /** mmap offset of the extent within `fd` (gntalloc: its index; memfd: 0). */
  readonly fdOffset: number;
  /** The bridge's own writable mapping of the pages (sim: none). */
  readonly ptr: NativePointer | undefined;
  /**
   * Identity of the backing file, for the mapping oracle (memfd only). `ownFd`: the
   * backend's own fd on it, the only open file description of the file the bridge holds
   * (the remote side gets another one from shareFd), so the oracle can ask the kernel
   * whether anyone else holds the file at all (see bridge/oracle/sole-holder.ts).
   */
  readonly file:
    { readonly dev: bigint; readonly ino: bigint; readonly ownFd?: number } | undefined;
}

/** Result of trying to end the remote side's access to an extent. */
export type EndAccessResult = 'ok' | 'still-mapped';

export interface GrantBackendStats {
  readonly refsTotal: number;
  /** Refs granted now: every page of a whole extent, the granted pages of a sparse one. */
  readonly refsInUse: number;
  readonly extentsInUse: number;
  readonly allocations: number;
  readonly frees: number;
  /** Every endForeignAccess call, successful or not. */
  readonly endAccessAttempts: number;
  /** Calls that returned 'still-mapped'. */
  readonly endAccessFailures: number;
}

export interface GrantBackend {
  readonly name: GrantBackendName;
  /** Whether allocate can make sparse extents (memfd, sim; not gntalloc). */
  readonly grantsSparsely: boolean;
  /**
   * An extent spanning `pages` pages: whole (every page granted; throws
   * GrantTableFullError when refs run out), or, with `sparse`, none granted yet (throws
   * a TypeError on a backend that cannot grant sparsely).
   */
  allocate(pages: number, options?: { readonly sparse?: boolean }): GrantExtent;
  /**
   * Grants the pages of `range` of a sparse extent that are not granted yet (fresh refs,
   * zero-filled pages); returns how many. All or nothing: throws GrantTableFullError,
   * granting none, when refs run out. A no-op (0) on a whole extent.
   */
  grantPages(extent: GrantExtent, range: PageRange): number;
  /**
   * Ends foreign access to the granted pages of `range` of a sparse extent and gives
   * their refs (and memory) back; pages the remote side still maps stay granted, as
   * gnttab_try_end_foreign_access refuses them (sim). A no-op on a whole extent.
   */
  releasePages(extent: GrantExtent, range: PageRange): PageRelease;
  /** Pages granted now (a whole extent: all of them). */
  grantedPages(extent: GrantExtent): number;
  /** The refs of the granted pages, in page order. */
  refsOf(extent: GrantExtent): readonly GrantRef[];
  /**
   * Bytes [offset, offset + length) of the extent are zero from now on, holding no
   * memory where the backend can drop it: memfd punches the range out of the file (the
   * client's pool has a hole there); gntalloc writes zeros; sim has no bytes.
   */
  discard(extent: GrantExtent, offset: number, length: number): void;
  /**
   * Ends foreign access to every granted ref of the extent, as
   * gnttab_try_end_foreign_access does: fails (and changes nothing) while the remote side
   * still maps any page.
   * Counted in stats whatever the result.
   */
  endForeignAccess(extent: GrantExtent): EndAccessResult;
  /**
   * Makes an extent span `pages` pages in place (wl_shm_pool.resize: the compositor
   * remaps the same fd larger): a whole extent grants the new pages, a sparse one grants
   * nothing more. Returns the extent's new description; the old object must not be used
   * again. Throws ExtentGrowUnsupportedError where the backend cannot do it.
   */
  grow(extent: GrantExtent, pages: number): GrantExtent;
  /**
   * A new fd for the remote side to receive in place of the client's pool fd; the caller
   * owns it (the relay sends and closes it). memfd: a fresh open file description of the
   * extent's file, never a dup of the backend's own (the E3 oracle tells the bridge's
   * hold from everyone else's by that); gntalloc: a dup of the device fd. Throws for an
   * extent without an fd (sim).
   */
  shareFd(extent: GrantExtent): number;
  /** Releases an extent whose access has ended ('ok' above). Throws otherwise. */
  free(extent: GrantExtent): void;
  stats(): GrantBackendStats;
  /** Frees what is left (teardown); extents still mapped remotely are reported, not leaked. */
  close(): void;
}

/** Where a backend learns whether the remote side maps an extent (sim: its own model). */
export interface RemoteMappingSource {
  /** 'unknown' when it cannot tell (no oracle, other pid namespace…). */
  isMapped(extent: GrantExtent): boolean | 'unknown';
  /**
   * About to ask about many of `extents` in this turn (the scheduler's timers are due):
   * look at all of them at once, so the isMapped calls that follow in this turn cost
   * nothing more (one /proc walk for all, not one each). Optional: an answer to a
   * cheap question need not be prepared.
   */
  prefetch?(extents: readonly GrantExtent[]): void;
}
