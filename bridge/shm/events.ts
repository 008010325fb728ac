// The lifecycle events of shared-memory buffers, as the shm tracker emits them and as
// `--record` writes them (JSON lines). One zod schema is the definition: the recorder
// validates what it writes, `grantway report` and the policy replayer validate what
// they read, and the TS types are inferred from it, so the three cannot drift.

import { z } from 'zod';

/**
 * Bumped on any incompatible change to the record format. Version 2 added `poolKey`,
 * a pool's identity for the whole trace: wire ids are reused by clients once retired,
 * while a destroyed pool lives on through its buffers (trace-file.ts still reads 1).
 */
export const LIFECYCLE_FORMAT = 'grantway-lifecycle';
export const LIFECYCLE_VERSION = 2;

/** Evidence that a pool is unmapped by the compositor (ARCHITECTURE.md §2). */
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

/**
 * The events, with `poolKey` of the given schema on every event about a pool: required
 * from version 2, absent in version 1 (read through trace-file.ts's upgrade).
 */
function eventSchema<K extends z.ZodType>(poolKey: K) {
  return z.discriminatedUnion('type', [
    z.object({
      type: z.literal('client-connected'),
      ...base,
      clientPid: z.number().int().nonnegative(),
      compositorPid: z.number().int().nonnegative(),
    }),
    z.object({
      type: z.literal('pool-created'),
      ...base,
      /** The wl_shm_pool's wire id (reused by the client once the compositor retires it). */
      pool: id,
      /** The bridge's key for this pool: unique per client over the whole trace. */
      poolKey,
      size: z.number().int().nonnegative(),
      /** Pages the pool spans (4 KiB). */
      pages: z.number().int().nonnegative(),
    }),
    z.object({
      type: z.literal('pool-resized'),
      ...base,
      pool: id,
      poolKey,
      size: z.number().int(),
      pages: z.number().int(),
    }),
    z.object({
      type: z.literal('buffer-created'),
      ...base,
      pool: id,
      poolKey,
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
    z.object({
      type: z.literal('buffer-destroyed'),
      ...base,
      buffer: id,
      pool: id,
      poolKey,
    }),
    z.object({ type: z.literal('pool-destroyed'), ...base, pool: id, poolKey }),
    /** The compositor acknowledged a destruction (wl_display.delete_id). */
    z.object({
      type: z.literal('delete-acked'),
      ...base,
      object: id,
      kind: z.enum(['pool', 'buffer']),
      /** For a pool: its key. */
      poolKey: poolKey.optional(),
    }),
    z.object({
      type: z.literal('evidence'),
      ...base,
      pool: id,
      poolKey,
      level: z.enum(evidenceLevels),
    }),
    z.object({
      type: z.literal('oracle'),
      ...base,
      pool: id,
      poolKey,
      verdict: z.enum(['mapped', 'unmapped', 'unavailable']),
    }),
    z.object({ type: z.literal('client-gone'), ...base }),
  ]);
}

const poolKey = z.number().int().positive();
export const lifecycleEventSchema = eventSchema(poolKey);
/** Version 1 events: no poolKey (trace-file.ts assigns one). */
export const lifecycleEventSchemaV1 = eventSchema(z.undefined().optional());
export type LifecycleEventV1 = z.infer<typeof lifecycleEventSchemaV1>;

export type LifecycleEvent = z.infer<typeof lifecycleEventSchema>;
export type LifecycleEventType = LifecycleEvent['type'];

export const lifecycleHeaderSchema = z.object({
  format: z.literal(LIFECYCLE_FORMAT),
  /** Records of version 1 are still read (and upgraded); new ones are LIFECYCLE_VERSION. */
  version: z.union([z.literal(1), z.literal(LIFECYCLE_VERSION)]),
  /** Wall-clock time of t = 0, ISO 8601. */
  startedAt: z.string(),
  mode: z.enum(['passthrough', 'grant']),
  /** What produced the trace (command line or generator), for humans. */
  source: z.string(),
});
export type LifecycleHeader = z.infer<typeof lifecycleHeaderSchema>;

/** Receives events as they happen. */
export type LifecycleSink = (event: LifecycleEvent) => void;
