// Grant extents as real shared pages on any Linux (the default backend, ARCHITECTURE.md §4): one
// sealed memfd per extent, mapped read-write by the bridge, whose fd the compositor
// receives in place of the client's pool fd. There is no grant table, so refs are
// synthetic; "is the remote side still mapping it" comes from a RemoteMappingSource
// (the lead wires the E3 oracle through oracleMappingSource).
//
// Seals: F_SEAL_SHRINK so the compositor (which holds the fd) cannot truncate the file
// under the bridge's mapping — a write to lost pages would SIGBUS the bridge, and Node
// cannot survive that; F_SEAL_SEAL so the set cannot change afterwards (e.g.
// F_SEAL_FUTURE_WRITE added by the compositor). Not F_SEAL_GROW: wl_shm_pool.resize
// makes the compositor remap the same fd larger, so the bridge grows the file in place
// (a compositor that grows it too only gets more zero pages, harmless to the bridge).
//
// One open file description per holder. memfd_create's own file is not counted among
// the inode's writers (it is made like an anonymous file), so the backend reopens it
// through /proc/self/fd and keeps only that: `priv.fd` (and the bridge's mappings made
// from it, and dups of it) is the bridge's hold, counted like any open(). The compositor
// gets another, fresh open file description (shareFd), never a dup of the bridge's. With
// both counted and told apart, the kernel can say whether anyone but the bridge still
// holds the file, in any process, namespace or socket queue: a write lease is granted
// only to the sole holder (bridge/oracle/sole-holder.ts). Invariant: nothing of the
// bridge's own file leaves the bridge; where /proc/self/fd cannot be opened the extent
// has no `file.ownFd` and the oracle falls back to looking in /proc.
//
// Sparse extents (grant mode's default): the file has the pool's declared size and
// stays sparse — memfd_create's files are VM_NORESERVE, so a 512 MiB file costs nothing
// until written, and a page comes into being when the bridge copies a buffer into it.
// grantPages only counts pages as granted (refs, the maxRefs limit); releasePages
// punches them out of the file (fallocate PUNCH_HOLE | KEEP_SIZE, allowed under
// F_SEAL_SHRINK: only F_SEAL_WRITE forbids it), which gives their memory back while
// the size, and so every mapping of the file, stays valid: a read of a punched page
// gives zeros, never SIGBUS. Refs are synthetic here too: page p of a sparse extent is
// ref `refBase + p`, each extent reserving a block as large as any pool can be.
// releasePages always succeeds: there is no per-page mapping to ask about, and the
// caller releases only pages no live buffer covers, which the compositor no longer reads.
//
// End of foreign access without evidence: when the source says 'unknown' (or there is
// none), endForeignAccess answers 'ok'. That is safe here, unlike with Xen grants:
// free() only unmaps the bridge's mapping and closes the bridge's fd; the kernel keeps
// the pages alive for as long as the compositor maps them (or holds an fd), and the
// pages are never reused for another extent. Such answers are counted in
// stats().endAccessUnverified.

import { openSync } from 'node:fs';
import {
  addSeals,
  close as closeFd,
  dupCloexec,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  fstat,
  ftruncate,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  memfdCreate,
  mmap,
  munmap,
  type NativePointer,
  PROT_READ,
  PROT_WRITE,
  punchHole,
  SIGURG,
  setLeaseBreakSignal,
} from '../../ffi/libc.js';
import { GrantTableFullError } from './errors.js';
import { type BackendStats, type CommonGrantOptions, ExtentLedger } from './ledger.js';
import { PageSet, pagesIn } from './page-set.js';
import {
  type EndAccessResult,
  type GrantBackend,
  type GrantExtent,
  type GrantRef,
  PAGE_SIZE,
  type PageRange,
  type PageRelease,
  type RemoteMappingSource,
} from './types.js';

/** Pages of the largest pool wl_shm can declare (int32 bytes): a sparse extent's ref block. */
const MAX_EXTENT_PAGES = 2 ** 31 / PAGE_SIZE;

export const MEMFD_SEALS = F_SEAL_SHRINK | F_SEAL_SEAL;

export interface MemfdGrantOptions extends CommonGrantOptions {
  /** Who says whether the compositor still maps an extent (default: nobody → 'unknown'). */
  readonly remote?: RemoteMappingSource;
  /** Refs (pages) allowed in use at once, to model a table limit (default: unlimited). */
  readonly maxRefs?: number;
}

/** What the backend owns per extent besides the ledger entry. */
interface MemfdPrivate {
  /** Owned: closed by free/close. Same number as extent.fd; the bridge's only file of it. */
  readonly fd: number;
  /** Whether `fd` is a counted reopen (file.ownFd set), so shares must be fresh opens. */
  readonly reopened: boolean;
  /** Owned: the bridge's mapping, unmapped by free/close. Same as extent.ptr. */
  readonly ptr: NativePointer;
  readonly length: number;
  /** A sparse extent's granted pages (undefined: a whole extent). */
  readonly granted: PageSet | undefined;
  /** A sparse extent's page p has synthetic ref refBase + p. */
  readonly refBase: number;
}

export class MemfdGrantBackend implements GrantBackend {
  readonly name = 'memfd' as const;
  readonly grantsSparsely = true;
  private readonly ledger = new ExtentLedger<MemfdPrivate>('memfd');
  private readonly remote: RemoteMappingSource | undefined;
  private readonly maxRefs: number;
  private readonly onStillMappedAtClose: CommonGrantOptions['onStillMappedAtClose'];
  /** Synthetic refs: unique per backend, never reused. */
  private nextRef = 1;

  constructor(options: MemfdGrantOptions = {}) {
    this.remote = options.remote;
    this.maxRefs = options.maxRefs ?? Number.POSITIVE_INFINITY;
    this.onStillMappedAtClose = options.onStillMappedAtClose;
  }

  /**
   * A fresh zero-filled memfd of pages × 4096 bytes, sealed, mapped read-write (sparse:
   * nothing granted, nothing resident). On any failure nothing is left behind (fd
   * closed, mapping undone).
   */
  allocate(pages: number, options: { readonly sparse?: boolean } = {}): GrantExtent {
    this.ledger.assertOpen('allocate');
    this.ledger.checkPages(pages);
    const sparse = options.sparse === true;
    const inUse = this.ledger.refsLive;
    if (!sparse && inUse + pages > this.maxRefs) {
      throw new GrantTableFullError('memfd', pages, this.maxRefs - inUse);
    }
    const id = this.ledger.takeId();
    const length = pages * PAGE_SIZE;
    let fd = memfdCreate(`grantway-extent-${id}`, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    let ptr: NativePointer | undefined;
    try {
      ftruncate(fd, length);
      addSeals(fd, MEMFD_SEALS);
      const own = reopen(fd);
      const reopened = own !== undefined;
      if (own !== undefined) {
        closeFd(fd);
        fd = own;
        // A lease taken by the oracle lasts microseconds; if someone opens the file then,
        // the kernel signals the lease holder, and SIGIO would end this process.
        setLeaseBreakSignal(fd, SIGURG);
      }
      const { dev, ino } = fstat(fd);
      ptr = mmap(fd, length, PROT_READ | PROT_WRITE);
      const refs: GrantRef[] = [];
      let refBase = 0;
      if (sparse) {
        refBase = this.nextRef;
        this.nextRef += MAX_EXTENT_PAGES;
      } else for (let i = 0; i < pages; i++) refs.push(this.nextRef++);
      const file = reopened ? { dev, ino, ownFd: fd } : { dev, ino };
      return this.ledger.add(
        { id, refs, sparse: sparse ? pages : undefined, fd, fdOffset: 0, ptr, file },
        { fd, reopened, ptr, length, granted: sparse ? new PageSet() : undefined, refBase },
      );
    } catch (error) {
      if (ptr !== undefined) munmap(ptr, length);
      closeFd(fd);
      throw error;
    }
  }

  /**
   * 'still-mapped' only when the source says the compositor maps the extent; 'ok' when
   * it says unmapped, or cannot tell (see the module comment for why that is safe).
   */
  endForeignAccess(extent: GrantExtent): EndAccessResult {
    this.ledger.assertOpen('endForeignAccess');
    const entry = this.ledger.entry(extent, 'endForeignAccess');
    if (entry.phase === 'ended') return this.ledger.recordEnd(entry, 'ok');
    const mapped = this.remote?.isMapped(extent) ?? 'unknown';
    if (mapped === true) return this.ledger.recordEnd(entry, 'still-mapped');
    return this.ledger.recordEnd(entry, 'ok', mapped === false);
  }

  /** Counts the pages of `range` not granted yet as granted (they are holes until written). */
  grantPages(extent: GrantExtent, range: PageRange): number {
    this.ledger.assertOpen('grantPages');
    const entry = this.ledger.sparseEntry(extent, 'grantPages');
    if (entry === undefined) return 0;
    this.ledger.checkRange(extent, range, 'grantPages');
    const granted = entry.priv.granted!;
    const fresh = range.end - range.first - pagesIn(granted.present(range));
    const inUse = this.ledger.refsLive;
    if (inUse + fresh > this.maxRefs) {
      throw new GrantTableFullError('memfd', fresh, this.maxRefs - inUse);
    }
    this.ledger.pagesChanged(entry, granted.add(range));
    return fresh;
  }

  /** Punches the pages of `range` out of the file; the granted ones count as released. */
  releasePages(extent: GrantExtent, range: PageRange): PageRelease {
    this.ledger.assertOpen('releasePages');
    const entry = this.ledger.sparseEntry(extent, 'releasePages');
    if (entry === undefined) return { released: 0, stillMapped: 0 };
    this.ledger.checkRange(extent, range, 'releasePages');
    const released = entry.priv.granted!.remove(range);
    this.ledger.pagesChanged(entry, -released);
    punchHole(entry.priv.fd, range.first * PAGE_SIZE, (range.end - range.first) * PAGE_SIZE);
    return { released, stillMapped: 0 };
  }

  grantedPages(extent: GrantExtent): number {
    return this.ledger.entry(extent, 'grantedPages').granted;
  }

  refsOf(extent: GrantExtent): readonly GrantRef[] {
    const { priv } = this.ledger.entry(extent, 'refsOf');
    if (priv.granted === undefined) return extent.refs;
    const refs: GrantRef[] = [];
    for (const r of priv.granted.ranges()) {
      for (let p = r.first; p < r.end; p++) refs.push(priv.refBase + p);
    }
    return refs;
  }

  /** Punches the bytes out of the file (partial pages at either end are zeroed). */
  discard(extent: GrantExtent, offset: number, length: number): void {
    this.ledger.assertOpen('discard');
    const { priv } = this.ledger.entry(extent, 'discard');
    if (offset < 0 || length < 0 || offset + length > priv.length) {
      throw new RangeError(`memfd: discard ${offset}+${length} beyond extent ${extent.id}`);
    }
    punchHole(priv.fd, offset, length);
  }

  /** A fresh open file description of the extent (see the module comment). */
  shareFd(extent: GrantExtent): number {
    this.ledger.assertOpen('shareFd');
    const { priv } = this.ledger.entry(extent, 'shareFd');
    if (!priv.reopened) return dupCloexec(priv.fd);
    const fd = reopen(priv.fd);
    // Never fall back to a dup here: the oracle would take the compositor's hold for ours.
    if (fd === undefined) throw new Error(`cannot reopen /proc/self/fd/${priv.fd}`);
    return fd;
  }

  /**
   * Grows the file to `pages` pages and maps it again at the new size (the old mapping
   * is undone only once the new one exists, so a failure leaves the extent as it was).
   * A sparse extent grants nothing more.
   */
  grow(extent: GrantExtent, pages: number): GrantExtent {
    this.ledger.assertOpen('grow');
    const entry = this.ledger.entry(extent, 'grow');
    if (pages <= extent.pages) return extent;
    this.ledger.checkPages(pages);
    const more = pages - extent.pages;
    if (!extent.sparse && this.ledger.refsLive + more > this.maxRefs) {
      throw new GrantTableFullError('memfd', more, this.maxRefs - this.ledger.refsLive);
    }
    const length = pages * PAGE_SIZE;
    ftruncate(entry.priv.fd, length);
    const ptr = mmap(entry.priv.fd, length, PROT_READ | PROT_WRITE);
    munmap(entry.priv.ptr, entry.priv.length);
    const refs = [...extent.refs];
    if (!extent.sparse) for (let i = 0; i < more; i++) refs.push(this.nextRef++);
    return this.ledger.replace(extent, { pages, refs, ptr }, { ...entry.priv, ptr, length });
  }

  /** Unmaps the bridge's mapping and closes the bridge's fd. */
  free(extent: GrantExtent): void {
    this.ledger.assertOpen('free');
    const { priv } = this.ledger.remove(extent);
    release(priv);
  }

  stats(): BackendStats {
    return this.ledger.stats(this.maxRefs);
  }

  /**
   * Releases every live extent (safe even if the compositor still maps some: it keeps
   * its pages). Extents the source says are still mapped are reported.
   */
  close(): void {
    if (this.ledger.isClosed) return;
    const entries = this.ledger.closeAll();
    const stillMapped = entries
      .filter((e) => e.phase === 'granted' && this.remote?.isMapped(e.extent) === true)
      .map((e) => e.extent);
    for (const { priv } of entries) release(priv);
    this.ledger.recordStillMappedAtClose(stillMapped.length);
    if (stillMapped.length > 0) this.onStillMappedAtClose?.(stillMapped);
  }
}

/**
 * A new open file description of `fd`'s file, read-write and close-on-exec (libuv opens
 * every file O_CLOEXEC); undefined where /proc/self/fd cannot be opened.
 */
function reopen(fd: number): number | undefined {
  try {
    return openSync(`/proc/self/fd/${fd}`, 'r+');
  } catch {
    return undefined;
  }
}

function release(priv: MemfdPrivate): void {
  munmap(priv.ptr, priv.length);
  closeFd(priv.fd);
}
