// What a snapshot says about shared memory: pools and grants by evidence, and the extent
// that waits longest with the reason it waits — a pool the compositor still maps, or a
// grant the reclaim policy holds after failed attempts — read from the real scheduler
// on the sim grant table. And the table `grantway status` prints from it.

import { describe, expect, it } from 'vitest';
import { SimGrantBackend } from '../grants/sim.js';
import { DEFAULT_CLIENT_LIMITS } from '../relay/limits.js';
import { RelayTotals } from '../relay/relay-totals.js';
import { PageCoverage } from '../shm/coverage.js';
import type { PoolState } from '../shm/state.js';
import { ReclaimScheduler } from '../../policies/scheduler.js';
import { createPolicy } from '../../policies/registry.js';
import { formatStatus } from '../control/status-table.js';
import { SnapshotCollector, type ShmView } from './collect.js';

function pool(id: number, fields: Partial<PoolState>): PoolState {
  return {
    id,
    key: id,
    size: 8192,
    file: { dev: 1n, ino: BigInt(id) },
    mappedFile: { dev: 1n, ino: BigInt(id) },
    clientFd: -1,
    ownDescription: false,
    coverage: new PageCoverage(),
    sealedAgainstShrink: true,
    buffers: new Set(),
    busyBuffers: 0,
    destroyed: false,
    letGo: false,
    acked: false,
    oracle: undefined,
    evidence: 'E0',
    ...fields,
  };
}

describe('SnapshotCollector', () => {
  it('counts pools and grants by evidence, and says which extent waits longest and why', () => {
    let now = 10_000;
    const backend = new SimGrantBackend();
    const scheduler = new ReclaimScheduler({
      backend,
      policy: createPolicy('linux-deferred', { periodMs: '1000' }),
      oracle: backend,
    });
    // A grant let go of at t=1000 and still mapped: linux-deferred tries and fails.
    const held = scheduler.acquire(2, 0);
    backend.simulateRemoteMap(held);
    scheduler.retire(held, { evidence: 'E2' }, 1000);
    const pools = [
      pool(1, { evidence: 'E0' }),
      // Let go at t=3000; the compositor still maps it.
      pool(2, {
        destroyed: true,
        letGo: true,
        letGoAt: 3000,
        acked: true,
        oracle: 'mapped',
        evidence: 'E2',
      }),
    ];
    const shm: ShmView = {
      trackers: [{ client: 7, poolStates: () => pools }],
      scheduler,
      backend,
      heldBytes: () => 16384,
    };
    const collector = new SnapshotCollector({
      relay: {
        listenPath: '/run/gw-0',
        limits: DEFAULT_CLIENT_LIMITS,
        proxyLimits: { maxClients: 4, maxClientsPerUid: 2, maxShmTotalAll: 1 << 20 },
        totals: new RelayTotals(),
        clients: () => [],
        relayed: () => ({ requests: 0, events: 0, bytesToCompositor: 0, bytesToClient: 0 }),
      },
      shm,
      upstreamPath: '/run/wayland-0',
      mode: 'grant',
      now: () => now,
    });
    let s = collector.snapshot();
    expect(s.shm.pools).toEqual({ E0: 1, E1: 0, E2: 1, E3: 0 });
    expect(s.shm.grants).toEqual({ E0: 0, E1: 0, E2: 1, E3: 0 });
    expect(s.shm.grantPhases).toEqual({ backing: 0, retired: 1, cached: 0, ended: 0 });
    expect(s.shm.extentsWaiting).toBe(2);
    expect(s.shm.oldestWaiting).toEqual({
      client: null,
      pool: null,
      grant: held.id,
      bytes: 8192,
      waitingSeconds: 9,
      evidence: 'E2',
      oracle: null,
      failedAttempts: 1,
      why: 'the linux-deferred policy has not reclaimed it (retired at E2, 1 end-access attempts failed)',
    });
    expect(s.shm.endAccess).toEqual({ attempts: 1, failures: 1 });
    // Once the grant is reclaimed, the pool the compositor still maps waits longest.
    backend.simulateRemoteUnmap(held);
    scheduler.advance(2000);
    now = 13_500;
    s = collector.snapshot();
    expect(s.shm.grantPhases.retired).toBe(0);
    expect(s.shm.oldestWaiting).toMatchObject({
      client: 7,
      pool: 2,
      waitingSeconds: 10.5,
      why: 'a process still maps or holds its pages (E3 not reached)',
    });
    const table = formatStatus(s);
    expect(table).toMatch(
      /^grantway proxy, pid \d+, up 3\.5s: \/run\/gw-0 -> \/run\/wayland-0, grant mode \(sim\), policy linux-deferred/,
    );
    expect(table).toMatch(
      /^waiting {4}1 extents; oldest client 7 pool 2, 8\.0 KiB, 10\.5s at E2: a process still maps/m,
    );
    expect(table).toMatch(
      /^SESSION {2}PID {2}UID {2}COMM {2}AGE {2}POOLS {2}OBJECTS {2}FDS {2}REQUESTS {2}EVENTS$/m,
    );
  });
});
