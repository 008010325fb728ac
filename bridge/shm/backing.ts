// What backs a pool on the compositor's side in grant mode, as the tracker sees it: a
// PoolBacking is told about the protocol events where it must act, and says what each
// pool costs the bridge (its ChargeModel, for the limits). The tracker stays ignorant of
// extents and copies; grant-mode.ts is the implementation.

import type { FileIdentity, MappingVerdict } from '../oracle/types.js';
import type { ChargeModel } from './accounting.js';
import type { PageRange } from './coverage.js';
import type { BufferState, PoolState, Rect } from './state.js';

/** The request being served, for the errors a backing raises. */
export interface PoolRequest {
  /** e.g. "wl_shm.create_pool of 65536 bytes". */
  readonly what: string;
  /** The object a wl_shm error names (wl_shm for create_pool, the pool for resize). */
  readonly objectId: number;
}

export interface PoolBacking extends ChargeModel {
  /**
   * A validated new pool. Returns the fd the compositor receives in place of the
   * client's (the relay sends, then closes it) and the file the compositor will map.
   * On failure it has given back everything it took, and throws: a ClientProtocolError
   * (wl_shm.invalid_fd) when the client's file cannot be read as a pool, else what went
   * wrong (the tracker names the bridge's shortages).
   */
  created(
    pool: PoolState,
    request: PoolRequest,
  ): { fd: number; mappedFile: FileIdentity | undefined };
  /** The pool grew (already validated against the client's file); throws as created. */
  resized(pool: PoolState, request: PoolRequest): void;
  /**
   * A new buffer covers `range` of the pool: back the pages not backed yet. Throws a
   * shortage (grant refs) having taken nothing; the tracker refuses the buffer then.
   */
  covered(pool: PoolState, range: PageRange): void;
  /** No covering buffer covers `ranges` any more: give their pages back. Never throws. */
  uncovered(pool: PoolState, ranges: readonly PageRange[]): void;
  /**
   * The compositor will read `buffer` for this commit: bring its pages up to date.
   * Returns a promise when the copy runs off the event loop: the commit must not reach
   * the compositor before it settles (a rejection ends the session).
   */
  committed(
    surfaceId: number,
    buffer: BufferState,
    damage: Rect[] | null,
  ): Promise<void> | undefined;
  /** The client destroyed the buffer: nothing of it will be committed again. */
  bufferDestroyed(buffer: BufferState): void;
  surfaceDestroyed(surfaceId: number): void;
  /**
   * The client let go of the pool (destroyed it and every buffer made from it): nothing
   * will be copied to it again.
   */
  letGo(pool: PoolState): void;
  /**
   * Let go, and the compositor has received the pool's fd (so no fd of it is in flight,
   * where no look at /proc could see it): the backing goes to the reclaim policy now,
   * with the evidence the pool has, as in a trace replay. `settled` is called (at most
   * once, maybe from inside the reclaimer) if the reclaimer ends access to it, or keeps
   * it for reuse, before the pool is forgotten: with what the oracle said then.
   */
  handOff(pool: PoolState, settled: (verdict: MappingVerdict) => void): void;
  /** New evidence or an oracle verdict for a pool handed off (pool.evidence, pool.oracle). */
  updated(pool: PoolState): void;
  /** The pool is final (E3, or nothing more can be learnt): reclaim its backing. */
  forgotten(pool: PoolState): void;
}
