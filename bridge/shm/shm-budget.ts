// maxShmTotalAll (bridge/relay/proxy-limits.ts): the shared memory held for all clients
// of one bridge together. Each client's accounting (accounting.ts) charges its pools
// what they make the bridge hold; this adds them up across clients, together with the
// extents that no client is charged for any more (let go of, and not yet freed by the
// reclaim policy), and refuses a pool or a growth that would take the sum past the limit,
// before anything is allocated. The refused client gets no_memory naming the limit; the
// others are not touched.
//
// The sum is taken when a pool is created or grown, never kept up to date per message:
// pool creation is rare, and summing a few hundred numbers costs less than keeping a
// second set of books that could drift from the clients' own.

import { ClientLimitError } from '../relay/errors.js';

export interface ShmBudgetSource {
  /** Bytes every client's pools are charged now. */
  charged(): number;
  /** Bytes of extents no client is charged for, not yet freed. */
  retained(): number;
}

export class ShmBudget {
  constructor(
    /** maxShmTotalAll, bytes. */
    readonly limit: number,
    private readonly source: ShmBudgetSource,
  ) {}

  /** What is held now, for all clients. */
  get heldBytes(): number {
    return this.source.charged() + this.source.retained();
  }

  /**
   * Throws ClientLimitError('maxShmTotalAll') if `growth` more bytes would pass the limit
   * (`what` names the request in the message).
   */
  admit(what: string, growth: number): void {
    if (growth <= 0) return;
    const held = this.heldBytes;
    if (held + growth > this.limit) {
      throw new ClientLimitError(
        'maxShmTotalAll',
        this.limit,
        `${what}, with ${held} bytes held for all clients (this one would add ${growth})`,
      );
    }
  }
}
