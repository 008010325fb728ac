// The libwayland-client binding (harness/client/wayland-client.ts) against a real compositor:
// weston's headless backend, started per suite by harness/real/weston.ts. Scripted
// clients for every later integration test are built on this binding, so it must get
// the wire right, dispatch from both the blocking calls and Node's loop, and give back
// every fd and native block on close.

import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import type { InterfaceSpec } from '../bridge/protocol/types.js';
import { close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import {
  nativeBlocksInUse,
  WaylandArgumentError,
  WaylandClient,
  WaylandClosedError,
  WaylandConnectError,
  WaylandDisplayError,
  WaylandProxy,
  WaylandProxyDestroyedError,
} from '../harness/client/wayland-client.js';
import { commandAvailable, runClient } from '../harness/real/process.js';
import {
  startWeston,
  WestonStartError,
  type WestonInstance,
  westonAvailable,
} from '../harness/real/weston.js';

const protocols = new ProtocolRegistry();

function spec(name: string): InterfaceSpec {
  const found = protocols.get(name);
  if (found === undefined) throw new Error(`no spec for ${name}`);
  return found;
}

interface Global {
  readonly name: number;
  readonly interface: string;
  readonly version: number;
}

/** get_registry + one roundtrip: every global the compositor announces. */
function listGlobals(client: WaylandClient): { registry: WaylandProxy; globals: Global[] } {
  const registry = client.display.request('get_registry') as WaylandProxy;
  const globals: Global[] = [];
  registry.on('global', ([name, iface, version]) => {
    globals.push({ name: name as number, interface: iface as string, version: version as number });
  });
  client.roundtrip();
  return { registry, globals };
}

function bind(registry: WaylandProxy, globals: Global[], name: string, version = 1): WaylandProxy {
  const global = globals.find((g) => g.interface === name);
  if (global === undefined) throw new Error(`compositor has no ${name}`);
  return registry.request('bind', [global.name, spec(name), version]) as WaylandProxy;
}

function enumValue(iface: string, enumName: string, entry: string): number {
  const value = spec(iface)
    .enums.find((e) => e.name === enumName)
    ?.entries.find((e) => e.name === entry)?.value;
  if (value === undefined) throw new Error(`no ${iface}.${enumName}.${entry}`);
  return value;
}

const openFdCount = (): number => readdirSync('/proc/self/fd').length;

describe('WaylandClient.connect without a compositor', () => {
  it('fails with WaylandConnectError naming the socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grantway-noweston-'));
    const socket = join(dir, 'nobody-here');
    try {
      const attempt = (): WaylandClient => WaylandClient.connect(socket);
      expect(attempt).toThrow(WaylandConnectError);
      expect(attempt).toThrow(socket);
      try {
        attempt();
      } catch (error) {
        expect((error as WaylandConnectError).code).toBe('ERR_WAYLAND_CONNECT');
        expect((error as WaylandConnectError).errnoName).toBe('ENOENT');
      }
      expect(nativeBlocksInUse()).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const haveWeston = westonAvailable();

describe.skipIf(!haveWeston)('the weston harness', () => {
  it('reports an early exit with weston’s output, leaving nothing behind', async () => {
    const attempt = startWeston({ extraArgs: ['--backend=grantway-no-such-backend.so'] });
    const error = (await attempt.then(
      () => new Error('weston started with a missing backend'),
      (e: unknown) => e,
    )) as WestonStartError;
    expect(error).toBeInstanceOf(WestonStartError);
    expect(error.code).toBe('ERR_WESTON_START');
    expect(error.message).toContain('exited early');
    expect(error.output).toContain('grantway-no-such-backend');
    expect(existsSync(error.runtimeDir)).toBe(false);
  });
});

describe.skipIf(!haveWeston)(
  `libwayland-client binding against weston headless${haveWeston ? '' : ' (skipped: no weston on PATH)'}`,
  () => {
    let weston: WestonInstance;

    beforeAll(async () => {
      weston = await startWeston();
    });

    afterAll(async () => {
      await weston?.stop();
    });

    it('lists wl_compositor, wl_shm and xdg_wm_base among the globals', () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        expect(client.display.id).toBe(1);
        expect(client.display.interface.name).toBe('wl_display');
        const { registry, globals } = listGlobals(client);
        expect(registry.interface.name).toBe('wl_registry');
        const names = globals.map((g) => g.interface);
        expect(names).toEqual(expect.arrayContaining(['wl_compositor', 'wl_shm', 'xdg_wm_base']));
        for (const g of globals) expect(g.version).toBeGreaterThanOrEqual(1);
      } finally {
        client.close();
      }
    });

    it('binds wl_compositor and creates a surface', () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        const { registry, globals } = listGlobals(client);
        const compositor = bind(registry, globals, 'wl_compositor', 4);
        expect(compositor.version).toBe(4);
        const surface = compositor.request('create_surface') as WaylandProxy;
        expect(surface).toBeInstanceOf(WaylandProxy);
        expect(surface.interface.name).toBe('wl_surface');
        expect(surface.version).toBe(4);
        expect(surface.id).toBeGreaterThan(compositor.id);
        client.roundtrip();
        surface.destroy();
        expect(surface.alive).toBe(false);
        expect(() => surface.request('commit')).toThrow(WaylandProxyDestroyedError);
        client.roundtrip();
      } finally {
        client.close();
      }
    });

    it('completes 1000 blocking roundtrips', () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        const micros: number[] = [];
        for (let i = 0; i < 1000; i++) {
          const start = process.hrtime.bigint();
          client.roundtrip();
          micros.push(Number(process.hrtime.bigint() - start) / 1000);
        }
        micros.sort((a, b) => a - b);
        const median = micros[500] ?? Number.NaN;
        console.info(`roundtrip() to weston: median ${median.toFixed(1)} µs over 1000`);
        expect(median).toBeGreaterThan(0);
      } finally {
        client.close();
      }
    });

    it('flush() sends, dispatchPending() only dispatches what was read; done ends the callback', () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        const callback = client.display.request('sync') as WaylandProxy;
        const done: number[] = [];
        callback.on('done', ([data]) => done.push(data as number));
        expect(client.flush()).toBe(true);
        expect(client.dispatchPending()).toBe(0);
        expect(done).toEqual([]);
        client.roundtrip();
        expect(done).toHaveLength(1);
        // wl_callback.done is a destructor event: the proxy is gone with it.
        expect(callback.alive).toBe(false);
      } finally {
        client.close();
      }
    });

    it('dispatches from the event loop: roundtripAsync resolves, globals arrive', async () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        client.attachToLoop();
        expect(client.attached).toBe(true);
        const registry = client.display.request('get_registry') as WaylandProxy;
        const seen: string[] = [];
        registry.on('global', (args) => seen.push(args[1] as string));
        await client.roundtripAsync();
        expect(seen).toContain('wl_compositor');
        // Many in flight at once, all through the loop.
        await Promise.all(Array.from({ length: 50 }, () => client.roundtripAsync()));
        // Blocking calls still work while attached.
        client.roundtrip();
        await client.roundtripAsync();
      } finally {
        client.close();
      }
    });

    it('receives wl_shm.format argb8888 (0) and xrgb8888 (1)', async () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        const { registry, globals } = listGlobals(client);
        client.attachToLoop();
        const shm = bind(registry, globals, 'wl_shm');
        const formats: number[] = [];
        shm.on('format', ([format]) => formats.push(format as number));
        await client.roundtripAsync();
        expect(formats).toContain(0);
        expect(formats).toContain(1);
      } finally {
        client.close();
      }
    });

    it('creates a wl_shm_pool from a memfd and a wl_buffer, attaches, commits, destroys', () => {
      const client = WaylandClient.connect(weston.socketPath);
      const width = 64;
      const height = 32;
      const size = width * height * 4;
      const memfd = memfdCreate('grantway-test-pool');
      try {
        ftruncate(memfd, size);
        const { registry, globals } = listGlobals(client);
        const compositor = bind(registry, globals, 'wl_compositor', 4);
        const shm = bind(registry, globals, 'wl_shm');
        const surface = compositor.request('create_surface') as WaylandProxy;
        const pool = shm.request('create_pool', [memfd, size]) as WaylandProxy;
        expect(pool.interface.name).toBe('wl_shm_pool');
        // libwayland sent its own dup of the fd: ours may go right away.
        closeFd(memfd);
        const buffer = pool.request('create_buffer', [0, width, height, width * 4, 1]);
        expect(buffer?.interface.name).toBe('wl_buffer');
        surface.request('attach', [buffer as WaylandProxy, 0, 0]);
        surface.request('damage', [0, 0, width, height]);
        surface.request('commit');
        client.roundtrip();
        // Detach (nullable object), then tear down in the usual order.
        surface.request('attach', [null, 0, 0]);
        surface.request('commit');
        buffer?.destroy();
        pool.destroy();
        surface.destroy();
        client.roundtrip();
        expect(buffer?.alive).toBe(false);
        expect(pool.alive).toBe(false);
      } finally {
        client.close();
      }
    });

    it('turns a compositor protocol error into WaylandDisplayError', () => {
      const client = WaylandClient.connect(weston.socketPath);
      const memfd = memfdCreate('grantway-test-bad-stride');
      try {
        ftruncate(memfd, 4096);
        const { registry, globals } = listGlobals(client);
        const shm = bind(registry, globals, 'wl_shm');
        const pool = shm.request('create_pool', [memfd, 4096]) as WaylandProxy;
        // stride smaller than width * 4: wl_shm.error.invalid_stride, posted on the pool.
        pool.request('create_buffer', [0, 32, 32, 4, 1]);
        let caught: unknown;
        try {
          client.roundtrip();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(WaylandDisplayError);
        const error = caught as WaylandDisplayError;
        expect(error.code).toBe('ERR_WAYLAND_DISPLAY');
        expect(error.protocolError).toEqual({
          interfaceName: 'wl_shm_pool',
          objectId: pool.id,
          code: enumValue('wl_shm', 'error', 'invalid_stride'),
        });
        // The display stays dead.
        expect(() => client.roundtrip()).toThrow(WaylandDisplayError);
      } finally {
        closeFd(memfd);
        client.close();
      }
    });

    it('rejects roundtripAsync with WaylandDisplayError when the loop sees a protocol error', async () => {
      const client = WaylandClient.connect(weston.socketPath);
      const memfd = memfdCreate('grantway-test-bad-stride-async');
      try {
        ftruncate(memfd, 4096);
        const { registry, globals } = listGlobals(client);
        const shm = bind(registry, globals, 'wl_shm');
        client.attachToLoop();
        const pool = shm.request('create_pool', [memfd, 4096]) as WaylandProxy;
        pool.request('create_buffer', [0, 32, 32, 4, 1]);
        await expect(client.roundtripAsync()).rejects.toBeInstanceOf(WaylandDisplayError);
        expect(client.attached).toBe(false);
      } finally {
        closeFd(memfd);
        client.close();
      }
    });

    it('rethrows an event handler’s exception from the call that dispatched it', () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        const { registry, globals } = listGlobals(client);
        const shm = bind(registry, globals, 'wl_shm');
        const formats: number[] = [];
        shm.on('format', () => {
          throw new Error('handler bug');
        });
        shm.on('format', ([format]) => formats.push(format as number));
        expect(() => client.roundtrip()).toThrow(/handler bug|handlers threw/);
        // The other handler still ran, and the client is still usable.
        expect(formats).toContain(0);
        client.roundtrip();
      } finally {
        client.close();
      }
    });

    it('rejects bad arguments before libwayland sees them (it would abort)', () => {
      const client = WaylandClient.connect(weston.socketPath);
      try {
        const { registry, globals } = listGlobals(client);
        const compositor = bind(registry, globals, 'wl_compositor', 4);
        const shm = bind(registry, globals, 'wl_shm');
        const surface = compositor.request('create_surface') as WaylandProxy;
        const bad = (run: () => unknown): void => {
          expect(run).toThrow(WaylandArgumentError);
        };
        bad(() => surface.request('attach', [compositor, 0, 0])); // wrong interface
        bad(() => surface.request('damage', [0, 0, 1])); // missing argument
        bad(() => surface.request('damage', [0, 0, 1, 1, 1])); // one too many
        bad(() => surface.request('damage', [0, 0, 1.5, 1])); // not an int
        bad(() => surface.request('set_buffer_scale', ['2'])); // not a number
        bad(() => shm.request('create_pool', [987_654, 4096])); // fd not open
        bad(() => registry.request('bind', [1, spec('wl_compositor'), 99])); // above spec
        expect(() => surface.request('no_such_request')).toThrow(/no such message/);
        // Nothing reached the compositor: the connection is still healthy.
        client.roundtrip();
      } finally {
        client.close();
      }
    });

    it('maps an xdg_toplevel: configure (with its states array), ack, buffer, frame done', async () => {
      const client = WaylandClient.connect(weston.socketPath);
      const width = 48;
      const height = 40;
      const size = width * height * 4;
      const memfd = memfdCreate('grantway-test-toplevel');
      try {
        ftruncate(memfd, size);
        const { registry, globals } = listGlobals(client);
        const compositor = bind(registry, globals, 'wl_compositor', 4);
        const shm = bind(registry, globals, 'wl_shm');
        const wmGlobal = globals.find((g) => g.interface === 'xdg_wm_base');
        const wmVersion = Math.min(wmGlobal?.version ?? 1, spec('xdg_wm_base').version);
        const wmBase = bind(registry, globals, 'xdg_wm_base', wmVersion);
        wmBase.on('ping', ([serial]) => wmBase.request('pong', [serial as number]));

        const surface = compositor.request('create_surface') as WaylandProxy;
        const xdgSurface = wmBase.request('get_xdg_surface', [surface]) as WaylandProxy;
        const toplevel = xdgSurface.request('get_toplevel') as WaylandProxy;
        toplevel.request('set_title', ['grantway test']);
        const configures: { width: number; height: number; states: Uint8Array }[] = [];
        toplevel.on('configure', ([w, h, states]) => {
          configures.push({
            width: w as number,
            height: h as number,
            states: states as Uint8Array,
          });
        });
        const serials: number[] = [];
        xdgSurface.on('configure', ([s]) => {
          serials.push(s as number);
        });
        surface.request('commit');
        client.roundtrip();
        expect(configures.length).toBeGreaterThan(0);
        expect(configures[0]?.states).toBeInstanceOf(Uint8Array);
        expect((configures[0]?.states.length ?? 1) % 4).toBe(0);
        const serial = serials.at(-1);
        expect(serial).toBeTypeOf('number');
        xdgSurface.request('ack_configure', [serial as number]);

        const pool = shm.request('create_pool', [memfd, size]) as WaylandProxy;
        const buffer = pool.request('create_buffer', [0, width, height, width * 4, 1]);
        client.attachToLoop();
        const frameDone = new Promise<number>((resolve) => {
          const frame = surface.request('frame') as WaylandProxy;
          frame.on('done', ([time]) => resolve(time as number));
        });
        surface.request('attach', [buffer as WaylandProxy, 0, 0]);
        surface.request('damage', [0, 0, width, height]);
        surface.request('commit');
        const time = await frameDone;
        expect(typeof time).toBe('number');
        toplevel.destroy();
        xdgSurface.destroy();
        surface.destroy();
        buffer?.destroy();
        pool.destroy();
        await client.roundtripAsync();
      } finally {
        closeFd(memfd);
        client.close();
      }
    });

    it('gives a real client the env to find weston (runClient + wayland-info)', async (ctx) => {
      if (!commandAvailable('wayland-info')) ctx.skip();
      const result = await runClient('wayland-info', [], weston.env, 10_000);
      expect(result.timedOut).toBe(false);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toContain('wl_compositor');
    });

    it('close() leaves no fd open, no native block, and no usable proxy', async () => {
      const cycle = async (): Promise<void> => {
        const client = WaylandClient.connect(weston.socketPath);
        const { registry, globals } = listGlobals(client);
        const shm = bind(registry, globals, 'wl_shm');
        shm.on('format', () => {});
        client.attachToLoop();
        await client.roundtripAsync();
        const pending = client.roundtripAsync();
        client.close();
        await expect(pending).rejects.toBeInstanceOf(WaylandClosedError);
        expect(registry.alive).toBe(false);
        expect(() => client.roundtrip()).toThrow(WaylandClosedError);
        client.close();
      };
      await cycle(); // warm-up: anything opened once per process
      const before = openFdCount();
      await cycle();
      expect(openFdCount()).toBe(before);
      expect(nativeBlocksInUse()).toBe(0);
    });
  },
);
