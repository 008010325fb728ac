// `grantway demo` as a newcomer runs it: nothing but Node, the embedded compositor and
// the bridge; every pool reaches E3, every grant comes back, none while still mapped.
// The picture shows what a user should see: every client's window in the colours it
// painted (the PNG, and the HTML page as headless Chromium shows it), and a timeline
// whose data has every client's grants, evidence up to E3 for every pool, and the
// SIGKILLed client's grants coming back to 0.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng, type RgbaImage } from '../harness/compositor/png.js';
import {
  PAINTER_FIELD,
  PAINTER_SQUARE,
  resizerColour,
  shortLivedColour,
  victimColour,
} from '../harness/demo/colours.js';
import { type DemoResult, runDemo } from '../harness/demo/demo.js';
import { silentLogger } from '../bridge/log.js';
import { chromiumAvailable, dumpDom, screenshot } from './support/chromium.js';

const FRAMES = 30;
const dir = mkdtempSync(join(tmpdir(), 'gw-demo-'));
const pngPath = join(dir, 'demo.png');
const htmlPath = join(dir, 'demo.html');
const progress: number[] = [];
let result: DemoResult;

beforeAll(async () => {
  result = await runDemo({
    pngPath,
    htmlPath,
    frames: FRAMES,
    log: silentLogger,
    onProgress: (done) => progress.push(done),
  });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rgbAt = (image: RgbaImage, x: number, y: number): number => {
  const i = (y * image.width + x) * 4; // RGBA
  return (image.data[i]! << 16) | (image.data[i + 1]! << 8) | image.data[i + 2]!;
};
const hex = (c: number): string => `#${c.toString(16).padStart(6, '0')}`;
/** Chromium may round a channel when it draws the image: within 2 per channel. */
const near = (a: number, b: number): boolean =>
  [16, 8, 0].every((s) => Math.abs(((a >>> s) & 0xff) - ((b >>> s) & 0xff)) <= 2);

const SHORT_LIVED = Array.from({ length: 8 }, (_, i) => `short-lived ${i}`);

/**
 * What each demo client's window must show, at points relative to its window: the
 * colours the client painted last (frames = 30: the painter's square at x = 116..155,
 * y = 80..119; the resizer's last frame is 9; the victim's is whichever it reached).
 */
function expectedWindows(): Map<
  string,
  { w: number; h: number; at: [number, number, number[]][] }
> {
  const rgb = (argb: number): number => argb & 0xffffff;
  const inside = (w: number, h: number, colours: number[]): [number, number, number[]][] => [
    [Math.floor(w / 2), Math.floor(h / 2), colours],
    [2, 2, colours],
    [w - 3, h - 3, colours],
  ];
  const lastResize = Math.ceil(FRAMES / 3) - 1;
  const rw = 64 + ((lastResize * 37) % 200);
  const rh = 48 + ((lastResize * 23) % 150);
  const victim = Array.from({ length: 64 }, (_, k) => rgb(victimColour(k)));
  return new Map([
    [
      'painter',
      {
        w: 320,
        h: 200,
        at: [
          [130, 100, [rgb(PAINTER_SQUARE)]],
          [10, 10, [rgb(PAINTER_FIELD)]],
          [300, 190, [rgb(PAINTER_FIELD)]],
        ],
      },
    ],
    ['resizer', { w: rw, h: rh, at: inside(rw, rh, [rgb(resizerColour(lastResize))]) }],
    ['victim', { w: 160, h: 120, at: inside(160, 120, victim) }],
    ...SHORT_LIVED.map(
      (name, i) =>
        [name, { w: 96, h: 64, at: inside(96, 64, [rgb(shortLivedColour(i, 2))]) }] as const,
    ),
  ]);
}

/** Every window on `image` (the PNG or a screenshot of the page) shows its colours. */
function checkWindows(image: RgbaImage, exact: boolean): void {
  const expected = expectedWindows();
  const tiles = result.picture.tiles;
  expect(tiles.map((t) => t.title).sort()).toEqual([...expected.keys()].sort());
  for (const tile of tiles) {
    const want = expected.get(tile.title)!;
    expect([tile.title, tile.width, tile.height]).toEqual([tile.title, want.w, want.h]);
    for (const [x, y, colours] of want.at) {
      const got = rgbAt(image, tile.x + x, tile.y + y);
      const ok = colours.some((c) => (exact ? c === got : near(c, got)));
      expect(
        ok,
        `${tile.title} at (${x}, ${y}): ${hex(got)} not in ${colours.map(hex).join(', ')}`,
      ).toBe(true);
    }
  }
}

describe('grantway demo', () => {
  it('reclaims every grant on evidence, none unsafely', () => {
    expect(result.unsafeReclaims).toBe(0);
    expect(result.leakedGrants).toBe(0);
    expect(result.grantsAllocated).toBeGreaterThan(10);
    expect(result.grantsReclaimed).toBe(result.grantsAllocated);
    // The scheduler ran the default policy: one attempt per extent, none refused.
    expect(result.reclaim).toMatchObject({ policy: 'evidence-E3', failed: 0, inUse: 0 });
    expect(result.reclaim.attempts).toBe(result.grantsReclaimed);
    expect(result.trace.pools).toBe(result.grantsAllocated);
    expect(result.trace.evidenceReached.E3).toBe(result.trace.pools);
    expect(result.trace.clients).toBe(11);
    expect(progress.at(-1)).toBe(FRAMES + 10 + 8 + 20);
  });

  it("the PNG shows every client's window side by side, in the colours it painted", () => {
    const image = decodePng(readFileSync(pngPath));
    expect([image.width, image.height]).toEqual([result.picture.width, result.picture.height]);
    checkWindows(image, true);
    // Side by side: no two windows overlap.
    const tiles = result.picture.tiles;
    for (const a of tiles) {
      for (const b of tiles) {
        if (a === b) continue;
        const apart =
          a.x + a.width <= b.x ||
          b.x + b.width <= a.x ||
          a.y + a.height <= b.y ||
          b.y + b.height <= a.y;
        expect(apart, `${a.title} overlaps ${b.title}`).toBe(true);
      }
    }
  });

  describe('the HTML page, in headless Chromium', () => {
    it('shows every window where the PNG has it', async (ctx) => {
      ctx.skip(!chromiumAvailable, 'chromium is not installed (CI: apt-get install chromium)');
      const shot = join(dir, 'page.png');
      await screenshot(
        `file://${htmlPath}`,
        shot,
        result.picture.width,
        result.picture.sheetHeight + 100,
      );
      checkWindows(decodePng(readFileSync(shot)), false);
    }, 60_000);

    it("has a timeline whose data shows every client's grants, evidence to E3, and the killed client's grants back to 0", async (ctx) => {
      ctx.skip(!chromiumAvailable, 'chromium is not installed (CI: apt-get install chromium)');
      const dom = await dumpDom(`file://${htmlPath}`);
      const body = /<body([^>]*)>/.exec(dom)?.[1] ?? '';
      const attr = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(body)?.[1] ?? '';
      // One band per client and the total, each drawn with a non-empty box.
      expect(Number(attr('data-series'))).toBe(11 + 1);
      expect(Number(attr('data-drawn'))).toBe(11 + 1);
      expect(Number(attr('data-lanes'))).toBe(result.trace.pools);
      expect(attr('data-sheet')).toBe(`${result.picture.width}x${result.picture.sheetHeight}`);

      const series = [...dom.matchAll(/<path class="series[^"]*"([^>]*)>/g)].map((m) => {
        const a = (name: string): string | undefined =>
          new RegExp(` ${name}="([^"]*)"`).exec(m[1]!)?.[1];
        const steps = (a('data-steps') ?? '').split(' ').map((p) => p.split(':').map(Number));
        return { client: a('data-client'), killed: a('data-killed'), steps };
      });
      const total = series.find((s) => s.client === 'all')!;
      expect(Math.max(...total.steps.map(([, v]) => v!))).toBeGreaterThanOrEqual(2);
      expect(total.steps.at(-1)![1]).toBe(0);
      expect(
        series
          .filter((s) => s.client !== 'all')
          .map((s) => s.client)
          .sort(),
      ).toEqual([...expectedWindows().keys()].sort());
      // The SIGKILLed client: it held a grant, and after the kill its grants came back.
      const killed = series.filter((s) => s.killed !== undefined);
      expect(killed.map((s) => s.client)).toEqual(['victim']);
      const victim = killed[0]!;
      const killedAt = Number(victim.killed);
      expect(Math.max(...victim.steps.map(([, v]) => v!))).toBeGreaterThanOrEqual(1);
      const [backAt, last] = victim.steps.at(-1)!;
      expect(last).toBe(0);
      expect(backAt).toBeGreaterThanOrEqual(killedAt);
      expect(victim.steps.filter(([t]) => t! < killedAt).at(-1)![1]).toBeGreaterThanOrEqual(1);

      // A lane per pool: every one reached E3 and its grant was freed.
      const lanes = [...dom.matchAll(/<g class="pool"([^>]*)>/g)].map((m) => m[1]!);
      expect(lanes).toHaveLength(result.trace.pools);
      for (const lane of lanes) {
        expect(lane).toMatch(/data-levels="[^"]*E3"/);
        expect(lane).toMatch(/data-freed="[\d.]+"/);
      }
      // The painter's pool was busy (E0) while it drew.
      expect(
        lanes.some((l) => /data-client="painter"/.test(l) && /data-levels="[^"]*E0/.test(l)),
      ).toBe(true);
    }, 60_000);
  });
});
