// What a running bridge is doing, at one moment: the one shape that `grantway status`
// reads over the control socket and that --metrics turns into Prometheus series, so the
// two cannot disagree about what they both show. A zod schema is the definition: the
// control client validates what it receives, and the TS type is inferred from it.

import { z } from 'zod';
import { evidenceLevels } from '../shm/events.js';

export const SNAPSHOT_FORMAT = 'grantway-status';
export const SNAPSHOT_VERSION = 1;

const count = z.number().int().nonnegative();
const evidenceCounts = z.object(
  Object.fromEntries(evidenceLevels.map((l) => [l, count])) as Record<
    (typeof evidenceLevels)[number],
    typeof count
  >,
);
export type EvidenceCounts = z.infer<typeof evidenceCounts>;

export const clientSnapshotSchema = z.object({
  session: count,
  pid: z.number().int(),
  uid: z.number().int(),
  /** /proc/PID/comm (null when it cannot be read: gone, or another pid namespace). */
  comm: z.string().nullable(),
  connectedSeconds: z.number().nonnegative(),
  requests: count,
  events: count,
  bytesToCompositor: count,
  bytesToClient: count,
  objects: count,
  fds: count,
  /** Pools not final yet (alive, or let go and not yet unmapped). */
  pools: count,
});
export type ClientSnapshot = z.infer<typeof clientSnapshotSchema>;

/** Why the oldest extent still waits, in words, and the facts behind them. */
export const waitingSchema = z.object({
  /** The client session, and its pool id, while the pool is tracked. */
  client: count.nullable(),
  pool: count.nullable(),
  /** The grant (extent) id, once the reclaim scheduler has it. */
  grant: count.nullable(),
  bytes: count,
  waitingSeconds: z.number().nonnegative(),
  evidence: z.enum(evidenceLevels),
  oracle: z.enum(['mapped', 'unmapped', 'unavailable']).nullable(),
  /** End-access attempts that failed for it (scheduler), else 0. */
  failedAttempts: count,
  why: z.string(),
});
export type WaitingSnapshot = z.infer<typeof waitingSchema>;

export const shmSnapshotSchema = z.object({
  /** Pools not final yet, by their evidence level. */
  pools: evidenceCounts,
  /** Of those, pools the client has let go of (waiting for the compositor to unmap). */
  poolsLetGo: count,
  /** Bytes held for all clients' pools and unreclaimed extents (maxShmTotalAll's count). */
  heldBytes: count,
  /**
   * Grant extents not freed, by evidence: an extent behind a pool has its pool's level; one
   * let go of (the reclaim scheduler's), the level the scheduler knows.
   */
  grants: evidenceCounts,
  /** The same extents by where they are. */
  grantPhases: z.object({
    backing: count,
    retired: count,
    cached: count,
    ended: count,
  }),
  /**
   * Grant refs (pages): allocated, let go of but not freed (the deferred queue) and that
   * queue's peak since the start, cached.
   */
  refs: z.object({ inUse: count, deferred: count, deferredPeak: count, cached: count }),
  /** Extents handed to a new pool from the reclaim policy's cache instead of allocated. */
  grantsReused: count,
  /** Pools let go of and extents retired, neither yet reclaimed (each extent once). */
  extentsWaiting: count,
  oldestWaiting: waitingSchema.nullable(),
  endAccess: z.object({ attempts: count, failures: count }),
  copies: z.object({
    commits: count,
    fullCopies: count,
    bytes: count,
    seconds: z.number().nonnegative(),
  }),
  /** Looks the E3 oracle took for the mapping watcher. */
  oracleLooks: count,
});
export type ShmSnapshot = z.infer<typeof shmSnapshotSchema>;

export const relaySnapshotSchema = z.object({
  accepted: count,
  ended: count,
  refused: z.record(z.string(), count),
  protocolErrors: z.array(
    z.object({
      by: z.enum(['bridge', 'compositor']),
      interface: z.string(),
      code: z.number().int(),
      count,
    }),
  ),
  limitsHit: z.record(z.string(), count),
  requests: count,
  events: count,
  bytesToCompositor: count,
  bytesToClient: count,
});
export type RelaySnapshot = z.infer<typeof relaySnapshotSchema>;

export const bridgeSnapshotSchema = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  pid: z.number().int(),
  listen: z.string(),
  upstream: z.string(),
  uptimeSeconds: z.number().nonnegative(),
  mode: z.enum(['grant', 'passthrough']),
  /** The grant backend and reclaim policy (null in passthrough mode). */
  backend: z.string().nullable(),
  policy: z.string().nullable(),
  limits: z.object({
    client: z.record(z.string(), z.number()),
    proxy: z.record(z.string(), z.number()),
  }),
  clients: z.array(clientSnapshotSchema),
  relay: relaySnapshotSchema,
  shm: shmSnapshotSchema,
});
export type BridgeSnapshot = z.infer<typeof bridgeSnapshotSchema>;

/** Anything that can say what the bridge is doing now (bridge/ops/collect.ts). */
export interface SnapshotSource {
  snapshot(): BridgeSnapshot;
}

export const zeroEvidence = (): EvidenceCounts => ({ E0: 0, E1: 0, E2: 0, E3: 0 });
