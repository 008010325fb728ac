import { describe, expect, it } from 'vitest';
import { damageSpans, mergeContiguous, spanBytes } from './copy.js';

const layout = { offset: 1000, width: 100, height: 50, stride: 400, bpp: 4 };

describe('damageSpans', () => {
  it('copies the whole buffer when damage is unknown', () => {
    expect(damageSpans(layout, null, false)).toEqual([
      { start: 1000, length: 20000, rows: 1, stride: 0 },
    ]);
  });

  it('takes wide rectangles as whole rows, clipped to the buffer', () => {
    expect(damageSpans(layout, [[0, 48, 60, 10]], false)).toEqual([
      { start: 1000 + 48 * 400, length: 2 * 400, rows: 1, stride: 0 },
    ]);
  });

  it('takes narrow rectangles as a strided run of their rows', () => {
    const spans = damageSpans(layout, [[10, 5, 20, 3]], false);
    expect(spans).toEqual([{ start: 1000 + 5 * 400 + 40, length: 80, rows: 3, stride: 400 }]);
    expect(spanBytes(spans)).toBe(240);
  });

  it('uses whole rows only when asked (pread path: a syscall per run)', () => {
    expect(damageSpans(layout, [[10, 5, 20, 3]], true)).toEqual([
      { start: 1000 + 5 * 400, length: 1200, rows: 1, stride: 0 },
    ]);
  });

  it('merges overlapping and touching whole-row runs', () => {
    const spans = damageSpans(
      layout,
      [
        [0, 10, 100, 5],
        [0, 0, 100, 2],
        [0, 15, 100, 1],
        [0, 1, 100, 3],
      ],
      false,
    );
    expect(spans).toEqual([
      { start: 1000, length: 4 * 400, rows: 1, stride: 0 },
      { start: 1000 + 10 * 400, length: 6 * 400, rows: 1, stride: 0 },
    ]);
  });

  it('copies everything for a format of unknown pixel size', () => {
    expect(damageSpans({ ...layout, bpp: undefined }, [[1, 1, 1, 1]], false)).toHaveLength(1);
  });

  it('mergeContiguous keeps disjoint runs in order', () => {
    const runs = [
      { start: 50, length: 10, rows: 1, stride: 0 },
      { start: 0, length: 10, rows: 1, stride: 0 },
    ];
    expect(mergeContiguous(runs).map((r) => r.start)).toEqual([0, 50]);
  });
});
