// What the demo's picture and timeline are drawn from: a record of the run, kept beside
// the bridge without changing it. Three taps feed it: the lifecycle events (pools,
// commits, evidence levels, clients coming and going), the grant backend (when each
// extent is granted and when it is freed, i.e. really comes back), and the relay's
// observer hook (the title each client gives its window, so a session has a name).
// The record is plain data (DemoTimeline); timeline-svg.ts and picture-*.ts draw it.

import { DelegatingBackend } from '../../bridge/grants/index.js';
import type { GrantBackend, GrantExtent } from '../../bridge/grants/index.js';
import type { ObserverFactory } from '../../bridge/relay/observer.js';
import { tapRequests } from '../../bridge/relay/observer-tap.js';
import type { EvidenceLevel, LifecycleEvent } from '../../bridge/shm/index.js';

/** One pool of one client, from creation to the moment its grant was freed. */
export interface PoolLane {
  readonly session: number;
  readonly poolKey: number;
  readonly size: number;
  readonly createdAt: number;
  /** Evidence levels in the order they were reached, with when. */
  readonly levels: { readonly t: number; readonly level: EvidenceLevel }[];
  /** A grant backs it from then on (undefined: no grant, passthrough). */
  grantedAt: number | undefined;
  /** The client destroyed the pool, or left holding it (it let go). */
  letGoAt: number | undefined;
  /** The grant backing it was freed (undefined: never, a leak). */
  freedAt: number | undefined;
}

export interface ClientRecord {
  /** The bridge's session number (LifecycleEvent.client). */
  readonly session: number;
  readonly pid: number;
  /** The xdg_toplevel title the client set, as the bridge relayed it. */
  title: string | undefined;
  readonly connectedAt: number;
  goneAt: number | undefined;
  /** When the demo SIGKILLed it (undefined: it left on its own). */
  killedAt: number | undefined;
  /** Commits of a buffer (frames shown). */
  commits: number;
}

/** The whole run, times in ms since the record started. */
export interface DemoTimeline {
  readonly mode: 'grant' | 'passthrough';
  readonly endAt: number;
  readonly clients: readonly ClientRecord[];
  readonly pools: readonly PoolLane[];
}

/**
 * A fresh pool has no buffer, so nothing of it is busy: the tracker starts it at E1 and
 * emits an evidence event only on a change (see ShmTracker's pool creation).
 */
const INITIAL_LEVEL: EvidenceLevel = 'E1';

export class DemoRecorder {
  readonly #origin = performance.now();
  readonly #clients = new Map<number, ClientRecord>();
  /** Pools by `${session}:${poolKey}`. */
  readonly #pools = new Map<string, PoolLane>();
  /** Extents granted whose pool-created event has not come yet (see sink). */
  readonly #unclaimed: number[] = [];
  /** The pool each extent backs. */
  readonly #owner = new Map<number, PoolLane>();
  /** Titles seen before the session's client-connected event. */
  readonly #titles = new Map<number, string>();
  #endAt: number | undefined;

  constructor(private readonly mode: 'grant' | 'passthrough') {}

  /** Milliseconds since the record started; lifecycle events share this origin closely. */
  now(): number {
    return performance.now() - this.#origin;
  }

  /** The lifecycle sink (Lifecycle's `sinks`). */
  readonly sink = (e: LifecycleEvent): void => {
    switch (e.type) {
      case 'client-connected':
        this.#clients.set(e.client, {
          session: e.client,
          pid: e.clientPid,
          title: this.#titles.get(e.client),
          connectedAt: e.t,
          goneAt: undefined,
          killedAt: undefined,
          commits: 0,
        });
        break;
      case 'client-gone': {
        const client = this.#clients.get(e.client);
        if (client !== undefined) client.goneAt = e.t;
        for (const lane of this.#pools.values()) {
          if (lane.session === e.client) lane.letGoAt ??= e.t;
        }
        break;
      }
      case 'pool-created': {
        const lane: PoolLane = {
          session: e.client,
          poolKey: e.poolKey,
          size: e.size,
          createdAt: e.t,
          levels: [{ t: e.t, level: INITIAL_LEVEL }],
          grantedAt: undefined,
          letGoAt: undefined,
          freedAt: undefined,
        };
        this.#pools.set(`${e.client}:${e.poolKey}`, lane);
        // Invariant: grant mode takes the pool's extent (GrantBacking.created) just before
        // the tracker emits pool-created, synchronously, so the oldest unclaimed extent is
        // this pool's. An extent freed unclaimed (a refused pool) leaves the queue in free.
        const extent = this.#unclaimed.shift();
        if (extent !== undefined) {
          this.#owner.set(extent, lane);
          lane.grantedAt = e.t;
        }
        break;
      }
      case 'pool-destroyed': {
        const lane = this.#pools.get(`${e.client}:${e.poolKey}`);
        if (lane !== undefined) lane.letGoAt ??= e.t;
        break;
      }
      case 'evidence':
        this.#pools.get(`${e.client}:${e.poolKey}`)?.levels.push({ t: e.t, level: e.level });
        break;
      case 'buffer-committed': {
        const client = this.#clients.get(e.client);
        if (client !== undefined) client.commits++;
        break;
      }
      default:
        break;
    }
  };

  /** Wraps the grant backend the bridge uses, to see grants taken and freed. */
  backend(inner: GrantBackend): GrantBackend {
    return new RecordingBackend(inner, {
      allocated: (extent) => this.#unclaimed.push(extent.id),
      grown: (from, to) => {
        const lane = this.#owner.get(from.id);
        if (lane === undefined || from.id === to.id) return;
        this.#owner.delete(from.id);
        this.#owner.set(to.id, lane);
      },
      freed: (extent) => {
        const at = this.#unclaimed.indexOf(extent.id);
        if (at >= 0) this.#unclaimed.splice(at, 1);
        const lane = this.#owner.get(extent.id);
        if (lane !== undefined) lane.freedAt = this.now();
        this.#owner.delete(extent.id);
      },
    });
  }

  /** Wraps the bridge's observer factory to learn the title of each session's window. */
  observe(inner: ObserverFactory): ObserverFactory {
    return tapRequests(inner, { xdg_toplevel: ['set_title'] }, (sessionId, m) => {
      const title = m.args[0];
      if (m.name === 'set_title' && m.object.table.name === 'xdg_toplevel')
        if (typeof title === 'string') this.#title(sessionId, title);
    });
  }

  /** The demo SIGKILLed the client of process `pid` now. */
  killed(pid: number): void {
    const t = this.now();
    for (const client of this.#clients.values()) if (client.pid === pid) client.killedAt = t;
  }

  /** Ends the record (later events still land in it, but the plot stops here). */
  finish(): DemoTimeline {
    this.#endAt ??= this.now();
    return this.snapshot();
  }

  snapshot(): DemoTimeline {
    return {
      mode: this.mode,
      endAt: this.#endAt ?? this.now(),
      clients: [...this.#clients.values()].sort((a, b) => a.session - b.session),
      pools: [...this.#pools.values()],
    };
  }

  #title(session: number, title: string): void {
    this.#titles.set(session, title);
    const client = this.#clients.get(session);
    if (client !== undefined) client.title = title;
  }
}

interface BackendTaps {
  allocated(extent: GrantExtent): void;
  grown(from: GrantExtent, to: GrantExtent): void;
  freed(extent: GrantExtent): void;
}

/** Delegates everything to `inner` and reports grants taken, grown and freed. */
class RecordingBackend extends DelegatingBackend {
  constructor(
    inner: GrantBackend,
    private readonly taps: BackendTaps,
  ) {
    super(inner);
  }

  override allocate(pages: number, options?: { readonly sparse?: boolean }): GrantExtent {
    const extent = super.allocate(pages, options);
    this.taps.allocated(extent);
    return extent;
  }
  override grow(extent: GrantExtent, pages: number): GrantExtent {
    const grown = super.grow(extent, pages);
    this.taps.grown(extent, grown);
    return grown;
  }
  override free(extent: GrantExtent): void {
    super.free(extent);
    this.taps.freed(extent);
  }
}
