// Property tests of the reclaim scheduler (fast-check): for random sequences of
// allocations, retirements, evidence (including evidence that is wrong: E2 while the
// remote still maps), remote maps/unmaps and time, no policy ever reclaims a grant the
// remote still maps, and every retired grant is freed once the remote has unmapped it
// and time passes. The judge is a record of the remote's mappings kept by the test,
// apart from the backend and the scheduler.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DelegatingBackend } from '../bridge/grants/delegating.js';
import { SimGrantBackend } from '../bridge/grants/sim.js';
import type { EndAccessResult, GrantExtent } from '../bridge/grants/types.js';
import { evidenceLevels } from '../bridge/shm/events.js';
import { createPolicy } from '../policies/registry.js';
import { ReclaimScheduler } from '../policies/scheduler.js';

type Op =
  | { op: 'alloc'; pages: number }
  | { op: 'retire'; i: number; level: number }
  | { op: 'evidence'; i: number; level: number }
  | { op: 'unmap'; i: number }
  | { op: 'remap'; i: number }
  | { op: 'oracle'; i: number }
  | { op: 'advance'; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('alloc' as const), pages: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    op: fc.constant('retire' as const),
    i: fc.nat(30),
    level: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    op: fc.constant('evidence' as const),
    i: fc.nat(30),
    level: fc.integer({ min: 1, max: 2 }),
  }),
  fc.record({ op: fc.constant('unmap' as const), i: fc.nat(30) }),
  fc.record({ op: fc.constant('remap' as const), i: fc.nat(30) }),
  fc.record({ op: fc.constant('oracle' as const), i: fc.nat(30) }),
  fc.record({
    op: fc.constant('advance' as const),
    dt: fc.double({ min: 0, max: 3000, noNaN: true }),
  }),
);

/** Built-in policies with random but valid options. */
const policyArb = fc.oneof(
  fc.record({
    name: fc.constantFrom('linux-deferred', 'qubes'),
    opts: fc
      .tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 2000 }))
      .map(([n, p]) => [`freePerIteration=${n}`, `periodMs=${p}`]),
  }),
  fc.record({
    name: fc.constant('evidence'),
    opts: fc
      .tuple(fc.constantFrom('E1', 'E2', 'E3'), fc.integer({ min: 1, max: 50 }))
      .map(([level, max]) => [`level=${level}`, `backoffMaxMs=${max}`]),
  }),
  fc.record({
    name: fc.constant('watermark'),
    opts: fc
      .tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 64 }))
      .map(([a, b]) => [`high=${Math.max(a, b)}`, `low=${Math.min(a, b)}`, 'maxHoldMs=200']),
  }),
  fc.record({
    name: fc.constant('recycle'),
    opts: fc.integer({ min: 0, max: 64 }).map((n) => [`maxCachedRefs=${n}`, 'maxCacheMs=300']),
  }),
);

/**
 * Wraps the sim: `permissive` ends access even while mapped (a backend that cannot
 * tell, like memfd without an oracle); every reclaim of a mapped grant is counted.
 */
class Judge extends DelegatingBackend {
  unsafe = 0;
  readonly mapped = new Map<number, boolean>();
  constructor(
    readonly sim: SimGrantBackend,
    private readonly permissive: boolean,
  ) {
    super(sim);
  }
  override endForeignAccess(extent: GrantExtent): EndAccessResult {
    if (this.permissive && this.mapped.get(extent.id) === true) {
      this.unsafe++;
      this.sim.simulateRemoteUnmap(extent); // let the sim end it too
      this.mapped.set(extent.id, false);
    }
    const result = this.sim.endForeignAccess(extent);
    if (result === 'ok' && this.mapped.get(extent.id) === true) this.unsafe++;
    return result;
  }
  override free(extent: GrantExtent): void {
    if (this.mapped.get(extent.id) === true) this.unsafe++;
    this.sim.free(extent);
  }
}

function run(
  policy: { name: string; opts: readonly string[] },
  ops: readonly Op[],
  permissive = false,
) {
  const sim = new SimGrantBackend({ frames: 1 }); // 504 refs: pressure happens
  const judge = new Judge(sim, permissive);
  const scheduler = new ReclaimScheduler({
    backend: judge,
    policy: createPolicy(policy.name, policy.opts),
    oracle: sim,
    listener: {
      cached: (id) => {
        if (judge.mapped.get(id) === true) judge.unsafe++;
      },
    },
  });
  const grants: { extent: GrantExtent; retired: boolean }[] = [];
  let now = 0;
  const pick = (i: number) => (grants.length === 0 ? undefined : grants[i % grants.length]);
  const live = (g: { extent: GrantExtent } | undefined) =>
    g !== undefined && scheduler.extentOf(g.extent.id) === g.extent;
  for (const o of ops) {
    const g = o.op === 'alloc' || o.op === 'advance' ? undefined : pick(o.i);
    switch (o.op) {
      case 'alloc': {
        let extent: GrantExtent;
        try {
          extent = scheduler.acquire(o.pages, now);
        } catch {
          break; // table full even after the policy's pressure turn
        }
        sim.simulateRemoteMap(extent);
        judge.mapped.set(extent.id, true);
        const reused = grants.find((x) => x.extent === extent);
        if (reused !== undefined) reused.retired = false;
        else grants.push({ extent, retired: false });
        break;
      }
      case 'retire':
        if (live(g) && !g!.retired) {
          g!.retired = true;
          scheduler.retire(g!.extent, { evidence: evidenceLevels[o.level]! }, now);
        }
        break;
      case 'evidence': // protocol evidence may be wrong: nothing here checks the truth
        if (live(g)) scheduler.update(g!.extent, { evidence: evidenceLevels[o.level]! }, now);
        break;
      case 'unmap':
        if (live(g) && judge.mapped.get(g!.extent.id) === true) {
          sim.simulateRemoteUnmap(g!.extent);
          judge.mapped.set(g!.extent.id, false);
        }
        break;
      case 'remap': // the compositor maps a pool it still has (never a retired one)
        if (live(g) && !g!.retired && judge.mapped.get(g!.extent.id) === false) {
          sim.simulateRemoteMap(g!.extent);
          judge.mapped.set(g!.extent.id, true);
        }
        break;
      case 'oracle': // the watcher's verdicts are true
        if (live(g)) {
          const mapped = judge.mapped.get(g!.extent.id) === true;
          scheduler.update(
            g!.extent,
            { evidence: mapped ? 'E0' : 'E3', oracle: mapped ? 'mapped' : 'unmapped' },
            now,
          );
        }
        break;
      case 'advance':
        now += o.dt;
        scheduler.advance(now);
        break;
    }
  }
  return { scheduler, judge, grants, sim, now };
}

describe('reclaim scheduler properties', () => {
  it('never reclaims a grant the remote still maps (every policy, random sequences)', () => {
    fc.assert(
      fc.property(policyArb, fc.array(opArb, { maxLength: 120 }), (policy, ops) => {
        const { judge } = run(policy, ops);
        expect(judge.unsafe).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('frees every retired grant once the remote has unmapped it and time passes', () => {
    fc.assert(
      fc.property(policyArb, fc.array(opArb, { maxLength: 120 }), (policy, ops) => {
        const { scheduler, judge, grants, sim, now } = run(policy, ops);
        for (const g of grants) {
          if (scheduler.extentOf(g.extent.id) !== g.extent) continue;
          if (g.retired && judge.mapped.get(g.extent.id) === true) {
            sim.simulateRemoteUnmap(g.extent);
            judge.mapped.set(g.extent.id, false);
          }
        }
        scheduler.advance(now + 1e7);
        const inUse = grants.filter(
          (g) => scheduler.extentOf(g.extent.id) === g.extent && !g.retired,
        );
        for (const g of grants) {
          if (g.retired) expect(scheduler.grant(g.extent.id)).toBeUndefined();
        }
        const pages = inUse.reduce((sum, g) => sum + g.extent.pages, 0);
        expect(scheduler.stats().refsInUse).toBe(pages);
        expect(sim.stats().refsInUse).toBe(pages);
        expect(judge.unsafe).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('policies that ask the oracle stay safe even on a backend that would end access while mapped', () => {
    const oracleFirst = fc.oneof(
      fc.constant({ name: 'evidence', opts: ['level=E3'] }),
      fc.constant({ name: 'watermark', opts: ['high=16', 'low=4', 'maxHoldMs=200'] }),
      fc.constant({ name: 'recycle', opts: ['maxCacheMs=300'] }),
    );
    fc.assert(
      fc.property(oracleFirst, fc.array(opArb, { maxLength: 120 }), (policy, ops) => {
        const { judge } = run(policy, ops, true);
        expect(judge.unsafe).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('the judge is not blind: linux-deferred on that backend is caught', () => {
    const ops: Op[] = [
      { op: 'alloc', pages: 2 },
      { op: 'retire', i: 0, level: 1 },
    ];
    expect(run({ name: 'linux-deferred', opts: [] }, ops, true).judge.unsafe).toBeGreaterThan(0);
  });
});
