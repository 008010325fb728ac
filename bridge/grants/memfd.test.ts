// The memfd backend with real pages: what the bridge writes through its mapping is what
// a second mapping of the fd (the compositor's view) reads; the seals hold against the
// fd's holder; free and close give every fd and mapping back; end of access follows
// the remote source, and 'unknown' answers are counted as unverified.

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyscallError } from '../../ffi/errors.js';
import {
  addSeals,
  F_SEAL_WRITE,
  fstat,
  ftruncate,
  getSeals,
  mmap,
  munmap,
  nativeView,
  PROT_READ,
} from '../../ffi/libc.js';
import { ExtentStateError, GrantTableFullError } from './errors.js';
import { MEMFD_SEALS, MemfdGrantBackend } from './memfd.js';
import type { GrantExtent, RemoteMappingSource } from './types.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** A remote source whose answer the test sets. */
function scriptedSource(): RemoteMappingSource & { answer: boolean | 'unknown' } {
  return {
    answer: 'unknown',
    isMapped() {
      return this.answer;
    },
  };
}

describe('memfd grant backend', () => {
  it('shares real pages: written through ptr, read through another mapping of fd', () => {
    const backend = new MemfdGrantBackend();
    const e = backend.allocate(3);
    try {
      expect(e.fd).toBeTypeOf('number');
      expect(e.fdOffset).toBe(0);
      expect(e.refs).toHaveLength(3);
      const st = fstat(e.fd as number);
      expect(st.size).toBe(3 * 4096);
      expect(e.file).toEqual({ dev: st.dev, ino: st.ino, ownFd: e.fd });
      const mine = nativeView(e.ptr as bigint, 3 * 4096);
      expect(mine.every((b) => b === 0)).toBe(true);
      mine[0] = 0x11;
      mine[4096 * 2 + 17] = 0x22;
      const theirPtr = mmap(e.fd as number, 3 * 4096, PROT_READ);
      const theirs = nativeView(theirPtr, 3 * 4096);
      expect([theirs[0], theirs[4096 * 2 + 17]]).toEqual([0x11, 0x22]);
      munmap(theirPtr, 3 * 4096);
    } finally {
      backend.close();
    }
  });

  it('seals the memfd: the fd holder can neither shrink it nor change the seals', () => {
    const backend = new MemfdGrantBackend();
    const e = backend.allocate(2);
    const fd = e.fd as number;
    try {
      expect(getSeals(fd) & MEMFD_SEALS).toBe(MEMFD_SEALS);
      expect(() => ftruncate(fd, 4096)).toThrow(/EPERM/);
      expect(() => ftruncate(fd, 0)).toThrow(/EPERM/);
      const F_SEAL_FUTURE_WRITE = 0x10;
      expect(() => addSeals(fd, F_SEAL_FUTURE_WRITE)).toThrow(/EPERM/);
      expect(() => addSeals(fd, F_SEAL_WRITE)).toThrow(/EPERM/);
      expect(fstat(fd).size).toBe(2 * 4096);
    } finally {
      backend.close();
    }
  });

  it('grows in place for wl_shm_pool.resize: same fd, more pages, content kept', () => {
    const backend = new MemfdGrantBackend();
    const e = backend.allocate(1);
    try {
      nativeView(e.ptr!, 4096)[100] = 42;
      const grown = backend.grow(e, 3);
      expect(grown.fd).toBe(e.fd);
      expect(grown.id).toBe(e.id);
      expect(grown.pages).toBe(3);
      expect(new Set(grown.refs).size).toBe(3);
      expect(fstat(grown.fd!).size).toBe(3 * 4096);
      const view = nativeView(grown.ptr!, 3 * 4096);
      expect(view[100]).toBe(42);
      view[3 * 4096 - 1] = 7; // the new pages are mapped
      expect(backend.stats().refsInUse).toBe(3);
      expect(() => backend.endForeignAccess(e)).toThrow(ExtentStateError); // stale object
      expect(backend.endForeignAccess(grown)).toBe('ok');
      backend.free(grown);
    } finally {
      backend.close();
    }
  });

  it('free unmaps and closes the fd; nothing leaks over many extents', () => {
    const backend = new MemfdGrantBackend();
    const before = openFds();
    const extents: GrantExtent[] = [];
    for (let i = 0; i < 20; i++) extents.push(backend.allocate(1 + (i % 4)));
    expect(openFds()).toBe(before + 20);
    for (const e of extents) {
      expect(backend.endForeignAccess(e)).toBe('ok');
      backend.free(e);
    }
    expect(openFds()).toBe(before);
    const error = (() => {
      try {
        fstat(extents[0]?.fd as number);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    // (The number may have been reused by then in a busy process; here it is not.)
    expect(error).toBeInstanceOf(SyscallError);
    expect(backend.stats()).toMatchObject({ allocations: 20, frees: 20, extentsInUse: 0 });
    backend.close();
  });

  it('refs are synthetic but unique, never reused', () => {
    const backend = new MemfdGrantBackend();
    const a = backend.allocate(2);
    backend.endForeignAccess(a);
    backend.free(a);
    const b = backend.allocate(2);
    expect(new Set([...a.refs, ...b.refs]).size).toBe(4);
    expect(b.id).not.toBe(a.id);
    backend.close();
  });

  it('end of access follows the remote source; unknown is ok but counted unverified', () => {
    const source = scriptedSource();
    const backend = new MemfdGrantBackend({ remote: source });
    const a = backend.allocate(1);
    const b = backend.allocate(1);
    source.answer = true;
    expect(backend.endForeignAccess(a)).toBe('still-mapped');
    expect(() => backend.free(a)).toThrow(ExtentStateError);
    source.answer = false;
    expect(backend.endForeignAccess(a)).toBe('ok');
    source.answer = 'unknown';
    expect(backend.endForeignAccess(b)).toBe('ok');
    expect(backend.stats()).toMatchObject({
      endAccessAttempts: 3,
      endAccessFailures: 1,
      endAccessUnverified: 1,
    });
    backend.free(a);
    backend.free(b);
    backend.close();
  });

  it('without a source, every end of access is ok and unverified', () => {
    const backend = new MemfdGrantBackend();
    const a = backend.allocate(1);
    expect(backend.endForeignAccess(a)).toBe('ok');
    expect(backend.stats().endAccessUnverified).toBe(1);
    backend.close();
  });

  it('maxRefs models a table limit', () => {
    const backend = new MemfdGrantBackend({ maxRefs: 4 });
    backend.allocate(3);
    expect(() => backend.allocate(2)).toThrow(GrantTableFullError);
    expect(backend.stats()).toMatchObject({ refsTotal: 4, refsInUse: 3, extentsInUse: 1 });
    backend.allocate(1);
    backend.close();
  });

  it('close releases everything and reports what the source says is still mapped', () => {
    const source = scriptedSource();
    const reported: GrantExtent[] = [];
    const backend = new MemfdGrantBackend({
      remote: source,
      onStillMappedAtClose: (x) => reported.push(...x),
    });
    const before = openFds();
    const a = backend.allocate(1);
    backend.allocate(2);
    source.answer = true;
    backend.close();
    expect(openFds()).toBe(before);
    expect(reported.map((x) => x.id)).toEqual([a.id, a.id + 1]);
    expect(backend.stats()).toMatchObject({ extentsInUse: 0, stillMappedAtClose: 2 });
  });
});

describe('memfd grant backend, sparse extents', () => {
  const MiB = 1024 * 1024;

  it('a 512 MiB extent holds only what is written, and gives pages back by punching them', () => {
    const backend = new MemfdGrantBackend();
    const e = backend.allocate((512 * MiB) / 4096, { sparse: true });
    try {
      const fd = e.fd as number;
      expect(fstat(fd)).toMatchObject({ size: 512 * MiB, allocated: 0 });
      // Two 4 MiB buffers, far apart; the bridge copies into them.
      const a = { first: 32768, end: 32768 + 1024 };
      const b = { first: 100_000, end: 101_024 };
      expect(backend.grantPages(e, a)).toBe(1024);
      expect(backend.grantPages(e, b)).toBe(1024);
      expect(backend.stats().refsInUse).toBe(2048);
      const view = nativeView(e.ptr as bigint, 512 * MiB);
      view.fill(0x5a, a.first * 4096, a.end * 4096);
      view.fill(0xa5, b.first * 4096, b.end * 4096);
      expect(fstat(fd).allocated).toBe(8 * MiB);
      expect(backend.refsOf(e)).toHaveLength(2048);
      // Buffer a goes: its pages leave the file, which keeps its size (no SIGBUS for a
      // mapping of it), and read as zeros.
      expect(backend.releasePages(e, a)).toEqual({ released: 1024, stillMapped: 0 });
      expect(fstat(fd)).toMatchObject({ size: 512 * MiB, allocated: 4 * MiB });
      expect(view[a.first * 4096 + 5]).toBe(0);
      expect(view[b.first * 4096 + 5]).toBe(0xa5);
      expect(backend.stats()).toMatchObject({ refsInUse: 1024, pagesReleased: 1024 });
      // The seals allow punching (only F_SEAL_WRITE forbids it) and still hold.
      expect(getSeals(fd) & MEMFD_SEALS).toBe(MEMFD_SEALS);
      expect(() => ftruncate(fd, 4096)).toThrow(SyscallError);
    } finally {
      backend.close();
    }
  });

  it('discard punches bytes out, zeroing partial pages', () => {
    const backend = new MemfdGrantBackend();
    const e = backend.allocate(4, { sparse: true });
    try {
      backend.grantPages(e, { first: 0, end: 4 });
      const view = nativeView(e.ptr as bigint, 4 * 4096);
      view.fill(7);
      backend.discard(e, 100, 2 * 4096);
      // Page 1 went whole. (Checked first: reading a hole through a shared mapping makes
      // the page again.)
      expect(fstat(e.fd as number).allocated).toBe(3 * 4096);
      const at = [99, 100, 4096, 100 + 2 * 4096 - 1, 100 + 2 * 4096];
      expect(at.map((i) => view[i])).toEqual([7, 0, 0, 0, 7]);
      expect(() => backend.discard(e, 3 * 4096, 8192)).toThrow(RangeError);
    } finally {
      backend.close();
    }
  });

  it('counts granted pages against maxRefs, all or nothing', () => {
    const backend = new MemfdGrantBackend({ maxRefs: 10 });
    try {
      const e = backend.allocate(100, { sparse: true });
      expect(backend.grantPages(e, { first: 0, end: 8 })).toBe(8);
      expect(() => backend.grantPages(e, { first: 4, end: 16 })).toThrow(GrantTableFullError);
      expect(backend.grantedPages(e)).toBe(8);
      expect(backend.grantPages(e, { first: 4, end: 10 })).toBe(2);
      const grown = backend.grow(e, 200); // spans more, grants nothing
      expect(grown).toMatchObject({ pages: 200, sparse: true });
      expect(backend.stats().refsInUse).toBe(10);
      expect(fstat(grown.fd as number).size).toBe(200 * 4096);
    } finally {
      backend.close();
    }
  });
});
