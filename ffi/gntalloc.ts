// Xen's userspace grant allocator, /dev/xen/gntalloc: the ioctls that grant pages to
// another domain and take them back, and the byte layouts of their argument structs.
// The struct encoders are pure and exported so they can be checked byte for byte on a
// machine without Xen (the ioctls themselves only work inside a Xen domain). Only ffi/
// may import koffi; bridge/grants/gntalloc.ts sees the typed GntallocDevice below.
//
// Facts (x86_64, include/uapi/xen/gntalloc.h; ARCHITECTURE.md §4):
//   IOCTL_GNTALLOC_ALLOC_GREF      0x00184705  _IOC(_IOC_NONE, 'G', 5, 24)
//     struct { u16 domid @0; u16 flags @2; u32 count @4; u64 index @8 (out);
//              u32 gref_ids[1] @16 (out, really [count]) }  sizeof = 24 (4 bytes tail pad)
//   IOCTL_GNTALLOC_DEALLOC_GREF    0x00104706  struct { u64 index @0; u32 count @8 } sizeof 16
//   IOCTL_GNTALLOC_SET_UNMAP_NOTIFY 0x00104707 struct { u64 index @0; u32 action @8;
//                                                      u32 event_channel_port @12 } sizeof 16
// The kernel copies sizeof(struct) = 24 bytes in AND out of the ALLOC_GREF argument
// (the header write covers gref_ids[0]), then count × 4 bytes at offset 16; so the
// argument buffer must be at least max(24, 16 + 4 × count) bytes.
// `index` is a byte offset into the device file: mmap the allocation at offset = index.

import koffi from 'koffi';
import { SyscallError } from './errors.js';
import {
  close as closeFd,
  mmap,
  munmap,
  type NativePointer,
  PROT_READ,
  PROT_WRITE,
} from './libc.js';

export const GNTALLOC_PATH = '/dev/xen/gntalloc';
export const IOCTL_GNTALLOC_ALLOC_GREF = 0x00184705;
export const IOCTL_GNTALLOC_DEALLOC_GREF = 0x00104706;
export const IOCTL_GNTALLOC_SET_UNMAP_NOTIFY = 0x00104707;
export const GNTALLOC_FLAG_WRITABLE = 1;
export const UNMAP_NOTIFY_CLEAR_BYTE = 1;
export const UNMAP_NOTIFY_SEND_EVENT = 2;
/** The xen_gntalloc module parameter `limit`: grants allocatable domain-wide (default). */
export const GNTALLOC_DEFAULT_LIMIT = 1024;
export const GNTALLOC_LIMIT_PATH = '/sys/module/xen_gntalloc/parameters/limit';

const GNTALLOC_PAGE_SIZE = 4096;
/** sizeof(struct ioctl_gntalloc_alloc_gref), gref_ids[1] and tail padding included. */
export const ALLOC_GREF_HEADER_SIZE = 24;
/** offsetof(struct ioctl_gntalloc_alloc_gref, gref_ids). */
export const ALLOC_GREF_IDS_OFFSET = 16;
export const DEALLOC_GREF_SIZE = 16;
export const UNMAP_NOTIFY_SIZE = 16;

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
const U64_MAX = 0xffffffffffffffffn;

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer in [0, ${max}], got ${value}`);
  }
}

function checkU64(name: string, value: bigint): void {
  if (value < 0n || value > U64_MAX) throw new RangeError(`${name} out of u64 range: ${value}`);
}

export interface AllocGrefRequest {
  /** The domain the pages are granted to. */
  readonly domid: number;
  /** GNTALLOC_FLAG_WRITABLE or 0 (read-only grant). */
  readonly flags: number;
  /** Pages (one gref each). */
  readonly count: number;
}

/** Byte size of the ALLOC_GREF argument for `count` grefs (see the header comment). */
export function allocGrefSize(count: number): number {
  return Math.max(ALLOC_GREF_HEADER_SIZE, ALLOC_GREF_IDS_OFFSET + 4 * count);
}

/** struct ioctl_gntalloc_alloc_gref with room for `count` gref_ids (out fields zeroed). */
export function encodeAllocGref(request: AllocGrefRequest): Buffer {
  checkUint('domid', request.domid, U16_MAX);
  checkUint('flags', request.flags, U16_MAX);
  checkUint('count', request.count, U32_MAX);
  if (request.count === 0) throw new RangeError('count must be at least 1');
  const buf = Buffer.alloc(allocGrefSize(request.count));
  buf.writeUInt16LE(request.domid, 0);
  buf.writeUInt16LE(request.flags, 2);
  buf.writeUInt32LE(request.count, 4);
  // index @8 and gref_ids @16 are written by the kernel.
  return buf;
}

export interface GntallocAllocation {
  /** Byte offset of the allocation in the device file (the mmap offset). */
  readonly index: bigint;
  /** One grant reference per page, in page order. */
  readonly refs: readonly number[];
}

/** Reads index and gref_ids back from an ALLOC_GREF argument the kernel filled in. */
export function decodeAllocGref(buf: Buffer, count: number): GntallocAllocation {
  if (buf.length < allocGrefSize(count)) {
    throw new RangeError(`ALLOC_GREF buffer of ${buf.length} bytes is short for ${count} refs`);
  }
  const refs: number[] = [];
  for (let i = 0; i < count; i++) refs.push(buf.readUInt32LE(ALLOC_GREF_IDS_OFFSET + 4 * i));
  return { index: buf.readBigUInt64LE(8), refs };
}

export interface DeallocGrefRequest {
  readonly index: bigint;
  readonly count: number;
}

/** struct ioctl_gntalloc_dealloc_gref { u64 index; u32 count; } + 4 bytes tail padding. */
export function encodeDeallocGref(request: DeallocGrefRequest): Buffer {
  checkU64('index', request.index);
  checkUint('count', request.count, U32_MAX);
  const buf = Buffer.alloc(DEALLOC_GREF_SIZE);
  buf.writeBigUInt64LE(request.index, 0);
  buf.writeUInt32LE(request.count, 8);
  return buf;
}

export interface UnmapNotifyRequest {
  /** Byte offset in the device file: CLEAR_BYTE clears the byte at this offset. */
  readonly index: bigint;
  /** UNMAP_NOTIFY_CLEAR_BYTE | UNMAP_NOTIFY_SEND_EVENT. */
  readonly action: number;
  /** Event channel for SEND_EVENT (ignored otherwise). */
  readonly eventChannelPort: number;
}

/** struct ioctl_gntalloc_unmap_notify { u64 index; u32 action; u32 event_channel_port; }. */
export function encodeUnmapNotify(request: UnmapNotifyRequest): Buffer {
  checkU64('index', request.index);
  checkUint('action', request.action, U32_MAX);
  checkUint('eventChannelPort', request.eventChannelPort, U32_MAX);
  const buf = Buffer.alloc(UNMAP_NOTIFY_SIZE);
  buf.writeBigUInt64LE(request.index, 0);
  buf.writeUInt32LE(request.action, 8);
  buf.writeUInt32LE(request.eventChannelPort, 12);
  return buf;
}

// ---------------------------------------------------------------------------------------
// Native calls (private).

const libc = koffi.load('libc.so.6');
const raw = {
  open: libc.func('int open(const char *path, int flags, uint32_t mode)') as (
    path: string,
    flags: number,
    mode: number,
  ) => number,
  // Declared with a fixed third argument: on x86_64/aarch64 a variadic pointer argument
  // is passed exactly like a fixed one. koffi hands a Buffer's own memory to the kernel,
  // so the kernel's writes land in the Buffer.
  ioctl: libc.func('int ioctl(int fd, unsigned long request, void *arg)') as (
    fd: number,
    request: number,
    arg: Buffer,
  ) => number,
};

const O_RDWR = 0o2;
const O_CLOEXEC = 0o2000000;

/** ioctl(fd, request, arg); SyscallError naming the request on failure. */
export function ioctlBuffer(fd: number, request: number, arg: Buffer, name: string): void {
  if (raw.ioctl(fd, request, arg) < 0) throw new SyscallError(`ioctl(${name})`, koffi.errno());
}

/**
 * One open /dev/xen/gntalloc. Ownership: the device owns its fd until close(); every
 * mapping returned by map() must be unmapped by the caller (a mapping keeps its grefs
 * alive in the kernel even after DEALLOC_GREF and even after close()).
 */
export interface GntallocDevice {
  readonly fd: number;
  /** IOCTL_GNTALLOC_ALLOC_GREF: grants `count` fresh zeroed pages to `domid`. */
  allocGref(request: AllocGrefRequest): GntallocAllocation;
  /**
   * IOCTL_GNTALLOC_DEALLOC_GREF: drops the file's reference. The kernel ends foreign
   * access once no local mapping is left either; refs the remote side still maps go on
   * Linux's deferred-reclaim list (gnttab_end_foreign_access), not back to us.
   */
  deallocGref(request: DeallocGrefRequest): void;
  setUnmapNotify(request: UnmapNotifyRequest): void;
  /** mmap(MAP_SHARED, read-write) of an allocation's pages at offset = index. */
  map(index: bigint, pages: number): NativePointer;
  unmap(ptr: NativePointer, pages: number): void;
  close(): void;
}

/** Opens the device read-write, close-on-exec. Throws SyscallError (ENOENT off Xen). */
export function openGntalloc(path = GNTALLOC_PATH): GntallocDevice {
  const fd = raw.open(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError('open', koffi.errno(), path);
  let open = true;
  return {
    fd,
    allocGref(request) {
      const arg = encodeAllocGref(request);
      ioctlBuffer(fd, IOCTL_GNTALLOC_ALLOC_GREF, arg, 'IOCTL_GNTALLOC_ALLOC_GREF');
      return decodeAllocGref(arg, request.count);
    },
    deallocGref(request) {
      ioctlBuffer(
        fd,
        IOCTL_GNTALLOC_DEALLOC_GREF,
        encodeDeallocGref(request),
        'IOCTL_GNTALLOC_DEALLOC_GREF',
      );
    },
    setUnmapNotify(request) {
      ioctlBuffer(
        fd,
        IOCTL_GNTALLOC_SET_UNMAP_NOTIFY,
        encodeUnmapNotify(request),
        'IOCTL_GNTALLOC_SET_UNMAP_NOTIFY',
      );
    },
    map(index, pages) {
      return mmap(fd, pages * GNTALLOC_PAGE_SIZE, PROT_READ | PROT_WRITE, Number(index));
    },
    unmap(ptr, pages) {
      munmap(ptr, pages * GNTALLOC_PAGE_SIZE);
    },
    close() {
      if (!open) return;
      open = false;
      closeFd(fd);
    },
  };
}
