// The soak run itself, shared by `npm run soak` (scripts/soak.ts) and the CI load test
// (test/load.test.ts): a compositor (weston headless, or the embedded one), ONE bridge
// in its own process exactly as deployed (`grantway proxy`, grant mode), N clients
// through it and a few direct to the compositor as the baseline, spread over worker
// processes; the bridge watched from /proc every second; then a drain that must bring
// its grants and fds back to where they were before the first client came.
//
// This module is the run's sequence; its parts live beside it: processes.ts (children,
// the compositor, waiting), bridge-log.ts, workers.ts, real-clients.ts, sampler.ts,
// and the verdict (verdict.ts).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { commandAvailable } from '../../harness/real/process.js';
import { BridgeLogBook } from './bridge-log.js';
import type { LatencyHistogram } from './histogram.js';
import { type ProcSample, sampleProcess } from './proc.js';
import {
  CLI_ENTRY,
  type StartedCompositor,
  childEnv,
  loaderArgs,
  sleep,
  startCompositor,
  waitExit,
  waitFor,
} from './processes.js';
import {
  type RealClient,
  killRealClients,
  startRealClients,
  stopRealClients,
} from './real-clients.js';
import { Sampler, progressLine } from './sampler.js';
import {
  type LatencySummary,
  type SoakOptions,
  type SoakResult,
  type SoakSample,
  defaultSoakOptions,
} from './types.js';
import { judge } from './verdict.js';
import {
  type Worker,
  clientSpecs,
  forkWorkers,
  mergeResults,
  post,
  workerFailure,
} from './workers.js';

export * from './types.js';

function summarize(h: LatencyHistogram): LatencySummary {
  return {
    samples: h.count,
    p50Ms: h.quantileMs(0.5),
    p99Ms: h.quantileMs(0.99),
    maxMs: h.maxMs,
  };
}

/** The bridge as deployed: its own process, grant mode (the default), memfd extents. */
class BridgeProcess {
  readonly child: ChildProcess;
  readonly log = new BridgeLogBook();
  stopping = false;

  constructor(
    readonly path: string,
    compositor: StartedCompositor,
    options: SoakOptions,
    env: NodeJS.ProcessEnv,
    crashes: string[],
  ) {
    this.child = spawn(
      process.execPath,
      [
        ...loaderArgs(),
        CLI_ENTRY,
        'proxy',
        '--listen',
        path,
        '--upstream',
        compositor.socketPath,
        '--log-level',
        'warn',
        ...(options.bridgeArgs ?? []),
      ],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.log.feed(chunk));
    this.child.once('exit', (code, signal) => {
      if (!this.stopping) crashes.push(`bridge exited (code ${code}, signal ${signal})`);
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once its socket is there; throws if it exits first. */
  async ready(): Promise<number> {
    await waitFor(
      'bridge socket',
      () => existsSync(this.path),
      15_000,
      () => (this.child.exitCode !== null ? `bridge exited:\n${this.log.tail}` : null),
    );
    return this.child.pid!;
  }

  /** It must still be alive, then stop cleanly on SIGTERM. */
  async stop(crashes: string[]): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.child.kill('SIGTERM');
    if (!(await waitExit(this.child, 5000))) {
      crashes.push('bridge did not exit on SIGTERM');
      this.child.kill('SIGKILL');
    } else if (this.child.exitCode !== 0) {
      crashes.push(`bridge exited ${this.child.exitCode} on SIGTERM`);
    }
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.child.kill('SIGKILL');
    await waitExit(this.child, 2000);
  }
}

export async function runSoak(input: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const options: SoakOptions = { ...defaultSoakOptions, ...input };
  const say = options.onProgress ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const crashes: string[] = [];
  const env = childEnv();

  const compositor = await startCompositor(options.compositor);
  let bridge: BridgeProcess | null = null;
  let workers: Worker[] = [];
  let real: RealClient[] = [];
  const realFailures: string[] = [];
  try {
    bridge = new BridgeProcess(
      join(compositor.runtimeDir, 'soak-bridge'),
      compositor,
      options,
      env,
      crashes,
    );
    const bridgePid = await bridge.ready();
    // Let it settle (module loading, JIT) before the idle reference is taken.
    await sleep(500);
    const idleSample = sampleProcess(bridgePid);
    if (idleSample === null) {
      throw new Error(`bridge gone before the clients came:\n${bridge.log.tail}`);
    }

    // Workers, each with a mix of bridge and direct clients.
    const specs = clientSpecs(options, bridge.path, compositor.socketPath);
    workers = forkWorkers(specs, options.workers, env, crashes);
    const failure = (): string | null => workerFailure(workers);
    await waitFor('clients connected', () => workers.every((w) => w.ready), 60_000, failure);
    say(
      `${specs.length} clients connected (${options.clients} via bridge, ${options.direct} direct)`,
    );

    // Real clients, through the bridge like the scripted ones.
    const realCount = commandAvailable('weston-simple-shm') ? options.real : 0;
    real = startRealClients(
      realCount,
      { ...env, XDG_RUNTIME_DIR: compositor.runtimeDir },
      'soak-bridge',
      realFailures,
    );
    if (realCount > 0) say(`${realCount} weston-simple-shm through the bridge`);

    // The run: sample once a second.
    for (const w of workers) post(w, { type: 'start' });
    const samples = await sampleRun(options, compositor, bridgePid, workers, crashes, say);
    const loadAverage = loadavg();

    // Stop: every frame in flight must still get its callback; real clients get SIGINT.
    for (const w of workers) post(w, { type: 'stop' });
    await stopRealClients(real, realFailures);
    await waitFor(
      'client results',
      () => workers.every((w) => w.result !== null || w.fatal !== null),
      30_000,
      () => null,
    );
    for (const w of workers) {
      if (!(await waitExit(w.child, 10_000))) {
        crashes.push(`worker ${w.index} did not exit after its clients closed`);
        w.child.kill('SIGKILL');
      }
    }

    // Drain: every client is gone; the bridge must give back every extent and fd.
    const { drained, waitedMs } = await drain(bridgePid, idleSample);
    if (!compositor.alive() && !crashes.some((c) => c.startsWith('compositor'))) {
      crashes.push('compositor died during drain');
    }
    const { clients, frame, roundtrip } = mergeResults(workers, crashes);
    await bridge.stop(crashes);

    const { onProgress, ...resultOptions } = options;
    void onProgress; // a function: not part of the JSON record
    const partial = {
      options: resultOptions,
      startedAt,
      compositorPid: compositor.pid,
      bridgePid,
      idle: { fds: idleSample.fds, rssKiB: idleSample.rssKiB, extents: idleSample.extents },
      samples,
      clients,
      real: { started: real.length, failures: realFailures },
      frameLatency: { bridge: summarize(frame.bridge), direct: summarize(frame.direct) },
      roundtripLatency: {
        bridge: summarize(roundtrip.bridge),
        direct: summarize(roundtrip.direct),
      },
      drained: {
        fds: drained?.fds ?? Number.NaN,
        extents: drained?.extents ?? Number.NaN,
        rssKiB: drained?.rssKiB ?? Number.NaN,
        waitedMs,
      },
      crashes,
      bridgeLog: bridge.log.summary(),
      loadAverage,
    };
    return { ...partial, verdict: judge(partial) };
  } finally {
    killRealClients(real);
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
    await bridge?.kill();
    await compositor.stop();
  }
}

/**
 * One sample a second for options.seconds, stopping early when the bridge is gone, a
 * process crashed or a worker failed; a progress line every 10 s.
 */
async function sampleRun(
  options: SoakOptions,
  compositor: StartedCompositor,
  bridgePid: number,
  workers: readonly Worker[],
  crashes: string[],
  say: (line: string) => void,
): Promise<SoakSample[]> {
  const t0 = performance.now();
  const sampler = new Sampler(bridgePid, compositor.pid, workers, t0);
  const samples: SoakSample[] = [];
  let compositorDied = false;
  for (let tick = 1; tick <= options.seconds; tick++) {
    const wait = t0 + tick * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    const { sample, bridge } = sampler.sample(performance.now());
    samples.push(sample);
    if (!compositor.alive() && !compositorDied) {
      compositorDied = true;
      crashes.push(`compositor (pid ${compositor.pid}) died at t=${tick} s`);
    }
    if (bridge === null || crashes.length > 0 || workerFailure(workers) !== null) break;
    if (tick % 10 === 0 || tick === options.seconds) say(progressLine(tick, sample));
  }
  return samples;
}

/** Waits (at most 20 s) until the bridge holds no extent and no more fds than when idle. */
async function drain(
  bridgePid: number,
  idle: ProcSample,
): Promise<{ drained: ProcSample | null; waitedMs: number }> {
  const drainStart = performance.now();
  let drained = sampleProcess(bridgePid);
  while (
    drained !== null &&
    (drained.extents > 0 || drained.fds > idle.fds) &&
    performance.now() - drainStart < 20_000
  ) {
    await sleep(100);
    drained = sampleProcess(bridgePid);
  }
  return { drained, waitedMs: Math.round(performance.now() - drainStart) };
}
