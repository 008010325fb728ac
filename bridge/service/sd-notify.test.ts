// sd_notify without libsystemd: the datagrams a service manager reads from NOTIFY_SOCKET,
// on a path and in the abstract namespace, and nothing at all without one.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { close } from '../../ffi/libc.js';
import { bindDatagramSocket, receiveDatagram } from '../../ffi/unix-datagram.js';
import { silentLogger } from '../log.js';
import { serviceNotifier } from './sd-notify.js';

function drain(fd: number): string[] {
  const got: string[] = [];
  for (let d = receiveDatagram(fd); d !== null; d = receiveDatagram(fd)) got.push(d.toString());
  return got;
}

describe('serviceNotifier', () => {
  it('sends READY, STATUS and STOPPING datagrams to a socket path, and unsets NOTIFY_SOCKET', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-notify-'));
    const path = join(dir, 'notify');
    const fd = bindDatagramSocket(path);
    try {
      const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: path };
      const notifier = serviceNotifier(silentLogger, env);
      expect(env.NOTIFY_SOCKET).toBeUndefined();
      expect(notifier.enabled).toBe(true);
      notifier.ready('serving on gw-0');
      notifier.status('3 clients\nand a newline');
      notifier.stopping('shutting down');
      expect(drain(fd)).toEqual([
        'READY=1\nSTATUS=serving on gw-0\n',
        'STATUS=3 clients and a newline\n',
        'STOPPING=1\nSTATUS=shutting down\n',
      ]);
    } finally {
      close(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('speaks to an abstract socket named with @', () => {
    const name = `@grantway-test-notify-${process.pid}`;
    const fd = bindDatagramSocket(name);
    try {
      serviceNotifier(silentLogger, { NOTIFY_SOCKET: name }).ready('up');
      expect(drain(fd)).toEqual(['READY=1\nSTATUS=up\n']);
    } finally {
      close(fd);
    }
  });

  it('does nothing without NOTIFY_SOCKET, and gives up quietly when nobody listens', () => {
    const off = serviceNotifier(silentLogger, {});
    expect(off.enabled).toBe(false);
    off.ready('up');
    const gone = serviceNotifier(silentLogger, { NOTIFY_SOCKET: '/nonexistent/notify' });
    expect(() => {
      gone.ready('up');
      gone.stopping('down');
    }).not.toThrow();
  });
});
