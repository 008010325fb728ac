// Grant mode's copy of a committed buffer from the client's pool into the grant pages.
// Damage rectangles become byte spans of the pool (pure, tested on its own); the spans
// are then copied with libc memcpy within one mapping that holds the client's pool
// (read-only) and the extent side by side, or with pread when the pool may shrink
// under us.
//
// Why no view of that mapping: V8 counts a view of native memory as external memory,
// and a bridge that held one per pool (16 MiB for a 1080p pool) ran major collections
// of tens of ms every commit burst on the event loop, delaying every client. All the
// rows of a copy go to native code in one call (ffi/span-copy.ts: a memcpy per row in
// C; a koffi call per row, twice as slow for a narrow rectangle, where that helper is
// not built), and copies of many rows run on the copy threads anyway. pread costs a
// syscall per span (one full frame ≈ 0.7 ms, a pread per row ≈ 1.5 ms here), hence
// few, large spans on that path. Holes in the client's pool are neither read nor
// copied (holesIn / withoutHoles, at the end of this file).

import { type NativePointer, hasNoHoles, preadInto, seekData } from '../../ffi/libc.js';
import { copyRowsAt } from '../../ffi/span-copy.js';
import type { Rect } from './state.js';

/**
 * `rows` runs of `length` bytes of the pool, the first at `start`, each `stride` bytes
 * after the one before (rows = 1: one contiguous run).
 */
export interface Span {
  start: number;
  length: number;
  rows: number;
  stride: number;
}

export interface BufferLayout {
  readonly offset: number;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  /** Bytes per pixel; undefined for a format the bridge cannot reason about. */
  readonly bpp: number | undefined;
}

/**
 * The pool bytes to copy for `rects` (buffer coordinates, already clipped), or for the
 * whole buffer when `rects` is null. A rectangle at least half as wide as a row is
 * taken as whole rows (one contiguous run; the bytes in between belong to the same
 * frame), a narrower one as a strided run of its rows — unless `contiguousOnly` asks
 * for whole rows always (each run costs a syscall on the pread path). Contiguous runs
 * are merged where they overlap or touch; strided ones are left as they are (copying
 * a byte twice is harmless, sorting hundreds of rows is not free).
 */
export function damageSpans(
  layout: BufferLayout,
  rects: readonly Rect[] | null,
  contiguousOnly: boolean,
): Span[] {
  const end = layout.offset + layout.stride * layout.height;
  const whole = (start: number, stop: number): Span => ({
    start,
    length: stop - start,
    rows: 1,
    stride: 0,
  });
  if (rects === null || layout.bpp === undefined) return [whole(layout.offset, end)];
  const contiguous: Span[] = [];
  const strided: Span[] = [];
  for (const [x, y, w, h] of rects) {
    if (w <= 0 || h <= 0) continue;
    const rowBytes = w * layout.bpp;
    const top = layout.offset + y * layout.stride;
    if (contiguousOnly || rowBytes * 2 >= layout.stride) {
      contiguous.push(whole(top, Math.min(end, top + h * layout.stride)));
    } else {
      strided.push({
        start: top + x * layout.bpp,
        length: rowBytes,
        rows: h,
        stride: layout.stride,
      });
    }
  }
  const merged = mergeContiguous(contiguous);
  if (strided.length === 0) return merged;
  for (const span of strided) merged.push(span);
  return merged;
}

/** Sorts contiguous runs and merges those that overlap or touch. */
export function mergeContiguous(spans: Span[]): Span[] {
  if (spans.length <= 1) return spans;
  spans.sort((a, b) => a.start - b.start);
  const out: Span[] = [{ ...spans[0]! }];
  for (let i = 1; i < spans.length; i++) {
    const last = out[out.length - 1]!;
    const s = spans[i]!;
    if (s.start <= last.start + last.length) {
      last.length = Math.max(last.start + last.length, s.start + s.length) - last.start;
    } else out.push({ ...s });
  }
  return out;
}

/**
 * Splits spans into at most `parts` groups of about total/parts bytes each (at least
 * minBytes), each copyable on its own, in order: a large frame shared between copy
 * threads. Contiguous runs are cut anywhere, strided ones between rows (a group then
 * takes its share rounded up to a whole row).
 */
export function splitSpans(spans: readonly Span[], parts: number, minBytes = 0): Span[][] {
  const share = Math.max(minBytes, Math.ceil(spanBytes(spans) / Math.max(1, parts)), 1);
  const groups: Span[][] = [];
  let group: Span[] = [];
  let room = share;
  const close = (): void => {
    groups.push(group);
    group = [];
    room = share;
  };
  for (const span of spans) {
    let start = span.start;
    if (span.rows === 1) {
      for (let left = span.length; left > 0;) {
        const take = Math.min(left, room);
        group.push({ start, length: take, rows: 1, stride: 0 });
        start += take;
        left -= take;
        room -= take;
        if (room === 0) close();
      }
      continue;
    }
    for (let rows = span.rows; rows > 0;) {
      const fit = span.length === 0 ? rows : Math.min(rows, Math.ceil(room / span.length));
      group.push({ start, length: span.length, rows: fit, stride: span.stride });
      start += fit * span.stride;
      rows -= fit;
      room -= fit * span.length;
      if (room <= 0) close();
    }
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** Bytes the spans cover. */
export function spanBytes(spans: readonly Span[]): number {
  let n = 0;
  for (let i = 0; i < spans.length; i++) n += spans[i]!.length * spans[i]!.rows;
  return n;
}

/** Where the client's pool bytes are read from. */
export type PoolSource =
  /**
   * One mapping of the client's pool (read-only, only for pools sealed against
   * shrinking: no SIGBUS possible) followed by one of the extent (read-write) at
   * `extentAt`: pool offset p is at base + p, extent offset p at base + extentAt + p
   * (base: the mapping's address as a number).
   */
  | { readonly kind: 'joint'; readonly base: number; readonly extentAt: number }
  /** pread from the client's fd: a truncated file gives a short read, never a signal. */
  | { readonly kind: 'pread'; readonly fd: number };

/**
 * Copies the spans from the client's pool into the extent (same offsets). Returns the
 * bytes copied; fewer than asked means the client truncated its file (pread path): the
 * missing bytes keep their previous content.
 */
export function copySpans(
  spans: readonly Span[],
  source: PoolSource,
  extentPtr: NativePointer,
): number {
  if (source.kind === 'joint') {
    return copyRowsAt(source.base + source.extentAt, source.base, spans);
  }
  let copied = 0;
  for (const { start, length, rows, stride } of spans) {
    for (let row = 0, at = start; row < rows; row++, at += stride) {
      copied += preadInto(source.fd, extentPtr + BigInt(at), length, at);
    }
  }
  return copied;
}

// --- holes --------------------------------------------------------------------------
// A client's pool may be sparse where the buffer is: foot punches holes behind the
// buffers it scrolls, a client may never touch a transparent region. The extent must
// not hold more than the client's pool does, so a hole is not copied (zeros written
// into the extent would make pages of it) but discarded there (memfd: punched out).
// It must not be *read* either: reading a hole of a shmem file through a shared
// mapping allocates a page in the client's file (pread of a hole does not; both checked
// on Linux 6.x with a sealed memfd). So every copy first asks the client's file where
// its holes are, and copies only the data: first whether it has any (fstat: st_blocks
// covers the whole file — a client that has drawn its whole pool), then where, with
// lseek(SEEK_DATA/SEEK_HOLE) on an open file description of the bridge's own
// (PoolState.ownDescription). The fstat first because SEEK_HOLE walks the page cache
// from the data up to the next hole — to the end of the file when there is none: about
// 75 ns a page, 150 µs for a 1080p buffer, more than the copy of a 10 % damage. At most MAX_HOLES holes per copy are looked for: a client that
// alternates data and hole pages would otherwise cost two syscalls a page; past that
// the rest is read as data, which the limits already charge (a sealed pool is charged
// the client pages that reading can fault, twice its covered bytes).

/** Holes looked for in one copy (see above). */
export const MAX_HOLES = 64;

/** A byte range [start, end) of a pool. */
export type ByteRange = readonly [start: number, end: number];

/**
 * The holes of the client's file within [from, to), in order (SEEK_DATA / SEEK_HOLE);
 * at most `max` of them, the bytes after the last one taken as data.
 */
export function holesIn(fd: number, from: number, to: number, max = MAX_HOLES): ByteRange[] {
  const holes: ByteRange[] = [];
  if (hasNoHoles(fd)) return holes;
  let at = from;
  while (at < to && holes.length < max) {
    const data = seekData(fd, at, 'data');
    if (data === undefined || data >= to) {
      holes.push([at, to]);
      break;
    }
    if (data > at) holes.push([at, data]);
    // The end of the file counts as a hole, so SEEK_HOLE after data always answers.
    at = seekData(fd, data, 'hole') ?? to;
  }
  return holes;
}

/** The first and last byte the spans touch: [start, end). */
export function spansExtent(spans: readonly Span[]): ByteRange {
  let start = Infinity;
  let end = -Infinity;
  for (const s of spans) {
    start = Math.min(start, s.start);
    end = Math.max(end, s.start + (s.rows - 1) * s.stride + s.length);
  }
  return spans.length === 0 ? [0, 0] : [start, end];
}

/**
 * The spans with every byte in `holes` (sorted, disjoint) left out: a strided span that
 * a hole touches becomes one span per row it keeps. Pure.
 */
export function withoutHoles(spans: readonly Span[], holes: readonly ByteRange[]): Span[] {
  if (holes.length === 0) return [...spans];
  const out: Span[] = [];
  for (const span of spans) {
    const [start, end] = spansExtent([span]);
    if (!holes.some(([h0, h1]) => h0 < end && h1 > start)) {
      out.push(span);
      continue;
    }
    // Rows go up through the pool, so the first hole that can touch a row only moves on.
    let first = 0;
    for (let row = 0, at = span.start; row < span.rows; row++, at += span.stride) {
      let from = at;
      const stop = at + span.length;
      while (first < holes.length && holes[first]![1] <= from) first++;
      for (let h = first; h < holes.length; h++) {
        const [h0, h1] = holes[h]!;
        if (h0 >= stop) break;
        if (h0 > from) out.push({ start: from, length: h0 - from, rows: 1, stride: 0 });
        from = Math.max(from, h1);
      }
      if (from < stop) out.push({ start: from, length: stop - from, rows: 1, stride: 0 });
    }
  }
  return out;
}
