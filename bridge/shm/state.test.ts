import { describe, expect, it } from 'vitest';
import {
  type BufferState,
  type PoolState,
  type SurfaceState,
  damageInBufferCoordinates,
  newBufferState,
  newPoolState,
  newSurfaceState,
  poolEvidence,
  setBufferBusy,
} from './state.js';

function pool(over: Partial<PoolState> = {}): PoolState {
  const p = newPoolState({
    id: 5,
    key: 1,
    size: 4096,
    file: { dev: 1n, ino: 2n },
    mappedFile: { dev: 1n, ino: 2n },
    clientFd: -1,
    ownDescription: false,
    sealedAgainstShrink: true,
  });
  return { ...p, ...over };
}

function buffer(p: PoolState, over: Partial<BufferState> = {}): BufferState {
  const b: BufferState = {
    ...newBufferState({
      id: 6,
      pool: p,
      offset: 0,
      width: 100,
      height: 50,
      stride: 400,
      format: 0,
      pages: { first: 0, end: 5 },
    }),
    ...over,
  };
  p.buffers.add(b);
  return b;
}

function surface(over: Partial<SurfaceState> = {}): SurfaceState {
  return { ...newSurfaceState(7), ...over };
}

describe('poolEvidence', () => {
  it('is E0 while the compositor holds a live buffer, E1 once none is held', () => {
    const p = pool();
    const [a, b] = [buffer(p), buffer(p)];
    setBufferBusy(a, true);
    setBufferBusy(b, true);
    setBufferBusy(b, true); // a second commit of a held buffer holds it once
    expect(poolEvidence(p)).toBe('E0');
    setBufferBusy(a, false);
    expect(poolEvidence(p)).toBe('E0'); // b is still held
    setBufferBusy(b, false);
    setBufferBusy(b, false); // a release that follows a destroy counts once
    expect(poolEvidence(p)).toBe('E1');
    expect(p.busyBuffers).toBe(0);
  });

  it('needs the pool destroyed and retired and every buffer retired for E2', () => {
    const p = pool({ destroyed: true, acked: true });
    const b = buffer(p, { destroyed: true });
    expect(poolEvidence(p)).toBe('E1');
    p.buffers.delete(b); // its delete_id arrived
    expect(poolEvidence(p)).toBe('E2');
    expect(poolEvidence({ ...p, acked: false })).toBe('E1');
  });

  it('is E3 only for a destroyed pool the oracle saw unmapped', () => {
    expect(poolEvidence(pool({ oracle: 'unmapped' }))).toBe('E1'); // still the client's
    expect(poolEvidence(pool({ destroyed: true, oracle: 'unmapped' }))).toBe('E3');
    expect(poolEvidence(pool({ destroyed: true, acked: true, oracle: 'unavailable' }))).toBe('E2');
  });
});

describe('damageInBufferCoordinates', () => {
  const b = buffer(pool());
  it('scales surface damage and keeps buffer damage, clipped to the buffer', () => {
    const s = surface({
      scale: 2,
      pendingDamage: [[10, 10, 5, 5]],
      pendingBufferDamage: [[90, 40, 50, 50]],
    });
    expect(damageInBufferCoordinates(s, b)).toEqual([
      [20, 20, 10, 10],
      [90, 40, 10, 10],
    ]);
  });

  it('clips "damage everything" rectangles', () => {
    const s = surface({ pendingDamage: [[0, 0, 2147483647, 2147483647]] });
    expect(damageInBufferCoordinates(s, b)).toEqual([[0, 0, 100, 50]]);
  });

  it('gives up (null: full frame) under a transform or a viewport', () => {
    expect(
      damageInBufferCoordinates(surface({ transform: 1, pendingDamage: [[0, 0, 1, 1]] }), b),
    ).toBeNull();
    expect(damageInBufferCoordinates(surface({ viewported: true }), b)).toBeNull();
  });
});
