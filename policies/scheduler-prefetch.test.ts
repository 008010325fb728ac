// When the scheduler's timers fire, its policy may probe or end access to every grant it
// holds; live, each question is a look at /proc. The scheduler asks the oracle about all
// of its retired extents in one look first, so that a batch of probes costs one walk
// instead of one each. Real memfd extents, the real SystemOracle walking /proc (leases
// off); this process plays the compositor that maps them (the oracle is told the bridge
// is another pid).

import { afterEach, describe, expect, it } from 'vitest';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import { oracleMappingSource } from '../bridge/grants/oracle-source.js';
import type { GrantExtent } from '../bridge/grants/types.js';
import { unreadableProcesses } from '../bridge/oracle/holders.js';
import { SystemOracle } from '../bridge/oracle/system-oracle.js';
import { createPolicy } from './registry.js';
import { ReclaimScheduler } from './scheduler.js';

const GRANTS = 5;

describe('scheduler timers: one oracle look for every retired extent', () => {
  let backend: MemfdGrantBackend | undefined;
  afterEach(() => backend?.close());

  it('watermark probing five held grants at maxHoldMs walks /proc once, not five times', () => {
    const oracle = new SystemOracle({
      useLeases: false,
      // Our own mappings of the extents count: we are the "compositor" here.
      selfPid: process.ppid,
      vouchedPids: unreadableProcesses(),
      cpuBudget: 1,
    });
    backend = new MemfdGrantBackend({ remote: oracleMappingSource(oracle) });
    const scheduler = new ReclaimScheduler({
      backend,
      policy: createPolicy('watermark', ['maxHoldMs=100']),
      oracle: oracleMappingSource(oracle),
    });
    const extents: GrantExtent[] = [];
    for (let i = 0; i < GRANTS; i++) extents.push(scheduler.acquire(1, 0));
    for (const extent of extents) scheduler.retire(extent, { evidence: 'E2' }, 10);
    const looksBefore = oracle.stats.looks;

    scheduler.advance(120); // every grant's maxHoldMs is due: five probes
    expect(scheduler.stats().probes).toBe(GRANTS);
    // Each probe saw the extent still mapped (by us), and nothing was attempted.
    expect(scheduler.stats()).toMatchObject({ endAccessAttempts: 0, retired: GRANTS });
    expect(oracle.stats.looks - looksBefore).toBe(1);
  });
});
