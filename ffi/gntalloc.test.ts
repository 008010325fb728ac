// The gntalloc ioctl arguments byte for byte (they can only be exercised for real inside a
// Xen domain, so a wrong offset would otherwise surface there first), the ioctl numbers
// re-derived from _IOC and the struct sizes, and the device open failing typed off Xen.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SyscallError } from './errors.js';
import {
  ALLOC_GREF_HEADER_SIZE,
  allocGrefSize,
  DEALLOC_GREF_SIZE,
  decodeAllocGref,
  encodeAllocGref,
  encodeDeallocGref,
  encodeUnmapNotify,
  GNTALLOC_FLAG_WRITABLE,
  IOCTL_GNTALLOC_ALLOC_GREF,
  IOCTL_GNTALLOC_DEALLOC_GREF,
  IOCTL_GNTALLOC_SET_UNMAP_NOTIFY,
  ioctlBuffer,
  openGntalloc,
  UNMAP_NOTIFY_CLEAR_BYTE,
  UNMAP_NOTIFY_SEND_EVENT,
  UNMAP_NOTIFY_SIZE,
} from './gntalloc.js';
import { close, memfdCreate } from './libc.js';

/** Linux _IOC(dir, type, nr, size) for x86_64 / asm-generic. */
const ioc = (dir: number, type: string, nr: number, size: number): number =>
  ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;

const hex = (buf: Buffer): string => buf.toString('hex');

describe('gntalloc ioctl numbers', () => {
  it('are _IOC(_IOC_NONE, "G", nr, sizeof(struct))', () => {
    expect(IOCTL_GNTALLOC_ALLOC_GREF).toBe(ioc(0, 'G', 5, ALLOC_GREF_HEADER_SIZE));
    expect(IOCTL_GNTALLOC_DEALLOC_GREF).toBe(ioc(0, 'G', 6, DEALLOC_GREF_SIZE));
    expect(IOCTL_GNTALLOC_SET_UNMAP_NOTIFY).toBe(ioc(0, 'G', 7, UNMAP_NOTIFY_SIZE));
    expect(IOCTL_GNTALLOC_ALLOC_GREF).toBe(0x00184705);
    expect(IOCTL_GNTALLOC_DEALLOC_GREF).toBe(0x00104706);
    expect(IOCTL_GNTALLOC_SET_UNMAP_NOTIFY).toBe(0x00104707);
  });
});

describe('struct ioctl_gntalloc_alloc_gref', () => {
  it('encodes domid@0 flags@2 count@4 little-endian, zero index@8 and gref_ids@16', () => {
    const buf = encodeAllocGref({ domid: 0x0102, flags: GNTALLOC_FLAG_WRITABLE, count: 3 });
    // 16-byte header + 3 × u32 = 28 bytes
    expect(buf.length).toBe(28);
    expect(hex(buf)).toBe(
      '0201' + '0100' + '03000000' + '0000000000000000' + '00000000' + '00000000' + '00000000',
    );
  });

  it('is never shorter than sizeof(struct) = 24, which the kernel copies in and out', () => {
    expect(allocGrefSize(1)).toBe(24);
    expect(allocGrefSize(2)).toBe(24);
    expect(allocGrefSize(3)).toBe(28);
    const one = encodeAllocGref({ domid: 0, flags: 0, count: 1 });
    expect(hex(one)).toBe('0000' + '0000' + '01000000' + '00'.repeat(8) + '00'.repeat(8));
  });

  it('decodes the index and the gref ids the kernel wrote', () => {
    const buf = encodeAllocGref({ domid: 7, flags: 1, count: 3 });
    buf.writeBigUInt64LE(0x3000n, 8);
    buf.writeUInt32LE(0x11223344, 16);
    buf.writeUInt32LE(9, 20);
    buf.writeUInt32LE(10, 24);
    expect(decodeAllocGref(buf, 3)).toEqual({ index: 0x3000n, refs: [0x11223344, 9, 10] });
    expect(() => decodeAllocGref(buf, 4)).toThrow(RangeError);
  });

  it('rejects values that do not fit the fields', () => {
    expect(() => encodeAllocGref({ domid: 0x10000, flags: 1, count: 1 })).toThrow(RangeError);
    expect(() => encodeAllocGref({ domid: 1, flags: -1, count: 1 })).toThrow(RangeError);
    expect(() => encodeAllocGref({ domid: 1, flags: 1, count: 0 })).toThrow(RangeError);
    expect(() => encodeAllocGref({ domid: 1, flags: 1, count: 1.5 })).toThrow(RangeError);
  });
});

describe('struct ioctl_gntalloc_dealloc_gref', () => {
  it('encodes index@0 (u64) count@8 and 4 bytes of tail padding', () => {
    const buf = encodeDeallocGref({ index: 0x0102030405060708n, count: 0x0a0b0c0d });
    expect(buf.length).toBe(16);
    expect(hex(buf)).toBe('0807060504030201' + '0d0c0b0a' + '00000000');
  });

  it('rejects a negative index', () => {
    expect(() => encodeDeallocGref({ index: -1n, count: 1 })).toThrow(RangeError);
  });
});

describe('struct ioctl_gntalloc_unmap_notify', () => {
  it('encodes index@0 (u64) action@8 event_channel_port@12', () => {
    const buf = encodeUnmapNotify({
      index: 0x2000n + 5n,
      action: UNMAP_NOTIFY_CLEAR_BYTE | UNMAP_NOTIFY_SEND_EVENT,
      eventChannelPort: 0x01020304,
    });
    expect(buf.length).toBe(16);
    expect(hex(buf)).toBe('0520000000000000' + '03000000' + '04030201');
  });
});

describe('the device', () => {
  it.skipIf(existsSync('/dev/xen/gntalloc'))(
    'fails to open off Xen with a SyscallError naming the path',
    () => {
      let error: unknown;
      try {
        openGntalloc();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SyscallError);
      expect((error as SyscallError).syscall).toBe('open');
      expect((error as SyscallError).detail).toBe('/dev/xen/gntalloc');
      expect((error as SyscallError).errnoName).toBe('ENOENT');
    },
  );

  it('turns an ioctl the file does not know into a SyscallError (ENOTTY)', () => {
    const fd = memfdCreate('gw-not-gntalloc');
    try {
      const arg = encodeDeallocGref({ index: 0n, count: 1 });
      expect(() => ioctlBuffer(fd, IOCTL_GNTALLOC_DEALLOC_GREF, arg, 'DEALLOC')).toThrow(
        /ioctl\(DEALLOC\) failed: ENOTTY/,
      );
    } finally {
      close(fd);
    }
  });
});
