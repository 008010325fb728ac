import { describe, expect, it } from 'vitest';
import type { MessageSpec } from '../protocol/types.js';
import { FdQueue } from './fd-queue.js';
import { decodeArgs, decodeFixedArgs } from './decode.js';
import { encodeMessage } from './encode.js';

const spec: MessageSpec = {
  name: 'mixed',
  since: 1,
  destructor: false,
  args: [
    { name: 'x', type: 'int' },
    { name: 'u', type: 'uint' },
    { name: 'f', type: 'fixed' },
    { name: 'o', type: 'object', interface: 'wl_buffer', nullable: true },
    { name: 'id', type: 'new_id', interface: 'wl_callback' },
  ],
};

describe('decodeFixedArgs', () => {
  it('reads every fixed-size word as decodeArgs does', () => {
    for (const args of [
      [-5, 4_000_000_000, -1.5, 0, 7],
      [2_147_483_647, 0, 1024.25, 9, 0xfeffffff],
    ]) {
      const { bytes } = encodeMessage(3, 0, spec, args);
      expect(decodeFixedArgs(spec, bytes, 0)).toEqual(
        decodeArgs(spec, bytes, 0, bytes.length, new FdQueue()),
      );
      expect(decodeFixedArgs(spec, bytes, 0)).toEqual(args);
    }
  });
});
