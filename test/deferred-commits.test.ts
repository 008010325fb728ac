// Grant mode's commits wait for the end of the event loop's turn (issue 10): when many
// clients commit at once and another client sends a wl_display.sync in the same moment,
// the bridge reads and forwards that sync before it does any commit's work (damage to
// spans, a copy queued), although the commits' bytes were ready first. Each client's own
// order is kept, and every frame still reaches the compositor whole.
//
// The bridge runs in this process against the embedded compositor, so the test sees the
// order in which the relay handed messages to the observers, through a wrapper that also
// watches wl_display.sync. Without the deferral the painters' commits come first (their
// sockets became readable first, and the loop handles ready sockets in that order).

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindGlobals } from '../harness/client/globals.js';
import { PoolFile } from '../harness/client/pool-file.js';
import { type WaylandProxy, WaylandClient } from '../harness/client/wayland-client.js';
import { type EmbeddedCompositorInstance, startEmbeddedCompositor } from '../harness/embedded.js';
import { assembleBridge } from '../bridge/assembly/assemble.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { tapRequests } from '../bridge/relay/observer-tap.js';
import { TURN_BUDGET_MS, atTurnEnd } from '../bridge/relay/turn-end.js';

const registry = new ProtocolRegistry();
const W = 256;
const H = 256;
const STRIDE = W * 4;
const SIZE = STRIDE * H;
const PAINTERS = 8;

interface Painter {
  readonly client: WaylandClient;
  readonly pixels: Uint8Array;
  commit(): void;
}

describe('grant mode: a burst of commits does not hold up another client', () => {
  let compositor: EmbeddedCompositorInstance;
  beforeAll(async () => {
    compositor = await startEmbeddedCompositor({ socketName: 'gw-deferred' });
  });
  afterAll(async () => {
    await compositor?.stop();
  });

  it('reads a sync sent with 8 commits before doing any of their work, and keeps each client in order', async () => {
    const log: string[] = [];
    const { bridge, lifecycle } = assembleBridge({
      listenPath: join(compositor.runtimeDir, 'gw-deferred-bridge'),
      upstreamPath: compositor.socketPath,
      registry,
      oracle: 'none',
      // The order in which the relay handled every sync and commit.
      wrapObservers: (factory) =>
        tapRequests(factory, { wl_display: ['sync'] }, (session, m) => {
          if (m.name === 'sync' || m.name === 'commit') log.push(`${session} ${m.name}`);
        }),
    });
    const clients: WaylandClient[] = [];
    const files: PoolFile[] = [];
    const connect = (): WaylandClient => {
      const client = WaylandClient.connect(bridge.listenPath);
      client.attachToLoop();
      clients.push(client);
      return client;
    };
    const painter = async (): Promise<Painter> => {
      const client = connect();
      const { wl_shm: shm, wl_compositor: compositor } = await bindGlobals(client, registry, {
        wl_shm: 1,
        wl_compositor: 4,
      });
      const file = new PoolFile(SIZE, { name: 'deferred-commits' });
      files.push(file);
      const pool = shm.request('create_pool', [file.fd, SIZE]) as WaylandProxy;
      const buffer = pool.request('create_buffer', [0, W, H, STRIDE, 0]) as WaylandProxy;
      const surface = compositor.request('create_surface') as WaylandProxy;
      return {
        client,
        pixels: file.bytes,
        commit() {
          surface.request('attach', [buffer, 0, 0]);
          surface.request('damage_buffer', [0, 0, W, H]);
          surface.request('commit');
        },
      };
    };
    try {
      const painters: Painter[] = [];
      for (let i = 0; i < PAINTERS; i++) painters.push(await painter());
      const bystander = connect();
      await bystander.roundtripAsync();
      // A first frame each: pools re-backed, extents made.
      for (const p of painters) p.commit();
      await Promise.all(painters.map((p) => p.client.roundtripAsync()));

      log.length = 0;
      painters.forEach((p, i) => p.pixels.fill(i + 1));
      for (const p of painters) {
        p.commit();
        p.client.flush();
      }
      const answered = bystander.roundtripAsync(); // flushed last: its bytes are ready last
      const painted = painters.map((p) => p.client.roundtripAsync());
      await answered;
      await Promise.all(painted);

      // The bystander's sync went through the relay before any of the commits.
      const bystanderSync = log.findIndex((line) => line.endsWith(' sync'));
      const firstCommit = log.findIndex((line) => line.endsWith(' commit'));
      expect(bystanderSync).toBeGreaterThanOrEqual(0);
      expect(log.filter((line) => line.endsWith(' commit'))).toHaveLength(PAINTERS);
      expect(bystanderSync).toBeLessThan(firstCommit);
      // Each painter: its commit, then its own sync.
      for (const session of new Set(log.map((line) => line.split(' ')[0]))) {
        const own = log
          .filter((line) => line.startsWith(`${session} `))
          .map((l) => l.split(' ')[1]);
        if (own.includes('commit')) expect(own).toEqual(['commit', 'sync']);
      }
      // And every frame was copied whole.
      const stats = lifecycle.backing!.stats;
      expect(stats.bytesMissing).toBe(0);
    } finally {
      for (const c of clients) c.close();
      bridge.close();
      lifecycle?.close();
      for (const f of files) f.close();
    }
  });
});

describe('atTurnEnd', () => {
  const spin = (ms: number): void => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: a commit's work
    }
  };

  it('runs work in the order it came, after what is ready in this turn', async () => {
    const order: string[] = [];
    atTurnEnd(() => order.push('a'));
    atTurnEnd(() => order.push('b'));
    order.push('now');
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['now', 'a', 'b']);
  });

  it('lets the loop turn once a turn budget of work has run, then goes on in order', async () => {
    const order: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      atTurnEnd(() => {
        order.push(name);
        // Whatever is queued for the next turn runs before the work left over.
        if (name === 'a') setImmediate(() => order.push('next turn'));
        spin(TURN_BUDGET_MS);
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual(['a', 'next turn', 'b', 'c']);
  });
});
