// The granted pages of a sparse extent, as sorted disjoint runs: what a backend keeps to
// know which pages of a range are new when it grants them and which it must end when it
// gives them back. Runs, not a bit per page: a 512 MiB pool spans 131 072 pages and
// its buffers cover a few contiguous stretches of them.

import type { PageRange } from './types.js';

/** Pages in a list of ranges. */
export function pagesIn(ranges: readonly PageRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.first;
  return n;
}

export class PageSet {
  /** Invariant: sorted, disjoint, non-touching, non-empty runs. */
  private runs: { first: number; end: number }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Pages of `range` not in the set. */
  missing(range: PageRange): PageRange[] {
    const out: PageRange[] = [];
    let at = range.first;
    for (let i = this.firstEndingAfter(range.first); i < this.runs.length && at < range.end; i++) {
      const r = this.runs[i]!;
      if (r.first >= range.end) break;
      if (r.first > at) out.push({ first: at, end: r.first });
      at = Math.max(at, r.end);
    }
    if (at < range.end) out.push({ first: at, end: range.end });
    return out;
  }

  /** Pages of `range` in the set. */
  present(range: PageRange): PageRange[] {
    const out: PageRange[] = [];
    for (let i = this.firstEndingAfter(range.first); i < this.runs.length; i++) {
      const r = this.runs[i]!;
      if (r.first >= range.end) break;
      out.push({ first: Math.max(r.first, range.first), end: Math.min(r.end, range.end) });
    }
    return out;
  }

  /** Adds `range`; returns how many pages were not in the set. */
  add(range: PageRange): number {
    if (range.end <= range.first) return 0;
    let first = range.first;
    let end = range.end;
    const lo = this.firstEndingAfter(first - 1); // a run ending at `first` touches it
    let hi = lo;
    let had = 0;
    while (hi < this.runs.length && this.runs[hi]!.first <= end) {
      const r = this.runs[hi]!;
      had += Math.max(0, Math.min(r.end, range.end) - Math.max(r.first, range.first));
      first = Math.min(first, r.first);
      end = Math.max(end, r.end);
      hi++;
    }
    // `had` counted against the original range only; the union grew by the new pages.
    const added = range.end - range.first - had;
    this.runs.splice(lo, hi - lo, { first, end });
    this.count += added;
    return added;
  }

  /** Removes `range`; returns how many pages were in the set. */
  remove(range: PageRange): number {
    if (range.end <= range.first) return 0;
    const lo = this.firstEndingAfter(range.first);
    let hi = lo;
    const keep: { first: number; end: number }[] = [];
    let removed = 0;
    while (hi < this.runs.length && this.runs[hi]!.first < range.end) {
      const r = this.runs[hi]!;
      if (r.first < range.first) keep.push({ first: r.first, end: range.first });
      if (r.end > range.end) keep.push({ first: range.end, end: r.end });
      removed += Math.min(r.end, range.end) - Math.max(r.first, range.first);
      hi++;
    }
    this.runs.splice(lo, hi - lo, ...keep);
    this.count -= removed;
    return removed;
  }

  /** Every run, in order. */
  ranges(): PageRange[] {
    return this.runs.map((r) => ({ ...r }));
  }

  clear(): void {
    this.runs = [];
    this.count = 0;
  }

  private firstEndingAfter(page: number): number {
    return firstEndingAfter(this.runs, page);
  }
}

/** Index of the first of sorted, disjoint `runs` whose end is after `page` (binary search). */
export function firstEndingAfter(runs: readonly { readonly end: number }[], page: number): number {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (runs[mid]!.end <= page) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
