// The bridge in front of a compositor with real clients: what a user sees must be what
// they would see without it, minus only the globals the bridge has no protocol for. One
// suite, run against each compositor the project supports (describe.each): weston's
// headless backend and the embedded compositor (harness/compositor), each in its own
// process. The bridge runs in this process; the clients are real programs
// (wayland-info, weston-simple-shm, weston-terminal) or the libwayland-client binding.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { commandAvailable, runClient } from '../harness/real/process.js';
import { startWeston, westonAvailable } from '../harness/real/weston.js';
import { silentLogger } from '../bridge/log.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { Bridge } from '../bridge/relay/bridge.js';
import { type TestBridge, startTestBridge } from './support/test-bridge.js';
import { parseGlobals } from './support/wayland-info.js';
import { WaylandClient } from '../harness/client/wayland-client.js';

const registry = new ProtocolRegistry();

/** What the suite needs of a running compositor (startWeston and the embedded harness agree). */
interface RunningCompositor {
  readonly pid: number;
  readonly runtimeDir: string;
  readonly socketPath: string;
  readonly env: { readonly XDG_RUNTIME_DIR: string; readonly WAYLAND_DISPLAY: string };
  stop(): Promise<void>;
}

interface CompositorUnderTest {
  readonly name: string;
  readonly available: boolean;
  start(): Promise<RunningCompositor>;
  /** Globals it announces that no loaded protocol describes: the bridge must hide them. */
  readonly hiddenGlobals: readonly string[];
  /** One of them and its version, as the trace must show it dropped (none: nothing hidden). */
  readonly tracedHidden: { readonly interface: string; readonly version: number } | undefined;
  /** Fewest globals wayland-info must list when connected directly. */
  readonly minGlobals: number;
}

const compositors: CompositorUnderTest[] = [
  {
    name: 'weston headless',
    available: westonAvailable(),
    start: () => startWeston({ socketName: 'gw-it-weston' }),
    // weston's private protocols (weston_desktop_shell, weston_screenshooter) are built
    // in (protocols/weston/), so nothing is hidden.
    hiddenGlobals: [],
    tracedHidden: undefined,
    minGlobals: 11,
  },
  {
    name: 'the embedded compositor',
    available: true,
    // A private global like weston's, so the bridge's filter is exercised here too.
    start: () =>
      startEmbeddedCompositor({
        socketName: 'gw-it-embedded',
        privateGlobals: ['grantway_private_test_v1'],
      }),
    hiddenGlobals: ['grantway_private_test_v1'],
    tracedHidden: { interface: 'grantway_private_test_v1', version: 1 },
    // wl_compositor, wl_subcompositor, wl_shm, wl_output, wl_seat, xdg_wm_base + private
    minGlobals: 7,
  },
];

/** A bridge in front of the compositor whose trace lines are kept for the test to read. */
/** A grant-mode bridge (the CLI's default) in front of `weston`, its trace kept. */
function startBridge(
  weston: RunningCompositor,
  name: string,
): { bridge: TestBridge; trace: string[] } {
  const trace: string[] = [];
  const bridge = startTestBridge({
    listenPath: join(weston.runtimeDir, name),
    upstreamPath: weston.socketPath,
    trace: (line) => trace.push(line),
  });
  return { bridge, trace };
}

describe.each(compositors)('bridge in front of $name', (compositor) => {
  // `weston` names whichever compositor runs: the tests read as they did for weston.
  let weston: RunningCompositor;

  beforeAll(async () => {
    if (compositor.available) weston = await compositor.start();
  });

  afterAll(async () => {
    await weston?.stop();
  });

  it.skipIf(!compositor.available || !commandAvailable('wayland-info'))(
    'wayland-info sees the same globals, minus those with no loaded protocol',
    async () => {
      const direct = await runClient('wayland-info', [], weston.env, 10_000);
      expect(direct.exitCode).toBe(0);
      const { bridge } = startBridge(weston, 'gw-info');
      try {
        const via = await runClient(
          'wayland-info',
          [],
          { ...weston.env, WAYLAND_DISPLAY: bridge.listenPath },
          10_000,
        );
        expect(via.exitCode).toBe(0);
        const directGlobals = parseGlobals(direct.stdout);
        const bridgedGlobals = parseGlobals(via.stdout);
        expect(directGlobals.length).toBeGreaterThanOrEqual(compositor.minGlobals);
        const hidden = directGlobals
          .filter((g) => !registry.has(g.interface))
          .map((g) => g.interface);
        expect(hidden.sort()).toEqual([...compositor.hiddenGlobals].sort());
        expect(bridgedGlobals).toEqual(
          directGlobals
            .filter((g) => registry.has(g.interface))
            .map((g) => ({
              ...g,
              version: Math.min(g.version, registry.get(g.interface)!.version),
            })),
        );
      } finally {
        bridge.close();
      }
    },
  );

  it.skipIf(!compositor.available || !commandAvailable('weston-simple-shm'))(
    'weston-simple-shm runs 5 s through the bridge without a protocol error',
    async () => {
      const { bridge, trace } = startBridge(weston, 'gw-shm');
      try {
        const result = await runClient(
          'weston-simple-shm',
          [],
          { ...weston.env, WAYLAND_DISPLAY: bridge.listenPath },
          5_000,
        );
        expect(result.timedOut).toBe(true); // it draws until killed
        expect(result.stderr).not.toMatch(/error/i);
        const commits = trace.filter((l) => /-> wl_surface#\d+\.commit\(\)/.test(l)).length;
        const frames = trace.filter((l) => /<- wl_callback#\d+\.done\(/.test(l)).length;
        const errors = trace.filter((l) => /wl_display#1\.error\(/.test(l));
        expect(errors).toEqual([]);
        expect(commits).toBeGreaterThan(100); // ~60 per second when frame callbacks flow
        expect(frames).toBeGreaterThan(100);
        await bridge.bridge.whenIdle();
        // Grant mode: its pools were re-backed, every commit copied, and once it was
        // killed the compositor unmapped them and the extents came back.
        await bridge.assembled.settle(3000);
        const stats = bridge.lifecycle.backing!.stats;
        expect(stats.extentsAllocated).toBeGreaterThan(0);
        expect(stats.commits).toBeGreaterThan(100);
        expect(bridge.assembled.figures().reclaimed).toBe(stats.extentsAllocated);
      } finally {
        bridge.close();
      }
    },
  );

  it.skipIf(!compositor.available || !commandAvailable('weston-terminal'))(
    'weston-terminal starts and maps a window through the bridge',
    async () => {
      const { bridge, trace } = startBridge(weston, 'gw-term');
      try {
        const result = await runClient(
          'weston-terminal',
          ['--shell=/bin/true'],
          { ...weston.env, WAYLAND_DISPLAY: bridge.listenPath },
          4_000,
        );
        expect(result.stderr).not.toMatch(/protocol error/i);
        // Mapped: the toplevel's surface was configured, acked, and then committed
        // with a buffer attached.
        const toplevel = trace.findIndex((l) =>
          /\.get_toplevel\(new id xdg_toplevel#\d+\)/.test(l),
        );
        expect(toplevel).toBeGreaterThanOrEqual(0);
        const ack = trace.findIndex(
          (l, i) => i > toplevel && /xdg_surface#\d+\.ack_configure\(/.test(l),
        );
        expect(ack).toBeGreaterThan(toplevel);
        const attach = trace.findIndex(
          (l, i) => i > ack && /-> wl_surface#\d+\.attach\(wl_buffer#\d+/.test(l),
        );
        expect(attach).toBeGreaterThan(ack);
        expect(trace.slice(attach).some((l) => /-> wl_surface#\d+\.commit\(\)/.test(l))).toBe(true);
        expect(trace.filter((l) => /wl_display#1\.error\(/.test(l))).toEqual([]);
      } finally {
        bridge.close();
      }
    },
  );

  it.skipIf(!compositor.available || !commandAvailable('wayland-info'))(
    '`grantway run --trace` prints every message of a real client, WAYLAND_DEBUG style',
    async () => {
      const cli = join(import.meta.dirname, '..', 'dist', 'bridge', 'cli', 'main.js');
      const result = await runClient(
        process.execPath,
        [
          cli,
          'run',
          '--trace',
          '--log-level',
          'info',
          '--upstream',
          weston.socketPath,
          '--',
          'wayland-info',
        ],
        weston.env,
        15_000,
      );
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/interface: 'wl_compositor'/);
      expect(result.stderr).toMatch(
        /\] \[1\] -> wl_display#1\.get_registry\(new id wl_registry#2\)/,
      );
      expect(result.stderr).toMatch(/\[1\] <- wl_registry#2\.global\(\d+, "wl_compositor", \d+\)/);
      if (compositor.tracedHidden === undefined) return;
      // Hidden globals are traced as what they are: seen from the compositor, not forwarded;
      // and the log says so once, at info, with the way out.
      const { interface: hiddenName, version: hiddenVersion } = compositor.tracedHidden;
      expect(result.stderr).toContain(
        `"${hiddenName}", ${hiddenVersion}) [not forwarded: no protocol loaded]`,
      );
      const said = result.stderr
        .split('\n')
        .filter((line) => line.includes(`global ${hiddenName} hidden from the client`));
      expect(said).toHaveLength(1);
      expect(said[0]).toContain('--protocol-dir');
    },
  );

  it.skipIf(!compositor.available)(
    'a scripted libwayland-client client does 1000 roundtrips through the bridge',
    async () => {
      const bridge = Bridge.start({
        listenPath: join(weston.runtimeDir, 'gw-script'),
        upstreamPath: weston.socketPath,
        registry,
        log: silentLogger,
      });
      const client = WaylandClient.connect(bridge.listenPath);
      try {
        // The bridge shares this event loop, so the client must not block it.
        client.attachToLoop();
        for (let i = 0; i < 1000; i++) await client.roundtripAsync();
        expect(bridge.sessionCount).toBe(1);
      } finally {
        client.close();
        bridge.close();
      }
    },
  );
});
