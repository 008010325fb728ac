// Grant mode (DESIGN §3): every client pool is re-backed by a grant extent. The
// compositor maps the extent, never the client's memory; on each commit the bridge
// copies what changed in the committed buffer from the client's pool into the extent,
// then lets the commit through. Once the tracker is done with a pool (E3, or nothing
// more can be learnt), its extent goes to the reclaim scheduler (policies/), whose
// policy decides when to end foreign access and free it; without a scheduler it is
// ended and freed at once.
//
// What to copy. A client draws a frame into a buffer and commits it with the damage
// relative to the frame before (which may have come from another buffer). The extent
// holds what the buffer held when it was last copied, so every damage committed on the
// surface since then applies to it too: each buffer carries the damage accumulated since
// its last copy, and a commit copies that plus its own damage. A buffer's first commit,
// or damage that cannot be expressed in buffer coordinates, copies it whole.

import type { Logger } from 'pino';
import {
  mmapAt,
  munmap,
  nativeView,
  PROT_READ,
  PROT_WRITE,
  reserveAddressSpace,
} from '../../ffi/libc.js';
import { GrantTableFullError } from '../grants/errors.js';
import { type GrantBackend, type GrantExtent, PAGE_SIZE } from '../grants/types.js';
import type { FileIdentity } from '../oracle/types.js';
import { ClientProtocolError, DisplayErrorCode } from '../relay/errors.js';
import { type PoolSource, copySpans, damageSpans, spanBytes } from './copy.js';
import { type BufferState, type PoolState, type Rect, bytesPerPixel } from './state.js';
import type { PoolBacking } from './tracker.js';
import type { ExtentReclaimer } from '../../policies/live.js';

/** Past this many rectangles a buffer's pending damage is simply "everything". */
const MAX_PENDING_RECTS = 32;

interface Backed {
  /** The extent the compositor maps. Replaced when the pool grows. */
  extent: GrantExtent;
  /** Zero-copy view of the extent through the bridge's own mapping. */
  view: Uint8Array;
  /** How the client's bytes are read: the joint mapping when sealed, else pread. */
  source: PoolSource;
  /** The joint mapping behind `source`, to undo on resize and reclaim. */
  mapping: { ptr: bigint; length: number } | undefined;
}

export interface GrantCopyStats {
  commits: number;
  fullCopies: number;
  bytesCopied: number;
  /** Bytes pread could not get because the client truncated its file. */
  bytesMissing: number;
  /** Time spent copying, ms (one clock read each side of a commit's copy). */
  copyMs: number;
  extentsAllocated: number;
  /** Reclaimed directly (no scheduler); with one, see its stats(). */
  extentsReclaimed: number;
  /** Extents whose end of access failed when reclaimed directly (still mapped). */
  reclaimFailures: number;
  /** Extents handed to the reclaim scheduler. */
  extentsRetired: number;
}

export class GrantBacking implements PoolBacking {
  private readonly backed = new Map<PoolState, Backed>();
  /** Damage each buffer has missed since its last copy; 'full' = copy it whole. */
  private readonly pending = new Map<BufferState, Rect[] | 'full'>();
  /** The buffers each surface has shown, whose pending damage its commits grow. */
  private readonly shownOn = new Map<number, Set<BufferState>>();
  readonly stats: GrantCopyStats = {
    commits: 0,
    fullCopies: 0,
    bytesCopied: 0,
    bytesMissing: 0,
    copyMs: 0,
    extentsAllocated: 0,
    extentsReclaimed: 0,
    reclaimFailures: 0,
    extentsRetired: 0,
  };

  constructor(
    private readonly backend: GrantBackend,
    private readonly log: Logger,
    /** Decides when extents are reclaimed; undefined: at once, in forgotten(). */
    private readonly reclaimer?: ExtentReclaimer,
  ) {}

  created(pool: PoolState): { fd: number; mappedFile: FileIdentity | undefined } {
    let extent: GrantExtent;
    try {
      const pages = Math.ceil(pool.size / PAGE_SIZE);
      extent = this.reclaimer?.allocate(pages) ?? this.backend.allocate(pages);
    } catch (err) {
      if (err instanceof GrantTableFullError) {
        throw new ClientProtocolError(
          1,
          DisplayErrorCode.noMemory,
          `grant table full: ${err.message}`,
        );
      }
      throw err;
    }
    if (extent.fd === undefined || extent.ptr === undefined) {
      // Never shown to the compositor, so certainly unmapped.
      if (this.reclaimer === undefined) this.endAndFree(extent);
      else this.reclaimer.retire(extent, { evidence: 'E3', oracle: 'unmapped' });
      throw new Error(`the ${this.backend.name} backend has no pages to give a compositor`);
    }
    const backed: Backed = {
      extent,
      view: nativeView(extent.ptr, extent.pages * PAGE_SIZE),
      ...this.openSource(pool, extent),
    };
    this.backed.set(pool, backed);
    this.stats.extentsAllocated++;
    // The extent's fd stays the backend's; the relay sends and closes this one (a fresh
    // open file description for memfd, so the E3 oracle can tell the two holds apart).
    return { fd: this.backend.shareFd(extent), mappedFile: extent.file };
  }

  resized(pool: PoolState): void {
    const b = this.backed.get(pool);
    if (b === undefined) return;
    const pages = Math.ceil(pool.size / PAGE_SIZE);
    b.extent = this.reclaimer?.grow(b.extent, pages) ?? this.backend.grow(b.extent, pages);
    b.view = nativeView(b.extent.ptr!, b.extent.pages * PAGE_SIZE);
    this.closeSource(b);
    Object.assign(b, this.openSource(pool, b.extent));
  }

  committed(surfaceId: number, buffer: BufferState, damage: Rect[] | null): void {
    const b = this.backed.get(buffer.pool);
    if (b === undefined) return;
    // Everything this surface has shown missed this damage too (see module comment).
    let shown = this.shownOn.get(surfaceId);
    if (shown === undefined) this.shownOn.set(surfaceId, (shown = new Set()));
    for (const other of shown) {
      if (other === buffer) continue;
      if (other.destroyed) shown.delete(other);
      else this.addPending(other, damage, buffer);
    }
    const missed = this.pending.get(buffer) ?? (shown.has(buffer) ? [] : 'full');
    shown.add(buffer);
    this.pending.set(buffer, []);
    const rects = missed === 'full' || damage === null ? null : [...missed, ...damage];
    const layout = {
      offset: buffer.offset,
      width: buffer.width,
      height: buffer.height,
      stride: buffer.stride,
      bpp: bytesPerPixel(buffer.format),
    };
    const spans = damageSpans(layout, rects, b.source.kind === 'pread');
    const wanted = spanBytes(spans);
    const started = performance.now();
    const copied = copySpans(spans, b.source, b.extent.ptr!);
    this.stats.copyMs += performance.now() - started;
    this.stats.commits++;
    if (rects === null) this.stats.fullCopies++;
    this.stats.bytesCopied += copied;
    this.stats.bytesMissing += wanted - copied;
  }

  surfaceDestroyed(surfaceId: number): void {
    this.shownOn.delete(surfaceId);
  }

  forgotten(pool: PoolState): void {
    const b = this.backed.get(pool);
    if (b === undefined) return;
    this.backed.delete(pool);
    for (const buffer of this.pending.keys()) if (buffer.pool === pool) this.pending.delete(buffer);
    this.closeSource(b);
    if (this.reclaimer === undefined) {
      this.endAndFree(b.extent);
    } else {
      this.reclaimer.retire(b.extent, { evidence: pool.evidence, oracle: pool.oracle });
      this.stats.extentsRetired++;
    }
  }

  /** What backs a pool now: its extent and the bridge's view of it (tests, tools). */
  inspect(pool: PoolState): { extent: GrantExtent; view: Uint8Array } | undefined {
    const b = this.backed.get(pool);
    return b === undefined ? undefined : { extent: b.extent, view: b.view };
  }

  /** Pools currently backed by an extent. */
  get extentsInUse(): number {
    return this.backed.size;
  }

  /** Ends access to and frees an extent; one that is still mapped is kept and reported. */
  private endAndFree(extent: GrantExtent): void {
    if (this.backend.endForeignAccess(extent) === 'ok') {
      this.backend.free(extent);
      this.stats.extentsReclaimed++;
    } else {
      this.stats.reclaimFailures++;
      this.log.warn(
        { extent: extent.id },
        'grant extent still mapped when reclaimed; left to the backend',
      );
    }
  }

  /** `buffer` (already shown on this surface) missed the damage `from` just committed. */
  private addPending(buffer: BufferState, damage: Rect[] | null, from: BufferState): void {
    const current = this.pending.get(buffer);
    if (current === undefined || current === 'full') return;
    // Damage in another buffer's coordinates only carries over between equal sizes.
    if (damage === null || from.width !== buffer.width || from.height !== buffer.height) {
      this.pending.set(buffer, 'full');
      return;
    }
    current.push(...damage);
    if (current.length > MAX_PENDING_RECTS) this.pending.set(buffer, 'full');
  }

  /**
   * Reads the client's pool through a mapping only where that cannot fault: the file is
   * sealed against shrinking and as large as the pool (libwayland-server's own rule),
   * and the mapping is read-only. Anything else is read with pread.
   */
  private openSource(pool: PoolState, extent: GrantExtent): Pick<Backed, 'source' | 'mapping'> {
    if (!pool.sealedAgainstShrink || extent.fd === undefined) {
      return { source: { kind: 'pread', fd: pool.clientFd }, mapping: undefined };
    }
    const poolBytes = Math.ceil(pool.size / PAGE_SIZE) * PAGE_SIZE;
    const extentBytes = extent.pages * PAGE_SIZE;
    const length = poolBytes + extentBytes;
    const ptr = reserveAddressSpace(length);
    try {
      mmapAt(ptr, poolBytes, PROT_READ, pool.clientFd);
      mmapAt(
        ptr + BigInt(poolBytes),
        extentBytes,
        PROT_READ | PROT_WRITE,
        extent.fd,
        extent.fdOffset,
      );
    } catch (err) {
      munmap(ptr, length);
      throw err;
    }
    return {
      source: { kind: 'joint', view: nativeView(ptr, length), extentAt: poolBytes },
      mapping: { ptr, length },
    };
  }

  private closeSource(b: Backed): void {
    if (b.mapping !== undefined) munmap(b.mapping.ptr, b.mapping.length);
    b.mapping = undefined;
  }

  /** Reclaims (or retires) every extent left, and stops the scheduler (bridge shutdown). */
  close(): void {
    for (const pool of [...this.backed.keys()]) this.forgotten(pool);
    this.reclaimer?.close();
  }
}
