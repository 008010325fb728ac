// Copies damage spans between two addresses of this process in one native call
// (native/span-copy.c, a libc memcpy per row), instead of one koffi call per row: a
// narrow damage rectangle then costs what its bytes cost (README "Grant-mode copies").
// The helper is a plain C shared library built by `npm run build` into dist/native;
// where it is missing (no C compiler at build time, another architecture) copies fall
// back to a koffi memcpy per row — the same bytes, slower.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { memcpyAt } from './libc.js';

/** `rows` runs of `length` bytes, the first at `start`, each `stride` after the last. */
export interface RowRuns {
  readonly start: number;
  readonly length: number;
  readonly rows: number;
  readonly stride: number;
}

const LIBRARY = 'libgrantway-span-copy.so';

type CopySpansFn = (dst: number, src: number, table: Uint32Array, count: number) => number | bigint;

/** The helper, from dist/native beside dist/ffi, or from dist/ when run from the sources. */
function loadHelper(): CopySpansFn | undefined {
  for (const where of [`../native/${LIBRARY}`, `../dist/native/${LIBRARY}`]) {
    const path = fileURLToPath(new URL(where, import.meta.url));
    if (!existsSync(path)) continue;
    try {
      return koffi
        .load(path)
        .func(
          'uint64_t grantway_copy_spans(uintptr_t dst, uintptr_t src, const uint32_t *table, uint32_t count)',
        ) as CopySpansFn;
    } catch {
      return undefined; // built for another machine: copy row by row
    }
  }
  return undefined;
}

const helper = loadHelper();
let rowByRow = helper === undefined;

/**
 * The span table handed to the helper: 4 uint32 a span (start, length, rows, stride;
 * wl_shm pool sizes are int32, so every offset fits). One per thread, reused and grown,
 * never allocated per copy.
 */
let table = new Uint32Array(4 * 64);

/** How copies run here: 'native' (one call for all spans) or 'row-by-row' (fallback). */
export function spanCopyMode(): 'native' | 'row-by-row' {
  return rowByRow ? 'row-by-row' : 'native';
}

/**
 * Copies row by row even where the helper is loaded (benchmarks and tests compare the
 * two); false goes back to the helper when there is one. Returns the mode now in force.
 */
export function forceRowByRow(on: boolean): 'native' | 'row-by-row' {
  rowByRow = on || helper === undefined;
  return spanCopyMode();
}

/**
 * Copies every row of `spans` from src + offset to dst + offset (addresses as numbers:
 * user-space addresses fit in 47 bits). The caller keeps both ranges mapped throughout.
 * Returns the bytes copied.
 */
export function copyRowsAt(dst: number, src: number, spans: readonly RowRuns[]): number {
  if (rowByRow || helper === undefined) return copyRowByRow(dst, src, spans);
  if (table.length < 4 * spans.length) {
    table = new Uint32Array(4 * Math.max(spans.length, 2 * (table.length >> 2)));
  }
  for (let i = 0, t = 0; i < spans.length; i++, t += 4) {
    const s = spans[i]!;
    // Past 4 GiB the table cannot say it (no wl_shm pool is that big): row by row.
    if (s.start + (s.rows - 1) * s.stride + s.length > 0xffff_ffff) {
      return copyRowByRow(dst, src, spans);
    }
    table[t] = s.start;
    table[t + 1] = s.length;
    table[t + 2] = s.rows;
    table[t + 3] = s.stride;
  }
  return Number(helper(dst, src, table, spans.length));
}

function copyRowByRow(dst: number, src: number, spans: readonly RowRuns[]): number {
  let copied = 0;
  for (const { start, length, rows, stride } of spans) {
    for (let row = 0, at = start; row < rows; row++, at += stride) {
      memcpyAt(dst + at, src + at, length);
      copied += length;
    }
  }
  return copied;
}
