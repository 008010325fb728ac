// What the bridge needs from a grant table, whatever backs it: Xen's (gntalloc), a
// faithful model of it (sim), or plain shared memory on any Linux (memfd). The shm
// tracker and the reclaim scheduler speak only this interface.

import type { NativePointer } from '../../ffi/libc.js';

export const PAGE_SIZE = 4096;

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

/**
 * Pages granted together, backing one client pool. Invariants: `refs.length === pages`;
 * once `free` has returned, nothing of the extent (fd, mapping, refs) may be used.
 */
export interface GrantExtent {
  /** Unique per backend instance, never reused. */
  readonly id: number;
  readonly pages: number;
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
  /** Grants `pages` fresh pages. Throws GrantTableFullError when refs run out. */
  allocate(pages: number): GrantExtent;
  /**
   * Ends foreign access to every ref of the extent, as gnttab_try_end_foreign_access
   * does: fails (and changes nothing) while the remote side still maps any page.
   * Counted in stats whatever the result.
   */
  endForeignAccess(extent: GrantExtent): EndAccessResult;
  /**
   * Adds pages to a granted extent in place (wl_shm_pool.resize: the compositor remaps
   * the same fd larger). Returns the extent's new description; the old object must not
   * be used again. Throws ExtentGrowUnsupportedError where the backend cannot do it.
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
}
