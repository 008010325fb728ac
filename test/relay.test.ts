// The relay between raw clients and a scripted compositor, both in-process over real
// unix sockets: bytes and fds forwarded exactly, globals filtered, protocol errors
// confined to the offending client, back-pressure without loss, clean teardown.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../bridge/log.js';
import { Bridge } from '../bridge/relay/bridge.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import { close as closeFd, fstat, ftruncate, memfdCreate } from '../ffi/libc.js';
import { FakeCompositor } from './support/fake-compositor.js';
import { event, RawPeer, registry, request } from './support/raw-peer.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

let compositor: FakeCompositor;
let bridge: Bridge;
const peers: RawPeer[] = [];

function client(): RawPeer {
  const peer = RawPeer.connect(bridge.listenPath);
  peers.push(peer);
  return peer;
}

beforeEach(() => {
  compositor = new FakeCompositor();
  bridge = Bridge.start({
    listenPath: join(compositor.dir, 'bridge'),
    upstreamPath: compositor.path,
    registry,
    log: silentLogger,
  });
});

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  bridge.close();
  compositor.close();
});

const getRegistry = request('wl_display', 'get_registry');
const sync = request('wl_display', 'sync');
const bind = request('wl_registry', 'bind');
const global = event('wl_registry', 'global');
const displayError = event('wl_display', 'error');
const deleteId = event('wl_display', 'delete_id');
const callbackDone = event('wl_callback', 'done');
const createPool = request('wl_shm', 'create_pool');
const createSurface = request('wl_compositor', 'create_surface');
const damage = request('wl_surface', 'damage');

/** Client binds a registry (id 2); upstream announces `globals`; returns both peers. */
async function withRegistry(
  globals: [name: number, iface: string, version: number][],
  index = 0,
): Promise<{ c: RawPeer; up: RawPeer }> {
  const c = client();
  c.send(1, getRegistry, [2]);
  const up = await compositor.connection(index);
  await up.until(() => up.received.length === 1, 5000, 'get_registry upstream');
  for (const [name, iface, version] of globals) up.send(2, global, [name, iface, version]);
  return { c, up };
}

describe('relay', () => {
  it('forwards a request stream split at every byte boundary, byte for byte', async () => {
    const c = client();
    const bytes = new Uint8Array([
      ...encodeMessage(1, getRegistry.opcode, getRegistry.spec, [2]).bytes,
      ...encodeMessage(1, sync.opcode, sync.spec, [3]).bytes,
    ]);
    for (let i = 0; i < bytes.length; i++) {
      c.sendBytes(bytes.subarray(i, i + 1));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const up = await compositor.connection(0);
    await up.until(() => up.received.length === 2);
    expect(Buffer.concat(up.received.map((m) => m.bytes))).toEqual(Buffer.from(bytes));
  });

  it('hides globals it has no protocol for and clamps versions to its tables', async () => {
    const { c } = await withRegistry([
      [1, 'wl_compositor', 4],
      [2, 'weston_secret_thing', 1],
      [3, 'wl_shm', 999],
    ]);
    await c.until(() => c.received.length === 2, 5000, 'two globals');
    const seen = c.received.map((m) => c.decode(m, global.spec));
    const shmVersion = registry.get('wl_shm')!.version;
    expect(seen).toEqual([
      [1, 'wl_compositor', 4],
      [3, 'wl_shm', shmVersion],
    ]);
  });

  it('carries fds with their message (the compositor gets the same file)', async () => {
    const { c, up } = await withRegistry([[1, 'wl_shm', 1]]);
    await c.until(() => c.received.length === 1);
    c.send(2, bind, [1, { interface: 'wl_shm', version: 1, id: 3 }]);
    const memfd = memfdCreate('pool');
    ftruncate(memfd, 4096);
    c.send(3, createPool, [4, memfd, 4096]);
    await up.until(() => up.received.length === 3, 5000, 'create_pool upstream');
    const args = up.decode(up.received[2]!, createPool.spec);
    const fd = args[1] as number;
    expect(fstat(fd).ino).toBe(fstat(memfd).ino);
    closeFd(fd);
    closeFd(memfd);
  });

  it('answers a request on an unknown object with invalid_object and drops only that client', async () => {
    const good = await withRegistry([[1, 'wl_compositor', 4]], 0);
    const bad = await withRegistry([[1, 'wl_compositor', 4]], 1);
    await bad.c.until(() => bad.c.received.length === 1);
    bad.c.send(99, createSurface, [5]);
    await bad.c.until(() => bad.c.eof, 5000, 'bad client disconnected');
    const error = bad.c.received.find((m) => m.objectId === 1 && m.opcode === displayError.opcode);
    expect(error).toBeDefined();
    const [objectId, code, message] = bad.c.decode(error!, displayError.spec);
    expect(objectId).toBe(1);
    expect(code).toBe(0);
    expect(message).toMatch(/invalid object 99/);
    await bad.up.until(() => bad.up.eof, 5000, 'bad client upstream closed');
    // The other client is untouched: its requests still flow both ways.
    good.c.send(1, sync, [3]);
    await good.up.until(() => good.up.received.length === 2);
    good.up.send(3, callbackDone, [42]);
    good.up.send(1, deleteId, [3]);
    await good.c.until(() => good.c.received.length === 3);
    expect(good.c.decode(good.c.received[1]!, callbackDone.spec)).toEqual([42]);
    expect(good.c.eof).toBe(false);
  });

  it('rejects malformed headers and binds to hidden globals with the libwayland error codes', async () => {
    const a = await withRegistry([[1, 'wl_compositor', 4]], 0);
    a.c.sendBytes(new Uint8Array([1, 0, 0, 0, 0, 0, 6, 0])); // size 6 < 8
    await a.c.until(() => a.c.eof);
    const [, code1] = a.c.decode(a.c.received.at(-1)!, displayError.spec);
    expect(code1).toBe(1); // invalid_method

    const b = await withRegistry([[7, 'weston_secret_thing', 1]], 1);
    b.c.send(2, bind, [7, { interface: 'weston_secret_thing', version: 1, id: 3 }]);
    await b.c.until(() => b.c.eof);
    const [, code2, msg2] = b.c.decode(b.c.received.at(-1)!, displayError.spec);
    expect(code2).toBe(0); // invalid_object
    expect(msg2).toMatch(/invalid global/);
    expect(b.up.received.length).toBe(1); // the bind never reached the compositor
  });

  it('holds back a fast client while the compositor does not read, and loses nothing', async () => {
    const { c, up } = await withRegistry([[1, 'wl_compositor', 4]]);
    await c.until(() => c.received.length === 1);
    c.send(2, bind, [1, { interface: 'wl_compositor', version: 4, id: 3 }]);
    c.send(3, createSurface, [4]);
    await up.until(() => up.received.length === 3);
    up.setReading(false);
    const count = 200_000; // 4.8 MB of damage requests, far beyond socket buffers
    const stream = new Uint8Array(count * 24);
    for (let i = 0; i < count; i++) {
      stream.set(encodeMessage(4, damage.opcode, damage.spec, [i, 0, 1, 1]).bytes, i * 24);
    }
    const sending = c.sendBytesPatiently(stream);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(up.received.length).toBe(3); // nothing could arrive while it is not reading
    up.setReading(true);
    await sending;
    await up.until(() => up.received.length === 3 + count, 20_000, 'all damage requests');
    for (let i = 0; i < count; i += 9973) {
      expect(up.decode(up.received[3 + i]!, damage.spec)[0]).toBe(i);
    }
    expect(c.eof).toBe(false);
  });

  it('closes clients cleanly when the compositor goes away, and leaks no fd', async () => {
    const before = openFds();
    const { c, up } = await withRegistry([[1, 'wl_compositor', 4]]);
    await c.until(() => c.received.length === 1);
    up.close();
    await c.until(() => c.eof, 5000, 'client sees EOF');
    c.close();
    await bridge.whenIdle();
    expect(bridge.sessionCount).toBe(0);
    // The fake compositor's accepted fd was closed by up.close(); the client's by c.close().
    expect(openFds()).toBe(before);
  });
});
