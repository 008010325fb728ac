// One owner for the state of every wl_shm_pool, wl_buffer and wl_surface of a client:
// it follows the protocol as the relay forwards it, validates what a compositor would
// otherwise trust (sizes, strides, formats, truncation), and turns what it sees into
// typed lifecycle events and per-pool evidence levels (DESIGN §2). It enforces the
// client's shm limits (maxPoolSize, maxShmTotal) where pools are created and grown. It
// is a relay observer: it never touches a socket, and the relay's object map stays the
// authority on which ids exist.

import {
  close as closeFd,
  dupCloexec,
  fstat,
  getSeals,
  F_SEAL_SHRINK,
  isRegularFile,
} from '../../ffi/libc.js';
import { SyscallError } from '../../ffi/errors.js';
import { ClientLimitError, ClientProtocolError, DisplayErrorCode } from '../relay/errors.js';
import { type ClientLimits, DEFAULT_CLIENT_LIMITS } from '../relay/limits.js';
import type { WaylandObject } from '../relay/object-map.js';
import type {
  MessageInterest,
  MessageRewrite,
  ObservedMessage,
  ObserverFactory,
  SessionContext,
  SessionObserver,
} from '../relay/observer.js';
import type { FileIdentity, MappingVerdict } from '../oracle/types.js';
import type { ArgValue } from '../wire/values.js';
import type { EvidenceLevel, LifecycleEvent, LifecycleSink } from './events.js';
import {
  type BufferState,
  type PoolState,
  type Rect,
  type SurfaceState,
  bytesPerPixel,
  damageInBufferCoordinates,
  poolEvidence,
} from './state.js';

/** wl_shm.error codes. */
const ShmError = { invalidFormat: 0, invalidStride: 1, invalidFd: 2 } as const;

const PAGE = 4096;
const pagesOf = (size: number): number => Math.ceil(size / PAGE);

/**
 * The messages the tracker must see, by interface. Damage is optional: decoding every
 * damage request costs the relay's fast path, and only copying (grant mode) and
 * recorded traces use it.
 */
export function shmInterest(trackDamage: boolean): {
  requests: MessageInterest;
  events: MessageInterest;
} {
  const surface = ['attach', 'commit', 'destroy', 'set_buffer_scale', 'set_buffer_transform'];
  if (trackDamage) surface.push('damage', 'damage_buffer');
  return {
    requests: {
      wl_shm: ['create_pool'],
      wl_shm_pool: ['create_buffer', 'destroy', 'resize'],
      wl_buffer: ['destroy'],
      wl_surface: surface,
      wp_viewporter: ['get_viewport'],
    },
    events: {
      wl_shm: ['format'],
      wl_buffer: ['release'],
    },
  };
}

/**
 * Grant mode: what backs a pool on the compositor's side instead of the client's file.
 * Called by the tracker at the points of the protocol where the backing must act.
 */
export interface PoolBacking {
  /**
   * A validated new pool. Returns the fd the compositor receives in place of the
   * client's (the relay sends, then closes it) and the file the compositor will map.
   */
  created(pool: PoolState): { fd: number; mappedFile: FileIdentity | undefined };
  /** The pool grew (already validated against the client's file). */
  resized(pool: PoolState): void;
  /** The compositor will read `buffer` for this commit: bring its pages up to date. */
  committed(surfaceId: number, buffer: BufferState, damage: Rect[] | null): void;
  surfaceDestroyed(surfaceId: number): void;
  /** The pool is final (E3, or nothing more can be learnt): reclaim its backing. */
  forgotten(pool: PoolState): void;
}

/** Hooks for what happens around a client's pools (the mapping watcher). */
export interface PoolHooks {
  /**
   * The client has let go of a pool: destroyed it and every buffer made from it (or
   * left). From now on the compositor may unmap it; called once per pool.
   */
  poolLetGo?(tracker: ShmTracker, pool: PoolState): void;
  /** The tracker forgot a pool (final): stop watching it. */
  poolForgotten?(tracker: ShmTracker, pool: PoolState): void;
}

export interface ShmTrackerOptions {
  readonly sink: LifecycleSink;
  /** performance.now() at t = 0 of the trace. */
  readonly timeOrigin: number;
  readonly hooks?: PoolHooks;
  /**
   * Whether a mapping watcher will report oracle verdicts. Without one a pool is final
   * at E2; with one, only at E3 or once the oracle has said it cannot tell.
   */
  readonly watchesMappings?: boolean;
  /** Decode damage requests (see shmInterest); without it commits report damage null. */
  readonly trackDamage?: boolean;
  /** Grant mode: pools are re-backed (see PoolBacking). Requires trackDamage. */
  readonly backing?: PoolBacking;
}

export class ShmTracker implements SessionObserver {
  /**
   * Pools by id, while the id is theirs: an entry goes at the pool's delete_id, since
   * the client may then reuse the id for a new pool while the old one lives on through
   * its buffers (weston-simple-shm destroys each pool right after its buffer).
   */
  private readonly pools = new Map<number, PoolState>();
  /** Every pool not yet final, whether or not its id is still its own. */
  private readonly tracked = new Set<PoolState>();
  private readonly buffers = new Map<number, BufferState>();
  private readonly surfaces = new Map<number, SurfaceState>();
  /** wl_shm formats the compositor advertised; argb8888 and xrgb8888 are mandatory. */
  private readonly formats = new Set<number>([0, 1]);
  private readonly limits: ClientLimits;
  /** Invariant: the sum of `size` over `tracked` (what maxShmTotal bounds). */
  private shmBytes = 0;
  private closed = false;

  constructor(
    readonly client: number,
    readonly context: SessionContext,
    private readonly options: ShmTrackerOptions,
  ) {
    this.limits = context.limits ?? DEFAULT_CLIENT_LIMITS;
    this.emit(performance.now(), {
      type: 'client-connected',
      clientPid: context.clientPid,
      compositorPid: context.upstreamPid,
    });
  }

  /** The client is gone and every pool is final: nothing more will happen here. */
  get finished(): boolean {
    return this.closed && this.tracked.size === 0;
  }

  /** Pools still tracked (live, or destroyed and not yet final). */
  poolStates(): IterableIterator<PoolState> {
    return this.tracked.values();
  }

  /** Invariant: every tracked pool holds exactly one fd, its `clientFd` dup. */
  heldFds(): number {
    return this.tracked.size;
  }

  onMessage(m: ObservedMessage): MessageRewrite | undefined {
    const iface = m.object.table.name;
    const a = m.args;
    if (iface === 'wl_surface') {
      // Most of a frame's traffic: kept to one switch on the name.
      this.onSurfaceRequest(m.object.id, m.name, a, m.time);
    } else if (m.fromClient) {
      switch (`${iface}.${m.name}`) {
        case 'wl_shm.create_pool':
          return this.createPool(m, a[0] as number, a[1] as number, a[2] as number);
        case 'wl_shm_pool.create_buffer':
          this.createBuffer(m, a);
          break;
        case 'wl_shm_pool.resize':
          this.resizePool(m, a[0] as number);
          break;
        case 'wl_shm_pool.destroy':
          this.destroyPool(m.object.id, m.time);
          break;
        case 'wl_buffer.destroy':
          this.destroyBuffer(m.object.id, m.time);
          break;
        case 'wp_viewporter.get_viewport':
          this.surface(a[1] as number).viewported = true;
          break;
      }
    } else if (iface === 'wl_buffer' && m.name === 'release') {
      const buffer = this.buffers.get(m.object.id);
      if (buffer !== undefined && buffer.busy) {
        buffer.busy = false;
        this.emit(m.time, { type: 'buffer-released', buffer: buffer.id });
        this.updateEvidence(buffer.pool, m.time);
      }
    } else if (iface === 'wl_shm' && m.name === 'format') {
      this.formats.add(a[0] as number);
    }
    return undefined;
  }

  private onSurfaceRequest(id: number, name: string, a: readonly ArgValue[], time: number): void {
    switch (name) {
      case 'attach':
        this.surface(id).pendingBuffer = a[0] === 0 ? null : this.buffers.get(a[0] as number);
        break;
      case 'damage':
        addDamage(this.surface(id).pendingDamage, a);
        break;
      case 'damage_buffer':
        addDamage(this.surface(id).pendingBufferDamage, a);
        break;
      case 'set_buffer_scale':
        this.surface(id).pendingScale = a[0] as number;
        break;
      case 'set_buffer_transform':
        this.surface(id).pendingTransform = a[0] as number;
        break;
      case 'commit':
        this.commit(id, time);
        break;
      case 'destroy':
        this.surfaces.delete(id);
        this.options.backing?.surfaceDestroyed(id);
        break;
    }
  }

  onDeleted(object: WaylandObject, time: number): void {
    const name = object.table.name;
    if (name === 'wl_shm_pool') {
      const pool = this.pools.get(object.id);
      if (pool === undefined) return;
      this.pools.delete(object.id);
      pool.acked = true;
      this.emit(time, { type: 'delete-acked', object: object.id, kind: 'pool' });
      this.updateEvidence(pool, time);
    } else if (name === 'wl_buffer') {
      const buffer = this.buffers.get(object.id);
      if (buffer === undefined) return;
      buffer.acked = true;
      this.buffers.delete(buffer.id);
      buffer.pool.buffers.delete(buffer);
      this.emit(time, { type: 'delete-acked', object: object.id, kind: 'buffer' });
      this.updateEvidence(buffer.pool, time);
    }
  }

  /**
   * The client is gone: the compositor destroys all its resources, so every pool is
   * destroyed and retired at once (E2) — no delete_id will come for them.
   */
  onClosed(time: number): void {
    if (this.closed) return;
    this.closed = true;
    this.emit(time, { type: 'client-gone' });
    for (const buffer of this.buffers.values()) {
      buffer.destroyed = true;
      buffer.acked = true;
      buffer.busy = false;
      buffer.pool.buffers.delete(buffer);
    }
    this.buffers.clear();
    this.surfaces.clear();
    for (const pool of [...this.tracked]) {
      pool.destroyed = true;
      pool.acked = true;
      this.checkLetGo(pool);
      this.updateEvidence(pool, time);
    }
  }

  /** An E3 verdict from the mapping watcher. */
  onOracle(pool: PoolState, verdict: MappingVerdict, time: number): void {
    if (!this.tracked.has(pool) || pool.oracle === verdict) return;
    pool.oracle = verdict;
    this.emit(time, { type: 'oracle', pool: pool.id, verdict });
    this.updateEvidence(pool, time);
  }

  private createPool(
    m: ObservedMessage,
    id: number,
    fd: number,
    size: number,
  ): MessageRewrite | undefined {
    // The relay forwards (and then closes) `fd`; the tracker keeps its own dup. In grant
    // mode the compositor gets the backing's fd instead, and `fd` is closed here.
    if (size <= 0) {
      throw new ClientProtocolError(m.object.id, ShmError.invalidStride, `invalid size (${size})`);
    }
    this.checkShmLimits(`wl_shm.create_pool of ${size} bytes`, size, size);
    let st: ReturnType<typeof fstat>;
    try {
      st = fstat(fd);
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidFd,
        `invalid pool fd: ${err.message}`,
      );
    }
    // Only a regular file (memfd, shm_open, tmpfs) can back a pool: /dev/zero, a pipe or a
    // socket (which libwayland-server would try to map) is refused before anyone maps it.
    if (!isRegularFile(st)) {
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidFd,
        `invalid pool fd: not a regular file (${fileType(st.mode)})`,
      );
    }
    let sealed = false;
    try {
      sealed = (getSeals(fd) & F_SEAL_SHRINK) !== 0;
    } catch {
      // EINVAL: a file that cannot carry seals (not a memfd or shmem file).
    }
    if (st.size < size) {
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidFd,
        `pool fd is ${st.size} bytes, smaller than the declared pool size ${size}`,
      );
    }
    const pool: PoolState = {
      id,
      size,
      file: { dev: st.dev, ino: st.ino },
      mappedFile: { dev: st.dev, ino: st.ino },
      clientFd: dupCloexec(fd),
      sealedAgainstShrink: sealed,
      buffers: new Set(),
      destroyed: false,
      letGo: false,
      acked: false,
      oracle: undefined,
      evidence: 'E1',
    };
    let rewrite: MessageRewrite | undefined;
    const backing = this.options.backing;
    if (backing !== undefined) {
      try {
        const { fd: upstreamFd, mappedFile } = backing.created(pool);
        pool.mappedFile = mappedFile;
        rewrite = { fds: [upstreamFd] };
      } catch (err) {
        closeFd(pool.clientFd);
        throw err;
      }
      closeFd(fd); // ours now (see MessageRewrite); the tracker keeps its dup
    }
    this.pools.set(id, pool);
    this.tracked.add(pool);
    this.shmBytes += size;
    this.emit(m.time, { type: 'pool-created', pool: id, size, pages: pagesOf(size) });
    return rewrite;
  }

  private resizePool(m: ObservedMessage, size: number): void {
    const pool = this.pools.get(m.object.id);
    if (pool === undefined) return;
    if (size < pool.size) {
      throw new ClientProtocolError(m.object.id, ShmError.invalidFd, 'shrinking pool invalid');
    }
    // Nothing changes: spare the backing a remap (a client may resize in a loop).
    if (size === pool.size) return;
    this.checkShmLimits(`wl_shm_pool.resize to ${size} bytes`, size, size - pool.size);
    const fileSize = fstat(pool.clientFd).size;
    if (fileSize < size) {
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidFd,
        `pool fd is ${fileSize} bytes, smaller than the new pool size ${size}`,
      );
    }
    this.shmBytes += size - pool.size;
    pool.size = size;
    this.options.backing?.resized(pool);
    this.emit(m.time, { type: 'pool-resized', pool: pool.id, size, pages: pagesOf(size) });
  }

  private createBuffer(m: ObservedMessage, a: readonly ArgValue[]): void {
    const pool = this.pools.get(m.object.id);
    const [id, offset, width, height, stride, format] = a as number[];
    if (pool === undefined || id === undefined) return;
    if (!this.formats.has(format!)) {
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidFormat,
        `invalid format 0x${format!.toString(16)}`,
      );
    }
    const bpp = bytesPerPixel(format!) ?? 1;
    if (
      offset! < 0 ||
      width! <= 0 ||
      height! <= 0 ||
      stride! < width! * bpp ||
      offset! + stride! * height! > pool.size
    ) {
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidStride,
        `invalid width, height or stride (${width}x${height}, ${stride}) at offset ${offset} of a ${pool.size}-byte pool`,
      );
    }
    const buffer: BufferState = {
      id,
      pool,
      offset: offset!,
      width: width!,
      height: height!,
      stride: stride!,
      format: format!,
      busy: false,
      destroyed: false,
      acked: false,
    };
    this.buffers.set(id, buffer);
    pool.buffers.add(buffer);
    this.emit(m.time, {
      type: 'buffer-created',
      pool: pool.id,
      buffer: id,
      offset: buffer.offset,
      width: buffer.width,
      height: buffer.height,
      stride: buffer.stride,
      format: buffer.format,
    });
  }

  private commit(surfaceId: number, time: number): void {
    const surface = this.surface(surfaceId);
    if (surface.pendingScale !== undefined) surface.scale = surface.pendingScale;
    if (surface.pendingTransform !== undefined) surface.transform = surface.pendingTransform;
    surface.pendingScale = undefined;
    surface.pendingTransform = undefined;
    const attached = surface.pendingBuffer;
    if (attached !== undefined) surface.current = attached;
    const buffer = surface.current;
    if (buffer !== null && !buffer.destroyed) {
      const damage =
        this.options.trackDamage === true ? damageInBufferCoordinates(surface, buffer) : null;
      const newContent = attached !== undefined || damage === null || damage.length > 0;
      if (newContent) {
        this.checkNotTruncated(buffer);
        this.options.backing?.committed(surfaceId, buffer, damage);
      }
      if (attached !== undefined) {
        buffer.busy = true;
        this.emit(time, {
          type: 'buffer-committed',
          buffer: buffer.id,
          surface: surfaceId,
          damage,
        });
        this.updateEvidence(buffer.pool, time);
      }
    }
    surface.pendingBuffer = undefined;
    surface.pendingDamage = [];
    surface.pendingBufferDamage = [];
  }

  /**
   * A client may shrink its pool file under the compositor's mapping, which kills a
   * compositor that reads the lost pages with SIGBUS. Unless the file is sealed against
   * shrinking, check at every commit that the buffer is still backed.
   */
  private checkNotTruncated(buffer: BufferState): void {
    const pool = buffer.pool;
    if (pool.sealedAgainstShrink) return;
    const size = fstat(pool.clientFd).size;
    if (size < buffer.offset + buffer.stride * buffer.height) {
      const message = `wl_buffer@${buffer.id}: its pool file was truncated to ${size} bytes after the pool was created`;
      // Like libwayland-server's SIGBUS handler: invalid_fd on the pool, or, once the
      // pool object is gone, an implementation error on the display.
      if (pool.destroyed)
        throw new ClientProtocolError(1, DisplayErrorCode.implementation, message);
      throw new ClientProtocolError(pool.id, ShmError.invalidFd, message);
    }
  }

  private destroyPool(id: number, time: number): void {
    const pool = this.pools.get(id);
    if (pool === undefined) return;
    pool.destroyed = true;
    this.emit(time, { type: 'pool-destroyed', pool: id });
    this.checkLetGo(pool);
    this.updateEvidence(pool, time);
  }

  private destroyBuffer(id: number, time: number): void {
    const buffer = this.buffers.get(id);
    if (buffer === undefined) return;
    buffer.destroyed = true;
    buffer.busy = false;
    this.emit(time, { type: 'buffer-destroyed', buffer: id, pool: buffer.pool.id });
    this.checkLetGo(buffer.pool);
    this.updateEvidence(buffer.pool, time);
  }

  private checkLetGo(pool: PoolState): void {
    if (pool.letGo || !pool.destroyed) return;
    for (const buffer of pool.buffers) if (!buffer.destroyed) return;
    pool.letGo = true;
    this.options.hooks?.poolLetGo?.(this, pool);
  }

  private surface(id: number): SurfaceState {
    let surface = this.surfaces.get(id);
    if (surface === undefined) {
      surface = {
        id,
        pendingBuffer: undefined,
        pendingDamage: [],
        pendingBufferDamage: [],
        scale: 1,
        transform: 0,
        pendingScale: undefined,
        pendingTransform: undefined,
        viewported: false,
        current: null,
      };
      this.surfaces.set(id, surface);
    }
    return surface;
  }

  private updateEvidence(pool: PoolState, time: number): void {
    const level: EvidenceLevel = poolEvidence(pool);
    if (level !== pool.evidence) {
      pool.evidence = level;
      this.emit(time, { type: 'evidence', pool: pool.id, level });
    }
    // Final: nothing more can happen to this pool on either side.
    const retired = pool.destroyed && pool.acked && pool.buffers.size === 0;
    const final =
      retired &&
      (level === 'E3' || pool.oracle === 'unavailable' || this.options.watchesMappings !== true);
    if (final) this.forget(pool);
  }

  /**
   * maxPoolSize for a pool of `size` bytes, maxShmTotal for `growth` more bytes. Raised
   * before the backing allocates anything, so a refused pool costs nothing.
   */
  private checkShmLimits(what: string, size: number, growth: number): void {
    const { maxPoolSize, maxShmTotal } = this.limits;
    if (size > maxPoolSize) throw new ClientLimitError('maxPoolSize', maxPoolSize, what);
    if (this.shmBytes + growth > maxShmTotal) {
      throw new ClientLimitError(
        'maxShmTotal',
        maxShmTotal,
        `${what}, with ${this.shmBytes} bytes of pools held`,
      );
    }
  }

  /** Drops a pool for good, and with it the tracker's dup of the client fd. */
  private forget(pool: PoolState): void {
    if (!this.tracked.delete(pool)) return;
    this.shmBytes -= pool.size;
    if (this.pools.get(pool.id) === pool) this.pools.delete(pool.id);
    closeFd(pool.clientFd);
    this.options.hooks?.poolForgotten?.(this, pool);
    this.options.backing?.forgotten(pool);
  }

  /** Forgets every pool still held (bridge shutdown). */
  dispose(): void {
    for (const pool of [...this.tracked]) this.forget(pool);
  }

  private emit(time: number, event: DistributiveOmit<LifecycleEvent, 't' | 'client'>): void {
    this.options.sink({
      ...event,
      t: Math.max(0, time - this.options.timeOrigin),
      client: this.client,
    });
  }
}

/** Past this many rectangles between commits, a surface's damage is "everything". */
const MAX_PENDING_DAMAGE = 64;
const EVERYTHING: Rect = [0, 0, 0x7fffffff, 0x7fffffff];

/**
 * Adds a damage rectangle to a surface's pending list. Bounded: a client may send
 * damage forever without committing, and the list must not grow with it.
 */
function addDamage(list: Rect[], a: readonly ArgValue[]): void {
  if (list[0] === EVERYTHING) return; // nothing can add to "everything"
  if (list.length >= MAX_PENDING_DAMAGE) {
    list.splice(0, list.length, EVERYTHING);
    return;
  }
  list.push([a[0] as number, a[1] as number, a[2] as number, a[3] as number]);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The kind of file behind an fd's st_mode, for error messages. */
function fileType(mode: number): string {
  const kinds: Record<number, string> = {
    0o010000: 'a pipe',
    0o020000: 'a character device',
    0o040000: 'a directory',
    0o060000: 'a block device',
    0o120000: 'a symbolic link',
    0o140000: 'a socket',
  };
  return kinds[mode & 0o170000] ?? `mode 0${(mode & 0o170000).toString(8)}`;
}

/** Builds one ShmTracker per session, all feeding the same sink. */
export function shmTrackerFactory(
  options: ShmTrackerOptions,
  onCreated?: (tracker: ShmTracker) => void,
): ObserverFactory {
  const interest = shmInterest(options.trackDamage === true);
  return {
    requests: interest.requests,
    events: interest.events,
    create(sessionId: number, context: SessionContext): SessionObserver {
      const tracker = new ShmTracker(sessionId, context, options);
      onCreated?.(tracker);
      return tracker;
    },
  };
}
