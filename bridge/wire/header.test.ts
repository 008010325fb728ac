import { describe, expect, it } from 'vitest';
import {
  checkHeader,
  HEADER_SIZE,
  MAX_FDS_PER_MESSAGE_BATCH,
  MAX_MESSAGE_SIZE,
  MalformedHeaderError,
  readObjectId,
  readOpcode,
  readSize,
  SERVER_ID_BASE,
  WireError,
  writeHeader,
} from './index.js';
import { fromHex, hex } from './test-builder.js';

describe('constants', () => {
  it('match libwayland', () => {
    expect(HEADER_SIZE).toBe(8);
    expect(MAX_MESSAGE_SIZE).toBe(4096);
    expect(MAX_FDS_PER_MESSAGE_BATCH).toBe(28);
    expect(SERVER_ID_BASE).toBe(0xff000000);
  });
});

describe('header helpers', () => {
  it('read the golden wl_display.get_registry header', () => {
    const buf = fromHex('01 00 00 00 01 00 0c 00 02 00 00 00');
    expect(readObjectId(buf, 0)).toBe(1);
    expect(readOpcode(buf, 0)).toBe(1);
    expect(readSize(buf, 0)).toBe(12);
  });

  it('read at a non-zero offset and across the full u32/u16 ranges', () => {
    const buf = new Uint8Array(20);
    writeHeader(buf, 12, 0xffffffff, 0xffff, 0xfffc);
    expect(readObjectId(buf, 12)).toBe(0xffffffff);
    expect(readOpcode(buf, 12)).toBe(0xffff);
    expect(readSize(buf, 12)).toBe(0xfffc);
    expect(buf.subarray(0, 12).every((b) => b === 0)).toBe(true);
  });

  it('writeHeader is little-endian', () => {
    const buf = new Uint8Array(8);
    writeHeader(buf, 0, SERVER_ID_BASE + 1, 2, 20);
    expect(hex(buf)).toBe('01 00 00 ff 02 00 14 00');
  });

  it('read server ids as unsigned', () => {
    const buf = fromHex('05 00 00 ff 00 00 08 00');
    expect(readObjectId(buf, 0)).toBe(0xff000005);
  });
});

describe('checkHeader', () => {
  it('true when the whole message is available, false when more is needed', () => {
    expect(checkHeader(8, 8)).toBe(true);
    expect(checkHeader(12, 100)).toBe(true);
    expect(checkHeader(4096, 4096)).toBe(true);
    expect(checkHeader(12, 8)).toBe(false);
    expect(checkHeader(4096, 4095)).toBe(false);
  });

  it.each([0, 4, 7, 9, 10, 14, 4097, 4100, 0xfffc])('size %i is malformed', (size) => {
    let err: unknown;
    try {
      checkHeader(size, 1 << 20, 7, 3);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MalformedHeaderError);
    expect(err).toBeInstanceOf(WireError);
    const w = err as MalformedHeaderError;
    expect(w.code).toBe('ERR_WIRE_HEADER');
    expect(w.objectId).toBe(7);
    expect(w.opcode).toBe(3);
    expect(w.fds).toEqual([]);
    expect(w.name).toBe('MalformedHeaderError');
  });
});
