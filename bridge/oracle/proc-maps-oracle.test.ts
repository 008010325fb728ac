// The /proc oracle on real processes of this machine (our own mappings, a dead pid, a
// process in another pid namespace, a look without permission) and on a fake procfs
// tree holding literal maps text (malformed, empty, foreign /proc).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  close,
  fstat,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  PROT_READ,
  socketPair,
} from '../../ffi/libc.js';
import { commandAvailable } from '../harness/process.js';
import { oracleForPeer, ProcMapsOracle } from './proc-maps-oracle.js';
import type { FileIdentity } from './types.js';

const isRoot = process.getuid?.() === 0;

function memfdFile(): { fd: number; file: FileIdentity } {
  const fd = memfdCreate('gw-oracle-test');
  ftruncate(fd, 4096);
  const { dev, ino } = fstat(fd);
  return { fd, file: { dev, ino } };
}

describe('ProcMapsOracle on this process', () => {
  it('says mapped while a memfd is mapped, unmapped once it is not', () => {
    const oracle = new ProcMapsOracle(process.pid);
    const a = memfdFile();
    const b = memfdFile();
    try {
      expect(oracle.verdicts([a.file, b.file])).toEqual(['unmapped', 'unmapped']);
      const ptr = mmap(a.fd, 4096, PROT_READ);
      expect(oracle.verdicts([a.file, b.file])).toEqual(['mapped', 'unmapped']);
      // The mapping, not the fd, is what counts: closing the fd changes nothing.
      close(a.fd);
      a.fd = -1;
      expect(oracle.verdict(a.file)).toBe('mapped');
      munmap(ptr, 4096);
      expect(oracle.verdict(a.file)).toBe('unmapped');
      expect(oracle.unavailableReason).toBeUndefined();
      expect(oracle.verdicts([])).toEqual([]);
    } finally {
      if (a.fd >= 0) close(a.fd);
      close(b.fd);
    }
  });

  it('oracleForPeer takes the pid from SO_PEERCRED', () => {
    const [x, y] = socketPair();
    try {
      const oracle = oracleForPeer(x);
      expect(oracle.pid).toBe(process.pid);
      expect(oracle.verdict({ dev: 1n, ino: 1n })).toBe('unmapped');
    } finally {
      close(x);
      close(y);
    }
  });

  it('oracleForPeer throws on an fd that is not a socket', () => {
    const { fd } = memfdFile();
    try {
      expect(() => oracleForPeer(fd)).toThrow(/ENOTSOCK/);
    } finally {
      close(fd);
    }
  });
});

describe('ProcMapsOracle says unavailable, never a guess', () => {
  const file = { dev: 1n, ino: 1n };

  it('without a pid (0 from SO_PEERCRED: the peer is in a namespace we cannot see)', () => {
    for (const pid of [undefined, 0, -5]) {
      const oracle = new ProcMapsOracle(pid);
      expect(oracle.pid).toBeUndefined();
      expect(oracle.verdicts([file, file])).toEqual(['unavailable', 'unavailable']);
      expect(oracle.unavailableReason).toBe('no-pid');
    }
  });

  it('for a process that has exited', () => {
    const child = spawnSync('true');
    expect(child.pid).toBeGreaterThan(0);
    const oracle = new ProcMapsOracle(child.pid);
    expect(oracle.verdict(file)).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('gone');
  });

  it('for a process that exits after the oracle was made', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const oracle = new ProcMapsOracle(child.pid);
    expect(oracle.verdict(file)).toBe('unmapped');
    child.kill('SIGKILL');
    await exited;
    expect(oracle.verdict(file)).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('gone');
  });

  it.skipIf(!isRoot || !commandAvailable('unshare'))(
    'for a process in another pid namespace (needs root and unshare)',
    async () => {
      const outer = spawn('unshare', ['--pid', '--fork', 'sleep', '30'], { stdio: 'ignore' });
      const exited = new Promise((resolve) => outer.once('exit', resolve));
      try {
        const childrenPath = `/proc/${outer.pid}/task/${outer.pid}/children`;
        let inner = '';
        for (let i = 0; i < 200 && inner === ''; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          inner = existsSync(childrenPath) ? readFileSync(childrenPath, 'utf8').trim() : '';
        }
        expect(inner).toMatch(/^[0-9]+$/);
        const oracle = new ProcMapsOracle(Number(inner));
        expect(oracle.verdict(file)).toBe('unavailable');
        expect(oracle.unavailableReason).toBe('other-pid-namespace');
      } finally {
        outer.kill('SIGKILL');
        await exited;
      }
    },
  );

  const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
  it.skipIf(!isRoot || !commandAvailable('setpriv') || !existsSync(tsx))(
    'when /proc/PID/maps is not readable (EACCES; runs a look as nobody; needs root)',
    () => {
      const module = fileURLToPath(new URL('./proc-maps-oracle.ts', import.meta.url));
      const script =
        `import(${JSON.stringify(module)}).then((m) => { const o = new m.ProcMapsOracle(${process.pid});` +
        ` console.log(JSON.stringify([o.verdict({ dev: 1n, ino: 1n }), o.unavailableReason])); })`;
      const out = execFileSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', tsx, '-e', script],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 },
      );
      expect(JSON.parse(out.trim().split('\n').pop() ?? '')).toEqual([
        'unavailable',
        'no-permission',
      ]);
    },
  );
});

describe('ProcMapsOracle on a fake procfs', () => {
  let root = '';
  afterEach(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true });
    root = '';
  });

  /** A procfs tree where /self is us and `pid` has the given maps and ns link. */
  function fakeProc(pid: number, maps: string, ns = 'pid:[4026531836]'): string {
    root = mkdtempSync(join(tmpdir(), 'gw-fake-proc-'));
    symlinkSync(String(process.pid), join(root, 'self'));
    for (const p of new Set([process.pid, pid])) {
      mkdirSync(join(root, String(p), 'ns'), { recursive: true });
      symlinkSync(p === pid ? ns : 'pid:[4026531836]', join(root, String(p), 'ns', 'pid'));
    }
    writeFileSync(join(root, String(pid), 'maps'), maps);
    return root;
  }

  const memfdLine = '7f00-7f08 rw-s 00000000 00:01 1224 /memfd:wayland-shm (deleted)\n';

  it('reads the maps text it is given', () => {
    const oracle = new ProcMapsOracle(4242, { procRoot: fakeProc(4242, memfdLine) });
    expect(
      oracle.verdicts([
        { dev: 1n, ino: 1224n },
        { dev: 1n, ino: 1225n },
      ]),
    ).toEqual(['mapped', 'unmapped']);
  });

  it('unparsable text', () => {
    const oracle = new ProcMapsOracle(4242, { procRoot: fakeProc(4242, `${memfdLine}junk\n`) });
    expect(oracle.verdict({ dev: 1n, ino: 1224n })).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('unparsable');
  });

  it('empty maps (a zombie: exited, not yet reaped)', () => {
    const oracle = new ProcMapsOracle(4242, { procRoot: fakeProc(4242, '') });
    expect(oracle.verdict({ dev: 1n, ino: 1224n })).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('gone');
  });

  it('a process in another pid namespace', () => {
    const procRoot = fakeProc(4242, memfdLine, 'pid:[4026532999]');
    const oracle = new ProcMapsOracle(4242, { procRoot });
    expect(oracle.verdict({ dev: 1n, ino: 1224n })).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('other-pid-namespace');
  });

  it('a /proc that is not our pid namespace’s (/proc/self is not us)', () => {
    const procRoot = fakeProc(4242, memfdLine);
    rmSync(join(procRoot, 'self'));
    symlinkSync('1', join(procRoot, 'self'));
    const oracle = new ProcMapsOracle(4242, { procRoot });
    expect(oracle.verdict({ dev: 1n, ino: 1224n })).toBe('unavailable');
    expect(oracle.unavailableReason).toBe('foreign-proc');
  });

  it('maps bigger than the read buffer are read whole', () => {
    const filler = '7f00-7f01 r--p 00000000 fe:00 99 /usr/lib/x.so\n'.repeat(4000);
    const oracle = new ProcMapsOracle(4242, { procRoot: fakeProc(4242, filler + memfdLine) });
    expect(oracle.verdict({ dev: 1n, ino: 1224n })).toBe('mapped');
  });
});
