import { describe, expect, it } from 'vitest';
import { LIFECYCLE_FORMAT, LIFECYCLE_VERSION, type LifecycleEvent } from './events.js';
import { formatSummary, latency, poolLatencySamples, summarizeTrace } from './report.js';
import { TraceFileError, parseLifecycleTrace, readLifecycleTrace } from './trace-file.js';

const header = {
  format: LIFECYCLE_FORMAT,
  version: LIFECYCLE_VERSION,
  startedAt: '2026-11-21T00:00:00Z',
  mode: 'passthrough',
  source: 'test',
};

function trace(events: LifecycleEvent[]): string {
  return [header, ...events].map((e) => JSON.stringify(e)).join('\n');
}

/** The same events as a version 1 record wrote them: no pool keys. */
function traceV1(events: LifecycleEvent[]): string {
  const strip = (e: LifecycleEvent): object =>
    Object.fromEntries(Object.entries(e).filter(([field]) => field !== 'poolKey'));
  return [{ ...header, version: 1 }, ...events.map(strip)].map((e) => JSON.stringify(e)).join('\n');
}

/**
 * weston-simple-shm's pattern: each pool is destroyed right after its buffer is made, so
 * the second pool reuses the first one's id while the first lives on through its buffer;
 * the client then leaves, and both pools go to E2 and E3.
 */
const reusedIds: LifecycleEvent[] = [
  { type: 'pool-created', t: 0, client: 1, pool: 9, poolKey: 1, size: 250000, pages: 62 },
  buffer(1, 9, 1, 10),
  { type: 'pool-destroyed', t: 2, client: 1, pool: 9, poolKey: 1 },
  { type: 'delete-acked', t: 3, client: 1, object: 9, kind: 'pool', poolKey: 1 },
  { type: 'buffer-committed', t: 4, client: 1, buffer: 10, surface: 3, damage: null },
  { type: 'evidence', t: 4, client: 1, pool: 9, poolKey: 1, level: 'E0' },
  { type: 'pool-created', t: 5, client: 1, pool: 9, poolKey: 2, size: 250000, pages: 62 },
  buffer(6, 9, 2, 11),
  { type: 'pool-destroyed', t: 7, client: 1, pool: 9, poolKey: 2 },
  { type: 'delete-acked', t: 8, client: 1, object: 9, kind: 'pool', poolKey: 2 },
  { type: 'buffer-destroyed', t: 100, client: 1, buffer: 10, pool: 9, poolKey: 1 },
  { type: 'buffer-destroyed', t: 100, client: 1, buffer: 11, pool: 9, poolKey: 2 },
  { type: 'client-gone', t: 101, client: 1 },
  { type: 'evidence', t: 101, client: 1, pool: 9, poolKey: 1, level: 'E2' },
  { type: 'evidence', t: 101, client: 1, pool: 9, poolKey: 2, level: 'E2' },
  { type: 'oracle', t: 103, client: 1, pool: 9, poolKey: 1, verdict: 'unmapped' },
  { type: 'evidence', t: 103, client: 1, pool: 9, poolKey: 1, level: 'E3' },
  { type: 'oracle', t: 104, client: 1, pool: 9, poolKey: 2, verdict: 'unmapped' },
  { type: 'evidence', t: 104, client: 1, pool: 9, poolKey: 2, level: 'E3' },
];

function buffer(t: number, pool: number, poolKey: number, id: number): LifecycleEvent {
  return {
    type: 'buffer-created',
    t,
    client: 1,
    pool,
    poolKey,
    buffer: id,
    offset: 0,
    width: 250,
    height: 250,
    stride: 1000,
    format: 1,
  };
}

describe('lifecycle trace files', () => {
  it('names the line and the field of a bad event', () => {
    const text =
      trace([
        { type: 'pool-created', t: 1, client: 1, pool: 5, poolKey: 1, size: 4096, pages: 1 },
      ]) + '\n{"type":"pool-created","t":2,"client":1,"pool":-3,"poolKey":2,"size":1,"pages":1}';
    expect(() => parseLifecycleTrace(text, 'x.jsonl')).toThrow(TraceFileError);
    expect(() => parseLifecycleTrace(text, 'x.jsonl')).toThrow(/x\.jsonl:3: pool:/);
  });

  it('refuses a file of another format or version', () => {
    expect(() => parseLifecycleTrace(JSON.stringify({ ...header, version: 99 }))).toThrow(
      /:1: version/,
    );
  });

  it('requires pool keys from version 2 on', () => {
    const text = trace([]) + '\n{"type":"pool-destroyed","t":2,"client":1,"pool":3}';
    expect(() => parseLifecycleTrace(text, 'x.jsonl')).toThrow(/x\.jsonl:2: poolKey:/);
  });

  it('reads version 1 records, giving each pool a key across reused ids', () => {
    const upgraded = parseLifecycleTrace(traceV1(reusedIds)).events;
    expect(upgraded).toEqual(reusedIds);
  });

  it('reads the committed version 1 fixtures', () => {
    for (const name of ['weston-simple-shm', 'weston-terminal', 'resize-every-frame']) {
      const t = readLifecycleTrace(`fixtures/traces/${name}.jsonl`);
      const created = t.events.filter((e) => e.type === 'pool-created');
      expect(new Set(created.map((e) => e.poolKey)).size).toBe(created.length);
      expect(summarizeTrace(t).pools).toBe(created.length);
    }
  });
});

describe('summarizeTrace', () => {
  it('counts pools by evidence reached and times destroy → E2/E3, across reused ids', () => {
    const events: LifecycleEvent[] = [
      { type: 'pool-created', t: 0, client: 1, pool: 5, poolKey: 1, size: 8192, pages: 2 },
      {
        type: 'buffer-created',
        t: 1,
        client: 1,
        pool: 5,
        poolKey: 1,
        buffer: 6,
        offset: 0,
        width: 32,
        height: 32,
        stride: 128,
        format: 0,
      },
      { type: 'pool-destroyed', t: 4, client: 1, pool: 5, poolKey: 1 },
      { type: 'buffer-destroyed', t: 10, client: 1, pool: 5, poolKey: 1, buffer: 6 },
      { type: 'evidence', t: 12, client: 1, pool: 5, poolKey: 1, level: 'E2' },
      { type: 'evidence', t: 15, client: 1, pool: 5, poolKey: 1, level: 'E3' },
      { type: 'pool-created', t: 20, client: 1, pool: 5, poolKey: 2, size: 4096, pages: 1 },
      { type: 'pool-created', t: 21, client: 2, pool: 9, poolKey: 1, size: 4096, pages: 1 },
      { type: 'client-gone', t: 30, client: 2 },
      { type: 'evidence', t: 31, client: 2, pool: 9, poolKey: 1, level: 'E2' },
    ];
    const s = summarizeTrace(parseLifecycleTrace(trace(events)));
    expect(s).toMatchObject({ pools: 3, poolBytes: 16384, buffers: 1, clients: 2, poolsAlive: 1 });
    expect(s.evidenceReached).toEqual({ E0: 1, E1: 0, E2: 1, E3: 1 });
    expect(s.destroyToE2Ms).toEqual({ count: 2, p50: 1, p99: 2, max: 2 });
    expect(s.destroyToE3Ms).toEqual({ count: 1, p50: 5, p99: 5, max: 5 });
    expect(formatSummary(s)).toMatch(/let go → E3 +p50 5\.00 ms/);
  });

  it('follows a pool whose id was reused while it lived (weston-simple-shm), in either version', () => {
    for (const text of [trace(reusedIds), traceV1(reusedIds)]) {
      const s = summarizeTrace(parseLifecycleTrace(text));
      expect(s).toMatchObject({ pools: 2, buffers: 2, poolsAlive: 0 });
      expect(s.evidenceReached).toEqual({ E0: 0, E1: 0, E2: 0, E3: 2 });
      expect(s.destroyToE3Ms).toEqual({ count: 2, p50: 3, p99: 4, max: 4 });
      expect(formatSummary(s)).toMatch(/0 still alive at the end/);
    }
  });

  it('gives each pool its own waits, E2 to E3 among them (what a caching compositor lengthens)', () => {
    const samples = poolLatencySamples(parseLifecycleTrace(trace(reusedIds)));
    expect(samples.destroyToE2).toEqual([1, 1]);
    expect(samples.destroyToE3).toEqual([3, 4]);
    expect(samples.e2ToE3).toEqual([2, 3]);
  });

  it('takes percentiles by rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(latency(samples)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
  });
});
