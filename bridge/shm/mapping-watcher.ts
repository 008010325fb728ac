// The bridge's one E3 poller: once a client has let go of a pool (destroyed it and all
// its buffers, or left), asks the mapping oracle, on a backoff, whether any process but
// the bridge still maps or holds the pool's file, until none does (or the oracle cannot
// tell). One oracle serves the whole bridge and answers a batch per tick, so every pool
// waiting, whatever its session, shares one timer and one look; the oracle's own floor
// (notBefore) keeps the looks within its CPU budget. Each verdict goes to the pool's
// tracker, which passes it on to grant mode's backing and from there to the reclaim
// scheduler: the scheduler's policy never looks at /proc on its own (its probes read
// what this poller last saw), so there is one poller and one backoff (oracle/backoff.ts).

import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from '../oracle/backoff.js';
import type { MappingOracle, MappingQuestion, MappingVerdict } from '../oracle/types.js';
import type { PoolState } from './state.js';
import type { ShmTracker } from './tracker.js';

interface Watched {
  readonly tracker: ShmTracker;
  readonly pool: PoolState;
  readonly backoff: Backoff;
  dueAt: number;
}

export class MappingWatcher {
  private readonly watched = new Map<PoolState, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Infinity;
  looks = 0;

  constructor(
    /** The bridge's one oracle (shared with the grant backend's end-access check). */
    private readonly oracle: MappingOracle,
    /** When to look again at a file still mapped (the policy's, in a bridge). */
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get pending(): number {
    return this.watched.size;
  }

  watch(tracker: ShmTracker, pool: PoolState): void {
    if (this.watched.has(pool)) return;
    if (pool.mappedFile === undefined) {
      // Nothing the oracle could look for: say so at once rather than guess.
      tracker.onOracle(pool, 'unavailable', this.now());
      return;
    }
    const backoff = new Backoff(this.backoff);
    this.watched.set(pool, { tracker, pool, backoff, dueAt: backoff.nextAt(this.now()) });
    this.schedule();
  }

  unwatch(pool: PoolState): void {
    this.watched.delete(pool);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private schedule(): void {
    let next = Infinity;
    for (const w of this.watched.values()) next = Math.min(next, w.dueAt);
    if (next === Infinity) return;
    next = Math.max(next, this.oracle.notBefore());
    if (next >= this.timerDueAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueAt = next;
    this.timer = setTimeout(() => this.tick(), Math.max(0, next - this.now()));
  }

  private tick(): void {
    this.timer = undefined;
    this.timerDueAt = Infinity;
    const now = this.now();
    // A settled pool's verdict is final (its extent may already back another pool).
    for (const w of this.watched.values()) if (w.pool.settled === true) this.watched.delete(w.pool);
    const due = [...this.watched.values()].filter((w) => w.dueAt <= now);
    if (due.length > 0) {
      const verdicts: MappingVerdict[] = this.oracle.verdicts(due.map(question));
      this.looks++;
      const at = this.now();
      due.forEach((w, i) => {
        const verdict = verdicts[i] ?? 'unavailable';
        if (verdict !== 'mapped') this.watched.delete(w.pool);
        else w.dueAt = w.backoff.nextAt(at);
        w.tracker.onOracle(w.pool, verdict, at);
      });
    }
    this.schedule();
  }
}

/** What the oracle is asked about a pool's file. */
function question(w: Watched): MappingQuestion {
  const { pool, tracker } = w;
  const file = pool.mappedFile ?? pool.file;
  // Passthrough: the compositor maps the client's own file, which the client maps too.
  const clientsOwn = file.dev === pool.file.dev && file.ino === pool.file.ino;
  return {
    file,
    peerPid: tracker.context.upstreamPid,
    ownerPid: clientsOwn ? tracker.context.clientPid : undefined,
    // delete_id for the pool: the compositor has read create_pool, and its fd with it.
    delivered: pool.acked,
  };
}
