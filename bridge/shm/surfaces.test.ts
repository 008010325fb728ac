import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { MAX_DAMAGE_RECTS } from './state.js';
import { SurfaceTable } from './surfaces.js';

/** A 'gc' performance entry: its detail says which collector ran (Node ≥ 16). */
type GcEntry = PerformanceEntry & { readonly detail?: { readonly kind?: number } };

/** Minor (young-generation) collections that started while `work` ran. */
async function minorGcsDuring(work: () => void): Promise<number> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const start = performance.now();
  work();
  const end = performance.now();
  // GC entries are delivered after the fact, on a later turn.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return entries.filter(
    (e) =>
      e.startTime >= start &&
      e.startTime <= end &&
      (e as GcEntry).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR,
  ).length;
}

describe('SurfaceTable damage', () => {
  it('caps a surface\'s pending damage at "everything"', () => {
    const table = new SurfaceTable(true);
    for (let i = 0; i < MAX_DAMAGE_RECTS + 5; i++) table.damage(7, true, i, 0, 1, 1);
    const pending = table.get(7).pendingBufferDamage;
    expect(pending).toHaveLength(1);
    expect(pending[0]![2]).toBe(0x7fffffff);
  });

  it('a client flooding damage without committing makes no garbage per request', async () => {
    // A million requests: were each to allocate its rectangle (48 bytes or more), V8's
    // young generation (a few MiB) would be collected many times over during the loop.
    const table = new SurfaceTable(true);
    const flood = (): void => {
      for (let i = 0; i < 1_000_000; i++) table.damage(3, (i & 1) === 0, i & 255, 0, 64, 64);
    };
    flood(); // warm up: optimised code, the lists already at "everything"
    expect(await minorGcsDuring(flood)).toBeLessThanOrEqual(1);
  });
});
