// What grant mode needs from whoever decides when a grant extent is reclaimed. Declared
// here, on the shm floor, so that shm depends on no policy code: the reclaim scheduler
// (policies/live.ts) implements it, and the bridge assembly (bridge/assembly/) plugs it
// in. There is no other path: every extent grant mode takes comes from a reclaimer and
// goes back to it, and only its policy ends foreign access (ARCHITECTURE.md §5).

import type { GrantExtent, PageRange } from '../grants/types.js';
import type { MappingVerdict } from '../oracle/types.js';
import type { EvidenceLevel } from './events.js';

/** What the bridge knows about the unmapping of a pool's extent when it reports it. */
export interface UnmapFacts {
  readonly evidence: EvidenceLevel;
  /** The last verdict of the bridge's E3 poller (undefined: none yet). */
  readonly oracle?: MappingVerdict | undefined;
}

export interface ExtentReclaimer {
  /**
   * An extent for a new pool of `pages` pages (fresh, or a recycled one); with `sparse`,
   * one with no page granted yet (cover grants them).
   */
  allocate(pages: number, options?: { readonly sparse?: boolean }): GrantExtent;
  /** A live buffer now covers `range` of a sparse extent: grants what is missing. */
  cover(extent: GrantExtent, range: PageRange): number;
  /** No live buffer covers `range` of a sparse extent any more: gives its pages back. */
  uncover(extent: GrantExtent, range: PageRange): number;
  /** The pool grew: the extent grown in place; the old object must not be used again. */
  grow(extent: GrantExtent, pages: number): GrantExtent;
  /**
   * The client let go of the pool and the compositor has its fd (or the pool was refused,
   * or the bridge shuts down): its extent is the reclaimer's from now on, with what is
   * known of it. `settled` is called once if the reclaimer ends foreign access to it or
   * caches it for reuse (only when nothing but the bridge maps it), with what the oracle
   * says of it then (inside the reclaimer's turn: it must not call back into it).
   */
  retire(extent: GrantExtent, facts: UnmapFacts, settled?: (verdict: MappingVerdict) => void): void;
  /** News about a retired extent: higher evidence, or a new verdict of the E3 poller. */
  update(extent: GrantExtent, facts: UnmapFacts): void;
  /** Stops its timers (bridge shutdown); the backend's close() takes what is left. */
  close(): void;
}
