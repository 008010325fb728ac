// How grant mode reads a client's pool (grant-mode.ts): through a read-only mapping of
// the client's file placed just before a read-write mapping of the extent, in one
// reserved address range — one base address for both, so a copy is a table of offsets
// (copy.ts, native/span-copy.c) — where that cannot fault, and with pread everywhere
// else. A mapping in use by copies on the copy threads outlives the pool's closing
// until the last of them ends.

import { SyscallError } from '../../ffi/errors.js';
import {
  ERRNO,
  mmapAt,
  munmap,
  PROT_READ,
  PROT_WRITE,
  reserveAddressSpace,
} from '../../ffi/libc.js';
import { type GrantExtent, PAGE_SIZE, pageBytes } from '../grants/types.js';
import { ClientProtocolError } from '../relay/errors.js';
import type { PoolRequest } from './backing.js';
import type { PoolSource } from './copy.js';
import { ShmError } from './errors.js';
import type { PoolState } from './state.js';

/** The joint mapping. Invariant: unmapped once closed and no copy uses it. */
export interface JointMapping {
  readonly ptr: bigint;
  readonly length: number;
  users: number;
  closed: boolean;
}

/**
 * Reads the client's pool through a mapping only where that cannot fault: the file is
 * sealed against shrinking and as large as the pool (libwayland-server's own rule),
 * and the mapping is read-only. Anything else is read with pread. A client file that
 * cannot be mapped (hugetlbfs at a size it refuses, say) is the client's to fix:
 * wl_shm.invalid_fd; running out of memory or address space is the bridge's shortage.
 */
export function openPoolSource(
  pool: PoolState,
  extent: GrantExtent,
  request: PoolRequest,
): { source: PoolSource; mapping: JointMapping | undefined } {
  if (!pool.sealedAgainstShrink || extent.fd === undefined) {
    return { source: { kind: 'pread', fd: pool.clientFd }, mapping: undefined };
  }
  const poolBytes = pageBytes(pool.size);
  const extentBytes = extent.pages * PAGE_SIZE;
  const length = poolBytes + extentBytes;
  const ptr = reserveAddressSpace(length);
  try {
    try {
      mmapAt(ptr, poolBytes, PROT_READ, pool.clientFd);
    } catch (err) {
      // The file refused (EINVAL, EACCES…); ENOMEM is the bridge's (map count, memory).
      if (!(err instanceof SyscallError) || err.errno === ERRNO.ENOMEM) throw err;
      throw new ClientProtocolError(
        request.objectId,
        ShmError.invalidFd,
        `invalid pool fd: cannot map the pool fd (${err.errnoName})`,
      );
    }
    mmapAt(
      ptr + BigInt(poolBytes),
      extentBytes,
      PROT_READ | PROT_WRITE,
      extent.fd,
      extent.fdOffset,
    );
  } catch (err) {
    munmap(ptr, length);
    throw err;
  }
  return {
    source: { kind: 'joint', base: Number(ptr), extentAt: poolBytes },
    mapping: { ptr, length, users: 0, closed: false },
  };
}

/** A copy starts using the mapping; the function returned says it is done with it. */
export function useJointMapping(mapping: JointMapping): () => void {
  mapping.users++;
  return () => {
    mapping.users--;
    if (mapping.closed && mapping.users === 0) munmap(mapping.ptr, mapping.length);
  };
}

/** Unmaps now, or once the copies that use the mapping are done. */
export function closeJointMapping(mapping: JointMapping): void {
  if (mapping.closed) return;
  mapping.closed = true;
  if (mapping.users === 0) munmap(mapping.ptr, mapping.length);
}
