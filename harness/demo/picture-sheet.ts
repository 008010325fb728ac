// The demo's PNG: every client's window as the compositor last showed it, side by side
// on one sheet, each with a label (who it is, how it drew, what happened to it). Pure:
// images and words in, an RGBA image and where each window landed out (the tests sample
// the windows' pixels there).

import type { RgbaImage } from '../compositor/png.js';
import {
  ADVANCE,
  drawText,
  fillRect,
  LINE_HEIGHT,
  rgb,
  textWidth,
  wrapText,
} from './picture-font.js';

export interface SheetTile {
  readonly title: string;
  /** Label lines under the title (wrapped to the tile's width). */
  readonly lines: readonly string[];
  /** What the window showed last; undefined when the compositor wrote none. */
  readonly image: RgbaImage | undefined;
  /** 0xRRGGBB of the frame around the window (its colour in the timeline too). */
  readonly accent: number;
  /** Something happened to it (SIGKILL): a thick red frame and a red last line. */
  readonly alarm: boolean;
}

export interface PlacedTile {
  /** Index of the tile in the input. */
  readonly index: number;
  readonly title: string;
  /** The window's pixels on the sheet (no frame). */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export const SHEET_BACKGROUND = 0x15171c;
export const ALARM = 0xff5a4f;
const TITLE_INK = 0xf0f0f0;
const LABEL_INK = 0xa8b0bc;
const MARGIN = 20;
const GAP = 24;
const MIN_CELL = 174;
const TITLE_SCALE = 2;

/** Heading lines (the first one large), then the tiles in rows no wider than `maxWidth`. */
export function composeSheet(
  heading: readonly string[],
  tiles: readonly SheetTile[],
  maxWidth = 1240,
): { image: RgbaImage; placed: PlacedTile[] } {
  const cells = tiles.map((tile) => {
    const w = tile.image?.width ?? 96;
    const h = tile.image?.height ?? 64;
    const cellW = Math.max(w, MIN_CELL, textWidth(tile.title, TITLE_SCALE));
    // Each wrapped line, and whether it belongs to the last label line (the alarm's).
    const lines = tile.lines.flatMap((l, i) =>
      wrapText(l, Math.floor((cellW + 1) / ADVANCE)).map((text) => ({
        text,
        last: i === tile.lines.length - 1,
      })),
    );
    const labelH = 8 + LINE_HEIGHT * TITLE_SCALE + lines.length * LINE_HEIGHT;
    return { tile, w, h, cellW, cellH: h + labelH, lines };
  });
  // Rows: left to right, wrapping before a tile that would pass maxWidth.
  const headingH = heading.length === 0 ? 0 : LINE_HEIGHT * 3 + (heading.length - 1) * LINE_HEIGHT;
  const positions: { x: number; y: number }[] = [];
  let x = MARGIN;
  let y = MARGIN + headingH + (heading.length === 0 ? 0 : 12);
  let rowH = 0;
  let width = 0;
  for (const cell of cells) {
    if (x > MARGIN && x + cell.cellW > maxWidth - MARGIN) {
      x = MARGIN;
      y += rowH + GAP;
      rowH = 0;
    }
    positions.push({ x, y });
    width = Math.max(width, x + cell.cellW + MARGIN);
    x += cell.cellW + GAP;
    rowH = Math.max(rowH, cell.cellH);
  }
  heading.forEach((line, i) => {
    width = Math.max(width, MARGIN * 2 + textWidth(line, i === 0 ? 3 : 1));
  });
  const height = y + rowH + MARGIN;
  const image: RgbaImage = { width, height, data: new Uint8Array(width * height * 4) };
  fillRect(image, 0, 0, width, height, ...rgb(SHEET_BACKGROUND));
  heading.forEach((line, i) =>
    i === 0
      ? drawText(image, line, MARGIN, MARGIN, TITLE_INK, 3)
      : drawText(image, line, MARGIN, MARGIN + LINE_HEIGHT * 3 + (i - 1) * LINE_HEIGHT, LABEL_INK),
  );
  const placed: PlacedTile[] = [];
  cells.forEach((cell, i) => {
    const { x: cx, y: cy } = positions[i]!;
    const frame = cell.tile.alarm ? 3 : 1;
    const accent = cell.tile.alarm ? ALARM : cell.tile.accent;
    fillRect(image, cx - frame, cy - frame, cell.w + 2 * frame, cell.h + 2 * frame, ...rgb(accent));
    if (cell.tile.image === undefined) {
      fillRect(image, cx, cy, cell.w, cell.h, ...rgb(SHEET_BACKGROUND));
      drawText(image, 'no window', cx + 4, cy + cell.h / 2 - 3, LABEL_INK);
    } else {
      blit(image, cell.tile.image, cx, cy);
      placed.push({
        index: i,
        title: cell.tile.title,
        x: cx,
        y: cy,
        width: cell.w,
        height: cell.h,
      });
    }
    let ly = cy + cell.h + 8;
    drawText(image, cell.tile.title, cx, ly, TITLE_INK, TITLE_SCALE);
    ly += LINE_HEIGHT * TITLE_SCALE;
    cell.lines.forEach((line) => {
      drawText(image, line.text, cx, ly, cell.tile.alarm && line.last ? ALARM : LABEL_INK);
      ly += LINE_HEIGHT;
    });
  });
  return { image, placed };
}

/** Draws `src` (straight alpha) over `dst` at (x, y). */
function blit(dst: RgbaImage, src: RgbaImage, x: number, y: number): void {
  for (let sy = 0; sy < src.height; sy++) {
    const dy = y + sy;
    if (dy < 0 || dy >= dst.height) continue;
    for (let sx = 0; sx < src.width; sx++) {
      const dx = x + sx;
      if (dx < 0 || dx >= dst.width) continue;
      const s = (sy * src.width + sx) * 4;
      const d = (dy * dst.width + dx) * 4;
      const a = src.data[s + 3]!;
      for (let c = 0; c < 3; c++) {
        dst.data[d + c] = Math.round((src.data[s + c]! * a + dst.data[d + c]! * (255 - a)) / 255);
      }
      dst.data[d + 3] = 255;
    }
  }
}
