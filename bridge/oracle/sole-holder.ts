// The kernel's own answer to "does anyone but the bridge hold this file?", for files the
// bridge owns and holds through exactly one open file description (memfd grant extents:
// bridge/grants/memfd.ts). A write lease (fcntl F_SETLEASE F_WRLCK) is granted only when
// the inode's writer and reader counts are the caller's own file alone
// (fs/locks.c check_conflicting_open). Every other open file description counts — an fd
// in any process of any pid namespace, an fd in flight in a socket queue, and a mapping
// whose fd was closed (the mapping keeps its file open) — so "granted" proves that no
// process but the bridge maps or holds the file, which /proc can only approximate. It
// costs two fcntl calls (about 2 µs), whatever the number of processes.
//
// What it does not see: an O_PATH fd (counted nowhere; it can neither map nor read, only
// be reopened later through /proc), and another holder of the bridge's own open file
// description, which the memfd backend never gives out (the compositor gets a fresh
// open: GrantBackend.shareFd). The lease lasts microseconds; whoever opens the file
// meanwhile waits for it to be given back, and the bridge is sent SIGURG (set by the
// backend) instead of the fatal SIGIO.

import { SyscallError } from '../../ffi/errors.js';
import { isFile, releaseLease, tryWriteLease } from '../../ffi/libc.js';
import type { FileIdentity } from './types.js';

/** 'sole': nobody else holds the file; 'shared': someone does; else why the kernel would not say. */
export type SoleHolderAnswer = 'sole' | 'shared' | { readonly unusable: string };

export function askSoleHolder(file: FileIdentity & { readonly ownFd: number }): SoleHolderAnswer {
  const fd = file.ownFd;
  let granted: boolean;
  try {
    granted = tryWriteLease(fd);
  } catch (error) {
    return { unusable: error instanceof SyscallError ? error.errnoName : String(error) };
  }
  // EAGAIN: another open file description exists. Even if `fd` were no longer the
  // file's (closed and reused), 'shared' only makes the bridge wait longer.
  if (!granted) return 'shared';
  try {
    // The lease is on whatever `fd` is now: only the file asked about may be called sole.
    return isFile(fd, file.dev, file.ino) ? 'sole' : { unusable: 'fd reused' };
  } catch (error) {
    return { unusable: error instanceof SyscallError ? error.errnoName : String(error) };
  } finally {
    releaseLease(fd);
  }
}
