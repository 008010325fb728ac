// Page coverage against a brute-force count per page: random buffers come and go, and
// the pages reported as newly covered / uncovered, the covered total and the ranges
// always agree with the per-page counts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageCoverage, type PageRange, bufferPages, pagesIn } from './coverage.js';

describe('bufferPages', () => {
  it('rounds a buffer out to whole pages', () => {
    expect(bufferPages(0, 4096, 1)).toEqual({ first: 0, end: 1 });
    expect(bufferPages(4095, 4, 1)).toEqual({ first: 0, end: 2 });
    expect(bufferPages(134217728, 5104, 693)).toEqual({ first: 32768, end: 32768 + 864 });
  });
});

describe('PageCoverage', () => {
  it('counts overlapping buffers once, and gives a page back with its last buffer', () => {
    const c = new PageCoverage();
    expect(c.add({ first: 10, end: 20 })).toEqual([{ first: 10, end: 20 }]);
    expect(c.peekAdd({ first: 15, end: 25 })).toBe(5);
    expect(c.add({ first: 15, end: 25 })).toEqual([{ first: 20, end: 25 }]);
    expect(c.covered).toBe(15);
    expect(c.remove({ first: 10, end: 20 })).toEqual([{ first: 10, end: 15 }]);
    expect(c.ranges()).toEqual([{ first: 15, end: 25 }]);
    expect(c.remove({ first: 15, end: 25 })).toEqual([{ first: 15, end: 25 }]);
    expect(c.covered).toBe(0);
    expect(c.ranges()).toEqual([]);
  });

  it('refuses to remove what was never added', () => {
    const c = new PageCoverage();
    c.add({ first: 0, end: 4 });
    expect(() => c.remove({ first: 2, end: 6 })).toThrow(RangeError);
    expect(c.covered).toBe(4);
  });

  it('keeps one run for 10 000 buffers on the same pages', () => {
    const c = new PageCoverage();
    for (let i = 0; i < 10_000; i++) c.add({ first: 0, end: 1 });
    expect(c.ranges()).toEqual([{ first: 0, end: 1 }]);
    for (let i = 0; i < 9_999; i++) expect(c.remove({ first: 0, end: 1 })).toEqual([]);
    expect(c.remove({ first: 0, end: 1 })).toEqual([{ first: 0, end: 1 }]);
  });

  it('agrees with a count per page for any sequence of adds and removes', () => {
    const op = fc.record({
      add: fc.boolean(),
      first: fc.integer({ min: 0, max: 60 }),
      length: fc.integer({ min: 0, max: 20 }),
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const c = new PageCoverage();
        const counts = new Array<number>(100).fill(0);
        const live: PageRange[] = [];
        for (const o of ops) {
          let range: PageRange;
          let delta: number;
          let changed: PageRange[];
          if (o.add || live.length === 0) {
            range = { first: o.first, end: o.first + o.length };
            const fresh = c.peekAdd(range);
            changed = c.add(range);
            expect(pagesIn(changed)).toBe(fresh);
            live.push(range);
            delta = 1;
          } else {
            range = live.splice(o.pick % live.length, 1)[0]!;
            changed = c.remove(range);
            delta = -1;
          }
          const expected = new Set<number>();
          for (let p = range.first; p < range.end; p++) {
            counts[p]! += delta;
            if ((delta > 0 && counts[p] === 1) || (delta < 0 && counts[p] === 0)) expected.add(p);
          }
          const got = new Set<number>();
          for (const r of changed) for (let p = r.first; p < r.end; p++) got.add(p);
          expect(got).toEqual(expected);
          const covered = counts.filter((n) => n > 0).length;
          expect(c.covered).toBe(covered);
          expect(pagesIn(c.ranges())).toBe(covered);
          for (const r of c.ranges())
            for (let p = r.first; p < r.end; p++) expect(counts[p]).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
