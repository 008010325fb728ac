// Grant mode's copy of a committed buffer from the client's pool into the grant pages.
// Damage rectangles become byte spans of the pool (pure, tested on its own); the spans
// are then copied from a read-only view of the client's pool, or with pread when the
// pool may shrink under us. Costs measured here (1920×1080×4): memcpy ≈ 0.24 ms, one
// pread ≈ 0.7 ms, a pread per row ≈ 1.5 ms — hence few, large spans for pread.

import { type NativePointer, preadInto } from '../../ffi/libc.js';
import type { Rect } from './state.js';

/** Bytes [start, end) of the pool. */
export interface Span {
  start: number;
  end: number;
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
 * taken as whole rows (one span, and the bytes in between are the same frame's), a
 * narrower one as a span per row — unless `fewSpans` asks for whole rows always (each
 * span costs a syscall on the pread path). Sorted, overlapping and touching spans merged.
 */
export function damageSpans(
  layout: BufferLayout,
  rects: readonly Rect[] | null,
  fewSpans: boolean,
): Span[] {
  const end = layout.offset + layout.stride * layout.height;
  if (rects === null || layout.bpp === undefined) return [{ start: layout.offset, end }];
  const spans: Span[] = [];
  for (const [x, y, w, h] of rects) {
    if (w <= 0 || h <= 0) continue;
    const rowBytes = w * layout.bpp;
    if (fewSpans || rowBytes * 2 >= layout.stride) {
      spans.push({
        start: layout.offset + y * layout.stride,
        end: Math.min(end, layout.offset + (y + h) * layout.stride),
      });
    } else {
      for (let row = y; row < y + h; row++) {
        const start = layout.offset + row * layout.stride + x * layout.bpp;
        spans.push({ start, end: start + rowBytes });
      }
    }
  }
  return mergeSpans(spans);
}

export function mergeSpans(spans: Span[]): Span[] {
  if (spans.length <= 1) return spans;
  spans.sort((a, b) => a.start - b.start);
  const out: Span[] = [{ ...spans[0]! }];
  for (let i = 1; i < spans.length; i++) {
    const last = out[out.length - 1]!;
    const s = spans[i]!;
    if (s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** Where the client's pool bytes are read from. */
export type PoolSource =
  /** A read-only mapping: only for pools sealed against shrinking (no SIGBUS possible). */
  | { readonly kind: 'mapped'; readonly view: Uint8Array }
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
  extent: Uint8Array,
  extentPtr: NativePointer,
): number {
  let copied = 0;
  for (const { start, end } of spans) {
    if (source.kind === 'mapped') {
      extent.set(source.view.subarray(start, end), start);
      copied += end - start;
    } else {
      copied += preadInto(source.fd, extentPtr + BigInt(start), end - start, start);
    }
  }
  return copied;
}
