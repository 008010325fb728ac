// What a user sees behind the bridge on a real desktop compositor: `wayland-info` run
// through `grantway run` lists exactly the globals (name, interface, version) it lists
// when connected directly — none hidden for want of a protocol table, none clamped —
// in grant and in passthrough mode, on every desktop compositor that runs headless here:
// weston (its own desktop-shell, screenshooter), sway (wlroots' layer-shell, screencopy,
// data-control…, KDE's server-decoration and idle, input-method v2), mutter (GTK's
// gtk_shell1) and kwin (KDE's plasma shell, appmenu, virtual desktops, shadows…). CI
// installs all four; one that is not installed is reported as skipped.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandAvailable, runClient } from '../harness/real/process.js';
import { startWeston, westonAvailable } from '../harness/real/weston.js';
import { startCompositor } from '../harness/real/compositors.js';
import { parseGlobals } from './support/wayland-info.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'bridge', 'cli', 'main.js');

interface Running {
  readonly socketPath: string;
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

interface CompositorUnderTest {
  readonly name: string;
  readonly available: boolean;
  start(): Promise<Running>;
  /** Globals it must advertise (so the comparison cannot pass on an empty list). */
  readonly mustAdvertise: readonly string[];
}

const compositors: CompositorUnderTest[] = [
  {
    name: 'weston headless',
    available: westonAvailable(),
    start: () => startWeston({ socketName: 'gw-globals-weston' }),
    mustAdvertise: ['wl_compositor', 'xdg_wm_base', 'weston_desktop_shell', 'weston_screenshooter'],
  },
  {
    name: 'sway headless',
    available: commandAvailable('sway'),
    start: () => startDesktop('sway'),
    mustAdvertise: [
      'zwlr_layer_shell_v1',
      'zwlr_screencopy_manager_v1',
      'zwlr_data_control_manager_v1',
      'org_kde_kwin_server_decoration_manager',
      'zwp_input_method_manager_v2',
      'zwp_virtual_keyboard_manager_v1',
    ],
  },
  {
    name: 'mutter headless',
    available: commandAvailable('mutter') && commandAvailable('dbus-run-session'),
    start: () => startDesktop('mutter'),
    mustAdvertise: ['gtk_shell1', 'zwp_text_input_manager_v3', 'wp_single_pixel_buffer_manager_v1'],
  },
  {
    name: 'kwin virtual',
    available: commandAvailable('kwin_wayland') && commandAvailable('dbus-run-session'),
    start: () => startDesktop('kwin'),
    mustAdvertise: [
      'org_kde_plasma_shell',
      'org_kde_kwin_appmenu_manager',
      'org_kde_plasma_virtual_desktop_management',
      'org_kde_kwin_shadow_manager',
      'org_kde_kwin_server_decoration_palette_manager',
      'zwlr_layer_shell_v1',
      'zwlr_data_control_manager_v1',
      'kde_output_device_v2',
    ],
  },
];

async function startDesktop(kind: 'sway' | 'mutter' | 'kwin'): Promise<Running> {
  const c = await startCompositor(kind);
  return { socketPath: c.socketPath, env: c.clientEnv, stop: c.stop };
}

describe.each(compositors)('wayland-info on $name', (compositor) => {
  let running: Running;
  let bridgeDir: string;

  beforeAll(async () => {
    if (!compositor.available) return;
    running = await compositor.start();
    // The bridge's own socket lives in a private dir of ours, apart from the compositor's.
    bridgeDir = await mkdtemp(join(tmpdir(), 'grantway-globals-'));
  }, 60_000);

  afterAll(async () => {
    await running?.stop();
    if (bridgeDir !== undefined) await rm(bridgeDir, { recursive: true, force: true });
  });

  it
    .skipIf(!compositor.available || !commandAvailable('wayland-info'))
    .each(['grant', 'passthrough'])(
    'lists the same globals and versions through the bridge as direct (%s mode)',
    async (mode) => {
      const direct = await runClient('wayland-info', [], running.env, 15_000);
      expect(direct.exitCode, direct.stderr).toBe(0);
      const directGlobals = parseGlobals(direct.stdout);
      expect(directGlobals.map((g) => g.interface)).toEqual(
        expect.arrayContaining([...compositor.mustAdvertise]),
      );

      const via = await runClient(
        process.execPath,
        [
          CLI,
          'run',
          '--mode',
          mode,
          '--log-level',
          'info',
          '--upstream',
          running.socketPath,
          '--',
          'wayland-info',
        ],
        { XDG_RUNTIME_DIR: bridgeDir },
        30_000,
      );
      expect(via.exitCode, via.stderr).toBe(0);
      expect(parseGlobals(via.stdout)).toEqual(directGlobals);
      expect(via.stderr).not.toContain('hidden from the client');
    },
    60_000,
  );
});
