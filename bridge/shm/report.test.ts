import { describe, expect, it } from 'vitest';
import { LIFECYCLE_FORMAT, LIFECYCLE_VERSION, type LifecycleEvent } from './events.js';
import { formatSummary, latency, summarizeTrace } from './report.js';
import { TraceFileError, parseLifecycleTrace } from './trace-file.js';

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

describe('lifecycle trace files', () => {
  it('names the line and the field of a bad event', () => {
    const text =
      trace([{ type: 'pool-created', t: 1, client: 1, pool: 5, size: 4096, pages: 1 }]) +
      '\n{"type":"pool-created","t":2,"client":1,"pool":-3,"size":1,"pages":1}';
    expect(() => parseLifecycleTrace(text, 'x.jsonl')).toThrow(TraceFileError);
    expect(() => parseLifecycleTrace(text, 'x.jsonl')).toThrow(/x\.jsonl:3: pool:/);
  });

  it('refuses a file of another format or version', () => {
    expect(() => parseLifecycleTrace(JSON.stringify({ ...header, version: 99 }))).toThrow(
      /:1: version/,
    );
  });
});

describe('summarizeTrace', () => {
  it('counts pools by evidence reached and times destroy → E2/E3, across reused ids', () => {
    const events: LifecycleEvent[] = [
      { type: 'pool-created', t: 0, client: 1, pool: 5, size: 8192, pages: 2 },
      {
        type: 'buffer-created',
        t: 1,
        client: 1,
        pool: 5,
        buffer: 6,
        offset: 0,
        width: 32,
        height: 32,
        stride: 128,
        format: 0,
      },
      { type: 'pool-destroyed', t: 4, client: 1, pool: 5 },
      { type: 'buffer-destroyed', t: 10, client: 1, pool: 5, buffer: 6 },
      { type: 'evidence', t: 12, client: 1, pool: 5, level: 'E2' },
      { type: 'evidence', t: 15, client: 1, pool: 5, level: 'E3' },
      { type: 'pool-created', t: 20, client: 1, pool: 5, size: 4096, pages: 1 }, // id reused
      { type: 'pool-created', t: 21, client: 2, pool: 9, size: 4096, pages: 1 },
      { type: 'client-gone', t: 30, client: 2 },
      { type: 'evidence', t: 31, client: 2, pool: 9, level: 'E2' },
    ];
    const s = summarizeTrace(parseLifecycleTrace(trace(events)));
    expect(s).toMatchObject({ pools: 3, poolBytes: 16384, buffers: 1, clients: 2, poolsAlive: 1 });
    expect(s.evidenceReached).toEqual({ E0: 1, E1: 0, E2: 1, E3: 1 });
    expect(s.destroyToE2Ms).toEqual({ count: 2, p50: 1, p99: 2, max: 2 });
    expect(s.destroyToE3Ms).toEqual({ count: 1, p50: 5, p99: 5, max: 5 });
    expect(formatSummary(s)).toMatch(/let go → E3 +p50 5\.00 ms/);
  });

  it('keeps two lives of one pool id apart while the first still has a live buffer', () => {
    // weston-simple-shm's pattern, as recorded through the bridge: each pool is destroyed
    // at once, its buffer kept, and the id reused for the next pool.
    const buffer = (t: number, id: number): LifecycleEvent => ({
      type: 'buffer-created',
      t,
      client: 1,
      pool: 9,
      buffer: id,
      offset: 0,
      width: 250,
      height: 250,
      stride: 1000,
      format: 1,
    });
    const events: LifecycleEvent[] = [
      { type: 'pool-created', t: 0, client: 1, pool: 9, size: 250000, pages: 62 },
      buffer(1, 10),
      { type: 'pool-destroyed', t: 2, client: 1, pool: 9 },
      { type: 'delete-acked', t: 3, client: 1, object: 9, kind: 'pool' },
      { type: 'pool-created', t: 4, client: 1, pool: 9, size: 250000, pages: 62 },
      buffer(5, 12),
      { type: 'pool-destroyed', t: 6, client: 1, pool: 9 },
      { type: 'evidence', t: 7, client: 1, pool: 9, level: 'E1' },
      { type: 'client-gone', t: 100, client: 1 },
      { type: 'evidence', t: 100, client: 1, pool: 9, level: 'E2' },
      { type: 'evidence', t: 100, client: 1, pool: 9, level: 'E2' },
      { type: 'evidence', t: 105, client: 1, pool: 9, level: 'E3' },
      { type: 'evidence', t: 106, client: 1, pool: 9, level: 'E3' },
    ];
    const s = summarizeTrace(parseLifecycleTrace(trace(events)));
    expect(s).toMatchObject({ pools: 2, poolsAlive: 0 });
    expect(s.evidenceReached).toEqual({ E0: 0, E1: 0, E2: 0, E3: 2 });
    expect(s.destroyToE3Ms).toEqual({ count: 2, p50: 5, p99: 6, max: 6 });
  });

  it('takes percentiles by rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(latency(samples)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
  });
});
