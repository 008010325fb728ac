// One long-running server process (a compositor, with whatever helpers it launches) for
// tests, benchmarks and the compatibility suite: spawned in its own process group,
// optionally as another user, its output kept, and one stop() that signals it, waits,
// then kills whatever is left of its group and removes its private runtime dir. weston
// and every other real compositor the harness starts go through here, so none of them
// can outlive a run.

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { killGroup, sleep, trackChild, untrackChild } from './children.js';

/** A user to run as (root only): uid, gid, and no supplementary groups. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export interface ServerProcessOptions {
  readonly command: string;
  readonly args: readonly string[];
  /** The complete environment (nothing is inherited implicitly). */
  readonly env: NodeJS.ProcessEnv;
  /** Removed by stop(), with everything in it. */
  readonly runtimeDir: string;
  readonly cwd?: string;
  /** Run as this user (libuv drops supplementary groups when it switches). */
  readonly user?: RunAs;
  /**
   * stop() sends SIGTERM to the whole group instead of the leader alone: for wrappers
   * such as dbus-run-session, which exit on SIGTERM and leave their child running.
   */
  readonly terminateGroup?: boolean;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  /** The leader's pid (undefined when the spawn itself failed). */
  readonly pid: number | undefined;
  /** stdout and stderr so far, merged, newest last (bounded). */
  readonly output: () => string;
  readonly exitStatus: () => ExitStatus | null;
  readonly spawnError: () => Error | null;
  /**
   * SIGTERM, then SIGKILL to the group after `graceMs`; waits for the group's helpers to
   * go, then removes the runtime dir. Idempotent.
   */
  readonly stop: (graceMs?: number) => Promise<void>;
}

const MAX_OUTPUT = 256 * 1024;
const POLL_MS = 20;

/**
 * Processes of group `pgid` that still run. Zombies do not count: helpers that outlive
 * the leader are re-parented to init, which reaps them on its own schedule.
 */
export function liveGroupMembers(pgid: number): number {
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

/** Spawns the server; never throws for a failed spawn (see spawnError()). */
export function spawnServer(options: ServerProcessOptions): ServerProcess {
  let output = '';
  const append = (chunk: string): void => {
    output += chunk;
    if (output.length > MAX_OUTPUT) output = output.slice(output.length - MAX_OUTPUT);
  };
  let exited: ExitStatus | null = null;
  let spawnError: Error | null = null;
  let child: ChildProcess | undefined;
  let exitedPromise: Promise<void> = Promise.resolve();
  try {
    // Its own process group, so stop() also reaches every helper it launched.
    child = spawn(options.command, [...options.args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
    });
    const spawned = child;
    exitedPromise = new Promise<void>((resolve) => {
      spawned.once('exit', (code, signal) => {
        exited = { code, signal };
        resolve();
      });
      spawned.once('error', (error) => {
        spawnError = error;
        resolve();
      });
    });
    child.stdout?.setEncoding('utf8').on('data', append);
    child.stderr?.setEncoding('utf8').on('data', append);
  } catch (error) {
    spawnError = error instanceof Error ? error : new Error(String(error));
  }
  const pid = child?.pid;
  if (pid !== undefined) trackChild(pid, options.runtimeDir);

  let stopped: Promise<void> | null = null;
  const stop = (graceMs = 3000): Promise<void> => {
    stopped ??= (async () => {
      if (pid !== undefined && exited === null && spawnError === null) {
        if (options.terminateGroup === true) killGroup(pid, 'SIGTERM');
        else child?.kill('SIGTERM');
        const killed = await Promise.race([
          exitedPromise.then(() => false),
          sleep(graceMs).then(() => true),
        ]);
        if (killed) killGroup(pid, 'SIGKILL');
        await exitedPromise;
      }
      if (pid !== undefined) {
        // Helpers exit when the server closes their sockets; give them a moment, then
        // make sure.
        for (let waited = 0; liveGroupMembers(pid) > 0 && waited < graceMs; waited += POLL_MS) {
          await sleep(POLL_MS);
        }
        killGroup(pid, 'SIGKILL');
      }
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      await rm(options.runtimeDir, { recursive: true, force: true });
      if (pid !== undefined) untrackChild(pid);
    })();
    return stopped;
  };

  return {
    pid,
    output: () => output,
    exitStatus: () => exited,
    spawnError: () => spawnError,
    stop,
  };
}
