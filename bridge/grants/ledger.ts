// The bookkeeping every grant backend shares: which extents are alive and in which
// phase, the state checks that turn misuse (free before end access, double free, use
// after free, another backend's extent) into ExtentStateError, and the counters behind
// stats(). Backends keep only what is specific to them (refs, fds, mappings).

import { ExtentStateError, GrantBackendClosedError, InvalidExtentSizeError } from './errors.js';
import type {
  EndAccessResult,
  GrantBackendName,
  GrantBackendStats,
  GrantExtent,
  GrantRef,
  PageRange,
} from './types.js';

/** Backend stats with what every backend here also counts (a superset of the interface). */
export interface BackendStats extends GrantBackendStats {
  /**
   * endForeignAccess calls answered 'ok' without evidence that the remote side had
   * unmapped (memfd/gntalloc with no source, or a source that said 'unknown').
   */
  readonly endAccessUnverified: number;
  /** Extents that close() found still mapped remotely (and reported). */
  readonly stillMappedAtClose: number;
  /** Pages of sparse extents granted, and given back, since the backend opened. */
  readonly pagesGranted: number;
  readonly pagesReleased: number;
  /** Pages releasePages had to leave granted because the remote side mapped them. */
  readonly pageReleaseFailures: number;
}

/** Options every backend accepts. */
export interface CommonGrantOptions {
  /**
   * Called by close() with the extents it found still mapped by the remote side (known
   * mapped, not merely unknown), before it drops them. Default: ignore.
   */
  readonly onStillMappedAtClose?: (extents: readonly GrantExtent[]) => void;
}

export type ExtentPhase = 'granted' | 'ended';

export interface LedgerEntry<P> {
  /** Replaced (same id) when the extent grows. */
  extent: GrantExtent;
  /** granted → ended (endForeignAccess 'ok') → removed (free). Never goes back. */
  phase: ExtentPhase;
  /** Pages granted now (all of a whole extent). */
  granted: number;
  /** The backend's private state for the extent (e.g. mapping length). */
  priv: P;
}

export class ExtentLedger<P> {
  /** Live extents by id. Invariant: an extent is here from allocate until free/close. */
  private readonly live = new Map<number, LedgerEntry<P>>();
  /** Every extent ever issued, to tell a freed extent from another backend's. */
  private readonly issued = new WeakSet<GrantExtent>();
  private nextId = 1;
  private closed = false;
  private refsInUse = 0;
  private allocations = 0;
  private frees = 0;
  private endAccessAttempts = 0;
  private endAccessFailures = 0;
  private endAccessUnverified = 0;
  private stillMappedAtClose = 0;
  private pagesGranted = 0;
  private pagesReleased = 0;
  private pageReleaseFailures = 0;

  constructor(readonly backend: GrantBackendName) {}

  assertOpen(operation: string): void {
    if (this.closed) throw new GrantBackendClosedError(this.backend, operation);
  }

  /** Validates a page count for allocate(). */
  checkPages(pages: number): void {
    if (!Number.isSafeInteger(pages) || pages <= 0) {
      throw new InvalidExtentSizeError(this.backend, pages);
    }
  }

  /** Validates a page range of `extent` for grantPages/releasePages/discard. */
  checkRange(extent: GrantExtent, range: PageRange, operation: string): void {
    const { first, end } = range;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(end) || first < 0 || end < first) {
      throw new RangeError(`${this.backend}: ${operation}: bad page range ${first}..${end}`);
    }
    if (end > extent.pages) {
      throw new RangeError(
        `${this.backend}: ${operation}: pages ${first}..${end} beyond extent ${extent.id} (${extent.pages} pages)`,
      );
    }
  }

  /** Ids are never reused, even after free (GrantExtent.id's contract). */
  takeId(): number {
    return this.nextId++;
  }

  /**
   * Records a freshly allocated extent (frozen, so nobody can alter its refs or fd): a
   * whole one (`refs`, one per page, all granted) or, with `sparse` pages, a sparse one
   * with nothing granted yet.
   */
  add(
    fields: {
      id: number;
      refs: readonly GrantRef[];
      sparse?: number;
      fd: number | undefined;
      fdOffset: number;
      ptr: GrantExtent['ptr'];
      file: GrantExtent['file'];
    },
    priv: P,
  ): GrantExtent {
    const sparse = fields.sparse !== undefined;
    const extent: GrantExtent = Object.freeze({
      id: fields.id,
      pages: fields.sparse ?? fields.refs.length,
      sparse,
      refs: Object.freeze(sparse ? [] : [...fields.refs]),
      fd: fields.fd,
      fdOffset: fields.fdOffset,
      ptr: fields.ptr,
      file: fields.file === undefined ? undefined : Object.freeze({ ...fields.file }),
    });
    const granted = sparse ? 0 : extent.pages;
    this.live.set(extent.id, { extent, phase: 'granted', granted, priv });
    this.issued.add(extent);
    this.refsInUse += granted;
    this.allocations++;
    return extent;
  }

  /** A sparse extent's granted pages changed by `delta` (grantPages / releasePages). */
  pagesChanged(entry: LedgerEntry<P>, delta: number, stillMapped = 0): void {
    entry.granted += delta;
    this.refsInUse += delta;
    if (delta > 0) this.pagesGranted += delta;
    else this.pagesReleased -= delta;
    this.pageReleaseFailures += stillMapped;
  }

  /** The live, granted (not ended) entry of a sparse extent, for grantPages/releasePages. */
  sparseEntry(extent: GrantExtent, operation: string): LedgerEntry<P> | undefined {
    const entry = this.entry(extent, operation);
    if (!extent.sparse) return undefined;
    if (entry.phase !== 'granted') {
      throw new ExtentStateError(this.backend, operation, extent.id, entry.phase);
    }
    return entry;
  }

  /**
   * Swaps a granted extent for its grown successor (same id, more pages: refs for a whole
   * one, span only for a sparse one). The old object becomes 'freed' for every later
   * call, so stale references fail loudly.
   */
  replace(
    extent: GrantExtent,
    fields: { pages: number; refs: readonly GrantRef[]; ptr: GrantExtent['ptr'] },
    priv: P,
  ): GrantExtent {
    const entry = this.entry(extent, 'grow');
    if (entry.phase !== 'granted') {
      throw new ExtentStateError(this.backend, 'grow', extent.id, entry.phase);
    }
    const grown: GrantExtent = Object.freeze({
      ...extent,
      pages: fields.pages,
      refs: Object.freeze(extent.sparse ? [] : [...fields.refs]),
      ptr: fields.ptr,
    });
    if (!extent.sparse) {
      this.refsInUse += grown.pages - extent.pages;
      entry.granted = grown.pages;
    }
    entry.extent = grown;
    entry.priv = priv;
    this.issued.add(grown);
    return grown;
  }

  /** The live entry of `extent`, or ExtentStateError ('freed' / 'foreign'). */
  entry(extent: GrantExtent, operation: string): LedgerEntry<P> {
    const entry = this.live.get(extent.id);
    if (entry !== undefined && entry.extent === extent) return entry;
    const state = this.issued.has(extent) ? 'freed' : 'foreign';
    throw new ExtentStateError(this.backend, operation, extent.id, state);
  }

  /** The live entry, undefined for a freed one; throws only for another backend's extent. */
  entryIfLive(extent: GrantExtent, operation: string): LedgerEntry<P> | undefined {
    const entry = this.live.get(extent.id);
    if (entry !== undefined && entry.extent === extent) return entry;
    if (this.issued.has(extent)) return undefined;
    throw new ExtentStateError(this.backend, operation, extent.id, 'foreign');
  }

  isForeign(extent: GrantExtent): boolean {
    return !this.issued.has(extent);
  }

  /** Counts one endForeignAccess call and, on 'ok', moves the extent to 'ended'. */
  recordEnd(entry: LedgerEntry<P>, result: EndAccessResult, verified = true): EndAccessResult {
    this.endAccessAttempts++;
    if (result === 'still-mapped') {
      this.endAccessFailures++;
    } else {
      if (entry.phase === 'granted' && !verified) this.endAccessUnverified++;
      entry.phase = 'ended';
    }
    return result;
  }

  /** free(): only an ended extent may go; the caller releases its resources after this. */
  remove(extent: GrantExtent): LedgerEntry<P> {
    const entry = this.entry(extent, 'free');
    if (entry.phase !== 'ended') {
      throw new ExtentStateError(this.backend, 'free', extent.id, entry.phase);
    }
    this.live.delete(extent.id);
    this.refsInUse -= entry.granted;
    this.frees++;
    return entry;
  }

  /**
   * close(): marks the ledger closed and hands back every live entry, forgetting them.
   * The caller releases their resources and reports the ones still mapped.
   */
  closeAll(): LedgerEntry<P>[] {
    this.closed = true;
    const entries = [...this.live.values()];
    this.live.clear();
    this.refsInUse = 0;
    return entries;
  }

  /** Extents close() found still mapped (counted, then reported by the backend). */
  recordStillMappedAtClose(count: number): void {
    this.stillMappedAtClose += count;
  }

  /** Refs of live extents. */
  get refsLive(): number {
    return this.refsInUse;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  stats(refsTotal: number): BackendStats {
    return {
      refsTotal,
      refsInUse: this.refsInUse,
      extentsInUse: this.live.size,
      allocations: this.allocations,
      frees: this.frees,
      endAccessAttempts: this.endAccessAttempts,
      endAccessFailures: this.endAccessFailures,
      endAccessUnverified: this.endAccessUnverified,
      stillMappedAtClose: this.stillMappedAtClose,
      pagesGranted: this.pagesGranted,
      pagesReleased: this.pagesReleased,
      pageReleaseFailures: this.pageReleaseFailures,
    };
  }
}
