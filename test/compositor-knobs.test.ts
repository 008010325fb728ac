// The embedded compositor's buffer and pool lifetimes, observed from outside as the
// bridge must observe them: wl_buffer.release times through the real libwayland-client,
// and the compositor process's own /proc/PID/maps for whether a pool is still mapped.
// First the well-behaved rules (libwayland-server's), then each misbehaviour knob.

import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedCompositorInstance, startEmbeddedCompositor } from '../harness/embedded.js';
import { decodePng } from '../harness/compositor/png.js';
import { ScriptedWindow } from '../harness/client/scripted-client.js';
import type { PoolInfo } from '../harness/compositor/shm.js';
import { WaylandDisplayError } from '../harness/client/wayland-client.js';

const W = 32;
const H = 16;
const BYTES = W * H * 4;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` maps the file with inode `ino` (the E3 oracle's question). */
function maps(pid: number, ino: bigint): boolean {
  const text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  return text.split('\n').some((line) => line.split(/\s+/)[4] === ino.toString());
}

/** Polls until `pid` stops mapping `ino`; resolves with the time it happened. */
async function unmappedAt(pid: number, ino: bigint, timeoutMs = 5000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (maps(pid, ino)) {
    if (performance.now() > deadline) throw new Error(`inode ${ino} still mapped`);
    await sleep(5);
  }
  return performance.now();
}

describe('embedded compositor: buffer releases and pool mappings', () => {
  let compositor: EmbeddedCompositorInstance;
  const windows: ScriptedWindow[] = [];

  const open = async (): Promise<ScriptedWindow> => {
    const w = await ScriptedWindow.open(compositor.socketPath, { title: 'knobs' });
    windows.push(w);
    return w;
  };

  const poolInfo = async (ino: bigint): Promise<PoolInfo | undefined> =>
    (await compositor.control.state()).pools.find((p) => p.ino === ino.toString());

  beforeAll(async () => {
    compositor = await startEmbeddedCompositor();
  });

  afterEach(async () => {
    for (const w of windows.splice(0)) w.close();
    await compositor.control.setKnobs({ releaseDelayMs: 0, holdBuffers: 0, keepPoolsMappedMs: 0 });
  });

  afterAll(async () => {
    await compositor?.stop();
  });

  it('releases the replaced buffer at the repaint that latches the new one', async () => {
    const w = await open();
    const pool = w.createPool(2 * BYTES);
    const a = w.createBuffer(pool, W, H, 0);
    const b = w.createBuffer(pool, W, H, BYTES);
    await w.commit(a); // done comes after the repaint that latched it
    const t0 = performance.now();
    const shown = w.commit(b);
    const releasedAt = await a.released();
    await shown;
    expect(releasedAt - t0).toBeLessThan(60); // within a few 60 Hz frames
    await sleep(100);
    expect(b.releases).toEqual([]); // the one on screen is kept
    pool.destroy();
  });

  it('releaseDelayMs: the release comes that much later', async () => {
    await compositor.control.setKnobs({ releaseDelayMs: 250 });
    const w = await open();
    const pool = w.createPool(2 * BYTES);
    const a = w.createBuffer(pool, W, H, 0);
    const b = w.createBuffer(pool, W, H, BYTES);
    await w.commit(a);
    const t0 = performance.now();
    await w.commit(b);
    const latchedAt = performance.now();
    const releasedAt = await a.released();
    expect(releasedAt - t0).toBeGreaterThanOrEqual(250);
    expect(releasedAt - t0).toBeLessThan(250 + 150);
    expect(releasedAt - latchedAt).toBeGreaterThan(200);
    pool.destroy();
  });

  it('holdBuffers: the last N replaced buffers stay busy, oldest released first', async () => {
    await compositor.control.setKnobs({ holdBuffers: 2 });
    const w = await open();
    const pool = w.createPool(4 * BYTES);
    const [a, b, c, d] = [0, 1, 2, 3].map((i) => w.createBuffer(pool, W, H, i * BYTES));
    await w.commit(a!);
    await w.commit(b!);
    await w.commit(c!); // on screen: c; held: a, b
    await sleep(100);
    expect([a!.releases.length, b!.releases.length, c!.releases.length]).toEqual([0, 0, 0]);
    let state = await compositor.control.state();
    expect(state.surfaces.find((s) => s.title === 'knobs')?.held).toBe(2);
    await w.commit(d!); // on screen: d; held: b, c; a drops out
    await a!.released();
    expect([b!.releases.length, c!.releases.length]).toEqual([0, 0]);
    // Lowering the knob lets the surplus go at once.
    await compositor.control.setKnobs({ holdBuffers: 0 });
    await Promise.all([b!.released(), c!.released()]);
    await w.roundtrip();
    expect(d!.releases).toEqual([]);
    state = await compositor.control.state();
    expect(state.surfaces.find((s) => s.title === 'knobs')?.held).toBe(0);
    pool.destroy();
  });

  it('a pool stays mapped until the pool object and every buffer from it are gone', async () => {
    const w = await open();
    const pool = w.createPool(BYTES);
    const a = w.createBuffer(pool, W, H);
    await w.commit(a);
    expect(await poolInfo(pool.ino)).toMatchObject({ access: 'mmap', mapped: true, buffers: 1 });
    expect(maps(compositor.pid, pool.ino)).toBe(true);
    pool.destroyProxy();
    await w.roundtrip();
    expect(maps(compositor.pid, pool.ino)).toBe(true); // the buffer holds it
    await w.commit(null); // unmapped: a is released, but still exists
    await a.released();
    expect(maps(compositor.pid, pool.ino)).toBe(true);
    a.destroy();
    await w.roundtrip(); // delete_id for the buffer has come back: E2
    expect(maps(compositor.pid, pool.ino)).toBe(false);
    expect(await poolInfo(pool.ino)).toBeUndefined();
    pool.destroy();
  });

  it('keepPoolsMappedMs: N ms after the last reference, then unmapped', async () => {
    await compositor.control.setKnobs({ keepPoolsMappedMs: 300 });
    const w = await open();
    const pool = w.createPool(BYTES);
    const a = w.createBuffer(pool, W, H);
    await w.commit(a);
    await w.commit(null);
    const t0 = performance.now();
    a.destroy();
    pool.destroyProxy();
    await w.roundtrip();
    expect(maps(compositor.pid, pool.ino)).toBe(true);
    expect(await poolInfo(pool.ino)).toMatchObject({ lingering: true, buffers: 0 });
    const at = await unmappedAt(compositor.pid, pool.ino);
    expect(at - t0).toBeGreaterThanOrEqual(300);
    expect(at - t0).toBeLessThan(300 + 300);
    pool.destroy();
  });

  it('keepPoolsMappedMs until-disconnect: unmapped only when the client goes', async () => {
    await compositor.control.setKnobs({ keepPoolsMappedMs: 'until-disconnect' });
    const w = await open();
    const pool = w.createPool(BYTES);
    const a = w.createBuffer(pool, W, H);
    await w.commit(a);
    await w.commit(null);
    a.destroy();
    pool.destroyProxy();
    await w.roundtrip();
    await sleep(300);
    expect(maps(compositor.pid, pool.ino)).toBe(true);
    w.close();
    await unmappedAt(compositor.pid, pool.ino, 1000);
    pool.destroy();
  });

  it('an external pool reference (wl_shm_buffer_ref_pool) outlives even the client', async () => {
    const w = await open();
    const pool = w.createPool(BYTES);
    const a = w.createBuffer(pool, W, H);
    await w.commit(a);
    const info = (await poolInfo(pool.ino))!;
    const ref = await compositor.control.refPool(info.serial);
    w.close();
    await sleep(200);
    expect(maps(compositor.pid, pool.ino)).toBe(true);
    expect(await poolInfo(pool.ino)).toMatchObject({ externalRefs: 1, objectAlive: false });
    expect((await compositor.control.state()).poolRefs).toEqual([{ ref, pool: info.serial }]);
    await compositor.control.unrefPool(ref);
    await unmappedAt(compositor.pid, pool.ino, 1000);
    await expect(compositor.control.unrefPool(ref)).rejects.toThrow(/no pool reference/);
    pool.destroy();
  });

  it('an unsealed pool is never mapped: read with pread, and a truncation cannot hurt', async () => {
    const w = await open();
    const pool = w.createPool(BYTES, false);
    const a = w.createBuffer(pool, W, H);
    a.fill(0xff336699);
    await w.commit(a);
    expect(await poolInfo(pool.ino)).toMatchObject({ access: 'pread', mapped: false, held: true });
    expect(maps(compositor.pid, pool.ino)).toBe(false);
    const surface = (await compositor.control.state()).surfaces.find((s) => s.title === 'knobs')!;
    const before = decodePng((await compositor.control.surfacePng(surface.serial)).png);
    expect([...before.data.subarray(0, 4)]).toEqual([0x33, 0x66, 0x99, 255]);
    // The client shrinks the file under the compositor: a mapping would SIGBUS on read.
    pool.truncate(0);
    const after = decodePng((await compositor.control.surfacePng(surface.serial)).png);
    expect(after.data.every((v, i) => (i % 4 === 3 ? v === 255 : v === 0))).toBe(true);
    await w.roundtrip(); // the compositor is alive and serving
    pool.destroy();
  });

  it('a client that breaks the protocol is disconnected alone', async () => {
    const good = await open();
    const errors: Error[] = [];
    const bad = await ScriptedWindow.open(compositor.socketPath, {
      onError: (e) => errors.push(e),
    });
    windows.push(bad);
    const pool = bad.createPool(BYTES);
    pool.proxy.request('create_buffer', [0, W, H, W, 0]); // stride < 4 × width
    await expect(bad.roundtrip()).rejects.toBeInstanceOf(WaylandDisplayError);
    expect((errors[0] as WaylandDisplayError | undefined)?.protocolError).toEqual({
      interfaceName: 'wl_shm_pool',
      objectId: pool.proxy.id,
      code: 1, // wl_shm.error.invalid_stride
    });
    await good.roundtrip();
    pool.destroy();
  });
});

describe('embedded compositor: crash on command', () => {
  it('dies at once when told to, and the harness still cleans up', async () => {
    const compositor = await startEmbeddedCompositor();
    const w = await ScriptedWindow.open(compositor.socketPath, { onError: () => {} });
    try {
      await compositor.control.crash();
      expect(await compositor.exited).toEqual({ code: null, signal: 'SIGKILL' });
      await expect(w.roundtrip()).rejects.toThrow();
    } finally {
      w.close();
      await compositor.stop();
    }
  });
});
