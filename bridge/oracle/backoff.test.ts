// The poll backoff is pure arithmetic: checked value by value.

import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from './backoff.js';

describe('Backoff', () => {
  it('starts at start, multiplies by factor, stops at max', () => {
    const backoff = new Backoff({ startMs: 2, factor: 3, maxMs: 100 });
    const delays = Array.from({ length: 7 }, () => backoff.nextDelay());
    expect(delays).toEqual([2, 6, 18, 54, 100, 100, 100]);
    expect(backoff.attempts).toBe(7);
  });

  it('gives the next poll time from the time passed in', () => {
    const backoff = new Backoff({ startMs: 1, factor: 2, maxMs: 8 });
    expect(backoff.nextAt(1000)).toBe(1001);
    expect(backoff.nextAt(1001)).toBe(1003);
    expect(backoff.nextAt(1003)).toBe(1007);
  });

  it('starts over after reset', () => {
    const backoff = new Backoff({ startMs: 5, factor: 2, maxMs: 50 });
    backoff.nextDelay();
    backoff.nextDelay();
    backoff.reset();
    expect(backoff.nextDelay()).toBe(5);
    expect(backoff.attempts).toBe(1);
  });

  it('stays at max forever (no overflow to Infinity)', () => {
    const backoff = new Backoff({ startMs: 1, factor: 10, maxMs: 1000 });
    for (let i = 0; i < 5000; i++) backoff.nextDelay();
    expect(backoff.nextDelay()).toBe(1000);
  });

  it('with factor 1 polls at a fixed period', () => {
    const backoff = new Backoff({ startMs: 7, factor: 1, maxMs: 7 });
    expect([backoff.nextDelay(), backoff.nextDelay()]).toEqual([7, 7]);
  });

  it('rejects nonsense options', () => {
    expect(() => new Backoff({ startMs: 0, factor: 2, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ startMs: 1, factor: 0.5, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ startMs: 10, factor: 2, maxMs: 5 })).toThrow(RangeError);
    expect(() => backoffDelay(-1)).toThrow(RangeError);
  });

  it('backoffDelay is the stateless form', () => {
    const options = { startMs: 1, factor: 2, maxMs: 1000 };
    expect([0, 1, 5, 10, 11].map((n) => backoffDelay(n, options))).toEqual([1, 2, 32, 1000, 1000]);
  });
});
