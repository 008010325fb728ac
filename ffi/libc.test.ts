// The libc bindings against the real kernel: fds really cross sockets, seals really
// hold, errors name the call and the errno.

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyscallError } from './errors.js';
import {
  F_SEAL_SHRINK,
  PROT_READ,
  PROT_WRITE,
  addSeals,
  close,
  fstat,
  ftruncate,
  getSeals,
  isRegularFile,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
  peerCredentials,
  socketPair,
  waitFd,
} from './libc.js';
import { UnixChannel } from './unix-channel.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('libc bindings', () => {
  it('turns a failing call into a SyscallError naming the call and errno', () => {
    let error: unknown;
    try {
      close(-1);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).code).toBe('ERR_SYSCALL');
    expect((error as SyscallError).syscall).toBe('close');
    expect((error as SyscallError).errnoName).toBe('EBADF');
  });

  it('creates, sizes, seals and maps a memfd', () => {
    const fd = memfdCreate('gw-test');
    try {
      ftruncate(fd, 8192);
      const st = fstat(fd);
      expect(st.size).toBe(8192);
      expect(isRegularFile(st)).toBe(true);
      addSeals(fd, F_SEAL_SHRINK);
      expect(getSeals(fd) & F_SEAL_SHRINK).toBe(F_SEAL_SHRINK);
      expect(() => ftruncate(fd, 4096)).toThrow(/EPERM/);
      const ptr = mmap(fd, 8192, PROT_READ | PROT_WRITE);
      const view = nativeView(ptr, 8192);
      view[8191] = 0xab;
      const again = nativeView(mmap(fd, 8192, PROT_READ), 8192);
      expect(again[8191]).toBe(0xab); // same pages, seen through a second mapping
      munmap(ptr, 8192);
    } finally {
      close(fd);
    }
  });

  it('reports the peer of a unix socket (SO_PEERCRED)', () => {
    const [a, b] = socketPair();
    try {
      expect(peerCredentials(a)).toMatchObject({ pid: process.pid, uid: process.getuid!() });
    } finally {
      close(a);
      close(b);
    }
  });

  it('waitFd times out on a silent socket and wakes on data', () => {
    const [a, b] = socketPair();
    const ca = new UnixChannel(a);
    const cb = new UnixChannel(b);
    try {
      expect(waitFd(b, true, false, 10)).toBe(false);
      ca.tx.set([1, 2, 3, 4]);
      ca.send(0, 4);
      expect(waitFd(b, true, false, 1000)).toBe(true);
    } finally {
      ca.close();
      cb.close();
    }
  });
});

describe('UnixChannel', () => {
  it('carries bytes and fds; the receiver gets the same file', () => {
    const before = openFds();
    const [a, b] = socketPair();
    const sender = new UnixChannel(a);
    const receiver = new UnixChannel(b);
    const memfd = memfdCreate('passed');
    try {
      sender.tx.set([9, 8, 7, 6], 0);
      expect(sender.send(0, 4, [memfd, memfd])).toBe(4);
      const fds: number[] = [];
      expect(receiver.recv(0, 100, fds)).toBe(4);
      expect([...receiver.rx.subarray(0, 4)]).toEqual([9, 8, 7, 6]);
      expect(fds).toHaveLength(2);
      for (const fd of fds) {
        expect(fd).not.toBe(memfd);
        expect(fstat(fd).ino).toBe(fstat(memfd).ino);
        close(fd);
      }
      expect(receiver.recv(0, 100, fds)).toBe('again');
    } finally {
      close(memfd);
      sender.close();
      receiver.close();
    }
    expect(openFds()).toBe(before);
  });

  it('reports orderly EOF when the peer closes', () => {
    const [a, b] = socketPair();
    const receiver = new UnixChannel(b);
    close(a);
    expect(receiver.recv(0, 100, [])).toBe('eof');
    receiver.close();
  });

  it('refuses to send more fds than libwayland-server accepts at once', () => {
    const [a, b] = socketPair();
    const sender = new UnixChannel(a);
    try {
      expect(() => sender.send(0, 4, new Array<number>(29).fill(0))).toThrow(RangeError);
    } finally {
      sender.close();
      close(b);
    }
  });

  it('receives every fd of many back-to-back fd-carrying sends', () => {
    const [a, b] = socketPair();
    const sender = new UnixChannel(a);
    const receiver = new UnixChannel(b);
    const memfd = memfdCreate('many');
    try {
      for (let i = 0; i < 10; i++) {
        sender.tx.set([i], 0);
        sender.send(0, 1, new Array<number>(28).fill(memfd));
      }
      // Linux ends a read at each SCM_RIGHTS boundary, so no read can overflow the
      // control buffer and every fd arrives.
      const fds: number[] = [];
      let bytes = 0;
      for (
        let got = receiver.recv(0, 100, fds);
        got !== 'again';
        got = receiver.recv(0, 100, fds)
      ) {
        if (got === 'eof') break;
        bytes += got;
      }
      expect(bytes).toBe(10);
      expect(fds.length).toBe(280);
      for (const fd of fds) close(fd);
    } finally {
      close(memfd);
      sender.close();
      receiver.close();
    }
  });
});
