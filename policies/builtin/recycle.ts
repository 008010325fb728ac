// `recycle`: instead of ending access to a grant the compositor has unmapped and
// granting fresh pages for the next pool, keep the extent granted and hand it to the
// next pool of the same page count. Written as an interceptor over another policy
// (default `evidence` at E3), which still decides *when* a grant may go; recycle only
// changes *where* it goes.
//
// When to use it: clients that reallocate buffers of the same size over and over
// (toolkits that recreate their pools on every configure, short-lived windows of a
// fixed size, video players) on a backend where granting is costly — each reuse saves
// a grant allocation, an end of access and a free (three hypercalls' worth under Xen).
// Extents are cached only once the scheduler's oracle says they are unmapped (the
// scheduler enforces this), at most `maxCachedRefs` refs at a time, for at most
// `maxCacheMs`; then they are reclaimed as usual. It does not help a resize storm,
// where no two pools have the same size.

import type {
  GrantId,
  PolicyContext,
  PolicyEvent,
  PolicyInterceptor,
  ReclaimPolicy,
} from '../types.js';

export interface RecycleOptions {
  /** Refs kept cached at most. */
  readonly maxCachedRefs: number;
  /** A cached extent nobody reused by then is reclaimed. */
  readonly maxCacheMs: number;
}

export const RECYCLE_DEFAULTS: RecycleOptions = { maxCachedRefs: 4096, maxCacheMs: 2000 };

interface Cached {
  readonly id: GrantId;
  readonly pages: number;
  readonly expiresAt: number;
}

export function recycleInterceptor(options: RecycleOptions = RECYCLE_DEFAULTS): PolicyInterceptor {
  const { maxCachedRefs, maxCacheMs } = options;
  return (next: ReclaimPolicy): ReclaimPolicy => {
    /** Cached extents by page count, oldest first; `byId` is the same set. */
    const bySize = new Map<number, Cached[]>();
    const byId = new Map<GrantId, Cached>();
    let cachedRefs = 0;

    const remove = (c: Cached): void => {
      byId.delete(c.id);
      cachedRefs -= c.pages;
      const list = bySize.get(c.pages)!;
      list.splice(list.indexOf(c), 1);
      if (list.length === 0) bySize.delete(c.pages);
    };

    /** What the policy below sees: its reclaim may end in the cache instead. */
    const wrap = (ctx: PolicyContext): PolicyContext => {
      const inner = Object.create(ctx) as PolicyContext & { reclaim: PolicyContext['reclaim'] };
      inner.reclaim = (id) => {
        const g = ctx.grant(id);
        if (g === undefined || g.phase !== 'retired') return ctx.reclaim(id);
        if (cachedRefs + g.pages > maxCachedRefs || !ctx.cache(id)) return ctx.reclaim(id);
        const c: Cached = { id, pages: g.pages, expiresAt: ctx.now + maxCacheMs };
        byId.set(id, c);
        cachedRefs += c.pages;
        const list = bySize.get(c.pages);
        if (list === undefined) bySize.set(c.pages, [c]);
        else list.push(c);
        ctx.wakeAt(c.expiresAt);
        return 'ok'; // for the policy below, this grant is dealt with
      };
      return inner;
    };

    /** Reclaims cached extents (all, or the expired ones); a refusal is retried later. */
    const expire = (ctx: PolicyContext, all: boolean): void => {
      for (const c of [...byId.values()]) {
        if (!all && c.expiresAt > ctx.now) continue;
        if (ctx.reclaim(c.id) === 'ok') remove(c);
        else ctx.wakeAt(ctx.now + maxCacheMs); // remapped by a misbehaving remote
      }
    };

    return {
      name: `recycle+${next.name}`,
      recheck: next.recheck,
      handle(event: PolicyEvent, ctx: PolicyContext): void {
        if (event.type === 'timer') expire(ctx, false);
        if (event.type === 'pressure') expire(ctx, true);
        next.handle(event, wrap(ctx));
      },
      reuse(pages: number, ctx: PolicyContext): GrantId | undefined {
        const c = bySize.get(pages)?.[0];
        if (c === undefined) return next.reuse?.(pages, wrap(ctx));
        remove(c);
        return c.id;
      },
    };
  };
}
