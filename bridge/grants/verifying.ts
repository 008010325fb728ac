// A grant backend that judges every free: it delegates everything to a real backend and,
// at each free, asks the plain holder walk (bridge/oracle/holders.ts: every process's
// maps and fds, nothing shared with the oracle's own walk or its leases) whether any
// process but the bridge still maps or holds the extent. Such a free is an unsafe
// reclaim, counted at the moment it happens. Used by the demo and the tests, through
// the bridge assembly's verifyFrees.

import { type Holder, holdersOf } from '../oracle/holders.js';
import type { GrantBackend, GrantExtent } from './types.js';

export interface UnsafeFree {
  readonly extent: number;
  readonly holders: readonly Holder[];
}

export interface VerifyingOptions {
  /** Processes whose holds do not count (default: this one, the bridge). */
  readonly exclude?: readonly number[];
  /** Unreadable processes that do not make a free unverified (see vouchedPids). */
  readonly vouched?: readonly number[];
}

export class VerifyingBackend implements GrantBackend {
  /** Frees of an extent some process still mapped or held: must stay 0. */
  unsafe = 0;
  /** Frees the walk could not vouch for (a process it could not read). */
  unverified = 0;
  frees = 0;
  /** The unsafe frees, with who held the extent (first 100). */
  readonly unsafeFrees: UnsafeFree[] = [];

  constructor(
    private readonly inner: GrantBackend,
    options: VerifyingOptions = {},
  ) {
    this.exclude = options.exclude ?? [process.pid];
    this.vouched = new Set(options.vouched ?? []);
  }
  private readonly exclude: readonly number[];
  private readonly vouched: ReadonlySet<number>;

  get name(): GrantBackend['name'] {
    return this.inner.name;
  }
  allocate(pages: number): GrantExtent {
    return this.inner.allocate(pages);
  }
  grow(extent: GrantExtent, pages: number): GrantExtent {
    return this.inner.grow(extent, pages);
  }
  shareFd(extent: GrantExtent): number {
    return this.inner.shareFd(extent);
  }
  endForeignAccess(extent: GrantExtent): ReturnType<GrantBackend['endForeignAccess']> {
    return this.inner.endForeignAccess(extent);
  }
  free(extent: GrantExtent): void {
    if (extent.file !== undefined) {
      const { holders, unreadable } = holdersOf(extent.file, this.exclude);
      if (holders.length > 0) {
        this.unsafe++;
        if (this.unsafeFrees.length < 100) this.unsafeFrees.push({ extent: extent.id, holders });
      } else if (unreadable.some((pid) => !this.vouched.has(pid))) this.unverified++;
    }
    this.frees++;
    this.inner.free(extent);
  }
  stats(): ReturnType<GrantBackend['stats']> {
    return this.inner.stats();
  }
  close(): void {
    this.inner.close();
  }
}
