// Replays a lifecycle trace through the reclaim scheduler against a simulated remote:
// every pool of the trace is backed by an extent of a SimGrantBackend (the Xen-faithful
// model: end of access fails while mapped), the remote model decides when the
// compositor unmaps each pool and drives simulateRemoteMap/Unmap, and the scheduler's
// policy decides when to reclaim. Deterministic: trace time is the only clock, the
// remote's randomness is seeded, and equal times are ordered (remote unmaps, then trace
// events, then timers).
//
// The judge is the model's own record of what is mapped, kept apart from the backend
// and the scheduler: a reclaim (end of access, free, or caching for reuse) of a grant
// the remote still maps is *unsafe*; a grant retired and unmapped but not reclaimed
// when the replay ends is *leaked*. After the last event the replay keeps running the
// scheduler's timers (the drain) until nothing unmapped is left to reclaim, so a slow
// policy shows up as drain time and latency rather than as leaks; grants the model
// never unmapped are reported as leaked-while-mapped.

import {
  DelegatingBackend,
  GrantTableFullError,
  SimGrantBackend,
} from '../../bridge/grants/index.js';
import type { EndAccessResult, GrantExtent } from '../../bridge/grants/index.js';
import {
  type EvidenceLevel,
  type LifecycleEvent,
  evidenceRank,
  type LatencyStats,
  latency,
} from '../../bridge/shm/index.js';
import type { LifecycleTrace } from '../../bridge/shm/index.js';
import { MinHeap } from '../heap.js';
import { ReclaimScheduler } from '../scheduler.js';
import type { GrantId, ReclaimPolicy } from '../types.js';
import { seededRandom } from './random.js';
import type { RemoteModel } from './remote.js';

export interface ReplayOptions {
  readonly trace: LifecycleTrace;
  /** A fresh policy (policies keep state: one instance per replay). */
  readonly policy: ReclaimPolicy;
  readonly remote: RemoteModel;
  /** Seeds the per-pool random draws of the remote model. */
  readonly seed?: number;
  /** Grant table size of the sim backend, in 512-entry frames (default 64: 32760 refs). */
  readonly simFrames?: number;
  /** How long after the last event the drain may run, ms (default 24 h). */
  readonly drainLimitMs?: number;
  /** Points kept of the grants-in-use series (default 300). */
  readonly plotPoints?: number;
}

export interface ReplayResult {
  readonly policy: string;
  readonly remote: string;
  /** Trace events replayed. */
  readonly events: number;
  /** Time of the last trace event, ms. */
  readonly durationMs: number;
  /** From the last trace event to the last reclaim of the drain, ms (0: none needed). */
  readonly drainMs: number;
  readonly pools: number;
  /** Peak refs (pages) granted at once. */
  readonly peakGrants: number;
  /** Peak refs retired and not yet reclaimed (the deferred queue). */
  readonly maxDeferred: number;
  readonly endAccessAttempts: number;
  readonly failedEndAccess: number;
  readonly probes: number;
  readonly allocations: number;
  readonly reuses: number;
  /** Pools that got no extent: the grant table was full. */
  readonly allocationFailures: number;
  /** ms from the remote's unmap (or the retirement, if later) to the reclaim. */
  readonly reclaimLatencyMs: LatencyStats;
  /** Retired pools never reclaimed: in all, and those the remote never unmapped. */
  readonly leaked: number;
  readonly leakedMapped: number;
  readonly unsafe: number;
  /** Scheduler + policy time per trace event, µs (wall clock of those calls only). */
  readonly cpuUsPerEvent: number;
  /** [t ms, refs in use], at most plotPoints points, over the trace's duration. */
  readonly series: readonly (readonly [number, number])[];
}

interface BufferRec {
  readonly life: Life;
  busy: boolean;
  destroyed: boolean;
}

/** One pool from create_pool to the end of its extent. */
interface Life {
  readonly client: number;
  extent: GrantExtent | undefined;
  readonly u: number;
  /** Buffers made from the pool whose id the compositor has not retired. */
  readonly buffers: Set<BufferRec>;
  destroyed: boolean;
  acked: boolean;
  clientGone: boolean;
  /** Surfaces whose last committed buffer is from this pool. */
  shown: number;
  evidence: EvidenceLevel;
  /** Ground truth: the remote maps the extent. */
  mapped: boolean;
  unmapScheduled: boolean;
  unmappedAt: number | undefined;
  retiredAt: number | undefined;
  reclaimedAt: number | undefined;
}

/** The sim backend, with every reclaim checked against the model's truth. */
class JudgedBackend extends DelegatingBackend {
  unsafe = 0;

  constructor(
    sim: SimGrantBackend,
    private readonly mappedNow: (id: GrantId) => boolean,
  ) {
    super(sim);
  }

  override endForeignAccess(extent: GrantExtent): EndAccessResult {
    const result = this.inner.endForeignAccess(extent);
    if (result === 'ok' && this.mappedNow(extent.id)) this.unsafe++;
    return result;
  }

  override free(extent: GrantExtent): void {
    if (this.mappedNow(extent.id)) this.unsafe++;
    this.inner.free(extent);
  }
}

export function replayTrace(options: ReplayOptions): ReplayResult {
  return new Replay(options).run();
}

class Replay {
  private readonly sim: SimGrantBackend;
  private readonly backend: JudgedBackend;
  private readonly scheduler: ReclaimScheduler;
  private readonly remote: RemoteModel;
  private readonly random: () => number;
  /** Current pool lives by `client:pool` (until the compositor retires the id). */
  private readonly pools = new Map<string, Life>();
  /** Current buffers by `client:buffer`. */
  private readonly buffers = new Map<string, BufferRec>();
  /** The life of each surface's last committed buffer, by `client:surface`. */
  private readonly surfaces = new Map<string, Life>();
  /** Lives of each client not yet unmapped, to end them all at client-gone. */
  private readonly byClient = new Map<number, Set<Life>>();
  /** The life an extent id currently backs. */
  private readonly byExtent = new Map<GrantId, Life>();
  private readonly unmaps = new MinHeap<Life>();
  private readonly latencies: number[] = [];
  private readonly samples: [number, number][] = [];
  private lives = 0;
  /** Retired, unmapped, not yet reclaimed: what the drain waits for. */
  private reclaimable = 0;
  private lastReclaimAt = 0;
  private schedulerMs = 0;
  private plotUntil = Infinity;

  constructor(private readonly options: ReplayOptions) {
    this.sim = new SimGrantBackend({ frames: options.simFrames ?? 64 });
    this.backend = new JudgedBackend(this.sim, (id) => this.byExtent.get(id)?.mapped === true);
    this.remote = options.remote;
    this.random = seededRandom(options.seed ?? 1);
    this.scheduler = new ReclaimScheduler({
      backend: this.backend,
      policy: options.policy,
      oracle: this.sim,
      listener: {
        cached: (id, at) => this.reclaimed(id, at),
        freed: (id, at, wasCached) => {
          if (!wasCached) this.reclaimed(id, at);
        },
        changed: (at, refs) => {
          if (at <= this.plotUntil) this.samples.push([at, refs]);
        },
      },
    });
  }

  run(): ReplayResult {
    const events = this.options.trace.events
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.t - b.e.t || a.i - b.i)
      .map(({ e }) => e);
    const end = events.length > 0 ? events[events.length - 1]!.t : 0;
    this.plotUntil = end;
    const drainLimit = end + (this.options.drainLimitMs ?? 24 * 3600 * 1000);
    let i = 0;
    for (;;) {
      const te = i < events.length ? events[i]!.t : Infinity;
      const tu = this.unmaps.peekKey() ?? Infinity;
      const ts = this.scheduler.nextDueAt() ?? Infinity;
      const t = Math.min(te, tu, ts);
      if (t === Infinity) break;
      if (i >= events.length && ((tu === Infinity && this.reclaimable === 0) || t > drainLimit)) {
        break;
      }
      if (tu === t) {
        // t is the earliest pending time, so no timer is overdue; timers due at t fire
        // after this unmap (a compositor's unmap comes before anyone can look).
        this.unmap(this.unmaps.pop()!, t);
      } else if (te === t) {
        this.handle(events[i++]!);
      } else {
        this.timed(() => this.scheduler.advance(t));
      }
    }
    const stats = this.scheduler.stats();
    let leaked = 0;
    let leakedMapped = 0;
    for (const life of this.byExtent.values()) {
      if (life.retiredAt === undefined || life.reclaimedAt !== undefined) continue;
      leaked++;
      if (life.mapped) leakedMapped++;
    }
    return {
      policy: this.options.policy.name,
      remote: this.remote.name,
      events: events.length,
      durationMs: end,
      drainMs: Math.max(0, this.lastReclaimAt - end),
      pools: this.lives,
      peakGrants: stats.peakRefsInUse,
      maxDeferred: stats.maxDeferredRefs,
      endAccessAttempts: stats.endAccessAttempts,
      failedEndAccess: stats.endAccessFailures,
      probes: stats.probes,
      allocations: stats.allocations,
      reuses: stats.reuses,
      allocationFailures: stats.allocationFailures,
      reclaimLatencyMs: latency(this.latencies),
      leaked,
      leakedMapped,
      unsafe: this.backend.unsafe,
      cpuUsPerEvent: events.length === 0 ? 0 : (this.schedulerMs * 1000) / events.length,
      series: downsample(this.samples, end, this.options.plotPoints ?? 300),
    };
  }

  private timed<T>(f: () => T): T {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      this.schedulerMs += performance.now() - t0;
    }
  }

  private handle(e: LifecycleEvent): void {
    const t = e.t;
    switch (e.type) {
      case 'pool-created': {
        const life: Life = {
          client: e.client,
          extent: undefined,
          u: this.random(),
          buffers: new Set(),
          destroyed: false,
          acked: false,
          clientGone: false,
          shown: 0,
          evidence: 'E1',
          mapped: false,
          unmapScheduled: false,
          unmappedAt: undefined,
          retiredAt: undefined,
          reclaimedAt: undefined,
        };
        this.lives++;
        this.pools.set(`${e.client}:${e.pool}`, life);
        let clientLives = this.byClient.get(e.client);
        if (clientLives === undefined) this.byClient.set(e.client, (clientLives = new Set()));
        clientLives.add(life);
        try {
          life.extent = this.timed(() => this.scheduler.acquire(Math.max(1, e.pages), t));
        } catch (err) {
          if (!(err instanceof GrantTableFullError)) throw err;
          return; // counted by the scheduler; the pool stays unbacked
        }
        this.byExtent.set(life.extent.id, life);
        this.sim.simulateRemoteMap(life.extent);
        life.mapped = true;
        return;
      }
      case 'pool-resized': {
        const life = this.pools.get(`${e.client}:${e.pool}`);
        if (life?.extent === undefined || !life.mapped || e.pages <= life.extent.pages) return;
        // The compositor remaps the pool at its new size.
        this.sim.simulateRemoteUnmap(life.extent);
        try {
          life.extent = this.timed(() => this.scheduler.grow(life.extent!, e.pages, t));
        } catch (err) {
          if (!(err instanceof GrantTableFullError)) throw err;
        }
        this.sim.simulateRemoteMap(life.extent);
        return;
      }
      case 'buffer-created': {
        const life = this.pools.get(`${e.client}:${e.pool}`);
        if (life === undefined) return;
        const rec: BufferRec = { life, busy: false, destroyed: false };
        this.buffers.set(`${e.client}:${e.buffer}`, rec);
        life.buffers.add(rec);
        return;
      }
      case 'buffer-committed': {
        const rec = this.buffers.get(`${e.client}:${e.buffer}`);
        if (rec === undefined || rec.destroyed) return;
        rec.busy = true;
        const key = `${e.client}:${e.surface}`;
        const before = this.surfaces.get(key);
        if (before !== rec.life) {
          this.surfaces.set(key, rec.life);
          rec.life.shown++;
          if (before !== undefined) {
            before.shown--;
            this.changed(before, t);
          }
        }
        this.changed(rec.life, t);
        return;
      }
      case 'buffer-released': {
        const rec = this.buffers.get(`${e.client}:${e.buffer}`);
        if (rec === undefined) return;
        rec.busy = false;
        this.changed(rec.life, t);
        return;
      }
      case 'buffer-destroyed': {
        const rec = this.buffers.get(`${e.client}:${e.buffer}`);
        if (rec === undefined) return;
        rec.destroyed = true;
        rec.busy = false;
        this.changed(rec.life, t);
        return;
      }
      case 'pool-destroyed': {
        const life = this.pools.get(`${e.client}:${e.pool}`);
        if (life === undefined) return;
        life.destroyed = true;
        this.changed(life, t);
        return;
      }
      case 'delete-acked': {
        const key = `${e.client}:${e.object}`;
        if (e.kind === 'buffer') {
          const rec = this.buffers.get(key);
          if (rec === undefined) return;
          this.buffers.delete(key);
          rec.life.buffers.delete(rec);
          this.changed(rec.life, t);
        } else {
          const life = this.pools.get(key);
          if (life === undefined) return;
          this.pools.delete(key); // the id may be reused from now on
          life.acked = true;
          this.changed(life, t);
        }
        return;
      }
      case 'client-gone': {
        for (const life of this.byClient.get(e.client) ?? []) {
          life.clientGone = true;
          life.destroyed = true;
          life.acked = true;
          life.shown = 0;
          life.buffers.clear();
          this.changed(life, t);
        }
        this.byClient.delete(e.client);
        for (const key of [...this.pools.keys()]) {
          if (key.startsWith(`${e.client}:`)) this.pools.delete(key);
        }
        for (const key of [...this.buffers.keys()]) {
          if (key.startsWith(`${e.client}:`)) this.buffers.delete(key);
        }
        for (const key of [...this.surfaces.keys()]) {
          if (key.startsWith(`${e.client}:`)) this.surfaces.delete(key);
        }
        return;
      }
      default:
        // client-connected, and the recorded evidence/oracle events: the truth here is
        // the model's, not the recording compositor's.
        return;
    }
  }

  /**
   * Something happened to a pool. Order matters and mirrors a real compositor: it
   * unmaps (if the model says so now) before the bridge can learn of it, then the
   * bridge retires the extent if the client has let go, then new evidence is passed on.
   */
  private changed(life: Life, t: number): void {
    const before = life.evidence;
    life.evidence = evidenceOf(life);
    if (life.mapped && !life.unmapScheduled) {
      const delay = this.remote.unmapDelay({
        retired: life.destroyed && life.acked && life.buffers.size === 0,
        shown: life.shown > 0,
        clientGone: life.clientGone,
        u: life.u,
      });
      if (delay !== undefined) {
        life.unmapScheduled = true;
        if (delay <= 0) this.unmap(life, t);
        else this.unmaps.push(t + delay, life);
      }
    }
    const extent = life.extent;
    if (extent === undefined) return;
    if (life.retiredAt === undefined) {
      const letGo = life.destroyed && [...life.buffers].every((b) => b.destroyed);
      if (!letGo) return;
      life.retiredAt = t;
      if (!life.mapped) this.reclaimable++;
      this.timed(() => this.scheduler.retire(extent, { evidence: life.evidence }, t));
    } else if (evidenceRank(life.evidence) > evidenceRank(before)) {
      this.timed(() => this.scheduler.update(extent, { evidence: life.evidence }, t));
    }
  }

  private unmap(life: Life, t: number): void {
    if (!life.mapped || life.extent === undefined) return;
    this.sim.simulateRemoteUnmap(life.extent);
    life.mapped = false;
    life.unmappedAt = t;
    this.byClient.get(life.client)?.delete(life);
    if (life.retiredAt !== undefined && life.reclaimedAt === undefined) this.reclaimable++;
  }

  private reclaimed(id: GrantId, at: number): void {
    const life = this.byExtent.get(id);
    if (life === undefined || life.retiredAt === undefined || life.reclaimedAt !== undefined) {
      return;
    }
    life.reclaimedAt = at;
    this.lastReclaimAt = Math.max(this.lastReclaimAt, at);
    if (!life.mapped) {
      this.reclaimable--;
      this.latencies.push(at - Math.max(life.unmappedAt ?? at, life.retiredAt));
    }
  }
}

/** E0 while the compositor may read a buffer of the pool; E2 once all is retired. */
function evidenceOf(life: Life): EvidenceLevel {
  if (life.destroyed && life.acked && life.buffers.size === 0) return 'E2';
  for (const b of life.buffers) if (b.busy && !b.destroyed) return 'E0';
  return 'E1';
}

/** The max of each of `points` equal time buckets over [0, end] (a step plot's shape). */
function downsample(
  samples: readonly [number, number][],
  end: number,
  points: number,
): [number, number][] {
  if (samples.length <= points || end <= 0) return samples.map(([t, v]) => [t, v]);
  const width = end / points;
  const out: [number, number][] = [];
  let bucket = -1;
  for (const [t, v] of samples) {
    const b = Math.min(points - 1, Math.floor(t / width));
    if (b !== bucket) {
      out.push([round3(b * width), v]);
      bucket = b;
    } else if (v > out[out.length - 1]![1]) {
      out[out.length - 1]![1] = v;
    }
  }
  return out;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
