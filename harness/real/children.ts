// What every harness that starts a server process (weston, the embedded compositor)
// needs: its process group is killed and its private runtime dir removed even when the
// test run is interrupted, and a way to tell when its socket accepts connections.

import { existsSync, rmSync } from 'node:fs';
import { close as closeFd, connectUnix } from '../../ffi/libc.js';

/**
 * Children started and not yet stopped (pid → runtime dir). Invariant: an entry goes
 * only once the process group is dead and the directory removed, so the exit hook can
 * clean up whatever a crashed or interrupted run left.
 */
const running = new Map<number, string>();
let exitHookInstalled = false;

/** Remembers a child (started with `detached: true`, so it leads its own group). */
export function trackChild(pid: number, runtimeDir: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [child, dir] of running) {
        killGroup(child, 'SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  running.set(pid, runtimeDir);
}

/** The child is dead and its directory gone. */
export function untrackChild(pid: number): void {
  running.delete(pid);
}

/** Signals a child and every process it launched (its own process group). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone
  }
}

/** True once something listens on `path` (a connect succeeds). */
export function acceptsConnections(path: string): boolean {
  try {
    closeFd(connectUnix(path));
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

const POLL_MS = 20;

/**
 * Waits for a freshly spawned server: its socket and `.lock` exist, it accepts a
 * connection, and `ready()` (anything more the caller needs) holds. Resolves undefined
 * when it is up, or with why it never came up: the spawn failed, it exited, or time ran
 * out. The caller stops it and raises its own error class with its output.
 */
export async function waitForServer(options: {
  /** The socket, or a way to find it once the server has chosen its name. */
  readonly socketPath: string | (() => string | undefined);
  readonly timeoutMs: number;
  readonly spawnError: () => Error | null;
  readonly exitStatus: () => { code: number | null; signal: NodeJS.Signals | null } | null;
  readonly ready?: () => boolean | Promise<boolean>;
  /** Whether `.lock` must exist too (default true; not where systemd made the socket). */
  readonly lockFile?: boolean;
}): Promise<string | undefined> {
  const find = options.socketPath;
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const spawnError = options.spawnError();
    if (spawnError !== null) return `spawn failed: ${spawnError.message}`;
    const exit = options.exitStatus();
    if (exit !== null) return `exited early (code ${exit.code}, signal ${exit.signal})`;
    const socketPath = typeof find === 'string' ? find : find();
    if (
      socketPath !== undefined &&
      existsSync(socketPath) &&
      (options.lockFile === false || existsSync(`${socketPath}.lock`)) &&
      acceptsConnections(socketPath) &&
      (options.ready === undefined || (await options.ready()))
    ) {
      return undefined;
    }
    if (Date.now() > deadline)
      return `${socketPath ?? 'its socket'} not accepting connections in time`;
    await sleep(POLL_MS);
  }
}
