import { describe, expect, it } from 'vitest';
import { FdQueue } from './index.js';

describe('FdQueue', () => {
  it('is FIFO across pushes', () => {
    const q = new FdQueue();
    expect(q.length).toBe(0);
    expect(q.take()).toBeUndefined();
    q.push([10, 11]);
    q.push([12]);
    expect(q.length).toBe(3);
    expect(q.take()).toBe(10);
    q.push([13]);
    expect([q.take(), q.take(), q.take()]).toEqual([11, 12, 13]);
    expect(q.take()).toBeUndefined();
    expect(q.length).toBe(0);
  });

  it('drain returns what is left, oldest first, and empties the queue', () => {
    const q = new FdQueue();
    q.push([3, 4, 5]);
    q.take();
    expect(q.drain()).toEqual([4, 5]);
    expect(q.length).toBe(0);
    expect(q.drain()).toEqual([]);
    q.push([6]);
    expect(q.take()).toBe(6);
  });

  it('keeps order through internal compaction', () => {
    const q = new FdQueue();
    const expected: number[] = [];
    const got: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      const batch = Array.from({ length: 7 }, () => next++);
      q.push(batch);
      expected.push(...batch);
      for (let i = 0; i < 5; i++) got.push(q.take()!);
    }
    got.push(...q.drain());
    expect(got).toEqual(expected);
  });
});
