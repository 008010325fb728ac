// Pool validation: whether the fd a client sent with wl_shm.create_pool can back a
// pool, decided without doing anything that could block on the client's file.
//
// Only memory can back a pool: a shmem file (memfd, shm_open, tmpfs) or a hugetlbfs one.
// Reading such a file never waits for a disk or a server, and libwayland-server's own
// SIGBUS rule (sealed against shrinking) can be checked on it. Anything else is refused
// with wl_shm.invalid_fd, in both modes: a file on FUSE answers fstat, pread and close
// through its server, which may never answer, and the bridge serves every client from
// one event loop. So the order matters: the open file's flags and seals first (fcntl,
// answered by the kernel), fstat only once the file is known to be memory.

import { openSync } from 'node:fs';
import { fdKind, answeredLocally } from '../../ffi/fd-kind.js';
import {
  dupCloexec,
  F_SEAL_SHRINK,
  O_ACCMODE,
  O_PATH,
  O_WRONLY,
  fileStatusFlags,
  fstat,
  isRegularFile,
} from '../../ffi/libc.js';
import type { FileIdentity } from '../oracle/types.js';
import { ClientProtocolError } from '../relay/errors.js';
import { ShmError } from './errors.js';

export interface PoolFile {
  /** The file's identity, as fstat saw it at create_pool. */
  readonly file: FileIdentity;
  /** Sealed against shrinking: a mapping of it can never fault (safe to mmap). */
  readonly sealedAgainstShrink: boolean;
}

/**
 * Checks the fd of `wl_shm@shmId.create_pool(fd, size)`. Throws ClientProtocolError
 * wl_shm.invalid_fd naming why the fd cannot back a pool of `size` bytes.
 */
export function validatePoolFd(fd: number, size: number, shmId: number): PoolFile {
  const refuse = (why: string): never => {
    throw new ClientProtocolError(shmId, ShmError.invalidFd, `invalid pool fd: ${why}`);
  };
  const flags = fileStatusFlags(fd);
  if ((flags & O_PATH) !== 0) refuse('opened with O_PATH, it can be neither read nor mapped');
  if ((flags & O_ACCMODE) === O_WRONLY) refuse('not open for reading (O_WRONLY)');
  const kind = fdKind(fd);
  if (kind.kind !== 'memory') refuse(notMemory(fd, kind));
  const st = fstat(fd); // memory: answered by the kernel
  if (!isRegularFile(st)) refuse(`not a regular file (${fileType(st.mode)})`);
  if (st.size < size) {
    refuse(`the file is ${st.size} bytes, smaller than the declared pool size ${size}`);
  }
  const seals = kind.kind === 'memory' ? kind.seals : 0;
  return {
    file: { dev: st.dev, ino: st.ino },
    sealedAgainstShrink: (seals & F_SEAL_SHRINK) !== 0,
  };
}

/**
 * The bridge's own fd of a validated pool file: a fresh read-only open file description
 * (through /proc/self/fd, the file being memory, so the open cannot block), whose file
 * offset the bridge may move without moving the client's; or, where the file cannot be
 * opened again (its mode forbids this user reading it, /proc missing), a dup sharing the
 * client's. Close-on-exec either way. Throws only for a shortage (EMFILE…, in the dup).
 */
export function ownFdOf(fd: number): { fd: number; ownDescription: boolean } {
  try {
    return { fd: openSync(`/proc/self/fd/${fd}`, 'r'), ownDescription: true };
  } catch {
    return { fd: dupCloexec(fd), ownDescription: false };
  }
}

/** Why a file that is not memory was refused, as precisely as can be told safely. */
function notMemory(
  fd: number,
  kind: Exclude<ReturnType<typeof fdKind>, { kind: 'memory' }>,
): string {
  switch (kind.kind) {
    case 'socket':
      return 'not a regular file (a socket)';
    case 'pipe':
      return 'not a regular file (a pipe)';
    case 'anonymous':
      return `not a regular file (an anonymous inode, ${kind.name})`;
    case 'path-only':
      return 'opened with O_PATH, it can be neither read nor mapped';
    case 'file': {
      const on = kind.fsType ?? 'a filesystem this process cannot see';
      // fstat is safe where the kernel answers it: say what the file is.
      if (answeredLocally(kind)) {
        const st = fstat(fd);
        if (!isRegularFile(st)) return `not a regular file (${fileType(st.mode)})`;
      }
      return `not on a memory filesystem (memfd, tmpfs, hugetlbfs): ${kind.path} is on ${on}`;
    }
  }
}

/** The kind of file behind an fd's st_mode, for error messages. */
function fileType(mode: number): string {
  const kinds: Record<number, string> = {
    0o010000: 'a pipe',
    0o020000: 'a character device',
    0o040000: 'a directory',
    0o060000: 'a block device',
    0o120000: 'a symbolic link',
    0o140000: 'a socket',
  };
  return kinds[mode & 0o170000] ?? `mode 0${(mode & 0o170000).toString(8)}`;
}
