// A listening socket handed to a server instead of made by it: systemd's socket
// activation protocol (sd_listen_fds(3)), which systemd, systemd-socket-activate and any
// supervisor can speak. The fds start at 3; LISTEN_FDS says how many, LISTEN_PID names
// the process they are for (so a child that inherits the environment does not take
// them too), LISTEN_FDNAMES optionally names them, colon-separated. Shared by every
// server here: `grantway proxy` (started as a systemd service) and the embedded
// compositor (whose clients' SO_PEERCRED then names the supervisor, the case the E3
// oracle must not be fooled by). The socket itself is adopted by WaylandListener.adopt.

import { close as closeFd } from '../../ffi/libc.js';

/** sd_listen_fds(3): SD_LISTEN_FDS_START. */
export const LISTEN_FDS_START = 3;

export interface ListenFd {
  readonly fd: number;
  /** From LISTEN_FDNAMES; 'unknown' when not named (systemd's default). */
  readonly name: string;
}

/** Thrown when the environment passes sockets that cannot be a Wayland listener. */
export class SocketActivationError extends Error {
  readonly code = 'ERR_SOCKET_ACTIVATION';
  override readonly name = 'SocketActivationError';
}

/**
 * The fds passed to process `pid` by `env`, or undefined when none are (LISTEN_PID unset
 * or another process's). Pure: reads nothing but its arguments.
 */
export function listenFds(env: NodeJS.ProcessEnv, pid: number): ListenFd[] | undefined {
  if (env.LISTEN_PID === undefined || env.LISTEN_FDS === undefined) return undefined;
  if (!/^[0-9]+$/.test(env.LISTEN_PID) || Number(env.LISTEN_PID) !== pid) return undefined;
  if (!/^[0-9]+$/.test(env.LISTEN_FDS)) {
    throw new SocketActivationError(
      `LISTEN_FDS is not a number: ${JSON.stringify(env.LISTEN_FDS)}`,
    );
  }
  const count = Number(env.LISTEN_FDS);
  const names = env.LISTEN_FDNAMES?.split(':') ?? [];
  return Array.from({ length: count }, (_, i) => ({
    fd: LISTEN_FDS_START + i,
    name: names[i] || 'unknown',
  }));
}

/** Drops the LISTEN_* variables (sd_listen_fds with unset_environment): children get none. */
export function forgetListenFds(env: NodeJS.ProcessEnv): void {
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
}

/**
 * The one Wayland socket among `fds`: the one named "wayland", else the only one. Every
 * other passed fd is closed (nothing else here would use it).
 */
export function pickWaylandSocket(fds: readonly ListenFd[]): number {
  const chosen = fds.find((f) => f.name === 'wayland') ?? (fds.length === 1 ? fds[0] : undefined);
  if (chosen === undefined) {
    throw new SocketActivationError(
      `${fds.length} sockets passed and none named "wayland" (LISTEN_FDNAMES)`,
    );
  }
  for (const f of fds) if (f !== chosen) closeFd(f.fd);
  return chosen.fd;
}

/**
 * The Wayland socket passed to this process (undefined: none). The LISTEN_* variables
 * are dropped either way (sd_listen_fds with unset_environment): a child must not think
 * the sockets are for it.
 */
export function takePassedWaylandSocket(
  env: NodeJS.ProcessEnv = process.env,
  pid: number = process.pid,
): number | undefined {
  const passed = listenFds(env, pid);
  forgetListenFds(env);
  return passed === undefined ? undefined : pickWaylandSocket(passed);
}
