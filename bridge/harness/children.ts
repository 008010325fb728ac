// What every harness that starts a server process (weston, the embedded compositor)
// needs: its process group is killed and its private runtime dir removed even when the
// test run is interrupted, and a way to tell when its socket accepts connections.

import { rmSync } from 'node:fs';
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
