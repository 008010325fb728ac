// Real Xen grants through /dev/xen/gntalloc (ARCHITECTURE.md §4), for a bridge running in a Xen
// domain whose compositor lives in another domain. One device fd per backend; each
// extent is one IOCTL_GNTALLOC_ALLOC_GREF of `pages` writable grants to `domid`, mapped
// read-write by the bridge at offset = index. Works only inside a Xen domain with the
// gntalloc driver: elsewhere the constructor throws GntallocUnavailableError.
//
// What endForeignAccess means here, and what it proves: it is DEALLOC_GREF, and it
// answers 'ok' whenever it is issued. gntalloc cannot say "still mapped" to userspace:
// the kernel drops the file's reference, and once no local mapping is left either (the
// bridge's own goes in free()) it calls gnttab_end_foreign_access, which, if the remote
// domain still maps a page, parks the ref on Linux's deferred list (retried from a 1 s
// timer, free_per_iteration per tick) — the very list this project exists to keep short.
// So 'ok' from this backend is no evidence at all (E0); evidence must come from the
// optional RemoteMappingSource (E1/E2 from the protocol: no E3 across domains). When
// that source says the extent is mapped, endForeignAccess answers 'still-mapped' and
// issues nothing; 'ok' answers without a source saying false are counted in
// stats().endAccessUnverified.
//
// Refs still count against the module's `limit` while deferred, so the backend's own
// limit check is optimistic; the kernel's ENOSPC becomes GrantTableFullError too.
//
// Whole extents only. The compositor maps a pool as one range of the device file, and
// gntalloc lays grants out in that file in allocation order (each ALLOC_GREF takes the
// next `count` pages of offsets; the mmap offset is that index), so there is no way to
// grant page 40 000 of a pool without granting the 39 999 before it, nor to put a page
// back into the middle of a range once it was given back (DEALLOC_GREF of part of a
// range leaves a gap that mmap refuses). So a pool is granted whole at its declared
// size: foot's 512 MiB pools would need 131 072 refs each, and are refused with
// GrantTableFullError (no_memory for the client) when the limit is lower, which it is
// by default (1024). Grant mode charges such a pool its declared size (SECURITY.md).

import { readFileSync } from 'node:fs';
import { SyscallError } from '../../ffi/errors.js';
import {
  GNTALLOC_DEFAULT_LIMIT,
  GNTALLOC_FLAG_WRITABLE,
  GNTALLOC_LIMIT_PATH,
  GNTALLOC_PATH,
  type GntallocAllocation,
  type GntallocDevice,
  openGntalloc,
} from '../../ffi/gntalloc.js';
import { dupCloexec, type NativePointer, nativeView } from '../../ffi/libc.js';
import {
  ExtentGrowUnsupportedError,
  GntallocUnavailableError,
  GrantTableFullError,
} from './errors.js';
import { type BackendStats, type CommonGrantOptions, ExtentLedger } from './ledger.js';
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

const WHOLE_ONLY =
  'gntalloc grants a pool whole, at its declared size: it cannot map a sparse range';

export interface GntallocGrantOptions extends CommonGrantOptions {
  /** The domain the pages are granted to (the compositor's domain). Required. */
  readonly domid: number;
  /** Default /dev/xen/gntalloc. */
  readonly devicePath?: string;
  /**
   * Grants this backend may hold at once. Default: the xen_gntalloc `limit` module
   * parameter (read from sysfs), else 1024. The kernel limit is domain-wide, so other
   * gntalloc users share it.
   */
  readonly limit?: number;
  /** Evidence that the remote side still maps an extent (default: none). */
  readonly remote?: RemoteMappingSource;
  /** Opens the device (tests substitute a fake; default: ffi openGntalloc). */
  readonly openDevice?: (path: string) => GntallocDevice;
}

interface GntallocPrivate {
  /** Byte offset of the allocation in the device file (= extent.fdOffset). */
  readonly index: bigint;
  /** Owned: the bridge's mapping, unmapped by free/close. Same as extent.ptr. */
  readonly ptr: NativePointer;
  /** Whether DEALLOC_GREF has been issued (exactly once per allocation). */
  deallocated: boolean;
}

/** The xen_gntalloc `limit` parameter, or undefined when sysfs does not have it. */
export function readGntallocLimit(path = GNTALLOC_LIMIT_PATH): number | undefined {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

export class GntallocGrantBackend implements GrantBackend {
  readonly name = 'gntalloc' as const;
  readonly grantsSparsely = false;
  readonly domid: number;
  readonly limit: number;
  private readonly ledger = new ExtentLedger<GntallocPrivate>('gntalloc');
  /** Owned: closed by close(), after every mapping of it is gone. */
  private readonly device: GntallocDevice;
  private readonly remote: RemoteMappingSource | undefined;
  private readonly onStillMappedAtClose: CommonGrantOptions['onStillMappedAtClose'];

  constructor(options: GntallocGrantOptions) {
    if (!Number.isInteger(options.domid) || options.domid < 0 || options.domid > 0xffff) {
      throw new RangeError(`domid must be an integer in [0, 65535], got ${options.domid}`);
    }
    this.domid = options.domid;
    const limit = options.limit ?? readGntallocLimit() ?? GNTALLOC_DEFAULT_LIMIT;
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
    this.remote = options.remote;
    this.onStillMappedAtClose = options.onStillMappedAtClose;
    const path = options.devicePath ?? GNTALLOC_PATH;
    try {
      this.device = (options.openDevice ?? openGntalloc)(path);
    } catch (error) {
      if (error instanceof SyscallError) {
        throw new GntallocUnavailableError(path, error.errnoName, { cause: error });
      }
      throw error;
    }
  }

  /** One ALLOC_GREF of `pages` writable grants, then the bridge's mapping of them. */
  allocate(pages: number, options: { readonly sparse?: boolean } = {}): GrantExtent {
    this.ledger.assertOpen('allocate');
    if (options.sparse === true) throw new TypeError(WHOLE_ONLY);
    this.ledger.checkPages(pages);
    const inUse = this.ledger.refsLive;
    if (inUse + pages > this.limit) {
      throw new GrantTableFullError('gntalloc', pages, this.limit - inUse, { hint: WHOLE_ONLY });
    }
    let allocation: GntallocAllocation;
    try {
      allocation = this.device.allocGref({
        domid: this.domid,
        flags: GNTALLOC_FLAG_WRITABLE,
        count: pages,
      });
    } catch (error) {
      if (error instanceof SyscallError && error.errnoName === 'ENOSPC') {
        throw new GrantTableFullError('gntalloc', pages, this.limit - inUse, {
          cause: error,
          hint: WHOLE_ONLY,
        });
      }
      throw error;
    }
    let ptr: NativePointer;
    try {
      ptr = this.device.map(allocation.index, pages);
    } catch (error) {
      this.device.deallocGref({ index: allocation.index, count: pages });
      throw error;
    }
    return this.ledger.add(
      {
        id: this.ledger.takeId(),
        refs: allocation.refs,
        fd: this.device.fd,
        fdOffset: Number(allocation.index),
        ptr,
        file: undefined,
      },
      { index: allocation.index, ptr, deallocated: false },
    );
  }

  /** Every page of a gntalloc extent is granted from allocation to free. */
  grantPages(extent: GrantExtent, _range?: PageRange): number {
    this.ledger.entry(extent, 'grantPages');
    return 0;
  }

  /** Nothing can be given back before the whole extent goes (module comment). */
  releasePages(extent: GrantExtent, _range?: PageRange): PageRelease {
    this.ledger.entry(extent, 'releasePages');
    return { released: 0, stillMapped: 0 };
  }

  grantedPages(extent: GrantExtent): number {
    return this.ledger.entry(extent, 'grantedPages').granted;
  }

  refsOf(extent: GrantExtent): readonly GrantRef[] {
    this.ledger.entry(extent, 'refsOf');
    return extent.refs;
  }

  /** Grant pages cannot be punched: the bytes are written with zeros. */
  discard(extent: GrantExtent, offset: number, length: number): void {
    this.ledger.assertOpen('discard');
    const { priv } = this.ledger.entry(extent, 'discard');
    if (offset < 0 || length < 0 || offset + length > extent.pages * PAGE_SIZE) {
      throw new RangeError(`gntalloc: discard ${offset}+${length} beyond extent ${extent.id}`);
    }
    if (length > 0) nativeView(priv.ptr + BigInt(offset), length).fill(0);
  }

  /** The device fd (the remote side maps the extent at fdOffset in it). */
  shareFd(extent: GrantExtent): number {
    this.ledger.assertOpen('shareFd');
    this.ledger.entry(extent, 'shareFd');
    return dupCloexec(this.device.fd);
  }

  /** Grants cannot be added to a gntalloc allocation in place. */
  grow(extent: GrantExtent, pages: number): GrantExtent {
    if (pages <= extent.pages) return extent;
    throw new ExtentGrowUnsupportedError('gntalloc');
  }

  /** DEALLOC_GREF unless the source says the extent is still mapped (module comment). */
  endForeignAccess(extent: GrantExtent): EndAccessResult {
    this.ledger.assertOpen('endForeignAccess');
    const entry = this.ledger.entry(extent, 'endForeignAccess');
    if (entry.phase === 'ended') return this.ledger.recordEnd(entry, 'ok');
    const mapped = this.remote?.isMapped(extent) ?? 'unknown';
    if (mapped === true) return this.ledger.recordEnd(entry, 'still-mapped');
    this.dealloc(extent.pages, entry.priv);
    return this.ledger.recordEnd(entry, 'ok', mapped === false);
  }

  /** Unmaps the bridge's mapping: the kernel's last local reference to the grants. */
  free(extent: GrantExtent): void {
    this.ledger.assertOpen('free');
    const { priv } = this.ledger.remove(extent);
    this.device.unmap(priv.ptr, extent.pages);
  }

  stats(): BackendStats {
    return this.ledger.stats(this.limit);
  }

  /**
   * Deallocates and unmaps every live extent, then closes the device. Extents the source
   * says are still mapped are reported; the kernel defers their reclaim.
   */
  close(): void {
    if (this.ledger.isClosed) return;
    const entries = this.ledger.closeAll();
    const stillMapped = entries
      .filter((e) => e.phase === 'granted' && this.remote?.isMapped(e.extent) === true)
      .map((e) => e.extent);
    try {
      for (const { extent, priv } of entries) {
        this.dealloc(extent.pages, priv);
        this.device.unmap(priv.ptr, extent.pages);
      }
    } finally {
      this.device.close();
    }
    this.ledger.recordStillMappedAtClose(stillMapped.length);
    if (stillMapped.length > 0) this.onStillMappedAtClose?.(stillMapped);
  }

  private dealloc(pages: number, priv: GntallocPrivate): void {
    if (priv.deallocated) return;
    this.device.deallocGref({ index: priv.index, count: pages });
    priv.deallocated = true;
  }
}
