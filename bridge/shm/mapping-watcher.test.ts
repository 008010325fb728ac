// The mapping watcher asks the bridge's one oracle a batch per tick, says who the
// compositor is only as a hint, lets a passthrough pool's owner off, counts a pool whose
// fd may still be in flight as undelivered, waits for the oracle's CPU floor, and never
// asks about an extent already freed.

import { afterEach, describe, expect, it } from 'vitest';
import type { Blindness, MappingOracle, MappingQuestion, MappingVerdict } from '../oracle/types.js';
import { PageCoverage } from './coverage.js';
import { MappingWatcher } from './mapping-watcher.js';
import type { PoolState } from './state.js';
import type { ShmTracker } from './tracker.js';

/** Records every batch; answers from `verdictFor`; its floor is `floor`. */
class RecordingOracle implements MappingOracle {
  batches: MappingQuestion[][] = [];
  floor = Number.NEGATIVE_INFINITY;
  constructor(private readonly verdictFor: (q: MappingQuestion) => MappingVerdict) {}
  verdicts(questions: readonly MappingQuestion[]): MappingVerdict[] {
    this.batches.push([...questions]);
    return questions.map(this.verdictFor);
  }
  verdict(question: MappingQuestion): MappingVerdict {
    return this.verdicts([question])[0]!;
  }
  notBefore(): number {
    return this.floor;
  }
  blindnessFor(): Blindness | undefined {
    return undefined;
  }
}

function pool(id: number, passthrough: boolean, acked: boolean): PoolState {
  const file = { dev: 1n, ino: BigInt(id) };
  return {
    id,
    key: id,
    size: 4096,
    file,
    mappedFile: passthrough ? { ...file } : { dev: 1n, ino: BigInt(1000 + id) },
    clientFd: -1,
    ownDescription: false,
    sealedAgainstShrink: true,
    buffers: new Set(),
    busyBuffers: 0,
    coverage: new PageCoverage(),
    destroyed: true,
    letGo: true,
    acked,
    oracle: undefined,
    evidence: 'E1',
  };
}

function tracker(seen: [number, MappingVerdict][]): ShmTracker {
  return {
    context: { upstreamPid: 111, clientPid: 222 },
    onOracle: (p: PoolState, verdict: MappingVerdict) => seen.push([p.id, verdict]),
  } as unknown as ShmTracker;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let watcher: MappingWatcher | undefined;
afterEach(() => watcher?.close());

describe('MappingWatcher', () => {
  it('asks one batch for every due pool, with what it knows around each file', async () => {
    const oracle = new RecordingOracle(() => 'unmapped');
    // A clock of our own: both pools are watched at the same instant and both are due
    // when the timer fires, however long the machine takes between the two calls.
    let clock = 0;
    watcher = new MappingWatcher(oracle, undefined, () => clock);
    const seen: [number, MappingVerdict][] = [];
    const t = tracker(seen);
    watcher.watch(t, pool(1, false, true));
    watcher.watch(t, pool(2, true, false));
    clock = 100;
    await sleep(30);
    expect(oracle.batches).toHaveLength(1);
    expect(oracle.batches[0]).toEqual([
      { file: { dev: 1n, ino: 1001n }, peerPid: 111, ownerPid: undefined, delivered: true },
      // Passthrough: the client's own file, which the client itself maps.
      { file: { dev: 1n, ino: 2n }, peerPid: 111, ownerPid: 222, delivered: false },
    ]);
    expect(seen).toEqual([
      [1, 'unmapped'],
      [2, 'unmapped'],
    ]);
    expect(watcher.pending).toBe(0);
  });

  it('stops asking about a settled pool (its extent ended or cached: its file may back another pool)', async () => {
    const oracle = new RecordingOracle(() => 'mapped');
    watcher = new MappingWatcher(oracle, { startMs: 1, factor: 2, maxMs: 4 });
    const seen: [number, MappingVerdict][] = [];
    const t = tracker(seen);
    const freed = pool(1, false, true);
    const held = pool(2, false, true);
    watcher.watch(t, freed);
    watcher.watch(t, held);
    await sleep(20);
    expect(seen.filter(([id]) => id === 1).every(([, v]) => v === 'mapped')).toBe(true);
    // The reclaimer ended access to its extent (the tracker heard the verdict then).
    freed.settled = true;
    const asked = oracle.batches.length;
    await sleep(30);
    expect(oracle.batches.length).toBeGreaterThan(asked);
    // Later batches asked only about the other pool.
    for (const batch of oracle.batches.slice(asked)) {
      expect(batch.map((q) => q.file.ino)).toEqual([1002n]);
    }
    expect(watcher.pending).toBe(1);
  });

  it('looks again on its backoff while mapped, never before the oracle’s floor', async () => {
    let verdict: MappingVerdict = 'mapped';
    const oracle = new RecordingOracle(() => verdict);
    watcher = new MappingWatcher(oracle, { startMs: 1, factor: 2, maxMs: 4 });
    const seen: [number, MappingVerdict][] = [];
    oracle.floor = performance.now() + 150;
    watcher.watch(tracker(seen), pool(1, false, true));
    await sleep(100);
    expect(oracle.batches).toHaveLength(0); // held back by the floor
    await sleep(150);
    expect(oracle.batches.length).toBeGreaterThan(0);
    verdict = 'unmapped';
    for (let i = 0; i < 100 && watcher.pending > 0; i++) await sleep(10);
    expect(seen.at(-1)).toEqual([1, 'unmapped']);
  });
});
