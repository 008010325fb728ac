// One owner for the state of every wl_shm_pool, wl_buffer and wl_surface of a client:
// it follows the protocol as the relay forwards it, validates what a compositor would
// otherwise trust (sizes, strides, formats, truncation), and turns what it sees into
// typed lifecycle events and per-pool evidence levels (ARCHITECTURE.md §2). It is a relay
// observer: it never touches a socket, and the relay's object map stays the authority on
// which ids exist. Its parts, each in its own module: pool validation (pool-fd.ts), limits
// accounting (accounting.ts), surface and damage state (surfaces.ts), event emission
// (emitter.ts), which pages of each pool its buffers cover (coverage.ts), what the relay
// must show it (tracker-factory.ts); grant mode plugs in as a PoolBacking (backing.ts,
// grant-mode.ts).

import { close as closeFd, fstat } from '../../ffi/libc.js';
import { ClientProtocolError, DisplayErrorCode } from '../relay/errors.js';
import { DEFAULT_CLIENT_LIMITS } from '../relay/limits.js';
import type { WaylandObject } from '../relay/object-map.js';
import type {
  MessageRewrite,
  ObservedMessage,
  SessionContext,
  SessionObserver,
} from '../relay/observer.js';
import type { MappingVerdict } from '../oracle/types.js';
import type { ArgValue } from '../wire/values.js';
import type { PageRange } from './coverage.js';
import { PASSTHROUGH_CHARGES, ShmAccounting } from './accounting.js';
import type { PoolBacking } from './backing.js';
import { PAGE_SIZE, bufferPages } from './coverage.js';
import { pagesOf } from '../grants/types.js';
import { LifecycleEmitter } from './emitter.js';
import { ShmError, servingOrShort } from './errors.js';
import type { EvidenceLevel, LifecycleSink } from './events.js';
import type { ShmBudget } from './shm-budget.js';
import { ownFdOf, validatePoolFd } from './pool-fd.js';
import {
  type BufferState,
  type PoolState,
  bytesPerPixel,
  newBufferState,
  newPoolState,
  poolEvidence,
  setBufferBusy,
} from './state.js';
import { SurfaceTable } from './surfaces.js';

/** Hooks for what happens around a client's pools (the mapping watcher). */
export interface PoolHooks {
  /**
   * The client has let go of a pool: destroyed it and every buffer made from it (or
   * left). From now on the compositor may unmap it; called once per pool.
   */
  poolLetGo?(tracker: ShmTracker, pool: PoolState): void;
  /** The tracker forgot a pool (final): stop watching it. */
  poolForgotten?(tracker: ShmTracker, pool: PoolState): void;
  /** A pool's evidence level changed (to `pool.evidence`), at `time`. */
  poolEvidence?(tracker: ShmTracker, pool: PoolState, time: number): void;
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
  /** Decode damage requests (see shmInterest, tracker-factory.ts); without it commits report damage null. */
  readonly trackDamage?: boolean;
  /** Grant mode: pools are re-backed (see PoolBacking). Requires trackDamage. */
  readonly backing?: PoolBacking;
  /** maxShmTotalAll, shared by every client of the bridge. */
  readonly budget?: ShmBudget;
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
  private readonly surfaces: SurfaceTable;
  /** wl_shm formats the compositor advertised; argb8888 and xrgb8888 are mandatory. */
  private readonly formats = new Set<number>([0, 1]);
  /** Invariant: charges exactly the pools in `tracked`. */
  private readonly accounting: ShmAccounting;
  private readonly events: LifecycleEmitter;
  private nextPoolKey = 1;
  private closed = false;
  /** Resolves attach's buffer argument; made once, not per surface request. */
  private readonly bufferOf = (id: number): BufferState | undefined => this.buffers.get(id);

  constructor(
    readonly client: number,
    readonly context: SessionContext,
    private readonly options: ShmTrackerOptions,
  ) {
    this.accounting = new ShmAccounting(
      context.limits ?? DEFAULT_CLIENT_LIMITS,
      options.backing ?? PASSTHROUGH_CHARGES,
      options.budget,
    );
    this.surfaces = new SurfaceTable(options.trackDamage === true);
    this.events = new LifecycleEmitter(client, options.timeOrigin, options.sink);
    this.events.emit(performance.now(), {
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

  /** Bytes held for this client's pools (what maxShmTotal bounds; accounting.ts). */
  heldBytes(): number {
    return this.accounting.heldBytes;
  }

  /** Fds the bridge keeps open for this client's pools (its dups, grant extents). */
  heldFds(): number {
    return this.accounting.heldFds;
  }

  /** What this client's pools cost now, as the limits count it (bridge/shm/accounting.ts). */
  held(): { bytes: number; declared: number; fds: number } {
    const a = this.accounting;
    return { bytes: a.heldBytes, declared: a.heldDeclared, fds: a.heldFds };
  }

  onMessage(m: ObservedMessage): MessageRewrite | undefined {
    const iface = m.object.table.name;
    const a = m.args;
    if (iface === 'wl_surface') {
      // Most of a frame's traffic: kept to one switch on the name.
      return this.onSurfaceRequest(m.object.id, m.name, a, m.time);
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
          this.surfaces.get(a[1] as number).viewported = true;
          break;
      }
    } else if (iface === 'wl_buffer' && m.name === 'release') {
      const buffer = this.buffers.get(m.object.id);
      if (buffer === undefined) return undefined;
      buffer.readable = false;
      if (buffer.busy) {
        setBufferBusy(buffer, false);
        this.events.released(m.time, buffer.id);
        this.updateEvidence(buffer.pool, m.time);
      }
    } else if (iface === 'wl_shm' && m.name === 'format') {
      this.formats.add(a[0] as number);
    }
    return undefined;
  }

  onDamage(
    surface: WaylandObject,
    inBufferCoordinates: boolean,
    x: number,
    y: number,
    width: number,
    height: number,
  ): void {
    this.surfaces.damage(surface.id, inBufferCoordinates, x, y, width, height);
  }

  private onSurfaceRequest(
    id: number,
    name: string,
    a: readonly ArgValue[],
    time: number,
  ): MessageRewrite | undefined {
    switch (name) {
      case 'commit': {
        // Grant mode copying off the event loop: the commit waits for its copy.
        const ready = this.commit(id, time);
        return ready === undefined ? undefined : { ready };
      }
      case 'destroy':
        this.surfaces.delete(id);
        this.options.backing?.surfaceDestroyed(id);
        break;
      default:
        this.surfaces.pending(id, name, a, this.bufferOf);
    }
    return undefined;
  }

  onDeleted(object: WaylandObject, time: number): void {
    const name = object.table.name;
    if (name === 'wl_shm_pool') {
      const pool = this.pools.get(object.id);
      if (pool === undefined) return;
      this.pools.delete(object.id);
      pool.acked = true;
      this.events.emit(time, {
        type: 'delete-acked',
        object: object.id,
        kind: 'pool',
        poolKey: pool.key,
      });
      this.updateEvidence(pool, time);
    } else if (name === 'wl_buffer') {
      const buffer = this.buffers.get(object.id);
      if (buffer === undefined) return;
      buffer.acked = true;
      this.buffers.delete(buffer.id);
      buffer.pool.buffers.delete(buffer);
      if (buffer.covering && !buffer.readable) this.uncover(buffer);
      this.events.emit(time, { type: 'delete-acked', object: object.id, kind: 'buffer' });
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
    this.events.emit(time, { type: 'client-gone' });
    for (const buffer of this.buffers.values()) {
      buffer.destroyed = true;
      buffer.acked = true;
      setBufferBusy(buffer, false);
      buffer.pool.buffers.delete(buffer);
      this.options.backing?.bufferDestroyed(buffer);
    }
    this.buffers.clear();
    this.surfaces.clear();
    for (const pool of [...this.tracked]) {
      pool.destroyed = true;
      pool.acked = true;
      this.checkLetGo(pool, time);
      this.updateEvidence(pool, time);
    }
  }

  /** An E3 verdict from the mapping watcher. */
  onOracle(pool: PoolState, verdict: MappingVerdict, time: number): void {
    if (!this.tracked.has(pool) || pool.settled === true || pool.oracle === verdict) return;
    pool.oracle = verdict;
    this.events.pool(time, pool, { type: 'oracle', verdict });
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
    const what = `wl_shm.create_pool of ${size} bytes`;
    const file = validatePoolFd(fd, size, m.object.id);
    // Checked before anything is taken, so a refused pool costs nothing.
    const charge = this.accounting.admit(what, size, file.sealedAgainstShrink);
    const own = servingOrShort(what, () => ownFdOf(fd));
    const pool = newPoolState({
      id,
      key: this.nextPoolKey++,
      size,
      file: file.file,
      mappedFile: file.file,
      clientFd: own.fd,
      ownDescription: own.ownDescription,
      sealedAgainstShrink: file.sealedAgainstShrink,
    });
    let rewrite: MessageRewrite | undefined;
    const backing = this.options.backing;
    if (backing !== undefined) {
      try {
        const backed = servingOrShort(what, () =>
          backing.created(pool, { what, objectId: m.object.id }),
        );
        pool.mappedFile = backed.mappedFile;
        rewrite = { fds: [backed.fd] };
      } catch (err) {
        closeFd(pool.clientFd);
        throw err;
      }
      closeFd(fd); // ours now (see MessageRewrite); the tracker keeps its dup
    }
    this.pools.set(id, pool);
    this.tracked.add(pool);
    this.accounting.charge(pool, charge);
    this.events.pool(m.time, pool, { type: 'pool-created', size, pages: pagesOf(size) });
    return rewrite;
  }

  private resizePool(m: ObservedMessage, size: number): void {
    const pool = this.pools.get(m.object.id);
    // A destroyed pool is the compositor's to refuse (invalid_object): nothing to do here.
    if (pool === undefined || pool.destroyed) return;
    // As libwayland-server: wl_shm.invalid_fd, for a negative size too.
    if (size < pool.size) {
      throw new ClientProtocolError(m.object.id, ShmError.invalidFd, 'shrinking pool invalid');
    }
    // Nothing changes: spare the backing a remap (a client may resize in a loop).
    if (size === pool.size) return;
    const what = `wl_shm_pool.resize to ${size} bytes`;
    const charge = this.accounting.admitChange(what, pool, size, this.coveredBytes(pool));
    const fileSize = fstat(pool.clientFd).size; // a memory file (pool-fd.ts): never blocks
    if (fileSize < size) {
      throw new ClientProtocolError(
        m.object.id,
        ShmError.invalidFd,
        `pool fd is ${fileSize} bytes, smaller than the new pool size ${size}`,
      );
    }
    const before = pool.size;
    pool.size = size;
    try {
      servingOrShort(what, () => this.options.backing?.resized(pool, { what, objectId: pool.id }));
    } catch (err) {
      pool.size = before;
      throw err;
    }
    this.accounting.charge(pool, charge);
    this.events.pool(m.time, pool, { type: 'pool-resized', size, pages: pagesOf(size) });
  }

  private createBuffer(m: ObservedMessage, a: readonly ArgValue[]): void {
    const pool = this.pools.get(m.object.id);
    const [id, offset, width, height, stride, format] = a as number[];
    // Invariant: a let-go pool gets no new buffer (its client fd and mapping are gone). A
    // request on a destroyed pool is the compositor's to refuse (invalid_object).
    if (pool === undefined || pool.destroyed || id === undefined) return;
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
    const pages = bufferPages(offset!, stride!, height!);
    this.cover(pool, pages, `wl_shm_pool.create_buffer ${width}x${height} at offset ${offset}`);
    const buffer = newBufferState({
      id,
      pool,
      offset: offset!,
      width: width!,
      height: height!,
      stride: stride!,
      format: format!,
      pages,
    });
    this.buffers.set(id, buffer);
    pool.buffers.add(buffer);
    this.events.pool(m.time, pool, {
      type: 'buffer-created',
      buffer: id,
      offset: buffer.offset,
      width: buffer.width,
      height: buffer.height,
      stride: buffer.stride,
      format: buffer.format,
    });
  }

  /** Returns the backing's copy when it runs off the event loop (see PoolBacking). */
  private commit(surfaceId: number, time: number): Promise<void> | undefined {
    const { buffer, attached, damage } = this.surfaces.commit(surfaceId);
    if (buffer === null || buffer.destroyed) return undefined;
    const newContent = attached || damage === null || damage.length > 0;
    let ready: Promise<void> | undefined;
    if (newContent) {
      this.checkNotTruncated(buffer);
      ready = this.options.backing?.committed(surfaceId, buffer, damage);
    }
    if (attached) {
      setBufferBusy(buffer, true);
      buffer.readable = true;
      this.events.committed(time, buffer.id, surfaceId, damage);
      this.updateEvidence(buffer.pool, time);
    }
    return ready;
  }

  /**
   * A client may shrink its pool file under the compositor's mapping, which kills a
   * compositor that reads the lost pages with SIGBUS. Unless the file is sealed against
   * shrinking, check at every commit that the buffer is still backed.
   */
  private checkNotTruncated(buffer: BufferState): void {
    const pool = buffer.pool;
    if (pool.sealedAgainstShrink) return;
    const size = fstat(pool.clientFd).size; // a memory file (pool-fd.ts): never blocks
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
    this.events.pool(time, pool, { type: 'pool-destroyed' });
    this.checkLetGo(pool, time);
    this.updateEvidence(pool, time);
  }

  /**
   * A new buffer covers `pages` of `pool`: charged (and checked against the limits),
   * then backed, then counted — in that order, so a refused buffer costs nothing.
   */
  private cover(pool: PoolState, pages: PageRange, what: string): void {
    const fresh = pool.coverage.peekAdd(pages);
    if (fresh > 0) {
      const covered = (pool.coverage.covered + fresh) * PAGE_SIZE;
      const charge = this.accounting.admitChange(what, pool, pool.size, covered);
      servingOrShort(what, () => this.options.backing?.covered(pool, pages));
      this.accounting.charge(pool, charge);
    }
    pool.coverage.add(pages);
  }

  /** `buffer` no longer covers its pages (BufferState.covering): those no other buffer covers go. */
  private uncover(buffer: BufferState): void {
    buffer.covering = false;
    const pool = buffer.pool;
    const gone = pool.coverage.remove(buffer.pages);
    if (gone.length === 0 || !this.tracked.has(pool)) return;
    this.options.backing?.uncovered(pool, gone);
    const covered = this.coveredBytes(pool);
    this.accounting.charge(pool, this.accounting.admitChange('', pool, pool.size, covered));
  }

  private coveredBytes(pool: PoolState): number {
    return pool.coverage.covered * PAGE_SIZE;
  }

  private destroyBuffer(id: number, time: number): void {
    const buffer = this.buffers.get(id);
    if (buffer === undefined) return;
    buffer.destroyed = true;
    setBufferBusy(buffer, false);
    this.options.backing?.bufferDestroyed(buffer);
    this.events.pool(time, buffer.pool, { type: 'buffer-destroyed', buffer: id });
    this.checkLetGo(buffer.pool, time);
    this.updateEvidence(buffer.pool, time);
  }

  private checkLetGo(pool: PoolState, time: number): void {
    if (pool.letGo || !pool.destroyed) return;
    for (const buffer of pool.buffers) if (!buffer.destroyed) return;
    pool.letGo = true;
    pool.letGoAt = time;
    // Nothing is checked or copied from the client's file any more: its dup goes now,
    // not when the compositor is done (which may be much later, or never).
    closeFd(pool.clientFd);
    pool.clientFd = -1;
    this.accounting.letGo(pool);
    this.options.backing?.letGo(pool);
    this.options.hooks?.poolLetGo?.(this, pool);
  }

  private updateEvidence(pool: PoolState, time: number): void {
    const level: EvidenceLevel = poolEvidence(pool);
    if (level !== pool.evidence) {
      pool.evidence = level;
      this.events.evidence(time, pool, level);
      this.options.hooks?.poolEvidence?.(this, pool, time);
    }
    // Let go and acked (the compositor has the fd): the backing goes to the reclaimer
    // once, and every later piece of evidence follows it.
    const backing = this.options.backing;
    if (pool.handedOff === true) backing?.updated(pool);
    else if (pool.letGo && pool.acked && backing !== undefined && this.tracked.has(pool)) {
      pool.handedOff = true;
      backing.handOff(pool, (verdict) => {
        this.onOracle(pool, verdict, performance.now());
        pool.settled = true;
      });
    }
    const retired = pool.destroyed && pool.acked && pool.buffers.size === 0;
    // Final: nothing more can happen to this pool on either side.
    const final =
      retired &&
      (level === 'E3' || pool.oracle === 'unavailable' || this.options.watchesMappings !== true);
    if (final) this.forget(pool);
  }

  /** Drops a pool for good, and with it the tracker's dup of the client fd. */
  private forget(pool: PoolState): void {
    if (!this.tracked.delete(pool)) return;
    this.accounting.release(pool);
    if (this.pools.get(pool.id) === pool) this.pools.delete(pool.id);
    if (pool.clientFd >= 0) closeFd(pool.clientFd);
    pool.clientFd = -1;
    this.options.hooks?.poolForgotten?.(this, pool);
    this.options.backing?.forgotten(pool);
  }

  /** Forgets every pool still held (bridge shutdown). */
  dispose(): void {
    for (const pool of [...this.tracked]) this.forget(pool);
  }
}
