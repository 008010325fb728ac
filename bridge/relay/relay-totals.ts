// What a bridge has done since it started, for operators (metrics, `grantway status`):
// clients accepted and refused (by reason), how sessions ended (protocol errors by who
// posted them, interface and code; limits hit), and the messages and bytes relayed each
// way. Nothing here is touched per message: a session's counters live in its pipes, read
// when asked, and are added in here once, when the session ends.

import type { LimitName } from './errors.js';
import type { SessionEnd, SessionStats } from './session.js';

/** Why a connection was refused before it became a session. */
export type RefusalReason =
  LimitName | 'fd-table-full' | 'compositor-unreachable' | 'internal-error';

/** One kind of wl_display.error a client got. */
export interface ProtocolErrorCount {
  readonly by: 'bridge' | 'compositor';
  readonly interface: string;
  readonly code: number;
  readonly count: number;
}

export interface RelayedCounts {
  requests: number;
  events: number;
  bytesToCompositor: number;
  bytesToClient: number;
}

export class RelayTotals {
  private acceptedCount = 0;
  private endedCount = 0;
  private readonly refusals = new Map<RefusalReason, number>();
  /** By "by interface code". */
  private readonly errors = new Map<string, ProtocolErrorCount>();
  /** Limits sessions were cut off for (refusals at connect time are in `refusals`). */
  private readonly limitsHit = new Map<LimitName, number>();
  /** What ended sessions relayed. */
  private readonly closed: RelayedCounts = {
    requests: 0,
    events: 0,
    bytesToCompositor: 0,
    bytesToClient: 0,
  };

  accepted(): void {
    this.acceptedCount++;
  }

  refused(reason: RefusalReason): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  /** A session closed: its final counters and how it ended. */
  ended(stats: SessionStats, end: SessionEnd | undefined): void {
    this.endedCount++;
    this.closed.requests += stats.requests;
    this.closed.events += stats.events;
    this.closed.bytesToCompositor += stats.bytesToCompositor;
    this.closed.bytesToClient += stats.bytesToClient;
    if (end?.error !== undefined) {
      const { by, interface: iface, code } = end.error;
      const key = `${by} ${iface} ${code}`;
      const count = (this.errors.get(key)?.count ?? 0) + 1;
      this.errors.set(key, { by, interface: iface, code, count });
    }
    if (end?.limit !== undefined) {
      this.limitsHit.set(end.limit, (this.limitsHit.get(end.limit) ?? 0) + 1);
    }
  }

  /** Totals so far: the ended sessions' plus the live ones' current counters. */
  relayed(live: readonly SessionStats[]): RelayedCounts {
    const sum = { ...this.closed };
    for (const s of live) {
      sum.requests += s.requests;
      sum.events += s.events;
      sum.bytesToCompositor += s.bytesToCompositor;
      sum.bytesToClient += s.bytesToClient;
    }
    return sum;
  }

  snapshot(): {
    accepted: number;
    ended: number;
    refused: Partial<Record<RefusalReason, number>>;
    protocolErrors: ProtocolErrorCount[];
    /** Sessions cut off for a limit, plus connections refused for one. */
    limitsHit: Partial<Record<LimitName, number>>;
  } {
    const limitsHit: Partial<Record<LimitName, number>> = Object.fromEntries(this.limitsHit);
    for (const [reason, n] of this.refusals) {
      if (reason === 'maxClients' || reason === 'maxClientsPerUid') {
        limitsHit[reason] = (limitsHit[reason] ?? 0) + n;
      }
    }
    return {
      accepted: this.acceptedCount,
      ended: this.endedCount,
      refused: Object.fromEntries(this.refusals),
      protocolErrors: [...this.errors.values()],
      limitsHit,
    };
  }
}
