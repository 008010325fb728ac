// The work the benchmarks (and the profiler) put through a path to a compositor: a
// wl_display.sync roundtrip loop, a request flood, and clients that commit big shm
// frames at once. All through BlockingClient (raw bytes, blocking syscalls), so what
// is measured is the path and the compositor, never a client library's event loop.

import { PoolFile } from '../../harness/client/pool-file.js';
import type { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import { readU32 } from '../../bridge/wire/le.js';
import { BlockingClient } from './blocking-client.js';

/** Roundtrips run before measuring, so V8 has optimised every hot path on the way. */
export const WARMUP_ROUNDTRIPS = 3000;

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

/** The q-quantile (nearest rank) of xs. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  if (q === 0.5 && s.length % 2 === 0) return (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/**
 * wl_display.sync roundtrips in µs over `count`, after a warm-up: the median and the
 * 10th and 90th percentiles. On a VM the spread says what a median hides: a roundtrip
 * whose processes all wake on one vCPU takes tens of µs, one that wakes a halted vCPU
 * takes over a hundred (docs/performance-profiles.md, "Placed roundtrips").
 */
export interface RoundtripSpread {
  readonly p10Us: number;
  readonly p50Us: number;
  readonly p90Us: number;
}

export function measureRoundtrip(
  path: string,
  registry: ProtocolRegistry,
  count: number,
  warmup = WARMUP_ROUNDTRIPS,
): RoundtripSpread {
  const client = new BlockingClient(path, registry);
  try {
    const id = client.allocateId();
    for (let i = 0; i < warmup; i++) client.roundtrip(id);
    const samples: number[] = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      client.roundtrip(id);
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    return {
      p10Us: quantile(samples, 0.1),
      p50Us: median(samples),
      p90Us: quantile(samples, 0.9),
    };
  } finally {
    client.close();
  }
}

/** Requests/s: `count` wl_surface.damage requests written flat out, then a roundtrip. */
export function measureFlood(path: string, registry: ProtocolRegistry, count: number): number {
  const client = new BlockingClient(path, registry);
  try {
    const bound = client.bindGlobals({ wl_compositor: 4 });
    const surface = client.allocateId();
    client.request(bound.get('wl_compositor')!, 'wl_compositor', 'create_surface', [surface]);
    const cb = client.allocateId();
    client.roundtrip(cb);
    const one = client.encode(surface, 'wl_surface', 'damage', [0, 0, 1, 1]);
    const stream = new Uint8Array(one.length * count);
    for (let i = 0; i < count; i++) stream.set(one, i * one.length);
    const t0 = process.hrtime.bigint();
    client.write(stream);
    client.roundtrip(cb); // every request has been handled once the sync comes back
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return count / seconds;
  } finally {
    client.close();
  }
}

/**
 * A client with one surface and one width×height ARGB8888 buffer in a sealed memfd
 * pool (as real clients make them, so grant mode maps rather than preads), ready to
 * commit frames with full damage.
 */
export class FrameClient {
  readonly client: BlockingClient;
  private readonly surface: number;
  private readonly buffer: number;
  private readonly syncId: number;
  private readonly frame: Uint8Array;

  constructor(path: string, registry: ProtocolRegistry, width: number, height: number) {
    this.client = new BlockingClient(path, registry);
    const c = this.client;
    const bound = c.bindGlobals({ wl_compositor: 4, wl_shm: 1 });
    const stride = width * 4;
    const size = stride * height;
    const file = new PoolFile(size, { name: 'bench-frame' });
    try {
      const view = file.bytes;
      for (let i = 0; i < size; i += 4096) view[i] = (i >>> 12) & 0xff; // touch every page
      const fd = file.fd;
      const pool = c.allocateId();
      c.request(bound.get('wl_shm')!, 'wl_shm', 'create_pool', [pool, fd, size], [fd]);
      this.buffer = c.allocateId();
      c.request(pool, 'wl_shm_pool', 'create_buffer', [this.buffer, 0, width, height, stride, 0]);
      this.surface = c.allocateId();
      c.request(bound.get('wl_compositor')!, 'wl_compositor', 'create_surface', [this.surface]);
    } finally {
      file.close();
    }
    this.syncId = c.allocateId();
    c.roundtrip(this.syncId);
    this.frame = concat([
      c.encode(this.surface, 'wl_surface', 'attach', [this.buffer, 0, 0]),
      c.encode(this.surface, 'wl_surface', 'damage', [0, 0, width, height]),
      c.encode(this.surface, 'wl_surface', 'commit', []),
      c.encode(1, 'wl_display', 'sync', [this.syncId]),
    ]);
  }

  /** Sends attach + full damage + commit + sync without waiting. */
  commit(): void {
    this.client.write(this.frame);
  }

  /** Without blocking: whether the sync sent after the last commit has come back. */
  done(): boolean {
    const id = this.syncId;
    return this.client.poll(
      (f) => f.objectId === 1 && f.opcode === 1 && readU32(f.bytes, 8) === id,
    );
  }

  /** Blocks until the sync sent after the last commit has come back. */
  waitDone(): void {
    const id = this.syncId;
    this.client.waitFor((f) => f.objectId === 1 && f.opcode === 1 && readU32(f.bytes, 8) === id);
  }

  close(): void {
    this.client.close();
  }
}

/**
 * One commit burst: every FrameClient commits at once, and `probe` measures
 * wl_display.sync roundtrips back to back until every commit has been answered.
 * Returns the probe's latencies in µs (the first one was sent right after the burst).
 * `answered`, if given, gets each client's commit latency in µs: from the burst's
 * start to the reply to the sync it sent behind its commit (seen between two probe
 * roundtrips), in the order they came.
 */
export function commitBurst(
  clients: readonly FrameClient[],
  probe: BlockingClient,
  answered?: number[],
): number[] {
  const syncId = probeId.get(probe) ?? probe.allocateId();
  probeId.set(probe, syncId);
  const start = process.hrtime.bigint();
  for (const c of clients) c.commit();
  const waiting = new Set(clients);
  const samples: number[] = [];
  for (let i = 0; waiting.size > 0 || i === 0; i++) {
    const t0 = process.hrtime.bigint();
    probe.roundtrip(syncId);
    const t1 = process.hrtime.bigint();
    samples.push(Number(t1 - t0) / 1000);
    for (const c of waiting) {
      if (!c.done()) continue;
      waiting.delete(c);
      answered?.push(Number(t1 - start) / 1000);
    }
    if (i > 100_000) throw new Error('commit burst never finished');
  }
  return samples;
}
const probeId = new WeakMap<BlockingClient, number>();

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
