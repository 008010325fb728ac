// wl_compositor, wl_surface and wl_region: double-buffered surface state as the protocol
// defines it. Requests change the pending state; commit validates it and applies it (or,
// for a synchronized subsurface, caches it until the parent applies). What a commit
// applies is latched by the next repaint (repaint.ts): only then is the previously shown
// buffer let go and the frame callbacks fired, as in a compositor that reads buffers
// while it repaints. Buffer uses (release.ts) are taken by the cached, committed and
// displayed states and by hold slots; the pending state takes none.

import { wayland } from '../../bridge/protocol/enums.js';
import type { Client, Request, Resource } from './connection.js';
import type { Knobs } from './knobs.js';
import type { BufferReleaser } from './release.js';
import { type ShmBuffer, shmBufferOf } from './shm.js';

/** wl_surface.error. */
export const SurfaceError = wayland.wl_surface.error;

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** wl_region's content: the add/subtract operations in order (never rasterised here). */
export class Region {
  readonly ops: { readonly add: boolean; readonly rect: Rect }[] = [];
  copy(): Region {
    const r = new Region();
    r.ops.push(...this.ops);
    return r;
  }
}

/** What a role (xdg_toplevel, xdg_popup, wl_subsurface) adds to a surface's commits. */
export interface SurfaceRole {
  readonly name: string;
  /** Checks a commit before it is applied or cached (may throw ProtocolError). */
  precommit?(surface: Surface, state: SurfaceState): void;
  /** After the state was applied. */
  applied?(surface: Surface): void;
  /** Subsurfaces: whether commits are cached until the parent applies. */
  readonly synchronized?: () => boolean;
  /** Whether the role lets the surface be shown (an xdg surface: after configure). */
  readonly mapped: () => boolean;
}

/** The double-buffered state, pending or cached. */
export interface SurfaceState {
  attached: boolean;
  buffer: ShmBuffer | null;
  dx: number;
  dy: number;
  damage: Rect[];
  bufferDamage: Rect[];
  callbacks: Resource[];
  opaque: Region | null | undefined;
  input: Region | null | undefined;
  scale: number | undefined;
  transform: number | undefined;
}

function emptyState(): SurfaceState {
  return {
    attached: false,
    buffer: null,
    dx: 0,
    dy: 0,
    damage: [],
    bufferDamage: [],
    callbacks: [],
    opaque: undefined,
    input: undefined,
    scale: undefined,
    transform: undefined,
  };
}

/** What surfaces need from the compositor around them. */
export interface SurfaceHost {
  readonly releaser: BufferReleaser;
  knobs(): Knobs;
  scheduleRepaint(): void;
  nextSurfaceSerial(): number;
  surfaceCreated(surface: Surface): void;
  /** About to be destroyed: its content is still readable. */
  surfaceDestroying(surface: Surface): void;
  surfaceDestroyed(surface: Surface): void;
  /** The wl_output objects this client has bound (for wl_surface.enter). */
  outputsOf(client: Client): Resource[];
}

/** Pixels of a buffer that was destroyed while shown, so read-back still works. */
export interface Snapshot {
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly format: number;
  readonly pixels: Uint8Array;
}

export class Surface {
  readonly serial: number;
  readonly resource: Resource;
  /** The role's name, kept for the surface's lifetime once given (protocol rule). */
  roleName: string | null = null;
  /** The live role object, if any. */
  role: SurfaceRole | null = null;
  pending: SurfaceState = emptyState();
  /** Synchronized subsurfaces: state committed but not yet applied. */
  cached: SurfaceState | null = null;
  /** Applied state. */
  committed: ShmBuffer | null = null;
  scale = 1;
  transform = 0;
  opaque: Region | null = null;
  input: Region | null = null;
  /** Sum of attach/offset dx, dy since creation (where the client moved its origin). */
  offsetX = 0;
  offsetY = 0;
  /** Latched by the last repaint: what is on screen. */
  displayed: ShmBuffer | null = null;
  /** Buffers replaced on screen but kept busy by the holdBuffers knob, oldest first. */
  readonly held: ShmBuffer[] = [];
  /** Frame callbacks applied and waiting for the next repaint. */
  readonly frameCallbacks: Resource[] = [];
  /** Commits applied since creation, and latches done. */
  commits = 0;
  latches = 0;
  snapshot: Snapshot | null = null;
  /** Subsurface tree: children in stacking order, this surface itself included. */
  stack: Surface[] = [this];
  pendingStack: Surface[] | null = null;
  parent: Surface | null = null;
  /** Position relative to the parent (subsurfaces), applied with the parent's state. */
  position = { x: 0, y: 0 };
  #entered = false;
  #destroyed = false;

  constructor(
    private readonly host: SurfaceHost,
    client: Client,
    id: number,
    version: number,
  ) {
    this.serial = host.nextSurfaceSerial();
    this.resource = client.createResource(id, 'wl_surface', version, this, {
      requests: {
        attach: (r) => this.#attach(r),
        damage: (r) => this.pending.damage.push(rectOf(r)),
        damage_buffer: (r) => this.pending.bufferDamage.push(rectOf(r)),
        frame: (r) => this.#frame(r),
        set_opaque_region: (r) => (this.pending.opaque = regionArg(r)),
        set_input_region: (r) => (this.pending.input = regionArg(r)),
        commit: () => this.commit(),
        set_buffer_transform: (r) => this.#setTransform(r),
        set_buffer_scale: (r) => this.#setScale(r),
        offset: (r) => {
          this.pending.dx = r.number('x');
          this.pending.dy = r.number('y');
        },
      },
      destroyed: () => this.#destroy(),
    });
    host.surfaceCreated(this);
  }

  get client(): Client {
    return this.resource.client;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Whether the surface is on screen: content latched and the role allows it. */
  get mapped(): boolean {
    if (this.displayed === null && this.snapshot === null) return false;
    if (this.role !== null) {
      if (!this.role.mapped()) return false;
      if (this.parent !== null) return this.parent.mapped;
      return true;
    }
    return this.roleName === null;
  }

  /** Surface size in surface coordinates (buffer size / scale, transform applied). */
  size(): { width: number; height: number } {
    const b = this.displayed ?? this.snapshot;
    if (b === null) return { width: 0, height: 0 };
    const swap = (this.transform & 1) === 1;
    const w = Math.floor((swap ? b.height : b.width) / this.scale);
    const h = Math.floor((swap ? b.width : b.height) / this.scale);
    return { width: w, height: h };
  }

  /** A role may be given once; the same role may be given again after its object died. */
  assignRole(name: string, role: SurfaceRole, error: () => Error): void {
    if ((this.roleName !== null && this.roleName !== name) || this.role !== null) throw error();
    this.roleName = name;
    this.role = role;
  }

  clearRole(role: SurfaceRole): void {
    if (this.role === role) this.role = null;
  }

  /** Whether a buffer is attached (pending) or applied: xdg rules need it. */
  get hasBuffer(): boolean {
    return (this.pending.attached && this.pending.buffer !== null) || this.committed !== null;
  }

  #attach(r: Request): void {
    const x = r.number('x');
    const y = r.number('y');
    if (this.resource.version >= 5 && (x !== 0 || y !== 0)) {
      throw this.resource.error(
        SurfaceError.invalidOffset,
        'attach with a non-zero offset (use wl_surface.offset since version 5)',
      );
    }
    const buffer = r.object('buffer');
    this.pending.attached = true;
    this.pending.buffer = shmBufferOf(buffer);
    this.pending.dx = x;
    this.pending.dy = y;
  }

  #frame(r: Request): void {
    const callback = r.client.createResource(r.number('callback'), 'wl_callback', 1, null, {
      requests: {},
    });
    this.pending.callbacks.push(callback);
  }

  #setTransform(r: Request): void {
    const t = r.number('transform');
    if (t < 0 || t > 7) {
      throw this.resource.error(SurfaceError.invalidTransform, `transform ${t} is not valid`);
    }
    this.pending.transform = t;
  }

  #setScale(r: Request): void {
    const s = r.number('scale');
    if (s < 1) throw this.resource.error(SurfaceError.invalidScale, `scale ${s} is not positive`);
    this.pending.scale = s;
  }

  /** wl_surface.commit. */
  commit(): void {
    const state = this.pending;
    this.pending = emptyState();
    // A commit carries the attach of this state, or keeps the buffer it would apply over.
    const buffer = state.attached ? state.buffer : (this.cached?.buffer ?? this.committed);
    const scale = state.scale ?? this.cached?.scale ?? this.scale;
    if (buffer !== null && (buffer.width % scale !== 0 || buffer.height % scale !== 0)) {
      throw this.resource.error(
        SurfaceError.invalidSize,
        `buffer size (${buffer.width}x${buffer.height}) is not a multiple of the buffer scale (${scale})`,
      );
    }
    this.role?.precommit?.(this, state);
    if (this.role?.synchronized?.() === true) {
      this.#cache(state);
      return;
    }
    if (this.cached !== null) {
      // Desynchronized with state still cached: the cache goes first, then this one.
      const cached = this.cached;
      this.cached = null;
      this.#merge(cached, state);
      this.apply(cached, true);
    } else {
      this.apply(state, false);
    }
  }

  #cache(state: SurfaceState): void {
    this.cached ??= emptyState();
    this.#merge(this.cached, state);
  }

  /** Folds `next` into `into` (newer wins; damage and callbacks accumulate). */
  #merge(into: SurfaceState, next: SurfaceState): void {
    if (next.attached) {
      const old = into.attached ? into.buffer : null;
      if (next.buffer !== null) this.host.releaser.use(next.buffer);
      if (old !== null) this.host.releaser.unuse(old);
      into.attached = true;
      into.buffer = next.buffer;
    }
    into.dx += next.dx;
    into.dy += next.dy;
    into.damage.push(...next.damage);
    into.bufferDamage.push(...next.bufferDamage);
    into.callbacks.push(...next.callbacks);
    if (next.opaque !== undefined) into.opaque = next.opaque;
    if (next.input !== undefined) into.input = next.input;
    if (next.scale !== undefined) into.scale = next.scale;
    if (next.transform !== undefined) into.transform = next.transform;
  }

  /**
   * Makes `state` current. A newly attached buffer gets a use, except when the state
   * comes from the cache, whose use moves over; the replaced buffer's use is given back.
   */
  apply(state: SurfaceState, fromCache: boolean): void {
    if (state.attached) {
      const old = this.committed;
      if (state.buffer !== null && !fromCache) this.host.releaser.use(state.buffer);
      this.committed = state.buffer;
      if (old !== null) this.host.releaser.unuse(old);
    }
    this.offsetX += state.dx;
    this.offsetY += state.dy;
    if (state.scale !== undefined) this.scale = state.scale;
    if (state.transform !== undefined) this.transform = state.transform;
    if (state.opaque !== undefined) this.opaque = state.opaque;
    if (state.input !== undefined) this.input = state.input;
    this.frameCallbacks.push(...state.callbacks);
    this.commits++;
    if (this.pendingStack !== null) {
      this.stack = this.pendingStack;
      this.pendingStack = null;
    }
    // Children: positions and synchronized state follow the parent's commit.
    for (const child of this.stack) {
      if (child !== this) child.parentApplied();
    }
    this.role?.applied?.(this);
    this.host.scheduleRepaint();
  }

  /** Set by the subsurface role: new position to take at the parent's next apply. */
  pendingPosition: { x: number; y: number } | null = null;

  /** The parent applied its state: take the position, and the cache if synchronized. */
  parentApplied(): void {
    if (this.pendingPosition !== null) {
      this.position = this.pendingPosition;
      this.pendingPosition = null;
    }
    if (this.cached !== null && this.role?.synchronized?.() === true) {
      const cached = this.cached;
      this.cached = null;
      this.apply(cached, true);
    }
  }

  /** Desync: whatever is cached is applied now (wl_subsurface.set_desync). */
  flushCache(): void {
    if (this.cached === null) return;
    const cached = this.cached;
    this.cached = null;
    this.apply(cached, true);
  }

  /** Repaint, step 1: the committed buffer goes on screen; the one it replaces is let go. */
  latch(): void {
    if (this.committed === this.displayed) return;
    const previous = this.displayed;
    if (this.committed !== null) this.host.releaser.use(this.committed);
    this.displayed = this.committed;
    this.snapshot = null;
    this.latches++;
    if (previous !== null) {
      this.held.push(previous);
      this.trimHeld();
    }
    if (this.displayed !== null && !this.#entered) {
      this.#entered = true;
      for (const output of this.host.outputsOf(this.client)) {
        this.resource.send('enter', [output.id]);
      }
    }
  }

  /** Lets go of held buffers beyond the holdBuffers knob, oldest first. */
  trimHeld(): void {
    const keep = this.host.knobs().holdBuffers;
    while (this.held.length > keep) {
      const buffer = this.held.shift()!;
      this.host.releaser.unuse(buffer);
    }
  }

  /** Repaint, step 2: every applied frame callback gets done(time) and dies. */
  fireFrameCallbacks(time: number): void {
    for (const callback of this.frameCallbacks.splice(0)) {
      if (!callback.alive) continue;
      callback.send('done', [time >>> 0]);
      callback.destroy();
    }
  }

  /** Whether the next repaint has something to do here. */
  get needsRepaint(): boolean {
    return this.committed !== this.displayed || this.frameCallbacks.length > 0;
  }

  /**
   * The client is destroying `buffer`: no state may point at it any more, and no
   * release is owed. A buffer on screen leaves a snapshot of its pixels behind.
   */
  bufferDestroying(buffer: ShmBuffer): void {
    if (this.pending.buffer === buffer) this.pending.buffer = null;
    if (this.cached?.buffer === buffer) this.cached.buffer = null;
    if (this.committed === buffer) this.committed = null;
    if (this.displayed === buffer) {
      this.snapshot = {
        width: buffer.width,
        height: buffer.height,
        stride: buffer.stride,
        format: buffer.format,
        pixels: buffer.readPixels(),
      };
      this.displayed = null;
    }
    const i = this.held.indexOf(buffer);
    if (i >= 0) this.held.splice(i, 1);
  }

  #destroy(): void {
    this.host.surfaceDestroying(this);
    this.#destroyed = true;
    const releaser = this.host.releaser;
    if (this.cached?.attached && this.cached.buffer !== null) releaser.unuse(this.cached.buffer);
    if (this.committed !== null) releaser.unuse(this.committed);
    if (this.displayed !== null) releaser.unuse(this.displayed);
    for (const buffer of this.held.splice(0)) releaser.unuse(buffer);
    this.committed = null;
    this.displayed = null;
    // Frame callbacks of a destroyed surface are destroyed without done (as weston does).
    for (const cb of [...this.pending.callbacks, ...(this.cached?.callbacks ?? [])]) cb.destroy();
    for (const cb of this.frameCallbacks.splice(0)) cb.destroy();
    this.cached = null;
    this.host.surfaceDestroyed(this);
  }
}

function rectOf(r: Request): Rect {
  return {
    x: r.number('x'),
    y: r.number('y'),
    width: r.number('width'),
    height: r.number('height'),
  };
}

function regionArg(r: Request): Region | null {
  const region = r.object('region');
  return region !== null && region.data instanceof Region ? region.data.copy() : null;
}

/** What wl_surface arguments of other interfaces resolve to. */
export function surfaceOf(resource: Resource | null): Surface | null {
  if (resource === null) return null;
  return resource.data instanceof Surface ? resource.data : null;
}

/** Binds wl_compositor: surfaces and regions. */
export function bindCompositor(
  client: Client,
  id: number,
  version: number,
  host: SurfaceHost,
): void {
  client.createResource(id, 'wl_compositor', version, null, {
    requests: {
      create_surface: (r) => {
        new Surface(host, r.client, r.number('id'), r.resource.version);
      },
      create_region: (r) => {
        const region = new Region();
        r.client.createResource(r.number('id'), 'wl_region', 1, region, {
          requests: {
            add: (q) => region.ops.push({ add: true, rect: rectOf(q) }),
            subtract: (q) => region.ops.push({ add: false, rect: rectOf(q) }),
          },
        });
      },
    },
  });
}
