// What an fd is, told from fcntl and /proc alone, against real files of each kind; and
// fds whose close the kernel answers are closed at once by releaseFd.

import { existsSync, openSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { answeredLocally, fdKind } from './fd-kind.js';
import { releaseFd } from './fd-release.js';
import { F_SEAL_SHRINK, O_PATH, addSeals, close, memfdCreate, socketPair } from './libc.js';

const isOpen = (fd: number): boolean => existsSync(`/proc/self/fd/${fd}`);

describe('fdKind', () => {
  it('a memfd is memory, with its seals', () => {
    const fd = memfdCreate('gw-kind');
    try {
      addSeals(fd, F_SEAL_SHRINK);
      const kind = fdKind(fd);
      expect(kind).toMatchObject({ kind: 'memory' });
      expect(kind.kind === 'memory' && (kind.seals & F_SEAL_SHRINK) !== 0).toBe(true);
      expect(answeredLocally(kind)).toBe(true);
    } finally {
      close(fd);
    }
  });

  it('a socket, an O_PATH fd, a device and a directory, each on what it is', () => {
    const [a, b] = socketPair();
    const memfd = memfdCreate('gw-kind');
    const path = openSync(`/proc/self/fd/${memfd}`, O_PATH);
    const devNull = openSync('/dev/null', 'r');
    const dir = openSync(tmpdir(), 'r');
    try {
      expect(fdKind(a)).toEqual({ kind: 'socket' });
      expect(fdKind(path)).toEqual({ kind: 'path-only' });
      expect(fdKind(devNull)).toEqual({ kind: 'file', path: '/dev/null', fsType: 'devtmpfs' });
      const dirKind = fdKind(dir);
      expect(dirKind).toMatchObject({ kind: 'file', path: tmpdir() });
      expect(dirKind.kind === 'file' && typeof dirKind.fsType).toBe('string');
      for (const fd of [a, path, devNull]) expect(answeredLocally(fdKind(fd))).toBe(true);
    } finally {
      for (const fd of [a, b, memfd, path, devNull, dir]) close(fd);
    }
  });
});

describe('releaseFd', () => {
  it('closes at once what the kernel answers for (memory, sockets, local files)', () => {
    const before = readdirSync('/proc/self/fd').length;
    const [a, b] = socketPair();
    const fds = [memfdCreate('gw-release'), a, b, openSync('/dev/null', 'r')];
    for (const fd of fds) releaseFd(fd);
    for (const fd of fds) expect(isOpen(fd)).toBe(false);
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });
});
