// The per-client limits themselves, with a scripted compositor so that every byte is
// under the test's control: the buffers the limits size always let the relay make
// progress (no deadlock at the smallest setting) and never hold more than
// maxBufferedBytes; the stall limit cuts off a client that reads nothing, and only when
// set; bad limits are refused naming the field, from the API and from the CLI.

import fc from 'fast-check';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { limitsFromFlags } from '../bridge/cli/common.js';
import { OptionError, proxyOptionsSchema, validateOptions } from '../bridge/cli/options.js';
import { silentLogger } from '../bridge/log.js';
import { Bridge } from '../bridge/relay/bridge.js';
import {
  type ClientLimits,
  InvalidClientLimitsError,
  channelCapacities,
  clientLimitFields,
} from '../bridge/relay/limits.js';
import { MAX_MESSAGE_SIZE } from '../bridge/wire/constants.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import { FakeCompositor } from './support/fake-compositor.js';
import { RawPeer, event, registry, request } from './support/raw-peer.js';

const sync = request('wl_display', 'sync');
const getRegistry = request('wl_display', 'get_registry');
const bind = request('wl_registry', 'bind');
const global = event('wl_registry', 'global');
const createSurface = request('wl_compositor', 'create_surface');
const damage = request('wl_surface', 'damage');
const done = event('wl_callback', 'done');
const displayError = event('wl_display', 'error');

let compositor: FakeCompositor | undefined;
let bridge: Bridge | undefined;
const peers: RawPeer[] = [];

afterEach(() => {
  for (const p of peers.splice(0)) p.close();
  bridge?.close();
  compositor?.close();
  bridge = undefined;
  compositor = undefined;
});

function start(limits: Partial<ClientLimits>, logs: Record<string, unknown>[] = []): Bridge {
  compositor = new FakeCompositor();
  bridge = Bridge.start({
    listenPath: join(compositor.dir, 'bridge'),
    upstreamPath: compositor.path,
    registry,
    log: pino({ level: 'warn' }, { write: (l: string) => logs.push(JSON.parse(l) as never) }),
    limits,
  });
  return bridge;
}

function client(): RawPeer {
  const peer = RawPeer.connect(bridge!.listenPath);
  peers.push(peer);
  return peer;
}

/** Buffered bytes of the one session, sampled every few ms until stop() is called. */
function sampleBuffered(b: Bridge): { peak: () => number; stop: () => void } {
  let peak = 0;
  const timer = setInterval(() => {
    for (const s of b.sessionStats()) peak = Math.max(peak, s.buffered);
  }, 2);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

describe('per-client limits', () => {
  it('sizes buffers that hold at most maxBufferedBytes and always leave the relay room', () => {
    const field = clientLimitFields.maxBufferedBytes.unwrap();
    const range = { min: field.minValue!, max: field.maxValue! };
    fc.assert(
      fc.property(fc.integer(range), (maxBufferedBytes) => {
        const { rx, tx } = channelCapacities({ maxBufferedBytes });
        // One direction is one socket's rx plus the other's tx; two directions.
        expect(2 * (rx + tx)).toBeLessThanOrEqual(maxBufferedBytes);
        expect(rx).toBeGreaterThanOrEqual(2 * MAX_MESSAGE_SIZE);
        expect(tx).toBeGreaterThanOrEqual(rx + MAX_MESSAGE_SIZE);
      }),
    );
    // The default keeps the relay's historical buffers (64 KiB in, 256 KiB out).
    expect(channelCapacities({ maxBufferedBytes: 640 * 1024 })).toEqual({
      rx: 64 * 1024,
      tx: 256 * 1024,
    });
  });

  it('at the smallest maxBufferedBytes, relays 2.4 MB through a stalled compositor without loss', async () => {
    const maxBufferedBytes = 64 * 1024;
    const b = start({ maxBufferedBytes });
    const c = client();
    c.send(1, getRegistry, [2]);
    const up = await compositor!.connection(0);
    await up.until(() => up.received.length === 1);
    up.send(2, global, [1, 'wl_compositor', 4]);
    await c.until(() => c.received.length === 1);
    c.send(2, bind, [1, { interface: 'wl_compositor', version: 4, id: 3 }]);
    c.send(3, createSurface, [4]);
    await up.until(() => up.received.length === 3);
    up.setReading(false);
    const count = 100_000;
    const stream = new Uint8Array(count * 24);
    for (let i = 0; i < count; i++) {
      stream.set(encodeMessage(4, damage.opcode, damage.spec, [i, 0, 1, 1]).bytes, i * 24);
    }
    const sampler = sampleBuffered(b);
    const sending = c.sendBytesPatiently(stream);
    await new Promise((resolve) => setTimeout(resolve, 200));
    up.setReading(true);
    await sending;
    await up.until(() => up.received.length === 3 + count, 20_000, 'every request');
    sampler.stop();
    expect(sampler.peak()).toBeGreaterThan(0);
    expect(sampler.peak()).toBeLessThanOrEqual(maxBufferedBytes);
    for (let i = 0; i < count; i += 4999) {
      expect(up.decode(up.received[3 + i]!, damage.spec)[0]).toBe(i);
    }
  });

  it.each([
    [0, 'kept, and given every event once it reads again'],
    [300, 'cut off, and told which limit'],
  ])('a client that reads nothing with stallTimeoutMs = %i is %s', async (stallTimeoutMs) => {
    const logs: Record<string, unknown>[] = [];
    const b = start({ stallTimeoutMs, maxBufferedBytes: 64 * 1024 }, logs);
    const c = client();
    c.send(1, sync, [2]);
    const up = await compositor!.connection(0);
    await up.until(() => up.received.length === 1);
    c.setReading(false);
    // 40 000 wl_callback.done events (480 KB): more than the sockets and the bridge hold.
    const count = 40_000;
    const stream = new Uint8Array(count * 12);
    for (let i = 0; i < count; i++) {
      stream.set(encodeMessage(2, done.opcode, done.spec, [i]).bytes, i * 12);
    }
    const sampler = sampleBuffered(b);
    const sending = up.sendBytesPatiently(stream, 5000).catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 800));
    sampler.stop();
    expect(sampler.peak()).toBeLessThanOrEqual(64 * 1024);
    if (stallTimeoutMs === 0) {
      expect(b.sessionCount).toBe(1);
      c.setReading(true);
      expect(await sending).toBeUndefined();
      await c.until(() => c.received.length === count, 10_000, 'every event');
      expect(c.decode(c.received.at(-1)!, done.spec)).toEqual([count - 1]);
    } else {
      expect(b.sessionCount).toBe(0);
      expect(logs).toContainEqual(
        expect.objectContaining({ limit: 'stallTimeoutMs', value: stallTimeoutMs }),
      );
      // The error could not reach a client that does not read; the hang-up does.
      c.setReading(true);
      await c.until(() => c.eof, 5000, 'hang-up');
      await sending;
    }
  });

  it('the error a client gets names the limit, its value and what the client did', async () => {
    start({ maxObjects: 16 });
    const c = client();
    for (let id = 2; id <= 17; id++) c.send(1, sync, [id]);
    await c.until(() => c.eof, 5000, 'disconnect');
    const [objectId, code, message] = c.decode(c.received.at(-1)!, displayError.spec);
    expect([objectId, code]).toEqual([1, 2]); // wl_display.no_memory
    expect(message).toBe(
      'client created wl_callback@17 (17 objects live): over the per-client limit maxObjects = 16 objects',
    );
  });

  it('refuses limits out of range, naming the field (API) or the flag (CLI)', () => {
    // Checked before any socket is touched: these paths do not exist.
    const api = (limits: Partial<ClientLimits>): Bridge =>
      Bridge.start({
        listenPath: '/nonexistent/listen',
        upstreamPath: '/nonexistent/upstream',
        registry,
        log: silentLogger,
        limits,
      });
    expect(() => api({ maxFds: 0, maxBufferedBytes: 1024 })).toThrow(InvalidClientLimitsError);
    expect(() => api({ maxFds: 0 })).toThrow(/maxFds: Too small/);
    expect(() => api({ maxPoolSize: 1.5 })).toThrow(/maxPoolSize/);

    const flags = { listen: 'a', upstream: 'b' };
    const parsed = validateOptions(proxyOptionsSchema, {
      ...flags,
      'max-pool-size': '64M',
      'max-shm-total': '1GiB',
      'max-objects': '5000',
      'max-buffered': '128K',
      'stall-timeout-ms': '0',
    });
    expect(limitsFromFlags(parsed)).toEqual({
      maxPoolSize: 64 * 1024 * 1024,
      maxShmTotal: 1024 ** 3,
      maxObjects: 5000,
      maxFds: undefined,
      maxBufferedBytes: 128 * 1024,
      stallTimeoutMs: 0,
    });
    expect(() => validateOptions(proxyOptionsSchema, { ...flags, 'max-pool-size': '4G' })).toThrow(
      /--max-pool-size: Too big/,
    );
    expect(() => validateOptions(proxyOptionsSchema, { ...flags, 'max-buffered': 'lots' })).toThrow(
      OptionError,
    );
  });
});
