// A real compositor for tests and benchmarks: weston's headless backend in a private
// XDG_RUNTIME_DIR, started per suite and always stopped, so tests judge our code against
// what a real libwayland-server compositor does, never leave a compositor running, and
// never touch the user's own runtime directory or sockets.

import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForServer } from './children.js';
import { commandAvailable } from './process.js';
import { spawnServer } from './server-process.js';

export interface WestonOptions {
  /** Socket name inside the private runtime dir (default `grantway-weston`). */
  readonly socketName?: string;
  readonly width?: number;
  readonly height?: number;
  /** More weston arguments, e.g. `--shell=kiosk-shell.so`. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the socket to accept connections (default 10 s). */
  readonly startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace period in stop() (default 3 s). */
  readonly stopGraceMs?: number;
  /** weston.ini text, written into the runtime dir and passed with `--config`. */
  readonly config?: string;
}

export interface WestonInstance {
  /** The private 0700 XDG_RUNTIME_DIR; removed by stop(). */
  readonly runtimeDir: string;
  readonly socketName: string;
  /** Absolute socket path: `WaylandClient.connect(socketPath)` needs no environment. */
  readonly socketPath: string;
  /** What a client process needs to find this weston. */
  readonly env: { readonly XDG_RUNTIME_DIR: string; readonly WAYLAND_DISPLAY: string };
  readonly pid: number;
  /** weston's output so far (it logs to stderr; stdout is merged in), newest last. */
  output(): string;
  /** SIGTERM, then SIGKILL after the grace period; removes the runtime dir. Idempotent. */
  stop(): Promise<void>;
}

/** weston did not come up: exited early, or its socket never accepted a connection. */
export class WestonStartError extends Error {
  readonly code = 'ERR_WESTON_START';
  override readonly name = 'WestonStartError';

  constructor(
    reason: string,
    /** weston's stderr (and stdout) up to the failure. */
    readonly output: string,
    /** The runtime dir it was given (already removed). */
    readonly runtimeDir: string,
  ) {
    super(`weston did not start: ${reason}\n--- weston output ---\n${output}`);
  }
}

/** Whether a `weston` executable is on PATH. */
export function westonAvailable(): boolean {
  return commandAvailable('weston');
}

/**
 * Starts `weston --backend=headless-backend.so --socket=NAME --idle-time=0` in a fresh
 * private runtime dir and resolves once its socket exists, its `.lock` exists, and it
 * accepts a connection. Rejects with WestonStartError (carrying weston's output) if
 * weston exits first or the timeout passes; nothing is left running or on disk then.
 */
export async function startWeston(options: WestonOptions = {}): Promise<WestonInstance> {
  const socketName = options.socketName ?? 'grantway-weston';
  const runtimeDir = await mkdtemp(join(tmpdir(), 'grantway-weston-'));
  await chmod(runtimeDir, 0o700);
  const socketPath = join(runtimeDir, socketName);
  const config = options.config === undefined ? [] : [`--config=${join(runtimeDir, 'weston.ini')}`];
  if (options.config !== undefined) await writeFile(join(runtimeDir, 'weston.ini'), options.config);
  const args = [
    '--backend=headless-backend.so',
    `--socket=${socketName}`,
    '--idle-time=0',
    `--width=${options.width ?? 640}`,
    `--height=${options.height ?? 480}`,
    ...config,
    ...(options.extraArgs ?? []),
  ];
  // weston must not find the parent's compositor, nor inherit a socket fd to it.
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  delete env.WAYLAND_DISPLAY;
  delete env.WAYLAND_SOCKET;
  delete env.DISPLAY;

  const server = spawnServer({ command: 'weston', args, env, runtimeDir });
  const stop = (): Promise<void> => server.stop(options.stopGraceMs ?? 3000);
  const failure = await waitForServer({
    socketPath,
    timeoutMs: options.startTimeoutMs ?? 10_000,
    spawnError: server.spawnError,
    exitStatus: server.exitStatus,
  });
  if (failure !== undefined) {
    await stop();
    throw new WestonStartError(failure, server.output(), runtimeDir);
  }

  return {
    runtimeDir,
    socketName,
    socketPath,
    env: { XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: socketName },
    pid: server.pid as number,
    output: server.output,
    stop,
  };
}
