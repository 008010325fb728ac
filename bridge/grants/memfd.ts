// Grant extents as real shared pages on any Linux (the default backend, DESIGN §4): one
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
// End of foreign access without evidence: when the source says 'unknown' (or there is
// none), endForeignAccess answers 'ok'. That is safe here, unlike with Xen grants:
// free() only unmaps the bridge's mapping and closes the bridge's fd; the kernel keeps
// the pages alive for as long as the compositor maps them (or holds an fd), and the
// pages are never reused for another extent. Such answers are counted in
// stats().endAccessUnverified.

import {
  addSeals,
  close as closeFd,
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
} from '../../ffi/libc.js';
import { GrantTableFullError } from './errors.js';
import { type BackendStats, type CommonGrantOptions, ExtentLedger } from './ledger.js';
import {
  type EndAccessResult,
  type GrantBackend,
  type GrantExtent,
  type GrantRef,
  PAGE_SIZE,
  type RemoteMappingSource,
} from './types.js';

export const MEMFD_SEALS = F_SEAL_SHRINK | F_SEAL_SEAL;

export interface MemfdGrantOptions extends CommonGrantOptions {
  /** Who says whether the compositor still maps an extent (default: nobody → 'unknown'). */
  readonly remote?: RemoteMappingSource;
  /** Refs (pages) allowed in use at once, to model a table limit (default: unlimited). */
  readonly maxRefs?: number;
}

/** What the backend owns per extent besides the ledger entry. */
interface MemfdPrivate {
  /** Owned: closed by free/close. Same number as extent.fd. */
  readonly fd: number;
  /** Owned: the bridge's mapping, unmapped by free/close. Same as extent.ptr. */
  readonly ptr: NativePointer;
  readonly length: number;
}

export class MemfdGrantBackend implements GrantBackend {
  readonly name = 'memfd' as const;
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
   * A fresh zero-filled memfd of pages × 4096 bytes, sealed, mapped read-write. On any
   * failure nothing is left behind (fd closed, mapping undone).
   */
  allocate(pages: number): GrantExtent {
    this.ledger.assertOpen('allocate');
    this.ledger.checkPages(pages);
    const inUse = this.ledger.refsLive;
    if (inUse + pages > this.maxRefs) {
      throw new GrantTableFullError('memfd', pages, this.maxRefs - inUse);
    }
    const id = this.ledger.takeId();
    const length = pages * PAGE_SIZE;
    const fd = memfdCreate(`grantway-extent-${id}`, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    let ptr: NativePointer | undefined;
    try {
      ftruncate(fd, length);
      addSeals(fd, MEMFD_SEALS);
      const { dev, ino } = fstat(fd);
      ptr = mmap(fd, length, PROT_READ | PROT_WRITE);
      const refs: GrantRef[] = [];
      for (let i = 0; i < pages; i++) refs.push(this.nextRef++);
      return this.ledger.add(
        { id, refs, fd, fdOffset: 0, ptr, file: { dev, ino } },
        { fd, ptr, length },
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

  /**
   * Grows the file to `pages` pages and maps it again at the new size (the old mapping
   * is undone only once the new one exists, so a failure leaves the extent as it was).
   */
  grow(extent: GrantExtent, pages: number): GrantExtent {
    this.ledger.assertOpen('grow');
    const entry = this.ledger.entry(extent, 'grow');
    if (pages <= extent.pages) return extent;
    this.ledger.checkPages(pages);
    const more = pages - extent.pages;
    if (this.ledger.refsLive + more > this.maxRefs) {
      throw new GrantTableFullError('memfd', more, this.maxRefs - this.ledger.refsLive);
    }
    const length = pages * PAGE_SIZE;
    ftruncate(entry.priv.fd, length);
    const ptr = mmap(entry.priv.fd, length, PROT_READ | PROT_WRITE);
    munmap(entry.priv.ptr, entry.priv.length);
    const refs = [...extent.refs];
    for (let i = 0; i < more; i++) refs.push(this.nextRef++);
    return this.ledger.replace(extent, { refs, ptr }, { fd: entry.priv.fd, ptr, length });
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

function release(priv: MemfdPrivate): void {
  munmap(priv.ptr, priv.length);
  closeFd(priv.fd);
}
