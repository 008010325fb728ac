// The IPC contract between the soak orchestrator (scripts/soak/run.ts) and its client
// worker processes (scripts/soak/worker.ts). Clients live in a few worker processes so
// the load generator's CPU is neither the bridge's nor the orchestrator's, whose only
// jobs are sampling /proc once a second and keeping the books.

import type { HistogramSnapshot } from './histogram.js';

/** Which socket a client talks to: the bridge, or the compositor directly (baseline). */
export type Route = 'bridge' | 'direct';

export interface ClientSpec {
  readonly id: number;
  readonly route: Route;
  readonly socketPath: string;
  readonly width: number;
  readonly height: number;
  /** A new pool (and buffers, alternating sizes) every this many frames. */
  readonly churnEveryFrames: number;
  /** Keep the wl_shm_pool until the next churn, instead of destroying it at once. */
  readonly keepPool: boolean;
  /** A timed wl_display.sync roundtrip after every this many frames. */
  readonly probeEveryFrames: number;
}

export interface WorkerConfig {
  readonly worker: number;
  readonly clients: readonly ClientSpec[];
  /** How long to wait for outstanding frame callbacks once told to stop. */
  readonly drainMs: number;
}

export type FailureKind = 'protocol' | 'disconnect' | 'other';

export interface ClientFailure {
  readonly kind: FailureKind;
  readonly message: string;
  /** wl_display.error fields when the compositor (or the bridge) sent one. */
  readonly interfaceName?: string;
  readonly code?: number;
}

export interface ClientTotals {
  readonly id: number;
  readonly route: Route;
  /** Frames committed with a frame callback. */
  readonly committed: number;
  /** Frame callbacks received. committed − delivered = frames lost. */
  readonly delivered: number;
  readonly poolsCreated: number;
  readonly buffersCreated: number;
  /** Frames that had to wait for a wl_buffer.release (both buffers busy). */
  readonly releaseWaits: number;
  readonly probes: number;
  /** The frame loop ended by itself after stop (false: stuck on a frame or failed). */
  readonly finished: boolean;
  readonly failures: readonly ClientFailure[];
}

export interface RouteProgress {
  readonly delivered: number;
  /** Frame-callback latency over the last interval (p99, ms); NaN without frames. */
  readonly frameP99Ms: number;
}

export type WorkerMessage =
  | { readonly type: 'ready'; readonly worker: number; readonly opened: number }
  | {
      readonly type: 'progress';
      readonly worker: number;
      readonly bridge: RouteProgress;
      readonly direct: RouteProgress;
      readonly failures: number;
      /** The worker's own event-loop delay over the interval (p99, ms): is the load generator keeping up? */
      readonly loopDelayP99Ms: number;
    }
  | {
      readonly type: 'result';
      readonly worker: number;
      readonly clients: readonly ClientTotals[];
      readonly frame: Readonly<Record<Route, HistogramSnapshot>>;
      readonly roundtrip: Readonly<Record<Route, HistogramSnapshot>>;
    }
  | { readonly type: 'fatal'; readonly worker: number; readonly message: string };

export type OrchestratorMessage =
  | { readonly type: 'config'; readonly config: WorkerConfig }
  | { readonly type: 'start' }
  | { readonly type: 'stop' };
