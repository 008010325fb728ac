// The shm lifetime tracker inside the relay, driven message by message by a raw client
// and a scripted compositor: the lifecycle events and evidence levels it reports for
// each path a buffer can take, and the wl_shm errors it raises for bad shm.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import { createLogger, silentLogger } from '../bridge/log.js';
import { type AssembledBridge, assembleBridge } from '../bridge/assembly/assemble.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import type { LifecycleEvent } from '../bridge/shm/events.js';
import type { Lifecycle } from '../bridge/shm/lifecycle.js';
import type {
  Blindness,
  MappingOracle,
  MappingQuestion,
  MappingVerdict,
} from '../bridge/oracle/types.js';
import { FakeCompositor } from './support/fake-compositor.js';
import { RawPeer, event, registry, request } from './support/raw-peer.js';

const getRegistry = request('wl_display', 'get_registry');
const bind = request('wl_registry', 'bind');
const global = event('wl_registry', 'global');
const deleteId = event('wl_display', 'delete_id');
const displayError = event('wl_display', 'error');
const createPool = request('wl_shm', 'create_pool');
const createBuffer = request('wl_shm_pool', 'create_buffer');
const poolDestroy = request('wl_shm_pool', 'destroy');
const poolResize = request('wl_shm_pool', 'resize');
const bufferDestroy = request('wl_buffer', 'destroy');
const release = event('wl_buffer', 'release');
const createSurface = request('wl_compositor', 'create_surface');
const attach = request('wl_surface', 'attach');
const damage = request('wl_surface', 'damage');
const commit = request('wl_surface', 'commit');
const damageBuffer = request('wl_surface', 'damage_buffer');
const setBufferScale = request('wl_surface', 'set_buffer_scale');

/** An oracle the test controls: whatever `mapped` says about a file. */
class ScriptedOracle implements MappingOracle {
  unmapped = new Set<bigint>();
  verdict(question: MappingQuestion): MappingVerdict {
    return this.unmapped.has(question.file.ino) ? 'unmapped' : 'mapped';
  }
  verdicts(questions: readonly MappingQuestion[]): MappingVerdict[] {
    return questions.map((q) => this.verdict(q));
  }
  notBefore(): number {
    return Number.NEGATIVE_INFINITY;
  }
  blindnessFor(): Blindness | undefined {
    return undefined;
  }
}

let compositor: FakeCompositor;
let assembled: AssembledBridge;
let bridge: Bridge;
let lifecycle: Lifecycle;
let events: LifecycleEvent[];
let oracle: ScriptedOracle;
const peers: RawPeer[] = [];
const fds: number[] = [];

beforeEach(() => {
  compositor = new FakeCompositor();
  events = [];
  oracle = new ScriptedOracle();
  assembled = assembleBridge({
    listenPath: join(compositor.dir, 'bridge'),
    upstreamPath: compositor.path,
    registry,
    mode: 'passthrough',
    trackDamage: true,
    sinks: [(e) => events.push(e)],
    oracle,
    log: process.env.GW_TEST_LOG ? createLogger('debug') : silentLogger,
    ...(process.env.GW_TEST_LOG ? { trace: (l: string) => console.error(l) } : {}),
  });
  ({ bridge, lifecycle } = assembled);
});

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  assembled.close();
  compositor.close();
  for (const fd of fds.splice(0)) closeFd(fd);
});

const ID = { registry: 2, shm: 3, compositor: 4, pool: 5, buffer: 6, surface: 7 };

/** A client with wl_shm (3), wl_compositor (4), a 64×64 pool (5), a buffer (6) and a surface (7). */
async function setup(
  poolSize = 64 * 64 * 4,
  fileSize = poolSize,
): Promise<{ c: RawPeer; up: RawPeer; memfd: number }> {
  const c = RawPeer.connect(bridge.listenPath);
  peers.push(c);
  c.send(1, getRegistry, [ID.registry]);
  const up = await compositor.connection(0);
  await up.until(() => up.received.length === 1);
  up.send(ID.registry, global, [1, 'wl_shm', 1]);
  up.send(ID.registry, global, [2, 'wl_compositor', 4]);
  await c.until(() => c.received.length === 2);
  c.send(ID.registry, bind, [1, { interface: 'wl_shm', version: 1, id: ID.shm }]);
  c.send(ID.registry, bind, [2, { interface: 'wl_compositor', version: 4, id: ID.compositor }]);
  const memfd = memfdCreate('pool');
  fds.push(memfd);
  ftruncate(memfd, fileSize);
  c.send(ID.shm, createPool, [ID.pool, memfd, poolSize]);
  return { c, up, memfd };
}

const types = (): string[] => events.map((e) => e.type);
const levels = (): string[] => events.flatMap((e) => (e.type === 'evidence' ? [e.level] : []));

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; events: ${types().join(' ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('shm lifetime tracker', () => {
  it('release then destroy: E1 after release, E2 once acknowledged, E3 once unmapped', async () => {
    const { c, up, memfd } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.compositor, createSurface, [ID.surface]);
    c.send(ID.surface, attach, [ID.buffer, 0, 0]);
    c.send(ID.surface, damage, [0, 0, 10, 20]);
    c.send(ID.surface, commit, []);
    await until(() => types().includes('buffer-committed'), 'commit');
    expect(levels()).toEqual(['E0']); // the compositor may now read the buffer
    const committed = events.find((e) => e.type === 'buffer-committed');
    expect(committed).toMatchObject({
      buffer: ID.buffer,
      surface: ID.surface,
      damage: [[0, 0, 10, 20]],
    });
    up.send(ID.buffer, release, []);
    await until(() => levels().length === 2, 'E1');
    expect(levels()).toEqual(['E0', 'E1']);
    c.send(ID.buffer, bufferDestroy, []);
    c.send(ID.pool, poolDestroy, []);
    await up.until(() => up.received.length >= 10, 5000, 'destroys upstream');
    up.send(1, deleteId, [ID.buffer]);
    up.send(1, deleteId, [ID.pool]);
    await until(() => levels().includes('E2'), 'E2');
    expect(
      events.filter((e) => e.type === 'delete-acked').map((e) => 'kind' in e && e.kind),
    ).toEqual(['buffer', 'pool']);
    oracle.unmapped.add(BigInt(0)); // unrelated file: still mapped
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(levels()).not.toContain('E3');
    const { ino } = (await import('../ffi/libc.js')).fstat(memfd);
    oracle.unmapped.add(ino);
    await until(() => levels().includes('E3'), 'E3');
    expect(levels()).toEqual(['E0', 'E1', 'E2', 'E3']);
    expect(lifecycle.watcher?.pending).toBe(0);
  });

  it('destroy while attached: no E1 until the compositor lets go, E2 needs every delete_id', async () => {
    const { c, up } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.compositor, createSurface, [ID.surface]);
    c.send(ID.surface, attach, [ID.buffer, 0, 0]);
    c.send(ID.surface, commit, []);
    c.send(ID.pool, poolDestroy, []); // pool destroyed before its buffer
    await until(() => types().includes('pool-destroyed'), 'pool destroyed');
    up.send(1, deleteId, [ID.pool]);
    await until(() => types().includes('delete-acked'), 'pool ack');
    expect(levels()).toEqual(['E0']); // buffer still held and alive
    c.send(ID.buffer, bufferDestroy, []);
    await until(() => levels().length === 2, 'E1 after buffer destroyed');
    expect(levels()).toEqual(['E0', 'E1']);
    up.send(1, deleteId, [ID.buffer]);
    await until(() => levels().includes('E2'), 'E2');
  });

  it('keeps a pool whose id the client reused while its buffer lives (weston-simple-shm does this)', async () => {
    const { c, up } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.pool, poolDestroy, []);
    await up.until(() =>
      up.received.some((m) => m.objectId === ID.pool && m.opcode === poolDestroy.opcode),
    );
    up.send(1, deleteId, [ID.pool]);
    await until(() => types().includes('delete-acked'), 'first pool retired');
    const second = memfdCreate('second');
    fds.push(second);
    ftruncate(second, 4096);
    c.send(ID.shm, createPool, [ID.pool, second, 4096]); // the same id, a new pool
    await until(() => types().filter((t) => t === 'pool-created').length === 2, 'second pool');
    c.send(ID.buffer, bufferDestroy, []);
    await up.until(() => up.received.some((m) => m.objectId === ID.buffer));
    up.send(1, deleteId, [ID.buffer]);
    // The first pool (not the second, which is alive) reaches E2 with its last buffer.
    await until(() => levels().includes('E2'), 'first pool E2');
    const tracker = [...lifecycle.trackers][0]!;
    const pools = [...tracker.poolStates()];
    expect(pools.map((p) => [p.size, p.evidence])).toEqual([
      [64 * 64 * 4, 'E2'],
      [4096, 'E1'],
    ]);
  });

  it('bounds damage sent without a commit: past 64 rectangles it is the whole buffer', async () => {
    const { c } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.compositor, createSurface, [ID.surface]);
    c.send(ID.surface, attach, [ID.buffer, 0, 0]);
    for (let i = 0; i < 200; i++) c.send(ID.surface, damage, [i % 60, 0, 1, 1]);
    c.send(ID.surface, commit, []);
    await until(() => types().includes('buffer-committed'), 'commit');
    const committed = events.find((e) => e.type === 'buffer-committed');
    expect(committed).toMatchObject({ damage: [[0, 0, 64, 64]] });
  });

  it('maps damage by its kind: surface damage scaled to the buffer, buffer damage as sent, both signed', async () => {
    const { c } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.compositor, createSurface, [ID.surface]);
    c.send(ID.surface, attach, [ID.buffer, 0, 0]);
    c.send(ID.surface, setBufferScale, [2]);
    c.send(ID.surface, damage, [1, 2, 3, 4]);
    c.send(ID.surface, damageBuffer, [-4, 10, 20, 5]);
    c.send(ID.surface, commit, []);
    await until(() => types().includes('buffer-committed'), 'commit');
    const committed = events.find((e) => e.type === 'buffer-committed');
    expect(committed).toMatchObject({
      damage: [
        [2, 4, 6, 8],
        [0, 10, 16, 5],
      ],
    });
  });

  it('client killed mid-frame: everything it had is destroyed and retired at once (E2)', async () => {
    const { c } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.compositor, createSurface, [ID.surface]);
    c.send(ID.surface, attach, [ID.buffer, 0, 0]);
    c.send(ID.surface, commit, []);
    await until(() => types().includes('buffer-committed'), 'commit');
    c.close();
    await until(() => types().includes('client-gone'), 'client gone');
    await until(() => levels().includes('E2'), 'E2');
    expect(types().indexOf('client-gone')).toBeLessThan(types().lastIndexOf('evidence'));
  });

  it('resize grows the pool; shrinking is a wl_shm error', async () => {
    const { c, memfd } = await setup(4096, 16384);
    c.send(ID.pool, poolResize, [8192]);
    await until(() => types().includes('pool-resized'), 'resize');
    expect(events.find((e) => e.type === 'pool-resized')).toMatchObject({ size: 8192, pages: 2 });
    c.send(ID.pool, poolResize, [16384 + 4096]); // beyond the file
    await c.until(() => c.eof, 5000, 'disconnect');
    const [, code, message] = c.decode(c.received.at(-1)!, displayError.spec);
    expect(code).toBe(2); // wl_shm invalid_fd
    expect(message).toMatch(/smaller than the new pool size/);
    expect(memfd).toBeGreaterThan(0);
  });

  it('rejects a pool larger than its file with wl_shm invalid_fd', async () => {
    const { c, up } = await setup(4096, 64);
    await c.until(() => c.eof, 5000, 'disconnect');
    const [objectId, code, message] = c.decode(c.received.at(-1)!, displayError.spec);
    expect(objectId).toBe(ID.shm);
    expect(code).toBe(2);
    expect(message).toMatch(/smaller than the declared pool size/);
    expect(up.received.some((m) => m.objectId === ID.shm)).toBe(false);
  });

  it.each([
    ['a buffer beyond the pool', [ID.buffer, 4096, 64, 64, 256, 0], 1],
    ['a stride below width × 4', [ID.buffer, 0, 64, 16, 128, 0], 1],
    ['a zero height', [ID.buffer, 0, 64, 0, 256, 0], 1],
    ['a format the compositor never advertised', [ID.buffer, 0, 16, 16, 64, 0x34325258], 0],
  ] as const)('rejects %s with the wl_shm error code', async (_name, args, code) => {
    const { c, up } = await setup();
    c.send(ID.pool, createBuffer, [...args]);
    await c.until(() => c.eof, 5000, 'disconnect');
    const [objectId, gotCode] = c.decode(c.received.at(-1)!, displayError.spec);
    expect(objectId).toBe(ID.pool);
    expect(gotCode).toBe(code);
    expect(
      up.received.some((m) => m.objectId === ID.pool && m.opcode === createBuffer.opcode),
    ).toBe(false);
  });

  it('leaks no fd when it rejects a pool or the client leaves', async () => {
    const before = readdirSync('/proc/self/fd').length;
    for (const fileSize of [64, 16384]) {
      const { c, memfd } = await setup(16384, fileSize); // the first is rejected
      if (fileSize === 64) await c.until(() => c.eof, 5000, 'rejected');
      c.close();
      peers.splice(peers.indexOf(c), 1);
      closeFd(memfd);
      fds.splice(fds.indexOf(memfd), 1);
      compositor.connections.shift()?.close();
      await bridge.whenIdle();
    }
    lifecycle.close(); // the tracker's dups of pools still waiting for E3
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });

  it('detects a pool file truncated after creation at commit time (passthrough)', async () => {
    const { c, up, memfd } = await setup();
    c.send(ID.pool, createBuffer, [ID.buffer, 0, 64, 64, 256, 0]);
    c.send(ID.compositor, createSurface, [ID.surface]);
    await until(() => types().includes('buffer-created'), 'buffer');
    ftruncate(memfd, 1024);
    c.send(ID.surface, attach, [ID.buffer, 0, 0]);
    c.send(ID.surface, commit, []);
    await c.until(() => c.eof, 5000, 'disconnect');
    const [, code, message] = c.decode(c.received.at(-1)!, displayError.spec);
    expect(code).toBe(2);
    expect(message).toMatch(/truncated/);
    // The commit never reached the compositor, which would have read past the file.
    expect(up.received.some((m) => m.objectId === ID.surface && m.opcode === commit.opcode)).toBe(
      false,
    );
  });
});
