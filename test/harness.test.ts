// The harness API as a user's test would use it, on both compositors: a scripted
// window through the bridge, pixels read back, lifecycle events awaited, grants
// returned, and nothing left behind after stop(); and a reclaim policy chosen by name,
// run by the same scheduler as `grantway proxy --policy`.

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startHarness } from '../harness/index.js';
import { commandAvailable } from '../harness/real/process.js';
import { westonAvailable } from '../harness/real/weston.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const compositors = westonAvailable() ? (['embedded', 'weston'] as const) : (['embedded'] as const);

describe.each(compositors)('startHarness on %s', (kind) => {
  it('bridges a scripted window in grant mode and gives every grant back', async () => {
    const before = openFds();
    const harness = await startHarness({ compositor: kind });
    try {
      const window = await harness.openWindow({ title: 'harness' });
      const pool = window.createPool(64 * 64 * 4);
      const buffer = window.createBuffer(pool, 64, 64);
      buffer.fill(0xff2080c0);
      await window.commit(buffer);
      expect(harness.grants()).toMatchObject({ allocated: 1, inUse: 1 });
      if (kind === 'embedded') {
        const frame = await harness.frame();
        expect([...frame.data.subarray(0, 3)]).toEqual([0x20, 0x80, 0xc0]);
      }
      buffer.destroy();
      pool.destroy();
      await window.roundtrip();
      await harness.waitFor((e) => e.type === 'evidence' && e.level === 'E3');
      await harness.assembled.settle(1000);
      expect(harness.grants()).toMatchObject({ allocated: 1, reclaimed: 1, inUse: 0 });
      // The default policy waited for E3: its one attempt succeeded.
      expect(harness.reclaim()).toMatchObject({ policy: 'evidence-E3', attempts: 1, failed: 0 });
    } finally {
      await harness.stop();
    }
    expect(openFds()).toBe(before);
  });

  it.skipIf(!commandAvailable('wayland-info'))(
    'runs real programs through the bridge',
    async () => {
      const harness = await startHarness({ compositor: kind });
      try {
        const result = await harness.run('wayland-info');
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toMatch(/wl_shm/);
        expect(harness.events.some((e) => e.type === 'client-connected')).toBe(true);
      } finally {
        await harness.stop();
      }
    },
  );
});

describe('startHarness with a reclaim policy', () => {
  it("policy 'linux-deferred': tried at once while mapped, refused, freed by a later retry", async () => {
    // The compositor keeps each destroyed pool mapped 300 ms: the kernel's policy tries
    // to end access as soon as the pool is retired (E2), the backend refuses (the
    // oracle sees the compositor's mapping), and the deferred list retries once a second.
    const harness = await startHarness({
      policy: 'linux-deferred',
      knobs: { keepPoolsMappedMs: 300 },
    });
    try {
      const window = await harness.openWindow({ title: 'deferred' });
      const pool = window.createPool(64 * 64 * 4);
      const buffer = window.createBuffer(pool, 64, 64);
      buffer.fill(0xff2080c0);
      await window.commit(buffer);
      buffer.destroy();
      pool.destroy();
      await window.roundtrip();
      await harness.waitFor((e) => e.type === 'evidence' && e.level === 'E2');
      expect(harness.reclaim()).toMatchObject({
        policy: 'linux-deferred',
        attempts: 1,
        failed: 1,
        reclaimed: 0,
      });
      expect(harness.reclaim().deferred).toBeGreaterThan(0);
      expect(harness.grants().inUse).toBe(1);
      await harness.waitFor((e) => e.type === 'evidence' && e.level === 'E3');
      await harness.assembled.settle(5000);
      const figures = harness.reclaim();
      expect(figures).toMatchObject({ allocated: 1, reclaimed: 1, inUse: 0, deferred: 0 });
      expect(figures.attempts).toBeGreaterThanOrEqual(2);
      expect(figures.deferredPeak).toBe(4); // the pool's 4 pages, retired and not yet freed
    } finally {
      await harness.stop();
    }
  });
});
