// The bridge judges what libwayland-server judges, the same way: a client must not be
// refused through the bridge for what the compositor accepts directly, and must get
// the same error code for what it refuses. Against real compositors (the embedded one
// and weston headless, direct and through the bridge in both modes), and for what no
// real compositor here shows on demand — a bind that crosses global_remove — against
// a scripted compositor that plays libwayland-server's part.

import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../bridge/log.js';
import { Bridge } from '../bridge/relay/bridge.js';
import { close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import { FakeCompositor } from './support/fake-compositor.js';
import { RawClient } from './support/raw-client.js';
import { event, RawPeer, registry, request } from './support/raw-peer.js';
import { COMPOSITORS, type RunningCompositor, startCompositor } from './support/compositors.js';
import { startTestBridge, type TestBridge } from './support/test-bridge.js';

const getRegistry = request('wl_display', 'get_registry');
const bind = request('wl_registry', 'bind');
const global = event('wl_registry', 'global');
const globalRemove = event('wl_registry', 'global_remove');
const displayError = event('wl_display', 'error');
const createPool = request('wl_shm', 'create_pool');
const resize = request('wl_shm_pool', 'resize');
const outputRelease = request('wl_output', 'release');
const outputDone = event('wl_output', 'done');

const WL_SHM_INVALID_FD = 2;

describe('a bind that crosses global_remove (scripted libwayland compositor)', () => {
  let compositor: FakeCompositor;
  let bridge: Bridge;
  const peers: RawPeer[] = [];

  beforeAll(() => {
    compositor = new FakeCompositor();
    bridge = Bridge.start({
      listenPath: join(compositor.dir, 'bridge'),
      upstreamPath: compositor.path,
      registry,
      log: silentLogger,
    });
  });
  afterAll(() => {
    for (const p of peers.splice(0)) p.close();
    bridge.close();
    compositor.close();
  });

  /** A client with its registry (id 2), and the compositor's end of its connection. */
  async function connect(index: number): Promise<{ c: RawPeer; up: RawPeer }> {
    const c = RawPeer.connect(bridge.listenPath);
    peers.push(c);
    c.send(1, getRegistry, [2]);
    const up = await compositor.connection(index);
    await up.until(() => up.received.length === 1, 5000, 'get_registry');
    return { c, up };
  }

  it('is passed on, and the object it makes is relayed both ways', async () => {
    const { c, up } = await connect(0);
    up.send(2, global, [5, 'wl_output', 4]);
    await c.until(() => c.received.length === 1, 5000, 'the global');
    // An output unplugged: the compositor removes the global (libwayland's
    // wl_global_remove) while the client, which has not read that yet, binds it.
    up.send(2, globalRemove, [5]);
    c.send(2, bind, [5, { interface: 'wl_output', version: 4, id: 3 }]);
    await up.until(() => up.received.length === 2, 5000, 'the bind upstream');
    expect(up.decode(up.received[1]!, bind.spec)).toEqual([
      5,
      { interface: 'wl_output', version: 4, id: 3 },
    ]);
    // libwayland-server still knows the global until it is destroyed, and the
    // compositor makes an (inert) wl_output: its events reach the client, and the
    // client's requests on it reach the compositor.
    up.send(3, outputDone, []);
    await c.until(() => c.received.length === 3, 5000, 'global_remove and done');
    expect(c.received.map((m) => [m.objectId, m.opcode])).toEqual([
      [2, global.opcode],
      [2, globalRemove.opcode],
      [3, outputDone.opcode],
    ]);
    c.send(3, outputRelease, []);
    await up.until(() => up.received.length === 3, 5000, 'release upstream');
    expect(c.eof).toBe(false);
  });

  it('still refuses, as libwayland does, a global never announced or the wrong interface', async () => {
    const a = await connect(1);
    a.up.send(2, global, [5, 'wl_output', 4]);
    await a.c.until(() => a.c.received.length === 1);
    a.up.send(2, globalRemove, [5]);
    a.c.send(2, bind, [5, { interface: 'wl_seat', version: 1, id: 3 }]);
    await a.c.until(() => a.c.eof, 5000, 'disconnect');
    expect(a.c.decode(a.c.received.at(-1)!, displayError.spec)).toEqual([
      2,
      0, // invalid_object
      'invalid interface for global 5: have wl_seat, wanted wl_output',
    ]);

    const b = await connect(2);
    b.c.send(2, bind, [9, { interface: 'wl_output', version: 1, id: 3 }]);
    await b.c.until(() => b.c.eof, 5000, 'disconnect');
    expect(b.c.decode(b.c.received.at(-1)!, displayError.spec)).toEqual([
      2,
      0,
      'invalid global wl_output (9)',
    ]);
  });
});

const PATHS = ['direct', 'grant', 'passthrough'] as const;

describe.each(COMPOSITORS)('the same verdicts as the $kind compositor', ({ kind }) => {
  let compositor: RunningCompositor;
  let bridge: TestBridge | undefined;
  const fds: number[] = [];
  const clients: RawClient[] = [];

  beforeAll(async () => {
    compositor = await startCompositor(kind, `gw-parity-${kind}`);
  });
  afterAll(async () => {
    await compositor?.stop();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.peer.close();
    bridge?.close();
    bridge = undefined;
    for (const fd of fds.splice(0)) closeFd(fd);
  });

  async function client(path: (typeof PATHS)[number]): Promise<RawClient> {
    let socket = compositor.socketPath;
    if (path !== 'direct') {
      bridge ??= startTestBridge({
        listenPath: join(compositor.runtimeDir, `gw-parity-${path}`),
        upstreamPath: compositor.socketPath,
        mode: path,
      });
      socket = bridge.listenPath;
    }
    const c = await RawClient.open(socket);
    clients.push(c);
    return c;
  }

  function memfd(size: number): number {
    const fd = memfdCreate('parity');
    fds.push(fd);
    ftruncate(fd, size);
    return fd;
  }

  it.each(PATHS)(
    'a pool resized smaller, or to a negative size, is wl_shm.invalid_fd (%s)',
    async (path) => {
      for (const size of [4096, -1]) {
        const c = await client(path);
        const pool = c.newId();
        c.send(c.shm, createPool, [pool, memfd(8192), 8192]);
        c.send(pool, resize, [size]);
        await c.disconnected();
        expect(c.error()).toMatchObject({ objectId: pool, code: WL_SHM_INVALID_FD });
      }
    },
  );

  it.each(PATHS)(
    'an interface name padded with NULs ("wl_shm\\0\\0", length 8) binds as wl_shm (%s)',
    async (path) => {
      const c = await client(path);
      const shm = c.newId();
      const name = c.globals.get('wl_shm')!;
      // wl_registry.bind(name, "wl_shm\0\0", 1, shm), written by hand: no encoder
      // makes such a string.
      const body = Buffer.alloc(4 + 4 + 8 + 4 + 4);
      body.writeUInt32LE(name, 0);
      body.writeUInt32LE(8, 4);
      body.write('wl_shm', 8, 'latin1');
      body.writeUInt32LE(1, 16);
      body.writeUInt32LE(shm, 20);
      const header = Buffer.alloc(8);
      header.writeUInt32LE(2, 0);
      header.writeUInt32LE(((8 + body.length) << 16) | bind.opcode, 4);
      c.peer.sendBytes(Buffer.concat([header, body]));
      // It is a wl_shm: a pool made from it works.
      c.send(shm, createPool, [c.newId(), memfd(4096), 4096]);
      await c.roundtrip();
      expect(c.error()).toBeUndefined();
    },
  );
});
