// The state the shm tracker keeps per client, and the one pure rule that turns it into
// an evidence level (ARCHITECTURE.md §2). Kept apart from the tracker so the rule can be read,
// and tested, on its own.

import type { FileIdentity, MappingVerdict } from '../oracle/types.js';
import { wayland } from '../protocol/enums.js';
import { PageCoverage, type PageRange } from './coverage.js';
import type { EvidenceLevel } from './events.js';

export interface PoolState {
  /** The wl_shm_pool's wire id (the client may reuse it once the compositor retired it). */
  readonly id: number;
  /** The tracker's key for this pool: unique per client for the session, never reused. */
  readonly key: number;
  /** Declared size in bytes; only grows (shrinking is a protocol error). */
  size: number;
  /** The client's pool file, as fstat saw it at create_pool. */
  readonly file: FileIdentity;
  /**
   * The file the compositor maps for this pool, which the oracle watches: the client's
   * file in passthrough mode, the grant extent's in grant mode (undefined: none, e.g.
   * an extent with no file).
   */
  mappedFile: FileIdentity | undefined;
  /**
   * The tracker's own fd of the client's pool file, owned until the client lets go of
   * the pool (-1 after): used to detect truncation at commit time and (grant mode) to
   * copy from, neither of which can happen once every buffer of the pool is destroyed.
   * A fresh read-only open file description where /proc/self/fd allows it, else a dup.
   */
  clientFd: number;
  /**
   * `clientFd` is an open file description nobody else shares, so the bridge may move
   * its file offset (lseek SEEK_DATA/SEEK_HOLE to find the client's holes) without
   * moving the client's.
   */
  readonly ownDescription: boolean;
  /** Whether the client's fd was sealed against shrinking at creation (safe to mmap). */
  readonly sealedAgainstShrink: boolean;
  /** Buffers made from this pool whose id the compositor has not yet retired. */
  readonly buffers: Set<BufferState>;
  /**
   * How many of `buffers` the compositor holds (busy). Invariant: kept by setBufferBusy,
   * the only writer of BufferState.busy, so poolEvidence reads a count instead of
   * walking every buffer on every commit and release (a client may make thousands).
   */
  busyBuffers: number;
  /** The pages its covering buffers cover (what the pool costs; see BufferState.covering). */
  readonly coverage: PageCoverage;
  /** The client sent wl_shm_pool.destroy (or went away). */
  destroyed: boolean;
  /** Destroyed, and so is every buffer made from it: the client has let go entirely. */
  letGo: boolean;
  /** When the client let go (performance.now() ms; undefined until it has). */
  letGoAt?: number;
  /**
   * Grant mode: the pool's extent went to the reclaim scheduler (let go, and the
   * compositor has received the pool's fd: `acked`). Set once, by the tracker.
   */
  handedOff?: boolean;
  /**
   * The reclaimer ended access to the extent, or kept it for reuse: `oracle` holds what
   * the oracle said then, for good (the extent may back another pool next).
   */
  settled?: boolean;
  /** The compositor retired the pool's id (delete_id), or the client went away. */
  acked: boolean;
  /** Last oracle verdict on `file` (or the grant extent's file in grant mode). */
  oracle: MappingVerdict | undefined;
  evidence: EvidenceLevel;
}

export interface BufferState {
  readonly id: number;
  readonly pool: PoolState;
  readonly offset: number;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly format: number;
  /**
   * Committed to a surface and not yet released: the compositor may read it. Written
   * only through setBufferBusy (its pool counts the busy ones).
   */
  busy: boolean;
  destroyed: boolean;
  acked: boolean;
  /**
   * Committed (attached) and not released since: the compositor may read it, destroyed
   * or not. Unlike `busy`, not cleared by the client's destroy: a destroyed buffer is
   * read for as long as the compositor shows it, and a release sent before the
   * compositor saw the destroy still arrives.
   */
  readable: boolean;
  /** The pool pages its bytes touch (offset .. offset + stride × height). */
  readonly pages: PageRange;
  /**
   * Its pages count in the pool's coverage (and stay granted in grant mode): from
   * create_buffer until the compositor retired its id (delete_id, after the client's
   * destroy) while it was not readable — released, or never committed. A buffer the
   * compositor retired while still readable (destroyed while shown, no release) keeps
   * its pages for as long as the pool lives: no release can come for it any more, and
   * compositors do go on reading such buffers (wlroots keeps a reference to the pool,
   * wl_shm_buffer_ref_pool, to draw a destroyed buffer until it is replaced).
   */
  covering: boolean;
}

/** A pool as create_pool starts it: no buffers, nothing covered, not let go, E1. */
export function newPoolState(
  fields: Pick<
    PoolState,
    | 'id'
    | 'key'
    | 'size'
    | 'file'
    | 'mappedFile'
    | 'clientFd'
    | 'ownDescription'
    | 'sealedAgainstShrink'
  >,
): PoolState {
  // Every property written out, not spread: a spread made the tracker's 10 000-buffer
  // test 10x slower (V8 gives spread copies slower property access).
  const { id, key, size, file, mappedFile, clientFd, ownDescription, sealedAgainstShrink } = fields;
  return {
    id,
    key,
    size,
    file,
    mappedFile,
    clientFd,
    ownDescription,
    sealedAgainstShrink,
    buffers: new Set(),
    busyBuffers: 0,
    coverage: new PageCoverage(),
    destroyed: false,
    letGo: false,
    // Written out though optional: set later, they would change the object's shape
    // (a hidden-class migration, and polymorphic loads on every commit's pool).
    letGoAt: undefined,
    handedOff: undefined,
    settled: undefined,
    acked: false,
    oracle: undefined,
    evidence: 'E1',
  };
}

/** A buffer as create_buffer starts it: covering its pages, never committed. */
export function newBufferState(
  fields: Pick<
    BufferState,
    'id' | 'pool' | 'offset' | 'width' | 'height' | 'stride' | 'format' | 'pages'
  >,
): BufferState {
  const { id, pool, offset, width, height, stride, format, pages } = fields; // not spread: above
  return {
    id,
    pool,
    offset,
    width,
    height,
    stride,
    format,
    busy: false,
    destroyed: false,
    acked: false,
    readable: false,
    pages,
    covering: true,
  };
}

export type Rect = [x: number, y: number, width: number, height: number];

/**
 * Past this many rectangles, damage is "everything": a surface's damage between two
 * commits (surfaces.ts) and what a buffer has missed since its last copy (grant mode)
 * are both bounded by it, so a client can make neither list grow without bound.
 */
export const MAX_DAMAGE_RECTS = 64;

export interface SurfaceState {
  readonly id: number;
  /** From attach since the last commit: a buffer, null (detach), or nothing attached. */
  pendingBuffer: BufferState | null | undefined;
  /** Surface-coordinate damage since the last commit. */
  pendingDamage: Rect[];
  /** Buffer-coordinate damage since the last commit (damage_buffer). */
  pendingBufferDamage: Rect[];
  /** Committed buffer_scale / buffer_transform (pending values apply at commit). */
  scale: number;
  transform: number;
  pendingScale: number | undefined;
  pendingTransform: number | undefined;
  /** A wp_viewport is attached: surface damage cannot be mapped to buffer coordinates. */
  viewported: boolean;
  /** The buffer of the last commit that attached one. */
  current: BufferState | null;
}

/** A surface as it is before any request: nothing pending, nothing shown. */
export function newSurfaceState(id: number): SurfaceState {
  return {
    id,
    pendingBuffer: undefined,
    pendingDamage: [],
    pendingBufferDamage: [],
    scale: 1,
    transform: 0,
    pendingScale: undefined,
    pendingTransform: undefined,
    viewported: false,
    current: null,
  };
}

/**
 * The evidence that a pool is no longer mapped by the compositor:
 * - E3: the client destroyed it and the oracle saw the compositor no longer map its file;
 * - E2: the compositor retired the pool and every buffer made from it;
 * - E1: no buffer of the pool is held by the compositor (all released or never used);
 * - E0: none of these.
 */
export function poolEvidence(pool: PoolState): EvidenceLevel {
  if (pool.destroyed && pool.oracle === 'unmapped') return 'E3';
  // Buffers leave `pool.buffers` when their id is retired, so an empty set means every
  // buffer made from the pool is gone on the compositor's side too.
  if (pool.destroyed && pool.acked && pool.buffers.size === 0) return 'E2';
  if (pool.busyBuffers > 0) return 'E0';
  return 'E1';
}

/**
 * The compositor now holds `buffer` (attached and committed) or no longer does
 * (released, destroyed, or its client gone); keeps its pool's busyBuffers.
 */
export function setBufferBusy(buffer: BufferState, busy: boolean): void {
  if (buffer.busy === busy) return;
  buffer.busy = busy;
  buffer.pool.busyBuffers += busy ? 1 : -1;
}

const F = wayland.wl_shm.format;
/** Bytes per pixel of the wl_shm formats the bridge can reason about, by format code. */
const BYTES_PER_PIXEL = new Map<number, number>(
  (
    [
      [4, [F.argb8888, F.xrgb8888, F.abgr8888, F.xbgr8888, F.rgba8888, F.rgbx8888]],
      [4, [F.bgra8888, F.bgrx8888, F.argb2101010, F.xrgb2101010, F.abgr2101010, F.xbgr2101010]],
      [3, [F.rgb888, F.bgr888]],
      [2, [F.rgb565, F.bgr565]],
      [1, [F.r8]],
    ] as const
  ).flatMap(([bpp, formats]) => formats.map((f): [number, number] => [f, bpp])),
);

/** Bytes per pixel of the wl_shm formats the bridge can reason about; undefined if unknown. */
export function bytesPerPixel(format: number): number | undefined {
  return BYTES_PER_PIXEL.get(format);
}

/**
 * Surface damage → buffer coordinates, or null when the mapping is not a plain scale
 * (a transform or a viewport is in effect): the caller then treats the whole buffer as
 * damaged. Rectangles are clipped to the buffer.
 */
export function damageInBufferCoordinates(
  surface: SurfaceState,
  buffer: BufferState,
): Rect[] | null {
  if (surface.transform !== 0 || surface.viewported) return null;
  const out: Rect[] = [];
  const scale = surface.scale;
  for (const [x, y, w, h] of surface.pendingDamage) {
    const clipped = clip([x * scale, y * scale, w * scale, h * scale], buffer);
    if (clipped !== undefined) out.push(clipped);
  }
  for (const r of surface.pendingBufferDamage) {
    const clipped = clip(r, buffer);
    if (clipped !== undefined) out.push(clipped);
  }
  return out;
}

function clip([x, y, w, h]: Rect, buffer: BufferState): Rect | undefined {
  // Damage rectangles are int32 on the wire; INT32_MAX-sized "everything" is common.
  const x0 = Math.max(0, x);
  const y0 = Math.max(0, y);
  const x1 = Math.min(buffer.width, x + w);
  const y1 = Math.min(buffer.height, y + h);
  if (x1 <= x0 || y1 <= y0) return undefined;
  return [x0, y0, x1 - x0, y1 - y0];
}
