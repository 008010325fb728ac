// Pixel read-back: what a surface shows, and what the output shows, as RGBA images. A
// surface's image is its latched buffer in buffer coordinates (exactly the client's
// pixels); the output frame composites every mapped window with its subsurfaces, buffer
// scale and transform applied, over black. wl_shm's ARGB8888 is premultiplied and
// little-endian (bytes B, G, R, A); XRGB8888 ignores its X byte.

import { ReadbackError } from './errors.js';
import type { RgbaImage } from './png.js';
import { ShmFormat } from './shm.js';
import type { Snapshot, Surface } from './surface.js';

/** The pixels a surface shows, straight from its buffer (or its last snapshot). */
function rawPixels(surface: Surface): Snapshot | null {
  const b = surface.displayed;
  if (b !== null) {
    return {
      width: b.width,
      height: b.height,
      stride: b.stride,
      format: b.format,
      pixels: b.readPixels(),
    };
  }
  return surface.snapshot;
}

/** Straight RGBA of the buffer a surface shows, in buffer coordinates. */
export function surfaceImage(surface: Surface): RgbaImage {
  const raw = rawPixels(surface);
  if (raw === null) {
    throw new ReadbackError(`surface ${surface.serial} has no content`);
  }
  const { width, height, stride, format, pixels } = raw;
  const data = new Uint8Array(width * height * 4);
  const opaque = format === ShmFormat.xrgb8888;
  for (let y = 0; y < height; y++) {
    let s = y * stride;
    let d = y * width * 4;
    for (let x = 0; x < width; x++, s += 4, d += 4) {
      const bl = pixels[s]!;
      const g = pixels[s + 1]!;
      const r = pixels[s + 2]!;
      const a = opaque ? 255 : pixels[s + 3]!;
      if (a === 255 || a === 0) {
        data[d] = a === 0 ? 0 : r;
        data[d + 1] = a === 0 ? 0 : g;
        data[d + 2] = a === 0 ? 0 : bl;
      } else {
        // Un-premultiply for PNG's straight alpha.
        data[d] = Math.min(255, Math.round((r * 255) / a));
        data[d + 1] = Math.min(255, Math.round((g * 255) / a));
        data[d + 2] = Math.min(255, Math.round((bl * 255) / a));
      }
      data[d + 3] = a;
    }
  }
  return { width, height, data };
}

/** A window to composite: its root surface and where its origin is on the output. */
export interface FrameWindow {
  readonly root: Surface;
  readonly x: number;
  readonly y: number;
}

/** The output as it would be shown: windows bottom to top, over opaque black. */
export function composeFrame(
  width: number,
  height: number,
  windows: readonly FrameWindow[],
): RgbaImage {
  // Premultiplied accumulation in floats per channel would be exact but slow; 8-bit
  // premultiplied "over" is what real compositors do too.
  const out = new Uint8Array(width * height * 4);
  for (let i = 3; i < out.length; i += 4) out[i] = 255;
  for (const w of windows) drawTree(out, width, height, w.root, w.x, w.y);
  return { width, height, data: out };
}

function drawTree(
  out: Uint8Array,
  ow: number,
  oh: number,
  surface: Surface,
  x: number,
  y: number,
): void {
  for (const s of surface.stack) {
    if (s === surface) drawSurface(out, ow, oh, s, x, y);
    else if (s.mapped) drawTree(out, ow, oh, s, x + s.position.x, y + s.position.y);
  }
}

/** Maps a point of the surface (in surface units) to buffer pixels, per wl_output.transform. */
function toBuffer(t: number, w: number, h: number, u: number, v: number): [number, number] {
  switch (t) {
    case 1: // 90
      return [v, w - u];
    case 2: // 180
      return [w - u, h - v];
    case 3: // 270
      return [h - v, u];
    case 4: // flipped
      return [w - u, v];
    case 5: // flipped 90
      return [v, u];
    case 6: // flipped 180
      return [u, h - v];
    case 7: // flipped 270
      return [h - v, w - u];
    default:
      return [u, v];
  }
}

function drawSurface(
  out: Uint8Array,
  ow: number,
  oh: number,
  s: Surface,
  x: number,
  y: number,
): void {
  const raw = rawPixels(s);
  if (raw === null) return;
  const { width: sw, height: sh } = s.size();
  const opaque = raw.format === ShmFormat.xrgb8888;
  const scale = s.scale;
  for (let v = Math.max(0, -y); v < sh && y + v < oh; v++) {
    for (let u = Math.max(0, -x); u < sw && x + u < ow; u++) {
      const [bu, bv] = toBuffer(s.transform, sw, sh, u + 0.5, v + 0.5);
      const bx = Math.min(raw.width - 1, Math.floor(bu * scale));
      const by = Math.min(raw.height - 1, Math.floor(bv * scale));
      const p = by * raw.stride + bx * 4;
      const a = opaque ? 255 : raw.pixels[p + 3]!;
      const d = ((y + v) * ow + (x + u)) * 4;
      const inv = 255 - a;
      // Clamped: a client may break the premultiplied invariant (colour > alpha).
      out[d] = Math.min(255, raw.pixels[p + 2]! + Math.round((out[d]! * inv) / 255));
      out[d + 1] = Math.min(255, raw.pixels[p + 1]! + Math.round((out[d + 1]! * inv) / 255));
      out[d + 2] = Math.min(255, raw.pixels[p]! + Math.round((out[d + 2]! * inv) / 255));
    }
  }
}
