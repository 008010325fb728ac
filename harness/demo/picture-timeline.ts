// A strip under the PNG's windows: grants in use over time, stacked by client in the
// clients' colours, with a red line where a client was SIGKILLed — so the PNG alone
// shows the killed client's grants coming back. The HTML page has the full timeline
// (timeline-svg.ts); this is its raster summary, drawn column by column.

import type { RgbaImage } from '../compositor/png.js';
import { ticks } from '../../policies/replay/index.js';
import { drawText, fillRect, LINE_HEIGHT, rgb, textWidth } from './picture-font.js';
import { ALARM, SHEET_BACKGROUND } from './picture-sheet.js';
import type { DemoTimeline } from './timeline-record.js';
import { grantSteps, valuesAt } from './timeline-svg.js';

const MARGIN = 20;
const AXIS_W = 28;
const PLOT_H = 110;
const INK = 0xa8b0bc;
const GRID = 0x2c313a;

/**
 * `sheet` with the strip added below it. `clients` are stacked bottom-up in the
 * order given; `accent` is each one's 0xRRGGBB.
 */
export function appendGrantStrip(
  sheet: RgbaImage,
  timeline: DemoTimeline,
  accent: (session: number) => number,
): RgbaImage {
  const width = sheet.width;
  const height = sheet.height + LINE_HEIGHT * 2 + PLOT_H + LINE_HEIGHT * 2 + MARGIN;
  const image: RgbaImage = { width, height, data: new Uint8Array(width * height * 4) };
  image.data.set(sheet.data);
  fillRect(image, 0, sheet.height, width, height - sheet.height, ...rgb(SHEET_BACKGROUND));
  drawText(
    image,
    'grants in use, stacked by client (red line: SIGKILL)',
    MARGIN,
    sheet.height,
    0xf0f0f0,
  );

  const left = MARGIN + AXIS_W;
  const right = width - MARGIN;
  const top = sheet.height + LINE_HEIGHT * 2;
  const bottom = top + PLOT_H;
  const end = Math.max(1, timeline.endAt);
  // The instant each pixel column shows, and each client's grants then.
  const times = Array.from({ length: right - left }, (_, i) => (i / (right - left)) * end);
  const clients = timeline.clients.map((c) => ({
    values: valuesAt(grantSteps(timeline.pools.filter((p) => p.session === c.session)), times),
    colour: rgb(accent(c.session)),
  }));
  const max = Math.max(1, ...grantSteps(timeline.pools).map(([, v]) => v));
  const unit = PLOT_H / max;
  for (const v of ticks(max, 3)) {
    const y = Math.round(bottom - v * unit);
    fillRect(image, left, y, right - left, 1, ...rgb(GRID));
    const label = String(v);
    drawText(image, label, left - 6 - textWidth(label), y - 3, INK);
  }
  // One column per pixel: each client's grants at that instant, stacked.
  for (let x = left; x < right; x++) {
    let y = bottom;
    for (const c of clients) {
      const v = c.values[x - left]!;
      if (v === 0) continue;
      const h = v * unit;
      fillRect(image, x, y - h, 1, h, ...c.colour);
      y -= h;
    }
  }
  fillRect(image, left, bottom, right - left, 1, ...rgb(INK));
  const xOf = (t: number): number => left + (Math.min(t, end) / end) * (right - left);
  for (const client of timeline.clients) {
    if (client.killedAt === undefined) continue;
    const x = Math.round(xOf(client.killedAt));
    for (let y = top; y < bottom; y += 6) fillRect(image, x, y, 1, 4, ...rgb(ALARM));
  }
  for (const s of ticks(end / 1000, 8)) {
    const x = Math.round(xOf(s * 1000));
    const label = `${+s.toFixed(3)} s`;
    fillRect(image, x, bottom, 1, 4, ...rgb(INK));
    drawText(image, label, x - Math.round(textWidth(label) / 2), bottom + 7, INK);
  }
  return image;
}
