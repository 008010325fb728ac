// A scripted wl_shm client through the real libwayland-client (./wayland-client.ts),
// for tests and demos that need to drive buffer lifetimes precisely: memfd pools
// (sealed or not), buffers with known pixels, an xdg_toplevel that is configured and
// mapped, commits that wait for their frame callback, and release events timestamped
// as they arrive. It runs on Node's event loop (attachToLoop), so it works against a
// compositor in this process as well as in another.

import {
  addSeals,
  close as closeFd,
  F_SEAL_SHRINK,
  fstat,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  type NativePointer,
  nativeView,
  PROT_READ,
  PROT_WRITE,
} from '../../ffi/libc.js';
import { WaylandClient, type WaylandProxy } from './wayland-client.js';
import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { InterfaceSpec } from '../../bridge/protocol/types.js';
import { ShmFormat } from '../compositor/shm.js';

const protocols = new ProtocolRegistry();

function spec(name: string): InterfaceSpec {
  const found = protocols.get(name);
  if (found === undefined) throw new Error(`no protocol table for ${name}`);
  return found;
}

/** A memfd pool as the client holds it: the fd, a read-write mapping, the proxy. */
export class ScriptedPool {
  /** Inode of the memfd: what /proc/PID/maps of the compositor shows while mapped. */
  readonly ino: bigint;
  #ptr: NativePointer | null;

  constructor(
    readonly proxy: WaylandProxy,
    readonly fd: number,
    readonly size: number,
  ) {
    this.ino = fstat(fd).ino;
    this.#ptr = mmap(fd, size, PROT_READ | PROT_WRITE);
  }

  /** The client's own view of the pool's bytes (valid until destroy()). */
  bytes(): Uint8Array {
    if (this.#ptr === null) throw new Error('pool unmapped');
    return nativeView(this.#ptr, this.size);
  }

  /** Shrinks the file under the compositor (what a hostile client does). */
  truncate(size: number): void {
    ftruncate(this.fd, size);
  }

  /** wl_shm_pool.destroy, if not yet sent. The client's fd and mapping stay. */
  destroyProxy(): void {
    if (this.proxy.alive) this.proxy.destroy();
  }

  /** Destroys the proxy and frees the client's side (mapping and fd). */
  destroy(): void {
    this.destroyProxy();
    if (this.#ptr !== null) munmap(this.#ptr, this.size);
    this.#ptr = null;
    if (this.fd >= 0) closeFd(this.fd);
  }
}

/** One wl_buffer with the times its release events arrived. */
export class ScriptedBuffer {
  /** performance.now() of each wl_buffer.release received. */
  readonly releases: number[] = [];
  #waiters: (() => void)[] = [];

  constructor(
    readonly proxy: WaylandProxy,
    readonly pool: ScriptedPool,
    readonly offset: number,
    readonly width: number,
    readonly height: number,
  ) {
    proxy.on('release', () => {
      this.releases.push(performance.now());
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Fills the buffer with one 32-bit pixel value (0xAARRGGBB). */
  fill(pixel: number): void {
    const view = new DataView(this.pool.bytes().buffer, this.pool.bytes().byteOffset);
    for (let i = 0; i < this.width * this.height; i++) {
      view.setUint32(this.offset + i * 4, pixel >>> 0, true);
    }
  }

  /** Resolves with the time of release number `count` (1 = the first), once it came. */
  released(count = 1): Promise<number> {
    if (this.releases.length >= count) return Promise.resolve(this.releases[count - 1]!);
    return new Promise((resolve) => {
      const wait = (): void => {
        if (this.releases.length >= count) resolve(this.releases[count - 1]!);
        else this.#waiters.push(wait);
      };
      this.#waiters.push(wait);
    });
  }

  destroy(): void {
    if (this.proxy.alive) this.proxy.destroy();
  }
}

export interface ScriptedWindowOptions {
  readonly title?: string;
  readonly appId?: string;
  /** Called with display errors seen on the event loop (default: rethrown). */
  readonly onError?: (error: Error) => void;
}

/** A connected client with one mapped-on-first-commit xdg_toplevel. */
export class ScriptedWindow {
  readonly client: WaylandClient;
  readonly compositor: WaylandProxy;
  readonly shm: WaylandProxy;
  readonly wmBase: WaylandProxy;
  readonly surface: WaylandProxy;
  readonly xdgSurface: WaylandProxy;
  readonly toplevel: WaylandProxy;
  readonly #registry: WaylandProxy;
  readonly #globals: Map<string, [number, number]>;

  private constructor(
    client: WaylandClient,
    registry: WaylandProxy,
    globals: Map<string, [number, number]>,
    opts: ScriptedWindowOptions,
  ) {
    this.client = client;
    this.#registry = registry;
    this.#globals = globals;
    this.compositor = this.bind('wl_compositor', 5);
    this.shm = this.bind('wl_shm', 1);
    this.wmBase = this.bind('xdg_wm_base', 5);
    this.wmBase.on('ping', ([serial]) => this.wmBase.request('pong', [serial as number]));
    this.surface = this.compositor.request('create_surface') as WaylandProxy;
    this.xdgSurface = this.wmBase.request('get_xdg_surface', [this.surface]) as WaylandProxy;
    this.toplevel = this.xdgSurface.request('get_toplevel') as WaylandProxy;
    this.xdgSurface.on('configure', ([serial]) => {
      this.xdgSurface.request('ack_configure', [serial as number]);
    });
    if (opts.title !== undefined) this.toplevel.request('set_title', [opts.title]);
    if (opts.appId !== undefined) this.toplevel.request('set_app_id', [opts.appId]);
  }

  /** Connects, binds, creates the toplevel, and acks its first configure. */
  static async open(socketPath: string, opts: ScriptedWindowOptions = {}): Promise<ScriptedWindow> {
    const client = WaylandClient.connect(socketPath);
    try {
      client.attachToLoop(opts.onError === undefined ? {} : { onError: opts.onError });
      const registry = client.display.request('get_registry') as WaylandProxy;
      const globals = new Map<string, [number, number]>();
      registry.on('global', ([name, iface, version]) => {
        globals.set(iface as string, [name as number, version as number]);
      });
      await client.roundtripAsync();
      const window = new ScriptedWindow(client, registry, globals, opts);
      window.surface.request('commit'); // the initial commit: asks for a configure
      await client.roundtripAsync();
      return window;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Binds another global at min(compositor's, `max`, protocol table's) version. */
  bind(name: string, max: number): WaylandProxy {
    const g = this.#globals.get(name);
    if (g === undefined) throw new Error(`compositor has no ${name}`);
    const version = Math.min(g[1], max, spec(name).version);
    return this.#registry.request('bind', [g[0], spec(name), version]) as WaylandProxy;
  }

  /**
   * A memfd pool of `size` bytes. Sealed against shrinking by default (the compositor
   * may then map it); `sealed: false` makes the compositor read it with pread.
   */
  createPool(size: number, sealed = true): ScriptedPool {
    const fd = memfdCreate('grantway-scripted-pool');
    try {
      ftruncate(fd, size);
      if (sealed) addSeals(fd, F_SEAL_SHRINK);
      const proxy = this.shm.request('create_pool', [fd, size]) as WaylandProxy;
      return new ScriptedPool(proxy, fd, size);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  createBuffer(
    pool: ScriptedPool,
    width: number,
    height: number,
    offset = 0,
    format: number = ShmFormat.xrgb8888,
  ): ScriptedBuffer {
    const proxy = pool.proxy.request('create_buffer', [offset, width, height, width * 4, format]);
    return new ScriptedBuffer(proxy as WaylandProxy, pool, offset, width, height);
  }

  /** attach + damage + frame + commit; resolves with the frame callback's time. */
  commit(buffer: ScriptedBuffer | null): Promise<number> {
    this.surface.request('attach', [buffer?.proxy ?? null, 0, 0]);
    if (buffer !== null) this.surface.request('damage', [0, 0, buffer.width, buffer.height]);
    const frame = this.surface.request('frame') as WaylandProxy;
    const done = new Promise<number>((resolve) => {
      frame.on('done', ([time]) => resolve(time as number));
    });
    this.surface.request('commit');
    return done;
  }

  roundtrip(): Promise<void> {
    return this.client.roundtripAsync();
  }

  close(): void {
    this.client.close();
  }
}
