// The misbehaviour knobs: the ways this compositor can be told to hold client memory
// longer than a well-behaved one, so reclaim policies can be tested against each. One
// zod schema serves the CLI flags, the control channel and the harness, so a bad value
// is refused the same way everywhere.

import { z } from 'zod';

export const knobsSchema = z.object({
  /** Every wl_buffer.release is sent this many ms after it is due. */
  releaseDelayMs: z.number().int().min(0).max(600_000),
  /** Per surface, the last N replaced buffers stay busy (released late, FIFO). */
  holdBuffers: z.number().int().min(0).max(64),
  /**
   * After a pool's last reference goes (libwayland's rule), keep it mapped this many
   * ms, or until its client disconnects. 0 = unmap at once, as libwayland does.
   */
  keepPoolsMappedMs: z.union([
    z.number().int().min(0).max(3_600_000),
    z.literal('until-disconnect'),
  ]),
});

export type Knobs = z.infer<typeof knobsSchema>;

export const defaultKnobs: Knobs = {
  releaseDelayMs: 0,
  holdBuffers: 0,
  keepPoolsMappedMs: 0,
};

/** A partial update, as the control channel and the harness accept it. */
export const knobsPatchSchema = knobsSchema.partial().strict();
export type KnobsPatch = z.infer<typeof knobsPatchSchema>;
