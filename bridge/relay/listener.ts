// A listening Wayland socket with libwayland's lock-file convention: NAME.lock is held
// with flock for as long as the socket lives, so a second server fails cleanly and a
// stale socket left by a dead one can be removed safely.
//
// A socket can also be adopted from whoever made it (systemd socket activation,
// bridge/service/socket-activation.ts). Its file is then not ours: it is never removed.
// The lock is taken if it is free and held until close, so that no other server takes
// the socket for a stale one while it serves; if it is held already, the process that
// made the socket holds it (as kwin_wayland_wrapper does) and serving goes on.
//
// Accepting never fails the process. When the fd table is full (EMFILE, ENFILE) a
// pending connection cannot be accepted and stays readable, so a level-triggered watch
// would spin: the listener stops watching until an fd is freed (resume(), called when a
// session ends) or RETRY_MS has passed. So that the clients waiting are not left
// hanging, one fd is kept in reserve (on /dev/null): it is let go to accept each waiting
// connection and refuse it with a reason (libuv's and libev's answer), then taken back.
// Out of memory (ENOBUFS, ENOMEM) pauses the same way; a failure that costs only the
// one connection (ECONNABORTED, EPROTO, EPERM) moves on to the next.

import { closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { errorReason, SyscallError } from '../../ffi/errors.js';
import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import {
  accept,
  bindUnix,
  boundPath,
  close as closeFd,
  ERRNO,
  isListeningUnixSocket,
  listen,
  setCloseOnExec,
  setNonBlocking,
  tryLockExclusive,
  unixSocket,
} from '../../ffi/libc.js';
import { SocketActivationError } from '../service/socket-activation.js';
import { ListenSocketError, SocketInUseError } from './errors.js';

/** How long accepting pauses when the process is out of fds or memory. */
export const RETRY_MS = 250;

/** Connections refused in one go with the reserve fd (the listen backlog). */
const MAX_REFUSED_PER_WAKE = 128;

export interface ListenerOptions {
  /**
   * Tells a connection that cannot be served why, then closes it (owns `fd`). Default:
   * close it.
   */
  readonly refuse?: (fd: number, reason: string) => void;
  /** Hears of every accept failure and pause (for the operator's log). */
  readonly onTrouble?: (what: {
    errno: string;
    action: 'paused' | 'skipped' | 'refused';
    refused?: number;
  }) => void;
}

export class WaylandListener {
  private readonly watch: FdWatch;
  private closed = false;
  private paused = false;
  private resumeTimer: NodeJS.Timeout | undefined;
  /** An fd held on /dev/null, let go only to refuse connections when the table is full. */
  private reserveFd: number | undefined;
  /** Connections accepted, refused for want of fds, and times accepting paused. */
  readonly counts = { accepted: 0, refused: 0, pauses: 0 };

  private constructor(
    /** Where the socket is bound ('' for an adopted socket without a name). */
    readonly path: string,
    private readonly socketFd: number,
    /** NAME.lock, held by this listener (undefined: another process holds it, or none). */
    private readonly lockFd: number | undefined,
    /** Whether the socket file is this listener's to remove (false when adopted). */
    private readonly ownsSocketFile: boolean,
    private readonly onConnection: (fd: number) => void,
    private readonly options: ListenerOptions,
  ) {
    this.reserveFd = openReserve();
    this.watch = watchFd(socketFd, () => this.acceptPending());
  }

  /**
   * Takes the lock, clears a stale socket, binds and listens. `onConnection` owns each
   * accepted fd (and must not throw).
   */
  static open(
    path: string,
    onConnection: (fd: number) => void,
    options: ListenerOptions = {},
  ): WaylandListener {
    const lockPath = `${path}.lock`;
    let lockFd: number;
    try {
      // libuv opens every file O_CLOEXEC, so the lock fd does not leak into children.
      lockFd = openSync(lockPath, constants.O_CREAT | constants.O_RDWR, 0o660);
    } catch (err) {
      throw new ListenSocketError(
        path,
        `cannot create its lock file ${lockPath} (${errorReason(err)})`,
      );
    }
    let socketFd = -1;
    let locked = false;
    let bound = false;
    try {
      if (!tryLockExclusive(lockFd)) throw new SocketInUseError(path);
      locked = true;
      // We hold the lock, so a socket file left at path belongs to a dead server.
      const existing = fileType(path);
      if (existing === 'socket') unlinkSync(path);
      else if (existing !== undefined) {
        throw new ListenSocketError(path, `it exists and is ${existing}, not a socket`);
      }
      socketFd = unixSocket();
      bindUnix(socketFd, path);
      bound = true;
      listen(socketFd);
      return new WaylandListener(path, socketFd, lockFd, true, onConnection, options);
    } catch (err) {
      if (socketFd >= 0) closeFd(socketFd);
      if (bound) tryUnlink(path);
      // A lock file we hold is ours to remove; one held by another server is not.
      if (locked) tryUnlink(lockPath);
      closeSync(lockFd);
      throw err;
    }
  }

  /**
   * Takes over `fd`, a listening unix stream socket made by another process (socket
   * activation): the lock rules in the module comment. Throws SocketActivationError for
   * anything else, leaving `fd` to the caller. `onLockHeld` hears that the lock was held
   * by another process.
   */
  static adopt(
    fd: number,
    onConnection: (fd: number) => void,
    options: ListenerOptions & { readonly onLockHeld?: (lockPath: string) => void } = {},
  ): WaylandListener {
    if (!isListeningUnixSocket(fd)) {
      throw new SocketActivationError(`fd ${fd} is not a listening unix stream socket`);
    }
    setCloseOnExec(fd);
    setNonBlocking(fd);
    const path = boundPath(fd);
    let lockFd: number | undefined;
    if (path.startsWith('/')) {
      const lockPath = `${path}.lock`;
      try {
        lockFd = openSync(lockPath, constants.O_CREAT | constants.O_RDWR, 0o660);
      } catch (err) {
        throw new ListenSocketError(
          path,
          `cannot create its lock file ${lockPath} (${errorReason(err)})`,
        );
      }
      if (!tryLockExclusive(lockFd)) {
        closeSync(lockFd);
        lockFd = undefined;
        options.onLockHeld?.(lockPath);
      }
    }
    return new WaylandListener(path, fd, lockFd, false, onConnection, options);
  }

  /** Whether this listener holds NAME.lock: the name, and names beside it, are its own. */
  get holdsLock(): boolean {
    return this.lockFd !== undefined;
  }

  /** Accepts again at once if accepting was paused (an fd was freed). */
  resume(): void {
    if (!this.paused || this.closed) return;
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
    this.paused = false;
    this.watch.setInterest(true, false);
  }

  /**
   * Stops accepting and removes the socket (unless adopted: the supervisor's) and the
   * lock file (if this listener holds it).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resumeTimer);
    this.watch.close();
    closeFd(this.socketFd);
    if (this.reserveFd !== undefined) closeSync(this.reserveFd);
    if (this.ownsSocketFile) tryUnlink(this.path);
    if (this.lockFd !== undefined) {
      tryUnlink(`${this.path}.lock`);
      closeSync(this.lockFd);
    }
  }

  /** Runs on the event loop: nothing may escape it (see fd-watch.ts). */
  private acceptPending(): void {
    if (this.closed || this.paused) return;
    for (;;) {
      let fd: number | null;
      try {
        fd = accept(this.socketFd);
      } catch (err) {
        if (this.acceptFailed(err) === 'stop') return;
        continue;
      }
      if (fd === null) return;
      this.counts.accepted++;
      this.onConnection(fd);
      if (this.closed || this.paused) return;
    }
  }

  /** Judges an accept failure: 'next' to go on accepting, 'stop' when accepting paused. */
  private acceptFailed(err: unknown): 'next' | 'stop' {
    const errno = err instanceof SyscallError ? err.errno : undefined;
    const name = err instanceof SyscallError ? err.errnoName : String(err);
    if (errno === ERRNO.ECONNABORTED || errno === ERRNO.EPROTO || errno === ERRNO.EPERM) {
      // That connection is gone; the next may be fine.
      this.options.onTrouble?.({ errno: name, action: 'skipped' });
      return 'next';
    }
    if (errno === ERRNO.EMFILE || errno === ERRNO.ENFILE) {
      const refused = this.refuseWaiting(name);
      this.options.onTrouble?.({ errno: name, action: 'refused', refused });
    } else {
      this.options.onTrouble?.({ errno: name, action: 'paused' });
    }
    this.pauseFor(RETRY_MS);
    return 'stop';
  }

  /**
   * Stops watching until resume() or `ms` later. A connection fails to be accepted
   * while the table is full, and a level-triggered watch would report it forever.
   */
  pauseFor(ms: number): void {
    if (this.closed) return;
    if (!this.paused) this.counts.pauses++;
    this.paused = true;
    this.watch.setInterest(false, false);
    clearTimeout(this.resumeTimer);
    // Not unref'd: while paused, this timer is what keeps a server process alive.
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      this.resume();
    }, ms);
  }

  /** With the reserve fd let go, accepts and refuses every waiting connection. */
  private refuseWaiting(errnoName: string): number {
    if (this.reserveFd === undefined) this.reserveFd = openReserve();
    if (this.reserveFd === undefined) return 0;
    closeSync(this.reserveFd);
    this.reserveFd = undefined;
    let refused = 0;
    try {
      while (refused < MAX_REFUSED_PER_WAKE) {
        const fd = accept(this.socketFd);
        if (fd === null) break;
        refused++;
        this.counts.refused++;
        const reason = `grantway: no file descriptor left to serve this client (${errnoName}); try again later`;
        if (this.options.refuse !== undefined) this.options.refuse(fd, reason);
        else closeFd(fd);
      }
    } catch {
      // Out of fds again, or the connection went away: the rest wait for the next try.
    } finally {
      this.reserveFd = openReserve();
    }
    return refused;
  }
}

/** The reserve fd, or undefined when even that cannot be had now (taken again later). */
function openReserve(): number | undefined {
  try {
    return openSync('/dev/null', constants.O_RDONLY);
  } catch {
    return undefined;
  }
}

/** What is at path, without following a link: 'socket', a description, or undefined. */
function fileType(path: string): string | undefined {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (st.isSocket()) return 'socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFile()) return 'a regular file';
  return 'a special file';
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
