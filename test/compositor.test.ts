// The embedded compositor (harness/compositor) with real clients, in its own process:
// wayland-info sees a complete, truthful compositor; weston-simple-shm runs against it
// directly and through the bridge, and the PNG read back of its window is exactly the
// image simple-shm is defined to draw for one of the frame times the compositor sent.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedCompositorInstance, startEmbeddedCompositor } from '../harness/embedded.js';
import { decodePng, type RgbaImage } from '../harness/compositor/png.js';
import type { SurfaceInfo } from '../harness/compositor/server.js';
import { commandAvailable, runClient } from '../harness/real/process.js';
import { silentLogger } from '../bridge/log.js';
import { startTestBridge } from './support/test-bridge.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { Bridge } from '../bridge/relay/bridge.js';

const SIMPLE_SHM_APP_ID = 'org.freedesktop.weston.simple-shm';
const haveSimpleShm = commandAvailable('weston-simple-shm');
const haveWaylandInfo = commandAvailable('wayland-info');

// ---------------------------------------------------------------------------------------
// What weston-simple-shm draws (clients/simple-shm.c, paint_pixels): a 250×250 XRGB8888
// window whose 20-px border stays white (the buffer is memset to 0xff once) and whose
// inside is, for frame time t (the wl_callback.done time that triggered the redraw, or 0
// for the first frame) and k per pixel:
//   r² < 85²          (disk):  k = ⌊r²/32⌋ + ⌊t/64⌋
//   85² ≤ r² < 117²   (ring):  k = y + ⌊t/32⌋
//   otherwise         (outer): k = x + ⌊t/16⌋
// with r² the squared distance to (125, 125), and the pixel is (k · 0x080401) mod 2²⁴.
// 0x080401 is odd, so multiplication by it is invertible mod 2²⁴: every pixel gives k
// back exactly, hence ⌊t/16⌋, ⌊t/32⌋ and ⌊t/64⌋ (mod 2²⁴) from one pixel of each region.

const SIZE = 250;
const PAD = 20;
const CENTER = PAD + (SIZE - 2 * PAD) / 2;
const OUTER = (CENTER - 8) ** 2;
const INNER = (CENTER - 8 - 32) ** 2;
const M24 = 0x1000000;
const MUL = 0x080401;

/** MUL⁻¹ mod 2²⁴ by Newton's iteration (each step doubles the correct low bits). */
const INV = (() => {
  let x = BigInt(MUL);
  for (let i = 0; i < 5; i++) x = (x * (2n - BigInt(MUL) * x)) % BigInt(M24);
  return Number((x + BigInt(M24)) % BigInt(M24));
})();

const rgbAt = (img: RgbaImage, x: number, y: number): number => {
  const i = (y * img.width + x) * 4;
  return (img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!;
};
const kOf = (rgb: number): number => Number((BigInt(rgb) * BigInt(INV)) % BigInt(M24));
const mod24 = (n: number): number => ((n % M24) + M24) % M24;

interface FrameTime {
  readonly t16: number;
  readonly t32: number;
  readonly t64: number;
}

function expectedPixel(x: number, y: number, t: FrameTime): number {
  if (x < PAD || y < PAD || x >= SIZE - PAD || y >= SIZE - PAD) return 0xffffff;
  const r2 = (x - CENTER) ** 2 + (y - CENTER) ** 2;
  const k = r2 < INNER ? Math.floor(r2 / 32) + t.t64 : r2 < OUTER ? y + t.t32 : x + t.t16;
  return Number((BigInt(k) * BigInt(MUL)) % BigInt(M24));
}

/** ⌊t/16⌋, ⌊t/32⌋, ⌊t/64⌋ (mod 2²⁴) as read from one pixel of each region. */
function frameTimeOf(img: RgbaImage): FrameTime {
  return {
    t16: mod24(kOf(rgbAt(img, PAD, PAD)) - PAD), // a corner: outer region
    t32: mod24(kOf(rgbAt(img, CENTER, CENTER - 100)) - (CENTER - 100)), // ring
    t64: kOf(rgbAt(img, CENTER, CENTER)), // centre: disk, r² = 0
  };
}

/** Pixels (alpha included: XRGB is opaque) that differ from simple-shm's frame for t. */
function mismatches(img: RgbaImage, t: FrameTime): number {
  let n = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (rgbAt(img, x, y) !== expectedPixel(x, y, t)) n++;
      else if (img.data[(y * SIZE + x) * 4 + 3] !== 255) n++;
    }
  }
  return n;
}

/**
 * Checks that `img` is simple-shm's frame for a single time t, exactly, pixel by pixel,
 * and returns ⌊t/16⌋, ⌊t/32⌋, ⌊t/64⌋ (mod 2²⁴).
 */
function simpleShmFrameTime(img: RgbaImage): FrameTime {
  expect([img.width, img.height]).toEqual([SIZE, SIZE]);
  const t = frameTimeOf(img);
  // One time t: the three quotients agree (compared below bit 23, as ⌊t/16⌋ mod 2²⁴
  // says nothing about bit 24 of ⌊t/16⌋).
  expect(t.t32 % (M24 / 2)).toBe(Math.floor(t.t16 / 2) % (M24 / 2));
  expect(t.t64 % (M24 / 2)).toBe(Math.floor(t.t32 / 2) % (M24 / 2));
  expect(mismatches(img, t)).toBe(0);
  return t;
}

/** Whether frame time `time` (ms) gives these quotients. */
const matchesTime = (t: FrameTime, time: number): boolean =>
  Math.floor(time / 16) % M24 === t.t16 &&
  Math.floor(time / 32) % M24 === t.t32 &&
  Math.floor(time / 64) % M24 === t.t64;

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 5000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * weston-simple-shm running until stop(), which sends SIGINT (it then exits cleanly,
 * destroying its objects in order); it draws as long as a loaded machine needs.
 */
function simpleShm(env: Readonly<Record<string, string>>): {
  stop(): Promise<{ code: number | null; stderr: string }>;
} {
  const child = spawn('weston-simple-shm', [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const safety = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return {
    async stop() {
      child.kill('SIGINT');
      const code = await exited;
      clearTimeout(safety);
      return { code, stderr };
    },
  };
}

async function simpleShmSurface(c: EmbeddedCompositorInstance): Promise<SurfaceInfo> {
  return waitFor('simple-shm to map its window', async () => {
    const state = await c.control.state();
    return state.surfaces.find((s) => s.appId === SIMPLE_SHM_APP_ID && s.mapped && s.latches > 2);
  });
}

/** Reads simple-shm's window twice, 200 ms apart, and checks both frames. */
async function checkSimpleShmWindow(c: EmbeddedCompositorInstance): Promise<void> {
  const surface = await simpleShmSurface(c);
  const times: FrameTime[] = [];
  for (let i = 0; i < 2; i++) {
    const png = await c.control.surfacePng(surface.serial);
    // The PNG first, the state after: the times sent so far include this frame's.
    const state = await c.control.state();
    const info = state.surfaces.find((s) => s.serial === surface.serial)!;
    const image = decodePng(png.png);
    const t = simpleShmFrameTime(image);
    expect([0, ...info.frameTimes].some((time) => matchesTime(t, time))).toBe(true);
    times.push(t);
    // The check is sharp: one pixel off inside the ring, or the border, is seen.
    for (const [x, y] of [
      [CENTER, CENTER - 100],
      [3, 200],
    ] as const) {
      const altered = { ...image, data: image.data.slice() };
      altered.data[(y * SIZE + x) * 4 + 1]! ^= 1;
      expect(mismatches(altered, t)).toBe(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // The animation moves: 200 ms later, ⌊t/16⌋ has advanced by about 12.
  const advanced = mod24(times[1]!.t16 - times[0]!.t16);
  expect(advanced).toBeGreaterThan(5);
  expect(advanced).toBeLessThan(40);
}

describe('the embedded compositor with real clients', () => {
  let compositor: EmbeddedCompositorInstance;
  const registry = new ProtocolRegistry();

  beforeAll(async () => {
    compositor = await startEmbeddedCompositor({ width: 800, height: 600 });
  });

  afterAll(async () => {
    await compositor?.stop();
  });

  it.skipIf(!haveWaylandInfo)(
    'wayland-info sees the globals, the output and the seat',
    async () => {
      const result = await runClient('wayland-info', [], compositor.env, 10_000);
      expect(result.exitCode, result.stderr).toBe(0);
      const globals = [...result.stdout.matchAll(/interface: '([^']+)',\s+version:\s+(\d+)/g)].map(
        (m) => `${m[1]} v${m[2]}`,
      );
      expect(globals).toEqual([
        'wl_compositor v5',
        'wl_subcompositor v1',
        'wl_shm v2',
        'wl_output v4',
        'wl_seat v8',
        'xdg_wm_base v5',
      ]);
      expect(result.stdout).toMatch(/'XR24'/);
      expect(result.stdout).toMatch(/'AR24'/);
      expect(result.stdout).toMatch(/width: 800 px, height: 600 px, refresh: 60\.000 Hz/);
      expect(result.stdout).toMatch(/flags: current preferred/);
      expect(result.stdout).toMatch(/name: seat0/);
    },
  );

  it.skipIf(!haveSimpleShm)(
    'weston-simple-shm: its window reads back as exactly the frame it draws for a sent time',
    async () => {
      const run = simpleShm(compositor.env);
      try {
        await checkSimpleShmWindow(compositor);
        const state = await compositor.control.state();
        const surface = state.surfaces.find((s) => s.appId === SIMPLE_SHM_APP_ID)!;
        expect(surface).toMatchObject({ role: 'xdg_toplevel', title: 'simple-shm', format: 1 });
        // Its two buffers each live in their own sealed memfd pool: both mapped.
        const pools = state.pools.filter((p) => p.client === surface.client);
        expect(pools).toHaveLength(2);
        for (const pool of pools) expect(pool).toMatchObject({ access: 'mmap', mapped: true });
      } finally {
        const result = await run.stop();
        expect(result.stderr).not.toMatch(/error|busy/i);
        expect(result.code).toBe(0); // it draws until told to stop
      }
      // The client is gone: every pool it had is unmapped (libwayland's rule, no knob).
      const after = await waitFor('the pools to go', async () => {
        const s = await compositor.control.state();
        return s.clients.length === 0 ? s : undefined;
      });
      expect(after.pools).toEqual([]);
    },
  );

  it.skipIf(!haveSimpleShm)(
    'repaints at 60 Hz: simple-shm gets ~60 frames a second and every replaced buffer back',
    async () => {
      const run = simpleShm(compositor.env);
      const surface = await simpleShmSurface(compositor);
      const before = await compositor.control.state();
      const start = before.surfaces.find((s) => s.serial === surface.serial)!;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await compositor.control.state();
      const end = after.surfaces.find((s) => s.serial === surface.serial)!;
      await run.stop();
      const frames = end.latches - start.latches;
      expect(frames).toBeGreaterThan(45);
      expect(frames).toBeLessThan(70);
      // Every latch but the one on screen replaced a buffer, each released once.
      expect(after.releases - before.releases).toBeGreaterThanOrEqual(frames - 1);
      // Frame callbacks are paced by the repaint clock: the typical gap is one 60 Hz
      // frame. (The median, not every gap: on a loaded machine a late tick is followed
      // by an early one, which says nothing about the clock.)
      const times = end.frameTimes.slice(-10);
      const gaps = times
        .slice(1)
        .map((t, i) => t - times[i]!)
        .sort((a, b) => a - b);
      const median = gaps[gaps.length >> 1]!;
      expect(median).toBeGreaterThanOrEqual(13);
      expect(median).toBeLessThanOrEqual(25);
    },
  );

  it.skipIf(!haveSimpleShm).each(['passthrough', 'grant'] as const)(
    'weston-simple-shm through the bridge (%s mode): the same exact frame, no protocol error',
    async (mode) => {
      const bridge = startTestBridge({
        listenPath: join(compositor.runtimeDir, `gw-bridge-${mode}`),
        upstreamPath: compositor.socketPath,
        mode,
      });
      try {
        const run = simpleShm({ ...compositor.env, WAYLAND_DISPLAY: bridge.listenPath });
        try {
          // In grant mode the compositor reads grant pages the bridge copied into:
          // the pixel-exact check proves the copies are.
          await checkSimpleShmWindow(compositor);
        } finally {
          const result = await run.stop();
          expect(result.stderr).not.toMatch(/error|busy/i);
          expect(result.code).toBe(0);
        }
        await bridge.bridge.whenIdle();
        if (mode === 'grant') expect(bridge.lifecycle.backing!.stats.commits).toBeGreaterThan(0);
      } finally {
        bridge.close();
      }
    },
  );

  it.skipIf(!haveWaylandInfo)(
    'wayland-info through the bridge prints what it prints directly',
    async () => {
      const bridge = Bridge.start({
        listenPath: join(compositor.runtimeDir, 'gw-bridge-info'),
        upstreamPath: compositor.socketPath,
        registry,
        log: silentLogger,
      });
      try {
        const direct = await runClient('wayland-info', [], compositor.env, 10_000);
        const via = await runClient(
          'wayland-info',
          [],
          { ...compositor.env, WAYLAND_DISPLAY: bridge.listenPath },
          10_000,
        );
        expect(via.exitCode, via.stderr).toBe(0);
        // Every global is known to the bridge, so nothing may differ, not even the names.
        expect(via.stdout).toBe(direct.stdout);
      } finally {
        bridge.close();
      }
    },
  );
});

describe.skipIf(!haveSimpleShm)('the embedded compositor with a PNG directory', () => {
  it('writes the last image of a window when it closes, and when its client dies', async () => {
    const pngDir = mkdtempSync(join(tmpdir(), 'grantway-png-'));
    const compositor = await startEmbeddedCompositor({ pngDir });
    try {
      // A clean exit: simple-shm destroys its buffers, then its toplevel.
      const run = simpleShm(compositor.env);
      await simpleShmSurface(compositor);
      await run.stop();
      // Killed: the compositor tears its objects down itself.
      const killed = await runClient('weston-simple-shm', [], compositor.env, 1_000);
      expect(killed.timedOut).toBe(true);
      const files = await waitFor('the window PNGs', () => {
        // Whole PNGs only (one being written has a hidden name until it is complete).
        const names = readdirSync(pngDir)
          .filter((name) => name.endsWith('.png'))
          .sort();
        return Promise.resolve(names.length === 2 ? names : undefined);
      });
      expect(files).toEqual([1, 2].map((n) => `window-${n}-${SIMPLE_SHM_APP_ID}.png`));
      for (const file of files) simpleShmFrameTime(decodePng(readFileSync(join(pngDir, file))));
    } finally {
      await compositor.stop();
      rmSync(pngDir, { recursive: true, force: true });
    }
  });
});
