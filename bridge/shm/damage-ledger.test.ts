// The ledger says what a commit must copy: a buffer's first commit copies it whole; a
// buffer shown before copies its own damage plus everything committed on its surfaces
// since its last copy; damage from a buffer of another size, or too many rectangles,
// means the whole buffer; destroyed buffers and surfaces are forgotten.

import { describe, expect, it } from 'vitest';
import { DamageLedger } from './damage-ledger.js';
import { MAX_DAMAGE_RECTS, newBufferState, newPoolState, type Rect } from './state.js';

const pool = newPoolState({
  id: 1,
  key: 1,
  size: 1 << 20,
  file: { dev: 1n, ino: 1n },
  mappedFile: undefined,
  clientFd: -1,
  ownDescription: false,
  sealedAgainstShrink: true,
});
const buffer = (id: number, width = 64, height = 64): ReturnType<typeof newBufferState> =>
  newBufferState({
    id,
    pool,
    offset: 0,
    width,
    height,
    stride: width * 4,
    format: 0,
    pages: { first: 0, end: 4 },
  });
const r = (x: number): Rect => [x, x, 1, 1];

describe('DamageLedger', () => {
  it('copies a first commit whole, then only its damage', () => {
    const ledger = new DamageLedger();
    const a = buffer(1);
    expect(ledger.committed(10, a, [r(1)])).toBeNull();
    expect(ledger.committed(10, a, [r(2)])).toEqual([r(2)]);
    expect(ledger.committed(10, a, null)).toBeNull();
  });

  it('gives a buffer the damage committed on its surface in the other buffers since its last copy', () => {
    const ledger = new DamageLedger();
    const [a, b] = [buffer(1), buffer(2)];
    ledger.committed(10, a, null);
    // b's first commit is copied whole; a missed its damage all the same.
    expect(ledger.committed(10, b, [r(0)])).toBeNull();
    expect(ledger.committed(10, b, [r(1)])).toEqual([r(1)]);
    expect(ledger.committed(10, b, [r(2)])).toEqual([r(2)]);
    // a missed all of b's frames.
    expect(ledger.committed(10, a, [r(3)])).toEqual([r(0), r(1), r(2), r(3)]);
    // …and b missed a's.
    expect(ledger.committed(10, b, [r(4)])).toEqual([r(3), r(4)]);
  });

  it('copies whole after damage from a buffer of another size, or too many rectangles', () => {
    const ledger = new DamageLedger();
    const [a, small, b] = [buffer(1), buffer(2, 32, 32), buffer(3)];
    for (const x of [a, small, b]) ledger.committed(10, x, [r(0)]);
    ledger.committed(10, a, [r(0)]);
    ledger.committed(10, small, [r(1)]);
    expect(ledger.committed(10, a, [r(2)])).toBeNull();
    expect(ledger.committed(10, b, [r(2)])).toBeNull();
    // Up to MAX_DAMAGE_RECTS missed rectangles are kept; one more and b is copied whole.
    for (let i = 0; i < MAX_DAMAGE_RECTS - 1; i++) ledger.committed(10, a, [r(i)]);
    expect(ledger.committed(10, b, [r(9)])).toHaveLength(MAX_DAMAGE_RECTS);
    for (let i = 0; i <= MAX_DAMAGE_RECTS; i++) ledger.committed(10, a, [r(i)]);
    expect(ledger.committed(10, b, [r(9)])).toBeNull();
  });

  it('forgets destroyed buffers, surfaces and let-go pools', () => {
    const ledger = new DamageLedger();
    const [a, b] = [buffer(1), buffer(2)];
    ledger.committed(10, a, null);
    ledger.committed(11, b, null);
    expect(ledger.size).toBe(2);
    ledger.bufferDestroyed(a);
    expect(ledger.size).toBe(1);
    // A surface gone: its commits no longer reach b (b's next commit copies only its own).
    ledger.surfaceDestroyed(11);
    ledger.committed(12, buffer(3), null);
    expect(ledger.committed(12, b, [r(5)])).toEqual([r(5)]);
    ledger.poolLetGo(pool);
    expect(ledger.size).toBe(0);
  });
});
