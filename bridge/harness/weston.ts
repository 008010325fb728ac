// A real compositor for tests and benchmarks: weston's headless backend in a private
// XDG_RUNTIME_DIR, started per suite and always stopped, so tests judge our code against
// what a real libwayland-server compositor does, never leave a compositor running, and
// never touch the user's own runtime directory or sockets.

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killGroup, sleep, trackChild, untrackChild, waitForServer } from './children.js';
import { commandAvailable } from './process.js';

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

const MAX_OUTPUT = 256 * 1024;
const POLL_MS = 20;

/**
 * Processes of group `pgid` that still run. Zombies do not count: weston's helpers that
 * outlive it are re-parented to init, which reaps them on its own schedule.
 */
function liveGroupMembers(pgid: number): number {
  let live = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') live++;
  }
  return live;
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
  const args = [
    '--backend=headless-backend.so',
    `--socket=${socketName}`,
    '--idle-time=0',
    `--width=${options.width ?? 640}`,
    `--height=${options.height ?? 480}`,
    ...(options.extraArgs ?? []),
  ];
  // weston must not find the parent's compositor, nor inherit a socket fd to it.
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir };
  delete env.WAYLAND_DISPLAY;
  delete env.WAYLAND_SOCKET;
  delete env.DISPLAY;

  let child: ChildProcess;
  try {
    // Its own process group, so stop() also reaches weston-keyboard/desktop-shell.
    child = spawn('weston', args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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

  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (error) => {
      spawnError = error;
      resolve();
    });
  });

  const pid = child.pid;
  if (pid !== undefined) {
    trackChild(pid, runtimeDir);
  }

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const grace = options.stopGraceMs ?? 3000;
      if (pid !== undefined && exited === null && spawnError === null) {
        child.kill('SIGTERM');
        const killed = await Promise.race([
          exitedPromise.then(() => false),
          sleep(grace).then(() => true),
        ]);
        if (killed) killGroup(pid, 'SIGKILL');
        await exitedPromise;
      }
      if (pid !== undefined) {
        // Helpers (weston-keyboard, weston-desktop-shell) exit when weston closes their
        // sockets; give them a moment, then make sure.
        for (let waited = 0; liveGroupMembers(pid) > 0 && waited < grace; waited += POLL_MS) {
          await sleep(POLL_MS);
        }
        killGroup(pid, 'SIGKILL');
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      await rm(runtimeDir, { recursive: true, force: true });
      if (pid !== undefined) untrackChild(pid);
    })();
    return stopped;
  };

  const failure = await waitForServer({
    socketPath,
    timeoutMs: options.startTimeoutMs ?? 10_000,
    spawnError: () => spawnError,
    exitStatus: () => exited,
  });
  if (failure !== undefined) {
    await stop();
    throw new WestonStartError(failure, output, runtimeDir);
  }

  return {
    runtimeDir,
    socketName,
    socketPath,
    env: { XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: socketName },
    pid: pid as number,
    output: () => output,
    stop,
  };
}
