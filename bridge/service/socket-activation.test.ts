// The socket activation protocol's parsing (sd_listen_fds(3)) and the adoption of an
// inherited socket: only a listening unix stream socket is taken, its file is left to
// whoever made it, and its lock file is held while it serves unless another holds it.

import { describe, expect, it } from 'vitest';
import {
  close,
  connectUnix,
  memfdCreate,
  socketPair,
  unixSocket,
  bindUnix,
  listen,
} from '../../ffi/libc.js';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryLockExclusive } from '../../ffi/libc.js';
import { WaylandListener } from '../relay/listener.js';
import {
  forgetListenFds,
  listenFds,
  pickWaylandSocket,
  SocketActivationError,
  takePassedWaylandSocket,
} from './socket-activation.js';

describe('listenFds', () => {
  it('takes the fds from 3 on when LISTEN_PID is this process', () => {
    expect(listenFds({ LISTEN_PID: '42', LISTEN_FDS: '2' }, 42)).toEqual([
      { fd: 3, name: 'unknown' },
      { fd: 4, name: 'unknown' },
    ]);
    expect(
      listenFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'x11:wayland' }, 42),
    ).toEqual([
      { fd: 3, name: 'x11' },
      { fd: 4, name: 'wayland' },
    ]);
  });

  it('ignores sockets meant for another process, or none passed', () => {
    expect(listenFds({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42)).toBeUndefined();
    expect(listenFds({ LISTEN_FDS: '1' }, 42)).toBeUndefined();
    expect(listenFds({}, 42)).toBeUndefined();
    expect(listenFds({ LISTEN_PID: 'x', LISTEN_FDS: '1' }, 42)).toBeUndefined();
  });

  it('refuses a LISTEN_FDS that is not a number', () => {
    expect(() => listenFds({ LISTEN_PID: '42', LISTEN_FDS: 'many' }, 42)).toThrow(
      SocketActivationError,
    );
  });

  it('forgetListenFds clears the variables for children', () => {
    const env = { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'wayland', KEEP: 'yes' };
    forgetListenFds(env);
    expect(env).toEqual({ KEEP: 'yes' });
  });
});

describe('pickWaylandSocket', () => {
  it('takes the one named wayland, or the only one', () => {
    expect(pickWaylandSocket([{ fd: 3, name: 'unknown' }])).toBe(3);
    const [a, b] = socketPair();
    expect(
      pickWaylandSocket([
        { fd: a, name: 'other' },
        { fd: b, name: 'wayland' },
      ]),
    ).toBe(b);
    close(b); // `a` was closed by pickWaylandSocket: closing it again must fail
    expect(() => close(a)).toThrow(/EBADF/);
  });

  it('refuses several unnamed sockets', () => {
    expect(() =>
      pickWaylandSocket([
        { fd: 3, name: 'unknown' },
        { fd: 4, name: 'unknown' },
      ]),
    ).toThrow(/none named "wayland"/);
  });
});

describe('takePassedWaylandSocket', () => {
  it('takes the socket meant for this process and clears the variables either way', () => {
    const env = { LISTEN_PID: '42', LISTEN_FDS: '1', LISTEN_FDNAMES: 'wayland' };
    expect(takePassedWaylandSocket(env, 42)).toBe(3);
    expect(env).toEqual({});
    const other = { LISTEN_PID: '41', LISTEN_FDS: '1' };
    expect(takePassedWaylandSocket(other, 42)).toBeUndefined();
    expect(other).toEqual({});
  });
});

describe('WaylandListener.adopt', () => {
  const listening = (path: string): number => {
    const fd = unixSocket();
    bindUnix(fd, path);
    listen(fd);
    return fd;
  };

  it('accepts on a listening unix socket it was given, and knows its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-activation-'));
    const path = join(dir, 'wayland-x');
    const fd = listening(path);
    const accepted: number[] = [];
    const listener = WaylandListener.adopt(fd, (client) => accepted.push(client));
    try {
      expect(listener.path).toBe(path);
      const client = connectUnix(path);
      for (let i = 0; i < 100 && accepted.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(accepted).toHaveLength(1);
      close(client);
      for (const a of accepted) close(a);
    } finally {
      listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds NAME.lock while it serves, then removes it, and leaves the socket file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-activation-'));
    const path = join(dir, 'wayland-x');
    const listener = WaylandListener.adopt(listening(path), () => undefined);
    try {
      expect(listener.holdsLock).toBe(true);
      // A second server finds the name taken, as libwayland's would.
      const probe = openSync(`${path}.lock`, constants.O_RDWR);
      expect(tryLockExclusive(probe)).toBe(false);
      closeSync(probe);
      listener.close();
      expect(existsSync(`${path}.lock`)).toBe(false);
      expect(existsSync(path)).toBe(true); // the supervisor's to remove
    } finally {
      listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves when the process that made the socket holds the lock, and leaves it alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-activation-'));
    const path = join(dir, 'wayland-x');
    const lock = openSync(`${path}.lock`, constants.O_CREAT | constants.O_RDWR, 0o660);
    expect(tryLockExclusive(lock)).toBe(true);
    const held: string[] = [];
    const listener = WaylandListener.adopt(listening(path), () => undefined, {
      onLockHeld: (p) => held.push(p),
    });
    try {
      expect(listener.holdsLock).toBe(false);
      expect(held).toEqual([`${path}.lock`]);
      listener.close();
      expect(existsSync(`${path}.lock`)).toBe(true);
    } finally {
      listener.close();
      closeSync(lock);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses anything else: a connected socket, a memfd', () => {
    const [a, b] = socketPair();
    const m = memfdCreate('not-a-socket');
    try {
      expect(() => WaylandListener.adopt(a, () => undefined)).toThrow(SocketActivationError);
      expect(() => WaylandListener.adopt(m, () => undefined)).toThrow(/not a listening/);
    } finally {
      for (const fd of [a, b, m]) close(fd);
    }
  });
});
