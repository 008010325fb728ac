// The maps parser against literal /proc/PID/maps text, and dev_t conversions against
// glibc's makedev/major/minor, so the oracle's core is checked without any process.

import { describe, expect, it } from 'vitest';
import { devMajor, devMinor, makeDev } from './dev-t.js';
import { fileKey, MapsParseError, parseMappedFiles } from './maps.js';

// A weston-like excerpt: binaries on fe:00, a client's memfd pool (shmem, 00:01),
// anonymous mappings (inode 0), special regions, a path with spaces.
const MAPS = `55d0c0a00000-55d0c0a0a000 r--p 00000000 fe:00 260386                     /usr/bin/weston
55d0c0a0a000-55d0c0a2a000 r-xp 0000a000 fe:00 260386                     /usr/bin/weston
55d0c1b2e000-55d0c1c6a000 rw-p 00000000 00:00 0                          [heap]
7f5a6a8d9000-7f5a6a8e1000 rw-s 00000000 00:01 1224                       /memfd:wayland-shm (deleted)
7f5a6a8e1000-7f5a6a8e2000 rw-s 00000000 00:01 4096                       /memfd:x 00:01 777 (deleted)
7f5a6a8e2000-7f5a6a8e4000 r--p 00000000 103:02 98765432101              /home/u/my file.so
7f5a6a8e4000-7f5a6a8e5000 rw-p 00000000 00:00 0 
7f5a6a8eb000-7f5a6a8ed000 r-xp 00000000 00:00 0                          [vdso]
7ffe12304000-7ffe12325000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

describe('dev_t', () => {
  it('splits and joins like glibc (major bits 8–19 and 32–63, minor 0–7 and 20–31)', () => {
    expect(devMajor(0xfe00n)).toBe(0xfe);
    expect(devMinor(0xfe00n)).toBe(0);
    expect(devMajor(1n)).toBe(0);
    expect(devMinor(1n)).toBe(1);
    expect(makeDev(259, 2)).toBe(0x10302n);
    // Values printed by glibc's makedev() on this machine.
    expect(makeDev(0x12345, 0xabcde)).toBe(0x12000abc345den);
    expect(makeDev(0xabcdef12, 0x3456789a)).toBe(0xabcde345678f129an);
  });

  it('round-trips 32-bit majors and minors', () => {
    for (const [major, minor] of [
      [0, 0],
      [8, 1],
      [0xfff, 0xff],
      [0x1000, 0x100],
      [0xffffffff, 0xffffffff],
      [0xabcdef12, 0x3456789a],
    ] as const) {
      const dev = makeDev(major, minor);
      expect([devMajor(dev), devMinor(dev)]).toEqual([major >>> 0, minor >>> 0]);
    }
  });
});

describe('parseMappedFiles', () => {
  const files = parseMappedFiles(MAPS);

  it('finds file mappings by (dev, ino), one entry per file', () => {
    expect(files.has({ dev: makeDev(0xfe, 0), ino: 260386n })).toBe(true);
    expect(files.has({ dev: 1n, ino: 1224n })).toBe(true); // the memfd, dev 0:1
    expect(files.has({ dev: makeDev(0x103, 2), ino: 98765432101n })).toBe(true);
    expect(files.size).toBe(4);
  });

  it('ignores anonymous mappings (inode 0), whatever their device', () => {
    expect(files.has({ dev: 0n, ino: 0n })).toBe(false);
  });

  it('reads nothing from the path: a memfd named like a maps entry fakes nothing', () => {
    expect(files.has({ dev: 1n, ino: 4096n })).toBe(true);
    expect(files.has({ dev: 1n, ino: 777n })).toBe(false);
  });

  it('tells apart files that differ only in device or inode', () => {
    expect(files.has({ dev: 2n, ino: 1224n })).toBe(false);
    expect(files.has({ dev: 1n, ino: 1225n })).toBe(false);
    expect(files.has({ dev: 1n, ino: 122n })).toBe(false);
  });

  it('keys a file the way maps prints it (%02x:%02x %lu)', () => {
    expect(fileKey({ dev: 1n, ino: 1224n })).toBe('00:01 1224');
    expect(fileKey({ dev: makeDev(0x103, 0x2a), ino: 5n })).toBe('103:2a 5');
  });

  it('accepts empty text and a last line without a newline', () => {
    expect(parseMappedFiles('').size).toBe(0);
    const one = parseMappedFiles('7f00-7f01 r--s 00000000 00:01 42 /memfd:a (deleted)');
    expect(one.has({ dev: 1n, ino: 42n })).toBe(true);
  });

  it('throws MapsParseError (never a silent "unmapped") on a malformed line', () => {
    for (const bad of [
      'garbage',
      '7f00-7f01 r--s 00000000 0001 42 /x',
      '7f00-7f01 r--s 00000000 00:1 42 /x',
      '7f00-7f01 r--s 00000000 00:0G 42 /x',
      '7f00-7f01 r--s 00000000 00:01 4x2 /x',
      '7f00-7f01 r--s 00000000 00:01',
    ]) {
      expect(() => parseMappedFiles(`${MAPS}${bad}\n`), bad).toThrow(MapsParseError);
    }
    try {
      parseMappedFiles(`${MAPS}garbage\n`);
    } catch (error) {
      expect((error as MapsParseError).code).toBe('ERR_PROC_MAPS_PARSE');
      expect((error as MapsParseError).lineNumber).toBe(11);
    }
  });
});
