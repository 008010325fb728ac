// wl_shm, wl_shm_pool and wl_buffer: client memory as a compositor holds it. This is
// the object the whole project reasons about (ARCHITECTURE.md §1–2), so it follows
// libwayland-server's pool lifetime exactly and makes every deviation a visible knob:
//
//   * a pool's pages stay mapped while its reference count is > 0, where the count is
//     (pool object alive ? 1 : 0) + (live wl_buffers made from it) + (external
//     references, like wl_shm_buffer_ref_pool); then, by default at once, they are
//     unmapped. The `keepPoolsMappedMs` knob adds a linger period after the count
//     reaches 0 (N ms, or until the client disconnects);
//   * SIGBUS safety (ARCHITECTURE.md §8): the client's fd is mapped read-only only when it is
//     sealed against shrinking and fstat says it holds the whole pool; otherwise pixels
//     are read with pread at repaint/read-back time, which gives a short read, never a
//     signal, when the client truncates the file.
//
// The fd is kept open exactly as long as the pool is held (mapped or not): pread needs
// it, and resize needs it to map again (libwayland uses mremap; ffi/ has no mremap).

import type { Logger } from 'pino';
import {
  close as closeFd,
  F_SEAL_SHRINK,
  fstat,
  getSeals,
  mmap,
  munmap,
  type NativePointer,
  nativeAlloc,
  nativeFree,
  nativeView,
  preadInto,
  PROT_READ,
} from '../../ffi/libc.js';
import { wayland } from '../../bridge/protocol/enums.js';
import type { Client, Request, Resource } from './connection.js';
import { ProtocolError } from './errors.js';

export const ShmFormat = wayland.wl_shm.format;
export const SUPPORTED_FORMATS: readonly number[] = [ShmFormat.argb8888, ShmFormat.xrgb8888];

/** wl_shm.error. */
export const ShmError = wayland.wl_shm.error;

/** When a pool whose last reference went away is really unmapped. */
export type PoolLinger = number | 'until-disconnect';

export interface PoolInfo {
  readonly serial: number;
  readonly client: number;
  readonly objectId: number;
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  /** How pixels are read: a read-only mapping, or pread (unsealed fd). */
  readonly access: 'mmap' | 'pread';
  /** Whether the compositor still holds the pool (mapped, or its fd open for pread). */
  readonly held: boolean;
  readonly mapped: boolean;
  readonly objectAlive: boolean;
  readonly buffers: number;
  readonly externalRefs: number;
  /** Held only because of the keepPoolsMappedMs knob. */
  readonly lingering: boolean;
}

/** One pool, from wl_shm.create_pool until its pages are unmapped. */
export class ShmPool {
  readonly serial: number;
  readonly client: Client;
  readonly objectId: number;
  readonly dev: bigint;
  readonly ino: bigint;
  /** Size the client asked for (create_pool, then resize). Buffers are checked against it. */
  size: number;
  /** Owned fd; -1 once released. Invariant: open iff `held`. */
  #fd: number;
  /** The read-only mapping, or null in pread mode or once released. */
  #map: { ptr: NativePointer; length: number } | null = null;
  #objectAlive = true;
  #buffers = 0;
  #externalRefs = 0;
  /** A resize that waits for external references to go (libwayland defers it too). */
  #pendingResize: number | null = null;
  #lingerTimer: NodeJS.Timeout | null = null;
  #lingering = false;
  #held = true;
  #access: 'mmap' | 'pread' = 'pread';

  constructor(
    private readonly registry: PoolRegistry,
    serial: number,
    client: Client,
    objectId: number,
    fd: number,
    size: number,
  ) {
    this.serial = serial;
    this.client = client;
    this.objectId = objectId;
    this.size = size;
    this.#fd = fd;
    const st = fstat(fd);
    this.dev = st.dev;
    this.ino = st.ino;
    this.#mapIfSafe(size, st.size);
    if (this.#map === null) {
      // pread mode: the fd must at least be a file we can pread (not a pipe or socket).
      const scratch = registry.scratch(1);
      preadInto(fd, scratch, 0, 0);
    }
  }

  get held(): boolean {
    return this.#held;
  }

  get mapped(): boolean {
    return this.#map !== null;
  }

  /** The count of libwayland's rule (see the module comment). */
  get references(): number {
    return (this.#objectAlive ? 1 : 0) + this.#buffers + this.#externalRefs;
  }

  info(): PoolInfo {
    return {
      serial: this.serial,
      client: this.client.serial,
      objectId: this.objectId,
      dev: this.dev.toString(),
      ino: this.ino.toString(),
      size: this.size,
      access: this.#access,
      held: this.#held,
      mapped: this.#map !== null,
      objectAlive: this.#objectAlive,
      buffers: this.#buffers,
      externalRefs: this.#externalRefs,
      lingering: this.#lingering,
    };
  }

  /** Maps [0, size) read-only when the SIGBUS rule allows it; else leaves pread mode. */
  #mapIfSafe(size: number, fileSize: number): void {
    let seals: number;
    try {
      seals = getSeals(this.#fd);
    } catch {
      seals = 0; // not a sealable file (e.g. shm_open): never safe to map
    }
    if ((seals & F_SEAL_SHRINK) !== 0 && fileSize >= size) {
      this.#map = { ptr: mmap(this.#fd, size, PROT_READ), length: size };
      this.#access = 'mmap';
    } else {
      this.#access = 'pread';
    }
  }

  /** wl_shm_pool.resize. Shrinking is an error; growing remaps (or defers, see above). */
  resize(size: number, resource: Resource): void {
    if (size < this.size) {
      throw resource.error(ShmError.invalidFd, `shrinking pool invalid (${this.size} → ${size})`);
    }
    if (this.#externalRefs > 0 && this.#map !== null) {
      this.#pendingResize = size;
      return;
    }
    this.#applyResize(size);
  }

  #applyResize(size: number): void {
    this.size = size;
    if (this.#map !== null) {
      munmap(this.#map.ptr, this.#map.length);
      this.#map = null;
    }
    // Sealed against shrinking, but the file may not have grown yet: pread until then.
    this.#mapIfSafe(size, fstat(this.#fd).size);
  }

  /**
   * Copies [offset, offset + length) of the pool into `out` (at 0). From the mapping
   * when it covers the range, else with pread: bytes past the end of the file read as
   * zero, and nothing can raise SIGBUS. Invariant: no view into the mapping outlives
   * this call, so unmapping (resize, release) never leaves a dangling view behind.
   */
  read(offset: number, length: number, out: Uint8Array): void {
    if (!this.#held) throw new Error(`pool ${this.serial} read after release`);
    const map = this.#map;
    if (map !== null && offset + length <= map.length) {
      out.set(nativeView(map.ptr + BigInt(offset), length), 0);
      return;
    }
    const scratch = this.registry.scratch(length);
    let done = 0;
    while (done < length) {
      const n = preadInto(this.#fd, scratch + BigInt(done), length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    out.set(nativeView(scratch, done), 0);
    out.fill(0, done, length);
  }

  /** The pool object was destroyed (request or disconnect). */
  objectDestroyed(): void {
    this.#objectAlive = false;
    this.#maybeRelease();
  }

  bufferCreated(): void {
    this.#buffers++;
  }

  bufferDestroyed(): void {
    this.#buffers--;
    this.#maybeRelease();
  }

  /** Like wl_shm_buffer_ref_pool: the returned function drops the reference (once). */
  ref(): () => void {
    if (!this.#held) throw new Error(`pool ${this.serial} is released`);
    this.#externalRefs++;
    this.#cancelLinger();
    let dropped = false;
    return () => {
      if (dropped) return;
      dropped = true;
      this.#externalRefs--;
      if (this.#externalRefs === 0 && this.#pendingResize !== null) {
        const size = this.#pendingResize;
        this.#pendingResize = null;
        if (this.#held) this.#applyResize(size);
      }
      this.#maybeRelease();
    };
  }

  /** Called when the owning client disconnected (for the until-disconnect linger). */
  clientGone(): void {
    if (this.#lingering) this.release();
  }

  #cancelLinger(): void {
    if (this.#lingerTimer !== null) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = null;
    this.#lingering = false;
  }

  #maybeRelease(): void {
    if (!this.#held || this.references > 0) return;
    const linger = this.registry.linger();
    if (linger === 0 || (linger === 'until-disconnect' && this.client.closed)) {
      this.release();
      return;
    }
    this.#lingering = true;
    if (typeof linger === 'number') {
      this.#lingerTimer = setTimeout(() => this.release(), linger);
    }
  }

  /** Unmaps and closes: after this the compositor holds nothing of the pool. Idempotent. */
  release(): void {
    if (!this.#held) return;
    this.#cancelLinger();
    this.#held = false;
    if (this.#map !== null) munmap(this.#map.ptr, this.#map.length);
    this.#map = null;
    closeFd(this.#fd);
    this.#fd = -1;
    this.registry.released(this);
  }
}

/** One wl_buffer made from a pool. */
export class ShmBuffer {
  /** Surfaces that display it plus hold slots (release.ts). Released when it drops to 0. */
  uses = 0;
  /** Set when the buffer has been used since its last release: a release is owed. */
  owesRelease = false;
  /** A release waiting out the releaseDelayMs knob. */
  releaseTimer: NodeJS.Timeout | null = null;
  /** Its wl_buffer object; set right after construction (the object needs this as data). */
  resource!: Resource;
  #destroyed = false;

  constructor(
    readonly pool: ShmPool,
    readonly offset: number,
    readonly width: number,
    readonly height: number,
    readonly stride: number,
    readonly format: number,
  ) {
    pool.bufferCreated();
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The buffer's rows, `stride` bytes each, copied out of the pool. */
  readPixels(): Uint8Array {
    const out = new Uint8Array(this.stride * this.height);
    this.pool.read(this.offset, out.length, out);
    return out;
  }

  destroyedByClient(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.releaseTimer !== null) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    this.pool.bufferDestroyed();
  }
}

/** Every pool of the compositor, for knobs, read-back, external refs and shutdown. */
export class PoolRegistry {
  readonly #pools = new Map<number, ShmPool>();
  #nextSerial = 1;
  #scratch: { ptr: NativePointer; size: number } | null = null;

  constructor(
    readonly linger: () => PoolLinger,
    private readonly log: Logger,
  ) {}

  create(client: Client, objectId: number, fd: number, size: number): ShmPool {
    const pool = new ShmPool(this, this.#nextSerial++, client, objectId, fd, size);
    this.#pools.set(pool.serial, pool);
    this.log.debug({ pool: pool.info() }, 'pool created');
    return pool;
  }

  get(serial: number): ShmPool | undefined {
    return this.#pools.get(serial);
  }

  /** Held pools (mapped or fd open), in creation order. */
  all(): ShmPool[] {
    return [...this.#pools.values()];
  }

  released(pool: ShmPool): void {
    this.#pools.delete(pool.serial);
    this.log.debug({ pool: pool.serial }, 'pool unmapped');
  }

  clientGone(client: Client): void {
    for (const pool of this.all()) if (pool.client === client) pool.clientGone();
  }

  /** Native memory for pread, grown on demand and reused (single-threaded). */
  scratch(size: number): NativePointer {
    if (this.#scratch === null || this.#scratch.size < size) {
      if (this.#scratch !== null) nativeFree(this.#scratch.ptr);
      const grown = Math.max(size, 64 * 1024);
      this.#scratch = { ptr: nativeAlloc(grown), size: grown };
    }
    return this.#scratch.ptr;
  }

  /** Shutdown: unmaps every pool whatever holds it. */
  releaseAll(): void {
    for (const pool of this.all()) pool.release();
    if (this.#scratch !== null) nativeFree(this.#scratch.ptr);
    this.#scratch = null;
  }
}

/** What the surface code needs from wl_buffer objects. */
export function shmBufferOf(resource: Resource | null): ShmBuffer | null {
  if (resource === null) return null;
  return resource.data instanceof ShmBuffer ? resource.data : null;
}

export interface ShmHooks {
  readonly pools: PoolRegistry;
  /** A wl_buffer is being destroyed: surfaces and the release logic let go of it first. */
  readonly bufferDestroying: (buffer: ShmBuffer) => void;
}

/** Binds wl_shm for one client: announces the formats, serves create_pool. */
export function bindShm(client: Client, id: number, version: number, hooks: ShmHooks): void {
  const shm = client.createResource(id, 'wl_shm', version, null, {
    requests: {
      create_pool: (req) => createPool(req, hooks),
    },
  });
  for (const format of SUPPORTED_FORMATS) shm.send('format', [format]);
}

function createPool(req: Request, hooks: ShmHooks): void {
  const fd = req.takeFd('fd');
  const size = req.number('size');
  const id = req.number('id');
  const shm = req.resource;
  if (size <= 0) {
    closeFd(fd);
    throw shm.error(ShmError.invalidStride, `invalid size (${size})`);
  }
  let pool: ShmPool;
  try {
    pool = hooks.pools.create(req.client, id, fd, size);
  } catch (err) {
    closeFd(fd);
    if (err instanceof ProtocolError) throw err;
    throw shm.error(
      ShmError.invalidFd,
      `failed to use fd for pool: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  req.client.createResource(id, 'wl_shm_pool', req.resource.version, pool, {
    requests: {
      create_buffer: (r) => createBuffer(r, pool, hooks),
      resize: (r) => pool.resize(r.number('size'), r.resource),
    },
    destroyed: () => pool.objectDestroyed(),
  });
}

function createBuffer(req: Request, pool: ShmPool, hooks: ShmHooks): void {
  const offset = req.number('offset');
  const width = req.number('width');
  const height = req.number('height');
  const stride = req.number('stride');
  const format = req.number('format');
  const resource = req.resource;
  if (!SUPPORTED_FORMATS.includes(format)) {
    throw resource.error(ShmError.invalidFormat, `invalid format 0x${format.toString(16)}`);
  }
  // libwayland's checks, plus stride ≥ 4 × width: every supported format has 4 bytes
  // per pixel, and a shorter stride would make rows overlap the next ones.
  if (
    offset < 0 ||
    width <= 0 ||
    height <= 0 ||
    stride < width * 4 ||
    Math.floor(0x7fffffff / stride) < height ||
    offset > pool.size - stride * height
  ) {
    throw resource.error(
      ShmError.invalidStride,
      `invalid width, height or stride (${width}x${height}, ${stride})`,
    );
  }
  const buffer = new ShmBuffer(pool, offset, width, height, stride, format);
  buffer.resource = req.client.createResource(req.number('id'), 'wl_buffer', 1, buffer, {
    requests: {},
    destroyed: () => {
      hooks.bufferDestroying(buffer);
      buffer.destroyedByClient();
    },
  });
}
