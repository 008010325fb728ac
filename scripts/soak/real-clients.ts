// Real clients in a soak run: `weston-simple-shm` processes through the bridge beside
// the scripted ones. They report nothing; they must still run at the end and exit
// cleanly on SIGINT (on which weston-simple-shm cleans up and exits 0).

import { type ChildProcess, spawn } from 'node:child_process';
import { waitExit } from './processes.js';

export interface RealClient {
  readonly child: ChildProcess;
  stderr: string;
  /** Set before the run stops it, so its exit is not a failure. */
  stopping: boolean;
}

/** Starts `count` of them on WAYLAND_DISPLAY `display`; their failures go to `failures`. */
export function startRealClients(
  count: number,
  env: NodeJS.ProcessEnv,
  display: string,
  failures: string[],
): RealClient[] {
  const real: RealClient[] = [];
  for (let i = 0; i < count; i++) {
    const child = spawn('weston-simple-shm', [], {
      env: { ...env, WAYLAND_DISPLAY: display },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const entry: RealClient = { child, stderr: '', stopping: false };
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      entry.stderr = (entry.stderr + chunk).slice(-2048);
    });
    child.once('exit', (code, signal) => {
      if (!entry.stopping) {
        failures.push(
          `weston-simple-shm #${i} exited during the run (code ${code}, signal ${signal}): ${entry.stderr.trim()}`,
        );
      }
    });
    real.push(entry);
  }
  return real;
}

/** SIGINT to each still running; one that does not exit 0 within 5 s is a failure. */
export async function stopRealClients(
  real: readonly RealClient[],
  failures: string[],
): Promise<void> {
  for (const [i, r] of real.entries()) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
    r.stopping = true;
    r.child.kill('SIGINT');
    if (!(await waitExit(r.child, 5000))) {
      failures.push(`weston-simple-shm #${i} did not exit on SIGINT`);
      r.child.kill('SIGKILL');
    } else if (r.child.exitCode !== 0) {
      failures.push(
        `weston-simple-shm #${i} exited ${r.child.exitCode ?? r.child.signalCode} on SIGINT: ${r.stderr.trim()}`,
      );
    }
  }
}

/** Bridge shutdown path: SIGKILL whatever still runs. */
export function killRealClients(real: readonly RealClient[]): void {
  for (const r of real) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.stopping = true;
      r.child.kill('SIGKILL');
    }
  }
}
