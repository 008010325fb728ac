// PageSet against a plain set of page numbers, for any sequence of adds and removes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageSet } from './page-set.js';
import type { PageRange } from './types.js';

const pagesOf = (ranges: readonly PageRange[]): number[] =>
  ranges.flatMap((r) => Array.from({ length: r.end - r.first }, (_, i) => r.first + i));

describe('PageSet', () => {
  it('merges touching ranges and splits on removal', () => {
    const s = new PageSet();
    expect(s.add({ first: 0, end: 4 })).toBe(4);
    expect(s.add({ first: 4, end: 6 })).toBe(2);
    expect(s.ranges()).toEqual([{ first: 0, end: 6 }]);
    expect(s.remove({ first: 2, end: 3 })).toBe(1);
    expect(s.ranges()).toEqual([
      { first: 0, end: 2 },
      { first: 3, end: 6 },
    ]);
    expect(s.missing({ first: 1, end: 8 })).toEqual([
      { first: 2, end: 3 },
      { first: 6, end: 8 },
    ]);
    expect(s.size).toBe(5);
  });

  it('agrees with a set of page numbers', () => {
    const op = fc.record({
      add: fc.boolean(),
      first: fc.integer({ min: 0, max: 50 }),
      length: fc.integer({ min: 0, max: 15 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const s = new PageSet();
        const model = new Set<number>();
        for (const o of ops) {
          const range = { first: o.first, end: o.first + o.length };
          const inRange = pagesOf([range]);
          const before = inRange.filter((p) => model.has(p));
          expect(pagesOf(s.present(range))).toEqual(before);
          expect(pagesOf(s.missing(range))).toEqual(inRange.filter((p) => !model.has(p)));
          if (o.add) {
            expect(s.add(range)).toBe(inRange.length - before.length);
            for (const p of inRange) model.add(p);
          } else {
            expect(s.remove(range)).toBe(before.length);
            for (const p of inRange) model.delete(p);
          }
          expect(pagesOf(s.ranges())).toEqual([...model].sort((a, b) => a - b));
          expect(s.size).toBe(model.size);
          const runs = s.ranges();
          for (let i = 1; i < runs.length; i++)
            expect(runs[i]!.first).toBeGreaterThan(runs[i - 1]!.end);
        }
      }),
      { numRuns: 300 },
    );
  });
});
