// Grant mode (ARCHITECTURE.md §3): every client pool is re-backed by a grant extent. The
// compositor maps the extent, never the client's memory; on each commit the bridge
// copies what changed in the committed buffer from the client's pool into the extent,
// then lets the commit through. Extents come from the reclaimer (reclaimer.ts; the
// reclaim scheduler of policies/ in a bridge) and go back to it once the client has let
// go of a pool and the compositor has its fd, with the evidence known then; every later
// piece of evidence (E3 from the one poller) follows it — as in a trace replay — so the
// scheduler's policy decides when to try to end foreign access and free it (the backend
// refuses while the compositor maps it). A pool that fails after its extent was taken
// gives the extent back before the error goes up: nothing is held for a refused pool.
//
// Extents are sparse where the backend can grant page by page (memfd, sim): the extent
// spans the pool's declared size — the compositor maps it whole, every buffer at its own
// offset — but a page is granted only while a live buffer covers it (the tracker's
// coverage, coverage.ts: covered(), uncovered()), and the memfd backend punches a page
// out of the file when it goes. So the extent holds at most what the pool's live
// buffers cover: foot's 512 MiB pools cost the few MiB its buffers cover, and its
// scrolling (each new buffer a few rows further into the pool, the old one destroyed)
// moves the granted pages along. Within a buffer, holes of the client's pool are
// discarded rather than copied (copy.ts). gntalloc grants pools whole (grants/gntalloc.ts).
//
// What a pool costs the bridge (its ChargeModel, for the client's limits): the extent's
// granted pages (the covered bytes; the declared size where pools are granted whole)
// and, with the memfd backend, its fd; the tracker's fd of the client's file; and, for a
// sealed pool read through the bridge's own mapping, up to as many of the client's
// pages again: copies read only the client's data, but a client that punches a hole
// while the bridge copies makes the read allocate the page in its file, charged to the
// bridge. So a sealed pool costs twice its covered bytes, an unsealed one (read with
// pread, which allocates nothing) once.
//
// Where to copy. A copy of INLINE_COPY_BYTES or more runs on the copy threads
// (copy-threads.ts) when the bridge has them: committed() returns its promise, and the
// relay holds the commit, and that client's later requests, until it settles (other
// clients go on meanwhile). Everything a copy reads and writes — the joint mapping, the
// extent, a dup of the client's fd for pread or for its holes — stays valid until it is
// done: a pool let go of or forgotten meanwhile goes to the scheduler (or is reclaimed)
// when its last copy ends, a mapping is unmapped then. Such a copy asks for the client's
// holes on the copy thread, not here (lseek walks the file: ~0.1 ms a 1080p frame, paid
// by every message behind a burst of commits); the holes it found are discarded from
// the extent when it is done, before the commit goes on.
//
// What to copy. A client draws a frame into a buffer and commits it with the damage
// relative to the frame before (which may have come from another buffer). The extent
// holds what the buffer held when it was last copied, so every damage committed on the
// surface since then applies to it too: each buffer carries the damage accumulated since
// its last copy (damage-ledger.ts), and a commit copies that plus its own damage. A
// buffer's first commit, or damage that cannot be expressed in buffer coordinates,
// copies it whole. How the client's bytes are read — a joint mapping of pool and extent
// where that cannot fault, pread elsewhere — is joint-mapping.ts.

import type { Logger } from 'pino';
import { spanCopyMode } from '../../ffi/span-copy.js';
import { close as closeFd, dupCloexec, nativeView } from '../../ffi/libc.js';
import {
  FDS_PER_EXTENT,
  type GrantBackend,
  type GrantExtent,
  PAGE_SIZE,
  type PageRange,
  pageBytes,
  pagesOf,
} from '../grants/types.js';
import type { FileIdentity, MappingVerdict } from '../oracle/types.js';
import type { PoolCharge } from './accounting.js';
import type { PoolBacking, PoolRequest } from './backing.js';
import {
  type ByteRange,
  type PoolSource,
  type Span,
  copySpans,
  damageSpans,
  holesIn,
  spanBytes,
  spansExtent,
  withoutHoles,
} from './copy.js';
import type { CopyTarget, CopyThreads } from './copy-threads.js';
import { DamageLedger } from './damage-ledger.js';
import {
  closeJointMapping,
  type JointMapping,
  openPoolSource,
  useJointMapping,
} from './joint-mapping.js';
import { silentLogger } from '../log.js';
import type { ExtentReclaimer, UnmapFacts } from './reclaimer.js';
import { type BufferState, type PoolState, type Rect, bytesPerPixel } from './state.js';

/** Below this many bytes a copy runs inline: a thread hand-off would cost more. */
export const INLINE_COPY_BYTES = 256 * 1024;

interface Backed {
  /** The extent the compositor maps. Replaced when the pool grows. */
  extent: GrantExtent;
  /** How the client's bytes are read: the joint mapping when sealed, else pread. */
  source: PoolSource;
  /** The joint mapping behind `source`, to undo on resize and reclaim. */
  mapping: JointMapping | undefined;
  /** Copies on the copy threads not yet done. */
  inFlight: number;
  /**
   * Set once the pool is handed off or forgotten with copies in flight: what happens to
   * the extent after the last copy (never while a copy may still write it).
   */
  afterCopies: (() => void) | undefined;
  /**
   * The tracker's fd of the client's file where it may be asked for holes (its own open
   * file description: PoolState.ownDescription); undefined: copies read everything.
   * Never used once the pool is let go (the fd is closed then, and nothing is copied).
   */
  readonly holesFd: number | undefined;
}

export interface GrantCopyStats {
  commits: number;
  fullCopies: number;
  bytesCopied: number;
  /** Bytes of the client's holes discarded from extents instead of copied. */
  bytesDiscarded: number;
  /** Bytes pread could not get because the client truncated its file. */
  bytesMissing: number;
  /**
   * Time spent copying, ms: inline copies on the event loop, and copies on the copy
   * threads from dispatch to done (what the commit waited for).
   */
  copyMs: number;
  extentsAllocated: number;
  /** Extents handed back to the reclaimer (what became of them: its stats). */
  extentsRetired: number;
}

export class GrantBacking implements PoolBacking {
  private readonly backed = new Map<PoolState, Backed>();
  /**
   * Extents handed to the reclaimer whose pool the tracker still follows (it is charged
   * to its client until then). Invariant: each is still `retired` in the scheduler (or
   * waits for its last copy to go there) — an entry leaves when the scheduler ends access
   * to it or caches it (settled), or when the tracker forgets its pool, whichever first.
   */
  private readonly handedOff = new Map<PoolState, GrantExtent>();
  /** What each live buffer missed since its last copy: what a commit must copy. */
  private readonly damage = new DamageLedger();
  readonly stats: GrantCopyStats = {
    commits: 0,
    fullCopies: 0,
    bytesCopied: 0,
    copyMs: 0,
    bytesDiscarded: 0,
    bytesMissing: 0,
    extentsAllocated: 0,
    extentsRetired: 0,
  };

  /** Copies on the copy threads not yet done, all pools together. */
  private copying = 0;
  private idleWaiters: (() => void)[] = [];

  /** Extents are sparse (see the module comment); false: granted whole, as gntalloc must. */
  readonly sparse: boolean;
  /** Where big copies run; undefined: every copy runs inline, on the event loop. */
  private readonly threads: CopyThreads | undefined;
  private readonly log: Logger;

  constructor(
    private readonly backend: GrantBackend,
    /** Where extents come from and go back to; its policy decides when they are freed. */
    private readonly reclaimer: ExtentReclaimer,
    options: {
      /**
       * Grant pools whole even where the backend could grant sparsely (the old way; a
       * baseline for benchmarks). Default: sparse wherever the backend can.
       */
      readonly whole?: boolean;
      /** Where big copies run; undefined: every copy runs inline, on the event loop. */
      readonly threads?: CopyThreads | undefined;
      /** Where backing warnings go (default: silent). */
      readonly log?: Logger | undefined;
    } = {},
  ) {
    this.sparse = backend.grantsSparsely && options.whole !== true;
    this.threads = options.threads;
    this.log = options.log ?? silentLogger;
    if (spanCopyMode() === 'row-by-row') {
      this.log.warn('span-copy helper not built (npm run build needs cc): copies run row by row');
    }
  }

  charge(size: number, covered: number, sealedAgainstShrink: boolean, letGo = false): PoolCharge {
    const granted = this.sparse ? covered : pageBytes(size);
    const extentFds = FDS_PER_EXTENT[this.backend.name];
    const declared = pageBytes(size);
    // Let go: the extent alone (the client's fd and mapping are closed by then).
    if (letGo) return { granted, bytes: granted, declared, fds: extentFds };
    return {
      granted,
      bytes: granted + (sealedAgainstShrink ? covered : 0),
      declared,
      fds: 1 + extentFds,
    };
  }

  /**
   * Takes an extent for the pool and maps the client's pool beside it. Any failure after
   * the extent was taken gives it back (never shown to the compositor, it is certainly
   * unmapped) before the error goes up.
   */
  created(
    pool: PoolState,
    request: PoolRequest,
  ): { fd: number; mappedFile: FileIdentity | undefined } {
    const pages = pagesOf(pool.size);
    const extent = this.reclaimer.allocate(pages, { sparse: this.sparse });
    let opened: Pick<Backed, 'source' | 'mapping'> | undefined;
    try {
      if (extent.fd === undefined || extent.ptr === undefined) {
        throw new Error(`the ${this.backend.name} backend has no pages to give a compositor`);
      }
      opened = openPoolSource(pool, extent, request);
      // The extent's fd stays the backend's; the relay sends and closes this one (a fresh
      // open file description for memfd, so the E3 oracle can tell the two holds apart).
      const fd = this.backend.shareFd(extent);
      const holesFd = pool.ownDescription ? pool.clientFd : undefined;
      this.backed.set(pool, { extent, ...opened, inFlight: 0, afterCopies: undefined, holesFd });
      this.stats.extentsAllocated++;
      return { fd, mappedFile: extent.file };
    } catch (err) {
      if (opened?.mapping !== undefined) closeJointMapping(opened.mapping);
      this.giveBack(extent);
      throw err;
    }
  }

  resized(pool: PoolState, request: PoolRequest): void {
    const b = this.backed.get(pool);
    if (b === undefined) return;
    // The relay reads nothing more from a client while its commit is copied, so a
    // resize cannot race a copy; were it to, growing would move the extent under it.
    if (b.inFlight > 0) throw new Error('wl_shm_pool.resize while a copy of the pool runs');
    const pages = pagesOf(pool.size);
    b.extent = this.reclaimer.grow(b.extent, pages);
    this.closeSource(b);
    // Until the new mapping exists, read with pread: never through a stale mapping.
    b.source = { kind: 'pread', fd: pool.clientFd };
    Object.assign(b, openPoolSource(pool, b.extent, request));
  }

  covered(pool: PoolState, range: PageRange): void {
    const b = this.backed.get(pool);
    if (b === undefined || !this.sparse) return;
    this.reclaimer.cover(b.extent, range);
  }

  uncovered(pool: PoolState, ranges: readonly PageRange[]): void {
    const b = this.backed.get(pool);
    if (b === undefined || !this.sparse) return;
    for (const range of ranges) {
      try {
        this.reclaimer.uncover(b.extent, range);
      } catch (err) {
        // The pages stay in the extent until it goes as a whole; nothing else is lost.
        this.log.warn(
          { extent: b.extent.id, first: range.first, end: range.end, err },
          'could not give back grant pages no buffer covers',
        );
      }
    }
  }

  committed(
    surfaceId: number,
    buffer: BufferState,
    damage: Rect[] | null,
  ): Promise<void> | undefined {
    const b = this.backed.get(buffer.pool);
    // A let-go pool's source is closed (letGo): nothing of it may be read again.
    if (b === undefined || buffer.pool.letGo) return undefined;
    const rects = this.damage.committed(surfaceId, buffer, damage);
    const layout = {
      offset: buffer.offset,
      width: buffer.width,
      height: buffer.height,
      stride: buffer.stride,
      bpp: bytesPerPixel(buffer.format),
    };
    const damaged = damageSpans(layout, rects, b.source.kind === 'pread');
    this.stats.commits++;
    if (rects === null) this.stats.fullCopies++;
    if (this.threads === undefined || spanBytes(damaged) < INLINE_COPY_BYTES) {
      const spans = this.skipHoles(b, damaged);
      const started = performance.now();
      this.counted(spanBytes(spans), copySpans(spans, b.source, b.extent.ptr!));
      this.stats.copyMs += performance.now() - started;
      return undefined;
    }
    // The copy thread asks for the holes itself (copy-worker.ts): off the event loop.
    return this.copyOnThreads(this.threads, b, buffer.pool, damaged);
  }

  /** Copies running on the copy threads. */
  get copiesInFlight(): number {
    return this.copying;
  }

  /** Resolves once no copy runs on the copy threads (shutdown waits for it). */
  whenIdle(): Promise<void> {
    if (this.copying === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private counted(wanted: number, copied: number): void {
    this.stats.bytesCopied += copied;
    this.stats.bytesMissing += wanted - copied;
  }

  /**
   * Runs a copy on the copy threads, keeping what it touches valid until it is done:
   * the joint mapping (a user more), or a dup of the client's fd for pread (the
   * tracker's may close meanwhile) and the extent (its hand-off waits: afterCopies).
   * The threads look for the client's holes through a dup of the tracker's fd too (one
   * open file description: the same file, and no other user of its offset); what they
   * find is discarded from the extent here, before the commit goes on.
   */
  private copyOnThreads(
    threads: CopyThreads,
    b: Backed,
    pool: PoolState,
    spans: Span[],
  ): Promise<void> {
    let target: CopyTarget;
    /** Dups of the client's fd that this copy holds open until it is done. */
    const fds: number[] = [];
    const joint = b.source.kind === 'joint' ? b.mapping : undefined;
    let readFrom: number | undefined;
    if (joint !== undefined && b.source.kind === 'joint') {
      target = {
        kind: 'joint',
        ptr: Number(joint.ptr),
        length: joint.length,
        extentAt: b.source.extentAt,
      };
    } else {
      readFrom = b.source.kind === 'pread' ? b.source.fd : pool.clientFd;
      fds.push(dupCloexec(readFrom));
      target = { kind: 'pread', fd: fds[0]!, extentPtr: Number(b.extent.ptr!) };
    }
    // The holes are asked of the same open file description (PoolState.ownDescription).
    let holesFd = b.holesFd !== undefined && b.holesFd === readFrom ? fds[0] : undefined;
    if (b.holesFd !== undefined && holesFd === undefined) {
      try {
        fds.push((holesFd = dupCloexec(b.holesFd)));
      } catch (err) {
        for (const fd of fds) closeFd(fd);
        throw err;
      }
    }
    const releaseMapping = joint === undefined ? (): void => {} : useJointMapping(joint);
    b.inFlight++;
    this.copying++;
    const finish = (): void => {
      releaseMapping();
      for (const fd of fds) closeFd(fd);
      b.inFlight--;
      this.copying--;
      if (b.inFlight === 0 && b.afterCopies !== undefined) {
        const then = b.afterCopies;
        b.afterCopies = undefined;
        then();
      }
      if (this.copying === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    };
    const started = performance.now();
    return threads.copy(spans, target, holesFd).then(
      (result) => {
        try {
          // Before finish(): the extent stays this pool's until its last copy is done.
          this.discardHoles(b, result.holes);
        } finally {
          finish();
        }
        this.counted(result.wanted, result.copied);
        this.stats.copyMs += performance.now() - started;
      },
      (err: unknown) => {
        finish();
        throw err;
      },
    );
  }

  /**
   * The spans without the client's holes, which are discarded from the extent instead
   * (copy.ts, "holes"). Only within the spans' own extent, so only within the committed
   * buffer's bytes: pages a live buffer covers.
   */
  private skipHoles(b: Backed, spans: Span[]): Span[] {
    if (b.holesFd === undefined || spans.length === 0) return spans;
    const [from, to] = spansExtent(spans);
    let holes: ByteRange[];
    try {
      holes = holesIn(b.holesFd, from, to);
    } catch {
      return spans; // a file that cannot say: read it all, as before
    }
    if (holes.length === 0) return spans;
    this.discardHoles(b, holes);
    return withoutHoles(spans, holes);
  }

  /** The client's holes go from the extent too (discarded, not copied: copy.ts). */
  private discardHoles(b: Backed, holes: readonly ByteRange[]): void {
    for (const [start, end] of holes) {
      this.backend.discard(b.extent, start, end - start);
      this.stats.bytesDiscarded += end - start;
    }
  }

  bufferDestroyed(buffer: BufferState): void {
    this.damage.bufferDestroyed(buffer);
  }

  surfaceDestroyed(surfaceId: number): void {
    this.damage.surfaceDestroyed(surfaceId);
  }

  letGo(pool: PoolState): void {
    const b = this.backed.get(pool);
    if (b === undefined) return;
    this.damage.poolLetGo(pool);
    // The client's pages are no longer read, nor kept resident (a copy still running
    // keeps the mapping until it ends).
    this.closeSource(b);
  }

  handOff(pool: PoolState, settled: (verdict: MappingVerdict) => void): void {
    const reclaimer = this.reclaimer;
    const b = this.backed.get(pool);
    if (b === undefined) return;
    this.letGo(pool);
    this.backed.delete(pool);
    this.handedOff.set(pool, b.extent);
    this.stats.extentsRetired++;
    const give = (): void =>
      // The facts as they are when it goes: updates before then found no extent to tell.
      reclaimer.retire(b.extent, factsOf(pool), (verdict) => {
        // Gone from the map first: what the tracker does with the verdict comes back here
        // (updated, forgotten) and must not reach the scheduler, which is calling us.
        if (this.handedOff.get(pool) !== b.extent) return;
        this.handedOff.delete(pool);
        settled(verdict);
      });
    if (b.inFlight > 0) b.afterCopies = give;
    else give();
  }

  updated(pool: PoolState): void {
    const extent = this.handedOff.get(pool);
    if (extent === undefined) return;
    this.reclaimer.update(extent, factsOf(pool));
  }

  forgotten(pool: PoolState): void {
    if (this.handedOff.delete(pool)) return; // the scheduler's already (or once copies end)
    const b = this.backed.get(pool);
    if (b === undefined) return;
    this.letGo(pool);
    this.backed.delete(pool);
    // Not handed off (never acked, or bridge shutdown): the reclaimer's now, with what
    // is known (it ends access only once the compositor maps it no more).
    const facts = factsOf(pool);
    this.stats.extentsRetired++;
    const reclaim = (): void => this.reclaimer.retire(b.extent, facts);
    if (b.inFlight > 0) b.afterCopies = reclaim;
    else reclaim();
  }

  /** Pages of the extents handed to the reclaimer that clients are still charged for. */
  get handedOffPages(): number {
    let pages = 0;
    for (const extent of this.handedOff.values()) pages += extent.pages;
    return pages;
  }

  /**
   * What backs a pool now: its extent and a view of it, made for the caller (tests,
   * tools; the bridge keeps none: see copy.ts). It dangles once the extent is freed.
   */
  inspect(pool: PoolState): { extent: GrantExtent; view: Uint8Array } | undefined {
    const b = this.backed.get(pool);
    if (b === undefined) return undefined;
    return { extent: b.extent, view: nativeView(b.extent.ptr!, b.extent.pages * PAGE_SIZE) };
  }

  /** Pools currently backed by an extent. */
  get extentsInUse(): number {
    return this.backed.size;
  }

  /** Buffers whose copy state is kept (live buffers committed at least once). */
  get buffersFollowed(): number {
    return this.damage.size;
  }

  /** An extent never shown to the compositor goes back: it is certainly unmapped. */
  private giveBack(extent: GrantExtent): void {
    this.reclaimer.retire(extent, { evidence: 'E3', oracle: 'unmapped' });
    this.stats.extentsRetired++;
  }

  private closeSource(b: Backed): void {
    if (b.mapping !== undefined) closeJointMapping(b.mapping);
    b.mapping = undefined;
  }

  /**
   * Retires every extent left, and stops the reclaimer's timers (bridge shutdown).
   * Extents with copies in flight are handed over when those end: call whenIdle() first
   * to have them all back before the scheduler stops.
   */
  close(): void {
    this.handedOff.clear();
    for (const pool of [...this.backed.keys()]) this.forgotten(pool);
    this.reclaimer.close();
  }
}

const factsOf = (pool: PoolState): UnmapFacts => ({ evidence: pool.evidence, oracle: pool.oracle });
