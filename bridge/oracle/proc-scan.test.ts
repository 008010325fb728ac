// The /proc walk on a fake procfs tree (literal maps texts, fd links to real files, the
// environment files), and once for real as an unprivileged user: every way it must say
// 'unavailable' rather than 'unmapped', and the odd processes it must read right.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { close, fstat, ftruncate, memfdCreate } from '../../ffi/libc.js';
import { commandAvailable } from '../../harness/real/process.js';
import { fileKey } from './maps.js';
import { ProcScanner, type ScanItem, type ScanVerdict } from './proc-scan.js';
import type { FileIdentity } from './types.js';

const MOUNTINFO = '22 27 0:21 / /proc rw,relatime - proc proc rw\n';
const STATUS = 'Name:\tnode\nCapEff:\t0000000000000000\n';

let root = '';
let memfd = -1;
let file: FileIdentity;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gw-fake-proc-'));
  memfd = memfdCreate('gw-scan-test');
  ftruncate(memfd, 4096);
  const { dev, ino } = fstat(memfd);
  file = { dev, ino };
  addProcess(process.pid, { maps: '' });
  symlinkSync(String(process.pid), join(root, 'self'));
  writeFileSync(join(root, String(process.pid), 'mountinfo'), MOUNTINFO);
  writeFileSync(join(root, String(process.pid), 'status'), STATUS);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  close(memfd);
});

/** A maps line for `file` as the kernel prints a memfd mapping. */
const mapsLine = (f: FileIdentity): string =>
  `7f00-7f01 rw-s 00000000 ${fileKey(f)} /memfd:x (deleted)\n`;

/** A process directory: its maps (a directory instead of a file when `maps` is null). */
function addProcess(
  pid: number,
  options: { maps: string | null; fds?: string[]; dir?: string; ns?: string },
): void {
  const dir = options.dir ?? join(root, String(pid));
  mkdirSync(join(dir, 'fd'), { recursive: true });
  mkdirSync(join(dir, 'ns'), { recursive: true });
  if (!existsSync(join(dir, 'ns', 'pid'))) {
    symlinkSync(options.ns ?? 'pid:[4026531836]', join(dir, 'ns', 'pid'));
  }
  if (options.maps === null) mkdirSync(join(dir, 'maps'));
  else writeFileSync(join(dir, 'maps'), options.maps);
  writeFileSync(join(dir, 'comm'), 'fake\n');
  (options.fds ?? []).forEach((target, i) => symlinkSync(target, join(dir, 'fd', String(i))));
  if (options.dir === undefined) mkdirSync(join(dir, 'task', String(pid)), { recursive: true });
}

const scan = (items?: readonly ScanItem[], vouchedPids: number[] = []): ScanVerdict[] =>
  new ProcScanner({ procRoot: root, vouchedPids }).scan(items ?? [{ file }]);

describe('ProcScanner on a fake procfs', () => {
  it('finds a mapping, and concludes unmapped only after reading fds too', () => {
    addProcess(4242, { maps: mapsLine(file) });
    addProcess(4243, { maps: mapsLine({ dev: 1n, ino: 1n }) });
    const other = { dev: file.dev, ino: file.ino + 1n };
    const scanner = new ProcScanner({ procRoot: root });
    expect(scanner.scan([{ file }, { file: other }])).toEqual([
      { verdict: 'mapped' },
      { verdict: 'unmapped' },
    ]);
    expect(scanner.stats.fdDirsRead).toBe(2);
  });

  it('finds an fd alone (a link that resolves to the file)', () => {
    addProcess(4242, { maps: mapsLine({ dev: 1n, ino: 1n }), fds: [`/proc/self/fd/${memfd}`] });
    expect(scan()).toEqual([{ verdict: 'mapped' }]);
  });

  it('never counts itself, nor the owner of the file', () => {
    writeFileSync(join(root, String(process.pid), 'maps'), mapsLine(file));
    expect(scan()).toEqual([{ verdict: 'unmapped' }]);
    addProcess(4242, { maps: mapsLine(file) });
    expect(scan([{ file, ownerPid: 4242 }])).toEqual([{ verdict: 'unmapped' }]);
    addProcess(4243, { maps: mapsLine(file) });
    expect(scan([{ file, ownerPid: 4242 }])).toEqual([{ verdict: 'mapped' }]);
  });

  it('skips a zombie or a kernel thread (no mm), but reads a leader that exited before its threads', () => {
    addProcess(4242, { maps: '' });
    expect(scan()).toEqual([{ verdict: 'unmapped' }]);
    addProcess(4243, { maps: '' });
    addProcess(4243, { maps: mapsLine(file), dir: join(root, '4243', 'task', '4244') });
    expect(scan()).toEqual([{ verdict: 'mapped' }]);
  });

  it('reads maps larger than the read buffer whole', () => {
    const filler = '7f00-7f01 r--p 00000000 fe:00 99 /usr/lib/x.so\n'.repeat(4000);
    addProcess(4242, { maps: filler + mapsLine(file) });
    expect(scan()).toEqual([{ verdict: 'mapped' }]);
  });

  it('unavailable, never unmapped, on text it cannot parse', () => {
    addProcess(4242, { maps: `${mapsLine({ dev: 1n, ino: 1n })}junk\n` });
    expect(scan()[0]).toMatchObject({ verdict: 'unavailable', blindness: { kind: 'unparsable' } });
  });

  it('unavailable on a process it cannot read, unless someone vouched for it', () => {
    addProcess(4242, { maps: null }); // EISDIR: unreadable
    expect(scan()[0]).toMatchObject({ verdict: 'unavailable', blindness: { kind: 'read-error' } });
    expect(scan(undefined, [4242])).toEqual([{ verdict: 'unmapped' }]);
  });

  it('still mapped where it is blind: a file it finds is found', () => {
    addProcess(4242, { maps: null });
    addProcess(4243, { maps: mapsLine(file) });
    expect(scan()).toEqual([{ verdict: 'mapped' }]);
  });

  it('unavailable on a /proc that is not its pid namespace’s', () => {
    rmSync(join(root, 'self'));
    symlinkSync('1', join(root, 'self'));
    expect(scan()[0]).toMatchObject({ blindness: { kind: 'foreign-proc' } });
  });

  it('unavailable inside a nested pid namespace (processes above it are invisible)', () => {
    rmSync(join(root, String(process.pid), 'ns', 'pid'));
    symlinkSync('pid:[4026532999]', join(root, String(process.pid), 'ns', 'pid'));
    expect(scan()[0]).toMatchObject({ blindness: { kind: 'nested-pid-namespace' } });
  });

  it('unavailable under hidepid=invisible without CAP_SYS_PTRACE, fine with it', () => {
    const self = join(root, String(process.pid));
    // The mount at the walk's procRoot carries the option.
    const hidden = MOUNTINFO.replace('/proc', root).replace('rw\n', 'rw,hidepid=invisible\n');
    writeFileSync(join(self, 'mountinfo'), hidden);
    expect(scan()[0]).toMatchObject({ blindness: { kind: 'hidepid' } });
    writeFileSync(join(self, 'status'), 'CapEff:\t0000000000080000\n');
    expect(scan()).toEqual([{ verdict: 'unmapped' }]);
  });

  it('unavailable when the compositor is invisible (SO_PEERCRED gave pid 0)', () => {
    expect(scan([{ file, peerPid: 0 }])[0]).toMatchObject({
      blindness: { kind: 'peer-invisible' },
    });
  });
});

const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
const isRoot = process.getuid?.() === 0;

describe('ProcScanner for real, without permission', () => {
  it.skipIf(!isRoot || !commandAvailable('setpriv') || !existsSync(tsx))(
    'as nobody it cannot read root’s processes: unavailable, naming one (needs root)',
    () => {
      const module = fileURLToPath(new URL('./proc-scan.ts', import.meta.url));
      const script =
        `import(${JSON.stringify(module)}).then((m) => {` +
        ` const [r] = new m.ProcScanner().scan([{ file: { dev: 1n, ino: 1n } }]);` +
        ` console.log(JSON.stringify([r.verdict, r.blindness?.kind, r.blindness?.detail])); })`;
      const out = execFileSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', tsx, '-e', script],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 },
      );
      const [verdict, kind, detail] = JSON.parse(out.trim().split('\n').pop() ?? '') as string[];
      expect([verdict, kind]).toEqual(['unavailable', 'no-permission']);
      expect(detail).toMatch(/cannot read (maps|fds) of pid [0-9]+/);
    },
  );
});
