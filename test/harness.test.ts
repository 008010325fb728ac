// The harness API as a user's test would use it, on both compositors: a scripted
// window through the bridge, pixels read back, lifecycle events awaited, grants
// returned, and nothing left behind after stop().

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
      await harness.lifecycle.settle(1000);
      expect(harness.grants()).toMatchObject({ allocated: 1, reclaimed: 1, inUse: 0 });
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
