// One soak client: a real libwayland-client connection (ScriptedWindow, via FFI) that
// animates like a small app window — double-buffered frames paced by frame callbacks,
// partial damage (a moving square), and buffer/pool churn (a new pool with buffers of
// the other size every N frames, the old ones destroyed right after the first commit
// on the new ones, possibly still attached, as a resizing client does). It counts every
// frame it commits and every callback it gets, so "nothing lost" is checked per frame.

import { WaylandDisplayError, type WaylandProxy } from '../../harness/client/wayland-client.js';
import {
  type ScriptedBuffer,
  type ScriptedPool,
  ScriptedWindow,
} from '../../harness/client/scripted-client.js';
import { LatencyHistogram } from './histogram.js';
import type { ClientFailure, ClientSpec, ClientTotals } from './messages.js';

interface Slot {
  readonly buffer: ScriptedBuffer;
  readonly pixels: Uint32Array;
  busy: boolean;
  /** The whole buffer must be painted and damaged on its next use. */
  fresh: boolean;
}

interface BufferSet {
  readonly pool: ScriptedPool;
  readonly slots: readonly Slot[];
  readonly width: number;
  readonly height: number;
}

class ClientFailed extends Error {}

function describeFailure(error: Error): ClientFailure {
  if (error instanceof WaylandDisplayError) {
    const p = error.protocolError;
    if (p !== undefined && (p.code !== 0 || p.interfaceName !== '')) {
      return {
        kind: 'protocol',
        message: error.message,
        interfaceName: p.interfaceName,
        code: p.code,
      };
    }
    return { kind: 'disconnect', message: error.message };
  }
  return { kind: 'other', message: error.message };
}

export class SoakClient {
  readonly frameLatency = new LatencyHistogram();
  readonly roundtripLatency = new LatencyHistogram();
  /** Frame-callback latencies since the last takeInterval() (for the time series). */
  interval = new LatencyHistogram();
  readonly failures: ClientFailure[] = [];

  #committed = 0;
  #delivered = 0;
  #pools = 0;
  #buffers = 0;
  #releaseWaits = 0;
  #probes = 0;
  #finished = false;
  #variant = 0;
  #set: BufferSet;
  /** Wakes whoever waits on this client (a frame callback, a release) with a failure. */
  #abort: ((error: Error) => void) | null = null;
  #releaseWaiter: (() => void) | null = null;

  private constructor(
    readonly spec: ClientSpec,
    readonly window: ScriptedWindow,
  ) {
    this.#set = this.#newSet();
  }

  static async open(spec: ClientSpec): Promise<SoakClient> {
    let client: SoakClient | null = null;
    const early: Error[] = [];
    const window = await ScriptedWindow.open(spec.socketPath, {
      title: `soak-${spec.id}`,
      appId: 'grantway.soak',
      onError: (error) => (client === null ? early.push(error) : client.#fail(error)),
    });
    client = new SoakClient(spec, window);
    for (const error of early) client.#fail(error);
    return client;
  }

  get delivered(): number {
    return this.#delivered;
  }

  get failed(): boolean {
    return this.failures.length > 0;
  }

  totals(): ClientTotals {
    return {
      id: this.spec.id,
      route: this.spec.route,
      committed: this.#committed,
      delivered: this.#delivered,
      poolsCreated: this.#pools,
      buffersCreated: this.#buffers,
      releaseWaits: this.#releaseWaits,
      probes: this.#probes,
      finished: this.#finished,
      failures: this.failures,
    };
  }

  takeInterval(): LatencyHistogram {
    const h = this.interval;
    this.interval = new LatencyHistogram();
    return h;
  }

  /** Frames until `stopping()` says so; the frame in flight then is waited for. */
  async run(stopping: () => boolean): Promise<void> {
    try {
      while (!stopping() && !this.failed) {
        if (this.#committed > 0 && this.#committed % this.spec.churnEveryFrames === 0) {
          const old = this.#set;
          this.#set = this.#newSet();
          await this.#frame(stopping);
          this.#retire(old);
        } else {
          await this.#frame(stopping);
        }
        if (this.#committed % this.spec.probeEveryFrames === 0 && !stopping()) {
          const t0 = performance.now();
          await this.#guard(this.window.roundtrip());
          this.roundtripLatency.recordMs(performance.now() - t0);
          this.#probes++;
        }
      }
      this.#finished = !this.failed;
    } catch (error) {
      if (!(error instanceof ClientFailed)) this.#fail(error);
    }
  }

  /** Disconnects; the client side of every pool is freed. */
  close(): void {
    this.window.close();
    this.#retire(this.#set);
  }

  #fail(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.failures.push(describeFailure(err));
    const abort = this.#abort;
    this.#abort = null;
    abort?.(new ClientFailed(err.message));
  }

  /** Races `work` against this client failing. */
  #guard<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#abort = reject;
      work.then(
        (value) => {
          this.#abort = null;
          resolve(value);
        },
        (error: unknown) => {
          this.#abort = null;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  #newSet(): BufferSet {
    const big = this.#variant++ % 2 === 1;
    const width = this.spec.width + (big ? 32 : 0);
    const height = this.spec.height + (big ? 16 : 0);
    const bytes = width * height * 4;
    const pool = this.window.createPool(bytes * 2);
    this.#pools++;
    const view = pool.bytes();
    const slots: Slot[] = [0, 1].map((i) => {
      const buffer = this.window.createBuffer(pool, width, height, i * bytes);
      this.#buffers++;
      const slot: Slot = {
        buffer,
        pixels: new Uint32Array(view.buffer, view.byteOffset + i * bytes, width * height),
        busy: false,
        fresh: true,
      };
      buffer.proxy.on('release', () => {
        slot.busy = false;
        const wake = this.#releaseWaiter;
        this.#releaseWaiter = null;
        wake?.();
      });
      return slot;
    });
    if (!this.spec.keepPool) pool.destroyProxy();
    return { pool, slots, width, height };
  }

  #retire(set: BufferSet): void {
    for (const slot of set.slots) slot.buffer.destroy();
    set.pool.destroy();
  }

  async #freeSlot(stopping: () => boolean): Promise<Slot | null> {
    for (;;) {
      const slot = this.#set.slots.find((s) => !s.busy);
      if (slot !== undefined) return slot;
      if (stopping()) return null;
      this.#releaseWaits++;
      await this.#guard(
        new Promise<void>((resolve) => {
          this.#releaseWaiter = resolve;
          // Re-check now and then: stop may come while no release is due.
          setTimeout(resolve, 250);
        }),
      );
    }
  }

  async #frame(stopping: () => boolean): Promise<void> {
    const slot = await this.#freeSlot(stopping);
    if (slot === null) return;
    const { width, height } = this.#set;
    const n = this.#committed;
    const color = (0xff000000 | ((n * 2654435761) >>> 8)) >>> 0;
    let x = 0;
    let y = 0;
    let w = width;
    let h = height;
    if (slot.fresh) {
      slot.pixels.fill(0xff202020);
      slot.fresh = false;
    } else {
      const side = Math.max(8, Math.floor(Math.min(width, height) / 4));
      x = (n * 7) % (width - side);
      y = (n * 3) % (height - side);
      w = side;
      h = side;
    }
    for (let row = y; row < y + h; row++) {
      slot.pixels.fill(color, row * width + x, row * width + x + w);
    }
    const surface = this.window.surface;
    surface.request('attach', [slot.buffer.proxy, 0, 0]);
    surface.request(surface.version >= 4 ? 'damage_buffer' : 'damage', [x, y, w, h]);
    const callback = surface.request('frame') as WaylandProxy;
    const done = new Promise<void>((resolve) => callback.on('done', () => resolve()));
    surface.request('commit');
    slot.busy = true;
    this.#committed++;
    const t0 = performance.now();
    await this.#guard(done);
    const ms = performance.now() - t0;
    this.#delivered++;
    this.frameLatency.recordMs(ms);
    this.interval.recordMs(ms);
  }
}
