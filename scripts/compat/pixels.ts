// Comparing what two runs put on screen. A compositor may place a window anywhere
// (weston's desktop shell picks a random spot), so each screenshot is first cut down to
// what differs from the empty desktop, then the two cut-outs are compared pixel by
// pixel. Pure: RGBA images in, a verdict out.

import type { RgbaImage } from '../../harness/compositor/png.js';

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** The smallest box holding every pixel that differs from `empty` (same size), or null. */
export function changedBox(shot: RgbaImage, empty: RgbaImage): Box | null {
  if (shot.width !== empty.width || shot.height !== empty.height)
    return { x: 0, y: 0, width: shot.width, height: shot.height };
  let minX = shot.width;
  let minY = shot.height;
  let maxX = -1;
  let maxY = -1;
  const a = new Uint32Array(shot.data.buffer, shot.data.byteOffset, shot.width * shot.height);
  const b = new Uint32Array(empty.data.buffer, empty.data.byteOffset, empty.width * empty.height);
  for (let y = 0; y < shot.height; y++) {
    const row = y * shot.width;
    for (let x = 0; x < shot.width; x++) {
      if (a[row + x] === b[row + x]) continue;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  return maxX < 0 ? null : { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

export function crop(image: RgbaImage, box: Box): RgbaImage {
  const data = new Uint8Array(box.width * box.height * 4);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.y + y) * image.width + box.x) * 4;
    data.set(image.data.subarray(from, from + box.width * 4), y * box.width * 4);
  }
  return { width: box.width, height: box.height, data };
}

export type PixelVerdict =
  | { readonly kind: 'equal'; readonly box: Box }
  | { readonly kind: 'differs'; readonly detail: string }
  | { readonly kind: 'blank' };

/** Counts differing pixels of two same-size images. */
export function countDifferent(a: RgbaImage, b: RgbaImage): number {
  const x = new Uint32Array(a.data.buffer, a.data.byteOffset, a.width * a.height);
  const y = new Uint32Array(b.data.buffer, b.data.byteOffset, b.width * b.height);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

/** What `shot` shows beyond the empty desktop, against what `reference` shows. */
export function comparePixels(
  reference: RgbaImage,
  shot: RgbaImage,
  empty: RgbaImage,
): PixelVerdict {
  const refBox = changedBox(reference, empty);
  const box = changedBox(shot, empty);
  if (refBox === null)
    return box === null
      ? { kind: 'blank' }
      : { kind: 'differs', detail: 'direct run showed nothing' };
  if (box === null) return { kind: 'differs', detail: 'nothing on screen' };
  if (refBox.width !== box.width || refBox.height !== box.height)
    return {
      kind: 'differs',
      detail: `window area ${box.width}×${box.height}, direct ${refBox.width}×${refBox.height}`,
    };
  const different = countDifferent(crop(reference, refBox), crop(shot, box));
  if (different === 0) return { kind: 'equal', box };
  const share = (100 * different) / (box.width * box.height);
  return { kind: 'differs', detail: `${different} px differ (${share.toFixed(2)} %)` };
}

/** Two screenshots of the same run a moment apart: equal means the program shows a still. */
export function isStill(first: RgbaImage, second: RgbaImage): boolean {
  return (
    first.width === second.width &&
    first.height === second.height &&
    countDifferent(first, second) === 0
  );
}
