// The gntalloc backend: off Xen it refuses with GntallocUnavailableError; its logic (the
// ioctl sequence, limits, rollback, what 'ok' means) is checked against a fake device
// that records every call, since the real device exists only inside a Xen domain.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyscallError } from '../../ffi/errors.js';
import {
  GNTALLOC_FLAG_WRITABLE,
  type AllocGrefRequest,
  type DeallocGrefRequest,
  type GntallocDevice,
} from '../../ffi/gntalloc.js';
import { nativeAlloc, nativeFree, nativeView, type NativePointer } from '../../ffi/libc.js';
import {
  ExtentStateError,
  GntallocUnavailableError,
  GrantBackendClosedError,
  GrantTableFullError,
} from './errors.js';
import { createGrantBackend } from './factory.js';
import { GntallocGrantBackend, readGntallocLimit } from './gntalloc.js';
import type { GrantExtent, RemoteMappingSource } from './types.js';

const onXen = existsSync('/dev/xen/gntalloc');

type Call =
  | { op: 'alloc'; request: AllocGrefRequest }
  | { op: 'dealloc'; request: DeallocGrefRequest }
  | { op: 'map'; index: bigint; pages: number }
  | { op: 'unmap'; pages: number }
  | { op: 'close' };

/** A gntalloc device in memory: indexes advance by pages × 4096, refs count from 100. */
function fakeDevice(options: { failMap?: boolean; enospc?: boolean } = {}) {
  const calls: Call[] = [];
  const live = new Map<NativePointer, number>();
  let index = 0n;
  let nextRef = 100;
  const device: GntallocDevice = {
    fd: 99,
    allocGref(request) {
      calls.push({ op: 'alloc', request });
      if (options.enospc) throw new SyscallError('ioctl(IOCTL_GNTALLOC_ALLOC_GREF)', 28);
      const refs = Array.from({ length: request.count }, () => nextRef++);
      const allocation = { index, refs };
      index += BigInt(request.count * 4096);
      return allocation;
    },
    deallocGref(request) {
      calls.push({ op: 'dealloc', request });
    },
    setUnmapNotify() {},
    map(at, pages) {
      calls.push({ op: 'map', index: at, pages });
      if (options.failMap) throw new SyscallError('mmap', 12);
      const ptr = nativeAlloc(pages * 4096);
      live.set(ptr, pages);
      return ptr;
    },
    unmap(ptr, pages) {
      calls.push({ op: 'unmap', pages });
      expect(live.get(ptr)).toBe(pages);
      live.delete(ptr);
      nativeFree(ptr);
    },
    close() {
      calls.push({ op: 'close' });
    },
  };
  return { device, calls, live };
}

function backendWith(
  fake: ReturnType<typeof fakeDevice>,
  extra: {
    limit?: number;
    remote?: RemoteMappingSource;
    onStill?: (x: readonly GrantExtent[]) => void;
  } = {},
): GntallocGrantBackend {
  return new GntallocGrantBackend({
    domid: 3,
    limit: extra.limit ?? 16,
    remote: extra.remote,
    onStillMappedAtClose: extra.onStill,
    openDevice: () => fake.device,
  });
}

describe('gntalloc grant backend off Xen', () => {
  it.skipIf(onXen)('fails with GntallocUnavailableError, saying it needs a Xen domain', () => {
    let error: unknown;
    try {
      createGrantBackend('gntalloc', { domid: 0 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GntallocUnavailableError);
    const e = error as GntallocUnavailableError;
    expect(e.code).toBe('ERR_GNTALLOC_UNAVAILABLE');
    expect(e.path).toBe('/dev/xen/gntalloc');
    expect(e.reason).toBe('ENOENT');
    expect(e.message).toMatch(/only inside a Xen domain with the gntalloc driver/);
    expect(e.cause).toBeInstanceOf(SyscallError);
  });

  it('names the path it was given', () => {
    expect(
      () => new GntallocGrantBackend({ domid: 0, devicePath: '/nonexistent/gntalloc' }),
    ).toThrow(/\/nonexistent\/gntalloc \(ENOENT\)/);
  });

  it('reads the module limit from sysfs when there is one', () => {
    expect(readGntallocLimit('/nonexistent/limit')).toBeUndefined();
  });
});

describe('gntalloc grant backend logic (fake device)', () => {
  it('allocates writable grants to domid and maps them at offset = index', () => {
    const fake = fakeDevice();
    const backend = backendWith(fake);
    const a = backend.allocate(2);
    const b = backend.allocate(3);
    expect(fake.calls.slice(0, 4)).toEqual([
      { op: 'alloc', request: { domid: 3, flags: GNTALLOC_FLAG_WRITABLE, count: 2 } },
      { op: 'map', index: 0n, pages: 2 },
      { op: 'alloc', request: { domid: 3, flags: GNTALLOC_FLAG_WRITABLE, count: 3 } },
      { op: 'map', index: 8192n, pages: 3 },
    ]);
    expect(a).toMatchObject({ pages: 2, refs: [100, 101], fd: 99, fdOffset: 0, file: undefined });
    expect(b).toMatchObject({ pages: 3, refs: [102, 103, 104], fdOffset: 8192 });
    expect(backend.stats()).toMatchObject({ refsTotal: 16, refsInUse: 5, extentsInUse: 2 });
    backend.close();
  });

  it('end access = DEALLOC_GREF (unverified without a source); free = munmap', () => {
    const fake = fakeDevice();
    const backend = backendWith(fake);
    const a = backend.allocate(2);
    fake.calls.length = 0;
    expect(backend.endForeignAccess(a)).toBe('ok');
    expect(backend.endForeignAccess(a)).toBe('ok'); // no second DEALLOC
    expect(fake.calls).toEqual([{ op: 'dealloc', request: { index: 0n, count: 2 } }]);
    backend.free(a);
    expect(fake.calls.at(-1)).toEqual({ op: 'unmap', pages: 2 });
    expect(fake.live.size).toBe(0);
    expect(backend.stats()).toMatchObject({
      endAccessAttempts: 2,
      endAccessFailures: 0,
      endAccessUnverified: 1,
      refsInUse: 0,
    });
  });

  it('a source saying "mapped" holds the DEALLOC back: still-mapped, nothing issued', () => {
    const fake = fakeDevice();
    let mapped = true;
    const backend = backendWith(fake, { remote: { isMapped: () => mapped } });
    const a = backend.allocate(1);
    fake.calls.length = 0;
    expect(backend.endForeignAccess(a)).toBe('still-mapped');
    expect(fake.calls).toEqual([]);
    expect(() => backend.free(a)).toThrow(ExtentStateError);
    mapped = false;
    expect(backend.endForeignAccess(a)).toBe('ok');
    expect(backend.stats()).toMatchObject({ endAccessFailures: 1, endAccessUnverified: 0 });
    backend.close();
  });

  it('limit: checked before the ioctl; the kernel ENOSPC is GrantTableFullError too', () => {
    const fake = fakeDevice();
    const backend = backendWith(fake, { limit: 4 });
    backend.allocate(3);
    fake.calls.length = 0;
    expect(() => backend.allocate(2)).toThrow(GrantTableFullError);
    expect(fake.calls).toEqual([]);
    backend.close();

    const full = backendWith(fakeDevice({ enospc: true }));
    let error: unknown;
    try {
      full.allocate(1);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GrantTableFullError);
    expect((error as GrantTableFullError).cause).toBeInstanceOf(SyscallError);
    expect(full.stats().allocations).toBe(0);
  });

  it('a failed mmap gives the grants back (DEALLOC) and leaves no extent', () => {
    const fake = fakeDevice({ failMap: true });
    const backend = backendWith(fake);
    expect(() => backend.allocate(2)).toThrow(SyscallError);
    expect(fake.calls.map((c) => c.op)).toEqual(['alloc', 'map', 'dealloc']);
    expect(backend.stats()).toMatchObject({ extentsInUse: 0, refsInUse: 0 });
  });

  it('close deallocates and unmaps what is left, closes the device, reports the mapped', () => {
    const fake = fakeDevice();
    const reported: number[] = [];
    const mappedIds = new Set<number>();
    const backend = backendWith(fake, {
      remote: { isMapped: (x) => mappedIds.has(x.id) },
      onStill: (x) => reported.push(...x.map((e) => e.id)),
    });
    const a = backend.allocate(1);
    const b = backend.allocate(1);
    backend.endForeignAccess(b);
    mappedIds.add(a.id);
    fake.calls.length = 0;
    backend.close();
    expect(fake.calls).toEqual([
      { op: 'dealloc', request: { index: 0n, count: 1 } },
      { op: 'unmap', pages: 1 },
      { op: 'unmap', pages: 1 },
      { op: 'close' },
    ]);
    expect(fake.live.size).toBe(0);
    expect(reported).toEqual([a.id]);
    expect(() => backend.allocate(1)).toThrow(GrantBackendClosedError);
  });

  it('rejects a domid outside u16', () => {
    const fake = fakeDevice();
    expect(() => new GntallocGrantBackend({ domid: 70000, openDevice: () => fake.device })).toThrow(
      RangeError,
    );
  });

  it('grants pools whole: no sparse extents, and a pool beyond the limit is refused naming why', () => {
    const fake = fakeDevice();
    const backend = backendWith(fake, { limit: 1024 });
    try {
      expect(backend.grantsSparsely).toBe(false);
      expect(() => backend.allocate(4, { sparse: true })).toThrow(TypeError);
      // foot's 512 MiB pool would need 131 072 refs.
      const error = (() => {
        try {
          backend.allocate(131072);
        } catch (err) {
          return err;
        }
      })();
      expect(error).toBeInstanceOf(GrantTableFullError);
      expect((error as Error).message).toMatch(
        /131072 refs requested, 1024 free \(gntalloc grants a pool whole, at its declared size: it cannot map a sparse range\)/,
      );
      expect(fake.calls).toEqual([]);
      const e = backend.allocate(2);
      expect(backend.grantPages(e, { first: 0, end: 2 })).toBe(0);
      expect(backend.releasePages(e, { first: 0, end: 2 })).toEqual({
        released: 0,
        stillMapped: 0,
      });
      expect(backend.grantedPages(e)).toBe(2);
      const view = nativeView(e.ptr!, 8192);
      view.fill(9);
      backend.discard(e, 10, 4096);
      expect([view[9], view[10], view[4105], view[4106]]).toEqual([9, 0, 0, 9]);
    } finally {
      backend.close();
    }
  });
});
