// A server socket on a filesystem path that only its owner may use: bound under a
// temporary name, given its mode (0600), then renamed into place, so nobody can connect
// in between and an old socket at the path is replaced in one step. Shared by the
// bridge's control socket and its --metrics socket.

import { chmodSync, renameSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { SyscallError } from '../../ffi/errors.js';
import { close as closeFd, connectUnix, ERRNO } from '../../ffi/libc.js';

/** Listens on `path` with `mode`; rejects (leaving nothing behind) if it cannot. */
export async function listenPrivately(server: Server, path: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(temporary, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    chmodSync(temporary, mode);
    renameSync(temporary, path);
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    tryUnlink(temporary);
    throw err;
  }
}

/** Closes a server made by listenPrivately and removes its socket file. */
export function closePrivately(server: Server, path: string): Promise<void> {
  return new Promise((resolve) =>
    server.close(() => {
      // libuv removes only the name it bound; the renamed socket is ours to remove.
      tryUnlink(path);
      resolve();
    }),
  );
}

/** Whether something accepts connections at `path` (a live server, not a stale file). */
export function answers(path: string): boolean {
  try {
    closeFd(connectUnix(path));
    return true;
  } catch (err) {
    if (
      err instanceof SyscallError &&
      (err.errno === ERRNO.ECONNREFUSED || err.errno === ERRNO.ENOENT)
    ) {
      return false;
    }
    throw err;
  }
}

export function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // none there
  }
}
