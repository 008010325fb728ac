// The ways a grant backend refuses, one class each with a stable `code` (ARCHITECTURE.md §7,
// undici's model), so the shm tracker and the scheduler match on the kind of failure and
// never on message text.

import type { GrantBackendName } from './types.js';

/** No free grant refs for an allocation; nothing was allocated. */
export class GrantTableFullError extends Error {
  readonly code = 'ERR_GRANT_TABLE_FULL';
  override readonly name = 'GrantTableFullError';
  constructor(
    readonly backend: GrantBackendName,
    /** Pages asked for. */
    readonly requested: number,
    /** Refs that were free (as far as the backend knows). */
    readonly available: number,
    options?: { cause?: unknown; hint?: string },
  ) {
    const hint = options?.hint === undefined ? '' : ` (${options.hint})`;
    super(
      `${backend} grant table full: ${requested} refs requested, ${available} free${hint}`,
      options,
    );
  }
}

/** /dev/xen/gntalloc cannot be opened: not a Xen domain, or the driver is not loaded. */
export class GntallocUnavailableError extends Error {
  readonly code = 'ERR_GNTALLOC_UNAVAILABLE';
  override readonly name = 'GntallocUnavailableError';
  constructor(
    readonly path: string,
    /** errno name of the failed open, e.g. 'ENOENT'. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the gntalloc grant backend cannot open ${path} (${reason}): it works only inside a ` +
        `Xen domain with the gntalloc driver (xen_gntalloc) loaded; use the memfd backend elsewhere`,
      options,
    );
  }
}

/** Where an extent is in its life, as far as one operation is concerned. */
export type ExtentState =
  /** Allocated, foreign access not ended. */
  | 'granted'
  /** Foreign access ended, not yet freed. */
  | 'ended'
  /** Freed (or dropped by close()): nothing of it may be used any more. */
  | 'freed'
  /** Not issued by this backend instance. */
  | 'foreign'
  /** (sim) the remote side does not map it: an unmap without a map. */
  | 'not-mapped'
  /** (sim) a page of a sparse extent that has no ref: the remote side cannot map it. */
  | 'not-granted';

/**
 * An operation was asked of an extent in a state that forbids it: free before foreign
 * access ended, double free, any use after free, an extent of another backend, a remote
 * map of an ended grant. Nothing was changed.
 */
export class ExtentStateError extends Error {
  readonly code = 'ERR_GRANT_EXTENT_STATE';
  override readonly name = 'ExtentStateError';
  constructor(
    readonly backend: GrantBackendName,
    readonly operation: string,
    readonly extentId: number,
    readonly state: ExtentState,
  ) {
    super(`${backend}: ${operation} on extent ${extentId}: not allowed when ${state}`);
  }
}

/** The backend was closed; it accepts no further calls. */
export class GrantBackendClosedError extends Error {
  readonly code = 'ERR_GRANT_BACKEND_CLOSED';
  override readonly name = 'GrantBackendClosedError';
  constructor(
    readonly backend: GrantBackendName,
    readonly operation: string,
  ) {
    super(`${backend} grant backend is closed (${operation})`);
  }
}

/** An extent size that is not a positive integer number of pages (or exceeds a limit). */
export class InvalidExtentSizeError extends RangeError {
  readonly code = 'ERR_GRANT_EXTENT_SIZE';
  override readonly name = 'InvalidExtentSizeError';
  constructor(
    readonly backend: GrantBackendName,
    readonly pages: number,
  ) {
    super(`${backend}: an extent needs a positive integer number of pages, got ${pages}`);
  }
}

/** createGrantBackend was given a name that is not 'sim', 'memfd' or 'gntalloc'. */
export class UnknownGrantBackendError extends Error {
  readonly code = 'ERR_GRANT_BACKEND_UNKNOWN';
  override readonly name = 'UnknownGrantBackendError';
  constructor(readonly backend: string) {
    super(`unknown grant backend ${JSON.stringify(backend)} (sim, memfd or gntalloc)`);
  }
}

/** The backend cannot add pages to an extent in place (gntalloc). */
export class ExtentGrowUnsupportedError extends Error {
  readonly code = 'ERR_EXTENT_GROW_UNSUPPORTED';
  override readonly name = 'ExtentGrowUnsupportedError';
  constructor(readonly backend: GrantBackendName) {
    super(
      `the ${backend} grant backend cannot grow an extent in place, so it cannot follow wl_shm_pool.resize`,
    );
  }
}

/** The extent has no fd a compositor could map (sim: an accounting model, no pages). */
export class ExtentNotShareableError extends Error {
  readonly code = 'ERR_EXTENT_NOT_SHAREABLE';
  override readonly name = 'ExtentNotShareableError';
  constructor(readonly backend: GrantBackendName) {
    super(`the ${backend} grant backend has no pages to give a compositor`);
  }
}
