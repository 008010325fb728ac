import { describe, expect, it } from 'vitest';
import type { MessageSpec } from '../protocol/types.js';
import {
  type ArgValue,
  BadStringError,
  countFds,
  decodeArgs,
  EncodeError,
  encodeMessage,
  encodeMessageInto,
  FdQueue,
  MalformedHeaderError,
  MissingFdError,
  measureMessage,
  NullNotAllowedError,
  TrailingBytesError,
  TruncatedMessageError,
  WireError,
} from './index.js';
import { fromHex, hex, MessageBuilder, specs } from './test-builder.js';

/** Decodes a whole standalone message with the given fds available. */
function decode(spec: MessageSpec, bytes: Uint8Array, fds: number[] = []): ArgValue[] {
  const q = new FdQueue();
  q.push(fds);
  return decodeArgs(spec, bytes, 0, bytes.length, q);
}

function thrown(f: () => unknown): WireError {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) return e;
    throw e;
  }
  throw new Error('expected a WireError');
}

// Golden bytes, computed by hand from the wire format (little-endian).
const golden: {
  name: string;
  spec: MessageSpec;
  objectId: number;
  opcode: number;
  args: ArgValue[];
  hex: string;
  fds?: number[];
}[] = [
  {
    name: 'wl_display.get_registry(new id 2)',
    spec: specs.getRegistry,
    objectId: 1,
    opcode: 1,
    args: [2],
    hex: '01 00 00 00 01 00 0c 00 02 00 00 00',
  },
  {
    name: 'wl_display.sync(new id 3)',
    spec: specs.sync,
    objectId: 1,
    opcode: 0,
    args: [3],
    hex: '01 00 00 00 00 00 0c 00 03 00 00 00',
  },
  {
    name: 'wl_registry.bind(1, "wl_compositor", 4, new id 3)',
    spec: specs.bind,
    objectId: 2,
    opcode: 0,
    args: [1, { interface: 'wl_compositor', version: 4, id: 3 }],
    hex:
      '02 00 00 00 00 00 28 00  01 00 00 00  0e 00 00 00' +
      '77 6c 5f 63 6f 6d 70 6f 73 69 74 6f 72 00 00 00  04 00 00 00  03 00 00 00',
  },
  {
    name: 'wl_shm.create_pool(new id 5, fd, 4096)',
    spec: specs.createPool,
    objectId: 4,
    opcode: 0,
    args: [5, 17, 4096],
    hex: '04 00 00 00 00 00 10 00 05 00 00 00 00 10 00 00',
    fds: [17],
  },
  {
    name: 'wl_pointer.motion(1000, 10.5, -1.25) from a server-created object',
    spec: specs.motion,
    objectId: 0xff000001,
    opcode: 2,
    args: [1000, 10.5, -1.25],
    hex: '01 00 00 ff 02 00 14 00 e8 03 00 00 80 0a 00 00 c0 fe ff ff',
  },
  {
    name: 'wl_keyboard.enter(7, surface 9, array[3])',
    spec: specs.enter,
    objectId: 10,
    opcode: 1,
    args: [7, 9, Uint8Array.of(30, 31, 32)],
    hex: '0a 00 00 00 01 00 18 00 07 00 00 00 09 00 00 00 03 00 00 00 1e 1f 20 00',
  },
  {
    name: 'wl_data_offer.accept(5, nil)',
    spec: specs.accept,
    objectId: 12,
    opcode: 0,
    args: [5, null],
    hex: '0c 00 00 00 00 00 10 00 05 00 00 00 00 00 00 00',
  },
  {
    name: 'wl_buffer.destroy()',
    spec: specs.destroy,
    objectId: 6,
    opcode: 0,
    args: [],
    hex: '06 00 00 00 00 00 08 00',
  },
];

describe('golden messages', () => {
  it.each(golden)('encode $name', (g) => {
    const { bytes, fds } = encodeMessage(g.objectId, g.opcode, g.spec, g.args);
    expect(hex(bytes)).toBe(hex(fromHex(g.hex)));
    expect(fds).toEqual(g.fds ?? []);
  });

  it.each(golden)('decode $name', (g) => {
    expect(decode(g.spec, fromHex(g.hex), g.fds)).toEqual(g.args);
  });
});

describe('round trip of every arg type, against the builder', () => {
  const cases: { type: string; spec: MessageSpec; args: ArgValue[]; build: MessageBuilder }[] = [
    {
      type: 'int',
      spec: specs.attach,
      args: [0, -2147483648, 2147483647],
      build: new MessageBuilder().object(0).int(-2147483648).int(2147483647),
    },
    {
      type: 'uint + string',
      spec: specs.global,
      args: [0xffffffff, 'xdg_wm_base', 0],
      build: new MessageBuilder().uint(0xffffffff).string('xdg_wm_base').uint(0),
    },
    {
      type: 'fixed',
      spec: specs.motion,
      args: [0, 8388607.99609375, -8388608],
      build: new MessageBuilder().uint(0).fixed(8388607.99609375).fixed(-8388608),
    },
    {
      type: 'object + non-ASCII string',
      spec: specs.error,
      args: [3, 1, 'héllo ✓ 🐢'],
      build: new MessageBuilder().object(3).uint(1).string('héllo ✓ 🐢'),
    },
    {
      type: 'string lengths 0..3 mod 4',
      spec: specs.global,
      args: [1, 'abc', 2],
      build: new MessageBuilder().uint(1).string('abc').uint(2),
    },
    {
      type: 'empty string (length 1, not null)',
      spec: specs.global,
      args: [1, '', 2],
      build: new MessageBuilder().uint(1).string('').uint(2),
    },
    {
      type: 'empty array',
      spec: specs.enter,
      args: [1, 2, new Uint8Array(0)],
      build: new MessageBuilder().uint(1).object(2).array(new Uint8Array(0)),
    },
    {
      type: 'array of 4 and 5 bytes',
      spec: specs.enter,
      args: [1, 2, Uint8Array.of(1, 2, 3, 4, 5)],
      build: new MessageBuilder()
        .uint(1)
        .object(2)
        .array(Uint8Array.of(1, 2, 3, 4, 5)),
    },
    {
      type: 'new_id (typed and untyped) + fd',
      spec: specs.createPool,
      args: [0xff000000, 0, 1 << 30],
      build: new MessageBuilder()
        .newId(0xff000000)
        .fd(0)
        .int(1 << 30),
    },
    {
      type: 'untyped new_id',
      spec: specs.bind,
      args: [9, { interface: 'zwp_linux_dmabuf_v1', version: 5, id: 40 }],
      build: new MessageBuilder().uint(9).untypedNewId('zwp_linux_dmabuf_v1', 5, 40),
    },
    {
      type: 'two fds around a uint',
      spec: specs.twoFds,
      args: [100, 7, 101],
      build: new MessageBuilder().fd(100).uint(7).fd(101),
    },
  ];

  it.each(cases)('$type', ({ spec, args, build }) => {
    const expected = build.build(33, 4);
    const { bytes, fds } = encodeMessage(33, 4, spec, args);
    expect(hex(bytes)).toBe(hex(expected));
    expect(fds).toEqual(build.fds);
    expect(measureMessage(spec, args)).toBe(expected.length);
    expect(decode(spec, bytes, fds)).toEqual(args);
  });
});

describe('decodeArgs', () => {
  it('decodes at an offset inside a larger buffer and ignores bytes after the message', () => {
    const msg = fromHex('01 00 00 00 01 00 0c 00 02 00 00 00');
    const buf = new Uint8Array(40).fill(0xee);
    buf.set(msg, 16);
    expect(decodeArgs(specs.getRegistry, buf, 16, 12, new FdQueue())).toEqual([2]);
  });

  it('returns arrays as copies that survive reuse of the buffer', () => {
    const bytes = new MessageBuilder().uint(1).object(2).array(Uint8Array.of(9, 9)).build(5, 1);
    const [, , keys] = decode(specs.enter, bytes);
    bytes.fill(0);
    expect(keys).toEqual(Uint8Array.of(9, 9));
  });

  it('does not validate padding bytes (as libwayland)', () => {
    const bytes = new MessageBuilder()
      .uint(1)
      .raw([4, 0, 0, 0, 0x61, 0x62, 0x63, 0, 4, 0, 0, 0])
      .build(5, 0);
    expect(decode(specs.global, bytes)).toEqual([1, 'abc', 4]);
    const arr = new MessageBuilder().uint(1).object(2).raw([1, 0, 0, 0, 7, 0xff, 0xff, 0xff]);
    expect(decode(specs.enter, arr.build(5, 1))).toEqual([1, 2, Uint8Array.of(7)]);
  });

  it('reads a string up to its first NUL when the last byte is one (libwayland ≤ 1.23, as C does)', () => {
    // "wl_shm\0\0", length 8: what weston on libwayland 1.21 binds as "wl_shm".
    const padded = new MessageBuilder()
      .uint(1)
      .raw([8, 0, 0, 0, ...Buffer.from('wl_shm'), 0, 0])
      .uint(1)
      .build(5, 0);
    expect(decode(specs.global, padded)).toEqual([1, 'wl_shm', 1]);
    const inside = new MessageBuilder().uint(1).raw([4, 0, 0, 0, 0x61, 0, 0x63, 0]).uint(1);
    expect(decode(specs.global, inside.build(5, 0))).toEqual([1, 'a', 1]);
  });

  it('decodes invalid UTF-8 lossily instead of failing', () => {
    const bytes = new MessageBuilder()
      .uint(1)
      .raw([3, 0, 0, 0, 0xff, 0x41, 0, 0])
      .uint(2)
      .build(5, 0);
    expect(decode(specs.global, bytes)).toEqual([1, '\ufffdA', 2]);
  });

  it('accepts null where nullable', () => {
    expect(decode(specs.attach, new MessageBuilder().object(0).int(1).int(2).build(3, 1))).toEqual([
      0, 1, 2,
    ]);
  });
});

describe('decode errors', () => {
  const cases: {
    name: string;
    spec: MessageSpec;
    bytes: Uint8Array;
    size?: number;
    cls: new (...a: never[]) => WireError;
    code: string;
  }[] = [
    {
      name: 'size below the header',
      spec: specs.destroy,
      bytes: new MessageBuilder().build(1, 0, 4),
      size: 4,
      cls: MalformedHeaderError,
      code: 'ERR_WIRE_HEADER',
    },
    {
      name: 'size not a multiple of 4',
      spec: specs.sync,
      bytes: new MessageBuilder().uint(3).raw([0]).build(1, 0),
      cls: MalformedHeaderError,
      code: 'ERR_WIRE_HEADER',
    },
    {
      name: 'size over 4096',
      spec: specs.enter,
      bytes: new MessageBuilder().uint(1).object(2).array(new Uint8Array(4084)).build(1, 0),
      cls: MalformedHeaderError,
      code: 'ERR_WIRE_HEADER',
    },
    {
      name: 'size past the end of the buffer',
      spec: specs.sync,
      bytes: new MessageBuilder().uint(3).build(1, 0),
      size: 16,
      cls: TruncatedMessageError,
      code: 'ERR_WIRE_TRUNCATED',
    },
    {
      name: 'missing int argument',
      spec: specs.attach,
      bytes: new MessageBuilder().object(0).int(1).build(1, 1),
      cls: TruncatedMessageError,
      code: 'ERR_WIRE_TRUNCATED',
    },
    {
      name: 'string length past the message',
      spec: specs.global,
      bytes: new MessageBuilder().uint(1).uint(9).raw([0x61, 0x62, 0x63, 0]).build(1, 0),
      cls: TruncatedMessageError,
      code: 'ERR_WIRE_TRUNCATED',
    },
    {
      name: 'string length 0xffffffff',
      spec: specs.global,
      bytes: new MessageBuilder().uint(1).uint(0xffffffff).uint(0).build(1, 0),
      cls: TruncatedMessageError,
      code: 'ERR_WIRE_TRUNCATED',
    },
    {
      name: 'array length past the message',
      spec: specs.enter,
      bytes: new MessageBuilder().uint(1).object(2).uint(5).raw([1, 2, 3, 4]).build(1, 1),
      cls: TruncatedMessageError,
      code: 'ERR_WIRE_TRUNCATED',
    },
    {
      name: 'untyped new_id without version and id',
      spec: specs.bind,
      bytes: new MessageBuilder().uint(1).string('wl_seat').build(2, 0),
      cls: TruncatedMessageError,
      code: 'ERR_WIRE_TRUNCATED',
    },
    {
      name: 'bytes after the last argument',
      spec: specs.sync,
      bytes: new MessageBuilder().newId(3).uint(0).build(1, 0),
      cls: TrailingBytesError,
      code: 'ERR_WIRE_TRAILING',
    },
    {
      name: 'string without NUL terminator',
      spec: specs.global,
      bytes: new MessageBuilder()
        .uint(1)
        .raw([4, 0, 0, 0, 0x61, 0x62, 0x63, 0x64])
        .uint(1)
        .build(1, 0),
      cls: BadStringError,
      code: 'ERR_WIRE_STRING',
    },
    {
      name: 'null object where not nullable',
      spec: specs.enter,
      bytes: new MessageBuilder().uint(1).object(0).array(new Uint8Array(0)).build(1, 1),
      cls: NullNotAllowedError,
      code: 'ERR_WIRE_NULL',
    },
    {
      name: 'null string where not nullable',
      spec: specs.error,
      bytes: new MessageBuilder().object(1).uint(0).string(null).build(1, 0),
      cls: NullNotAllowedError,
      code: 'ERR_WIRE_NULL',
    },
    {
      name: 'new_id 0',
      spec: specs.getRegistry,
      bytes: new MessageBuilder().newId(0).build(1, 1),
      cls: NullNotAllowedError,
      code: 'ERR_WIRE_NULL',
    },
    {
      name: 'untyped new_id with a null interface',
      spec: specs.bind,
      bytes: new MessageBuilder().uint(1).string(null).uint(1).newId(3).build(2, 0),
      cls: NullNotAllowedError,
      code: 'ERR_WIRE_NULL',
    },
    {
      name: 'untyped new_id with id 0',
      spec: specs.bind,
      bytes: new MessageBuilder().uint(1).untypedNewId('wl_seat', 1, 0).build(2, 0),
      cls: NullNotAllowedError,
      code: 'ERR_WIRE_NULL',
    },
    {
      name: 'fd argument with no fd',
      spec: specs.createPool,
      bytes: new MessageBuilder().newId(5).fd(1).int(64).build(4, 0),
      cls: MissingFdError,
      code: 'ERR_WIRE_FD',
    },
  ];

  it.each(cases)('$name → $code', ({ spec, bytes, size, cls, code }) => {
    const q = new FdQueue();
    const err = thrown(() => decodeArgs(spec, bytes, 0, size ?? bytes.length, q));
    expect(err).toBeInstanceOf(cls);
    expect(err.code).toBe(code);
    expect(err.objectId).toBe(bytes[0]);
    expect(err.opcode).toBe(bytes[4]);
    if (!(err instanceof MalformedHeaderError)) expect(err.message).toContain(spec.name);
  });

  it('a header that does not fit in the buffer is truncated, with no context', () => {
    const err = thrown(() => decodeArgs(specs.sync, new Uint8Array(6), 0, 12, new FdQueue()));
    expect(err).toBeInstanceOf(TruncatedMessageError);
    expect(err.objectId).toBeUndefined();
  });

  it('structural errors consume no fds', () => {
    const q = new FdQueue();
    q.push([40, 41]);
    const bytes = new MessageBuilder().newId(5).fd(40).int(64).uint(0).build(4, 0);
    expect(thrown(() => decodeArgs(specs.createPool, bytes, 0, bytes.length, q))).toBeInstanceOf(
      TrailingBytesError,
    );
    expect(q.length).toBe(2);
  });

  it('MissingFdError hands over the fds the message had already taken', () => {
    const q = new FdQueue();
    q.push([50]);
    const bytes = new MessageBuilder().fd(50).uint(1).fd(51).build(8, 0);
    const err = thrown(() => decodeArgs(specs.twoFds, bytes, 0, bytes.length, q));
    expect(err).toBeInstanceOf(MissingFdError);
    expect(err.fds).toEqual([50]);
    expect(q.length).toBe(0);
  });

  it('countFds lets the caller wait for fds instead', () => {
    expect(countFds(specs.twoFds)).toBe(2);
    expect(countFds(specs.createPool)).toBe(1);
    expect(countFds(specs.bind)).toBe(0);
  });
});

describe('encode', () => {
  it('encodes into a caller buffer at an offset, even an unaligned one', () => {
    for (const off of [0, 3, 8]) {
      const buf = new Uint8Array(64).fill(0xaa);
      const fds: number[] = [99];
      const n = encodeMessageInto(buf, off, 2, 0, specs.global, [1, 'ab', 3], fds);
      const expected = new MessageBuilder().uint(1).string('ab').uint(3).build(2, 0);
      expect(n).toBe(expected.length);
      expect(hex(buf.subarray(off, off + n))).toBe(hex(expected));
      expect(buf[off + n]).toBe(0xaa);
      expect(buf.subarray(0, off).every((b) => b === 0xaa)).toBe(true);
      expect(fds).toEqual([99]);
    }
  });

  it('appends fds to the caller array in arg order', () => {
    const buf = new Uint8Array(32);
    const fds: number[] = [1];
    encodeMessageInto(buf, 0, 8, 0, specs.twoFds, [5, 0, 6], fds);
    expect(fds).toEqual([1, 5, 6]);
  });

  it('writes nothing when the buffer is too small', () => {
    const buf = new Uint8Array(11);
    const fds: number[] = [];
    const err = thrown(() => encodeMessageInto(buf, 0, 1, 1, specs.getRegistry, [2], fds));
    expect(err).toBeInstanceOf(EncodeError);
    expect(buf.every((b) => b === 0)).toBe(true);
  });

  it('allows exactly 4096 bytes and refuses 4100', () => {
    // header 8 + serial 4 + surface 4 + array length 4 = 20 bytes of overhead.
    const ok = encodeMessage(1, 1, specs.enter, [1, 2, new Uint8Array(4076)]);
    expect(ok.bytes.length).toBe(4096);
    expect(decode(specs.enter, ok.bytes)[2]).toHaveLength(4076);
    const err = thrown(() => encodeMessage(1, 1, specs.enter, [1, 2, new Uint8Array(4077)]));
    expect(err).toBeInstanceOf(EncodeError);
    expect(err.code).toBe('ERR_WIRE_ENCODE');
    expect(
      thrown(() => encodeMessage(1, 0, specs.global, [1, 'x'.repeat(5000), 1])),
    ).toBeInstanceOf(EncodeError);
  });

  it('writes lone surrogates as U+FFFD, sized consistently', () => {
    const { bytes } = encodeMessage(1, 0, specs.global, [1, 'a\ud800b', 2]);
    expect(decode(specs.global, bytes)).toEqual([1, 'a\ufffdb', 2]);
  });

  const bad: [string, MessageSpec, unknown[]][] = [
    ['too few args', specs.attach, [0, 1]],
    ['too many args', specs.sync, [3, 4]],
    ['int out of range', specs.attach, [0, 2 ** 31, 0]],
    ['int not an integer', specs.attach, [0, 1.5, 0]],
    ['uint negative', specs.global, [-1, 'a', 1]],
    ['uint as string', specs.global, ['1', 'a', 1]],
    ['fixed NaN', specs.motion, [0, Number.NaN, 0]],
    ['fixed out of range', specs.motion, [0, 8388608, 0]],
    ['null object not nullable', specs.enter, [1, 0, new Uint8Array(0)]],
    ['object null instead of 0', specs.attach, [null, 0, 0]],
    ['new_id 0', specs.sync, [0]],
    ['untyped new_id as a number', specs.bind, [1, 3]],
    ['untyped new_id missing version', specs.bind, [1, { interface: 'a', id: 3 }]],
    ['untyped new_id as an array', specs.bind, [1, new Uint8Array(4)]],
    ['null string not nullable', specs.global, [1, null, 1]],
    ['string with NUL', specs.global, [1, 'a\0b', 1]],
    ['string as number', specs.global, [1, 5, 1]],
    ['array as string', specs.enter, [1, 2, 'keys']],
    ['negative fd', specs.createPool, [5, -1, 0]],
  ];

  it.each(bad)('%s → EncodeError', (_name, spec, args) => {
    const err = thrown(() => encodeMessage(3, 1, spec, args as ArgValue[]));
    expect(err).toBeInstanceOf(EncodeError);
    expect(err.objectId).toBe(3);
    expect(err.opcode).toBe(1);
  });

  it.each([
    [0, 0],
    [2 ** 32, 0],
    [1, 0x10000],
    [1, -1],
  ])('sender %d opcode %d → EncodeError', (objectId, opcode) => {
    expect(thrown(() => encodeMessage(objectId, opcode, specs.destroy, []))).toBeInstanceOf(
      EncodeError,
    );
  });
});
