// Unit tests of the reclaim scheduler and each built-in policy, on the sim grant
// backend with the remote side driven by hand: what each policy attempts, when, and
// that the scheduler's bookkeeping (phases, timers, refs, errors) holds.

import { describe, expect, it, vi } from 'vitest';
import { GrantTableFullError } from '../bridge/grants/errors.js';
import { SimGrantBackend } from '../bridge/grants/sim.js';
import type { GrantExtent } from '../bridge/grants/types.js';
import { policyFromFlags } from '../bridge/cli/common.js';
import { OptionError } from '../bridge/cli/options.js';
import { evidencePolicy, EVIDENCE_DEFAULTS } from '../policies/builtin/evidence.js';
import { linuxDeferredPolicy } from '../policies/builtin/linux-deferred.js';
import { recycleInterceptor } from '../policies/builtin/recycle.js';
import { watermarkPolicy, WATERMARK_DEFAULTS } from '../policies/builtin/watermark.js';
import { PolicyOptionError, SchedulerStateError, UnknownPolicyError } from '../policies/errors.js';
import { LiveReclaimer } from '../policies/live.js';
import { createPolicy, policyOptionNames, POLICY_NAMES } from '../policies/registry.js';
import { ReclaimScheduler } from '../policies/scheduler.js';
import {
  composePolicy,
  type PolicyEvent,
  type PolicyInterceptor,
  type ReclaimPolicy,
} from '../policies/types.js';

function setup(policy: ReclaimPolicy, frames = 4) {
  const sim = new SimGrantBackend({ frames });
  const scheduler = new ReclaimScheduler({ backend: sim, policy, oracle: sim });
  /** A new pool the remote maps at once, as a compositor does at create_pool. */
  const pool = (pages: number, now: number): GrantExtent => {
    const extent = scheduler.acquire(pages, now);
    sim.simulateRemoteMap(extent);
    return extent;
  };
  const freed = (extent: GrantExtent): boolean => scheduler.grant(extent.id) === undefined;
  return { sim, scheduler, pool, freed };
}

describe('linux-deferred', () => {
  it('ends access at once when nothing maps the grant', () => {
    const { sim, scheduler, pool, freed } = setup(linuxDeferredPolicy());
    const x = pool(4, 0);
    sim.simulateRemoteUnmap(x);
    scheduler.retire(x, { evidence: 'E2' }, 5);
    expect(freed(x)).toBe(true);
    expect(scheduler.stats()).toMatchObject({ endAccessAttempts: 1, endAccessFailures: 0 });
    expect(scheduler.nextDueAt()).toBeUndefined();
  });

  it('defers a mapped grant and retries it on the next 1 s tick', () => {
    const { sim, scheduler, pool, freed } = setup(linuxDeferredPolicy());
    const x = pool(4, 0);
    scheduler.retire(x, { evidence: 'E1' }, 10);
    expect(scheduler.stats().endAccessFailures).toBe(1);
    expect(scheduler.nextDueAt()).toBe(1010);
    sim.simulateRemoteUnmap(x);
    scheduler.advance(1009);
    expect(freed(x)).toBe(false);
    scheduler.advance(1010);
    expect(freed(x)).toBe(true);
    expect(scheduler.nextDueAt()).toBeUndefined(); // the timer is not re-armed when empty
  });

  it('retries at most freePerIteration refs per tick (the module parameter counts refs)', () => {
    const { sim, scheduler, pool, freed } = setup(linuxDeferredPolicy());
    const x = pool(25, 0);
    scheduler.retire(x, { evidence: 'E1' }, 0);
    sim.simulateRemoteUnmap(x);
    scheduler.advance(1000); // refs 1–10
    scheduler.advance(2000); // 11–20
    expect(freed(x)).toBe(false);
    expect(scheduler.stats().refsInUse).toBe(25); // refs go back when the extent is done
    scheduler.advance(3000); // 21–25
    expect(freed(x)).toBe(true);
    expect(scheduler.stats().refsInUse).toBe(0);
  });

  it('sends failed refs to the tail and stops a tick at the first one it re-queued', () => {
    const { sim, scheduler, pool, freed } = setup(
      linuxDeferredPolicy({ freePerIteration: 0, periodMs: 1000 }),
    );
    const a = pool(2, 0);
    const b = pool(2, 0);
    scheduler.retire(a, { evidence: 'E1' }, 0);
    scheduler.retire(b, { evidence: 'E1' }, 0);
    sim.simulateRemoteUnmap(b);
    scheduler.advance(1000);
    expect(freed(b)).toBe(true);
    expect(freed(a)).toBe(false);
    // Two immediate failures, then one per tick for `a` only (the tick stopped at it).
    expect(scheduler.stats().endAccessFailures).toBe(3);
    scheduler.advance(2000);
    expect(scheduler.stats().endAccessFailures).toBe(4);
  });

  it('the qubes preset retries 10000 refs per tick', () => {
    const policy = createPolicy('qubes');
    expect(policy.name).toBe('qubes');
    const { sim, scheduler, pool, freed } = setup(policy, 64);
    const xs = Array.from({ length: 20 }, () => pool(500, 0));
    for (const x of xs) scheduler.retire(x, { evidence: 'E1' }, 0);
    for (const x of xs) sim.simulateRemoteUnmap(x);
    scheduler.advance(1000);
    expect(xs.filter(freed)).toHaveLength(20);
  });
});

describe('evidence', () => {
  it('at E3: no attempt while mapped; reclaimed by the first probe after the unmap', () => {
    const { sim, scheduler, pool, freed } = setup(evidencePolicy());
    const x = pool(3, 0);
    scheduler.retire(x, { evidence: 'E1' }, 100);
    scheduler.advance(150);
    expect(scheduler.stats().endAccessAttempts).toBe(0);
    sim.simulateRemoteUnmap(x);
    const unmappedAt = 150.5;
    scheduler.advance(unmappedAt);
    const due = scheduler.nextDueAt()!;
    expect(due - unmappedAt).toBeLessThanOrEqual(EVIDENCE_DEFAULTS.backoffMaxMs);
    scheduler.advance(due);
    expect(freed(x)).toBe(true);
    expect(scheduler.stats()).toMatchObject({ endAccessAttempts: 1, endAccessFailures: 0 });
  });

  it('probes on a 1, 2, 4, 8, 8 ms backoff, and looks at once on new evidence', () => {
    const { scheduler, pool } = setup(evidencePolicy());
    const x = pool(1, 0);
    scheduler.retire(x, { evidence: 'E1' }, 0);
    const dues: number[] = [];
    for (let i = 0; i < 5; i++) {
      dues.push(scheduler.nextDueAt()!);
      scheduler.advance(dues[i]!);
    }
    expect(dues).toEqual([1, 3, 7, 15, 23]);
    const probes = scheduler.stats().probes;
    scheduler.update(x, { evidence: 'E2' }, 24);
    expect(scheduler.stats().probes).toBe(probes + 1);
    expect(scheduler.nextDueAt()).toBe(25); // backoff reset
  });

  it('acts at once on an oracle verdict pushed by the bridge', () => {
    const { sim, scheduler, pool, freed } = setup(evidencePolicy());
    const x = pool(2, 0);
    scheduler.retire(x, { evidence: 'E2', oracle: 'mapped' }, 0);
    sim.simulateRemoteUnmap(x);
    scheduler.update(x, { evidence: 'E3', oracle: 'unmapped' }, 0.25);
    expect(freed(x)).toBe(true);
  });

  it('at E2: attempts at E2, and after a failure waits for the oracle instead of retrying', () => {
    const { sim, scheduler, pool, freed } = setup(createPolicy('evidence', ['level=E2']));
    const x = pool(2, 0);
    scheduler.retire(x, { evidence: 'E1' }, 0);
    expect(scheduler.stats().endAccessAttempts).toBe(0);
    scheduler.update(x, { evidence: 'E2' }, 1); // the compositor still holds it
    expect(scheduler.stats().endAccessFailures).toBe(1);
    scheduler.advance(500);
    expect(scheduler.stats().endAccessAttempts).toBe(1);
    sim.simulateRemoteUnmap(x);
    scheduler.advance(600);
    expect(freed(x)).toBe(true);
    expect(scheduler.stats().endAccessFailures).toBe(1);
  });

  it('without an oracle: accepts E2 (unavailable=E2) or keeps waiting (unavailable=wait)', () => {
    for (const [unavailable, reclaimed] of [
      ['E2', true],
      ['wait', false],
    ] as const) {
      const sim = new SimGrantBackend({ frames: 1 });
      const scheduler = new ReclaimScheduler({
        backend: sim,
        policy: evidencePolicy({ ...EVIDENCE_DEFAULTS, unavailable }),
      });
      const x = scheduler.acquire(1, 0);
      scheduler.retire(x, { evidence: 'E2' }, 0);
      scheduler.advance(100);
      expect(scheduler.grant(x.id) === undefined).toBe(reclaimed);
      if (!reclaimed) expect(scheduler.stats().endAccessAttempts).toBe(0);
    }
  });
});

describe('verdicts pushed by the bridge’s one E3 poller', () => {
  /** An evidence scheduler whose oracle counts the questions it is asked. */
  function pushedSetup(policy: ReclaimPolicy = evidencePolicy()) {
    const sim = new SimGrantBackend({ frames: 1 });
    const asked: GrantExtent[] = [];
    const oracle = {
      isMapped(extent: GrantExtent): boolean | 'unknown' {
        asked.push(extent);
        return sim.isMapped(extent);
      },
    };
    const scheduler = new ReclaimScheduler({
      backend: sim,
      policy,
      oracle,
      verdicts: 'pushed',
    });
    const pool = (): GrantExtent => {
      const extent = scheduler.acquire(1, 0);
      sim.simulateRemoteMap(extent);
      return extent;
    };
    return { sim, scheduler, asked, pool };
  }

  it('re-checks read the last pushed verdict and never ask the oracle themselves', () => {
    const { sim, scheduler, asked, pool } = pushedSetup();
    const x = pool();
    scheduler.retire(x, { evidence: 'E2', oracle: 'mapped' }, 0);
    scheduler.advance(100); // a dozen backoff re-checks
    expect(scheduler.stats().probes).toBeGreaterThan(5);
    expect(asked).toEqual([]);
    expect(scheduler.grant(x.id)).toBeDefined();
    sim.simulateRemoteUnmap(x);
    scheduler.update(x, { evidence: 'E3', oracle: 'unmapped' }, 101);
    expect(scheduler.grant(x.id)).toBeUndefined();
    expect(scheduler.stats()).toMatchObject({ endAccessAttempts: 1, endAccessFailures: 0 });
    expect(asked).toEqual([]);
  });

  it('asks the oracle itself once the poller has given up on the file (unavailable)', () => {
    // unavailable=wait: E2 alone is not enough, only the oracle can free it.
    const { sim, scheduler, asked, pool } = pushedSetup(
      evidencePolicy({ ...EVIDENCE_DEFAULTS, unavailable: 'wait' }),
    );
    const x = pool();
    sim.simulateRemoteUnmap(x);
    scheduler.retire(x, { evidence: 'E2', oracle: 'unavailable' }, 0);
    scheduler.advance(10);
    expect(asked.length).toBeGreaterThan(0);
    expect(scheduler.grant(x.id)).toBeUndefined();
  });
});

describe('watermark', () => {
  const small = { ...WATERMARK_DEFAULTS, high: 8, low: 4, maxHoldMs: 1000, recheckMs: 50 };

  it('holds retired grants until maxHoldMs while usage is below the high mark', () => {
    const { sim, scheduler, pool, freed } = setup(watermarkPolicy(small));
    const x = pool(2, 0);
    sim.simulateRemoteUnmap(x);
    scheduler.retire(x, { evidence: 'E2' }, 10);
    scheduler.advance(1009);
    expect(freed(x)).toBe(false);
    scheduler.advance(1010);
    expect(freed(x)).toBe(true);
    expect(scheduler.stats().endAccessFailures).toBe(0);
  });

  it('reclaims a batch, oldest first, once usage reaches the high mark', () => {
    const { sim, scheduler, pool, freed } = setup(watermarkPolicy(small));
    const xs = [pool(2, 0), pool(2, 0), pool(2, 0)];
    for (const x of xs) {
      sim.simulateRemoteUnmap(x);
      scheduler.retire(x, { evidence: 'E2' }, 1);
    }
    expect(xs.some(freed)).toBe(false);
    pool(2, 2); // 8 refs in use: batch down to 4
    expect(xs.map(freed)).toEqual([true, true, false]);
    expect(scheduler.stats().refsInUse).toBe(4);
  });

  it('never attempts a grant the oracle sees mapped; re-checks it every recheckMs', () => {
    const { sim, scheduler, pool, freed } = setup(watermarkPolicy(small));
    const x = pool(1, 0);
    scheduler.retire(x, { evidence: 'E2' }, 0);
    scheduler.advance(1000);
    expect(scheduler.nextDueAt()).toBe(1050);
    sim.simulateRemoteUnmap(x);
    scheduler.advance(1050);
    expect(freed(x)).toBe(true);
    expect(scheduler.stats().endAccessFailures).toBe(0);
  });

  it('frees what it holds when an allocation finds the table full', () => {
    const { sim, scheduler, pool } = setup(watermarkPolicy(WATERMARK_DEFAULTS), 1); // 504 refs
    const x = pool(500, 0);
    sim.simulateRemoteUnmap(x);
    scheduler.retire(x, { evidence: 'E2' }, 0);
    const y = scheduler.acquire(100, 1);
    expect(y.pages).toBe(100);
    expect(scheduler.stats().allocationFailures).toBe(0);
  });
});

describe('recycle', () => {
  it('hands an unmapped extent to the next pool of the same size instead of freeing it', () => {
    const { sim, scheduler, pool } = setup(createPolicy('recycle'));
    const x = pool(5, 0);
    sim.simulateRemoteUnmap(x);
    scheduler.retire(x, { evidence: 'E2' }, 1);
    expect(scheduler.grant(x.id)?.phase).toBe('cached');
    const y = scheduler.acquire(5, 2);
    expect(y).toBe(x);
    expect(scheduler.stats()).toMatchObject({ allocations: 1, reuses: 1, endAccessAttempts: 0 });
    const z = scheduler.acquire(6, 3); // another size: fresh refs
    expect(z.id).not.toBe(x.id);
  });

  it('never caches a sparse extent: its pages come and go with buffers; it is reclaimed', () => {
    const { scheduler, freed } = setup(createPolicy('recycle'));
    const x = scheduler.acquire(5, 0, { sparse: true });
    scheduler.cover(x, { first: 0, end: 2 }, 0);
    scheduler.retire(x, { evidence: 'E2' }, 1);
    expect(freed(x)).toBe(true);
    expect(scheduler.acquire(5, 2, { sparse: true }).id).not.toBe(x.id);
    expect(scheduler.stats()).toMatchObject({ reuses: 0, refsInUse: 0 });
  });

  it('never caches a grant that is still mapped, and expires the cache after maxCacheMs', () => {
    const { sim, scheduler, pool, freed } = setup(
      composePolicy(evidencePolicy(), recycleInterceptor({ maxCachedRefs: 100, maxCacheMs: 500 })),
    );
    const x = pool(5, 0);
    scheduler.retire(x, { evidence: 'E2' }, 0);
    scheduler.advance(50);
    expect(scheduler.grant(x.id)?.phase).toBe('retired');
    sim.simulateRemoteUnmap(x);
    scheduler.advance(60);
    expect(scheduler.grant(x.id)?.phase).toBe('cached');
    scheduler.advance(600);
    expect(freed(x)).toBe(true);
  });

  it('caches at most maxCachedRefs refs; the rest are freed', () => {
    const { sim, scheduler, pool, freed } = setup(
      composePolicy(evidencePolicy(), recycleInterceptor({ maxCachedRefs: 6, maxCacheMs: 500 })),
    );
    const a = pool(4, 0);
    const b = pool(4, 0);
    for (const x of [a, b]) sim.simulateRemoteUnmap(x);
    scheduler.retire(a, { evidence: 'E2' }, 1);
    scheduler.retire(b, { evidence: 'E2' }, 1);
    expect(scheduler.grant(a.id)?.phase).toBe('cached');
    expect(freed(b)).toBe(true);
  });
});

describe('the scheduler', () => {
  it('fires timers in order, each at its own time, and never runs time backwards', () => {
    const seen: number[] = [];
    const policy: ReclaimPolicy = {
      name: 'clock',
      handle(event: PolicyEvent, ctx) {
        if (event.type === 'retired') {
          ctx.wakeAt(ctx.now + 30);
          ctx.wakeAt(ctx.now + 10);
          ctx.wakeAt(ctx.now + 10); // deduplicated
        }
        if (event.type === 'timer') seen.push(ctx.now);
      },
    };
    const { scheduler, pool } = setup(policy);
    scheduler.retire(pool(1, 0), { evidence: 'E1' }, 100);
    scheduler.advance(200);
    expect(seen).toEqual([110, 130]);
    scheduler.advance(50); // earlier: treated as the latest time seen
    expect(scheduler.now).toBe(200);
  });

  it('refuses what its records forbid, with a stable code', () => {
    const { scheduler, pool } = setup(evidencePolicy());
    const x = pool(1, 0);
    scheduler.retire(x, { evidence: 'E1' }, 0);
    expect(() => scheduler.retire(x, { evidence: 'E1' }, 1)).toThrow(SchedulerStateError);
    const other = new SimGrantBackend().allocate(1);
    try {
      scheduler.retire(other, { evidence: 'E1' }, 1);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_SCHEDULER_STATE' });
    }
  });

  it('follows a grown extent and counts peak refs and the deferred queue', () => {
    const { sim, scheduler, pool } = setup(linuxDeferredPolicy());
    const x = pool(2, 0);
    sim.simulateRemoteUnmap(x);
    const grown = scheduler.grow(x, 6, 1);
    sim.simulateRemoteMap(grown);
    expect(() => scheduler.retire(x, { evidence: 'E1' }, 2)).toThrow(SchedulerStateError);
    scheduler.retire(grown, { evidence: 'E1' }, 2);
    expect(scheduler.stats()).toMatchObject({
      peakRefsInUse: 6,
      deferredRefs: 6,
      maxDeferredRefs: 6,
    });
  });

  it('sparse extents: refs follow cover and uncover; a page the remote maps is kept and retried', () => {
    const { sim, scheduler } = setup(evidencePolicy());
    const x = scheduler.acquire(131072, 0, { sparse: true }); // a 512 MiB pool
    expect(scheduler.grant(x.id)).toMatchObject({ pages: 0, span: 131072, sparse: true });
    expect(scheduler.cover(x, { first: 0, end: 8 }, 1)).toBe(8);
    expect(scheduler.cover(x, { first: 4, end: 12 }, 2)).toBe(4);
    sim.simulateRemoteMap(x, { first: 4, end: 12 }); // the compositor reads the second buffer
    // The first buffer is done: pages 0–3 go; 4–7 are still mapped and stay.
    expect(scheduler.uncover(x, { first: 0, end: 8 }, 3)).toBe(4);
    expect(scheduler.stats()).toMatchObject({ refsInUse: 8, pageReleaseFailures: 4 });
    sim.simulateRemoteUnmap(x, { first: 4, end: 12 });
    // Tried again with the next uncover, together with what it gives back itself.
    expect(scheduler.uncover(x, { first: 8, end: 12 }, 4)).toBe(8);
    expect(scheduler.stats()).toMatchObject({
      refsInUse: 0,
      peakRefsInUse: 12,
      pagesGranted: 12,
      pagesReleased: 12,
    });
    expect(scheduler.grant(x.id)?.pages).toBe(0);
  });

  it('sparse extents: a page covered again is not given back by a later retry', () => {
    const { sim, scheduler } = setup(evidencePolicy());
    const x = scheduler.acquire(64, 0, { sparse: true });
    scheduler.cover(x, { first: 0, end: 4 }, 1);
    sim.simulateRemoteMap(x, { first: 0, end: 4 });
    scheduler.uncover(x, { first: 0, end: 4 }, 2); // refused: kept aside
    scheduler.cover(x, { first: 0, end: 4 }, 3); // a new buffer there
    sim.simulateRemoteUnmap(x, { first: 0, end: 4 });
    scheduler.cover(x, { first: 10, end: 12 }, 4);
    expect(scheduler.uncover(x, { first: 10, end: 12 }, 5)).toBe(2);
    expect(sim.grantedPages(x)).toBe(4);
  });

  it('sparse extents: a full table gets the policy a pressure turn, then all or nothing', () => {
    const seen: string[] = [];
    const policy: ReclaimPolicy = {
      name: 'watch',
      handle(event: PolicyEvent) {
        seen.push(event.type);
      },
    };
    const { scheduler } = setup(policy, 1); // 504 refs
    const x = scheduler.acquire(1000, 0, { sparse: true });
    scheduler.cover(x, { first: 0, end: 500 }, 1);
    expect(() => scheduler.cover(x, { first: 500, end: 510 }, 2)).toThrow(GrantTableFullError);
    expect(seen).toEqual(['allocated', 'pressure']);
    expect(scheduler.stats()).toMatchObject({ refsInUse: 500, allocationFailures: 1 });
  });

  it('composes interceptors in order, undici style', () => {
    const order: string[] = [];
    const tag =
      (name: string): PolicyInterceptor =>
      (next) => ({
        name: `${name}+${next.name}`,
        handle(event, ctx) {
          order.push(name);
          next.handle(event, ctx);
        },
      });
    const base: ReclaimPolicy = { name: 'base', handle: () => order.push('base') };
    const policy = composePolicy(base, tag('a'), tag('b'));
    expect(policy.name).toBe('a+b+base');
    const { pool } = setup(policy);
    pool(1, 0);
    expect(order).toEqual(['a', 'b', 'base']);
  });
});

describe('policies by name', () => {
  it('builds every built-in with its defaults', () => {
    expect(POLICY_NAMES).toEqual(['linux-deferred', 'qubes', 'evidence', 'watermark', 'recycle']);
    expect(POLICY_NAMES.map((n) => createPolicy(n).name)).toEqual([
      'linux-deferred',
      'qubes',
      'evidence-E3',
      'watermark',
      'recycle',
    ]);
    expect(createPolicy('linux-deferred', ['periodMs=500']).name).toBe(
      'linux-deferred(periodMs=500)',
    );
    expect(policyOptionNames('evidence')).toContain('backoffMaxMs');
  });

  it.each([
    [['level=E4'], 'policy evidence: option level: must be one of E1, E2, E3'],
    [['lvl=E3'], 'option lvl: unknown option (options: level, backoffStartMs'],
    [['backoffMaxMs=0.5'], 'option backoffMaxMs: must be ≥ backoffStartMs'],
    [['backoffStartMs=x'], 'option backoffStartMs: must be a number'],
    [['level'], 'expected KEY=VALUE'],
    [['level=E2', 'level=E3'], 'option level: given more than once'],
  ])('refuses evidence %j naming the option', (opts, message) => {
    expect(() => createPolicy('evidence', opts)).toThrow(PolicyOptionError);
    expect(() => createPolicy('evidence', opts)).toThrow(message);
  });

  it('refuses an unknown policy, listing the known ones', () => {
    expect(() => createPolicy('fifo')).toThrow(UnknownPolicyError);
    expect(() => createPolicy('fifo')).toThrow(/policies: linux-deferred, qubes, evidence/);
  });

  it('the CLI defaults to evidence at E3 and turns policy errors into option errors', () => {
    expect(policyFromFlags({ mode: 'grant', backend: 'memfd' }).name).toBe('evidence-E3');
    expect(
      policyFromFlags({
        mode: 'grant',
        backend: 'memfd',
        policy: 'linux-deferred',
        'policy-opt': ['freePerIteration=10000'],
      }).name,
    ).toBe('linux-deferred(freePerIteration=10000)');
    expect(() =>
      policyFromFlags({
        mode: 'grant',
        backend: 'memfd',
        policy: 'watermark',
        'policy-opt': ['low=-1'],
      }),
    ).toThrow(OptionError);
  });
});

describe('LiveReclaimer', () => {
  it('drives the scheduler from a clock and one event-loop timer', async () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const sim = new SimGrantBackend({ frames: 1 });
      const live = new LiveReclaimer({
        backend: sim,
        policy: evidencePolicy(),
        oracle: sim,
        clock: () => now,
      });
      const x = live.allocate(2);
      sim.simulateRemoteMap(x);
      live.retire(x, { evidence: 'E2' });
      now = 5;
      sim.simulateRemoteUnmap(x);
      for (let i = 0; i < 20 && live.scheduler.grant(x.id) !== undefined; i++) {
        now += 1;
        await vi.advanceTimersByTimeAsync(1);
      }
      expect(live.scheduler.grant(x.id)).toBeUndefined();
      expect(now).toBeLessThanOrEqual(5 + EVIDENCE_DEFAULTS.backoffMaxMs + 1);
      live.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
