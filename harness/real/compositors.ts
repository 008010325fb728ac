// Real desktop compositors, headless, for the compatibility suite and for tests that must
// see what a user's own compositor does: weston, sway, cage, mutter and kwin, each in a
// private runtime dir, started and stopped the same way (server-process.ts), with what a
// client needs to reach it (socket, environment, the user to run as) and, where the
// compositor offers one, a way to take a screenshot. A compositor that cannot start here
// raises CompositorStartError with its own output, so a caller can report why.

import { copyFile, chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { close as closeFd, connectUnix, peerCredentials } from '../../ffi/libc.js';
import { waitForServer } from './children.js';
import { commandAvailable, runClient } from './process.js';
import { type RunAs, spawnServer } from './server-process.js';
import { WestonStartError, startWeston } from './weston.js';

export const compositorKinds = ['weston', 'sway', 'cage', 'mutter', 'kwin'] as const;
export type CompositorKind = (typeof compositorKinds)[number];

/** wlroots compositors refuse root (sway) or are meant for a user session: run as nobody. */
export const NOBODY: RunAs = { uid: 65534, gid: 65534 };

export interface CompositorOptions {
  readonly width?: number;
  readonly height?: number;
  /** sway only: let sway start Xwayland itself (`xwayland enable`). */
  readonly xwayland?: boolean;
  /**
   * sway only: the headless output's refresh rate (default 60 Hz). A high rate lets a
   * client that draws on every frame callback run as fast as its path allows.
   */
  readonly refreshHz?: number;
  /** How long to wait for its socket (default 30 s: mutter and kwin are slow to start). */
  readonly startTimeoutMs?: number;
}

export interface RealCompositor {
  readonly kind: CompositorKind;
  readonly runtimeDir: string;
  readonly socketName: string;
  readonly socketPath: string;
  /** The compositor process itself (SO_PEERCRED), not a wrapper such as dbus-run-session. */
  readonly pid: number;
  /** Clients must run as this user (the compositor's), or undefined: as we are. */
  readonly user: RunAs | undefined;
  /** What a client process needs to reach this compositor (HOME is a private dir). */
  readonly clientEnv: Readonly<Record<string, string>>;
  /** How screenshots are taken, or why they cannot be. */
  readonly screenshots: { readonly tool: string } | { readonly unavailable: string };
  /** Writes the whole output as PNG to `file`; rejects where screenshots are unavailable. */
  readonly screenshot: (file: string) => Promise<void>;
  readonly output: () => string;
  readonly alive: () => boolean;
  readonly stop: () => Promise<void>;
}

/** The compositor did not come up: not installed, exited early, or never listened. */
export class CompositorStartError extends Error {
  readonly code = 'ERR_COMPOSITOR_START';
  override readonly name = 'CompositorStartError';

  constructor(
    readonly kind: CompositorKind,
    readonly reason: string,
    /** Its output up to the failure. */
    readonly output: string,
  ) {
    super(`${kind} did not start: ${reason}`);
  }
}

/** The program a compositor kind is started with (what must be on PATH). */
export function compositorCommand(kind: CompositorKind): string {
  return kind === 'kwin' ? 'kwin_wayland' : kind;
}

const runsAsNobody = (kind: CompositorKind): boolean =>
  (kind === 'sway' || kind === 'cage') && process.getuid?.() === 0;

/** No Wayland or X server of ours may leak in; HOME and caches stay private. */
function baseEnv(runtimeDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  for (const name of ['WAYLAND_DISPLAY', 'WAYLAND_SOCKET', 'DISPLAY', 'NODE_OPTIONS', 'SWAYSOCK'])
    delete env[name];
  env.HOME = join(runtimeDir, 'home');
  return env;
}

async function privateRuntimeDir(kind: CompositorKind, user: RunAs | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `grantway-${kind}-`));
  await chmod(dir, 0o700);
  await mkdir(join(dir, 'home'), { mode: 0o700 });
  if (user !== undefined) {
    await chown(dir, user.uid, user.gid);
    await chown(join(dir, 'home'), user.uid, user.gid);
  }
  return dir;
}

/** A listening `wayland-N` socket the compositor created (sway and cage pick the name). */
function findWaylandSocket(dir: string): string | undefined {
  const names = readdirSync(dir).filter((n) => /^wayland-[0-9]+$/.test(n));
  const ready = names.find((n) => existsSync(join(dir, `${n}.lock`)));
  return ready === undefined ? undefined : join(dir, ready);
}

function compositorPid(socketPath: string, fallback: number): number {
  try {
    const fd = connectUnix(socketPath);
    try {
      return peerCredentials(fd).pid;
    } finally {
      closeFd(fd);
    }
  } catch {
    return fallback;
  }
}

const WESTON_INI = `[core]
idle-time=0
[shell]
panel-position=none
background-color=0xff204060
locking=false
`;

function swayConfig(
  width: number,
  height: number,
  xwayland: boolean,
  refreshHz: number | undefined,
): string {
  const mode =
    refreshHz === undefined
      ? `resolution ${width}x${height}`
      : `mode --custom ${width}x${height}@${refreshHz}Hz`;
  return [
    `output HEADLESS-1 ${mode}`,
    `xwayland ${xwayland ? 'enable' : 'disable'}`,
    'default_border normal',
    'focus_follows_mouse no',
    '',
  ].join('\n');
}

/**
 * Starts `kind` headless in a fresh private runtime dir and resolves once it accepts
 * connections. Rejects with CompositorStartError (its output attached) otherwise;
 * nothing is left running or on disk then.
 */
export async function startCompositor(
  kind: CompositorKind,
  options: CompositorOptions = {},
): Promise<RealCompositor> {
  const width = options.width ?? 1024;
  const height = options.height ?? 768;
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  if (!commandAvailable(compositorCommand(kind)))
    throw new CompositorStartError(kind, `${compositorCommand(kind)} is not installed`, '');
  if (kind === 'weston') return startWestonCompositor(width, height, timeoutMs);

  const user = runsAsNobody(kind) ? NOBODY : undefined;
  const runtimeDir = await privateRuntimeDir(kind, user);
  const env = baseEnv(runtimeDir);
  let command: string;
  let args: string[];
  let socketName: string | undefined;
  let terminateGroup = false;
  switch (kind) {
    case 'sway':
    case 'cage': {
      Object.assign(env, {
        WLR_BACKENDS: 'headless',
        WLR_RENDERER: 'pixman',
        WLR_LIBINPUT_NO_DEVICES: '1',
        WLR_HEADLESS_OUTPUTS: '1',
      });
      if (kind === 'sway') {
        const config = join(runtimeDir, 'sway.config');
        await writeFile(
          config,
          swayConfig(width, height, options.xwayland === true, options.refreshHz),
        );
        command = 'sway';
        args = ['-c', config];
      } else {
        // cage runs one application and exits with it: a placeholder that never draws.
        command = 'cage';
        args = ['--', 'sleep', '100000'];
      }
      break;
    }
    case 'mutter':
      socketName = 'grantway-mutter';
      terminateGroup = true;
      command = 'dbus-run-session';
      args = [
        '--',
        'mutter',
        '--headless',
        '--wayland',
        '--no-x11',
        `--virtual-monitor=${width}x${height}`,
        `--wayland-display=${socketName}`,
      ];
      break;
    case 'kwin': {
      socketName = 'grantway-kwin';
      terminateGroup = true;
      // kwin_wayland carries file capabilities (cap_sys_resource) that a container may
      // refuse to grant ("Operation not permitted" at exec); a copy carries none.
      const bin = join(runtimeDir, 'bin');
      await mkdir(bin);
      await copyFile('/usr/bin/kwin_wayland', join(bin, 'kwin_wayland'));
      await chmod(join(bin, 'kwin_wayland'), 0o755);
      env.PATH = `${bin}:${env.PATH ?? ''}`;
      env.KWIN_COMPOSE = 'Q'; // QPainter: software compositing, no GL needed
      command = 'dbus-run-session';
      args = [
        '--',
        'kwin_wayland',
        '--virtual',
        '--no-lockscreen',
        '--no-global-shortcuts',
        '--socket',
        socketName,
        '--width',
        String(width),
        '--height',
        String(height),
      ];
      break;
    }
  }
  const server = spawnServer({ command, args, env, runtimeDir, user, terminateGroup });
  const fixedPath = socketName === undefined ? undefined : join(runtimeDir, socketName);
  let found: string | undefined;
  const failure = await waitForServer({
    socketPath: () => (found = fixedPath ?? findWaylandSocket(runtimeDir)),
    timeoutMs,
    spawnError: server.spawnError,
    exitStatus: server.exitStatus,
  });
  if (failure !== undefined || found === undefined) {
    const output = server.output();
    await server.stop(1000);
    throw new CompositorStartError(kind, failure ?? 'no socket', output);
  }
  const socketPath = found;
  const name = socketPath.slice(runtimeDir.length + 1);
  const clientEnv = { XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: name, HOME: env.HOME! };
  const screenshots =
    kind === 'sway' || kind === 'cage'
      ? commandAvailable('grim')
        ? { tool: 'grim' }
        : { unavailable: 'grim is not installed' }
      : kind === 'mutter'
        ? { unavailable: 'mutter alone offers no screenshot interface (gnome-shell does)' }
        : {
            unavailable: "kwin's ScreenShot2 D-Bus interface serves only authorised desktop files",
          };
  return {
    kind,
    runtimeDir,
    socketName: name,
    socketPath,
    pid: compositorPid(socketPath, server.pid ?? 0),
    user,
    clientEnv,
    screenshots,
    async screenshot(file: string): Promise<void> {
      if ('unavailable' in screenshots)
        throw new Error(`no screenshot: ${screenshots.unavailable}`);
      const result = await runAs(user, 'grim', [file], clientEnv, 15_000);
      if (result.exitCode !== 0) throw new Error(`grim failed: ${result.stderr.trim()}`);
    },
    output: server.output,
    alive: () => server.exitStatus() === null,
    stop: () => server.stop(3000),
  };
}

async function startWestonCompositor(
  width: number,
  height: number,
  timeoutMs: number,
): Promise<RealCompositor> {
  let weston;
  try {
    // --debug for weston_screenshooter, the pixman renderer so there are pixels to shoot;
    // no panel (its clock would differ between runs), a flat background.
    weston = await startWeston({
      width,
      height,
      config: WESTON_INI,
      extraArgs: ['--debug', '--use-pixman'],
      startTimeoutMs: timeoutMs,
    });
  } catch (error) {
    if (error instanceof WestonStartError)
      throw new CompositorStartError('weston', error.message.split('\n')[0]!, error.output);
    throw error;
  }
  const home = join(weston.runtimeDir, 'home');
  await mkdir(home, { recursive: true, mode: 0o700 });
  const clientEnv = { ...weston.env, HOME: home };
  const instance = weston;
  const available = commandAvailable('weston-screenshooter');
  return {
    kind: 'weston',
    runtimeDir: weston.runtimeDir,
    socketName: weston.socketName,
    socketPath: weston.socketPath,
    pid: weston.pid,
    user: undefined,
    clientEnv,
    screenshots: available
      ? { tool: 'weston-screenshooter' }
      : { unavailable: 'weston-screenshooter is not installed' },
    async screenshot(file: string): Promise<void> {
      // weston-screenshooter writes wayland-screenshot-<time>.png into its cwd.
      const dir = await mkdtemp(join(instance.runtimeDir, 'shot-'));
      try {
        const result = await runClient('weston-screenshooter', [], clientEnv, 15_000, dir);
        const png = (await readdir(dir)).find((n) => n.endsWith('.png'));
        if (result.exitCode !== 0 || png === undefined)
          throw new Error(`weston-screenshooter failed: ${result.stderr.trim() || 'no file'}`);
        await copyFile(join(dir, png), file);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    output: () => instance.output(),
    alive: () => {
      try {
        process.kill(instance.pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    stop: () => instance.stop(),
  };
}

/** Runs a helper program (screenshot tool, IPC client) as the compositor's user. */
export function runAs(
  user: RunAs | undefined,
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
): ReturnType<typeof runClient> {
  return runClient(command, args, env, timeoutMs, undefined, user);
}
