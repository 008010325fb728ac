// The embedded headless compositor: a listening Wayland socket, the globals, the repaint
// clock and the knobs, tying the protocol areas together. It runs in whatever process
// starts it (the `grantway compositor` command, or a test); harness.ts runs it in a
// child process so that its address space can be observed (/proc/PID/maps) and it can
// be crashed without taking the test runner along.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { silentLogger } from '../../bridge/log.js';
import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import { WaylandListener } from '../../bridge/relay/listener.js';
import { Client, type Resource } from './connection.js';
import { displayImplementation, type Global, opaqueGlobal } from './core.js';
import { DisplayError, ReadbackError } from './errors.js';
import { defaultKnobs, type Knobs, type KnobsPatch, knobsPatchSchema } from './knobs.js';
import { bindOutput, type OutputConfig } from './output.js';
import { encodePng, type RgbaImage } from './png.js';
import { composeFrame, type FrameWindow, surfaceImage } from './readback.js';
import { BufferReleaser } from './release.js';
import { RepaintClock } from './repaint.js';
import { bindSeat } from './seat.js';
import { bindShm, type PoolInfo, PoolRegistry, type ShmBuffer } from './shm.js';
import { bindSubcompositor } from './subsurface.js';
import { bindCompositor, type Surface, type SurfaceHost } from './surface.js';
import { type PingResult, Shell, windowInfo } from './xdg-shell.js';

export interface CompositorOptions {
  /**
   * Absolute path of the socket to listen on (NAME.lock beside it); with `listenFd`, only
   * where that socket is, for logs and the state.
   */
  readonly socketPath: string;
  /**
   * A listening socket made by someone else (socket activation: bridge/service/),
   * accepted on instead of binding `socketPath`; the compositor owns and closes it.
   */
  readonly listenFd?: number;
  /** Output size in pixels (default 1024×768). */
  readonly width?: number;
  readonly height?: number;
  /** Repaint rate (default 60). */
  readonly refreshHz?: number;
  readonly knobs?: KnobsPatch;
  /** Where windows are written as PNG when they are unmapped or destroyed (off when unset). */
  readonly pngDir?: string;
  /**
   * Extra globals with interfaces this compositor does not implement (bindable, every
   * request an error), like weston's private protocols; for testing global filters.
   */
  readonly privateGlobals?: readonly string[];
  readonly log?: Logger;
  readonly registry?: ProtocolRegistry;
}

export interface SurfaceInfo {
  readonly serial: number;
  readonly client: number;
  readonly objectId: number;
  readonly role: string | null;
  readonly title: string | null;
  readonly appId: string | null;
  readonly mapped: boolean;
  /** Buffer size of what is shown (0×0 when nothing). */
  readonly width: number;
  readonly height: number;
  readonly format: number | null;
  readonly scale: number;
  readonly transform: number;
  readonly commits: number;
  readonly latches: number;
  /** Buffers kept busy by the holdBuffers knob. */
  readonly held: number;
  /** The latest wl_callback.done times sent for this surface, oldest first. */
  readonly frameTimes: readonly number[];
}

export interface ClientInfo {
  readonly serial: number;
  readonly pid: number;
  readonly objects: number;
}

export interface CompositorState {
  readonly pid: number;
  readonly socketPath: string;
  readonly output: OutputConfig;
  readonly knobs: Knobs;
  readonly frames: number;
  readonly releases: number;
  readonly clients: readonly ClientInfo[];
  readonly surfaces: readonly SurfaceInfo[];
  /** Pools the compositor still holds (mapped, or fd open for pread). */
  readonly pools: readonly PoolInfo[];
  /** External pool references taken through refPool and not dropped. */
  readonly poolRefs: readonly { readonly ref: number; readonly pool: number }[];
}

/** How many wl_callback.done times are kept per surface for the state. */
const FRAME_TIMES_KEPT = 32;

/** Highest version of each global this compositor implements. */
const IMPLEMENTED: readonly (readonly [string, number])[] = [
  ['wl_compositor', 5],
  ['wl_subcompositor', 1],
  ['wl_shm', 2],
  ['wl_output', 4],
  ['wl_seat', 8],
  ['xdg_wm_base', 5],
];

export class EmbeddedCompositor {
  readonly socketPath: string;
  readonly output: OutputConfig;
  readonly #log: Logger;
  readonly #registry: ProtocolRegistry;
  readonly #listener: WaylandListener;
  readonly #clients = new Set<Client>();
  readonly #surfaces = new Map<number, Surface>();
  /** Surfaces' frame-callback times (kept apart: Surface knows nothing of the state). */
  readonly #frameTimes = new WeakMap<Surface, number[]>();
  /** Windows in the order they were first shown (bottom to top). */
  #stacking: Surface[] = [];
  readonly #outputs = new Map<Client, Resource[]>();
  readonly #pools: PoolRegistry;
  readonly #releaser: BufferReleaser;
  readonly #clock: RepaintClock;
  readonly #shell: Shell;
  readonly #globals: Global[] = [];
  readonly #poolRefs = new Map<number, { pool: number; drop: () => void }>();
  readonly #pngDir: string | undefined;
  #knobs: Knobs;
  #nextClient = 1;
  #nextSurface = 1;
  #nextRef = 1;
  #serial = 0;
  #pngCount = 0;
  #closed = false;

  private constructor(options: CompositorOptions) {
    this.socketPath = options.socketPath;
    this.#log = options.log ?? silentLogger;
    this.#registry = options.registry ?? new ProtocolRegistry();
    this.#knobs = { ...defaultKnobs, ...knobsPatchSchema.parse(options.knobs ?? {}) };
    this.#pngDir = options.pngDir;
    const refreshHz = options.refreshHz ?? 60;
    this.output = {
      width: options.width ?? 1024,
      height: options.height ?? 768,
      refreshHz,
      scale: 1,
      name: 'HEADLESS-1',
    };
    this.#pools = new PoolRegistry(() => this.#knobs.keepPoolsMappedMs, this.#log);
    this.#releaser = new BufferReleaser(() => this.#knobs);
    this.#clock = new RepaintClock(refreshHz, (time) => this.#repaint(time));
    this.#shell = new Shell({
      nextSerial: () => this.#nextSerial(),
      output: () => this.output,
      windowUnmapping: (s) => this.#saveWindow(s),
    });
    this.#installGlobals(options.privateGlobals ?? []);
    const onConnection = (fd: number): void => this.#accept(fd);
    this.#listener =
      options.listenFd === undefined
        ? WaylandListener.open(this.socketPath, onConnection)
        : WaylandListener.adopt(options.listenFd, onConnection);
  }

  /**
   * Listens on `socketPath` (taking NAME.lock; SocketInUseError if held), or on the
   * inherited `listenFd` (SocketActivationError if it is no listening unix socket).
   */
  static start(options: CompositorOptions): EmbeddedCompositor {
    const compositor = new EmbeddedCompositor(options);
    compositor.#log.info(
      { socket: compositor.socketPath, output: compositor.output, knobs: compositor.#knobs },
      'embedded compositor listening',
    );
    return compositor;
  }

  get knobs(): Knobs {
    return this.#knobs;
  }

  /** Changes knobs at run time; a smaller holdBuffers lets go of surplus holds at once. */
  setKnobs(patch: KnobsPatch): Knobs {
    this.#knobs = { ...this.#knobs, ...knobsPatchSchema.parse(patch) };
    for (const surface of this.#surfaces.values()) surface.trimHeld();
    return this.#knobs;
  }

  #installGlobals(privateGlobals: readonly string[]): void {
    const host: SurfaceHost = {
      releaser: this.#releaser,
      knobs: () => this.#knobs,
      scheduleRepaint: () => this.#clock.schedule(),
      nextSurfaceSerial: () => this.#nextSurface++,
      surfaceCreated: (s) => this.#surfaces.set(s.serial, s),
      surfaceDestroying: (s) => this.#saveWindow(s),
      surfaceDestroyed: (s) => this.#surfaceGone(s),
      outputsOf: (client) => this.#outputs.get(client) ?? [],
    };
    const binders: Record<string, (client: Client, id: number, version: number) => void> = {
      wl_compositor: (c, id, v) => bindCompositor(c, id, v, host),
      wl_subcompositor: (c, id, v) => void bindSubcompositor(c, id, v),
      wl_shm: (c, id, v) =>
        bindShm(c, id, v, {
          pools: this.#pools,
          bufferDestroying: (b) => this.#bufferDestroying(b),
        }),
      wl_output: (c, id, v) => {
        const list = this.#outputs.get(c) ?? [];
        this.#outputs.set(c, list);
        list.push(
          bindOutput(c, id, v, this.output, (r) => {
            const i = list.indexOf(r);
            if (i >= 0) list.splice(i, 1);
          }),
        );
      },
      wl_seat: (c, id, v) => bindSeat(c, id, v, 'seat0'),
      xdg_wm_base: (c, id, v) => this.#shell.bind(c, id, v),
    };
    let name = 1;
    for (const [iface, implemented] of IMPLEMENTED) {
      const spec = this.#registry.get(iface);
      const bindFn = binders[iface];
      if (spec === undefined || bindFn === undefined) continue;
      this.#globals.push({
        name: name++,
        interface: iface,
        version: Math.min(implemented, spec.version),
        bind: bindFn,
      });
    }
    for (const iface of privateGlobals) this.#globals.push(opaqueGlobal(name++, iface, 1));
  }

  #nextSerial(): number {
    this.#serial = (this.#serial + 1) >>> 0;
    return this.#serial;
  }

  #accept(fd: number): void {
    const display = this.#registry.get('wl_display');
    if (display === undefined || this.#closed) {
      throw new Error('protocol tables lack wl_display');
    }
    const client = new Client(
      fd,
      display,
      () =>
        displayImplementation(
          () => this.#globals,
          () => this.#nextSerial(),
        ),
      {
        serial: this.#nextClient++,
        interfaces: this.#registry,
        log: this.#log,
        onClosed: (c) => {
          this.#clients.delete(c);
          this.#outputs.delete(c);
          this.#pools.clientGone(c);
        },
      },
    );
    this.#clients.add(client);
    this.#log.debug({ client: client.serial, pid: client.pid }, 'client connected');
  }

  #bufferDestroying(buffer: ShmBuffer): void {
    for (const surface of this.#surfaces.values()) {
      if (surface.client === buffer.resource.client) surface.bufferDestroying(buffer);
    }
    this.#releaser.forget(buffer);
  }

  #surfaceGone(surface: Surface): void {
    this.#surfaces.delete(surface.serial);
    this.#stacking = this.#stacking.filter((s) => s !== surface);
  }

  /** Writes a window's last image as it is unmapped or destroyed (pngDir). */
  #saveWindow(surface: Surface): void {
    if (this.#pngDir === undefined || !surface.mapped) return;
    const info = windowInfo(surface.role);
    if (info === null) return;
    const label = (info.appId ?? info.title ?? 'window').replace(/[^A-Za-z0-9._-]+/g, '_');
    const path = join(this.#pngDir, `window-${++this.#pngCount}-${label}.png`);
    try {
      this.writePng(path, surface.serial);
      this.#log.info({ path }, 'window written');
    } catch (err) {
      this.#log.warn({ err, path }, 'could not write window PNG');
    }
  }

  /**
   * One vblank: latch what was committed, then fire frame callbacks. A failure on one
   * surface (a bug) ends that surface's client, never the compositor.
   */
  #repaint(time: number): void {
    const surfaces = [...this.#surfaces.values()];
    const each = (work: (s: Surface) => void): void => {
      for (const s of surfaces) {
        if (s.destroyed) continue;
        try {
          work(s);
        } catch (err) {
          this.#log.error({ err, client: s.client.serial }, 'repaint failed for a surface');
          s.client.postError(1, DisplayError.implementation, 'grantway compositor: internal error');
        }
      }
    };
    each((s) => s.latch());
    each((s) => {
      if (s.frameCallbacks.length > 0) {
        const times = this.#frameTimes.get(s) ?? [];
        times.push(time >>> 0);
        if (times.length > FRAME_TIMES_KEPT) times.shift();
        this.#frameTimes.set(s, times);
      }
      s.fireFrameCallbacks(time);
    });
    for (const s of surfaces) {
      const isWindow = s.parent === null && windowInfo(s.role) !== null;
      const shown = this.#stacking.includes(s);
      if (isWindow && s.mapped && !shown) this.#stacking.push(s);
      else if (shown && !s.mapped) this.#stacking = this.#stacking.filter((w) => w !== s);
    }
    if (surfaces.some((s) => s.needsRepaint)) this.#clock.schedule();
  }

  /** Everything the control channel reports, as plain JSON-able data. */
  state(): CompositorState {
    return {
      pid: process.pid,
      socketPath: this.socketPath,
      output: this.output,
      knobs: this.#knobs,
      frames: this.#clock.frames,
      releases: this.#releaser.released,
      clients: [...this.#clients].map((c) => ({
        serial: c.serial,
        pid: c.pid,
        objects: c.objectCount,
      })),
      surfaces: [...this.#surfaces.values()].map((s) => this.#surfaceInfo(s)),
      pools: this.#pools.all().map((p) => p.info()),
      poolRefs: [...this.#poolRefs].map(([ref, r]) => ({ ref, pool: r.pool })),
    };
  }

  #surfaceInfo(s: Surface): SurfaceInfo {
    const info = windowInfo(s.role);
    const shown = s.displayed ?? s.snapshot;
    return {
      serial: s.serial,
      client: s.client.serial,
      objectId: s.resource.id,
      role: info?.kind ?? s.role?.name ?? s.roleName,
      title: info?.title ?? null,
      appId: info?.appId ?? null,
      mapped: s.mapped,
      width: shown?.width ?? 0,
      height: shown?.height ?? 0,
      format: shown?.format ?? null,
      scale: s.scale,
      transform: s.transform,
      commits: s.commits,
      latches: s.latches,
      held: s.held.length,
      frameTimes: [...(this.#frameTimes.get(s) ?? [])],
    };
  }

  /** The pixels surface `serial` shows, in buffer coordinates. */
  surfaceImage(serial: number): RgbaImage {
    const surface = this.#surfaces.get(serial);
    if (surface === undefined) throw new ReadbackError(`no surface ${serial}`);
    return surfaceImage(surface);
  }

  /** The output as shown after the last repaint: every mapped window, composited. */
  frameImage(): RgbaImage {
    const windows: FrameWindow[] = [];
    for (const root of this.#stacking) {
      const info = windowInfo(root.role);
      if (info === null || !root.mapped) continue;
      windows.push({ root, x: info.origin.x, y: info.origin.y });
    }
    return composeFrame(this.output.width, this.output.height, windows);
  }

  /** Writes a PNG of a surface, or of the whole output when `surface` is omitted. */
  writePng(path: string, surface?: number): void {
    const image = surface === undefined ? this.frameImage() : this.surfaceImage(surface);
    mkdirSync(dirname(path), { recursive: true });
    // Written aside (a hidden name) and renamed: whoever watches the directory sees a
    // whole PNG or none (a reader polling for the file read half of one under load).
    const partial = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
    writeFileSync(partial, encodePng(image));
    renameSync(partial, path);
  }

  /**
   * Takes an external reference on a pool, like wl_shm_buffer_ref_pool: the pool stays
   * mapped until unrefPool, whatever the client does (even disconnect).
   */
  refPool(poolSerial: number): number {
    const pool = this.#pools.get(poolSerial);
    if (pool === undefined) throw new ReadbackError(`no pool ${poolSerial}`);
    const ref = this.#nextRef++;
    this.#poolRefs.set(ref, { pool: poolSerial, drop: pool.ref() });
    return ref;
  }

  unrefPool(ref: number): void {
    const entry = this.#poolRefs.get(ref);
    if (entry === undefined) throw new ReadbackError(`no pool reference ${ref}`);
    this.#poolRefs.delete(ref);
    entry.drop();
  }

  ping(timeoutMs = 1000): Promise<PingResult[]> {
    return this.#shell.pingAll(timeoutMs);
  }

  /** Disconnects every client, unmaps every pool, removes the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const client of [...this.#clients]) client.close('compositor shutting down');
    this.#clock.stop();
    this.#releaser.cancelAll();
    for (const { drop } of this.#poolRefs.values()) drop();
    this.#poolRefs.clear();
    this.#pools.releaseAll();
    this.#log.info('embedded compositor stopped');
  }
}
