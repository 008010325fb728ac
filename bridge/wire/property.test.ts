// Property tests: the codec's laws over random specs, values, streams and garbage.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ArgSpec, ArgType, MessageSpec } from '../protocol/types.js';
import {
  type ArgValue,
  decodeArgs,
  encodeMessage,
  encodeMessageInto,
  FdQueue,
  type Frame,
  FrameReader,
  readSize,
  WireError,
} from './index.js';
import { concatBytes, hex, MessageBuilder } from './test-builder.js';

const TYPES: readonly ArgType[] = [
  'int',
  'uint',
  'fixed',
  'string',
  'object',
  'new_id',
  'array',
  'fd',
];

const argSpecArb: fc.Arbitrary<ArgSpec> = fc
  .record({
    type: fc.constantFrom(...TYPES),
    nullable: fc.boolean(),
    typed: fc.boolean(),
  })
  .map(({ type, nullable, typed }) => ({
    name: type,
    type,
    ...(typed ? { interface: 'wl_thing' } : {}),
    ...(nullable ? { nullable: true } : {}),
  }));

const specArb: fc.Arbitrary<MessageSpec> = fc
  .array(argSpecArb, { maxLength: 8 })
  .map((args) => ({ name: 'msg', since: 1, destructor: false, args }));

const uint32 = fc.integer({ min: 0, max: 0xffffffff });
const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
// Well-formed UTF-16 without NUL: strings that survive a UTF-8 round trip unchanged.
const wireString = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replaceAll('\0', '.'));

function valueArb(arg: ArgSpec): fc.Arbitrary<ArgValue> {
  const id = arg.nullable ? uint32 : fc.integer({ min: 1, max: 0xffffffff });
  switch (arg.type) {
    case 'int':
      return int32;
    case 'uint':
      return uint32;
    case 'fixed':
      return int32.map((raw) => raw / 256);
    case 'object':
      return id;
    case 'new_id':
      return arg.interface !== undefined
        ? id
        : fc.record({ interface: wireString, version: uint32, id });
    case 'string':
      return arg.nullable ? fc.option(wireString, { nil: null }) : wireString;
    case 'array':
      return fc.uint8Array({ maxLength: 64 });
    case 'fd':
      return fc.integer({ min: 0, max: 0x7fffffff });
  }
}

const messageArb = specArb.chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    objectId: fc.integer({ min: 1, max: 0xffffffff }),
    opcode: fc.integer({ min: 0, max: 0xffff }),
    args: fc.tuple(...spec.args.map(valueArb)),
  }),
);

/** The independent builder's bytes for the same message. */
function build(spec: MessageSpec, objectId: number, opcode: number, args: ArgValue[]): Uint8Array {
  const b = new MessageBuilder();
  spec.args.forEach((arg, i) => {
    const v = args[i];
    switch (arg.type) {
      case 'int':
        b.int(v as number);
        break;
      case 'uint':
      case 'object':
        b.uint(v as number);
        break;
      case 'fixed':
        b.fixed(v as number);
        break;
      case 'string':
        b.string(v as string | null);
        break;
      case 'array':
        b.array(v as Uint8Array);
        break;
      case 'fd':
        b.fd(v as number);
        break;
      case 'new_id':
        if (typeof v === 'number') b.newId(v);
        else {
          const n = v as { interface: string; version: number; id: number };
          b.untypedNewId(n.interface, n.version, n.id);
        }
    }
  });
  return b.build(objectId, opcode);
}

function isWireErrorOrNothing(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof WireError;
  }
}

describe('properties', () => {
  it('decode(encode(args)) = args, and the encoder agrees with the builder', () => {
    fc.assert(
      fc.property(messageArb, ({ spec, objectId, opcode, args }) => {
        const { bytes, fds } = encodeMessage(objectId, opcode, spec, args);
        expect(hex(bytes)).toBe(hex(build(spec, objectId, opcode, args)));
        const q = new FdQueue();
        q.push(fds);
        expect(decodeArgs(spec, bytes, 0, bytes.length, q)).toEqual(args);
        expect(q.length).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('encodeMessageInto at any offset writes the same bytes as encodeMessage', () => {
    fc.assert(
      fc.property(messageArb, fc.nat({ max: 13 }), ({ spec, objectId, opcode, args }, off) => {
        const { bytes } = encodeMessage(objectId, opcode, spec, args);
        const buf = new Uint8Array(off + bytes.length + 3).fill(0x5a);
        const n = encodeMessageInto(buf, off, objectId, opcode, spec, args, []);
        expect(n).toBe(bytes.length);
        expect(hex(buf.subarray(off, off + n))).toBe(hex(bytes));
      }),
      { numRuns: 500 },
    );
  });

  const streamArb = fc.array(
    fc.record({
      objectId: fc.integer({ min: 1, max: 0xffffffff }),
      opcode: fc.integer({ min: 0, max: 0xffff }),
      words: fc.nat({ max: 40 }),
    }),
    { minLength: 1, maxLength: 20 },
  );

  it('random chunking of a message stream yields the same frames', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.nat({ max: 200 }), { maxLength: 30 }),
        fc.integer({ min: 8, max: 512 }),
        (msgs, cuts, capacity) => {
          const parts = msgs.map(({ objectId, opcode, words }, i) => {
            const b = new MessageBuilder();
            for (let w = 0; w < words; w++) b.uint(i * 1000 + w);
            return b.build(objectId, opcode);
          });
          const stream = concatBytes(parts);
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort(
            (a, b) => a - b,
          );
          const r = new FrameReader(capacity);
          const got: { objectId: number; opcode: number; hex: string }[] = [];
          let prev = 0;
          for (const p of [...points, stream.length]) {
            r.push(stream.subarray(prev, p));
            prev = p;
            for (let f: Frame | undefined = r.next(); f; f = r.next()) {
              got.push({ objectId: f.objectId, opcode: f.opcode, hex: hex(f.bytes) });
            }
          }
          expect(got).toEqual(
            msgs.map((m, i) => ({ objectId: m.objectId, opcode: m.opcode, hex: hex(parts[i]!) })),
          );
          expect(r.buffered).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decodeArgs on arbitrary bytes returns or throws a WireError, nothing else', () => {
    fc.assert(
      fc.property(
        specArb,
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        fc.nat({ max: 4 }),
        (spec, bytes, fixSize, nfds) => {
          // Half the time, make the header's size agree with the buffer so decoding
          // gets past the header and into the arguments.
          if (fixSize && bytes.length >= 8) {
            const size = bytes.length & ~3;
            bytes[6] = size & 0xff;
            bytes[7] = size >>> 8;
          }
          const q = new FdQueue();
          const pushed = Array.from({ length: nfds }, (_, i) => 100 + i);
          q.push(pushed);
          const size = bytes.length >= 8 ? readSize(bytes, 0) : bytes.length;
          let taken: readonly number[] = [];
          const ok = isWireErrorOrNothing(() => {
            try {
              const out = decodeArgs(spec, bytes, 0, size, q);
              taken = spec.args.flatMap((a, i) => (a.type === 'fd' ? [out[i] as number] : []));
            } catch (e) {
              if (e instanceof WireError) taken = e.fds;
              throw e;
            }
          });
          expect(ok).toBe(true);
          // Never loses an fd: each is either still queued or handed to the caller.
          expect([...taken, ...q.drain()]).toEqual(pushed);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('decodeArgs on a mutated valid message returns or throws a WireError', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(fc.record({ at: fc.nat(), value: fc.nat({ max: 255 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        ({ spec, objectId, opcode, args }, edits) => {
          const { bytes, fds } = encodeMessage(objectId, opcode, spec, args);
          for (const { at, value } of edits)
            bytes[8 + (at % Math.max(1, bytes.length - 8))] = value;
          const q = new FdQueue();
          q.push(fds);
          let taken: readonly number[];
          try {
            const out = decodeArgs(spec, bytes, 0, bytes.length, q);
            taken = spec.args.flatMap((a, i) => (a.type === 'fd' ? [out[i] as number] : []));
          } catch (e) {
            expect(e).toBeInstanceOf(WireError);
            taken = (e as WireError).fds;
          }
          // No fd is lost: taken ones come back to the caller, the rest stay queued.
          expect([...taken, ...q.drain()]).toEqual(fds);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('FrameReader on arbitrary bytes yields frames or a WireError, and terminates', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 10 }), (chunks) => {
        const r = new FrameReader(16);
        let total = 0;
        let frames = 0;
        try {
          for (const c of chunks) {
            r.push(c);
            total += c.length;
            for (let f = r.next(); f; f = r.next()) {
              frames++;
              expect(f.size).toBeGreaterThanOrEqual(8);
            }
          }
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
        }
        // Every frame consumes at least 8 bytes, so the loop is bounded.
        expect(frames).toBeLessThanOrEqual(total / 8);
      }),
      { numRuns: 2000 },
    );
  });
});
