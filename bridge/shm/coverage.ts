// Which pages of a pool its buffers cover (pure, tested on its own). A pool's memory
// cost is not its declared size: foot declares 512 MiB pools and draws in a few MiB of
// them, moving its buffers forward as it scrolls. What the compositor can read, and so
// what grant mode must back with pages, is the union of the live buffers' bytes, each
// buffer covering offset .. offset + stride × height, page-rounded. Buffers overlap
// (foot's next buffer starts a few rows after the one it replaces), so each page keeps
// the number of live buffers that cover it: a page is granted when that number leaves 0
// and given back when it returns to 0.
//
// Representation: sorted, disjoint runs of pages with the same non-zero count, so a
// pool with a handful of buffers costs a handful of runs, and a hostile client with
// 10 000 one-pixel buffers on the same page costs one.

import { firstEndingAfter, pagesIn } from '../grants/page-set.js';
import { PAGE_SIZE, type PageRange } from '../grants/types.js';

export { PAGE_SIZE, pagesIn, type PageRange };

/** The pages a buffer's bytes (offset .. offset + stride × height) touch. */
export function bufferPages(offset: number, stride: number, height: number): PageRange {
  return {
    first: Math.floor(offset / PAGE_SIZE),
    end: Math.ceil((offset + stride * height) / PAGE_SIZE),
  };
}

interface Run {
  start: number;
  end: number;
  /** Live buffers covering every page of the run; always ≥ 1. */
  count: number;
}

export class PageCoverage {
  /** Invariant: sorted by start, disjoint, count ≥ 1, no two touching runs share a count. */
  private runs: Run[] = [];
  private coveredPages = 0;

  /** Pages covered by at least one live buffer. */
  get covered(): number {
    return this.coveredPages;
  }

  /** The covered pages, as sorted disjoint ranges. */
  ranges(): PageRange[] {
    const out: { first: number; end: number }[] = [];
    for (const r of this.runs) {
      const last = out[out.length - 1];
      if (last !== undefined && last.end === r.start) last.end = r.end;
      else out.push({ first: r.start, end: r.end });
    }
    return out;
  }

  /** Pages of `range` no live buffer covers yet (what add would newly cover). */
  peekAdd(range: PageRange): number {
    if (range.end <= range.first) return 0;
    let uncovered = range.end - range.first;
    for (let i = this.firstEndingAfter(range.first); i < this.runs.length; i++) {
      const r = this.runs[i]!;
      if (r.start >= range.end) break;
      uncovered -= Math.min(r.end, range.end) - Math.max(r.start, range.first);
    }
    return uncovered;
  }

  /** One more live buffer covers `range`; returns the pages it newly covers. */
  add(range: PageRange): PageRange[] {
    return this.apply(range, +1);
  }

  /**
   * A live buffer that covered `range` is gone; returns the pages no live buffer covers
   * any more. `range` must have been added (and not yet removed) before.
   */
  remove(range: PageRange): PageRange[] {
    if (this.peekAdd(range) > 0) {
      throw new RangeError(`pages ${range.first}..${range.end} removed but never added`);
    }
    return this.apply(range, -1);
  }

  /** Adds `delta` to the count of every page in `range`; returns pages crossing 0. */
  private apply(range: PageRange, delta: 1 | -1): PageRange[] {
    if (range.end <= range.first) return [];
    const changed: PageRange[] = [];
    const from = this.firstEndingAfter(range.first);
    let to = from;
    const replacement: Run[] = [];
    let at = range.first;
    while (to < this.runs.length && this.runs[to]!.start < range.end) {
      const r = this.runs[to]!;
      if (r.start > at) {
        // A gap inside the range: pages with count 0.
        this.gap(at, r.start, delta, replacement, changed);
        at = r.start;
      }
      if (r.start < at) replacement.push({ start: r.start, end: at, count: r.count });
      const stop = Math.min(r.end, range.end);
      const count = r.count + delta;
      if (count > 0) replacement.push({ start: at, end: stop, count });
      else this.uncover(at, stop, changed);
      if (r.end > stop) replacement.push({ start: stop, end: r.end, count: r.count });
      at = stop;
      to++;
    }
    if (at < range.end) this.gap(at, range.end, delta, replacement, changed);
    // Merge with the untouched neighbours where counts now agree.
    let start = from;
    if (start > 0) {
      replacement.unshift(this.runs[start - 1]!);
      start--;
    }
    if (to < this.runs.length) {
      replacement.push(this.runs[to]!);
      to++;
    }
    this.runs.splice(start, to - start, ...merged(replacement));
    return changed;
  }

  private gap(start: number, end: number, delta: 1 | -1, out: Run[], changed: PageRange[]): void {
    if (delta < 0) throw new RangeError(`pages ${start}..${end} removed but never added`);
    out.push({ start, end, count: 1 });
    changed.push({ first: start, end });
    this.coveredPages += end - start;
  }

  private uncover(start: number, end: number, changed: PageRange[]): void {
    if (end <= start) return;
    const last = changed[changed.length - 1];
    if (last !== undefined && last.end === start) changed[changed.length - 1] = { ...last, end };
    else changed.push({ first: start, end });
    this.coveredPages -= end - start;
  }

  private firstEndingAfter(page: number): number {
    return firstEndingAfter(this.runs, page);
  }
}

/** Joins touching runs of equal count (input sorted and disjoint). */
function merged(runs: Run[]): Run[] {
  const out: Run[] = [];
  for (const r of runs) {
    if (r.end <= r.start) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last.end === r.start && last.count === r.count) {
      out[out.length - 1] = { start: last.start, end: r.end, count: r.count };
    } else out.push({ ...r });
  }
  return out;
}
