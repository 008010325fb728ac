// The soak run itself, shared by `npm run soak` (scripts/soak.ts) and the CI load test
// (test/load.test.ts): a compositor (weston headless, or the embedded one), ONE bridge
// in its own process exactly as deployed (`grantway proxy`, grant mode), N clients
// through it and a few direct to the compositor as the baseline, spread over worker
// processes; the bridge watched from /proc every second; then a drain that must bring
// its grants and fds back to where they were before the first client came.

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startEmbeddedCompositor } from '../../harness/embedded.js';
import { commandAvailable } from '../../harness/real/process.js';
import { startWeston } from '../../harness/real/weston.js';
import { LatencyHistogram } from './histogram.js';
import type {
  ClientSpec,
  ClientTotals,
  OrchestratorMessage,
  Route,
  WorkerMessage,
} from './messages.js';
import {
  CLOCK_TICKS_PER_SECOND,
  cpuTicks,
  processAlive,
  runQueueWaitNs,
  sampleProcess,
} from './proc.js';
import { judge, type Verdict } from './verdict.js';

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

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');
const ext = fromSource ? '.ts' : '.js';

/** node flags that let a child run TypeScript when this module itself runs from source. */
function loaderArgs(): string[] {
  if (!fromSource) return [];
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return ['--import', pathToFileURL(tsx).href];
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // vitest's loader hooks must not reach the children
  delete env.WAYLAND_DISPLAY;
  delete env.WAYLAND_SOCKET;
  return env;
}

interface StartedCompositor {
  readonly pid: number;
  readonly socketPath: string;
  readonly runtimeDir: string;
  alive(): boolean;
  stop(): Promise<void>;
}

async function startCompositor(kind: CompositorKind): Promise<StartedCompositor> {
  if (kind === 'weston') {
    const w = await startWeston({ socketName: 'soak-weston', width: 1280, height: 800 });
    return {
      pid: w.pid,
      socketPath: w.socketPath,
      runtimeDir: w.runtimeDir,
      alive: () => processAlive(w.pid),
      stop: () => w.stop(),
    };
  }
  const c = await startEmbeddedCompositor({
    socketName: 'soak-embedded',
    width: 1280,
    height: 800,
  });
  let exited = false;
  void c.exited.then(() => (exited = true));
  return {
    pid: c.pid,
    socketPath: c.socketPath,
    runtimeDir: c.runtimeDir,
    alive: () => !exited,
    stop: () => c.stop(),
  };
}

/** The bridge's stderr (pino JSON lines): counts of what it complained about. */
class BridgeLogBook {
  warnings = 0;
  errors = 0;
  protocolErrors = 0;
  readonly messages: Record<string, number> = {};
  #partial = '';
  tail = '';

  feed(chunk: string): void {
    this.tail = (this.tail + chunk).slice(-8192);
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    if (line.trim() === '') return;
    let level = 50;
    let msg = line;
    try {
      const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (typeof parsed.level === 'number') level = parsed.level;
      if (typeof parsed.msg === 'string') msg = parsed.msg;
    } catch {
      // not pino: a stack trace or the like, counted as an error
    }
    if (level < 40) return;
    if (level >= 50) this.errors++;
    else this.warnings++;
    if (/protocol error/.test(msg)) this.protocolErrors++;
    const key = msg.slice(0, 120);
    this.messages[key] = (this.messages[key] ?? 0) + 1;
  }

  summary(): BridgeLog {
    return {
      warnings: this.warnings,
      errors: this.errors,
      protocolErrors: this.protocolErrors,
      messages: { ...this.messages },
    };
  }
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
    sleep(timeoutMs).then(() => false),
  ]);
}

function summarize(h: LatencyHistogram): LatencySummary {
  return {
    samples: h.count,
    p50Ms: h.quantileMs(0.5),
    p99Ms: h.quantileMs(0.99),
    maxMs: h.maxMs,
  };
}

function clientSpecs(options: SoakOptions, bridgePath: string, directPath: string): ClientSpec[] {
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

interface Worker {
  readonly index: number;
  readonly child: ChildProcess;
  readonly specs: readonly ClientSpec[];
  ready: boolean;
  result: Extract<WorkerMessage, { type: 'result' }> | null;
  progress: Extract<WorkerMessage, { type: 'progress' }> | null;
  fatal: string | null;
  stderr: string;
}

function post(worker: Worker, message: OrchestratorMessage): void {
  if (worker.child.connected) worker.child.send(message);
}

async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs: number,
  failed: () => string | null,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    const failure = failed();
    if (failure !== null) throw new Error(`${what}: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export async function runSoak(input: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const options: SoakOptions = { ...defaultSoakOptions, ...input };
  const say = options.onProgress ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const crashes: string[] = [];
  const env = childEnv();

  const compositor = await startCompositor(options.compositor);
  let bridge: ChildProcess | null = null;
  const workers: Worker[] = [];
  const real: { child: ChildProcess; stderr: string; stopping: boolean }[] = [];
  const realFailures: string[] = [];
  const log = new BridgeLogBook();
  let stoppingBridge = false;
  try {
    // The bridge, as deployed: its own process, grant mode (the default), memfd extents.
    const bridgePath = join(compositor.runtimeDir, 'soak-bridge');
    const cli = join(dirname(here), '..', '..', 'bridge', 'cli', `main${ext}`);
    bridge = spawn(
      process.execPath,
      [
        ...loaderArgs(),
        cli,
        'proxy',
        '--listen',
        bridgePath,
        '--upstream',
        compositor.socketPath,
        '--log-level',
        'warn',
        ...(options.bridgeArgs ?? []),
      ],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const bridgeProc = bridge;
    bridgeProc.stderr?.setEncoding('utf8').on('data', (chunk: string) => log.feed(chunk));
    bridgeProc.once('exit', (code, signal) => {
      if (!stoppingBridge) crashes.push(`bridge exited (code ${code}, signal ${signal})`);
    });
    await waitFor(
      'bridge socket',
      () => existsSync(bridgePath),
      15_000,
      () => (bridgeProc.exitCode !== null ? `bridge exited:\n${log.tail}` : null),
    );
    const bridgePid = bridgeProc.pid!;
    // Let it settle (module loading, JIT) before the idle reference is taken.
    await sleep(500);
    const idleSample = sampleProcess(bridgePid);
    if (idleSample === null) throw new Error(`bridge gone before the clients came:\n${log.tail}`);

    // Workers, each with a mix of bridge and direct clients.
    const specs = clientSpecs(options, bridgePath, compositor.socketPath);
    const workerEntry = join(dirname(here), `worker${ext}`);
    for (let index = 0; index < options.workers; index++) {
      const mine = specs.filter((s) => s.id % options.workers === index);
      if (mine.length === 0) continue;
      const child = fork(workerEntry, [], {
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
    const workerFailure = (): string | null => {
      const w = workers.find((x) => x.fatal !== null);
      return w === undefined ? null : `worker ${w.index}: ${w.fatal}`;
    };
    await waitFor('clients connected', () => workers.every((w) => w.ready), 60_000, workerFailure);
    say(
      `${specs.length} clients connected (${options.clients} via bridge, ${options.direct} direct)`,
    );

    // Real clients, through the bridge like the scripted ones.
    const realCount = commandAvailable('weston-simple-shm') ? options.real : 0;
    for (let i = 0; i < realCount; i++) {
      const child = spawn('weston-simple-shm', [], {
        env: { ...env, XDG_RUNTIME_DIR: compositor.runtimeDir, WAYLAND_DISPLAY: 'soak-bridge' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const entry = { child, stderr: '', stopping: false };
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        entry.stderr = (entry.stderr + chunk).slice(-2048);
      });
      child.once('exit', (code, signal) => {
        if (!entry.stopping) {
          realFailures.push(
            `weston-simple-shm #${i} exited during the run (code ${code}, signal ${signal}): ${entry.stderr.trim()}`,
          );
        }
      });
      real.push(entry);
    }
    if (realCount > 0) say(`${realCount} weston-simple-shm through the bridge`);

    // The run: sample once a second.
    for (const w of workers) post(w, { type: 'start' });
    const t0 = performance.now();
    const samples: SoakSample[] = [];
    let lastT = t0;
    let lastBridgeCpu = cpuTicks(bridgePid);
    let lastCompCpu = cpuTicks(compositor.pid);
    let lastBridgeWait = runQueueWaitNs(bridgePid);
    let lastCompWait = runQueueWaitNs(compositor.pid);
    const workersCpu = (): number =>
      workers.reduce((a, w) => a + (w.child.pid === undefined ? 0 : cpuTicks(w.child.pid) || 0), 0);
    let lastWorkersCpu = workersCpu();
    let lastFrames: Record<Route, number> = { bridge: 0, direct: 0 };
    let compositorDied = false;
    for (let tick = 1; tick <= options.seconds; tick++) {
      const wait = t0 + tick * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      const now = performance.now();
      const dt = (now - lastT) / 1000;
      lastT = now;
      const s = sampleProcess(bridgePid);
      const bridgeCpu = cpuTicks(bridgePid);
      const compCpu = cpuTicks(compositor.pid);
      const wCpu = workersCpu();
      const bridgeWait = runQueueWaitNs(bridgePid);
      const compWait = runQueueWaitNs(compositor.pid);
      const waitPct = (ns: number, prev: number): number => (ns - prev) / 1e7 / dt;
      let loopDelay = 0;
      const frames: Record<Route, number> = { bridge: 0, direct: 0 };
      const p99: Record<Route, number> = { bridge: Number.NaN, direct: Number.NaN };
      let failures = 0;
      for (const w of workers) {
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
      samples.push({
        t: Math.round((now - t0) / 100) / 10,
        bridge: {
          rssKiB: s?.rssKiB ?? Number.NaN,
          fds: s?.fds ?? Number.NaN,
          extents: s?.extents ?? Number.NaN,
          cpuPercent: pct(bridgeCpu, lastBridgeCpu),
          runQueuePercent: waitPct(bridgeWait, lastBridgeWait),
        },
        compositorCpuPercent: pct(compCpu, lastCompCpu),
        compositorRunQueuePercent: waitPct(compWait, lastCompWait),
        workersCpuPercent: pct(wCpu, lastWorkersCpu),
        workerLoopDelayP99Ms: loopDelay,
        framesPerSecond: {
          bridge: (frames.bridge - lastFrames.bridge) / dt,
          direct: (frames.direct - lastFrames.direct) / dt,
        },
        frameP99Ms: p99,
        clientFailures: failures,
        load1: loadavg()[0]!,
      });
      lastBridgeCpu = bridgeCpu;
      lastCompCpu = compCpu;
      lastWorkersCpu = wCpu;
      lastBridgeWait = bridgeWait;
      lastCompWait = compWait;
      lastFrames = frames;
      if (!compositor.alive() && !compositorDied) {
        compositorDied = true;
        crashes.push(`compositor (pid ${compositor.pid}) died at t=${tick} s`);
      }
      if (s === null || crashes.length > 0 || workerFailure() !== null) break;
      if (tick % 10 === 0 || tick === options.seconds) {
        const last = samples[samples.length - 1]!;
        say(
          `t=${String(tick).padStart(4)} s  frames/s ${last.framesPerSecond.bridge.toFixed(0)} bridge, ` +
            `${last.framesPerSecond.direct.toFixed(0)} direct  bridge RSS ${(last.bridge.rssKiB / 1024).toFixed(1)} MiB, ` +
            `${last.bridge.fds} fds, ${last.bridge.extents} extents, CPU ${last.bridge.cpuPercent.toFixed(0)}% ` +
            `(waited ${last.bridge.runQueuePercent.toFixed(0)}%)  ` +
            `compositor ${last.compositorCpuPercent.toFixed(0)}%  ` +
            `workers ${last.workersCpuPercent.toFixed(0)}% (loop p99 ${last.workerLoopDelayP99Ms.toFixed(1)} ms)  failures ${failures}`,
        );
      }
    }

    const loadAverage = loadavg();
    // Stop: every frame in flight must still get its callback; real clients get SIGINT,
    // on which weston-simple-shm cleans up and exits 0.
    for (const w of workers) post(w, { type: 'stop' });
    for (const [i, r] of real.entries()) {
      if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
      r.stopping = true;
      r.child.kill('SIGINT');
      if (!(await waitExit(r.child, 5000))) {
        realFailures.push(`weston-simple-shm #${i} did not exit on SIGINT`);
        r.child.kill('SIGKILL');
      } else if (r.child.exitCode !== 0) {
        realFailures.push(
          `weston-simple-shm #${i} exited ${r.child.exitCode ?? r.child.signalCode} on SIGINT: ${r.stderr.trim()}`,
        );
      }
    }
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
    const drainStart = performance.now();
    let drained = sampleProcess(bridgePid);
    while (
      drained !== null &&
      (drained.extents > 0 || drained.fds > idleSample.fds) &&
      performance.now() - drainStart < 20_000
    ) {
      await sleep(100);
      drained = sampleProcess(bridgePid);
    }
    const waitedMs = Math.round(performance.now() - drainStart);
    if (!compositor.alive() && !compositorDied) crashes.push('compositor died during drain');

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

    // The bridge must still be alive, then stop cleanly on SIGTERM.
    if (bridgeProc.exitCode === null && bridgeProc.signalCode === null) {
      stoppingBridge = true;
      bridgeProc.kill('SIGTERM');
      if (!(await waitExit(bridgeProc, 5000))) {
        crashes.push('bridge did not exit on SIGTERM');
        bridgeProc.kill('SIGKILL');
      } else if (bridgeProc.exitCode !== 0) {
        crashes.push(`bridge exited ${bridgeProc.exitCode} on SIGTERM`);
      }
    }

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
      bridgeLog: log.summary(),
      loadAverage,
    };
    return { ...partial, verdict: judge(partial) };
  } finally {
    for (const r of real) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.stopping = true;
        r.child.kill('SIGKILL');
      }
    }
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
    if (bridge !== null && bridge.exitCode === null && bridge.signalCode === null) {
      stoppingBridge = true;
      bridge.kill('SIGKILL');
      await waitExit(bridge, 2000);
    }
    await compositor.stop();
  }
}
