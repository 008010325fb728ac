// How the shm path fails a client, in one place: the wl_shm error codes libwayland uses,
// and the translation of the bridge's own shortages (fds, memory, grant refs) into the
// no_memory error that names them — never an "internal error" for a client that did
// nothing wrong.

import { SyscallError } from '../../ffi/errors.js';
import { ERRNO } from '../../ffi/libc.js';
import { GrantTableFullError } from '../grants/errors.js';
import { wayland } from '../protocol/enums.js';
import { BridgeResourceError } from '../relay/errors.js';

/** wl_shm.error codes. */
export const ShmError = wayland.wl_shm.error;

/** What ran out, in words, if `err` is a shortage of the bridge's; else undefined. */
export function shortageOf(err: unknown): string | undefined {
  if (err instanceof GrantTableFullError) return `grant table full: ${err.message}`;
  if (!(err instanceof SyscallError)) return undefined;
  switch (err.errno) {
    case ERRNO.EMFILE:
      return `the bridge's fd table is full (EMFILE in ${err.syscall})`;
    case ERRNO.ENFILE:
      return `the system's file table is full (ENFILE in ${err.syscall})`;
    case ERRNO.ENOMEM:
      return `the bridge is out of memory (ENOMEM in ${err.syscall})`;
    default:
      return undefined;
  }
}

/**
 * Runs one step of serving `what` (a client request); a shortage of the bridge's
 * becomes a BridgeResourceError naming it, anything else goes up as it is.
 */
export function servingOrShort<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    const shortage = shortageOf(err);
    if (shortage === undefined) throw err;
    throw new BridgeResourceError(what, shortage);
  }
}
