// Limits accounting for one client's pools: what the bridge really holds for each pool
// (bytes it makes resident, fds it keeps open), summed, and checked against maxPoolSize
// and maxShmTotal before anything is allocated, so a refused pool costs nothing. The
// relay adds `heldFds` to its own queued fds for maxFds.
//
// What a pool costs depends on the mode, so a ChargeModel says it: passthrough keeps a
// dup of the client's fd and nothing else of its own (the pool's bytes are the client's
// memory, which the compositor maps); grant mode adds an extent (its pages, and its fd
// with the memfd backend) and, for a sealed pool read through a mapping, the client's
// pages that reading makes resident in the bridge. This is the one place that knows
// about charges: a mode that grants less than whole pools changes its model, not this.

import { ClientLimitError } from '../relay/errors.js';
import type { ClientLimits } from '../relay/limits.js';
import type { PoolState } from './state.js';

/** What the bridge holds for one pool. */
export interface PoolCharge {
  /** Bytes of memory the pool can make the bridge (or its extent) hold. */
  readonly bytes: number;
  /** Fds the bridge keeps open for the pool. */
  readonly fds: number;
}

/** How a mode charges a pool of `size` bytes. */
export interface ChargeModel {
  charge(size: number, sealedAgainstShrink: boolean): PoolCharge;
}

/** Passthrough: the tracker's dup of the client's fd; the pool counted at its size. */
export const PASSTHROUGH_CHARGES: ChargeModel = {
  charge: (size) => ({ bytes: size, fds: 1 }),
};

export class ShmAccounting {
  /** Invariant: bytes and fds are the sums of `charges`. */
  private readonly charges = new Map<PoolState, PoolCharge>();
  private bytes = 0;
  private fds = 0;

  constructor(
    private readonly limits: Pick<ClientLimits, 'maxPoolSize' | 'maxShmTotal'>,
    private readonly model: ChargeModel,
  ) {}

  /** Fds held for every pool charged. */
  get heldFds(): number {
    return this.fds;
  }

  /** Bytes held for every pool charged (what maxShmTotal bounds). */
  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * The charge of a new pool, if the limits allow it (`what` names the request in the
   * error). Nothing is recorded until `charge`.
   */
  admit(what: string, size: number, sealedAgainstShrink: boolean): PoolCharge {
    const charge = this.model.charge(size, sealedAgainstShrink);
    this.check(what, size, charge.bytes);
    return charge;
  }

  /** The charge of `pool` grown to `size`, if the limits allow it; recorded by `charge`. */
  admitGrowth(what: string, pool: PoolState, size: number): PoolCharge {
    const charge = this.model.charge(size, pool.sealedAgainstShrink);
    this.check(what, size, charge.bytes - (this.charges.get(pool)?.bytes ?? 0));
    return charge;
  }

  /** Records (or replaces) what `pool` costs. */
  charge(pool: PoolState, charge: PoolCharge): void {
    this.release(pool);
    this.charges.set(pool, charge);
    this.bytes += charge.bytes;
    this.fds += charge.fds;
  }

  /** The pool is final: the bridge holds nothing more for it. */
  release(pool: PoolState): void {
    const charge = this.charges.get(pool);
    if (charge === undefined) return;
    this.charges.delete(pool);
    this.bytes -= charge.bytes;
    this.fds -= charge.fds;
  }

  private check(what: string, size: number, growth: number): void {
    const { maxPoolSize, maxShmTotal } = this.limits;
    if (size > maxPoolSize) throw new ClientLimitError('maxPoolSize', maxPoolSize, what);
    if (this.bytes + growth > maxShmTotal) {
      throw new ClientLimitError(
        'maxShmTotal',
        maxShmTotal,
        `${what}, with ${this.bytes} bytes held for ${this.charges.size} pools (this one would add ${growth})`,
      );
    }
  }
}
