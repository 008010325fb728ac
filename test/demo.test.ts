// `grantway demo` as a newcomer runs it: nothing but Node, the embedded compositor and
// the bridge; every pool reaches E3, every grant comes back, none while still mapped,
// and the PNG shows the painter's last frame.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePng } from '../harness/compositor/png.js';
import { runDemo } from '../harness/demo/demo.js';
import { silentLogger } from '../bridge/log.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('grantway demo', () => {
  it('reclaims every grant on evidence, none unsafely, and draws the last frame', async () => {
    const pngPath = join(dir, 'last.png');
    const progress: number[] = [];
    const result = await runDemo({
      pngPath,
      frames: 30,
      log: silentLogger,
      onProgress: (done) => progress.push(done),
    });
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
    expect(progress.at(-1)).toBe(30 + 10 + 8 + 20);
    // The painter's last frame (29): the square at x = 116..155, y = 80..119.
    expect(existsSync(pngPath)).toBe(true);
    const image = decodePng(readFileSync(pngPath));
    const pixel = (x: number, y: number): number => {
      const i = (y * image.width + x) * 4; // RGBA
      return (image.data[i]! << 16) | (image.data[i + 1]! << 8) | image.data[i + 2]!;
    };
    expect(pixel(130, 100)).toBe(0xe0a020);
    expect(pixel(10, 10)).toBe(0x203040);
  });
});
