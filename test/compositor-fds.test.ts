// Fds the compositor sends to a client are bounded too (SECURITY.md): they count against
// the client's maxFds, and once the bridge holds more for a client that does not read,
// it stops reading that client's compositor connection until the client takes them —
// back-pressure, as with bytes — instead of taking every fd the compositor sends into its
// own fd table. The client loses nothing: when it reads again it gets every fd, in order.
// In-process: a raw client and a scripted compositor over real sockets.

import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { silentLogger } from '../bridge/log.js';
import { Bridge } from '../bridge/relay/bridge.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import { close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import { FakeCompositor } from './support/fake-compositor.js';
import { event, RawPeer, registry, request } from './support/raw-peer.js';

const getRegistry = request('wl_display', 'get_registry');
const bind = request('wl_registry', 'bind');
const getKeyboard = request('wl_seat', 'get_keyboard');
const global = event('wl_registry', 'global');
const modifiers = event('wl_keyboard', 'modifiers');
const keymap = event('wl_keyboard', 'keymap');

const MAX_FDS = 64;
const KEYMAPS = 2000;
/** One recvmsg can bring this many fds past the limit (SCM_MAX_FD - 1). */
const ONE_READ = 253;

let compositor: FakeCompositor;
let bridge: Bridge;
let keymapFd: number;

beforeEach(() => {
  compositor = new FakeCompositor();
  bridge = Bridge.start({
    listenPath: join(compositor.dir, 'bridge'),
    upstreamPath: compositor.path,
    registry,
    log: silentLogger,
    limits: { maxFds: MAX_FDS, stallTimeoutMs: 0 },
  });
  keymapFd = memfdCreate('gw-keymap');
  ftruncate(keymapFd, 4096);
});

afterEach(() => {
  bridge.close();
  compositor.close();
  closeFd(keymapFd);
});

/** Sends `bytes` with `fds` until it goes, or gives up after `ms` of a full socket. */
async function sendOrGiveUp(peer: RawPeer, bytes: Uint8Array, fds: number[], ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      peer.sendBytes(bytes, fds);
      return true;
    } catch (err) {
      if (!(err instanceof Error) || err.message !== 'peer socket full') throw err;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

it('stops taking fds from the compositor past maxFds while the client does not read, and delivers them all once it does', async () => {
  // A client with a keyboard (registry 2, seat 3, keyboard 4).
  const c = RawPeer.connect(bridge.listenPath);
  c.send(1, getRegistry, [2]);
  const up = await compositor.connection(0);
  await up.until(() => up.received.length === 1);
  up.send(2, global, [1, 'wl_seat', 7]);
  await c.until(() => c.received.length === 1);
  c.send(2, bind, [1, { interface: 'wl_seat', version: 7, id: 3 }]);
  c.send(3, getKeyboard, [4]);
  await up.until(() => up.received.length === 3);

  // The client stops reading; 300 KB of plain events fill its socket.
  c.setReading(false);
  const filler = encodeMessage(4, modifiers.opcode, modifiers.spec, [0, 0, 0, 0, 0]).bytes;
  const burst = Buffer.concat(Array.from({ length: 1000 }, () => filler));
  for (let i = 0; i < 11; i++) expect(await sendOrGiveUp(up, burst, [], 5000)).toBe(true);

  // Then keymaps, one fd each, for as long as the compositor's socket takes them.
  const one = encodeMessage(4, keymap.opcode, keymap.spec, [1, keymapFd, 4096]).bytes;
  let sent = 0;
  while (sent < KEYMAPS && (await sendOrGiveUp(up, one, [keymapFd], 300))) sent++;
  const held = bridge.sessionStats()[0]!.fds;
  expect(held).toBeLessThanOrEqual(MAX_FDS + ONE_READ);
  expect(sent).toBeLessThan(KEYMAPS); // the compositor's socket filled: back-pressure
  expect(bridge.sessionCount).toBe(1); // the client was not cut off

  // The client reads again: every keymap arrives, each with its fd, and nothing is lost.
  c.setReading(true);
  while (sent < KEYMAPS) {
    expect(await sendOrGiveUp(up, one, [keymapFd], 10_000)).toBe(true);
    sent++;
  }
  const keymaps = (): number =>
    c.received.filter((m) => m.objectId === 4 && m.opcode === keymap.opcode).length;
  await c.until(() => keymaps() === KEYMAPS, 20_000, 'every keymap');
  expect(c.fds.length).toBe(KEYMAPS);
  expect(c.received.filter((m) => m.opcode === modifiers.opcode)).toHaveLength(11_000);
  expect(bridge.sessionStats()[0]!.fds).toBe(0);
  c.close();
});
