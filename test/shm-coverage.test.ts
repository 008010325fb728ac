// What a pool costs follows what its live buffers cover, driven message by message by a
// raw client and a scripted compositor in grant mode: foot's scroll (each new buffer a
// few rows further into the pool, the old one released, destroyed and retired), a
// buffer destroyed while shown, overlapping buffers counted once, the client's holes
// never copied, and maxPoolSize checked at create_buffer against covered bytes.

import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  F_SEAL_SHRINK,
  addSeals,
  close as closeFd,
  fstat,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
  PROT_READ,
  PROT_WRITE,
  punchHole,
} from '../ffi/libc.js';
import { assembleBridge } from '../bridge/assembly/assemble.js';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import type { ClientLimits } from '../bridge/relay/limits.js';
import type { LifecycleEvent } from '../bridge/shm/events.js';
import type { Lifecycle } from '../bridge/shm/lifecycle.js';
import type { PoolState } from '../bridge/shm/state.js';
import { FakeCompositor } from './support/fake-compositor.js';
import { RawPeer, event, registry, request } from './support/raw-peer.js';

const getRegistry = request('wl_display', 'get_registry');
const bind = request('wl_registry', 'bind');
const global = event('wl_registry', 'global');
const deleteId = event('wl_display', 'delete_id');
const displayError = event('wl_display', 'error');
const createPool = request('wl_shm', 'create_pool');
const createBuffer = request('wl_shm_pool', 'create_buffer');
const bufferDestroy = request('wl_buffer', 'destroy');
const release = event('wl_buffer', 'release');
const createSurface = request('wl_compositor', 'create_surface');
const attach = request('wl_surface', 'attach');
const commit = request('wl_surface', 'commit');

const PAGE = 4096;
const POOL = 1024 * PAGE; // 4 MiB declared
/** A buffer of 64 rows × 1024 bytes (256 px): 16 pages. */
const ROWS = 64;
const STRIDE = 1024;

let compositor: FakeCompositor;
let bridge: Bridge;
let lifecycle: Lifecycle;
let backend: MemfdGrantBackend;
let events: LifecycleEvent[];
const peers: RawPeer[] = [];
const fds: number[] = [];

function start(mode: 'grant' | 'passthrough', limits: Partial<ClientLimits> = {}): void {
  // No E3 oracle (the compositor is this very process): extents go back at E2.
  const assembled = assembleBridge({
    listenPath: join(compositor.dir, 'bridge'),
    upstreamPath: compositor.path,
    registry,
    mode,
    oracle: 'none',
    backend: { kind: 'custom', create: (remote) => (backend = new MemfdGrantBackend({ remote })) },
    sinks: [(e) => events.push(e)],
    limits,
  });
  ({ bridge, lifecycle } = assembled);
}

beforeEach(() => {
  compositor = new FakeCompositor();
  events = [];
});

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  bridge.close();
  lifecycle.close();
  compositor.close();
  for (const fd of fds.splice(0)) closeFd(fd);
});

const ID = { registry: 2, shm: 3, compositor: 4, pool: 5, surface: 6 };

/** A client with wl_shm, wl_compositor, a surface and a 4 MiB pool drawn all over. */
async function setup(sealed = false): Promise<{ c: RawPeer; up: RawPeer; memfd: number }> {
  const c = RawPeer.connect(bridge.listenPath);
  peers.push(c);
  c.send(1, getRegistry, [ID.registry]);
  const up = await compositor.connection(0);
  await up.until(() => up.received.length === 1);
  up.send(ID.registry, global, [1, 'wl_shm', 1]);
  up.send(ID.registry, global, [2, 'wl_compositor', 4]);
  await c.until(() => c.received.length === 2);
  c.send(ID.registry, bind, [1, { interface: 'wl_shm', version: 1, id: ID.shm }]);
  c.send(ID.registry, bind, [2, { interface: 'wl_compositor', version: 4, id: ID.compositor }]);
  const memfd = memfdCreate('pool');
  fds.push(memfd);
  ftruncate(memfd, POOL);
  const ptr = mmap(memfd, POOL, PROT_READ | PROT_WRITE);
  nativeView(ptr, POOL).fill(0x33);
  munmap(ptr, POOL);
  if (sealed) addSeals(memfd, F_SEAL_SHRINK); // read through a mapping, not pread
  c.send(ID.shm, createPool, [ID.pool, memfd, POOL]);
  c.send(ID.compositor, createSurface, [ID.surface]);
  return { c, up, memfd };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const count = (type: LifecycleEvent['type']): number =>
  events.filter((e) => e.type === type).length;

function pool(): PoolState {
  return [...[...lifecycle.trackers][0]!.poolStates()][0]!;
}

/** Pages granted, and pages the extent's file really holds. */
function extentPages(): { granted: number; resident: number } {
  const extent = lifecycle.backing!.inspect(pool())!.extent;
  return {
    granted: backend.grantedPages(extent),
    resident: fstat(extent.fd!).allocated / PAGE,
  };
}

/** Creates buffer `id` at `offset`, attaches and commits it. */
async function show(c: RawPeer, id: number, offset: number): Promise<void> {
  const committed = count('buffer-committed');
  c.send(ID.pool, createBuffer, [id, offset, STRIDE / 4, ROWS, STRIDE, 0]);
  c.send(ID.surface, attach, [id, 0, 0]);
  c.send(ID.surface, commit, []);
  await until(() => count('buffer-committed') > committed, `commit of ${id}`);
}

/** The compositor releases `id`, the client destroys it, the compositor retires it. */
async function retire(c: RawPeer, up: RawPeer, id: number, released = true): Promise<void> {
  const releases = count('buffer-released');
  if (released) up.send(id, release, []);
  await until(() => !released || count('buffer-released') > releases, `release of ${id}`);
  c.send(id, bufferDestroy, []);
  await up.until(() => up.received.some((m) => m.objectId === id && m.opcode === 0));
  const acked = count('delete-acked');
  up.send(1, deleteId, [id]);
  await until(() => count('delete-acked') > acked, `delete_id ${id}`);
}

describe('what a pool costs follows what its buffers cover', () => {
  it("foot's scroll: the granted pages move with the buffers, the extent holds no more", async () => {
    start('grant');
    const { c, up } = await setup();
    await until(() => lifecycle.backing?.extentsInUse === 1, 'extent');
    expect(extentPages()).toEqual({ granted: 0, resident: 0 }); // 4 MiB declared, nothing used
    await show(c, 7, 0);
    expect(extentPages()).toEqual({ granted: 16, resident: 16 });
    // Scroll: a new buffer 4 pages further, overlapping the old one.
    let offset = 0;
    for (let id = 8; id < 28; id++) {
      offset += 4 * PAGE;
      await show(c, id, offset);
      // Until the compositor retired the old buffer, both count (once where they overlap).
      expect(pool().coverage.covered).toBe(20);
      await retire(c, up, id - 1);
      expect(extentPages()).toEqual({ granted: 16, resident: 16 });
      expect(pool().coverage.ranges()).toEqual([{ first: offset / PAGE, end: offset / PAGE + 16 }]);
    }
    // 21 buffers shown across 96 pages of the pool; the extent held 16 to 20 at a time.
    expect(backend.stats()).toMatchObject({ refsInUse: 16, pagesGranted: 16 + 20 * 4 });
    expect([...lifecycle.trackers][0]!.held().bytes).toBe(16 * PAGE);
  });

  it('a buffer destroyed while shown keeps its pages; released first, it gives them back', async () => {
    start('grant');
    const { c, up } = await setup();
    await show(c, 7, 0);
    await show(c, 8, 64 * PAGE); // 7 is still shown, never released
    await retire(c, up, 7, false);
    expect(extentPages().granted).toBe(32); // the compositor may still draw 7
    c.send(8, bufferDestroy, []);
    up.send(8, release, []); // sent before the compositor saw the destroy
    await up.until(() => up.received.some((m) => m.objectId === 8 && m.opcode === 0));
    await until(() => count('buffer-destroyed') === 2, 'destroy of 8');
    up.send(1, deleteId, [8]);
    await until(() => count('delete-acked') === 2, 'delete_id 8');
    expect(extentPages().granted).toBe(16);
    expect(pool().coverage.ranges()).toEqual([{ first: 0, end: 16 }]);
  });

  it.each([
    ['sealed (read through a mapping)', true],
    ['unsealed (read with pread)', false],
  ] as const)('leaves the holes of a client pool out of the extent: %s', async (_name, sealed) => {
    start('grant');
    const { c, memfd } = await setup(sealed);
    // The client never drew the middle of its next buffer (a hole in its file).
    punchHole(memfd, 4 * PAGE, 8 * PAGE);
    await show(c, 7, 0);
    expect(extentPages()).toEqual({ granted: 16, resident: 8 });
    expect(lifecycle.backing!.stats.bytesDiscarded).toBe(8 * PAGE);
    expect(fstat(memfd).allocated).toBe(POOL - 8 * PAGE); // the bridge read no hole in
    const view = lifecycle.backing!.inspect(pool())!.view;
    expect([view[4 * PAGE - 1], view[4 * PAGE], view[12 * PAGE - 1], view[12 * PAGE]]).toEqual([
      0x33, 0, 0, 0x33,
    ]);
  });

  it.each(['grant', 'passthrough'] as const)(
    '%s mode: maxPoolSize counts covered bytes, overlaps once, checked at create_buffer',
    async (mode) => {
      start(mode, { maxPoolSize: 32 * PAGE });
      const { c } = await setup(); // 4 MiB declared: fine
      c.send(ID.pool, createBuffer, [7, 0, STRIDE / 4, ROWS, STRIDE, 0]);
      c.send(ID.pool, createBuffer, [8, 0, STRIDE / 4, ROWS, STRIDE, 0]); // the same pages
      c.send(ID.pool, createBuffer, [9, 8 * PAGE, STRIDE / 4, ROWS, STRIDE, 0]); // 24 pages
      c.send(ID.pool, createBuffer, [10, 16 * PAGE, STRIDE / 4, ROWS, STRIDE, 0]); // 32
      await until(() => count('buffer-created') === 4, 'four buffers');
      expect([...lifecycle.trackers][0]!.held().bytes).toBe(32 * PAGE);
      c.send(ID.pool, createBuffer, [11, 32 * PAGE, STRIDE / 4, 1, STRIDE, 0]); // a page more
      await c.until(() => c.eof, 5000, 'disconnect');
      const [objectId, code, message] = c.decode(c.received.at(-1)!, displayError.spec);
      expect([objectId, code]).toEqual([1, 2]); // wl_display.no_memory
      expect(message).toBe(
        `wl_shm_pool.create_buffer 256x1 at offset ${32 * PAGE}, its buffers would cover ` +
          `${33 * PAGE} bytes: over the per-client limit maxPoolSize = ${32 * PAGE} bytes`,
      );
      if (mode === 'grant') expect(backend.stats().pagesGranted).toBe(32);
    },
  );
});
