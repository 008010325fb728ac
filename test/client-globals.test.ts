// harness/client/globals.ts against the embedded compositor (always available): the
// globals asked for come back bound at the version asked and usable, and one the
// compositor lacks, or offers only at a lower version, is an error naming it and what
// was offered, raised before any bind reaches the compositor (the connection lives on).

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { MissingGlobalError, bindGlobals, bindGlobalsBlocking } from '../harness/client/globals.js';
import { WaylandClient, type WaylandProxy } from '../harness/client/wayland-client.js';
import { type EmbeddedCompositorInstance, startEmbeddedCompositor } from '../harness/embedded.js';

const protocols = new ProtocolRegistry();

describe('bindGlobals on the embedded compositor', () => {
  let compositor: EmbeddedCompositorInstance;
  const clients: WaylandClient[] = [];

  beforeAll(async () => {
    compositor = await startEmbeddedCompositor({ socketName: 'gw-client-globals' });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await compositor?.stop();
  });

  function connect(attach: boolean): WaylandClient {
    const client = WaylandClient.connect(compositor.socketPath);
    if (attach) client.attachToLoop();
    clients.push(client);
    return client;
  }

  function describeProxy(p: WaylandProxy): string {
    return `${p.interface.name} v${p.version}`;
  }

  it('binds the wanted globals at the versions asked (after roundtripAsync)', async () => {
    const client = connect(true);
    const bound = await bindGlobals(client, protocols, {
      wl_compositor: 4,
      wl_shm: 1,
      xdg_wm_base: 2,
    });
    expect(Object.keys(bound)).toEqual(['wl_compositor', 'wl_shm', 'xdg_wm_base']);
    expect(Object.values(bound).map(describeProxy)).toEqual([
      'wl_compositor v4',
      'wl_shm v1',
      'xdg_wm_base v2',
    ]);
    // Bound for real: wl_shm announces its formats on bind, and the compositor takes
    // requests on the others without a protocol error.
    const formats: unknown[] = [];
    bound.wl_shm.on('format', ([format]) => formats.push(format));
    const surface = bound.wl_compositor.request('create_surface') as WaylandProxy;
    surface.request('commit');
    await client.roundtripAsync();
    expect(formats).toEqual(expect.arrayContaining([0, 1])); // argb8888, xrgb8888
  });

  it('binds the wanted globals after a blocking roundtrip', () => {
    const client = connect(false);
    const { wl_compositor: wlCompositor, wl_shm: shm } = bindGlobalsBlocking(client, protocols, {
      wl_compositor: 4,
      wl_shm: 1,
    });
    expect([wlCompositor, shm].map(describeProxy)).toEqual(['wl_compositor v4', 'wl_shm v1']);
    wlCompositor.request('create_surface');
    expect(() => client.roundtrip()).not.toThrow();
  });

  it('a global the compositor does not offer is an error naming it and the offered ones', async () => {
    const client = connect(true);
    const failure = bindGlobals(client, protocols, {
      wl_compositor: 4,
      zwp_linux_dmabuf_v1: 3,
    });
    await expect(failure).rejects.toBeInstanceOf(MissingGlobalError);
    const err = (await failure.catch((e: unknown) => e)) as MissingGlobalError;
    expect(err.code).toBe('ERR_WAYLAND_MISSING_GLOBAL');
    expect(err.interfaceName).toBe('zwp_linux_dmabuf_v1');
    expect(err.message).toMatch(/no zwp_linux_dmabuf_v1 \(offered: .*wl_compositor v5.*\)/);
    expect(err.message).toContain('wl_shm v2');
    // Nothing was bound: the connection is as healthy as before.
    await expect(client.roundtripAsync()).resolves.toBeUndefined();
  });

  it('a global offered below the version asked is the same error, with both versions', () => {
    const client = connect(false);
    let caught: unknown;
    try {
      bindGlobalsBlocking(client, protocols, { wl_shm: 3 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MissingGlobalError);
    expect((caught as MissingGlobalError).message).toMatch(/wl_shm only at v2, not v3/);
    // No bind above the compositor's version went out (that would be a protocol error).
    expect(() => client.roundtrip()).not.toThrow();
  });
});
