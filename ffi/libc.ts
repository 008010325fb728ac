// The few libc calls Node does not offer (unix sockets that carry fds, memfd, mmap,
// seals, peer credentials, flock), bound with koffi and wrapped in typed functions.
// Every failure becomes a SyscallError naming the call and the errno; callers never
// see koffi types or raw return codes. Only ffi/ may import koffi.

import koffi from 'koffi';
import { SyscallError } from './errors.js';

const libc = koffi.load('libc.so.6');

/** A native address, as koffi 3 represents pointers. */
export type NativePointer = bigint;

// Raw bindings, each given its C signature for koffi and its TS signature here, so no
// koffi `any` leaves this block. Kept private: the typed wrappers below are the surface.
type Fn<A extends unknown[], R> = (...args: A) => R;
type Ptr = NativePointer | Buffer | null;
const fn = <A extends unknown[], R>(decl: string): Fn<A, R> => libc.func(decl) as Fn<A, R>;
const raw = {
  socket: fn<[number, number, number], number>('int socket(int domain, int type, int protocol)'),
  socketpair: fn<[number, number, number, number[]], number>(
    'int socketpair(int domain, int type, int protocol, _Out_ int *sv)',
  ),
  bind: fn<[number, Buffer, number], number>('int bind(int fd, const void *addr, uint32_t len)'),
  listen: fn<[number, number], number>('int listen(int fd, int backlog)'),
  accept4: fn<[number, null, null, number], number>(
    'int accept4(int fd, void *addr, void *len, int flags)',
  ),
  connect: fn<[number, Buffer, number], number>(
    'int connect(int fd, const void *addr, uint32_t len)',
  ),
  getsockopt: fn<[number, number, number, Buffer, number[]], number>(
    'int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)',
  ),
  getsockname: fn<[number, Buffer, number[]], number>(
    'int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *len)',
  ),
  recvmsg: fn<[number, NativePointer, number], number | bigint>(
    'intptr_t recvmsg(int fd, void *msg, int flags)',
  ),
  sendmsg: fn<[number, NativePointer, number], number | bigint>(
    'intptr_t sendmsg(int fd, void *msg, int flags)',
  ),
  close: fn<[number], number>('int close(int fd)'),
  shutdown: fn<[number, number], number>('int shutdown(int fd, int how)'),
  fcntl: fn<[number, number, number], number>('int fcntl(int fd, int cmd, int arg)'),
  flock: fn<[number, number], number>('int flock(int fd, int op)'),
  memfdCreate: fn<[string, number], number>(
    'int memfd_create(const char *name, unsigned int flags)',
  ),
  ftruncate: fn<[number, number], number>('int ftruncate(int fd, int64_t length)'),
  fstat: fn<[number, Buffer], number>('int fstat(int fd, _Out_ uint8_t *statbuf)'),
  mmap: fn<[null, number, number, number, number, number], NativePointer | null>(
    'void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)',
  ),
  munmap: fn<[NativePointer, number], number>('int munmap(void *addr, size_t len)'),
  mmapAt: fn<[NativePointer | null, number, number, number, number, number], NativePointer | null>(
    'void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)',
  ),
  malloc: fn<[number], NativePointer | null>('void *malloc(size_t size)'),
  free: fn<[NativePointer], void>('void free(void *ptr)'),
  pread: fn<[number, NativePointer, number, number], number | bigint>(
    'intptr_t pread(int fd, void *buf, size_t count, int64_t off)',
  ),
  fallocate: fn<[number, number, number, number], number>(
    'int fallocate(int fd, int mode, int64_t off, int64_t len)',
  ),
  lseek: fn<[number, number, number], number | bigint>(
    'int64_t lseek(int fd, int64_t off, int whence)',
  ),
  memcpy: fn<[Ptr, Ptr, number], unknown>('void *memcpy(void *dst, const void *src, size_t n)'),
  memcpyAt: fn<[number, number, number], unknown>(
    'uintptr_t memcpy(uintptr_t dst, uintptr_t src, size_t n)',
  ),
  gettid: fn<[], number>('int gettid(void)'),
  setpriority: fn<[number, number, number], number>(
    'int setpriority(int which, int who, int prio)',
  ),
  poll: fn<[Buffer, number, number], number>(
    'int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)',
  ),
};

// Linux x86_64 / aarch64 constants (asm-generic values; both ABIs agree on these).
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SCM_RIGHTS = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CTRUNC = 0x8;
export const MSG_CMSG_CLOEXEC = 0x40000000;
const F_DUPFD_CLOEXEC = 1030;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const F_SETSIG = 10;
const F_SETLEASE = 1024;
const F_WRLCK = 1;
const F_UNLCK = 2;
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_PATH = 0o10000000;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;

/** sun_path is 108 bytes in struct sockaddr_un, NUL included. */
export const UNIX_PATH_MAX = 107;

export const errnoNow = (): number => koffi.errno();

function fail(syscall: string, detail?: string): never {
  throw new SyscallError(syscall, koffi.errno(), detail);
}

function check(ret: number, syscall: string, detail?: string): number {
  if (ret < 0) fail(syscall, detail);
  return ret;
}

function sockaddrUn(path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length > UNIX_PATH_MAX) {
    throw new SyscallError('sockaddr_un', koffi.os.errno.ENAMETOOLONG ?? 36, path);
  }
  const addr = Buffer.alloc(2 + 108);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return addr;
}

/** A non-blocking, close-on-exec unix stream socket. */
export function unixSocket(): number {
  return check(raw.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 'socket');
}

/** Both ends non-blocking and close-on-exec. */
export function socketPair(): [number, number] {
  const sv = [0, 0];
  check(raw.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 'socketpair');
  return [sv[0] as number, sv[1] as number];
}

export function bindUnix(fd: number, path: string): void {
  const addr = sockaddrUn(path);
  check(raw.bind(fd, addr, addr.length), 'bind', path);
}

export function listen(fd: number, backlog = 128): void {
  check(raw.listen(fd, backlog), 'listen');
}

/**
 * Accepts one pending connection, or returns null when none is waiting. Every other
 * failure is a SyscallError whose errno the caller judges: some cost only the one
 * connection (ECONNABORTED), some mean the process is out of fds (EMFILE, ENFILE) or
 * memory (ENOBUFS, ENOMEM) and leave the connection waiting.
 */
export function accept(fd: number): number | null {
  for (;;) {
    const ret = raw.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (ret >= 0) return ret;
    const errno = koffi.errno();
    if (errno === koffi.os.errno.EAGAIN || errno === koffi.os.errno.EWOULDBLOCK) return null;
    if (errno !== koffi.os.errno.EINTR) fail('accept4');
  }
}

/**
 * Connects a fresh socket to a unix path. The connect itself blocks (it is immediate
 * for a local listener with room in its backlog); the returned fd is non-blocking.
 */
export function connectUnix(path: string): number {
  const fd = check(raw.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 'socket');
  const addr = sockaddrUn(path);
  if (raw.connect(fd, addr, addr.length) < 0) {
    const errno = koffi.errno();
    raw.close(fd);
    throw new SyscallError('connect', errno, path);
  }
  setNonBlocking(fd);
  return fd;
}

const SHUT_WR = 1;

/**
 * Half-closes a connected socket: the peer reads EOF once it has read what was sent,
 * and can still write back. False when the peer is gone already (ENOTCONN).
 */
export function shutdownWrite(fd: number): boolean {
  if (raw.shutdown(fd, SHUT_WR) === 0) return true;
  if (koffi.errno() === (koffi.os.errno.ENOTCONN ?? 107)) return false;
  fail('shutdown');
}

export function setNonBlocking(fd: number): void {
  const flags = check(raw.fcntl(fd, F_GETFL, 0), 'fcntl(F_GETFL)');
  check(raw.fcntl(fd, F_SETFL, flags | O_NONBLOCK), 'fcntl(F_SETFL)');
}

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** SO_PEERCRED: who is on the other end of a connected unix socket. */
export function peerCredentials(fd: number): PeerCredentials {
  const buf = Buffer.alloc(12);
  const len = [12];
  check(raw.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len), 'getsockopt(SO_PEERCRED)');
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

const SO_TYPE = 3;
const SO_ACCEPTCONN = 30;
const SO_DOMAIN = 39;

function intOption(fd: number, name: number, what: string): number {
  const buf = Buffer.alloc(4);
  check(raw.getsockopt(fd, SOL_SOCKET, name, buf, [4]), `getsockopt(${what})`);
  return buf.readInt32LE(0);
}

/** Whether `fd` is a unix stream socket in the listening state (an inherited one, say). */
export function isListeningUnixSocket(fd: number): boolean {
  try {
    return (
      intOption(fd, SO_DOMAIN, 'SO_DOMAIN') === AF_UNIX &&
      intOption(fd, SO_TYPE, 'SO_TYPE') === SOCK_STREAM &&
      intOption(fd, SO_ACCEPTCONN, 'SO_ACCEPTCONN') === 1
    );
  } catch (err) {
    if (err instanceof SyscallError) return false; // not a socket, or not open
    throw err;
  }
}

/** The filesystem path a unix socket is bound to ('' when unnamed or abstract). */
export function boundPath(fd: number): string {
  const addr = Buffer.alloc(2 + 108);
  const len = [addr.length];
  check(raw.getsockname(fd, addr, len), 'getsockname');
  const path = addr.subarray(2, Math.min(len[0] ?? 2, addr.length));
  const end = path.indexOf(0);
  return end === 0 ? '' : path.subarray(0, end < 0 ? path.length : end).toString('utf8');
}

/** Sets FD_CLOEXEC (an inherited fd must not leak into this process's children). */
export function setCloseOnExec(fd: number): void {
  check(raw.fcntl(fd, F_SETFD, FD_CLOEXEC), 'fcntl(F_SETFD)');
}

export function close(fd: number): void {
  // EINTR on close still releases the fd on Linux; any other error means a bug
  // (EBADF: closed twice), which must be loud.
  if (raw.close(fd) < 0 && koffi.errno() !== koffi.os.errno.EINTR) fail('close');
}

/** A new close-on-exec fd for the same open file description. */
export function dupCloexec(fd: number): number {
  return check(raw.fcntl(fd, F_DUPFD_CLOEXEC, 0), 'fcntl(F_DUPFD_CLOEXEC)');
}

/** flock(LOCK_EX | LOCK_NB); false when another process holds the lock. */
export function tryLockExclusive(fd: number): boolean {
  if (raw.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  if (koffi.errno() === koffi.os.errno.EWOULDBLOCK) return false;
  fail('flock');
}

export function memfdCreate(name: string, flags = MFD_CLOEXEC | MFD_ALLOW_SEALING): number {
  return check(raw.memfdCreate(name, flags), 'memfd_create', name);
}

export function ftruncate(fd: number, length: number): void {
  check(raw.ftruncate(fd, length), 'ftruncate');
}

export function getSeals(fd: number): number {
  return check(raw.fcntl(fd, F_GET_SEALS, 0), 'fcntl(F_GET_SEALS)');
}

/**
 * The seals of a file that can carry them — a shmem file (memfd, tmpfs, shm_open) or a
 * hugetlbfs one — or undefined for any other file (EINVAL), or an O_PATH fd (EBADF).
 * fcntl answers from the open file itself: unlike fstat it never asks the file's
 * filesystem (a FUSE server) anything, so it cannot block.
 */
export function sealsIfMemoryFile(fd: number): number | undefined {
  const seals = raw.fcntl(fd, F_GET_SEALS, 0);
  if (seals >= 0) return seals;
  const errno = koffi.errno();
  if (errno === koffi.os.errno.EINVAL || errno === koffi.os.errno.EBADF) return undefined;
  fail('fcntl(F_GET_SEALS)');
}

/** fcntl(F_GETFL): the open file's access mode (O_ACCMODE) and status flags (O_PATH…). */
export function fileStatusFlags(fd: number): number {
  return check(raw.fcntl(fd, F_GETFL, 0), 'fcntl(F_GETFL)');
}

export function addSeals(fd: number, seals: number): void {
  check(raw.fcntl(fd, F_ADD_SEALS, seals), 'fcntl(F_ADD_SEALS)');
}

/**
 * Asks for a write lease on `fd`'s file (fcntl F_SETLEASE F_WRLCK). The kernel grants one
 * only while no other open file description of the file exists, whoever holds it and
 * however (an fd in any process, a mapping, an fd in flight in a socket). True: granted,
 * and the caller must give it back with releaseLease at once (while held, anyone opening
 * the file blocks until it is released); false: another open file description exists
 * (EAGAIN). Other failures throw: EINVAL (leases disabled, or a file system without
 * them), EACCES (not the file's owner), EBADF.
 */
export function tryWriteLease(fd: number): boolean {
  if (raw.fcntl(fd, F_SETLEASE, F_WRLCK) === 0) return true;
  if (koffi.errno() === koffi.os.errno.EAGAIN) return false;
  fail('fcntl(F_SETLEASE)');
}

export function releaseLease(fd: number): void {
  check(raw.fcntl(fd, F_SETLEASE, F_UNLCK), 'fcntl(F_SETLEASE, F_UNLCK)');
}

/** SIGURG: ignored unless handled; the signal a lease break is sent with (leaseBreakSignal). */
export const SIGURG = 23;

/**
 * The signal sent to this process when someone breaks a lease taken through `fd`
 * (fcntl F_SETSIG; the default, SIGIO, would terminate a Node process).
 */
export function setLeaseBreakSignal(fd: number, signal: number): void {
  check(raw.fcntl(fd, F_SETSIG, signal), 'fcntl(F_SETSIG)');
}

export interface FileStat {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: number;
  readonly size: number;
  /** Bytes of storage the file holds (st_blocks × 512): a sparse file's data pages. */
  readonly allocated: number;
}

const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFSOCK = 0o140000;

/** fstat, x86_64 struct stat layout (dev@0, ino@8, mode@24, size@48, blocks@64). */
export function fstat(fd: number): FileStat {
  const buf = Buffer.alloc(144);
  check(raw.fstat(fd, buf), 'fstat');
  return {
    dev: buf.readBigUInt64LE(0),
    ino: buf.readBigUInt64LE(8),
    mode: buf.readUInt32LE(24),
    size: Number(buf.readBigInt64LE(48)),
    allocated: Number(buf.readBigInt64LE(64)) * 512,
  };
}

export const isRegularFile = (st: FileStat): boolean => (st.mode & S_IFMT) === S_IFREG;

/** fstat's buffer for isFile (calls are synchronous, on one thread). */
const statScratch = Buffer.alloc(144);

/** Whether `fd` is the file (dev, ino): fstat without allocating (the oracle's hot path). */
export function isFile(fd: number, dev: bigint, ino: bigint): boolean {
  check(raw.fstat(fd, statScratch), 'fstat');
  return statScratch.readBigUInt64LE(0) === dev && statScratch.readBigUInt64LE(8) === ino;
}

/**
 * Whether every page of the file holds storage (st_blocks covers its size rounded up
 * to pages): a file with no holes, whose holes need no looking for. Without
 * allocating (asked on every grant-mode copy).
 */
export function hasNoHoles(fd: number): boolean {
  check(raw.fstat(fd, statScratch), 'fstat');
  const size = Number(statScratch.readBigInt64LE(48));
  const allocated = Number(statScratch.readBigInt64LE(64)) * 512;
  return allocated >= Math.ceil(size / 4096) * 4096;
}

export function mmap(fd: number, length: number, prot: number, offset = 0): NativePointer {
  const ptr = raw.mmap(null, length, prot, MAP_SHARED, fd, offset);
  if (ptr === null || ptr === MAP_FAILED) fail('mmap');
  return ptr;
}

const MAP_PRIVATE = 2;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
export const PROT_NONE = 0;

/**
 * Reserves `length` bytes of address space (inaccessible, no memory behind it), to be
 * filled with mmapAt; unmapped as a whole with munmap.
 */
export function reserveAddressSpace(length: number): NativePointer {
  const ptr = raw.mmapAt(null, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ptr === null || ptr === MAP_FAILED) fail('mmap(reserve)');
  return ptr;
}

/** Maps `fd` (shared) exactly at `addr`, replacing what was there (MAP_FIXED). */
export function mmapAt(
  addr: NativePointer,
  length: number,
  prot: number,
  fd: number,
  offset = 0,
): void {
  const ptr = raw.mmapAt(addr, length, prot, MAP_SHARED | MAP_FIXED, fd, offset);
  if (ptr === null || ptr === MAP_FAILED) fail('mmap(fixed)');
}

export function munmap(ptr: NativePointer, length: number): void {
  check(raw.munmap(ptr, length), 'munmap');
}

/** pread into native memory; a short count (0 past EOF) is returned, never a signal. */
export function preadInto(fd: number, dst: NativePointer, length: number, offset: number): number {
  return check(Number(raw.pread(fd, dst, length, offset)), 'pread');
}

const PRIO_PROCESS = 0;

/**
 * Gives the calling thread (not the whole process: Linux keeps a nice value per
 * thread) the nice value `nice`: background work that must yield to the event loop.
 */
export function setThreadNice(nice: number): void {
  check(raw.setpriority(PRIO_PROCESS, raw.gettid(), nice), 'setpriority');
}

const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;

/**
 * Deallocates [offset, offset + length) of a file without changing its size
 * (fallocate PUNCH_HOLE | KEEP_SIZE): reads of the range then give zeros, and a shmem
 * file gives its pages back. Whole pages go; the partial pages at either end are zeroed.
 * Allowed on a memfd sealed F_SEAL_SHRINK (only F_SEAL_WRITE forbids it).
 */
export function punchHole(fd: number, offset: number, length: number): void {
  if (length <= 0) return;
  check(raw.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length), 'fallocate');
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * lseek(SEEK_DATA) / lseek(SEEK_HOLE): the first byte at or after `offset` that is data
 * (resp. in a hole; the end of the file counts as a hole); undefined for SEEK_DATA when
 * only holes follow (ENXIO). Moves the file offset of the open file description: use it
 * only on a description nobody else shares. Filesystems without hole tracking
 * (hugetlbfs) answer that the whole file is data.
 */
export function seekData(fd: number, offset: number, whence: 'data' | 'hole'): number | undefined {
  const at = Number(raw.lseek(fd, offset, whence === 'data' ? SEEK_DATA : SEEK_HOLE));
  if (at >= 0) return at;
  if (koffi.errno() === ERRNO.ENXIO) return undefined;
  fail(whence === 'data' ? 'lseek(SEEK_DATA)' : 'lseek(SEEK_HOLE)');
}

export function memcpy(dst: NativePointer, src: NativePointer, length: number): void {
  raw.memcpy(dst, src, length);
}

/**
 * memcpy between addresses given as numbers (user-space addresses fit in 47 bits):
 * no BigInt per call, for copies made row by row.
 */
export function memcpyAt(dst: number, src: number, length: number): void {
  raw.memcpyAt(dst, src, length);
}

/** Native heap memory, for structures the kernel reads and writes (msghdr, cmsg). */
export function nativeAlloc(size: number): NativePointer {
  const ptr = raw.malloc(size);
  if (ptr === null || ptr === 0n) throw new SyscallError('malloc', koffi.os.errno.ENOMEM ?? 12);
  return ptr;
}

export function nativeFree(ptr: NativePointer): void {
  raw.free(ptr);
}

/** A zero-copy view of native memory; it dangles once the memory is freed. */
export function nativeView(ptr: NativePointer, length: number): Uint8Array {
  return new Uint8Array(koffi.view(ptr, length));
}

/** recvmsg/sendmsg on a prepared msghdr in native memory; -errno on failure. */
export function recvmsgRaw(fd: number, msghdr: NativePointer, flags: number): number {
  const n = Number(raw.recvmsg(fd, msghdr, flags));
  return n < 0 ? -koffi.errno() : n;
}

export function sendmsgRaw(fd: number, msghdr: NativePointer, flags: number): number {
  const n = Number(raw.sendmsg(fd, msghdr, flags));
  return n < 0 ? -koffi.errno() : n;
}

const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLHUP = 0x10;

/**
 * Whether the peer of a connected stream socket has closed both ways (POLLHUP), as
 * opposed to having only shut down its writing (a half-close: EOF, but it still reads).
 */
export function hungUp(fd: number): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  for (;;) {
    const n = raw.poll(pfd, 1, 0);
    if (n >= 0) return (pfd.readInt16LE(6) & POLLHUP) !== 0;
    if (koffi.errno() !== koffi.os.errno.EINTR) fail('poll');
  }
}

/**
 * Blocks the calling thread until fd is ready or timeoutMs passes (poll(2)); for
 * benchmark clients and tools that must not measure the event loop. False on timeout.
 */
export function waitFd(
  fd: number,
  readable: boolean,
  writable: boolean,
  timeoutMs: number,
): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE((readable ? POLLIN : 0) | (writable ? POLLOUT : 0), 4);
  for (;;) {
    const n = raw.poll(pfd, 1, timeoutMs);
    if (n >= 0) return n > 0;
    if (koffi.errno() !== koffi.os.errno.EINTR) fail('poll');
  }
}

export const ERRNO = {
  EAGAIN: koffi.os.errno.EAGAIN ?? 11,
  EINTR: koffi.os.errno.EINTR ?? 4,
  EPIPE: koffi.os.errno.EPIPE ?? 32,
  ECONNRESET: koffi.os.errno.ECONNRESET ?? 104,
  ENOENT: koffi.os.errno.ENOENT ?? 2,
  ECONNREFUSED: koffi.os.errno.ECONNREFUSED ?? 111,
  EADDRINUSE: koffi.os.errno.EADDRINUSE ?? 98,
  EMFILE: koffi.os.errno.EMFILE ?? 24,
  ENFILE: koffi.os.errno.ENFILE ?? 23,
  ENOBUFS: koffi.os.errno.ENOBUFS ?? 105,
  ENOMEM: koffi.os.errno.ENOMEM ?? 12,
  EPERM: koffi.os.errno.EPERM ?? 1,
  EPROTO: koffi.os.errno.EPROTO ?? 71,
  ECONNABORTED: koffi.os.errno.ECONNABORTED ?? 103,
  ENXIO: koffi.os.errno.ENXIO ?? 6,
} as const;
