// A client's wl_shm pool file as tests make one: a memfd of `size` bytes, sealed against
// shrinking unless asked not to (as real clients seal theirs, so grant mode maps it
// rather than preads it), and mapped read-write for drawing. One place for the calls
// that make it and undo it.

import {
  F_SEAL_SHRINK,
  PROT_READ,
  PROT_WRITE,
  addSeals,
  close as closeFd,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
} from '../../ffi/libc.js';

export class PoolFile {
  readonly fd: number;
  /** The file's bytes, as the client draws them (valid until close). */
  readonly bytes: Uint8Array;
  private readonly ptr: bigint;

  constructor(
    readonly size: number,
    { sealed = true, name = 'grantway-pool' }: { sealed?: boolean; name?: string } = {},
  ) {
    this.fd = memfdCreate(name);
    ftruncate(this.fd, size);
    if (sealed) addSeals(this.fd, F_SEAL_SHRINK);
    this.ptr = mmap(this.fd, size, PROT_READ | PROT_WRITE);
    this.bytes = nativeView(this.ptr, size);
  }

  close(): void {
    munmap(this.ptr, this.size);
    closeFd(this.fd);
  }
}
