// A 5×7 pixel font for the labels of the demo's PNG: upper-case letters, digits and the
// punctuation the labels use (lower case is drawn upper case). The PNG is raw pixels,
// and a font rasteriser would be a heavy dependency for a few short labels. Each glyph
// is seven rows of five cells, '#' for ink, drawn here as it looks. Beside it, the few
// raster helpers the PNG's parts share (opaque rectangles, colours, word wrap).

import type { RgbaImage } from '../compositor/png.js';

const GLYPH_ROWS = 7;
const GLYPH_COLS = 5;
/** Advance per character, in font pixels (the glyph and one column of space). */
export const ADVANCE = GLYPH_COLS + 1;
export const LINE_HEIGHT = GLYPH_ROWS + 3;

// prettier-ignore
const GLYPHS: Readonly<Record<string, string>> = {
  A: '.###.|#...#|#...#|#####|#...#|#...#|#...#',
  B: '####.|#...#|#...#|####.|#...#|#...#|####.',
  C: '.###.|#...#|#....|#....|#....|#...#|.###.',
  D: '####.|#...#|#...#|#...#|#...#|#...#|####.',
  E: '#####|#....|#....|####.|#....|#....|#####',
  F: '#####|#....|#....|####.|#....|#....|#....',
  G: '.###.|#...#|#....|#.###|#...#|#...#|.####',
  H: '#...#|#...#|#...#|#####|#...#|#...#|#...#',
  I: '.###.|..#..|..#..|..#..|..#..|..#..|.###.',
  J: '..###|...#.|...#.|...#.|...#.|#..#.|.##..',
  K: '#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#',
  L: '#....|#....|#....|#....|#....|#....|#####',
  M: '#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#',
  N: '#...#|##..#|#.#.#|#..##|#...#|#...#|#...#',
  O: '.###.|#...#|#...#|#...#|#...#|#...#|.###.',
  P: '####.|#...#|#...#|####.|#....|#....|#....',
  Q: '.###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#',
  R: '####.|#...#|#...#|####.|#.#..|#..#.|#...#',
  S: '.####|#....|#....|.###.|....#|....#|####.',
  T: '#####|..#..|..#..|..#..|..#..|..#..|..#..',
  U: '#...#|#...#|#...#|#...#|#...#|#...#|.###.',
  V: '#...#|#...#|#...#|#...#|#...#|.#.#.|..#..',
  W: '#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.',
  X: '#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#',
  Y: '#...#|#...#|.#.#.|..#..|..#..|..#..|..#..',
  Z: '#####|....#|...#.|..#..|.#...|#....|#####',
  '0': '.###.|#...#|#..##|#.#.#|##..#|#...#|.###.',
  '1': '..#..|.##..|..#..|..#..|..#..|..#..|.###.',
  '2': '.###.|#...#|....#|...#.|..#..|.#...|#####',
  '3': '####.|....#|....#|.###.|....#|....#|####.',
  '4': '...#.|..##.|.#.#.|#..#.|#####|...#.|...#.',
  '5': '#####|#....|####.|....#|....#|#...#|.###.',
  '6': '..##.|.#...|#....|####.|#...#|#...#|.###.',
  '7': '#####|....#|...#.|..#..|.#...|.#...|.#...',
  '8': '.###.|#...#|#...#|.###.|#...#|#...#|.###.',
  '9': '.###.|#...#|#...#|.####|....#|...#.|.##..',
  ' ': '.....|.....|.....|.....|.....|.....|.....',
  '.': '.....|.....|.....|.....|.....|.##..|.##..',
  ',': '.....|.....|.....|.....|.##..|..#..|.#...',
  ':': '.....|.##..|.##..|.....|.##..|.##..|.....',
  ';': '.....|.##..|.##..|.....|.##..|..#..|.#...',
  '-': '.....|.....|.....|#####|.....|.....|.....',
  '+': '.....|..#..|..#..|#####|..#..|..#..|.....',
  '=': '.....|.....|#####|.....|#####|.....|.....',
  '/': '.....|....#|...#.|..#..|.#...|#....|.....',
  '(': '...#.|..#..|.#...|.#...|.#...|..#..|...#.',
  ')': '.#...|..#..|...#.|...#.|...#.|..#..|.#...',
  '%': '##...|##..#|...#.|..#..|.#...|#..##|...##',
  "'": '..#..|..#..|.#...|.....|.....|.....|.....',
  '!': '..#..|..#..|..#..|..#..|..#..|.....|..#..',
  '?': '.###.|#...#|....#|...#.|..#..|.....|..#..',
  '<': '...#.|..#..|.#...|#....|.#...|..#..|...#.',
  '>': '.#...|..#..|...#.|....#|...#.|..#..|.#...',
  '_': '.....|.....|.....|.....|.....|.....|#####',
  '#': '.#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.',
  '*': '.....|..#..|#.#.#|.###.|#.#.#|..#..|.....',
  '×': '.....|#...#|.#.#.|..#..|.#.#.|#...#|.....',
  '→': '.....|..#..|...#.|#####|...#.|..#..|.....',
  '·': '.....|.....|.....|.##..|.##..|.....|.....',
};

/** Characters the font can draw (after upper-casing); others are drawn as '?'. */
const bitmaps = new Map<string, boolean[]>(
  Object.entries(GLYPHS).map(([ch, rows]) => [
    ch,
    [...rows.replaceAll('|', '')].map((c) => c === '#'),
  ]),
);

/** Width in image pixels of `text` drawn at `scale`. */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * ADVANCE - 1) * scale;
}

/**
 * Draws `text` with its top-left corner at (x, y), clipped to the image. `rgb` is
 * 0xRRGGBB; ink is opaque.
 */
export function drawText(
  image: RgbaImage,
  text: string,
  x: number,
  y: number,
  rgb: number,
  scale = 1,
): void {
  const r = (rgb >>> 16) & 0xff;
  const g = (rgb >>> 8) & 0xff;
  const b = rgb & 0xff;
  let penX = x;
  for (const ch of text.toUpperCase()) {
    const bits = bitmaps.get(ch) ?? bitmaps.get('?')!;
    for (let row = 0; row < GLYPH_ROWS; row++) {
      for (let col = 0; col < GLYPH_COLS; col++) {
        if (!bits[row * GLYPH_COLS + col]) continue;
        fillRect(image, penX + col * scale, y + row * scale, scale, scale, r, g, b);
      }
    }
    penX += ADVANCE * scale;
  }
}

/** 0xRRGGBB as [r, g, b], for fillRect. */
export const rgb = (c: number): [number, number, number] => [
  (c >>> 16) & 0xff,
  (c >>> 8) & 0xff,
  c & 0xff,
];

/** Fills a rectangle with an opaque colour, clipped to the image. */
export function fillRect(
  image: RgbaImage,
  x: number,
  y: number,
  w: number,
  h: number,
  r: number,
  g: number,
  b: number,
): void {
  const x0 = Math.max(0, Math.floor(x));
  const y0 = Math.max(0, Math.floor(y));
  const x1 = Math.min(image.width, Math.floor(x + w));
  const y1 = Math.min(image.height, Math.floor(y + h));
  for (let yy = y0; yy < y1; yy++) {
    for (let xx = x0; xx < x1; xx++) {
      const i = (yy * image.width + xx) * 4;
      image.data[i] = r;
      image.data[i + 1] = g;
      image.data[i + 2] = b;
      image.data[i + 3] = 255;
    }
  }
}

/** Splits `text` into lines of at most `maxChars` characters, at spaces where it can. */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line === '' ? word : `${line} ${word}`;
    if (next.length <= maxChars) {
      line = next;
      continue;
    }
    if (line !== '') lines.push(line);
    line = word;
    while (line.length > maxChars) {
      lines.push(line.slice(0, maxChars));
      line = line.slice(maxChars);
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
