// The sim backend is the model every policy is replayed against, so its semantics are
// pinned down here: Xen v1 table size and reserved refs, lowest-first allocation,
// exhaustion, end of foreign access failing while mapped, counts, misuse.

import { describe, expect, it } from 'vitest';
import {
  ExtentStateError,
  GrantBackendClosedError,
  GrantTableFullError,
  InvalidExtentSizeError,
} from './errors.js';
import { GNTTAB_NR_RESERVED_ENTRIES, SimGrantBackend } from './sim.js';
import type { GrantExtent } from './types.js';

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('sim grant table', () => {
  it('defaults to 64 frames × 512 v1 entries = 32768 refs, 32760 usable', () => {
    const sim = new SimGrantBackend();
    expect(sim.tableSize).toBe(32768);
    expect(sim.stats()).toEqual({
      refsTotal: 32760,
      refsInUse: 0,
      extentsInUse: 0,
      allocations: 0,
      frees: 0,
      endAccessAttempts: 0,
      endAccessFailures: 0,
      endAccessUnverified: 0,
      stillMappedAtClose: 0,
      pagesGranted: 0,
      pagesReleased: 0,
      pageReleaseFailures: 0,
    });
    const all = sim.allocate(32760);
    expect(all.refs[0]).toBe(8);
    expect(all.refs[all.refs.length - 1]).toBe(32767);
    expect(() => sim.allocate(1)).toThrow(GrantTableFullError);
  });

  it('never hands out the reserved refs 0–7, whatever the churn', () => {
    const sim = new SimGrantBackend({ frames: 1 });
    const seen = new Set<number>();
    for (let round = 0; round < 50; round++) {
      const extents = [sim.allocate(1 + (round % 7)), sim.allocate(3)];
      for (const e of extents) for (const ref of e.refs) seen.add(ref);
      for (const e of extents.reverse()) {
        expect(sim.endForeignAccess(e)).toBe('ok');
        sim.free(e);
      }
    }
    expect(Math.min(...seen)).toBe(GNTTAB_NR_RESERVED_ENTRIES);
    for (let ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ref++) expect(seen.has(ref)).toBe(false);
  });

  it('takes the lowest free refs first, not necessarily contiguous', () => {
    const sim = new SimGrantBackend();
    const a = sim.allocate(3);
    const b = sim.allocate(2);
    expect(a.refs).toEqual([8, 9, 10]);
    expect(b.refs).toEqual([11, 12]);
    sim.endForeignAccess(a);
    sim.free(a);
    const c = sim.allocate(4);
    expect(c.refs).toEqual([8, 9, 10, 13]);
    expect(c.pages).toBe(4);
    expect([a.id, b.id, c.id]).toEqual([1, 2, 3]);
  });

  it('exhaustion: GrantTableFullError with a stable code, nothing taken', () => {
    const sim = new SimGrantBackend({ frames: 1 }); // 512 − 8 = 504 usable
    sim.allocate(500);
    const error = catchError(() => sim.allocate(5));
    expect(error).toBeInstanceOf(GrantTableFullError);
    expect((error as GrantTableFullError).code).toBe('ERR_GRANT_TABLE_FULL');
    expect((error as GrantTableFullError).requested).toBe(5);
    expect((error as GrantTableFullError).available).toBe(4);
    expect(sim.stats().refsInUse).toBe(500);
    expect(sim.allocate(4).refs).toEqual([508, 509, 510, 511]);
  });

  it('end access fails (changing nothing) while any page is mapped, succeeds after unmap', () => {
    const sim = new SimGrantBackend();
    const e = sim.allocate(3);
    sim.simulateRemoteMap(e);
    sim.simulateRemoteMap(e); // mapped twice (two remote mappings)
    expect(sim.isMapped(e)).toBe(true);
    expect(sim.remoteMapCount(e.refs[0] ?? -1)).toBe(2);
    expect(sim.endForeignAccess(e)).toBe('still-mapped');
    sim.simulateRemoteUnmap(e);
    expect(sim.endForeignAccess(e)).toBe('still-mapped');
    // Still granted after failures: the remote may map it again.
    sim.simulateRemoteMap(e);
    sim.simulateRemoteUnmap(e);
    sim.simulateRemoteUnmap(e);
    expect(sim.isMapped(e)).toBe(false);
    expect(sim.endForeignAccess(e)).toBe('ok');
    expect(sim.endForeignAccess(e)).toBe('ok'); // idempotent, still counted
    expect(sim.stats()).toMatchObject({ endAccessAttempts: 4, endAccessFailures: 2 });
    sim.free(e);
    expect(sim.stats()).toMatchObject({ refsInUse: 0, extentsInUse: 0, frees: 1 });
  });

  it('free returns the refs to the table (full table, free one, allocate again)', () => {
    const sim = new SimGrantBackend({ frames: 1 });
    const a = sim.allocate(250);
    const b = sim.allocate(254);
    expect(() => sim.allocate(1)).toThrow(GrantTableFullError);
    sim.endForeignAccess(a);
    sim.free(a);
    expect(sim.stats()).toMatchObject({ refsInUse: 254, extentsInUse: 1 });
    expect(sim.allocate(250).refs).toEqual(a.refs);
    expect(b.refs[0]).toBe(258);
  });

  it('misuse is an ExtentStateError naming the state; nothing changes', () => {
    const sim = new SimGrantBackend();
    const other = new SimGrantBackend();
    const e = sim.allocate(2);
    const freeEarly = catchError(() => sim.free(e));
    expect(freeEarly).toBeInstanceOf(ExtentStateError);
    expect((freeEarly as ExtentStateError).code).toBe('ERR_GRANT_EXTENT_STATE');
    expect((freeEarly as ExtentStateError).state).toBe('granted');
    expect(sim.stats().extentsInUse).toBe(1);

    sim.endForeignAccess(e);
    expect(() => sim.simulateRemoteMap(e)).toThrow(/ended/); // Xen refuses an ended grant
    sim.free(e);
    expect((catchError(() => sim.free(e)) as ExtentStateError).state).toBe('freed');
    expect((catchError(() => sim.endForeignAccess(e)) as ExtentStateError).state).toBe('freed');
    expect((catchError(() => other.free(e)) as ExtentStateError).state).toBe('foreign');
    expect(other.isMapped(e)).toBe('unknown');

    const f = sim.allocate(1);
    expect((catchError(() => sim.simulateRemoteUnmap(f)) as ExtentStateError).state).toBe(
      'not-mapped',
    );
    // A look-alike object is not the extent.
    const fake: GrantExtent = { ...f };
    expect((catchError(() => sim.endForeignAccess(fake)) as ExtentStateError).state).toBe(
      'foreign',
    );
  });

  it('grows an extent with more free refs; end access still covers every page', () => {
    const sim = new SimGrantBackend();
    const a = sim.allocate(2);
    const b = sim.allocate(1);
    const grown = sim.grow(a, 4);
    expect(grown.refs.slice(0, 2)).toEqual(a.refs);
    expect(grown.refs).not.toContain(b.refs[0]);
    expect(sim.stats().refsInUse).toBe(5);
    sim.simulateRemoteMap(grown);
    expect(sim.endForeignAccess(grown)).toBe('still-mapped');
    sim.simulateRemoteUnmap(grown);
    expect(sim.endForeignAccess(grown)).toBe('ok');
    sim.free(grown);
    expect(sim.stats().refsInUse).toBe(1);
  });

  it('hands out frozen extents with no fd, mapping or file', () => {
    const sim = new SimGrantBackend();
    const e = sim.allocate(1);
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e.refs)).toBe(true);
    expect([e.fd, e.ptr, e.file, e.fdOffset]).toEqual([undefined, undefined, undefined, 0]);
  });

  it('rejects sizes that are not a positive integer', () => {
    const sim = new SimGrantBackend();
    for (const pages of [0, -1, 1.5, Number.NaN]) {
      const error = catchError(() => sim.allocate(pages));
      expect(error).toBeInstanceOf(InvalidExtentSizeError);
      expect((error as InvalidExtentSizeError).code).toBe('ERR_GRANT_EXTENT_SIZE');
    }
    expect(() => new SimGrantBackend({ frames: 0 })).toThrow(RangeError);
  });

  it('close reports extents still mapped, then refuses every call', () => {
    const reported: GrantExtent[][] = [];
    const sim = new SimGrantBackend({ onStillMappedAtClose: (x) => reported.push([...x]) });
    const mapped = sim.allocate(2);
    const idle = sim.allocate(1);
    sim.simulateRemoteMap(mapped);
    sim.close();
    expect(reported).toEqual([[mapped]]);
    expect(sim.stats()).toMatchObject({ refsInUse: 0, extentsInUse: 0, stillMappedAtClose: 1 });
    const error = catchError(() => sim.allocate(1));
    expect(error).toBeInstanceOf(GrantBackendClosedError);
    expect((error as GrantBackendClosedError).code).toBe('ERR_GRANT_BACKEND_CLOSED');
    expect(() => sim.endForeignAccess(idle)).toThrow(GrantBackendClosedError);
    sim.close(); // idempotent
  });
});

describe('sim grant table, sparse extents', () => {
  it('grants a page its ref on first use, and only once', () => {
    const sim = new SimGrantBackend();
    const pool = sim.allocate(131072, { sparse: true }); // foot's 512 MiB pool
    expect(pool).toMatchObject({ pages: 131072, sparse: true, refs: [] });
    expect(sim.stats().refsInUse).toBe(0);
    const whole = sim.allocate(2); // refs 8, 9
    expect(sim.grantPages(pool, { first: 32768, end: 32772 })).toBe(4);
    expect(sim.grantPages(pool, { first: 32770, end: 32774 })).toBe(2);
    expect(sim.refsOf(pool)).toEqual([10, 11, 12, 13, 14, 15]);
    expect(sim.grantedPages(pool)).toBe(6);
    expect(sim.stats()).toMatchObject({ refsInUse: 8, pagesGranted: 6 });
    expect(sim.grantedPages(whole)).toBe(2);
  });

  it('two 4 MiB buffers in a 512 MiB pool hold 2 048 refs, not 131 072', () => {
    const sim = new SimGrantBackend();
    const pool = sim.allocate(131072, { sparse: true });
    sim.grantPages(pool, { first: 0, end: 1024 });
    sim.grantPages(pool, { first: 100_000, end: 101_024 });
    expect(sim.stats().refsInUse).toBe(2048);
  });

  it('ends access ref by ref: a page the remote side maps keeps its ref, the others go', () => {
    const sim = new SimGrantBackend();
    const pool = sim.allocate(64, { sparse: true });
    sim.grantPages(pool, { first: 0, end: 8 });
    sim.simulateRemoteMap(pool, { first: 2, end: 4 }); // the remote reads a buffer there
    expect(sim.releasePages(pool, { first: 0, end: 8 })).toEqual({ released: 6, stillMapped: 2 });
    expect(sim.refsOf(pool)).toEqual([10, 11]);
    expect(sim.stats()).toMatchObject({ refsInUse: 2, pagesReleased: 6, pageReleaseFailures: 2 });
    sim.simulateRemoteUnmap(pool, { first: 2, end: 4 });
    expect(sim.releasePages(pool, { first: 2, end: 4 })).toEqual({ released: 2, stillMapped: 0 });
    expect(sim.stats().refsInUse).toBe(0);
    // The freed refs are the lowest again.
    sim.grantPages(pool, { first: 40, end: 41 });
    expect(sim.refsOf(pool)).toEqual([8]);
  });

  it('cannot map a page that has no ref (Xen: GNTST_bad_gntref)', () => {
    const sim = new SimGrantBackend();
    const pool = sim.allocate(16, { sparse: true });
    sim.grantPages(pool, { first: 0, end: 2 });
    const error = catchError(() => sim.simulateRemoteMap(pool, { first: 1, end: 3 }));
    expect(error).toBeInstanceOf(ExtentStateError);
    expect((error as ExtentStateError).state).toBe('not-granted');
    expect(sim.remoteMapCount(8)).toBe(0); // nothing mapped: all or nothing
  });

  it('grants all or nothing when the table runs out, and ends the whole extent at once', () => {
    const sim = new SimGrantBackend({ frames: 1 }); // 504 refs
    const pool = sim.allocate(1000, { sparse: true });
    expect(sim.grantPages(pool, { first: 0, end: 500 })).toBe(500);
    expect(() => sim.grantPages(pool, { first: 500, end: 505 })).toThrow(GrantTableFullError);
    expect(sim.grantedPages(pool)).toBe(500);
    sim.simulateRemoteMap(pool, { first: 10, end: 11 });
    expect(sim.isMapped(pool)).toBe(true);
    expect(sim.endForeignAccess(pool)).toBe('still-mapped');
    sim.simulateRemoteUnmap(pool, { first: 10, end: 11 });
    expect(sim.endForeignAccess(pool)).toBe('ok');
    sim.free(pool);
    expect(sim.stats()).toMatchObject({ refsInUse: 0, extentsInUse: 0 });
  });

  it('grows a sparse extent without granting, and refuses pages beyond it', () => {
    const sim = new SimGrantBackend();
    const pool = sim.allocate(4, { sparse: true });
    expect(() => sim.grantPages(pool, { first: 3, end: 5 })).toThrow(RangeError);
    const grown = sim.grow(pool, 8);
    expect(grown).toMatchObject({ pages: 8, sparse: true });
    expect(sim.stats().refsInUse).toBe(0);
    expect(sim.grantPages(grown, { first: 3, end: 5 })).toBe(2);
    expect(() => sim.grantPages(pool, { first: 0, end: 1 })).toThrow(ExtentStateError);
  });
});
