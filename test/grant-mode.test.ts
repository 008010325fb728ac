// Grant mode against weston headless: the compositor maps grant pages and never the
// client's memory, and what it can read there is exactly what the client drew — across
// double buffering with partial damage, pool growth, and unsealed pools — until the
// pool is unmapped and its extent reclaimed.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { close as closeFd, fstat, ftruncate, memfdCreate } from '../ffi/libc.js';
import { bindGlobals } from '../harness/client/globals.js';
import { PoolFile } from '../harness/client/pool-file.js';
import { type WaylandProxy, WaylandClient } from '../harness/client/wayland-client.js';
import { type WestonInstance, startWeston, westonAvailable } from '../harness/real/weston.js';
import { type AssembledBridge, assembleBridge } from '../bridge/assembly/assemble.js';
import type { GrantBackend } from '../bridge/grants/types.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import type { LifecycleEvent } from '../bridge/shm/events.js';
import type { Lifecycle } from '../bridge/shm/lifecycle.js';
import type { PoolState } from '../bridge/shm/state.js';

const registry = new ProtocolRegistry();
const W = 64;
const H = 48;
const STRIDE = W * 4;
const FRAME = STRIDE * H;

/** Mapped inodes of a process, from its maps. */
function mappedInodes(pid: number): Set<bigint> {
  const inodes = new Set<bigint>();
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const inode = line.split(/\s+/)[4];
    if (inode !== undefined && inode !== '0') inodes.add(BigInt(inode));
  }
  return inodes;
}

/** Fills rect (x, y, w, h) of a frame in `pixels` with a colour. */
function fill(
  pixels: Uint32Array,
  frameOffset: number,
  [x, y, w, h]: number[],
  colour: number,
): void {
  for (let row = y!; row < y! + h!; row++) {
    pixels.fill(colour, frameOffset / 4 + row * W + x!, frameOffset / 4 + row * W + x! + w!);
  }
}

describe.skipIf(!westonAvailable())('grant mode on weston headless', () => {
  let weston: WestonInstance;
  let assembled: AssembledBridge;
  let bridge: Bridge;
  let lifecycle: Lifecycle;
  let backend: GrantBackend;
  let events: LifecycleEvent[];
  let client: WaylandClient;

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'gw-grant-weston' });
  });
  afterAll(async () => {
    await weston?.stop();
  });

  beforeEach(() => {
    events = [];
    assembled = assembleBridge({
      listenPath: join(weston.runtimeDir, 'gw-grant'),
      upstreamPath: weston.socketPath,
      registry,
      sinks: [(e) => events.push(e)],
    });
    ({ bridge, lifecycle } = assembled);
    backend = assembled.backend!;
    client = WaylandClient.connect(bridge.listenPath);
    client.attachToLoop();
  });

  afterEach(() => {
    client.close();
    assembled.close();
  });

  async function globals(): Promise<{ shm: WaylandProxy; compositor: WaylandProxy }> {
    const bound = await bindGlobals(client, registry, { wl_shm: 1, wl_compositor: 4 });
    return { shm: bound.wl_shm, compositor: bound.wl_compositor };
  }

  function pool(): PoolState {
    for (const tracker of lifecycle.trackers) for (const p of tracker.poolStates()) return p;
    throw new Error('no pool tracked');
  }

  /** The bytes the compositor can read for the frame at `offset`. */
  function seenByCompositor(offset: number): Uint8Array {
    const inspected = lifecycle.backing!.inspect(pool());
    return inspected!.view.slice(offset, offset + FRAME);
  }

  it('double buffering with partial damage: the compositor always sees the frame drawn', async () => {
    const { shm, compositor } = await globals();
    const file = new PoolFile(2 * FRAME, { name: 'client-pool' });
    const { fd: memfd, bytes } = file;
    const pixels = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    try {
      const wlPool = shm.request('create_pool', [memfd, 2 * FRAME]) as WaylandProxy;
      const buffers = [0, FRAME].map(
        (offset) => wlPool.request('create_buffer', [offset, W, H, STRIDE, 0]) as WaylandProxy,
      );
      const surface = compositor.request('create_surface') as WaylandProxy;
      const frame = (index: number, damage: number[]): void => {
        surface.request('attach', [buffers[index]!, 0, 0]);
        surface.request('damage_buffer', damage);
        surface.request('commit');
      };
      // Frame 1 in buffer 0: everything blue.
      fill(pixels, 0, [0, 0, W, H], 0xff0000ff);
      frame(0, [0, 0, W, H]);
      await client.roundtripAsync();
      expect(seenByCompositor(0)).toEqual(bytes.slice(0, FRAME));
      // Frame 2 in buffer 1: frame 1 plus a red square.
      fill(pixels, FRAME, [0, 0, W, H], 0xff0000ff);
      fill(pixels, FRAME, [4, 4, 8, 8], 0xffff0000);
      frame(1, [4, 4, 8, 8]);
      await client.roundtripAsync();
      expect(seenByCompositor(FRAME)).toEqual(bytes.slice(FRAME, 2 * FRAME));
      // Frame 3 back in buffer 0: frame 2 plus a green bar. The client repairs buffer 0
      // with frame 2's damage too, but declares only frame 3's: the bridge must know
      // that buffer 0's pages also missed frame 2's square.
      fill(pixels, 0, [4, 4, 8, 8], 0xffff0000);
      fill(pixels, 0, [0, 30, W, 3], 0xff00ff00);
      frame(0, [0, 30, W, 3]);
      await client.roundtripAsync();
      expect(seenByCompositor(0)).toEqual(bytes.slice(0, FRAME));
      // The compositor maps the extent, never the client's file.
      const inodes = mappedInodes(weston.pid);
      expect(inodes.has(fstat(memfd).ino)).toBe(false);
      expect(inodes.has(lifecycle.backing!.inspect(pool())!.extent.file!.ino)).toBe(true);
      const stats = lifecycle.backing!.stats;
      expect(stats.fullCopies).toBe(2); // each buffer's first commit
      expect(stats.bytesCopied).toBeLessThan(3 * FRAME);
      // Let go of everything: the extent is reclaimed once weston has unmapped it.
      for (const b of buffers) b.destroy();
      wlPool.destroy();
      surface.destroy();
      await client.roundtripAsync();
      const deadline = Date.now() + 5000;
      while (assembled.figures().reclaimed < 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(
        events.filter((e) => e.type === 'evidence').map((e) => 'level' in e && e.level),
      ).toContain('E3');
      expect(assembled.figures().reclaimed).toBe(1);
      expect(backend.stats().refsInUse).toBe(0);
      expect(backend.stats().endAccessFailures).toBe(0);
    } finally {
      file.close();
    }
  });

  it('follows a pool resize and copies unsealed pools with pread', async () => {
    const { shm, compositor } = await globals();
    // No seals: the bridge must not mmap it.
    const file = new PoolFile(2 * FRAME, { sealed: false, name: 'unsealed-pool' });
    const { fd: memfd, bytes } = file;
    const pixels = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    try {
      const wlPool = shm.request('create_pool', [memfd, FRAME]) as WaylandProxy;
      wlPool.request('resize', [2 * FRAME]);
      const buffer = wlPool.request('create_buffer', [FRAME, W, H, STRIDE, 1]) as WaylandProxy;
      const surface = compositor.request('create_surface') as WaylandProxy;
      fill(pixels, FRAME, [0, 0, W, H], 0xff123456);
      fill(pixels, FRAME, [10, 10, 20, 5], 0xff654321);
      surface.request('attach', [buffer, 0, 0]);
      surface.request('damage_buffer', [0, 0, W, H]);
      surface.request('commit');
      await client.roundtripAsync();
      expect(lifecycle.backing!.inspect(pool())!.extent.pages).toBe(Math.ceil((2 * FRAME) / 4096));
      expect(seenByCompositor(FRAME)).toEqual(bytes.slice(FRAME, 2 * FRAME));
      expect(events.some((e) => e.type === 'pool-resized')).toBe(true);
    } finally {
      file.close();
    }
  });

  it('survives a client that truncates its unsealed pool: wl_shm error, no SIGBUS', async () => {
    const { shm, compositor } = await globals();
    const memfd = memfdCreate('shrinking-pool');
    ftruncate(memfd, FRAME);
    try {
      const wlPool = shm.request('create_pool', [memfd, FRAME]) as WaylandProxy;
      const buffer = wlPool.request('create_buffer', [0, W, H, STRIDE, 1]) as WaylandProxy;
      const surface = compositor.request('create_surface') as WaylandProxy;
      await client.roundtripAsync();
      ftruncate(memfd, 100);
      surface.request('attach', [buffer, 0, 0]);
      surface.request('commit');
      // wl_shm invalid_fd (2) on the pool, as libwayland-server raises for a bad pool file.
      await expect(client.roundtripAsync()).rejects.toMatchObject({
        protocolError: { code: 2, interfaceName: 'wl_shm_pool' },
      });
      // The bridge (this process) is alive and serves a new client.
      const again = WaylandClient.connect(bridge.listenPath);
      again.attachToLoop();
      await again.roundtripAsync();
      again.close();
    } finally {
      closeFd(memfd);
    }
  });
});
