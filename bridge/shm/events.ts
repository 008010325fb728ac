// The lifecycle events of shared-memory buffers, as the shm tracker emits them and as
// `--record` writes them (JSON lines). One zod schema is the definition: the recorder
// validates what it writes, `grantway report` and the policy replayer validate what
// they read, and the TS types are inferred from it, so the three cannot drift.

import { z } from 'zod';

/** Bumped on any incompatible change to the record format. */
export const LIFECYCLE_FORMAT = 'grantway-lifecycle';
export const LIFECYCLE_VERSION = 1;

/** Evidence that a pool is unmapped by the compositor (DESIGN §2). */
export const evidenceLevels = ['E0', 'E1', 'E2', 'E3'] as const;
export type EvidenceLevel = (typeof evidenceLevels)[number];
export const evidenceRank = (level: EvidenceLevel): number => evidenceLevels.indexOf(level);

const id = z.number().int().nonnegative();
const base = {
  /** Monotonic milliseconds since the bridge started (sub-ms precision). */
  t: z.number().nonnegative(),
  /** Bridge session (= client connection) number. */
  client: z.number().int().positive(),
};
const rect = z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]);

export const lifecycleEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('client-connected'),
    ...base,
    clientPid: z.number().int().nonnegative(),
    compositorPid: z.number().int().nonnegative(),
  }),
  z.object({
    type: z.literal('pool-created'),
    ...base,
    pool: id,
    size: z.number().int().nonnegative(),
    /** Pages the pool spans (4 KiB). */
    pages: z.number().int().nonnegative(),
  }),
  z.object({
    type: z.literal('pool-resized'),
    ...base,
    pool: id,
    size: z.number().int(),
    pages: z.number().int(),
  }),
  z.object({
    type: z.literal('buffer-created'),
    ...base,
    pool: id,
    buffer: id,
    offset: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    stride: z.number().int(),
    format: z.number().int().nonnegative(),
  }),
  z.object({
    type: z.literal('buffer-committed'),
    ...base,
    buffer: id,
    surface: id,
    /** Damage in buffer coordinates; null when it could not be mapped (full frame). */
    damage: z.array(rect).nullable(),
  }),
  z.object({ type: z.literal('buffer-released'), ...base, buffer: id }),
  z.object({ type: z.literal('buffer-destroyed'), ...base, buffer: id, pool: id }),
  z.object({ type: z.literal('pool-destroyed'), ...base, pool: id }),
  /** The compositor acknowledged a destruction (wl_display.delete_id). */
  z.object({
    type: z.literal('delete-acked'),
    ...base,
    object: id,
    kind: z.enum(['pool', 'buffer']),
  }),
  z.object({
    type: z.literal('evidence'),
    ...base,
    pool: id,
    level: z.enum(evidenceLevels),
  }),
  z.object({
    type: z.literal('oracle'),
    ...base,
    pool: id,
    verdict: z.enum(['mapped', 'unmapped', 'unavailable']),
  }),
  z.object({ type: z.literal('client-gone'), ...base }),
]);

export type LifecycleEvent = z.infer<typeof lifecycleEventSchema>;
export type LifecycleEventType = LifecycleEvent['type'];

export const lifecycleHeaderSchema = z.object({
  format: z.literal(LIFECYCLE_FORMAT),
  version: z.literal(LIFECYCLE_VERSION),
  /** Wall-clock time of t = 0, ISO 8601. */
  startedAt: z.string(),
  mode: z.enum(['passthrough', 'grant']),
  /** What produced the trace (command line or generator), for humans. */
  source: z.string(),
});
export type LifecycleHeader = z.infer<typeof lifecycleHeaderSchema>;

/** Receives events as they happen. */
export type LifecycleSink = (event: LifecycleEvent) => void;
