// The embedded compositor in a child process, for tests and benchmarks, shaped like
// harness/real/weston.ts's startWeston so a suite can run against either: a private
// 0700 XDG_RUNTIME_DIR, the socket path and env a client needs, the pid (whose
// /proc/PID/maps is the E3 oracle's ground truth), and stop() that leaves no process,
// socket or directory behind. On top, a control channel: state, PNGs, knobs at run
// time, external pool references, and crash on command.
//
// The child runs `grantway compositor` itself: the built CLI when this module runs from
// dist/, the TypeScript source through tsx when it runs from source (vitest).
//
//   const c = await startEmbeddedCompositor({ knobs: { releaseDelayMs: 200 } });
//   await runClient('weston-simple-shm', [], c.env, 2000);   // or WaylandClient.connect(c.socketPath)
//   const { surfaces, pools } = await c.control.state();     // what it shows, what it maps
//   const { png } = await c.control.surfacePng(surfaces[0].serial);
//   await c.control.setKnobs({ keepPoolsMappedMs: 'until-disconnect' });
//   await c.stop();

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { killGroup, sleep, trackChild, untrackChild, waitForServer } from './real/children.js';
import type { LogLevel } from '../bridge/log.js';
import { ControlClient } from './compositor/control.js';
import { CompositorStartError } from './compositor/errors.js';
import type { KnobsPatch } from './compositor/knobs.js';

export interface EmbeddedCompositorOptions {
  /** Socket name inside the private runtime dir (default `grantway-embedded`). */
  readonly socketName?: string;
  readonly width?: number;
  readonly height?: number;
  readonly refreshHz?: number;
  /** Knobs from the start (they can also be changed later through `control`). */
  readonly knobs?: KnobsPatch;
  /** Windows are written here as PNG when their surface goes (see CompositorOptions). */
  readonly pngDir?: string;
  /** Globals of interfaces the compositor does not implement (see CompositorOptions). */
  readonly privateGlobals?: readonly string[];
  /** The child's log level on its stderr (default warn). */
  readonly logLevel?: LogLevel;
  /** How long to wait for the socket and the control channel (default 10 s). */
  readonly startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace period in stop() (default 3 s). */
  readonly stopGraceMs?: number;
  /**
   * Who makes the listening socket. 'own' (default): the compositor binds it. The others
   * pass it to the compositor the systemd way (LISTEN_FDS), so that every client's
   * SO_PEERCRED names another process, one that maps nothing: 'wrapper' — a supervisor
   * (listen-wrapper.ts) binds and listens and runs the compositor as its child, as
   * kwin_wayland_wrapper does; 'socket-activate' — systemd-socket-activate, which execs
   * into the compositor on the first connection (same pid: SO_PEERCRED is right);
   * 'socket-activate+wrapper' — systemd-socket-activate execs into the wrapper, which
   * runs the compositor as its child.
   */
  readonly listener?: CompositorListener;
}

export type CompositorListener = 'own' | 'wrapper' | 'socket-activate' | 'socket-activate+wrapper';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface EmbeddedCompositorInstance {
  /** The private 0700 XDG_RUNTIME_DIR; removed by stop(). */
  readonly runtimeDir: string;
  readonly socketName: string;
  /** Absolute socket path: `WaylandClient.connect(socketPath)` needs no environment. */
  readonly socketPath: string;
  /** What a client process needs to find this compositor. */
  readonly env: { readonly XDG_RUNTIME_DIR: string; readonly WAYLAND_DISPLAY: string };
  /**
   * The process started: the compositor, or with another `listener` the wrapper or
   * socket activator in front of it (the compositor's own pid: control.state().pid).
   */
  readonly pid: number;
  /** The control channel's socket (JSON lines, see control.ts). */
  readonly controlPath: string;
  readonly control: ControlClient;
  /** Resolves when the process has exited (on stop(), a crash, or by itself). */
  readonly exited: Promise<ExitStatus>;
  /** The child's stderr so far (its logs), newest last. */
  output(): string;
  /** SIGTERM, then SIGKILL after the grace period; removes the runtime dir. Idempotent. */
  stop(): Promise<void>;
}

const MAX_OUTPUT = 256 * 1024;

/** node + arguments that run `script` (a path from the repository root, no extension). */
function nodeCommand(script: string): string[] {
  const here = fileURLToPath(import.meta.url);
  const root = join(dirname(here), '..');
  if (here.endsWith('.ts')) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return [process.execPath, '--import', pathToFileURL(tsx).href, join(root, `${script}.ts`)];
  }
  return [process.execPath, join(root, `${script}.js`)];
}

/** The whole command line: the compositor, behind whatever makes its socket. */
function launchCommand(
  options: EmbeddedCompositorOptions,
  socketPath: string,
  controlPath: string,
  runtimeDir: string,
): string[] {
  const listener = options.listener ?? 'own';
  const compositor = [
    ...nodeCommand('bridge/cli/main'),
    ...compositorArgs(options, listener === 'own' ? socketPath : undefined, controlPath),
  ];
  const wrapper = nodeCommand('harness/real/listen-wrapper');
  // systemd-socket-activate passes on only a few variables (PATH, HOME…) and -E ones.
  const activate = [
    'systemd-socket-activate',
    '-l',
    socketPath,
    '-E',
    `XDG_RUNTIME_DIR=${runtimeDir}`,
    '--',
  ];
  switch (listener) {
    case 'own':
      return compositor;
    case 'wrapper':
      return [...wrapper, '--listen', socketPath, '--', ...compositor];
    case 'socket-activate':
      return [...activate, ...compositor];
    case 'socket-activate+wrapper':
      return [...activate, ...wrapper, '--', ...compositor];
  }
}

function compositorArgs(
  options: EmbeddedCompositorOptions,
  socketPath: string | undefined,
  controlPath: string,
): string[] {
  const args = ['compositor', '--control', controlPath];
  if (socketPath !== undefined) args.push('--socket', socketPath);
  const add = (flag: string, value: number | string | undefined): void => {
    if (value !== undefined) args.push(`--${flag}`, String(value));
  };
  add('width', options.width);
  add('height', options.height);
  add('refresh-hz', options.refreshHz);
  add('release-delay-ms', options.knobs?.releaseDelayMs);
  add('hold-buffers', options.knobs?.holdBuffers);
  add('keep-pools-mapped-ms', options.knobs?.keepPoolsMappedMs);
  add('png-dir', options.pngDir);
  add('log-level', options.logLevel ?? 'warn');
  for (const name of options.privateGlobals ?? []) add('private-global', name);
  return args;
}

/**
 * Starts the embedded compositor in a child process and resolves once its socket (with
 * NAME.lock) accepts connections and its control channel answers. Rejects with
 * CompositorStartError (with the child's output) otherwise; nothing is left behind.
 */
export async function startEmbeddedCompositor(
  options: EmbeddedCompositorOptions = {},
): Promise<EmbeddedCompositorInstance> {
  const socketName = options.socketName ?? 'grantway-embedded';
  const runtimeDir = await mkdtemp(join(tmpdir(), 'grantway-embedded-'));
  await chmod(runtimeDir, 0o700);
  const socketPath = join(runtimeDir, socketName);
  const controlPath = join(runtimeDir, `${socketName}.control`);
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  delete env.WAYLAND_DISPLAY;
  delete env.WAYLAND_SOCKET;
  delete env.NODE_OPTIONS; // vitest's own loader hooks must not reach the child

  let child: ChildProcess;
  try {
    const [file, ...args] = launchCommand(options, socketPath, controlPath, runtimeDir);
    child = spawn(file!, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (error) {
    await rm(runtimeDir, { recursive: true, force: true });
    throw error;
  }
  let output = '';
  const append = (chunk: string): void => {
    output += chunk;
    if (output.length > MAX_OUTPUT) output = output.slice(output.length - MAX_OUTPUT);
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);

  let exitStatus: ExitStatus | null = null;
  let spawnError: Error | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
    child.once('error', (error) => {
      spawnError = error;
      exitStatus = { code: null, signal: null };
      resolve(exitStatus);
    });
  });

  const pid = child.pid;
  if (pid !== undefined) {
    trackChild(pid, runtimeDir);
  }

  let control: ControlClient | null = null;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      control?.close();
      const grace = options.stopGraceMs ?? 3000;
      if (pid !== undefined && exitStatus === null) {
        child.kill('SIGTERM');
        const late = await Promise.race([exited.then(() => false), sleep(grace).then(() => true)]);
        if (late) killGroup(pid, 'SIGKILL');
        await exited;
      }
      if (pid !== undefined) killGroup(pid, 'SIGKILL'); // anything it left in its group
      child.stdout?.destroy();
      child.stderr?.destroy();
      await rm(runtimeDir, { recursive: true, force: true });
      if (pid !== undefined) untrackChild(pid);
    })();
    return stopped;
  };

  const failure = await waitForServer({
    socketPath,
    lockFile: !(options.listener ?? 'own').startsWith('socket-activate'),
    timeoutMs: options.startTimeoutMs ?? 10_000,
    spawnError: () => spawnError,
    exitStatus: () => exitStatus,
    // Up only once its control channel answers too.
    ready: async () => {
      if (!existsSync(controlPath)) return false;
      try {
        control = await ControlClient.connect(controlPath);
        return true;
      } catch {
        return false; // not listening yet
      }
    },
  });
  if (failure !== undefined) {
    await stop();
    throw new CompositorStartError(failure, output, runtimeDir);
  }
  // waitForServer reports the compositor up only after ready() connected the control.
  const connected = control as ControlClient | null;
  if (connected === null) throw new Error('control channel missing after start');

  return {
    runtimeDir,
    socketName,
    socketPath,
    env: { XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: socketName },
    pid: pid as number,
    controlPath,
    control: connected,
    exited,
    output: () => output,
    stop,
  };
}
