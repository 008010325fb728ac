// sway, headless, for tests that must see what a wlroots desktop advertises: its own
// private runtime dir, pixman rendering, no input devices, an empty config. sway refuses
// to run as root, so where the tests run as root it runs as nobody (the runtime dir is
// handed to that user); root clients still reach its socket.

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  killGroup,
  sleep,
  trackChild,
  untrackChild,
  waitForServer,
} from '../../bridge/harness/children.js';
import { commandAvailable } from '../../bridge/harness/process.js';

const NOBODY = 65534;
const POLL_MS = 20;

export interface SwayInstance {
  readonly runtimeDir: string;
  readonly socketPath: string;
  readonly pid: number;
  /** What a client needs to reach it directly. */
  readonly env: { readonly XDG_RUNTIME_DIR: string; readonly WAYLAND_DISPLAY: string };
  output(): string;
  stop(): Promise<void>;
}

export function swayAvailable(): boolean {
  return commandAvailable('sway') && (process.getuid?.() !== 0 || commandAvailable('setpriv'));
}

/** Starts sway and resolves once its socket accepts connections; rejects with its output. */
export async function startSway(timeoutMs = 20_000): Promise<SwayInstance> {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'grantway-sway-'));
  await chmod(runtimeDir, 0o700);
  const config = join(runtimeDir, 'config');
  await writeFile(config, '');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await chown(runtimeDir, NOBODY, NOBODY);
    await chown(config, NOBODY, NOBODY);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: runtimeDir,
    XDG_RUNTIME_DIR: runtimeDir,
    WLR_BACKENDS: 'headless',
    WLR_RENDERER: 'pixman',
    WLR_LIBINPUT_NO_DEVICES: '1',
  };
  const [command, args] = asRoot
    ? [
        'setpriv',
        [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'sway', '-c', config],
      ]
    : ['sway', ['-c', config]];
  // Its own process group, so stop() also reaches swaybg and anything else it starts.
  const child: ChildProcess = spawn(command, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const append = (chunk: string): void => {
    output = (output + chunk).slice(-256 * 1024);
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
  if (pid !== undefined) trackChild(pid, runtimeDir);

  const stop = async (): Promise<void> => {
    if (pid !== undefined && exited === null && spawnError === null) {
      child.kill('SIGTERM');
      const late = await Promise.race([
        exitedPromise.then(() => false),
        sleep(3000).then(() => true),
      ]);
      if (late) killGroup(pid, 'SIGKILL');
      await exitedPromise;
    }
    if (pid !== undefined) {
      killGroup(pid, 'SIGKILL');
      untrackChild(pid);
    }
    await rm(runtimeDir, { recursive: true, force: true });
  };

  // sway names its socket itself (wayland-N); wait for it to appear, then to accept.
  const deadline = Date.now() + timeoutMs;
  let socketName: string | undefined;
  while (socketName === undefined && exited === null && spawnError === null) {
    socketName = readdirSync(runtimeDir).find((name) => /^wayland-\d+$/.test(name));
    if (socketName === undefined) {
      if (Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
  }
  const socketPath = join(runtimeDir, socketName ?? 'wayland-1');
  const failure = await waitForServer({
    socketPath,
    timeoutMs: Math.max(0, deadline - Date.now()),
    spawnError: () => spawnError,
    exitStatus: () => exited,
  });
  if (failure !== undefined || pid === undefined) {
    await stop();
    throw new Error(`sway did not start: ${failure ?? 'no pid'}\n--- sway output ---\n${output}`);
  }
  return {
    runtimeDir,
    socketPath,
    pid,
    env: { XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: socketPath },
    output: () => output,
    stop,
  };
}
