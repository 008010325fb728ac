// The soak run's once-a-second look at everything: the bridge's RSS, fds and extents,
// CPU and run-queue wait of the bridge, the compositor and the workers over the last
// interval, and the frames the workers delivered. Keeps the previous readings, so each
// sample is a rate over its own interval.

import { loadavg } from 'node:os';
import type { Route } from './messages.js';
import {
  CLOCK_TICKS_PER_SECOND,
  type ProcSample,
  cpuTicks,
  runQueueWaitNs,
  sampleProcess,
} from './proc.js';
import type { SoakSample } from './types.js';
import type { Worker } from './workers.js';

export class Sampler {
  #lastT: number;
  #lastBridgeCpu: number;
  #lastCompCpu: number;
  #lastBridgeWait: number;
  #lastCompWait: number;
  #lastWorkersCpu: number;
  #lastFrames: Record<Route, number> = { bridge: 0, direct: 0 };

  constructor(
    private readonly bridgePid: number,
    private readonly compositorPid: number,
    private readonly workers: readonly Worker[],
    /** performance.now() when the clients started. */
    private readonly t0: number,
  ) {
    this.#lastT = t0;
    this.#lastBridgeCpu = cpuTicks(bridgePid);
    this.#lastCompCpu = cpuTicks(compositorPid);
    this.#lastBridgeWait = runQueueWaitNs(bridgePid);
    this.#lastCompWait = runQueueWaitNs(compositorPid);
    this.#lastWorkersCpu = this.#workersCpu();
  }

  /** One sample over the interval since the last; `bridge` null once the bridge is gone. */
  sample(now: number): { sample: SoakSample; bridge: ProcSample | null } {
    const dt = (now - this.#lastT) / 1000;
    this.#lastT = now;
    const s = sampleProcess(this.bridgePid);
    const bridgeCpu = cpuTicks(this.bridgePid);
    const compCpu = cpuTicks(this.compositorPid);
    const wCpu = this.#workersCpu();
    const bridgeWait = runQueueWaitNs(this.bridgePid);
    const compWait = runQueueWaitNs(this.compositorPid);
    const waitPct = (ns: number, prev: number): number => (ns - prev) / 1e7 / dt;
    let loopDelay = 0;
    const frames: Record<Route, number> = { bridge: 0, direct: 0 };
    const p99: Record<Route, number> = { bridge: Number.NaN, direct: Number.NaN };
    let failures = 0;
    for (const w of this.workers) {
      const p = w.progress;
      if (p === null) continue;
      frames.bridge += p.bridge.delivered;
      frames.direct += p.direct.delivered;
      for (const route of ['bridge', 'direct'] as const) {
        const v = p[route].frameP99Ms;
        if (!Number.isNaN(v)) p99[route] = Number.isNaN(p99[route]) ? v : Math.max(p99[route], v);
      }
      failures += p.failures;
      loopDelay = Math.max(loopDelay, p.loopDelayP99Ms);
    }
    const pct = (ticks: number, prev: number): number =>
      (((ticks - prev) / CLOCK_TICKS_PER_SECOND) * 100) / dt;
    const sample: SoakSample = {
      t: Math.round((now - this.t0) / 100) / 10,
      bridge: {
        rssKiB: s?.rssKiB ?? Number.NaN,
        fds: s?.fds ?? Number.NaN,
        extents: s?.extents ?? Number.NaN,
        cpuPercent: pct(bridgeCpu, this.#lastBridgeCpu),
        runQueuePercent: waitPct(bridgeWait, this.#lastBridgeWait),
      },
      compositorCpuPercent: pct(compCpu, this.#lastCompCpu),
      compositorRunQueuePercent: waitPct(compWait, this.#lastCompWait),
      workersCpuPercent: pct(wCpu, this.#lastWorkersCpu),
      workerLoopDelayP99Ms: loopDelay,
      framesPerSecond: {
        bridge: (frames.bridge - this.#lastFrames.bridge) / dt,
        direct: (frames.direct - this.#lastFrames.direct) / dt,
      },
      frameP99Ms: p99,
      clientFailures: failures,
      load1: loadavg()[0]!,
    };
    this.#lastBridgeCpu = bridgeCpu;
    this.#lastCompCpu = compCpu;
    this.#lastWorkersCpu = wCpu;
    this.#lastBridgeWait = bridgeWait;
    this.#lastCompWait = compWait;
    this.#lastFrames = frames;
    return { sample, bridge: s };
  }

  #workersCpu(): number {
    return this.workers.reduce(
      (a, w) => a + (w.child.pid === undefined ? 0 : cpuTicks(w.child.pid) || 0),
      0,
    );
  }
}

/** The progress line printed every 10 s. */
export function progressLine(tick: number, last: SoakSample): string {
  return (
    `t=${String(tick).padStart(4)} s  frames/s ${last.framesPerSecond.bridge.toFixed(0)} bridge, ` +
    `${last.framesPerSecond.direct.toFixed(0)} direct  bridge RSS ${(last.bridge.rssKiB / 1024).toFixed(1)} MiB, ` +
    `${last.bridge.fds} fds, ${last.bridge.extents} extents, CPU ${last.bridge.cpuPercent.toFixed(0)}% ` +
    `(waited ${last.bridge.runQueuePercent.toFixed(0)}%)  ` +
    `compositor ${last.compositorCpuPercent.toFixed(0)}%  ` +
    `workers ${last.workersCpuPercent.toFixed(0)}% (loop p99 ${last.workerLoopDelayP99Ms.toFixed(1)} ms)  failures ${last.clientFailures}`
  );
}
