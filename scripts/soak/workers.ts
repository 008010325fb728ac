// The soak run's client workers: which clients there are (bridge and direct, assorted
// sizes, jittered churn), the forked processes that run them, and what they report at
// the end, merged.

import { type ChildProcess, fork } from 'node:child_process';
import { LatencyHistogram } from './histogram.js';
import type {
  ClientSpec,
  ClientTotals,
  OrchestratorMessage,
  Route,
  WorkerMessage,
} from './messages.js';
import { WORKER_ENTRY, loaderArgs } from './processes.js';
import type { SoakOptions } from './types.js';

export function clientSpecs(
  options: SoakOptions,
  bridgePath: string,
  directPath: string,
): ClientSpec[] {
  const specs: ClientSpec[] = [];
  const total = options.clients + options.direct;
  for (let id = 0; id < total; id++) {
    const route: Route = id < options.clients ? 'bridge' : 'direct';
    specs.push({
      id,
      route,
      socketPath: route === 'bridge' ? bridgePath : directPath,
      // Small app windows of assorted sizes (96–255 × 64–191 px, +32×16 every other pool).
      width: 96 + ((id * 37) % 160),
      height: 64 + ((id * 53) % 128),
      // Jittered so that churns are not in lockstep across clients.
      churnEveryFrames: Math.max(10, options.churnEveryFrames + ((id * 13) % 41) - 20),
      keepPool: id % 2 === 1,
      probeEveryFrames: options.probeEveryFrames,
    });
  }
  return specs;
}

export interface Worker {
  readonly index: number;
  readonly child: ChildProcess;
  readonly specs: readonly ClientSpec[];
  ready: boolean;
  result: Extract<WorkerMessage, { type: 'result' }> | null;
  progress: Extract<WorkerMessage, { type: 'progress' }> | null;
  fatal: string | null;
  stderr: string;
}

export function post(worker: Worker, message: OrchestratorMessage): void {
  if (worker.child.connected) worker.child.send(message);
}

/** Forks `count` workers, client i going to worker i mod count; each gets its config. */
export function forkWorkers(
  specs: readonly ClientSpec[],
  count: number,
  env: NodeJS.ProcessEnv,
  crashes: string[],
): Worker[] {
  const workers: Worker[] = [];
  for (let index = 0; index < count; index++) {
    const mine = specs.filter((s) => s.id % count === index);
    if (mine.length === 0) continue;
    const child = fork(WORKER_ENTRY, [], {
      env,
      execArgv: loaderArgs(),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const worker: Worker = {
      index,
      child,
      specs: mine,
      ready: false,
      result: null,
      progress: null,
      fatal: null,
      stderr: '',
    };
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      worker.stderr = (worker.stderr + chunk).slice(-8192);
    });
    child.on('message', (raw) => {
      const m = raw as WorkerMessage;
      if (m.type === 'ready') worker.ready = true;
      else if (m.type === 'progress') worker.progress = m;
      else if (m.type === 'result') worker.result = m;
      else worker.fatal = m.message;
    });
    child.once('exit', (code, signal) => {
      if (worker.result === null && worker.fatal === null) {
        worker.fatal = `exited early (code ${code}, signal ${signal})\n${worker.stderr}`;
      }
      if (code !== 0 && worker.result === null) {
        crashes.push(`worker ${index} exited (code ${code}, signal ${signal})`);
      }
    });
    workers.push(worker);
    post(worker, { type: 'config', config: { worker: index, clients: mine, drainMs: 5000 } });
  }
  return workers;
}

/** The first worker's fatal error, if any. */
export function workerFailure(workers: readonly Worker[]): string | null {
  const w = workers.find((x) => x.fatal !== null);
  return w === undefined ? null : `worker ${w.index}: ${w.fatal}`;
}

export interface MergedResults {
  readonly clients: ClientTotals[];
  readonly frame: Record<Route, LatencyHistogram>;
  readonly roundtrip: Record<Route, LatencyHistogram>;
}

/** Every worker's clients and latency histograms, merged; a worker without one is a crash. */
export function mergeResults(workers: readonly Worker[], crashes: string[]): MergedResults {
  const clients: ClientTotals[] = [];
  const frame: Record<Route, LatencyHistogram> = {
    bridge: new LatencyHistogram(),
    direct: new LatencyHistogram(),
  };
  const roundtrip: Record<Route, LatencyHistogram> = {
    bridge: new LatencyHistogram(),
    direct: new LatencyHistogram(),
  };
  for (const w of workers) {
    if (w.result === null) {
      crashes.push(`worker ${w.index} gave no result: ${w.fatal ?? 'unknown'}`);
      continue;
    }
    clients.push(...w.result.clients);
    for (const route of ['bridge', 'direct'] as const) {
      frame[route].merge(w.result.frame[route]);
      roundtrip[route].merge(w.result.roundtrip[route]);
    }
  }
  clients.sort((a, b) => a.id - b.id);
  return { clients, frame, roundtrip };
}
