// What a soak run takes and what it reports (scripts/soak/run.ts): options, the
// once-a-second samples, latency summaries, and the result the verdict judges.

import type { ClientTotals, Route } from './messages.js';
import type { Verdict } from './verdict.js';

export type CompositorKind = 'weston' | 'embedded';

export interface SoakOptions {
  readonly seconds: number;
  /** Clients through the bridge. */
  readonly clients: number;
  /** Baseline clients straight to the compositor, in the same workers. */
  readonly direct: number;
  readonly workers: number;
  readonly compositor: CompositorKind;
  /** Mean frames between pool/buffer churns per client (jittered per client). */
  readonly churnEveryFrames: number;
  readonly probeEveryFrames: number;
  /**
   * Real `weston-simple-shm` processes through the bridge beside the scripted clients
   * (skipped when it is not installed). They cannot report frames; they must simply
   * still be running at the end and exit cleanly on SIGINT.
   */
  readonly real: number;
  /** Extra `grantway proxy` arguments (e.g. --policy). */
  readonly bridgeArgs?: readonly string[];
  /** A line now and then while it runs (default: none). */
  readonly onProgress?: (line: string) => void;
}

export const defaultSoakOptions: SoakOptions = {
  seconds: 600,
  clients: 64,
  direct: 4,
  workers: 2,
  compositor: 'weston',
  churnEveryFrames: 120,
  probeEveryFrames: 10,
  real: 4,
};

export interface SoakSample {
  /** Seconds since the clients started. */
  readonly t: number;
  readonly bridge: {
    readonly rssKiB: number;
    readonly fds: number;
    readonly extents: number;
    readonly cpuPercent: number;
    /** Share of the interval its main thread was runnable but not running (CPU contention). */
    readonly runQueuePercent: number;
  };
  readonly compositorCpuPercent: number;
  readonly compositorRunQueuePercent: number;
  /** All client workers together (100 = one core). */
  readonly workersCpuPercent: number;
  /** The worst worker's event-loop delay p99 over the last interval. */
  readonly workerLoopDelayP99Ms: number;
  readonly framesPerSecond: Readonly<Record<Route, number>>;
  readonly frameP99Ms: Readonly<Record<Route, number>>;
  readonly clientFailures: number;
  /** The machine's 1-minute load average (2 cores here: above 2, someone waits). */
  readonly load1: number;
}

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface BridgeLog {
  readonly warnings: number;
  readonly errors: number;
  readonly protocolErrors: number;
  /** Distinct messages at warn and above, with counts. */
  readonly messages: Readonly<Record<string, number>>;
}

export interface SoakResult {
  readonly options: Omit<SoakOptions, 'onProgress'>;
  readonly startedAt: string;
  readonly compositorPid: number;
  readonly bridgePid: number;
  /** Before the first client connected. */
  readonly idle: { readonly fds: number; readonly rssKiB: number; readonly extents: number };
  readonly samples: readonly SoakSample[];
  readonly clients: readonly ClientTotals[];
  /** The weston-simple-shm processes: how many ran, and what went wrong with any. */
  readonly real: { readonly started: number; readonly failures: readonly string[] };
  readonly frameLatency: Readonly<Record<Route, LatencySummary>>;
  readonly roundtripLatency: Readonly<Record<Route, LatencySummary>>;
  /** After every client left: what the bridge still held, and how long it took to get there. */
  readonly drained: {
    readonly fds: number;
    readonly extents: number;
    readonly rssKiB: number;
    readonly waitedMs: number;
  };
  /** Processes that died on their own (bridge, compositor, workers), with how. */
  readonly crashes: readonly string[];
  readonly bridgeLog: BridgeLog;
  /** os.loadavg() as the clients stopped. */
  readonly loadAverage: readonly number[];
  readonly verdict: Verdict;
}
