// Every way a buffer's life can end, on real compositors (the embedded one and weston
// headless), in grant mode: the evidence the tracker reports is checked against a plain
// walk over every process's maps and fds — mapped while in use, E3 only once nobody but
// the bridge holds the extent — and every grant comes back.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ScriptedWindow } from '../harness/client/scripted-client.js';
import { type Harness, startHarness } from '../harness/index.js';
import { westonAvailable } from '../harness/real/weston.js';
import { holdersOf } from '../bridge/oracle/holders.js';
import type { LifecycleEvent } from '../bridge/shm/events.js';

const compositors = westonAvailable() ? (['embedded', 'weston'] as const) : (['embedded'] as const);

describe.each(compositors)('lifecycle paths on %s', (kind) => {
  let harness: Harness;

  beforeEach(async () => {
    harness = await startHarness({ compositor: kind });
  });
  afterEach(async () => {
    await harness.stop();
  });

  /** Who but the bridge maps or holds the newest pool's extent now (a plain /proc walk). */
  function extentHolders(): string[] {
    const pools = [...harness.lifecycle.trackers].flatMap((t) => [...t.poolStates()]);
    const file = harness.lifecycle.backing!.inspect(pools.at(-1)!)!.extent.file!;
    return holdersOf(file).holders.map((h) => h.how);
  }

  const levels = (): string[] =>
    harness.events.flatMap((e: LifecycleEvent) => (e.type === 'evidence' ? [e.level] : []));

  /** Every grant reclaimed (each one only after E3, which the oracle decides). */
  async function allBack(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (harness.grants().inUse > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(harness.grants().inUse).toBe(0);
    expect(harness.grants().reclaimed).toBe(harness.grants().allocated);
    expect(levels().filter((l) => l === 'E3').length).toBe(harness.grants().allocated);
  }

  async function drawn(window: ScriptedWindow, width = 64, height = 48) {
    const pool = window.createPool(width * height * 4);
    const buffer = window.createBuffer(pool, width, height);
    buffer.fill(0xff336699);
    await window.commit(buffer);
    return { pool, buffer };
  }

  it('release, then destroy: mapped while shown, E3 after', async () => {
    const window = await harness.openWindow();
    const { pool, buffer } = await drawn(window);
    expect(extentHolders()).toEqual(['maps']);
    const second = await drawn(window); // the first buffer is released when replaced
    await buffer.released();
    buffer.destroy();
    pool.destroy();
    await window.roundtrip();
    await harness.waitFor((e) => e.type === 'evidence' && e.level === 'E3');
    expect(levels()).toContain('E3');
    second.buffer.destroy();
    second.pool.destroy();
    window.close();
    await allBack();
  });

  it('destroy while attached: E3 comes only once the compositor has unmapped', async () => {
    const window = await harness.openWindow();
    const { pool, buffer } = await drawn(window);
    const pools = [...harness.lifecycle.trackers].flatMap((t) => [...t.poolStates()]);
    const file = harness.lifecycle.backing!.inspect(pools.at(-1)!)!.extent.file!;
    expect(holdersOf(file).holders.map((h) => h.how)).toEqual(['maps']);
    pool.destroy(); // the pool first, its buffer still attached and shown
    buffer.destroy();
    await window.roundtrip();
    await harness.waitFor((e) => e.type === 'evidence' && e.level === 'E3');
    // An unmapped file cannot be mapped again through a destroyed pool: when E3 is
    // reported, the compositor must already have let go.
    expect(holdersOf(file).holders).toEqual([]);
    window.close();
    await allBack();
  });

  it('resize: the grown extent backs the pool, and comes back whole', async () => {
    const window = await harness.openWindow();
    const pool = window.createPool(64 * 48 * 4);
    pool.truncate(128 * 96 * 4); // the client grows its file, then the pool
    pool.proxy.request('resize', [128 * 96 * 4]);
    const buffer = window.createBuffer(pool, 128, 96);
    await window.commit(buffer);
    expect(harness.events.some((e) => e.type === 'pool-resized')).toBe(true);
    expect(extentHolders()).toEqual(['maps']);
    window.close();
    await allBack();
  });

  it('client killed mid-frame (SIGKILL): every pool it had reaches E3', async () => {
    const script = fileURLToPath(new URL('../harness/demo/victim.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, harness.env.WAYLAND_DISPLAY],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve) => {
      let frames = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        frames += chunk.toString().split('\n').length - 1;
        if (frames >= 10) resolve();
      });
    });
    child.kill('SIGKILL');
    await harness.waitFor((e) => e.type === 'client-gone');
    await allBack();
  });
});
