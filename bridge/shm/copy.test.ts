import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  close,
  ftruncate,
  hasNoHoles,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
  PROT_READ,
  PROT_WRITE,
  punchHole,
} from '../../ffi/libc.js';
import {
  type ByteRange,
  type Span,
  MAX_HOLES,
  damageSpans,
  holesIn,
  mergeContiguous,
  spanBytes,
  spansExtent,
  splitSpans,
  withoutHoles,
} from './copy.js';

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

/** The byte ranges spans cover, row by row, in order: [start, length] pairs. */
function rows(spans: readonly Span[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of spans) {
    for (let r = 0; r < s.rows; r++) {
      const start = s.start + r * s.stride;
      const last = out.at(-1);
      // A contiguous run cut in two reads as one: compare coverage, not the cut.
      if (last !== undefined && last[0] + last[1] === start) last[1] += s.length;
      else out.push([start, s.length]);
    }
  }
  return out;
}

describe('splitSpans', () => {
  const span = fc.oneof(
    fc.record({
      start: fc.nat(1 << 20),
      length: fc.integer({ min: 1, max: 1 << 16 }),
      rows: fc.constant(1),
      stride: fc.constant(0),
    }),
    fc
      .record({
        start: fc.nat(1 << 20),
        length: fc.integer({ min: 1, max: 4096 }),
        rows: fc.integer({ min: 2, max: 64 }),
        gap: fc.integer({ min: 1, max: 4096 }),
      })
      .map(({ start, length, rows, gap }) => ({ start, length, rows, stride: length + gap })),
  );

  it('shares out every byte once, in order, in groups of about total/parts', () => {
    fc.assert(
      fc.property(
        fc.array(span, { maxLength: 8 }),
        fc.integer({ min: 1, max: 6 }),
        fc.nat(1 << 16),
        (spans, parts, minBytes) => {
          const groups = splitSpans(spans, parts, minBytes);
          expect(rows(groups.flat())).toEqual(rows(spans));
          const share = Math.max(minBytes, Math.ceil(spanBytes(spans) / parts), 1);
          const widest = Math.max(0, ...spans.map((s) => s.length));
          expect(groups.length).toBeLessThanOrEqual(parts);
          for (const g of groups) {
            expect(g.length).toBeGreaterThan(0);
            // A row is never cut: a group exceeds its share by less than one row.
            expect(spanBytes(g)).toBeLessThan(share + widest);
          }
        },
      ),
    );
  });

  it('cuts a full frame into one share per thread', () => {
    const frame: Span[] = [{ start: 0, length: 8 << 20, rows: 1, stride: 0 }];
    expect(splitSpans(frame, 4, 1 << 20).map(spanBytes)).toEqual([
      2 << 20,
      2 << 20,
      2 << 20,
      2 << 20,
    ]);
    // Too small to be worth a hand-off each: fewer, bigger shares.
    expect(splitSpans(frame, 4, 4 << 20)).toHaveLength(2);
  });

  it('cuts a strided rectangle between rows', () => {
    const rect: Span[] = [{ start: 40, length: 1000, rows: 10, stride: 4096 }];
    const groups = splitSpans(rect, 3);
    expect(groups.flat().every((s) => s.length === 1000 && s.stride === 4096)).toBe(true);
    expect(groups.map(spanBytes)).toEqual([4000, 4000, 2000]);
  });
});

/** Every byte offset the spans touch. */
function bytesOf(spans: readonly Span[]): number[] {
  const out: number[] = [];
  for (const s of spans) {
    for (let r = 0; r < s.rows; r++) {
      for (let i = 0; i < s.length; i++) out.push(s.start + r * s.stride + i);
    }
  }
  return out.sort((a, b) => a - b);
}

describe('holes', () => {
  it('finds the holes of a sparse memfd with SEEK_DATA/SEEK_HOLE', () => {
    const fd = memfdCreate('holes');
    try {
      ftruncate(fd, 16 * 4096);
      expect(holesIn(fd, 0, 16 * 4096)).toEqual([[0, 16 * 4096]]);
      const ptr = mmap(fd, 16 * 4096, PROT_READ | PROT_WRITE);
      nativeView(ptr, 16 * 4096).fill(1, 4 * 4096, 8 * 4096);
      munmap(ptr, 16 * 4096);
      expect(holesIn(fd, 100, 10 * 4096)).toEqual([
        [100, 4 * 4096],
        [8 * 4096, 10 * 4096],
      ]);
      expect(holesIn(fd, 5 * 4096, 6 * 4096)).toEqual([]);
      punchHole(fd, 5 * 4096, 4096);
      expect(holesIn(fd, 4 * 4096, 8 * 4096)).toEqual([[5 * 4096, 6 * 4096]]);
      expect(holesIn(fd, 0, 16 * 4096, 1)).toEqual([[0, 4 * 4096]]); // at most `max`
    } finally {
      close(fd);
    }
  });

  it('tells a file without holes from st_blocks alone, and finds a hole punched later', () => {
    const fd = memfdCreate('dense');
    try {
      ftruncate(fd, 8 * 4096 + 100); // a partial last page counts as a whole one
      expect(hasNoHoles(fd)).toBe(false);
      const ptr = mmap(fd, 8 * 4096 + 100, PROT_READ | PROT_WRITE);
      const view = nativeView(ptr, 8 * 4096 + 100);
      for (let i = 0; i < 8 * 4096; i += 4096) view[i] = 1;
      expect(hasNoHoles(fd)).toBe(false); // the partial last page not written yet
      view[8 * 4096 + 99] = 1;
      munmap(ptr, 8 * 4096 + 100);
      expect(hasNoHoles(fd)).toBe(true);
      expect(holesIn(fd, 0, 8 * 4096 + 100)).toEqual([]);
      punchHole(fd, 3 * 4096, 4096);
      expect(hasNoHoles(fd)).toBe(false);
      expect(holesIn(fd, 0, 8 * 4096 + 100)).toEqual([[3 * 4096, 4 * 4096]]);
    } finally {
      close(fd);
    }
  });

  it('leaves every byte of the holes out of the spans, and nothing else', () => {
    const span = fc.record({
      start: fc.integer({ min: 0, max: 200 }),
      length: fc.integer({ min: 1, max: 30 }),
      rows: fc.integer({ min: 1, max: 6 }),
    });
    fc.assert(
      fc.property(
        fc.array(span, { maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 8 }),
        (raw, cuts) => {
          const spans: Span[] = raw.map((s) => ({ ...s, stride: s.rows > 1 ? 40 : 0 }));
          const edges = [...new Set(cuts)].sort((a, b) => a - b);
          const holes: ByteRange[] = [];
          for (let i = 0; i + 1 < edges.length; i += 2) holes.push([edges[i]!, edges[i + 1]!]);
          const inHole = (b: number): boolean => holes.some(([h0, h1]) => b >= h0 && b < h1);
          const kept = withoutHoles(spans, holes);
          expect(bytesOf(kept)).toEqual(bytesOf(spans).filter((b) => !inHole(b)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps a strided span whole when no hole touches it', () => {
    const span: Span = { start: 0, length: 10, rows: 100, stride: 400 };
    expect(withoutHoles([span], [[40_000, 50_000]])).toEqual([span]);
    expect(spansExtent([span])).toEqual([0, 99 * 400 + 10]);
    expect(MAX_HOLES).toBeGreaterThan(0);
  });
});
