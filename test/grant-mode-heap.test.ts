// Grant mode's per-buffer state goes with the buffer (issue 14, item 5). A client may
// loop on one pool for ever — create a 1×1 buffer, attach, commit, destroy — with ids
// reused, so maxObjects never bites: whatever the bridge keeps per buffer must be
// dropped with it, or the bridge's heap grows without bound inside the limits.
//
// The tracker and grant mode's backing are driven message by message as the relay
// would drive them (no sockets, so many cycles take seconds), on a real memfd
// backend, and the live heap is measured after full garbage collections.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { MessageTables } from '../bridge/relay/message-table.js';
import type { WaylandObject } from '../bridge/relay/object-map.js';
import { GrantBacking } from '../bridge/shm/grant-mode.js';
import { ShmTracker } from '../bridge/shm/tracker.js';
import type { ArgValue } from '../bridge/wire/values.js';
import { close as closeFd, dupCloexec, ftruncate, memfdCreate } from '../ffi/libc.js';
import { LiveReclaimer } from '../policies/live.js';
import { createPolicy } from '../policies/registry.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;

const tables = new MessageTables(new ProtocolRegistry());
const object = (iface: string, id: number): WaylandObject => ({
  id,
  table: tables.get(iface)!,
  version: 4,
  alive: true,
});

/** Live heap after full collections, in bytes. */
function liveHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

it('create, attach, commit, destroy on one pool, 100 000 times: the heap stays flat', () => {
  const backend = new MemfdGrantBackend();
  const backing = new GrantBacking(
    backend,
    new LiveReclaimer({ backend, policy: createPolicy('evidence') }),
  );
  const tracker = new ShmTracker(
    1,
    { upstreamPid: 0, clientPid: 0 },
    { sink: () => undefined, timeOrigin: 0, trackDamage: true, backing },
  );
  const memfd = memfdCreate('gw-heap');
  closers.push(() => {
    tracker.dispose();
    backing.close();
    backend.close();
    closeFd(memfd);
  });
  ftruncate(memfd, 4096);
  let t = 0;
  const request = (iface: string, id: number, name: string, args: ArgValue[]): void => {
    tracker.onMessage({ fromClient: true, object: object(iface, id), name, args, time: t++ });
  };
  const SHM = 3;
  const POOL = 5;
  const SURFACE = 6;
  const BUFFER = 7; // reused every cycle, as libwayland-client reuses a freed id
  request('wl_shm', SHM, 'create_pool', [POOL, dupCloexec(memfd), 4096]);
  const cycle = (): void => {
    request('wl_shm_pool', POOL, 'create_buffer', [BUFFER, 0, 1, 1, 4, 0]);
    request('wl_surface', SURFACE, 'attach', [BUFFER, 0, 0]);
    request('wl_surface', SURFACE, 'damage_buffer', [0, 0, 1, 1]);
    request('wl_surface', SURFACE, 'commit', []);
    request('wl_buffer', BUFFER, 'destroy', []);
    tracker.onDeleted(object('wl_buffer', BUFFER), t++); // the compositor's delete_id
  };
  for (let i = 0; i < 10_000; i++) cycle();
  const before = liveHeap();
  for (let i = 0; i < 100_000; i++) cycle();
  const grown = liveHeap() - before;
  if (process.env.GW_HOSTILE_REPORT) {
    console.log(`[hostile] 100 000 buffer cycles: live heap ${(grown / MiB).toFixed(2)} MiB more`);
  }
  expect(backing.stats.commits).toBe(110_000);
  expect(grown).toBeLessThan(4 * MiB); // before the fix: ~17 MiB more
  expect(backing.buffersFollowed).toBe(0);
});
