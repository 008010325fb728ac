// Runs a real program (a Wayland client such as weston-simple-shm or wayland-info) to
// completion for an integration test, with a hard timeout, and hands back everything a
// failed assertion needs to explain itself: exit code or signal, stdout, stderr.

import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { RunAs } from './server-process.js';

/** Whether an executable of that name is on PATH (what a spawn by name would find). */
export function commandAvailable(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

export interface ClientResult {
  /** Exit status, or null when the process ended by a signal. */
  readonly exitCode: number | null;
  /** The signal that ended it (ours, SIGKILL, after a timeout), else null. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when we killed it because `timeoutMs` passed. */
  readonly timedOut: boolean;
}

/** The program could not be started at all (ENOENT, EACCES…). */
export class ClientSpawnError extends Error {
  readonly code = 'ERR_CLIENT_SPAWN';
  override readonly name = 'ClientSpawnError';

  constructor(
    readonly command: string,
    override readonly cause: Error,
  ) {
    super(`cannot start ${command}: ${cause.message}`);
  }
}

/** Output kept per stream; beyond it the oldest bytes are dropped. */
const MAX_CAPTURE = 1 << 20;

function appendCapped(buffer: string, chunk: string): string {
  const joined = buffer + chunk;
  return joined.length > MAX_CAPTURE ? joined.slice(joined.length - MAX_CAPTURE) : joined;
}

/**
 * Runs `command args…` with exactly `env` merged over this process's environment (so
 * PATH and the like stay), stdin closed. After `timeoutMs` the process is killed with
 * SIGKILL and the result says `timedOut`. Never rejects for a non-zero exit: the caller
 * asserts on the result. `cwd` and `user` (run as that user; we must be root) are optional.
 */
export function runClient(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 10_000,
  cwd?: string,
  user?: RunAs,
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd,
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = appendCapped(stdout, chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = appendCapped(stderr, chunk);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new ClientSpawnError(command, error));
    });
    // 'close' (not 'exit'): both pipes are drained by then, so no output is lost.
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr, timedOut });
    });
  });
}
