// The reclaim scheduler live in the bridge, on weston headless: grant mode hands each
// extent it is done with to the scheduler, and the default policy (evidence at E3)
// reclaims it once weston has unmapped it — with no failed end of access, and with the
// backend's end of access verified by the oracle rather than assumed.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { F_SEAL_SHRINK, addSeals, close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import { bindGlobals } from '../harness/client/globals.js';
import { type WaylandProxy, WaylandClient } from '../harness/client/wayland-client.js';
import { assembleBridge } from '../bridge/assembly/assemble.js';
import { policyFromFlags } from '../bridge/cli/common.js';
import { type WestonInstance, startWeston, westonAvailable } from '../harness/real/weston.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import type { LifecycleEvent } from '../bridge/shm/events.js';

const registry = new ProtocolRegistry();
const W = 64;
const H = 48;
const SIZE = W * H * 4;

describe.skipIf(!westonAvailable())('reclaim scheduler in the bridge, on weston headless', () => {
  let weston: WestonInstance;

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'gw-policies-weston' });
  });
  afterAll(async () => {
    await weston?.stop();
  });

  it('the default policy reclaims a pool once weston has unmapped it', async () => {
    const policy = policyFromFlags({ mode: 'grant', backend: 'memfd' }); // no --policy
    expect(policy.name).toBe('evidence-E3');
    const events: LifecycleEvent[] = [];
    const assembled = assembleBridge({
      listenPath: join(weston.runtimeDir, 'gw-policies'),
      upstreamPath: weston.socketPath,
      registry,
      policy,
      sinks: [(e) => events.push(e)],
    });
    const { bridge, lifecycle } = assembled;
    const reclaimer = assembled.reclaimer!;
    const backend = assembled.backend!;
    const client = WaylandClient.connect(bridge.listenPath);
    client.attachToLoop();
    const memfd = memfdCreate('policies-live');
    try {
      ftruncate(memfd, SIZE);
      addSeals(memfd, F_SEAL_SHRINK);
      const { wl_shm: shm, wl_compositor: compositor } = await bindGlobals(client, registry, {
        wl_shm: 1,
        wl_compositor: 4,
      });
      const pool = shm.request('create_pool', [memfd, SIZE]) as WaylandProxy;
      const buffer = pool.request('create_buffer', [0, W, H, W * 4, 1]) as WaylandProxy;
      const surface = compositor.request('create_surface') as WaylandProxy;
      surface.request('attach', [buffer, 0, 0]);
      surface.request('damage_buffer', [0, 0, W, H]);
      surface.request('commit');
      await client.roundtripAsync();
      expect(reclaimer.scheduler.stats()).toMatchObject({ allocations: 1, refsInUse: 3 });

      buffer.destroy();
      pool.destroy();
      surface.destroy();
      await client.roundtripAsync();
      const deadline = Date.now() + 5000;
      while (reclaimer.scheduler.stats().freed < 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(reclaimer.scheduler.stats()).toMatchObject({
        retired: 1,
        freed: 1,
        endAccessFailures: 0,
        refsInUse: 0,
      });
      expect(lifecycle.backing!.stats).toMatchObject({ extentsRetired: 1 });
      expect(events.some((e) => e.type === 'evidence' && e.level === 'E3')).toBe(true);
      // The backend's end of access was checked against weston's mappings, not assumed.
      expect(backend.stats()).toMatchObject({ refsInUse: 0, endAccessUnverified: 0 });
    } finally {
      closeFd(memfd);
      client.close();
      assembled.close();
    }
  });
});
