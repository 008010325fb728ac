// What each demo client paints, in one place: the clients draw with these, and the demo
// test checks that the picture shows them (each window's pixels went from the client's
// pool through the grant pages to the compositor). Values are ARGB8888 as wl_shm wants.

/** The painter's field and the square that moves across it. */
export const PAINTER_FIELD = 0xff203040;
export const PAINTER_SQUARE = 0xffe0a020;

/** The resizer's colour in frame `frame` (a new one every frame). */
export function resizerColour(frame: number): number {
  return (0xff000000 | ((frame * 2654435761) % 0xffffff)) >>> 0;
}

const SHORT_LIVED = [
  0x3a6ea5, 0x2a9d8f, 0x8e5ba8, 0xc05a3c, 0x4f7d3a, 0xa23b72, 0x5a5f9e, 0x2f8fb5,
] as const;

/** Short-lived client `i` in its frame `frame` (of three). */
export function shortLivedColour(i: number, frame: number): number {
  return (0xff000000 | (SHORT_LIVED[i % SHORT_LIVED.length]! + frame)) >>> 0;
}

/** The victim (SIGKILLed mid-frame) in frame `frame`: a red that pulses. */
export function victimColour(frame: number): number {
  return (0xff000000 | ((0x90 + ((frame * 12) & 0x6f)) << 16) | 0x1c20) >>> 0;
}
