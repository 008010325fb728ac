// What an fd a peer sent refers to, found without asking the file's filesystem anything.
// A FUSE (or network) filesystem answers fstat, fstatfs, read and even close through its
// server, which may take seconds or never answer — and the bridge's event loop would
// wait with it. fcntl(F_GETFL / F_GET_SEALS), readlink of /proc/self/fd/N and the
// /proc/self/fdinfo and mountinfo files are answered by the kernel from the open file
// and the mount table alone, so they are what this module uses.

import { readFileSync, readlinkSync } from 'node:fs';
import { O_PATH, fileStatusFlags, sealsIfMemoryFile } from './libc.js';

export type FdKind =
  /** Opened with O_PATH: it names a file and gives no access to it (no flush at close). */
  | { readonly kind: 'path-only' }
  /** A shmem file (memfd, tmpfs, shm_open) or a hugetlbfs one: plain memory. */
  | { readonly kind: 'memory'; readonly seals: number }
  | { readonly kind: 'socket' }
  | { readonly kind: 'pipe' }
  /** eventfd, timerfd, a sync file…: "anon_inode:NAME". */
  | { readonly kind: 'anonymous'; readonly name: string }
  /**
   * Anything with a path on a mounted filesystem (a directory, a device, a file on disk
   * or on FUSE). `fsType` is from this process's mount table; undefined when the mount
   * is not in it (another mount namespace, or a kernel-internal one such as dma-buf's).
   */
  | { readonly kind: 'file'; readonly path: string; readonly fsType: string | undefined };

/**
 * Filesystems whose files answer fstat and close in the kernel, without a server or a
 * network to wait for (local disk filesystems may wait for the disk, never for a peer).
 */
const LOCAL_FILESYSTEMS = new Set([
  'tmpfs',
  'hugetlbfs',
  'ramfs',
  'devtmpfs',
  'devpts',
  'proc',
  'sysfs',
  'mqueue',
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
]);

export function fdKind(fd: number): FdKind {
  if ((fileStatusFlags(fd) & O_PATH) !== 0) return { kind: 'path-only' };
  const seals = sealsIfMemoryFile(fd);
  if (seals !== undefined) return { kind: 'memory', seals };
  const link = readlinkSync(`/proc/self/fd/${fd}`);
  if (link.startsWith('socket:[')) return { kind: 'socket' };
  if (link.startsWith('pipe:[')) return { kind: 'pipe' };
  if (link.startsWith('anon_inode:')) return { kind: 'anonymous', name: link.slice(11) };
  return { kind: 'file', path: link, fsType: filesystemOf(fd) };
}

/**
 * Whether fstat and close of such an fd are answered locally. Not for a file on FUSE or
 * on a network filesystem (FUSE sends GETATTR for fstat and FLUSH at every close, and
 * waits for the answer), nor on one this process cannot see.
 */
export function answeredLocally(kind: FdKind): boolean {
  return kind.kind !== 'file' || (kind.fsType !== undefined && LOCAL_FILESYSTEMS.has(kind.fsType));
}

/**
 * The type of the filesystem an fd's file is on, from /proc/self/mountinfo. Read each
 * time, never cached: mount ids are reused once a filesystem is unmounted, and a stale
 * entry could take a FUSE mount for a local one.
 */
function filesystemOf(fd: number): string | undefined {
  let fdinfo: string;
  let mounts: string;
  try {
    fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined; // EMFILE and the like: a filesystem not known is never taken as local
  }
  const match = /^mnt_id:\s*(\d+)$/m.exec(fdinfo);
  if (match === null) return undefined;
  // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw" (proc(5)): the
  // type follows the " - " that ends the optional fields.
  const prefix = `${match[1]} `;
  for (const line of mounts.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const rest = line.indexOf(' - ');
    return rest < 0 ? undefined : line.slice(rest + 3).split(' ')[0];
  }
  return undefined;
}
