// Synthetic lifecycle traces for the patterns recorded traces rarely catch in a few
// seconds: a steady 60 fps client (double and triple buffering), resize storms that
// allocate a new pool every frame, many short-lived clients, clients killed mid-frame.
// Each generator is a pure function of its parameters and seed, and emits exactly what
// the shm tracker would record for such a client on a well-behaved compositor (commits,
// releases one frame later, delete_id acks a roundtrip after each destroy), so replays
// treat them like recorded traces.

import {
  LIFECYCLE_FORMAT,
  LIFECYCLE_VERSION,
  type LifecycleEvent,
  type LifecycleHeader,
} from '../../bridge/shm/index.js';
import type { LifecycleTrace } from '../../bridge/shm/index.js';
import { pagesOf } from '../../bridge/grants/index.js';
import { type Random, randomInt, seededRandom } from './random.js';

const FRAME_MS = 1000 / 60;
/** A roundtrip: how long after a destroy the compositor's delete_id arrives. */
const ACK_MS = 0.2;
/** How long after the next commit the compositor releases the previous buffer. */
const RELEASE_MS = 2;
const ARGB8888 = 0;

type Body = LifecycleEvent extends infer E
  ? E extends unknown
    ? Omit<E, 't' | 'client'>
    : never
  : never;

/** Collects events in any order; build() sorts them by time (stable). */
class TraceBuilder {
  private readonly events: LifecycleEvent[] = [];
  /** Per client: the next object id (pools, buffers and surfaces share one space). */
  private readonly nextId = new Map<number, number>();

  constructor(private readonly source: string) {}

  emit(t: number, client: number, body: Body): void {
    this.events.push({ ...body, t: round(t), client });
  }

  id(client: number): number {
    const id = this.nextId.get(client) ?? 3;
    this.nextId.set(client, id + 1);
    return id;
  }

  connect(t: number, client: number): void {
    this.emit(t, client, { type: 'client-connected', clientPid: 1000 + client, compositorPid: 1 });
  }

  /** A pool with one buffer covering it (the layout of weston-simple-shm and most toolkits). */
  pool(t: number, client: number, width: number, height: number): { pool: number; buffer: number } {
    const pool = this.id(client);
    const buffer = this.id(client);
    const size = width * height * 4;
    // Ids are never reused here, so a pool's id is also its key.
    this.emit(t, client, { type: 'pool-created', pool, poolKey: pool, size, pages: pagesOf(size) });
    this.emit(t, client, {
      type: 'buffer-created',
      pool,
      poolKey: pool,
      buffer,
      offset: 0,
      width,
      height,
      stride: width * 4,
      format: ARGB8888,
    });
    return { pool, buffer };
  }

  commit(t: number, client: number, surface: number, buffer: number): void {
    this.emit(t, client, { type: 'buffer-committed', buffer, surface, damage: null });
  }

  /** The client destroys a buffer and its pool; the compositor acknowledges both. */
  destroy(t: number, client: number, b: { pool: number; buffer: number }): void {
    const poolKey = b.pool;
    this.emit(t, client, { type: 'buffer-destroyed', buffer: b.buffer, pool: b.pool, poolKey });
    this.emit(t, client, { type: 'pool-destroyed', pool: b.pool, poolKey });
    this.emit(t + ACK_MS, client, { type: 'delete-acked', object: b.buffer, kind: 'buffer' });
    this.emit(t + ACK_MS, client, { type: 'delete-acked', object: b.pool, kind: 'pool', poolKey });
  }

  build(): LifecycleTrace {
    const events = this.events
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.t - b.e.t || a.i - b.i)
      .map(({ e }) => e);
    const header: LifecycleHeader = {
      format: LIFECYCLE_FORMAT,
      version: LIFECYCLE_VERSION,
      startedAt: '1970-01-01T00:00:00.000Z',
      mode: 'grant',
      source: this.source,
    };
    return { header, events };
  }
}

const round = (t: number): number => Math.round(t * 1000) / 1000;

/**
 * One client drawing at 60 fps into `buffers` pools of one buffer each, the compositor
 * releasing each buffer once the next is committed; after `durationMs` the client
 * destroys everything and leaves.
 */
function steadyClient(
  b: TraceBuilder,
  client: number,
  start: number,
  buffers: number,
  durationMs: number,
  width: number,
  height: number,
): void {
  b.connect(start, client);
  const surface = b.id(client);
  const pools = Array.from({ length: buffers }, () => b.pool(start, client, width, height));
  const frames = Math.floor(durationMs / FRAME_MS);
  let t = start;
  for (let k = 0; k < frames; k++) {
    t = start + 1 + k * FRAME_MS;
    b.commit(t, client, surface, pools[k % buffers]!.buffer);
    if (k > 0) {
      b.emit(t + RELEASE_MS, client, {
        type: 'buffer-released',
        buffer: pools[(k - 1) % buffers]!.buffer,
      });
    }
  }
  const end = t + FRAME_MS;
  for (const p of pools) b.destroy(end, client, p);
  b.emit(end + 5, client, { type: 'client-gone' });
}

export interface SteadyOptions {
  readonly durationMs?: number;
  readonly width?: number;
  readonly height?: number;
}

/** Two clients at 60 fps, one double-, one triple-buffered (640×480 by default). */
export function steadyTrace(options: SteadyOptions = {}): LifecycleTrace {
  const { durationMs = 3000, width = 640, height = 480 } = options;
  const b = new TraceBuilder(`synthetic:steady-60fps(${width}x${height},${durationMs}ms)`);
  steadyClient(b, 1, 0, 2, durationMs, width, height);
  steadyClient(b, 2, 3, 3, durationMs, width, height);
  return b.build();
}

export interface ResizeStormOptions {
  readonly durationMs?: number;
  /** Window size at the small and the large end of the drag. */
  readonly min?: readonly [number, number];
  readonly max?: readonly [number, number];
  /** Full small→large→small sweeps over the duration. */
  readonly sweeps?: number;
}

/**
 * A window resized every frame for `durationMs` (size swept between min and max): each
 * frame a new pool and buffer of the new size are committed, and the previous frame's
 * buffer and pool destroyed at once. The client stays connected at the end (a window
 * of a longer session), so a compositor that unmaps only on disconnect never unmaps.
 */
export function resizeStormTrace(options: ResizeStormOptions = {}): LifecycleTrace {
  const { durationMs = 10_000, min = [160, 120], max = [480, 360], sweeps = 4 } = options;
  const b = new TraceBuilder(
    `synthetic:resize-storm(${min.join('x')}..${max.join('x')},${durationMs}ms)`,
  );
  const client = 1;
  b.connect(0, client);
  const surface = b.id(client);
  const frames = Math.floor(durationMs / FRAME_MS);
  let previous: { pool: number; buffer: number } | undefined;
  for (let k = 0; k < frames; k++) {
    const t = 1 + k * FRAME_MS;
    // Triangle wave 0 → 1 → 0, `sweeps` times.
    const phase = ((k / frames) * sweeps) % 1;
    const s = phase < 0.5 ? phase * 2 : 2 - phase * 2;
    const w = Math.round(min[0] + s * (max[0] - min[0]));
    const h = Math.round(min[1] + s * (max[1] - min[1]));
    const next = b.pool(t, client, w, h);
    b.commit(t, client, surface, next.buffer);
    if (previous !== undefined) b.destroy(t + 0.05, client, previous);
    previous = next;
  }
  return b.build();
}

export interface ShortLivedOptions {
  readonly clients?: number;
  /** Time between two clients' arrivals. */
  readonly spacingMs?: number;
  readonly seed?: number;
}

/**
 * Many short-lived windows (dialogs, notifications): each client creates two pools of
 * one of three fixed sizes, draws 5–20 frames, then either destroys everything and
 * leaves (80 %) or just leaves. Repeated sizes are what `recycle` feeds on.
 */
export function shortLivedTrace(options: ShortLivedOptions = {}): LifecycleTrace {
  const { clients = 150, spacingMs = 40, seed = 1 } = options;
  const random: Random = seededRandom(seed);
  const sizes: readonly (readonly [number, number])[] = [
    [200, 150],
    [400, 300],
    [320, 64],
  ];
  const b = new TraceBuilder(`synthetic:short-lived-clients(${clients},seed=${seed})`);
  for (let c = 1; c <= clients; c++) {
    const start = c * spacingMs;
    const [w, h] = sizes[randomInt(random, 0, sizes.length - 1)]!;
    b.connect(start, c);
    const surface = b.id(c);
    const pools = [b.pool(start, c, w, h), b.pool(start, c, w, h)];
    const frames = randomInt(random, 5, 20);
    let t = start;
    for (let k = 0; k < frames; k++) {
      t = start + 1 + k * FRAME_MS;
      b.commit(t, c, surface, pools[k % 2]!.buffer);
      if (k > 0)
        b.emit(t + RELEASE_MS, c, { type: 'buffer-released', buffer: pools[(k - 1) % 2]!.buffer });
    }
    const end = t + FRAME_MS;
    if (random() < 0.8) {
      for (const p of pools) b.destroy(end, c, p);
      b.emit(end + 1, c, { type: 'client-gone' });
    } else {
      b.emit(end, c, { type: 'client-gone' });
    }
  }
  return b.build();
}

export interface KilledMidFrameOptions {
  readonly clients?: number;
  readonly seed?: number;
}

/**
 * Clients killed while the compositor still holds a buffer: each draws double-buffered
 * at 60 fps for 0.2–1 s, and is killed right after a commit (the buffer busy, nothing
 * destroyed); a new one starts 50 ms later.
 */
export function killedMidFrameTrace(options: KilledMidFrameOptions = {}): LifecycleTrace {
  const { clients = 20, seed = 2 } = options;
  const random = seededRandom(seed);
  const b = new TraceBuilder(`synthetic:killed-mid-frame(${clients},seed=${seed})`);
  let start = 0;
  for (let c = 1; c <= clients; c++) {
    b.connect(start, c);
    const surface = b.id(c);
    const pools = [b.pool(start, c, 640, 480), b.pool(start, c, 640, 480)];
    const frames = randomInt(random, 12, 60);
    let t = start;
    for (let k = 0; k < frames; k++) {
      t = start + 1 + k * FRAME_MS;
      b.commit(t, c, surface, pools[k % 2]!.buffer);
      if (k > 0)
        b.emit(t + RELEASE_MS, c, { type: 'buffer-released', buffer: pools[(k - 1) % 2]!.buffer });
    }
    b.emit(t + 0.05, c, { type: 'client-gone' }); // SIGKILL right after the last commit
    start = t + 50;
  }
  return b.build();
}

export const GENERATOR_NAMES = [
  'steady-60fps',
  'resize-storm',
  'resize-storm-large',
  'short-lived-clients',
  'killed-mid-frame',
] as const;
export type GeneratorName = (typeof GENERATOR_NAMES)[number];

/** The synthetic traces of the bench, with their default parameters. */
export function generateTrace(name: GeneratorName): LifecycleTrace {
  switch (name) {
    case 'steady-60fps':
      return steadyTrace();
    case 'resize-storm':
      return resizeStormTrace();
    case 'resize-storm-large':
      return resizeStormTrace({ min: [640, 480], max: [1280, 960] });
    case 'short-lived-clients':
      return shortLivedTrace();
    case 'killed-mid-frame':
      return killedMidFrameTrace();
  }
}
