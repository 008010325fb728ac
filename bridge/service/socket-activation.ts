// A listening socket handed to the compositor instead of made by it: systemd's socket
// activation protocol (sd_listen_fds(3)), which systemd, systemd-socket-activate and any
// supervisor can speak. The fds start at 3; LISTEN_FDS says how many, LISTEN_PID names
// the process they are for (so a child that inherits the environment does not take
// them too), LISTEN_FDNAMES optionally names them, colon-separated. The process that
// called listen() — and so the pid every client's SO_PEERCRED names — is then not the
// compositor, which is the case the E3 oracle must not be fooled by (issue 13): the
// embedded compositor speaks the protocol so the tests can build that case for real.

import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import {
  accept,
  boundPath,
  close as closeFd,
  isListeningUnixSocket,
  setCloseOnExec,
  setNonBlocking,
} from '../../ffi/libc.js';

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

/** An inherited listening socket, accepting like WaylandListener; the path is not ours. */
export class InheritedListener {
  private readonly watch: FdWatch;
  private closed = false;
  /** Where the socket is bound ('' if unnamed), for logs and state. */
  readonly path: string;

  private constructor(
    private readonly fd: number,
    onConnection: (fd: number) => void,
  ) {
    this.path = boundPath(fd);
    this.watch = watchFd(fd, () => {
      for (;;) {
        const client = accept(this.fd);
        if (client === null) return;
        onConnection(client);
      }
    });
  }

  /** Takes over `fd`, which must be a listening unix stream socket. */
  static adopt(fd: number, onConnection: (fd: number) => void): InheritedListener {
    if (!isListeningUnixSocket(fd)) {
      throw new SocketActivationError(`fd ${fd} is not a listening unix stream socket`);
    }
    setCloseOnExec(fd);
    setNonBlocking(fd);
    return new InheritedListener(fd, onConnection);
  }

  /** Stops accepting and closes the fd; the socket file is the supervisor's to remove. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch.close();
    closeFd(this.fd);
  }
}
