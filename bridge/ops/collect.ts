// Builds a BridgeSnapshot (snapshot.ts) from what the bridge's parts already keep: the
// relay's live sessions and totals, the shm trackers' pools, the grant backing's copy
// counters, the backend's end-access counts and the reclaim scheduler's grants. Nothing
// is counted for it while the bridge runs; everything is read when a snapshot is asked
// for (a `grantway status` refresh, a metrics scrape), so the bridge pays nothing when
// nobody looks. It sees each part through a narrow view, so whoever assembles the bridge
// hands them in, and this module never changes with the assembly.

import { readFileSync } from 'node:fs';
import type { GrantBackend } from '../grants/types.js';
import type { ClientIdentity } from '../relay/bridge.js';
import type { ClientLimits } from '../relay/limits.js';
import type { ProxyLimits } from '../relay/proxy-limits.js';
import type { RelayedCounts, RelayTotals } from '../relay/relay-totals.js';
import type { SessionStats } from '../relay/session.js';
import type { GrantCopyStats } from '../shm/grant-mode.js';
import type { PoolState } from '../shm/state.js';
import type { GrantInfo } from '../../policies/index.js';
import type { SchedulerStats } from '../../policies/index.js';
import {
  type BridgeSnapshot,
  type ClientSnapshot,
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  type ShmSnapshot,
  type SnapshotSource,
  type WaitingSnapshot,
  zeroEvidence,
} from './snapshot.js';

const PAGE_SIZE = 4096;

/** What the relay shows (the Bridge, structurally). */
export interface RelayView {
  readonly listenPath: string;
  readonly limits: ClientLimits;
  readonly proxyLimits: ProxyLimits;
  readonly totals: Pick<RelayTotals, 'snapshot'>;
  clients(): (ClientIdentity & SessionStats)[];
  relayed(): RelayedCounts;
}

/** One client's pools (a ShmTracker, structurally). */
export interface PoolsView {
  /** The session the pools belong to. */
  readonly client: number;
  poolStates(): Iterable<PoolState>;
}

/** What buffer-lifetime tracking shows; every part is optional but the trackers. */
export interface ShmView {
  readonly trackers: Iterable<PoolsView>;
  /** The E3 mapping watcher. */
  readonly watcher?: { readonly looks: number };
  /** Grant mode's backing: copy counters, and which pools have an extent. */
  readonly backing?: {
    readonly stats: GrantCopyStats;
    inspect(pool: PoolState): unknown;
  };
  readonly backend?: Pick<GrantBackend, 'name' | 'stats'>;
  /** The reclaim scheduler (grant mode with a policy). */
  readonly scheduler?: {
    readonly policyName: string;
    grants(): Iterable<GrantInfo>;
    stats(): SchedulerStats;
  };
  /** Bytes held for all clients' pools and unreclaimed extents (maxShmTotalAll's count). */
  heldBytes(): number;
}

export interface CollectorOptions {
  readonly relay: RelayView;
  readonly shm: ShmView;
  readonly upstreamPath: string;
  readonly mode: 'grant' | 'passthrough';
  /** performance.now(); default the real one. */
  readonly now?: () => number;
}

/** A SnapshotSource over a running bridge. */
export class SnapshotCollector implements SnapshotSource {
  private readonly startedAt: number;
  /** /proc/PID/comm per session, read once (a client's name seldom changes). */
  private readonly comms = new Map<number, string | null>();
  private readonly now: () => number;

  constructor(private readonly options: CollectorOptions) {
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
  }

  snapshot(): BridgeSnapshot {
    const { relay, shm, mode } = this.options;
    const now = this.now();
    const poolsByClient = new Map<number, number>();
    for (const tracker of shm.trackers) {
      const n = [...tracker.poolStates()].length;
      if (n > 0) poolsByClient.set(tracker.client, (poolsByClient.get(tracker.client) ?? 0) + n);
    }
    const live = relay.clients();
    const clients: ClientSnapshot[] = live.map((c) => ({
      session: c.session,
      pid: c.pid,
      uid: c.uid,
      comm: this.comm(c.session, c.pid),
      connectedSeconds: Math.max(0, (now - c.connectedAt) / 1000),
      requests: c.requests,
      events: c.events,
      bytesToCompositor: c.bytesToCompositor,
      bytesToClient: c.bytesToClient,
      objects: c.objects,
      fds: c.fds,
      pools: poolsByClient.get(c.session) ?? 0,
    }));
    this.forgetComms(live);
    return {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      pid: process.pid,
      listen: relay.listenPath,
      upstream: this.options.upstreamPath,
      uptimeSeconds: Math.max(0, (now - this.startedAt) / 1000),
      mode,
      backend: shm.backend?.name ?? null,
      policy: shm.scheduler?.policyName ?? null,
      limits: { client: { ...relay.limits }, proxy: { ...relay.proxyLimits } },
      clients,
      relay: { ...relay.totals.snapshot(), ...relay.relayed() },
      shm: shmSnapshot(shm, now),
    };
  }

  private comm(session: number, pid: number): string | null {
    if (this.comms.has(session)) return this.comms.get(session)!;
    let comm: string | null = null;
    if (pid > 0) {
      try {
        comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        comm = null; // gone, or not visible from here
      }
    }
    this.comms.set(session, comm);
    return comm;
  }

  private forgetComms(live: readonly { session: number }[]): void {
    if (this.comms.size <= live.length) return;
    const alive = new Set(live.map((c) => c.session));
    for (const session of this.comms.keys()) if (!alive.has(session)) this.comms.delete(session);
  }
}

/** Why a pool the client let go of is not reclaimed yet. */
function poolWaits(pool: PoolState): string {
  if (!pool.acked) return 'the compositor has not acknowledged the pool destroyed (no delete_id)';
  if (pool.buffers.size > 0) {
    return `the compositor has not acknowledged ${pool.buffers.size} of its buffers destroyed`;
  }
  switch (pool.oracle) {
    case 'mapped':
      return 'a process still maps or holds its pages (E3 not reached)';
    case 'unavailable':
      return 'the E3 oracle cannot see every process that may map it';
    default:
      return 'the E3 oracle has not looked yet';
  }
}

/** Why the reclaim scheduler still holds a grant. */
function grantWaits(grant: GrantInfo, policy: string): string {
  if (grant.phase === 'ended') return 'access ended; its refs wait to go back to the table';
  const failed = grant.attempts > 0 ? `, ${grant.attempts} end-access attempts failed` : '';
  return `the ${policy} policy has not reclaimed it (retired at ${grant.evidence}${failed})`;
}

function shmSnapshot(shm: ShmView, now: number): ShmSnapshot {
  const pools = zeroEvidence();
  const grants = zeroEvidence();
  let poolsLetGo = 0;
  let handedOff = 0;
  let backingExtents = 0;
  let oldest: (WaitingSnapshot & { since: number }) | undefined;
  const consider = (since: number, waiting: Omit<WaitingSnapshot, 'waitingSeconds'>): void => {
    if (oldest !== undefined && oldest.since <= since) return;
    oldest = { ...waiting, since, waitingSeconds: Math.max(0, (now - since) / 1000) };
  };
  for (const tracker of shm.trackers) {
    for (const pool of tracker.poolStates()) {
      pools[pool.evidence]++;
      if (shm.backing?.inspect(pool) !== undefined) {
        grants[pool.evidence]++;
        backingExtents++;
      }
      if (!pool.letGo) continue;
      poolsLetGo++;
      // Its extent is the scheduler's now: counted, and its wait explained, below.
      if (pool.handedOff === true && shm.scheduler !== undefined) {
        handedOff++;
        continue;
      }
      consider(pool.letGoAt ?? now, {
        client: tracker.client,
        pool: pool.id,
        grant: null,
        bytes: pool.size,
        evidence: pool.evidence,
        oracle: pool.oracle ?? null,
        failedAttempts: 0,
        why: poolWaits(pool),
      });
    }
  }
  const phases = { backing: backingExtents, retired: 0, cached: 0, ended: 0 };
  const scheduler = shm.scheduler;
  if (scheduler !== undefined) {
    for (const grant of scheduler.grants()) {
      if (grant.phase === 'in-use' || grant.phase === 'freed') continue;
      phases[grant.phase]++;
      grants[grant.evidence]++;
      if (grant.phase === 'cached') continue; // kept on purpose, for reuse
      consider(grant.retiredAt ?? now, {
        client: null,
        pool: null,
        grant: grant.id,
        bytes: grant.pages * PAGE_SIZE,
        evidence: grant.evidence,
        oracle: grant.oracle ?? null,
        failedAttempts: grant.attempts,
        why: grantWaits(grant, scheduler.policyName),
      });
    }
  }
  const schedulerStats = scheduler?.stats();
  const backendStats = shm.backend?.stats();
  const copies = shm.backing?.stats;
  return {
    pools,
    poolsLetGo,
    heldBytes: shm.heldBytes(),
    grants,
    grantPhases: phases,
    refs: {
      inUse: schedulerStats?.refsInUse ?? backendStats?.refsInUse ?? 0,
      deferred: schedulerStats?.deferredRefs ?? 0,
      deferredPeak: schedulerStats?.maxDeferredRefs ?? 0,
      cached: schedulerStats?.cachedRefs ?? 0,
    },
    grantsReused: schedulerStats?.reuses ?? 0,
    extentsWaiting: poolsLetGo - handedOff + phases.retired + phases.ended,
    oldestWaiting: oldest === undefined ? null : withoutSince(oldest),
    endAccess: {
      attempts: backendStats?.endAccessAttempts ?? 0,
      failures: backendStats?.endAccessFailures ?? 0,
    },
    copies: {
      commits: copies?.commits ?? 0,
      fullCopies: copies?.fullCopies ?? 0,
      bytes: copies?.bytesCopied ?? 0,
      seconds: (copies?.copyMs ?? 0) / 1000,
    },
    oracleLooks: shm.watcher?.looks ?? 0,
  };
}

function withoutSince(w: WaitingSnapshot & { since: number }): WaitingSnapshot {
  const { since, ...waiting } = w;
  void since;
  return waiting;
}
