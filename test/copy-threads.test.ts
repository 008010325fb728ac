// Commits copied off the event loop (issue 10, item 3), against weston headless: while
// one client's big commit is being copied into its grant extent, that client's later
// requests wait behind it, in order, and every other client is served; once the copy
// is done, the compositor sees exactly the frames drawn, split between threads or not,
// from sealed pools (the joint mapping) and unsealed ones (pread).
//
// To know a copy is still running when another client's roundtrip comes back, without
// betting on timing, the first test gives the bridge real copy threads behind a gate:
// copies start only when the test opens it.

import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fstat } from '../ffi/libc.js';
import { bindGlobals } from '../harness/client/globals.js';
import { PoolFile } from '../harness/client/pool-file.js';
import { type WaylandProxy, WaylandClient } from '../harness/client/wayland-client.js';
import { type WestonInstance, startWeston, westonAvailable } from '../harness/real/weston.js';
import { silentLogger } from '../bridge/log.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { assembleBridge } from '../bridge/assembly/assemble.js';
import type { GrantBackend } from '../bridge/grants/types.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import { type CopyResult, type CopyTarget, CopyThreads } from '../bridge/shm/copy-threads.js';
import type { Span } from '../bridge/shm/copy.js';
import { INLINE_COPY_BYTES } from '../bridge/shm/grant-mode.js';
import type { Lifecycle } from '../bridge/shm/lifecycle.js';
import { startProxyProcess } from './support/proxy-process.js';
import type { PoolState } from '../bridge/shm/state.js';

const registry = new ProtocolRegistry();
const W = 1024;
const H = 768;
const STRIDE = W * 4;
const FRAME = STRIDE * H; // 3 MiB: well above INLINE_COPY_BYTES, split between threads

/** Where two byte arrays first differ; -1 when they are equal (a readable failure). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(a, b) === 0) return -1;
  return a.findIndex((x, i) => x !== b[i]);
}

/** Real copy threads whose copies wait until the test opens the gate. */
class GatedCopyThreads extends CopyThreads {
  started = 0;
  private opened = false;
  private waiting: (() => void)[] = [];

  open(): void {
    this.opened = true;
    for (const go of this.waiting.splice(0)) go();
  }

  shut(): void {
    this.opened = false;
  }

  override copy(spans: readonly Span[], target: CopyTarget, holesFd?: number): Promise<CopyResult> {
    this.started++;
    if (this.opened) return super.copy(spans, target, holesFd);
    return new Promise<void>((go) => this.waiting.push(go)).then(() =>
      super.copy(spans, target, holesFd),
    );
  }
}

/** A client's pool the test draws in (sealed against shrinking or not), with frames. */
class ClientPool extends PoolFile {
  constructor(size: number, sealed: boolean) {
    super(size, { sealed, name: 'copy-threads-pool' });
  }

  /** Fills rect (x, y, w, h) of the frame at `offset` with a colour. */
  fill(offset: number, [x, y, w, h]: readonly number[], colour: number): void {
    const px = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + offset, W * H);
    for (let row = y!; row < y! + h!; row++) px.fill(colour, row * W + x!, row * W + x! + w!);
  }

  /** Every pixel different, so a byte copied to the wrong place shows. */
  noise(offset: number, seed: number): void {
    const px = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + offset, W * H);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < px.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      px[i] = x >>> 0;
    }
  }

  frame(offset: number): Uint8Array {
    return this.bytes.slice(offset, offset + FRAME);
  }
}

interface Drawing {
  readonly client: WaylandClient;
  readonly buffers: WaylandProxy[];
  readonly surface: WaylandProxy;
  commit(buffer: number, damage: readonly number[] | null): void;
}

describe.skipIf(!westonAvailable())('grant mode copies big commits off the event loop', () => {
  let weston: WestonInstance;
  let bridge: Bridge | undefined;
  let lifecycle: Lifecycle | undefined;
  let backend: GrantBackend;
  const clients: WaylandClient[] = [];
  const pools: ClientPool[] = [];

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'gw-copy-threads' });
  });
  afterAll(async () => {
    await weston?.stop();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    bridge?.close();
    lifecycle?.close();
    for (const p of pools.splice(0)) p.close();
  });

  function start(copyThreads?: CopyThreads): void {
    // No E3 oracle: extents go back at E2, as soon as the copies let them.
    const assembled = assembleBridge({
      listenPath: join(weston.runtimeDir, 'gw-copy-threads-bridge'),
      upstreamPath: weston.socketPath,
      registry,
      oracle: 'none',
      copyThreads,
    });
    ({ bridge, lifecycle } = assembled);
    backend = assembled.backend!;
  }

  function connect(path = bridge!.listenPath): WaylandClient {
    const client = WaylandClient.connect(path);
    client.attachToLoop();
    clients.push(client);
    return client;
  }

  /** A client with one surface and `frames` buffers side by side in `pool`. */
  async function drawing(pool: ClientPool, frames: number, path?: string): Promise<Drawing> {
    const client = connect(path);
    const { wl_shm: shm, wl_compositor: compositor } = await bindGlobals(client, registry, {
      wl_shm: 1,
      wl_compositor: 4,
    });
    const wlPool = shm.request('create_pool', [pool.fd, pool.size]) as WaylandProxy;
    const buffers = Array.from(
      { length: frames },
      (_, i) => wlPool.request('create_buffer', [i * FRAME, W, H, STRIDE, 0]) as WaylandProxy,
    );
    const surface = compositor.request('create_surface') as WaylandProxy;
    await client.roundtripAsync();
    return {
      client,
      buffers,
      surface,
      commit(buffer, damage) {
        surface.request('attach', [buffers[buffer]!, 0, 0]);
        surface.request('damage_buffer', damage ?? [0, 0, W, H]);
        surface.request('commit');
      },
    };
  }

  /** The bridge's state for a client's pool, found by its file. */
  function poolOf(clientPool: ClientPool): PoolState {
    const ino = fstat(clientPool.fd).ino;
    for (const t of lifecycle!.trackers)
      for (const p of t.poolStates()) if (p.file.ino === ino) return p;
    throw new Error('pool not tracked');
  }

  /** The bytes the compositor can read for the frame at `offset` of a client's pool. */
  function seenByCompositor(pool: PoolState, offset: number): Uint8Array {
    return lifecycle!.backing!.inspect(pool)!.view.slice(offset, offset + FRAME);
  }

  async function until(what: string, done: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  it('holds the committing client in order, serves the others meanwhile, then shows the frames', async () => {
    const threads = new GatedCopyThreads(2, silentLogger);
    start(threads);
    try {
      const painterPool = new ClientPool(2 * FRAME, true);
      pools.push(painterPool);
      const painter = await drawing(painterPool, 2);
      const bystander = connect();
      await bystander.roundtripAsync();

      // Frame 1: full damage, a copy for the threads, which wait at the gate.
      painterPool.noise(0, 1);
      painter.commit(0, null);
      let painterSynced = false;
      const painterSync = painter.client.roundtripAsync().then(() => (painterSynced = true));
      // Frame 2, sent behind it: the other buffer, with a big partial damage.
      painterPool.noise(FRAME, 2);
      painterPool.fill(FRAME, [100, 100, 700, 500], 0xff00ff00);
      painter.commit(1, [0, 0, W, H]);
      painter.commit(1, [100, 100, 700, 500]);
      const painterSync2 = painter.client.roundtripAsync();
      await until('the copy of frame 1 is asked for', () => threads.started === 1);

      // The bystander's roundtrips come back while the painter's copy has not started.
      for (let i = 0; i < 3; i++) await bystander.roundtripAsync();
      expect(threads.started).toBe(1);
      // Nothing the painter sent after its commit went out or was even handled: its
      // sync is unanswered and the bridge has seen no second commit.
      expect(painterSynced).toBe(false);
      expect(lifecycle!.backing!.stats.commits).toBe(1);

      threads.open();
      await painterSync;
      await painterSync2;
      const pool = poolOf(painterPool);
      expect(firstDifference(seenByCompositor(pool, 0), painterPool.frame(0))).toBe(-1);
      expect(firstDifference(seenByCompositor(pool, FRAME), painterPool.frame(FRAME))).toBe(-1);
      const stats = lifecycle!.backing!.stats;
      expect(stats.commits).toBe(3);
      expect(stats.bytesMissing).toBe(0);
      expect(threads.started).toBe(3); // every copy was big enough for the threads
    } finally {
      threads.open();
      threads.close();
    }
  });

  it('copies frames split between threads correctly, mapped or read with pread', async () => {
    start();
    for (const sealed of [true, false]) {
      const clientPool = new ClientPool(FRAME, sealed);
      pools.push(clientPool);
      const d = await drawing(clientPool, 1);
      clientPool.noise(0, sealed ? 3 : 4);
      d.commit(0, null);
      await d.client.roundtripAsync();
      const pool = poolOf(clientPool);
      expect(firstDifference(seenByCompositor(pool, 0), clientPool.frame(0))).toBe(-1);
      // A narrow rectangle: strided rows, cut between rows into each thread's share.
      const rect = [37, 11, 301, 700];
      expect(301 * 700 * 4).toBeGreaterThan(INLINE_COPY_BYTES);
      clientPool.fill(0, rect, 0xff123456);
      d.commit(0, rect);
      await d.client.roundtripAsync();
      expect(firstDifference(seenByCompositor(pool, 0), clientPool.frame(0))).toBe(-1);
    }
    expect(lifecycle!.backing!.stats.bytesMissing).toBe(0);
  });

  it('gives back what a copy uses only once it is done: a client gone, a bridge shut down', async () => {
    const threads = new GatedCopyThreads(2, silentLogger);
    start(threads);
    try {
      // A client that leaves while its commit is being copied (pread from a dup of its
      // fd): its session ends, and its extent goes back, once the copy is done.
      const firstPool = new ClientPool(FRAME, false);
      pools.push(firstPool);
      const first = await drawing(firstPool, 1);
      firstPool.noise(0, 5);
      first.commit(0, null);
      first.client.flush();
      await until('the first copy is asked for', () => threads.started === 1);
      first.client.close();
      clients.splice(clients.indexOf(first.client), 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(backend.stats().refsInUse).toBeGreaterThan(0);
      threads.open();
      await until('the session is closed', () => bridge!.sessionCount === 0);
      await until('the extent is reclaimed', () => backend.stats().refsInUse === 0);
      expect(lifecycle!.backing!.copiesInFlight).toBe(0);

      // The bridge shut down while a copy (through the joint mapping) runs: the extent
      // and the backend stay until it is done.
      threads.shut();
      const secondPool = new ClientPool(FRAME, true);
      pools.push(secondPool);
      const second = await drawing(secondPool, 1);
      secondPool.noise(0, 6);
      second.commit(0, null);
      second.client.flush();
      await until('the second copy is asked for', () => threads.started === 2);
      second.client.close();
      clients.splice(clients.indexOf(second.client), 1);
      bridge!.close();
      lifecycle!.close();
      lifecycle = undefined;
      expect(backend.stats().refsInUse).toBeGreaterThan(0);
      threads.open();
      await until('the extent is given back', () => backend.stats().refsInUse === 0);
    } finally {
      threads.open();
      threads.close();
    }
  });

  it('a grantway proxy that has copied on its threads still exits at SIGTERM', async () => {
    const proxy = await startProxyProcess({
      listenPath: join(weston.runtimeDir, 'gw-copy-threads-proxy'),
      upstreamPath: weston.socketPath,
    });
    try {
      const clientPool = new ClientPool(FRAME, true);
      pools.push(clientPool);
      const d = await drawing(clientPool, 1, proxy.listenPath);
      clientPool.noise(0, 7);
      d.commit(0, null);
      await d.client.roundtripAsync();
      d.client.close();
      clients.splice(clients.indexOf(d.client), 1);
    } finally {
      await proxy.stop(); // SIGTERM, and SIGKILL 5 s later if it has not exited
    }
    expect(proxy.exited()).toEqual({ code: 0, signal: null });
  });
});
