// Limits accounting for one client's pools: what the bridge really holds for each pool
// (pages it grants, bytes it can make resident, address space, fds it keeps open),
// summed, and checked against maxPoolSize, maxShmTotal and maxShmDeclared before
// anything is taken, so a refused request costs nothing. The relay adds `heldFds` to its
// own queued fds for maxFds.
//
// A pool's memory cost is what its live buffers cover, not its declared size (foot
// declares 512 MiB pools and draws in a few MiB of them; bridge/shm/coverage.ts): the
// charge follows the coverage, growing at create_buffer (checked there) and shrinking
// when a buffer is done. The declared size costs address space only — the compositor
// maps all of it, and grant mode maps it three times (the extent, and the client's pool
// beside the extent for copies) — and is bounded by maxShmDeclared.
//
// With the bridge's ShmBudget, every client's charges together are also checked against
// maxShmTotalAll.
//
// What a pool costs depends on the mode, so a ChargeModel says it: passthrough keeps a
// dup of the client's fd and nothing else of its own (the covered bytes are the
// client's memory, which the compositor reads); grant mode adds an extent (its granted
// pages, and its fd with the memfd backend) and, for a sealed pool read through a
// mapping, up to as many client pages again (see GrantBacking.charge). This is the one
// place that knows about charges: a mode changes its model, not this.

import { pageBytes } from '../grants/types.js';
import { ClientLimitError } from '../relay/errors.js';
import type { ClientLimits } from '../relay/limits.js';
import type { ShmBudget } from './shm-budget.js';
import type { PoolState } from './state.js';

/** What the bridge holds for one pool. */
export interface PoolCharge {
  /** Bytes of pages held for this pool (what maxPoolSize bounds): the covered bytes, or
   * the whole pool where the backend grants pools whole. */
  readonly granted: number;
  /** Bytes of memory the pool can make the bridge (or its extent) hold (maxShmTotal). */
  readonly bytes: number;
  /** The declared size, page-rounded: address space mapped for it (maxShmDeclared). */
  readonly declared: number;
  /** Fds the bridge keeps open for the pool. */
  readonly fds: number;
}

/**
 * How a mode charges a pool: `size` declared bytes whose live buffers cover `covered`
 * bytes (page-rounded); `letGo`: once the client has let go of it (the tracker's fd of
 * the client's file is closed then, and nothing is read from the client's pages any more).
 */
export interface ChargeModel {
  charge(size: number, covered: number, sealedAgainstShrink: boolean, letGo?: boolean): PoolCharge;
}

/** Passthrough: the tracker's dup of the client's fd; the covered bytes. */
export const PASSTHROUGH_CHARGES: ChargeModel = {
  charge: (size, covered, _sealed, letGo = false) => ({
    granted: covered,
    bytes: covered,
    declared: pageBytes(size),
    fds: letGo ? 0 : 1,
  }),
};

export class ShmAccounting {
  /** Invariant: bytes, declared and fds are the sums of `charges`. */
  private readonly charges = new Map<PoolState, PoolCharge>();
  private bytes = 0;
  private declared = 0;
  private fds = 0;

  constructor(
    private readonly limits: Pick<ClientLimits, 'maxPoolSize' | 'maxShmTotal' | 'maxShmDeclared'>,
    private readonly model: ChargeModel,
    /** maxShmTotalAll: every client's charges together (shm-budget.ts). */
    private readonly budget?: ShmBudget,
  ) {}

  /** Fds held for every pool charged. */
  get heldFds(): number {
    return this.fds;
  }

  /** Bytes held for every pool charged (what maxShmTotal bounds). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Declared bytes of every pool charged (what maxShmDeclared bounds). */
  get heldDeclared(): number {
    return this.declared;
  }

  /** What `pool` is charged now (undefined once released). */
  chargeOf(pool: PoolState): PoolCharge | undefined {
    return this.charges.get(pool);
  }

  /**
   * The charge of a new pool (no buffer yet), if the limits allow it (`what` names the
   * request in the error). Nothing is recorded until `charge`.
   */
  admit(what: string, size: number, sealedAgainstShrink: boolean): PoolCharge {
    const charge = this.model.charge(size, 0, sealedAgainstShrink);
    this.check(what, undefined, charge);
    return charge;
  }

  /**
   * The charge of `pool` at declared `size` with `covered` bytes covered by its live
   * buffers, if the limits allow it; recorded by `charge`. A charge that does not grow
   * is always allowed (a buffer going away never fails).
   */
  admitChange(what: string, pool: PoolState, size: number, covered: number): PoolCharge {
    const charge = this.model.charge(size, covered, pool.sealedAgainstShrink);
    this.check(what, this.charges.get(pool), charge);
    return charge;
  }

  /** Records (or replaces) what `pool` costs. */
  charge(pool: PoolState, charge: PoolCharge): void {
    this.release(pool);
    this.charges.set(pool, charge);
    this.bytes += charge.bytes;
    this.declared += charge.declared;
    this.fds += charge.fds;
  }

  /**
   * The client let go of `pool`: from now on it costs what the model says a let-go pool
   * costs (never more than before). Still charged until `release`: a client's pools the
   * compositor may still map count against its own limits.
   */
  letGo(pool: PoolState): void {
    const before = this.charges.get(pool);
    if (before === undefined) return;
    // The pages still granted stay covered (the compositor may map them) until final.
    this.charge(pool, this.model.charge(pool.size, before.granted, pool.sealedAgainstShrink, true));
  }

  /** The pool is final: the bridge holds nothing more for it. */
  release(pool: PoolState): void {
    const charge = this.charges.get(pool);
    if (charge === undefined) return;
    this.charges.delete(pool);
    this.bytes -= charge.bytes;
    this.declared -= charge.declared;
    this.fds -= charge.fds;
  }

  private check(what: string, before: PoolCharge | undefined, after: PoolCharge): void {
    const { maxPoolSize, maxShmTotal, maxShmDeclared } = this.limits;
    if (after.granted > maxPoolSize && after.granted > (before?.granted ?? 0)) {
      const covered =
        before === undefined ? '' : `, its buffers would cover ${after.granted} bytes`;
      throw new ClientLimitError('maxPoolSize', maxPoolSize, `${what}${covered}`);
    }
    const grow = after.declared - (before?.declared ?? 0);
    if (grow > 0 && this.declared + grow > maxShmDeclared) {
      throw new ClientLimitError(
        'maxShmDeclared',
        maxShmDeclared,
        `${what}, with ${this.declared} bytes declared by ${this.charges.size} pools (this one would add ${grow})`,
      );
    }
    const growth = after.bytes - (before?.bytes ?? 0);
    if (growth > 0 && this.bytes + growth > maxShmTotal) {
      throw new ClientLimitError(
        'maxShmTotal',
        maxShmTotal,
        `${what}, with ${this.bytes} bytes held for ${this.charges.size} pools (this one would add ${growth})`,
      );
    }
    this.budget?.admit(what, growth);
  }
}
