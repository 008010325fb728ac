// A grant backend that judges every free: it delegates everything to a real backend and,
// at each free, asks the plain holder walk (bridge/oracle/holders.ts: every process's
// maps and fds, nothing shared with the oracle's own walk or its leases) whether any
// process but the bridge still maps or holds the extent. Such a free is an unsafe
// reclaim, counted at the moment it happens. Used by the demo and the tests, through
// the bridge assembly's verifyFrees.

import { type Holder, holdersOf } from '../oracle/holders.js';
import { DelegatingBackend } from './delegating.js';
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

export class VerifyingBackend extends DelegatingBackend {
  /** Frees of an extent some process still mapped or held: must stay 0. */
  unsafe = 0;
  /** Frees the walk could not vouch for (a process it could not read). */
  unverified = 0;
  frees = 0;
  /** The unsafe frees, with who held the extent (first 100). */
  readonly unsafeFrees: UnsafeFree[] = [];
  private readonly exclude: readonly number[];
  private readonly vouched: ReadonlySet<number>;

  constructor(inner: GrantBackend, options: VerifyingOptions = {}) {
    super(inner);
    this.exclude = options.exclude ?? [process.pid];
    this.vouched = new Set(options.vouched ?? []);
  }

  override free(extent: GrantExtent): void {
    if (extent.file !== undefined) {
      const { holders, unreadable } = holdersOf(extent.file, this.exclude);
      if (holders.length > 0) {
        this.unsafe++;
        if (this.unsafeFrees.length < 100) this.unsafeFrees.push({ extent: extent.id, holders });
      } else if (unreadable.some((pid) => !this.vouched.has(pid))) this.unverified++;
    }
    this.frees++;
    super.free(extent);
  }
}
