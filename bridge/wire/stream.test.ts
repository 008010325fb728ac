// The wire pieces together as the relay uses them: bytes through FrameReader, fds
// through FdQueue, decodeArgs when a frame is complete. SCM_RIGHTS fds arrive with some
// sendmsg, not necessarily with the bytes of the message that uses them.

import { describe, expect, it } from 'vitest';
import {
  countFds,
  decodeArgs,
  FdQueue,
  FrameReader,
  MissingFdError,
  type WireError,
} from './index.js';
import { concatBytes, MessageBuilder, specs } from './test-builder.js';

const createPool = (id: number, fd: number) =>
  new MessageBuilder().newId(id).fd(fd).int(4096).build(4, 0);

describe('fd arrival relative to bytes', () => {
  it('fds that arrive before their message are taken when it is decoded', () => {
    const fds = new FdQueue();
    const reader = new FrameReader();
    fds.push([30, 31]);
    reader.push(concatBytes([createPool(5, 30), createPool(6, 31)]));
    const decoded = [reader.next()!, reader.next()!].map((f) =>
      decodeArgs(specs.createPool, f.bytes, 0, f.size, fds),
    );
    expect(decoded).toEqual([
      [5, 30, 4096],
      [6, 31, 4096],
    ]);
    expect(fds.length).toBe(0);
  });

  it('fds that arrive with a later read are found if decoding waits for them', () => {
    const fds = new FdQueue();
    const reader = new FrameReader();
    reader.push(createPool(5, 30));
    const frame = reader.next()!;
    // The relay's rule: decode only once the message's fds are queued.
    expect(fds.length >= countFds(specs.createPool)).toBe(false);
    fds.push([30]);
    expect(fds.length >= countFds(specs.createPool)).toBe(true);
    expect(decodeArgs(specs.createPool, frame.bytes, 0, frame.size, fds)).toEqual([5, 30, 4096]);
  });

  it('decoding before the fd arrived is a MissingFdError and consumes nothing', () => {
    const fds = new FdQueue();
    const bytes = createPool(5, 30);
    let err: unknown;
    try {
      decodeArgs(specs.createPool, bytes, 0, bytes.length, fds);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingFdError);
    expect((err as WireError).code).toBe('ERR_WIRE_FD');
    expect((err as WireError).fds).toEqual([]);
    // Retrying once the fd is there succeeds: nothing was lost.
    fds.push([30]);
    expect(decodeArgs(specs.createPool, bytes, 0, bytes.length, fds)).toEqual([5, 30, 4096]);
  });

  it('a batch of fds is shared out across the messages in order', () => {
    const fds = new FdQueue();
    const reader = new FrameReader();
    const twoFds = new MessageBuilder().fd(41).uint(9).fd(42).build(8, 0);
    reader.push(concatBytes([createPool(5, 40), twoFds]).subarray(0, 20));
    fds.push([40, 41, 42, 43]);
    const a = reader.next()!;
    expect(decodeArgs(specs.createPool, a.bytes, 0, a.size, fds)).toEqual([5, 40, 4096]);
    expect(reader.next()).toBeUndefined();
    reader.push(twoFds.subarray(4));
    const b = reader.next()!;
    expect(decodeArgs(specs.twoFds, b.bytes, 0, b.size, fds)).toEqual([41, 9, 42]);
    // Left over for a later message, or for closing on teardown.
    expect(fds.drain()).toEqual([43]);
  });
});
