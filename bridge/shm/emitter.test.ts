// The emitter's per-frame methods (committed, released, evidence) build their events by
// hand instead of through emit()/pool(): a record must not change by a byte for it.

import { describe, expect, it } from 'vitest';
import { LifecycleEmitter } from './emitter.js';
import type { LifecycleEvent } from './events.js';
import { lifecycleEventSchema } from './events.js';
import { newPoolState } from './state.js';

function emitter(): { events: LifecycleEvent[]; emitter: LifecycleEmitter } {
  const events: LifecycleEvent[] = [];
  return { events, emitter: new LifecycleEmitter(7, 100, (e) => events.push(e)) };
}

const pool = newPoolState({
  id: 12,
  key: 3,
  size: 4096,
  file: { dev: 1n, ino: 2n },
  mappedFile: undefined,
  clientFd: -1,
  ownDescription: false,
  sealedAgainstShrink: false,
});

describe('LifecycleEmitter', () => {
  it('writes the per-frame events exactly as emit() and pool() write them', () => {
    const hand = emitter();
    const generic = emitter();
    hand.emitter.committed(150.5, 21, 9, [[0, 0, 10, 10]]);
    generic.emitter.emit(150.5, {
      type: 'buffer-committed',
      buffer: 21,
      surface: 9,
      damage: [[0, 0, 10, 10]],
    });
    hand.emitter.committed(160, 21, 9, null);
    generic.emitter.emit(160, { type: 'buffer-committed', buffer: 21, surface: 9, damage: null });
    hand.emitter.released(170, 21);
    generic.emitter.emit(170, { type: 'buffer-released', buffer: 21 });
    hand.emitter.evidence(180, pool, 'E0');
    generic.emitter.pool(180, pool, { type: 'evidence', level: 'E0' });
    // Before the trace's start, as emit() does: t is never negative.
    hand.emitter.released(50, 22);
    generic.emitter.emit(50, { type: 'buffer-released', buffer: 22 });

    expect(hand.events.map((e) => JSON.stringify(e))).toEqual(
      generic.events.map((e) => JSON.stringify(e)),
    );
    for (const event of hand.events) expect(lifecycleEventSchema.parse(event)).toEqual(event);
    expect(hand.events[4]).toMatchObject({ t: 0, client: 7 });
  });
});
