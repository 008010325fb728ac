// `grantway report FILE`: what a lifecycle trace says about buffer lifetimes, in
// numbers — pools and buffers, bytes, the evidence each pool reached, and how long the
// compositor took, once the client had let go of a pool (destroyed it and every buffer
// made from it, or left), to acknowledge that (E2) and to unmap it (E3). Pure: a trace
// in, a summary out.

import { type EvidenceLevel, evidenceLevels, evidenceRank } from './events.js';
import type { LifecycleTrace } from './trace-file.js';

export interface LatencyStats {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface TraceSummary {
  readonly mode: string;
  readonly durationMs: number;
  readonly clients: number;
  readonly pools: number;
  readonly poolBytes: number;
  readonly buffers: number;
  readonly commits: number;
  readonly releases: number;
  /** Pools by the highest evidence level they reached. */
  readonly evidenceReached: Readonly<Record<EvidenceLevel, number>>;
  /** Pools the client still used when the trace ended (not all destroyed, still connected). */
  readonly poolsAlive: number;
  readonly destroyToE2Ms: LatencyStats;
  readonly destroyToE3Ms: LatencyStats;
}

interface PoolLife {
  bytes: number;
  /** The client had destroyed the pool and every buffer made from it (or left). */
  destroyedAt: number | undefined;
  poolDestroyed: boolean;
  liveBuffers: Set<number>;
  best: EvidenceLevel;
  e2At: number | undefined;
  e3At: number | undefined;
}

/** Each pool's wait once its client let go: for E2, for E3, and from E2 to E3 (ms). */
export interface PoolLatencySamples {
  readonly destroyToE2: number[];
  readonly destroyToE3: number[];
  /** How long E3 (nobody maps it) came after E2 (the compositor said it was done). */
  readonly e2ToE3: number[];
}

export function poolLatencySamples(trace: LifecycleTrace): PoolLatencySamples {
  return samplesOf(poolLives(trace).lives);
}

function samplesOf(lives: readonly PoolLife[]): PoolLatencySamples {
  const since = (at: (l: PoolLife) => number | undefined): number[] =>
    lives.flatMap((l) => {
      const t = at(l);
      return l.destroyedAt !== undefined && t !== undefined ? [Math.max(0, t - l.destroyedAt)] : [];
    });
  return {
    destroyToE2: since((l) => l.e2At),
    destroyToE3: since((l) => l.e3At),
    e2ToE3: lives.flatMap((l) =>
      l.e2At !== undefined && l.e3At !== undefined ? [Math.max(0, l.e3At - l.e2At)] : [],
    ),
  };
}

interface TraceLives {
  readonly lives: PoolLife[];
  readonly clients: number;
  readonly buffers: number;
  readonly commits: number;
  readonly releases: number;
  readonly end: number;
}

function poolLives(trace: LifecycleTrace): TraceLives {
  // A pool's life by `client:poolKey`: wire ids are reused by clients once retired while
  // the old pool lives on through its buffers, so lives are keyed by the bridge's key.
  const current = new Map<string, PoolLife>();
  const lives: PoolLife[] = [];
  const clients = new Set<number>();
  let buffers = 0;
  let commits = 0;
  let releases = 0;
  let end = 0;
  for (const e of trace.events) {
    end = Math.max(end, e.t);
    clients.add(e.client);
    const key = 'poolKey' in e ? `${e.client}:${e.poolKey}` : '';
    switch (e.type) {
      case 'pool-created': {
        const life: PoolLife = {
          bytes: e.size,
          destroyedAt: undefined,
          poolDestroyed: false,
          liveBuffers: new Set(),
          best: 'E0',
          e2At: undefined,
          e3At: undefined,
        };
        current.set(key, life);
        lives.push(life);
        break;
      }
      case 'pool-resized': {
        const life = current.get(key);
        if (life !== undefined) life.bytes = Math.max(life.bytes, e.size);
        break;
      }
      case 'pool-destroyed': {
        const life = current.get(key);
        if (life === undefined) break;
        life.poolDestroyed = true;
        if (life.liveBuffers.size === 0) life.destroyedAt ??= e.t;
        break;
      }
      case 'buffer-destroyed': {
        const life = current.get(key);
        if (life === undefined) break;
        life.liveBuffers.delete(e.buffer);
        if (life.poolDestroyed && life.liveBuffers.size === 0) life.destroyedAt ??= e.t;
        break;
      }
      case 'client-gone':
        for (const [k, life] of current) {
          if (k.startsWith(`${e.client}:`)) life.destroyedAt ??= e.t;
        }
        break;
      case 'evidence': {
        const life = current.get(key);
        if (life === undefined) break;
        if (evidenceRank(e.level) > evidenceRank(life.best)) life.best = e.level;
        if (e.level === 'E2') life.e2At ??= e.t;
        if (e.level === 'E3') {
          life.e3At ??= e.t;
          life.e2At ??= e.t; // E3 implies everything E2 would have told
        }
        break;
      }
      case 'buffer-created':
        buffers++;
        current.get(key)?.liveBuffers.add(e.buffer);
        break;
      case 'buffer-committed':
        commits++;
        break;
      case 'buffer-released':
        releases++;
        break;
      default:
        break;
    }
  }
  return { lives, clients: clients.size, buffers, commits, releases, end };
}

export function summarizeTrace(trace: LifecycleTrace): TraceSummary {
  const { lives, clients, buffers, commits, releases, end } = poolLives(trace);
  const evidenceReached = Object.fromEntries(evidenceLevels.map((l) => [l, 0])) as Record<
    EvidenceLevel,
    number
  >;
  for (const life of lives) evidenceReached[life.best]++;
  const samples = samplesOf(lives);
  return {
    mode: trace.header.mode,
    durationMs: end,
    clients,
    pools: lives.length,
    poolBytes: lives.reduce((sum, l) => sum + l.bytes, 0),
    buffers,
    commits,
    releases,
    evidenceReached,
    poolsAlive: lives.filter((l) => l.destroyedAt === undefined).length,
    destroyToE2Ms: latency(samples.destroyToE2),
    destroyToE3Ms: latency(samples.destroyToE3),
  };
}

export function latency(samples: number[]): LatencyStats {
  if (samples.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { count: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1]! };
}

export function formatSummary(s: TraceSummary): string {
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  const lat = (l: LatencyStats): string =>
    l.count === 0
      ? 'none'
      : `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${l.count} pools)`;
  const mib = (s.poolBytes / (1024 * 1024)).toFixed(2);
  return [
    `mode            ${s.mode}, ${(s.durationMs / 1000).toFixed(2)} s, ${s.clients} client(s)`,
    `pools           ${s.pools} (${mib} MiB), ${s.poolsAlive} still alive at the end`,
    `buffers         ${s.buffers}, ${s.commits} commits, ${s.releases} releases`,
    `evidence        ${evidenceLevels.map((l) => `${l} ${s.evidenceReached[l]}`).join(', ')} (pools by highest level reached)`,
    `let go → E2     ${lat(s.destroyToE2Ms)}`,
    `let go → E3     ${lat(s.destroyToE3Ms)}`,
  ].join('\n');
}
