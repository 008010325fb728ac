import { describe, expect, it } from 'vitest';
import { type Frame, FrameReader, MalformedHeaderError, type WireError } from './index.js';
import { concatBytes, hex, MessageBuilder } from './test-builder.js';

const messages = [
  new MessageBuilder().newId(2).build(1, 1), // wl_display.get_registry
  new MessageBuilder().uint(1).untypedNewId('wl_compositor', 4, 3).build(2, 0),
  new MessageBuilder().build(6, 0), // header only
  new MessageBuilder()
    .uint(7)
    .object(9)
    .array(Uint8Array.of(1, 2, 3))
    .build(0xff000001, 1),
  new MessageBuilder().uint(1).string('a longer string to cross more boundaries').build(1, 0),
];
const stream = concatBytes(messages);

function drain(reader: FrameReader): Frame[] {
  const out: Frame[] = [];
  for (let f = reader.next(); f !== undefined; f = reader.next()) out.push(f);
  return out;
}

/** Frames as plain data, copied out of the reader's buffer at once. */
function snapshot(
  frames: Frame[],
): { objectId: number; opcode: number; size: number; hex: string }[] {
  return frames.map((f) => ({
    objectId: f.objectId,
    opcode: f.opcode,
    size: f.size,
    hex: hex(f.bytes),
  }));
}

const expected = messages.map((m) => ({
  objectId: new DataView(m.buffer).getUint32(0, true),
  opcode: new DataView(m.buffer).getUint16(4, true),
  size: m.length,
  hex: hex(m),
}));

describe('FrameReader', () => {
  it('returns several messages from one chunk', () => {
    const r = new FrameReader();
    r.push(stream);
    expect(r.buffered).toBe(stream.length);
    expect(snapshot(drain(r))).toEqual(expected);
    expect(r.buffered).toBe(0);
    expect(r.next()).toBeUndefined();
  });

  it('yields the same frames for a split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new FrameReader(16);
      const got = snapshot(drain(r));
      r.push(stream.subarray(0, cut));
      got.push(...snapshot(drain(r)));
      r.push(stream.subarray(cut));
      got.push(...snapshot(drain(r)));
      expect(got, `cut at ${cut}`).toEqual(expected);
      expect(r.buffered).toBe(0);
    }
  });

  it('yields the same frames for every pair of split points', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const r = new FrameReader(8);
        const got: ReturnType<typeof snapshot> = [];
        for (const part of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) {
          r.push(part);
          got.push(...snapshot(drain(r)));
        }
        expect(got).toEqual(expected);
      }
    }
  });

  it('yields the same frames when fed one byte at a time', () => {
    const r = new FrameReader(8);
    const got: ReturnType<typeof snapshot> = [];
    for (let i = 0; i < stream.length; i++) {
      r.push(stream.subarray(i, i + 1));
      expect(r.buffered).toBeLessThanOrEqual(4096);
      got.push(...snapshot(drain(r)));
    }
    expect(got).toEqual(expected);
  });

  it('yields the same frames when everything is pushed before anything is read', () => {
    const r = new FrameReader(8);
    for (let i = 0; i < 100; i++) r.push(stream);
    const frames = snapshot(drain(r));
    expect(frames).toHaveLength(100 * messages.length);
    expect(frames.slice(-messages.length)).toEqual(expected);
  });

  it('copies pushed chunks, so the caller may reuse its read buffer', () => {
    const r = new FrameReader();
    const readBuf = stream.slice();
    r.push(readBuf.subarray(0, 10));
    readBuf.fill(0xff);
    r.push(stream.subarray(10));
    expect(snapshot(drain(r))).toEqual(expected);
  });

  it('keeps frame bytes valid until the next push', () => {
    const r = new FrameReader(32);
    r.push(stream);
    const frames = drain(r);
    expect(snapshot(frames)).toEqual(expected);
  });

  it('handles a 4096-byte message through a small initial buffer', () => {
    const big = new MessageBuilder()
      .uint(1)
      .object(2)
      .array(new Uint8Array(4076).fill(7))
      .build(3, 1);
    const r = new FrameReader(8);
    r.push(big.subarray(0, 100));
    expect(r.next()).toBeUndefined();
    expect(r.buffered).toBe(100);
    r.push(big.subarray(100));
    const f = r.next();
    expect(f?.size).toBe(4096);
    expect(hex(f!.bytes)).toBe(hex(big));
  });

  it('throws MalformedHeaderError as soon as a bad header is buffered, and keeps throwing', () => {
    const r = new FrameReader();
    r.push(messages[0]!);
    r.push(new MessageBuilder().build(5, 9, 8000).subarray(0, 8));
    expect(r.next()?.objectId).toBe(1);
    for (let i = 0; i < 2; i++) {
      let err: unknown;
      try {
        r.next();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MalformedHeaderError);
      expect((err as WireError).code).toBe('ERR_WIRE_HEADER');
      expect((err as WireError).objectId).toBe(5);
      expect((err as WireError).opcode).toBe(9);
    }
  });

  it.each([0, 4, 10, 4100])('header size %i is malformed', (size) => {
    const r = new FrameReader();
    r.push(new MessageBuilder().uint(0).build(1, 0, size));
    expect(() => r.next()).toThrow(MalformedHeaderError);
  });

  it('waits for a header before judging it', () => {
    const r = new FrameReader();
    r.push(Uint8Array.of(1, 0, 0, 0, 0, 0, 2));
    expect(r.next()).toBeUndefined();
    r.push(Uint8Array.of(0));
    expect(() => r.next()).toThrow(MalformedHeaderError);
  });
});
