// Unix datagram sockets, which Node's dgram module lacks (it speaks UDP only): enough to
// send sd_notify(3) messages to a service manager's NOTIFY_SOCKET, and, for tests, to be
// that socket. An address that starts with '@' is in the abstract namespace (systemd's
// convention): the '@' becomes a NUL and the address is exactly as long as the name.

import koffi from 'koffi';
import { SyscallError } from './errors.js';
import { AF_UNIX, close, SOCK_CLOEXEC, SOCK_NONBLOCK, UNIX_PATH_MAX } from './libc.js';

const libc = koffi.load('libc.so.6');
type Fn<A extends unknown[], R> = (...args: A) => R;
const fn = <A extends unknown[], R>(decl: string): Fn<A, R> => libc.func(decl) as Fn<A, R>;
const raw = {
  socket: fn<[number, number, number], number>('int socket(int domain, int type, int protocol)'),
  bind: fn<[number, Buffer, number], number>('int bind(int fd, const void *addr, uint32_t len)'),
  sendto: fn<[number, Buffer, number, number, Buffer, number], number | bigint>(
    'intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)',
  ),
  recv: fn<[number, Buffer, number, number], number | bigint>(
    'intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)',
  ),
};

const SOCK_DGRAM = 2;
const MSG_NOSIGNAL = 0x4000;

/** struct sockaddr_un for a path or an '@abstract' name, with its exact length. */
function address(name: string): { addr: Buffer; length: number } {
  const abstract = name.startsWith('@');
  const bytes = Buffer.from(abstract ? name.slice(1) : name, 'utf8');
  if (bytes.length + (abstract ? 1 : 0) > UNIX_PATH_MAX) {
    throw new SyscallError('sockaddr_un', koffi.os.errno.ENAMETOOLONG ?? 36, name);
  }
  const addr = Buffer.alloc(2 + 108);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, abstract ? 3 : 2);
  // An abstract name is every byte given; a path ends at its NUL.
  return { addr, length: abstract ? 3 + bytes.length : 2 + bytes.length + 1 };
}

function datagramSocket(): number {
  const fd = raw.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new SyscallError('socket', koffi.errno());
  return fd;
}

/** Sends one datagram to the socket at `name` (a path or '@abstract'); never blocks. */
export function sendDatagram(name: string, message: Buffer): void {
  const { addr, length } = address(name);
  const fd = datagramSocket();
  try {
    const sent = Number(raw.sendto(fd, message, message.length, MSG_NOSIGNAL, addr, length));
    if (sent < 0) throw new SyscallError('sendto', koffi.errno(), name);
  } finally {
    close(fd);
  }
}

/** A datagram socket bound at `name`, non-blocking (a NOTIFY_SOCKET for tests). */
export function bindDatagramSocket(name: string): number {
  const { addr, length } = address(name);
  const fd = datagramSocket();
  if (raw.bind(fd, addr, length) < 0) {
    const errno = koffi.errno();
    close(fd);
    throw new SyscallError('bind', errno, name);
  }
  return fd;
}

/** The next datagram waiting on `fd`, or null when none is. */
export function receiveDatagram(fd: number, maxBytes = 4096): Buffer | null {
  const buf = Buffer.alloc(maxBytes);
  const n = Number(raw.recv(fd, buf, maxBytes, 0));
  if (n >= 0) return buf.subarray(0, n);
  const errno = koffi.errno();
  if (errno === koffi.os.errno.EAGAIN || errno === koffi.os.errno.EWOULDBLOCK) return null;
  throw new SyscallError('recv', errno);
}
