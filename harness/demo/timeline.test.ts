// The demo's record and plot data: grants are attributed to the pool they back (also
// when a refused pool gives its extent back unclaimed), a SIGKILLed client is marked,
// and grant steps count +1 at a grant and −1 at its free, down to 0.

import { describe, expect, it } from 'vitest';
import { SimGrantBackend } from '../../bridge/grants/sim.js';
import type { LifecycleEvent } from '../../bridge/shm/events.js';
import { DemoRecorder } from './timeline-record.js';
import { grantSteps } from './timeline-svg.js';

const connected = (client: number, pid: number, t: number): LifecycleEvent => ({
  type: 'client-connected',
  t,
  client,
  clientPid: pid,
  compositorPid: 1,
});
const poolCreated = (client: number, poolKey: number, t: number): LifecycleEvent => ({
  type: 'pool-created',
  t,
  client,
  pool: poolKey + 10,
  poolKey,
  size: 4096,
  pages: 1,
});

describe('DemoRecorder', () => {
  it('gives each grant to the pool created right after it, skipping refused pools', () => {
    const recorder = new DemoRecorder('grant');
    const backend = recorder.backend(new SimGrantBackend());
    recorder.sink(connected(1, 100, 0));
    recorder.sink(connected(2, 200, 0));
    const a = backend.allocate(1);
    recorder.sink(poolCreated(1, 1, 1));
    // A pool refused after its extent was taken: the extent goes back, no pool-created.
    const refused = backend.allocate(1);
    backend.endForeignAccess(refused);
    backend.free(refused);
    const b = backend.allocate(1);
    recorder.sink(poolCreated(2, 1, 2));
    recorder.sink({ type: 'evidence', t: 3, client: 2, pool: 11, poolKey: 1, level: 'E3' });
    recorder.killed(200);
    recorder.sink({ type: 'client-gone', t: 4, client: 2 });
    backend.endForeignAccess(b);
    backend.free(b);
    const timeline = recorder.finish();
    const [one, two] = [1, 2].map((s) => timeline.pools.find((p) => p.session === s)!);
    expect(one!.grantedAt).toBe(1);
    expect(one!.freedAt).toBeUndefined(); // `a` is still held
    expect(two!.grantedAt).toBe(2);
    expect(two!.freedAt).toBeGreaterThan(0);
    expect(two!.letGoAt).toBe(4);
    expect(two!.levels.map((l) => l.level)).toEqual(['E1', 'E3']);
    expect(timeline.clients.map((c) => c.killedAt !== undefined)).toEqual([false, true]);
    backend.endForeignAccess(a);
    backend.free(a);
  });
});

describe('grantSteps', () => {
  it('counts grants in use over time, back to 0 when all are freed', () => {
    const lane = (grantedAt: number, freedAt: number | undefined) => ({
      session: 1,
      poolKey: 1,
      size: 4096,
      createdAt: grantedAt,
      levels: [],
      grantedAt,
      letGoAt: undefined,
      freedAt,
    });
    expect(grantSteps([lane(1, 5), lane(2, 3), lane(3, 8)])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 2], // one freed and one granted at the same time
      [5, 1],
      [8, 0],
    ]);
    expect(grantSteps([lane(1, undefined)]).at(-1)).toEqual([1, 1]);
  });
});
