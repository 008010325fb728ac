// `watermark`: hold retired grants and reclaim them in batches — when grants in use
// cross a high watermark (down to a low one), when an allocation finds the table full,
// or when a grant has been held `maxHoldMs` — each batch asking the oracle once per
// grant and ending access only to those it says are unmapped.
//
// When to use it: when ending access is expensive per call and memory is not tight —
// e.g. many small grant operations (each a hypercall under Xen) on a guest with a
// large grant table — so that reclaim work is done in few, dense bursts instead of one
// call per frame. Reclaim latency is traded for that: up to `maxHoldMs` (1000) while
// usage stays under `high`; it never attempts a grant the oracle says is mapped, so its
// failed attempts stay at zero wherever the oracle can see. Not for a small table
// (gntalloc's default limit is 1024 pages): set `high` below the limit, or it only ever
// reclaims under pressure.

import { MinHeap } from '../heap.js';
import type { GrantId, PolicyContext, PolicyEvent, ReclaimPolicy } from '../types.js';

export interface WatermarkOptions {
  /** Refs in use at or above which a batch starts. */
  readonly high: number;
  /** A batch stops once refs in use are at or below this. */
  readonly low: number;
  /** A grant held this long is reclaimed whatever the usage (if unmapped). */
  readonly maxHoldMs: number;
  /** How soon a held grant the oracle still saw mapped is looked at again. */
  readonly recheckMs: number;
}

export const WATERMARK_DEFAULTS: WatermarkOptions = {
  high: 8192,
  low: 4096,
  maxHoldMs: 1000,
  recheckMs: 50,
};

export function watermarkPolicy(
  options: WatermarkOptions = WATERMARK_DEFAULTS,
  name = 'watermark',
): ReclaimPolicy {
  const { high, low, maxHoldMs, recheckMs } = options;
  /** Held grants and when each is due for an unconditional look. */
  const held = new Map<GrantId, number>();
  const due = new MinHeap<GrantId>();

  const hold = (id: GrantId, at: number, ctx: PolicyContext): void => {
    held.set(id, at);
    due.push(at, id);
    ctx.wakeAt(at);
  };

  /** One look, one attempt if unmapped. True when the grant is gone. */
  const tryOne = (id: GrantId, ctx: PolicyContext): boolean => {
    if (ctx.grant(id)?.phase !== 'retired') {
      held.delete(id);
      return true;
    }
    if (ctx.probe(id) !== 'unmapped') return false;
    if (ctx.reclaim(id) !== 'ok') return false;
    held.delete(id);
    return true;
  };

  /** Oldest first, until usage is down to `low` (or everything for `all`). */
  const batch = (ctx: PolicyContext, all: boolean): void => {
    for (const id of [...held.keys()]) {
      if (!all && ctx.refsInUse <= low) return;
      tryOne(id, ctx);
    }
  };

  return {
    name,
    handle(event: PolicyEvent, ctx: PolicyContext): void {
      switch (event.type) {
        case 'retired':
          hold(event.grant.id, ctx.now + maxHoldMs, ctx);
          if (ctx.refsInUse >= high) batch(ctx, false);
          return;
        case 'allocated':
          if (ctx.refsInUse >= high) batch(ctx, false);
          return;
        case 'pressure':
          batch(ctx, true);
          return;
        case 'timer':
          for (let at = due.peekKey(); at !== undefined && at <= ctx.now; at = due.peekKey()) {
            const id = due.pop()!;
            if (held.get(id) !== at) continue; // stale
            if (!tryOne(id, ctx)) hold(id, ctx.now + recheckMs, ctx);
          }
          return;
        default:
          return;
      }
    },
  };
}
