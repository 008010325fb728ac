// The contract between the reclaim scheduler and its policies (ARCHITECTURE.md §5). A policy is
// a small object that decides *when* to try to end foreign access to a retired grant;
// the scheduler owns everything else (the backend, the oracle, the clock, the grant
// records). Policies see typed events and read-only grant facts, and act only through
// the PolicyContext — never sockets, fds, mappings or clocks — so the same policy runs
// live in the bridge and deterministically in a trace replay.
//
// Composition follows undici's interceptors: a PolicyInterceptor takes the policy below
// it and returns one that may handle an event itself, rewrite the context it passes
// down, or simply delegate (composePolicy applies a list of them in order).

import type { BackoffOptions, MappingVerdict } from '../bridge/oracle/index.js';
import type { EvidenceLevel } from '../bridge/shm/index.js';
import type { EndAccessResult } from '../bridge/grants/index.js';

/** A grant extent, named by its backend id (unique per backend, never reused). */
export type GrantId = number;

/**
 * Where a grant is in the scheduler's care:
 * - `in-use`: a pool is backed by it (the client or the compositor may use it);
 * - `retired`: its owner let go; it waits for a policy to reclaim it;
 * - `cached`: proven unmapped and kept granted for reuse by a new pool (recycle);
 * - `ended`: foreign access ended, refs not yet returned (linux-deferred frees refs in
 *   chunks);
 * - `freed`: gone (the record disappears with the next event).
 */
export type GrantPhase = 'in-use' | 'retired' | 'cached' | 'ended' | 'freed';

/** What a policy may know about a grant. A live view: the scheduler keeps it current. */
export interface GrantInfo {
  readonly id: GrantId;
  /** Grant refs held now: every page of a whole extent, the granted pages of a sparse one. */
  readonly pages: number;
  /** Pages the extent spans (a pool's declared size); = pages for a whole extent. */
  readonly span: number;
  /** Granted page by page as buffers cover them (never cached for reuse). */
  readonly sparse: boolean;
  readonly phase: GrantPhase;
  /** Highest evidence of unmapping seen so far (ARCHITECTURE.md §2); E0 while in use. */
  readonly evidence: EvidenceLevel;
  /** Last oracle answer (pushed by the bridge's watcher or from a probe). */
  readonly oracle: MappingVerdict | undefined;
  readonly allocatedAt: number;
  /** When the owner let go (undefined while in use). */
  readonly retiredAt: number | undefined;
  /** endForeignAccess calls made for this grant since it was retired. */
  readonly attempts: number;
}

/** What happened, as a policy is told. */
export type PolicyEvent =
  /** A grant's owner let go of it: from now on it is the policy's to reclaim. */
  | { readonly type: 'retired'; readonly grant: GrantInfo }
  /** New evidence or an oracle verdict for a retired grant. */
  | { readonly type: 'evidence'; readonly grant: GrantInfo }
  /** A grant was handed to a new pool (grants in use grew). */
  | { readonly type: 'allocated'; readonly grant: GrantInfo }
  /**
   * A time some policy asked for (wakeAt) has come; `ctx.now` is that time. Composed
   * policies share timers, so each acts only when one of its own due times has come.
   */
  | { readonly type: 'timer' }
  /** An allocation of `pages` failed for lack of free refs; it is retried once after. */
  | { readonly type: 'pressure'; readonly pages: number };

export type PolicyEventType = PolicyEvent['type'];

/** The policy's only way to act. Every call is made at `now`. */
export interface PolicyContext {
  /** The scheduler's time, ms (passed in by whoever drives it; never a clock read). */
  readonly now: number;
  /** Refs allocated and not yet freed (cached and ended ones included). */
  readonly refsInUse: number;
  /** Refs the grant table has (Infinity when the backend has no limit). */
  readonly refsTotal: number;
  /** The facts about one grant, or undefined once it is freed (or never existed). */
  grant(id: GrantId): GrantInfo | undefined;
  /** Retired grants, oldest retirement first. */
  retired(): readonly GrantInfo[];
  /**
   * Ends foreign access to a retired (or cached) grant: goes through the backend, which
   * refuses while the remote side maps it ('still-mapped', counted as a failure).
   * 'ok' leaves it `ended`; already ended → 'ok' without a backend call.
   */
  endAccess(id: GrantId): EndAccessResult;
  /** Returns an `ended` grant's refs to the table. */
  free(id: GrantId): void;
  /** endAccess, then free on 'ok'. */
  reclaim(id: GrantId): EndAccessResult;
  /**
   * What the E3 oracle says now about whether the remote side still maps the grant:
   * 'unavailable' when no oracle can tell. Counted. In a live bridge it is the last
   * verdict of the bridge's one E3 poller (no look at /proc of its own); in a replay,
   * the compositor model's answer.
   */
  probe(id: GrantId): MappingVerdict;
  /**
   * Keeps a retired grant granted for reuse, provided the oracle says now that it is
   * unmapped (the scheduler checks; false and nothing changes otherwise). Invariant
   * enforced here, not trusted to policies: a cached grant was unmapped when cached.
   * A sparse grant is never cached (false): its pages come and go with its buffers, and
   * a new pool starts with none.
   */
  cache(id: GrantId): boolean;
  /** Asks for a 'timer' event at time `at` (≥ now; earlier times are clamped). */
  wakeAt(at: number): void;
}

export interface ReclaimPolicy {
  /** Name shown in reports, e.g. `evidence(level=E3)`. */
  readonly name: string;
  /**
   * How soon, and then how much less often, the policy wants the E3 oracle asked again
   * about a grant still mapped. A live bridge's one E3 poller (the mapping watcher) looks
   * on this backoff and pushes what it sees; in a replay the policy's own probes follow
   * it. Undefined: the poller's default (DEFAULT_BACKOFF).
   */
  readonly recheck?: BackoffOptions;
  handle(event: PolicyEvent, ctx: PolicyContext): void;
  /**
   * A new pool needs `pages` pages: offer a cached grant of exactly that size to reuse
   * (returns its id), or undefined to have the backend allocate fresh refs.
   */
  reuse?(pages: number, ctx: PolicyContext): GrantId | undefined;
}

/** Wraps a policy, as undici interceptors wrap a dispatch function. */
export type PolicyInterceptor = (next: ReclaimPolicy) => ReclaimPolicy;

/** `composePolicy(base, a, b)` = a(b(base)): the first interceptor sees events first. */
export function composePolicy(
  base: ReclaimPolicy,
  ...interceptors: readonly PolicyInterceptor[]
): ReclaimPolicy {
  return interceptors.reduceRight<ReclaimPolicy>((next, wrap) => wrap(next), base);
}
