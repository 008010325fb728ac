// How a session ends, against real compositors (the embedded one and weston headless),
// directly and through the bridge in both modes: nothing the compositor sent before it
// closed is lost on the way. A compositor that posts wl_display.error closes at once
// while the client may still be sending; the bridge's next write upstream then fails
// (EPIPE), and the error already in the socket must still reach the client. A client
// that half-closes (shutdown(SHUT_WR)) after a request still gets the reply, as it does
// from libwayland-server directly.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPOSITORS, type RunningCompositor, startCompositor } from './support/compositors.js';
import { startTestBridge, type TestBridge } from './support/test-bridge.js';
import { encodeAll, RawClient } from './support/raw-client.js';
import { request } from './support/raw-peer.js';

const createSurface = request('wl_compositor', 'create_surface');
const setBufferScale = request('wl_surface', 'set_buffer_scale');
const damage = request('wl_surface', 'damage');
const sync = request('wl_display', 'sync');

/** Set GW_HOSTILE_REPORT=1 to print what each case measured. */
const report = (line: string): void => {
  if (process.env.GW_HOSTILE_REPORT) console.log(`[endings] ${line}`);
};

const CLIENTS = 30;
const WL_SURFACE_INVALID_SCALE = 0;

const PATHS = ['direct', 'grant', 'passthrough'] as const;

/**
 * A client that makes the compositor post wl_surface.invalid_scale, then goes on
 * sending damage requests (4 KiB at a time) as a busy client would, until it is
 * disconnected. Resolves with the error it got, if any.
 */
async function provokeError(path: string): Promise<{ objectId: number; code: number } | undefined> {
  const c = await RawClient.open(path);
  try {
    const surface = c.newId();
    c.send(c.compositor, createSurface, [surface]);
    c.send(surface, setBufferScale, [0]);
    const chunk = encodeAll(Array.from({ length: 256 }, () => [surface, damage, [0, 0, 1, 1]]));
    for (let i = 0; i < 64 && !c.peer.eof; i++) {
      const gone = await c.peer.sendBytesPatiently(chunk, 5000).then(
        () => false,
        () => true, // EPIPE: the other end has closed
      );
      if (gone) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await c.disconnected();
    const error = c.error();
    return error === undefined || error.objectId !== surface ? error : { ...error, objectId: 0 };
  } finally {
    c.peer.close();
  }
}

describe.each(COMPOSITORS)('session endings on the $kind compositor', ({ kind }) => {
  let compositor: RunningCompositor;

  beforeAll(async () => {
    compositor = await startCompositor(kind, `gw-endings-${kind}`);
  });
  afterAll(async () => {
    await compositor?.stop();
  });

  /** The path a client connects to: the compositor, or a fresh bridge in front of it. */
  function open(path: (typeof PATHS)[number]): { socket: string; bridge?: TestBridge } {
    if (path === 'direct') return { socket: compositor.socketPath };
    const bridge = startTestBridge({
      listenPath: join(compositor.runtimeDir, `gw-endings-${path}`),
      upstreamPath: compositor.socketPath,
      mode: path,
    });
    return { socket: bridge.listenPath, bridge };
  }

  it.each(PATHS)(
    `${CLIENTS} clients that go on sending after a protocol error all get it (%s)`,
    async (path) => {
      const { socket, bridge } = open(path);
      try {
        const errors = await Promise.all(
          Array.from({ length: CLIENTS }, () => provokeError(socket)),
        );
        const seen = errors.filter((e) => e?.objectId === 0 && e.code === WL_SURFACE_INVALID_SCALE);
        report(`${kind}/${path}: ${seen.length}/${CLIENTS} clients saw wl_surface.invalid_scale`);
        expect(seen.length).toBe(CLIENTS);
        if (bridge !== undefined) {
          await bridge.bridge.whenIdle();
          expect(bridge.bridge.sessionCount).toBe(0);
        }
      } finally {
        bridge?.close();
      }
    },
    60_000,
  );

  it.each(PATHS)('a client that half-closes after a sync still gets done (%s)', async (path) => {
    const { socket, bridge } = open(path);
    try {
      const c = await RawClient.open(socket);
      const callback = c.newId();
      c.send(1, sync, [callback]);
      c.peer.shutdownWrite();
      // The compositor answers what it read, then closes at EOF: done first, then EOF.
      await c.disconnected();
      expect(c.peer.received.some((m) => m.objectId === callback)).toBe(true);
      expect(c.error()).toBeUndefined();
      c.peer.close();
      if (bridge !== undefined) await bridge.bridge.whenIdle();
    } finally {
      bridge?.close();
    }
  });
});
