// A listening Wayland socket with libwayland's lock-file convention: NAME.lock is held
// with flock for as long as the socket lives, so a second server fails cleanly and a
// stale socket left by a dead one can be removed safely.

import { closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import {
  accept,
  bindUnix,
  close as closeFd,
  listen,
  tryLockExclusive,
  unixSocket,
} from '../../ffi/libc.js';
import { SocketInUseError } from './errors.js';

export class WaylandListener {
  private readonly watch: FdWatch;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly socketFd: number,
    private readonly lockFd: number,
    onConnection: (fd: number) => void,
  ) {
    this.watch = watchFd(socketFd, () => {
      for (;;) {
        const fd = accept(this.socketFd);
        if (fd === null) return;
        onConnection(fd);
      }
    });
  }

  /** Takes the lock, clears a stale socket, binds and listens. */
  static open(path: string, onConnection: (fd: number) => void): WaylandListener {
    const lockPath = `${path}.lock`;
    // libuv opens every file O_CLOEXEC, so the lock fd does not leak into children.
    const lockFd = openSync(lockPath, constants.O_CREAT | constants.O_RDWR, 0o660);
    let socketFd = -1;
    try {
      if (!tryLockExclusive(lockFd)) throw new SocketInUseError(path);
      // We hold the lock, so any socket file left at path belongs to a dead server.
      if (existsNoFollow(path)) unlinkSync(path);
      socketFd = unixSocket();
      bindUnix(socketFd, path);
      listen(socketFd);
      return new WaylandListener(path, socketFd, lockFd, onConnection);
    } catch (err) {
      if (socketFd >= 0) closeFd(socketFd);
      closeSync(lockFd);
      throw err;
    }
  }

  /** Stops accepting, removes the socket and its lock file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch.close();
    closeFd(this.socketFd);
    tryUnlink(this.path);
    tryUnlink(`${this.path}.lock`);
    closeSync(this.lockFd);
  }
}

function existsNoFollow(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
