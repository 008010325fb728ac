// `linux-deferred` (and its `qubes` preset): what the Linux kernel does with a grant
// that cannot be ended because the other domain still maps it — the baseline every
// other policy is measured against (ARCHITECTURE.md §1, §5).
//
// When to use it: to reproduce what a guest gets today from gntalloc/gnttab_end_foreign_
// access — try to end access at once, and if the page is still mapped, put it on a
// deferred list that a timer retries every `periodMs` (1000, the kernel's HZ), at most
// `freePerIteration` refs per tick (10, the module parameter's default; 0 = no limit).
// It needs no evidence at all, which is also why it fails: under window churn the list
// grows faster than it drains. The `qubes` preset is the same with 10000 refs per tick,
// the value Qubes writes to /sys/module/grant_table/parameters/free_per_iteration.
//
// Model of the kernel (behaviour, not code): the deferred list holds *refs*, in order.
// A tick takes refs from the head until its budget is spent; a ref still mapped goes to
// the tail, and the tick stops when it meets the first ref it re-queued; the timer is
// re-armed one period later while the list is not empty. Here an extent's refs travel
// as chunks of one extent (the sim backend ends an extent all or nothing, as every ref
// of a pool is unmapped together), so one endForeignAccess call stands for a chunk; an
// extent is freed once all of its refs have been processed.

import type { GrantId, PolicyContext, PolicyEvent, ReclaimPolicy } from '../types.js';

export interface LinuxDeferredOptions {
  /** Refs retried per tick; 0 = no limit (the kernel's meaning). */
  readonly freePerIteration: number;
  /** Tick period, ms. */
  readonly periodMs: number;
}

export const LINUX_DEFERRED_DEFAULTS: LinuxDeferredOptions = {
  freePerIteration: 10,
  periodMs: 1000,
};
export const QUBES_FREE_PER_ITERATION = 10000;

interface Chunk {
  readonly id: GrantId;
  refs: number;
}

export function linuxDeferredPolicy(
  options: LinuxDeferredOptions = LINUX_DEFERRED_DEFAULTS,
  name = 'linux-deferred',
): ReclaimPolicy {
  const { freePerIteration, periodMs } = options;
  /** The deferred list, head at `head`. Invariant: every chunk has refs > 0. */
  let queue: Chunk[] = [];
  let head = 0;
  /** Refs of each queued grant not yet processed; the grant is freed when it hits 0. */
  const remaining = new Map<GrantId, number>();
  /** When the armed timer fires (undefined: not armed, the list is empty). */
  let dueAt: number | undefined;

  const arm = (ctx: PolicyContext): void => {
    if (dueAt !== undefined || head >= queue.length) return;
    dueAt = ctx.now + periodMs;
    ctx.wakeAt(dueAt);
  };

  const processed = (ctx: PolicyContext, id: GrantId, refs: number): void => {
    const left = (remaining.get(id) ?? 0) - refs;
    if (left > 0) {
      remaining.set(id, left);
      return;
    }
    remaining.delete(id);
    ctx.free(id);
  };

  const tick = (ctx: PolicyContext): void => {
    dueAt = undefined;
    let budget = freePerIteration === 0 ? Infinity : freePerIteration;
    let first: Chunk | undefined;
    while (budget > 0 && head < queue.length) {
      const chunk = queue[head]!;
      if (chunk === first) break;
      const refs = Math.min(budget, chunk.refs);
      budget -= refs;
      if (ctx.grant(chunk.id) === undefined) {
        head++; // freed by someone else meanwhile (close): drop it
        continue;
      }
      if (ctx.endAccess(chunk.id) === 'ok') {
        chunk.refs -= refs;
        if (chunk.refs === 0) head++;
        processed(ctx, chunk.id, refs);
      } else {
        const failed: Chunk = { id: chunk.id, refs };
        chunk.refs -= refs;
        if (chunk.refs === 0) head++;
        queue.push(failed);
        first ??= failed;
      }
    }
    // Drop the consumed head now and then, so the array does not grow forever.
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    arm(ctx);
  };

  return {
    name,
    handle(event: PolicyEvent, ctx: PolicyContext): void {
      switch (event.type) {
        case 'retired': {
          const { id, pages } = event.grant;
          // Try at once; on failure every ref of the extent joins the deferred list.
          if (ctx.reclaim(id) === 'ok') return;
          queue.push({ id, refs: pages });
          remaining.set(id, pages);
          arm(ctx);
          return;
        }
        case 'timer':
          // Timer events are shared by composed policies: act only on our own.
          if (dueAt !== undefined && ctx.now >= dueAt) tick(ctx);
          return;
        default:
          return; // the kernel knows nothing of Wayland evidence or pressure
      }
    },
  };
}
